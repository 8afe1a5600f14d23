"""Analysis datasets built from the database, a chunk of participants at a time (memory stays bounded
however large the trial).

The long layout (DESIGN.md contract): one row per randomized participant x visit x instrument x scale,

    participant_id, arm, <one column per stratification factor>, visit, week, instrument, scale, value,
    completed_at

``scale`` is ``total`` or a subscale; ``week`` is 0 at baseline; ``value`` is empty when missing;
``completed_at`` is when the answers were first submitted (a correction keeps it; the value is the
corrected one). Every randomized participant has every row the protocol gave them, answered or not
(intention to treat). Contact details are never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assessments.instruments import default_registry
from assessments.models import Response, ScheduledAssessment
from participants.models import Allocation
from trial.models import Trial, VisitDefinition, VisitInstrument

CHUNK = 1000


@dataclass(frozen=True)
class LongRow:
    participant_id: str
    arm: str
    strata: tuple[str, ...]
    visit: str
    week: int
    instrument: str
    scale: str
    value: float | None
    completed_at: datetime | None

    def as_list(self) -> list[Any]:
        return [self.participant_id, self.arm, *self.strata, self.visit, self.week, self.instrument, self.scale,
                self.value, self.completed_at]  # fmt: skip


def factor_codes(trial: Trial) -> list[str]:
    return list(trial.factors.order_by("order", "id").values_list("code", flat=True))


def long_header(trial: Trial) -> list[str]:
    return ["participant_id", "arm", *factor_codes(trial), "visit", "week", "instrument", "scale", "value",
            "completed_at"]  # fmt: skip


def _protocol(trial: Trial, *, blinded: bool) -> list[tuple[VisitDefinition, dict[int | None, list[str]]]]:
    """Each visit with its instruments: for all arms (key None) and per arm id. In a blinded dataset the
    instruments of one arm only are left out: their presence would tell which letter is which arm."""
    visits = list(VisitDefinition.objects.filter(trial=trial).order_by("order", "week"))
    plan: list[tuple[VisitDefinition, dict[int | None, list[str]]]] = []
    rows = VisitInstrument.objects.filter(visit__trial=trial).order_by("order", "id")
    for visit in visits:
        by_arm: dict[int | None, list[str]] = {None: []}
        for row in rows:
            if row.visit_id != visit.pk:
                continue
            if row.arm_id is None:
                by_arm[None].append(row.instrument_code)
            elif not blinded:
                by_arm.setdefault(row.arm_id, []).append(row.instrument_code)
        plan.append((visit, by_arm))
    return plan


def long_rows(trial: Trial, *, blinded: bool, chunk: int = CHUNK) -> Iterator[LongRow]:
    registry = default_registry()
    factors = factor_codes(trial)
    plan = _protocol(trial, blinded=blinded)
    arm_ids = Allocation.objects.filter(trial=trial).order_by("participant__study_id")
    allocation_ids = list(arm_ids.values_list("pk", flat=True))
    for start in range(0, len(allocation_ids), chunk):
        allocations = list(
            Allocation.objects.filter(pk__in=allocation_ids[start : start + chunk])
            .select_related("participant", "arm")
            .order_by("participant__study_id")
        )
        participant_ids = [a.participant_id for a in allocations]
        assessments = {
            (a.participant_id, a.visit_id): a
            for a in ScheduledAssessment.objects.filter(participant_id__in=participant_ids)
        }
        latest: dict[tuple[int, str], Response] = {}
        first_at: dict[tuple[int, str], datetime] = {}
        responses = Response.objects.filter(assessment__participant_id__in=participant_ids).order_by(
            "assessment_id", "instrument_code", "version"
        )
        for response in responses.iterator(chunk_size=5000):
            seen = (response.assessment_id, response.instrument_code)
            latest[seen] = response
            first_at.setdefault(seen, response.submitted_at)
        for allocation in allocations:
            participant = allocation.participant
            arm = allocation.arm.blinded_label if blinded else allocation.arm.code
            strata = tuple(str(participant.strata.get(code, "")) for code in factors)
            for visit, by_arm in plan:
                assessment = assessments.get((participant.pk, visit.pk))
                codes = by_arm[None] + ([] if blinded else by_arm.get(allocation.arm_id, []))
                if assessment is not None:
                    codes = [c for c in assessment.instruments if c in codes] + [
                        c for c in codes if c not in assessment.instruments
                    ]
                for code in codes:
                    key: tuple[int, str] | None = (assessment.pk, code) if assessment is not None else None
                    response = latest.get(key) if key is not None else None
                    completed = first_at.get(key) if key is not None else None
                    for scale in registry.get(code).scale_names():
                        if response is None:
                            value = None
                        elif scale == "total":
                            value = response.total
                        else:
                            value = response.subscales.get(scale)
                        yield LongRow(
                            participant_id=participant.study_id or "",
                            arm=arm,
                            strata=strata,
                            visit=visit.code,
                            week=visit.week,
                            instrument=code,
                            scale=scale,
                            value=value,
                            completed_at=completed,
                        )
