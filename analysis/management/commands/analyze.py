from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import provenance
from analysis.consort import consort_counts
from analysis.report import render_report
from analysis.report.figures import export_figures
from analysis.reporting import default_control, trial_analysis, write_csv
from analysis.stats.descriptive import trajectories
from analysis.stats.mmrm import MMRMConvergenceError
from analysis.stats.plan import OutcomeSpec, analyze_plan, parse_outcomes
from analysis.stats.primary import AnalysisInputError, analyze, file_sha256, model_frame, read_long_csv
from trial import clock
from trial.models import Trial, TrialStatus


class Command(BaseCommand):
    help = (
        "Analyse a trial or a file in the long layout: MMRM (primary), random-intercept LMM and ANCOVA per "
        "visit, effect sizes, responders; with --trial and no --instrument, every outcome of the trial's "
        "analysis plan with Holm across the primary ones. Writes JSON and, with --html (or by default with "
        "--trial), an HTML report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-csv", dest="csv", help="A file in the long layout (docs/statistician.md).")
        source.add_argument("--trial", help="A trial's slug: analyse its long dataset (blinded unless --unblinded).")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--instrument", help="One outcome: an instrument code, e.g. phq9.")
        what.add_argument(
            "--outcomes",
            help="Several primary outcomes with Holm across them, each instrument[.scale][@factor=level], "
            "e.g. phq9@condition=MDD,gadq4@condition=GAD,wcs@condition=CHR-FED.",
        )
        parser.add_argument("--scale", default="total", help="Scale of --instrument (default: total).")
        parser.add_argument("--control", help="The control arm's label (needed when it is not obvious, e.g. A/B).")
        parser.add_argument(
            "--covariates",
            help="Comma-separated covariates, e.g. condition (default: none for files; the stratification "
            "factors for --trial).",
        )
        parser.add_argument("--participants", help="With --from-csv: the participant-level file (engagement).")
        parser.add_argument("--unblinded", action="store_true", help="--trial: real arm codes (locked/unblinded).")
        parser.add_argument("--json", dest="out", help="Write the JSON here (default: standard output).")
        parser.add_argument("--html", help="Write the HTML report here (--trial: default under var/reports/).")
        parser.add_argument(
            "--figures",
            metavar="DIR",
            help="Also write the report's figures to DIR as SVG, PDF and PNG (300 dpi), for a journal or slides.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        covariates = None
        if options["covariates"] is not None:
            covariates = [c.strip() for c in options["covariates"].split(",") if c.strip()]
        if options["csv"] and not (options["instrument"] or options["outcomes"]):
            raise CommandError("Name the outcome: --instrument CODE, or --outcomes for several.")
        try:
            with tempfile.TemporaryDirectory() as scratch:
                if options["trial"]:
                    result, single = self._trial(options, covariates, Path(scratch))
                else:
                    result, single = self._file(options, covariates or [])
        except (AnalysisInputError, ValueError, MMRMConvergenceError) as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(result, indent=2, default=str)
        if options["out"]:
            Path(options["out"]).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {options['out']}.")
        else:
            self.stdout.write(text)
        html_path = options["html"]
        if html_path is None and options["trial"]:
            stamp = clock.now().strftime("%Y%m%d-%H%M%S")
            mode = "blinded" if not options["unblinded"] else "unblinded"
            html_path = str(Path(settings.VAR_DIR) / "reports" / f"{options['trial']}-analysis-{mode}-{stamp}.html")
        page = render_report(as_report(result, single)) if html_path or options["figures"] else ""
        if html_path:
            Path(html_path).parent.mkdir(parents=True, exist_ok=True)
            Path(html_path).write_text(page, encoding="utf-8")
            self.stderr.write(f"Wrote the report to {html_path}.")
        if options["figures"]:
            written = export_figures(page, Path(options["figures"]))
            self.stderr.write(f"Wrote {len(written)} figure files to {options['figures']}.")

    def _trial(
        self, options: dict[str, Any], covariates: list[str] | None, scratch: Path
    ) -> tuple[dict[str, Any], bool]:
        trial = Trial.objects.filter(slug=options["trial"]).first()
        if trial is None:
            raise CommandError(f"No trial {options['trial']!r}.")
        blinded = not options["unblinded"]
        if not blinded and trial.status != TrialStatus.LOCKED and trial.unblinded_at is None:
            raise CommandError(f"Trial {trial.slug} is {trial.status} and blinded: no unblinded analysis before lock.")
        outcomes = parse_outcomes(options["outcomes"]) if options["outcomes"] else None
        if not options["instrument"]:
            return trial_analysis(
                trial,
                blinded=blinded,
                scratch=scratch,
                control=options["control"],
                covariates=covariates,
                outcomes=outcomes,
            ), False
        path = scratch / f"{trial.slug}-long-{'blinded' if blinded else 'unblinded'}.csv"
        write_csv(trial, "long", blinded=blinded, path=path)
        control = default_control(trial, blinded=blinded, control=options["control"])
        result = self._single(path, options, covariates or [], control)
        result["consort"] = consort_counts(trial, instrument=options["instrument"], blinded=blinded)
        result["trial"] = trial.slug
        result["blinded"] = blinded
        return result, True

    def _file(self, options: dict[str, Any], covariates: list[str]) -> tuple[dict[str, Any], bool]:
        path = Path(options["csv"])
        if options["instrument"]:
            return self._single(path, options, covariates, options["control"]), True
        import pandas as pd  # type: ignore[import-untyped]

        participants = None
        if options["participants"]:
            participants = pd.read_csv(options["participants"], dtype={"participant_id": str, "arm": str})
        result = analyze_plan(
            read_long_csv(path),
            parse_outcomes(options["outcomes"]),
            control=options["control"],
            covariates=covariates,
            participants=participants,
        )
        return {
            "title": f"Analysis of {path.name}",
            "generated_at": provenance.generated_at(),
            "software": provenance.software(),
            "trial": None,
            "blinded": None,
            "contrast": f"{result['intervention']} minus {result['control']}",
            "input": {"file": path.name, "sha256": file_sha256(path)},
            **result,
        }, False

    def _single(
        self, path: Path, options: dict[str, Any], covariates: list[str], control: str | None
    ) -> dict[str, Any]:
        long = read_long_csv(path)
        frame = model_frame(
            long, instrument=options["instrument"], scale=options["scale"], control=control, covariates=covariates
        )
        result = analyze(frame)
        result["trajectories"] = trajectories(long, instrument=options["instrument"], scale=options["scale"])
        return {
            "input": {
                "file": path.name,
                "sha256": file_sha256(path),
                "instrument": options["instrument"],
                "scale": options["scale"],
            },
            **result,
        }


def as_report(result: dict[str, Any], single: bool) -> dict[str, Any]:
    """The report's input: a plan's result as it is; a single outcome's result as a plan of one."""
    if not single:
        return result
    instrument, scale = result["input"]["instrument"], result["input"]["scale"]
    spec = OutcomeSpec(code=f"{instrument}_{scale}", name=f"{instrument} {scale}", instrument=instrument, scale=scale)
    outcome = {
        "code": spec.code,
        "name": spec.name,
        "instrument": instrument,
        "scale": scale,
        "primary": False,
        "subgroup": None,
        "error": None,
        **{k: v for k, v in result.items() if k not in {"input", "consort", "trial", "blinded"}},
    }
    return {
        "title": f"Analysis of {result['input']['file']}",
        "generated_at": provenance.generated_at(),
        "software": provenance.software(),
        "trial": result.get("trial"),
        "blinded": result.get("blinded"),
        "contrast": f"{result['intervention']} minus {result['control']}",
        "input": result["input"],
        "control": result["control"],
        "intervention": result["intervention"],
        "outcomes": [outcome],
        "multiplicity": None,
        "alliance": None,
        "engagement": None,
        "consort": result.get("consort"),
    }
