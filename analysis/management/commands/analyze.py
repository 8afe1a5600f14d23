from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.consort import consort_counts
from analysis.exports import long_csv
from analysis.stats.mmrm import MMRMConvergenceError
from analysis.stats.primary import AnalysisInputError, analyze, file_sha256, model_frame, read_long_csv
from trial.models import Trial


class Command(BaseCommand):
    help = (
        "Analyse one outcome: MMRM (primary), random-intercept LMM and ANCOVA per visit, from a file in the "
        "long layout (--from-csv) or from a trial's blinded long dataset (--trial). Writes JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-csv", dest="csv", help="A file in the long layout (docs/statistician.md).")
        source.add_argument("--trial", help="A trial's slug: analyse its blinded long dataset (arms A/B).")
        parser.add_argument("--instrument", required=True, help="Instrument code, e.g. phq9.")
        parser.add_argument("--scale", default="total", help="Scale to analyse (default: total).")
        parser.add_argument("--control", help="The control arm's label (needed when it is not obvious, e.g. A/B).")
        parser.add_argument("--covariates", default="", help="Comma-separated extra covariates, e.g. condition.")
        parser.add_argument("--json", dest="out", help="Write the JSON here (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        covariates = [c.strip() for c in options["covariates"].split(",") if c.strip()]
        trial: Trial | None = None
        with tempfile.TemporaryDirectory() as scratch:
            if options["trial"]:
                trial = Trial.objects.filter(slug=options["trial"]).first()
                if trial is None:
                    raise CommandError(f"No trial {options['trial']!r}.")
                path = Path(scratch) / f"{trial.slug}-long-blinded.csv"
                with path.open("wb") as handle:
                    for chunk in long_csv(trial=trial, blinded=True, by=None):
                        handle.write(chunk)
            else:
                path = Path(options["csv"])
            try:
                frame = model_frame(
                    read_long_csv(path),
                    instrument=options["instrument"],
                    scale=options["scale"],
                    control=options["control"],
                    covariates=covariates,
                )
                result = analyze(frame)
            except (AnalysisInputError, ValueError, MMRMConvergenceError) as exc:
                raise CommandError(str(exc)) from exc
            if trial is not None:
                result["consort"] = consort_counts(trial, instrument=options["instrument"], blinded=True)
            result = {
                "input": {
                    "file": path.name,
                    "sha256": file_sha256(path),
                    "instrument": options["instrument"],
                    "scale": options["scale"],
                },
                **result,
            }
        text = json.dumps(result, indent=2, default=str)
        if options["out"]:
            Path(options["out"]).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {options['out']}.")
        else:
            self.stdout.write(text)
