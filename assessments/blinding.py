"""Visits as a reader who must not know the arm sees them.

A visit where one arm fills an extra questionnaire (the alliance scale in the chatbot arm) completes, for
that arm, only when the extra one is in too: its status, completion time and reminders would tell the arms
apart. To such a reader (a blinded statistician; in a masked trial, staff until the participant is
emergency-unblinded) a visit counts as completed once the questionnaires every arm fills are in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from assessments.models import AssessmentStatus
from trial.models import Trial, VisitInstrument


@dataclass(frozen=True)
class ArmSpecific:
    """Which visits of a trial have one arm's questionnaires, which those are, and each visit's shared ones."""

    visits: frozenset[int]  # VisitDefinition ids
    codes: frozenset[str]
    shared: dict[int, tuple[str, ...]]  # VisitDefinition id -> the questionnaires every arm fills

    def shared_status(self, visit_id: int, status: str, answered: Iterable[str]) -> str:
        """The status this reader is shown, given the questionnaires answered at the visit."""
        if visit_id not in self.visits or status not in (AssessmentStatus.OPEN, AssessmentStatus.MISSED,
                                                          AssessmentStatus.CANCELLED):  # fmt: skip
            return status
        shared = self.shared.get(visit_id, ())
        done = set(answered)
        return AssessmentStatus.COMPLETED if shared and all(code in done for code in shared) else status


def arm_specific(trial: Trial) -> ArmSpecific:
    rows = list(VisitInstrument.objects.filter(visit__trial=trial).values_list("visit_id", "instrument_code", "arm_id"))
    visits = frozenset(visit for visit, _code, arm in rows if arm is not None)
    shared: dict[int, tuple[str, ...]] = {}
    for visit, code, arm in rows:
        if arm is None:
            shared[visit] = (*shared.get(visit, ()), code)
    return ArmSpecific(
        visits=visits, codes=frozenset(code for _visit, code, arm in rows if arm is not None), shared=shared
    )
