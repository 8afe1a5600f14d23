"""python manage.py simulation_summary --json ANALYSIS.json: the simulated trial's primary outcomes next to
the figures the Therabot trial published (REFERENCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.simulation.outcomes import CHATBOT, PUBLISHED_CHANGE, WAITLIST


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_lines(analysis: dict[str, Any]) -> list[str]:
    head = (
        f"{'condition':9s} {'scale':6s} {'week':>4s} {'n':>4s}  {'change chatbot / waitlist':>26s}  "
        f"{'published':>15s}  {'MMRM difference (95% CI)':>27s} {'published':>9s} {'d':>6s}"
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
        sizes = {s["week"]: s["cohens_d"] for s in outcome["effect_sizes"]}
        for index, visit in enumerate(outcome["mmrm"]["visits"]):
            week = visit["week"]
            pub = (published[CHATBOT][index], published[WAITLIST][index])
            ours = f"{_fmt(change.get((week, CHATBOT)))} / {_fmt(change.get((week, WAITLIST)))}"
            ci = f"{visit['estimate']:.2f} ({visit['ci_low']:.2f}, {visit['ci_high']:.2f})"
            lines.append(
                f"{level:9s} {outcome['instrument']:6s} {week:4d} {outcome['n_participants']:4d}  {ours:>26s}  "
                f"{pub[0]:>7.2f} / {pub[1]:<5.2f}  {ci:>27s} {pub[0] - pub[1]:9.2f} {_fmt(sizes.get(week)):>6s}"
            )
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
