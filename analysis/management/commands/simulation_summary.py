"""python manage.py simulation_summary --json ANALYSIS.json: the simulated trial's primary outcomes next to
the figures the Therabot trial published (REFERENCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.simulation.outcomes import CHATBOT, PUBLISHED_CHANGE, WAITLIST
from assessments.simulation.outcomes import PUBLISHED_D as PUBLISHED_D_BY_VISIT


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


#: Cohen's d the Therabot trial published per condition and visit (outcomes.PUBLISHED_D: the ends of the published
#: range, matched to the visits by their differences), signed as ours (chatbot minus waitlist on a symptom scale:
#: negative favours the chatbot).
PUBLISHED_D = {condition: tuple(-d for d in weeks) for condition, weeks in PUBLISHED_D_BY_VISIT.items()}

WHY_D_DIFFERS = (
    "d = MMRM difference / pooled baseline SD; the published d is from the paper's ordinal model. The simulated\n"
    "baseline SDs are the ones it implies; GAD-Q-IV's range (5.7-13) caps its SD: its d is higher (docs/simulation.md)."
)


def summary_lines(analysis: dict[str, Any]) -> list[str]:
    head = (
        f"{'condition':9s} {'scale':6s} {'week':>4s} {'analysed':>9s}  {'change chatbot / waitlist':>26s}  "
        f"{'published':>15s}  {'MMRM difference (95% CI)':>27s} {'diff. of published changes':>26s} "
        f"{'d':>6s} {'published d':>15s}"
    )
    lines = [head, "-" * len(head)]
    for outcome in analysis.get("outcomes", []):
        level = (outcome.get("subgroup") or {}).get("level")
        if not outcome.get("primary") or level not in PUBLISHED_CHANGE:
            continue
        if outcome.get("error"):
            lines.append(f"{level:9s} {outcome['instrument']:6s}  not estimable: {outcome['error']}")
            continue
        published = PUBLISHED_CHANGE[level]
        change = {(c["week"], c["arm"]): c["mean_change"] for c in outcome["within_arm_change"]}
        # Analysed at a visit: those with a baseline and that visit's score, per arm.
        counts = {(c["week"], c["arm"]): c["n"] for c in outcome["within_arm_change"]}
        sizes = {s["week"]: s["cohens_d"] for s in outcome["effect_sizes"]}
        for index, visit in enumerate(outcome["mmrm"]["visits"]):
            week = visit["week"]
            pub = (published[CHATBOT][index], published[WAITLIST][index])
            ours = f"{_fmt(change.get((week, CHATBOT)))} / {_fmt(change.get((week, WAITLIST)))}"
            analysed = f"{counts.get((week, CHATBOT), 0)}/{counts.get((week, WAITLIST), 0)}"
            ci = f"{visit['estimate']:.2f} ({visit['ci_low']:.2f}, {visit['ci_high']:.2f})"
            lines.append(
                f"{level:9s} {outcome['instrument']:6s} {week:4d} {analysed:>9s}  {ours:>26s}  "
                f"{pub[0]:>7.2f} / {pub[1]:<5.2f}  {ci:>27s} {pub[0] - pub[1]:26.2f} "
                f"{_fmt(sizes.get(week)):>6s} {PUBLISHED_D[level][index]:>15.3f}"
            )
    lines.append("analysed: chatbot/waitlist participants with a baseline and that week's score.")
    lines += WHY_D_DIFFERS.split("\n")
    return lines


class Command(BaseCommand):
    help = "Print a simulated trial's primary outcomes next to the Therabot trial's published figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", required=True, help="The JSON written by analyze --trial ... --unblinded.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["json"])
        try:
            analysis = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if analysis.get("blinded", True):
            raise CommandError("The analysis is blinded; run analyze --unblinded on a locked trial.")
        self.stdout.write("Mean change from baseline and the adjusted difference (chatbot minus waitlist):")
        for line in summary_lines(analysis):
            self.stdout.write(line)
