"""Design checks the analysis adds to a trial (run before it opens): each outcome of the analysis plan
names an installed instrument and one of its scales, collected at baseline and at a later visit (the
baseline is the MMRM's covariate; a later visit its outcome)."""

from __future__ import annotations

from assessments.instruments import default_registry
from trial.models import AnalysisOutcome, Trial, VisitInstrument


def check_outcome_instruments(trial: Trial) -> list[str]:
    registry = default_registry()
    known = set(registry.codes())
    weeks: dict[str, set[int]] = {}
    for code, week in VisitInstrument.objects.filter(visit__trial=trial, arm__isnull=True).values_list(
        "instrument_code", "visit__week"
    ):
        weeks.setdefault(code, set()).add(week)
    problems = []
    for outcome in AnalysisOutcome.objects.filter(trial=trial):
        code = outcome.instrument_code
        if code not in known:
            problems.append(f"Outcome {outcome.code!r} names instrument {code!r}, which is not installed.")
            continue
        scales = registry.get(code).scale_names()
        if outcome.scale not in scales:
            problems.append(
                f"Outcome {outcome.code!r}: {code} has no scale {outcome.scale!r} (scales: {', '.join(scales)})."
            )
        collected = weeks.get(code, set())
        if 0 not in collected or not any(week > 0 for week in collected):
            problems.append(
                f"Outcome {outcome.code!r}: {code} must be collected from every arm at baseline and at a later "
                "visit to be analysed."
            )
    return problems
