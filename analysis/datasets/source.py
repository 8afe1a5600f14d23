"""What every analysis dataset reads: the protocol (visits and their instruments, arms, factors) and, a
chunk of randomized participants at a time, their scheduled visits and latest scores. Memory stays bounded
however large the trial; queries per chunk are fixed. Contact details are never read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from assessments.instruments import Instrument, default_registry
from assessments.models import Response, ScheduledAssessment
from participants.models import Allocation, Participant
from trial.models import Arm, StratificationFactor, Trial, VisitDefinition, VisitInstrument

CHUNK = 1000


@dataclass(frozen=True)
class PlannedVisit:
    visit: VisitDefinition
    common: tuple[str, ...]  # instruments every arm fills
    by_arm: dict[int, tuple[str, ...]]  # instruments one arm only fills (left out of blinded datasets)

    def instruments_for(self, arm_id: int | None) -> tuple[str, ...]:
        return self.common + (self.by_arm.get(arm_id, ()) if arm_id is not None else ())

    def all_instruments(self) -> tuple[str, ...]:
        extra = [code for codes in self.by_arm.values() for code in codes if code not in self.common]
        return self.common + tuple(dict.fromkeys(extra))


@dataclass(frozen=True)
class Protocol:
    trial: Trial
    blinded: bool
    arms: list[Arm]
    factors: list[StratificationFactor]
    visits: list[PlannedVisit]

    def arm_label(self, arm: Arm) -> str:
        return arm.blinded_label if self.blinded else arm.code

    def instrument(self, code: str) -> Instrument:
        return default_registry().get(code)

    def factor_codes(self) -> list[str]:
        return [f.code for f in self.factors]


def load_protocol(trial: Trial, *, blinded: bool) -> Protocol:
    """The protocol as the dataset sees it. In a blinded dataset the instruments of one arm only are left
    out: their presence would tell which letter is which arm."""
    rows = list(VisitInstrument.objects.filter(visit__trial=trial).order_by("order", "id"))
    visits = []
    for visit in VisitDefinition.objects.filter(trial=trial).order_by("order", "week"):
        mine = [row for row in rows if row.visit_id == visit.pk]
        by_arm: dict[int, tuple[str, ...]] = {}
        if not blinded:
            for row in mine:
                if row.arm_id is not None:
                    by_arm[row.arm_id] = (*by_arm.get(row.arm_id, ()), row.instrument_code)
        visits.append(
            PlannedVisit(visit=visit, common=tuple(r.instrument_code for r in mine if r.arm_id is None), by_arm=by_arm)
        )
    arms = list(trial.arms.order_by("order", "id"))
    if blinded:
        arms.sort(key=lambda arm: arm.blinded_label)
    factors = list(trial.factors.order_by("order", "id").prefetch_related("levels"))
    return Protocol(trial=trial, blinded=blinded, arms=arms, factors=factors, visits=visits)


@dataclass(frozen=True)
class Score:
    response: Response | None
    first_submitted_at: datetime | None


@dataclass(frozen=True)
class VisitRecord:
    planned: PlannedVisit
    assessment: ScheduledAssessment | None
    instruments: tuple[str, ...]  # in the order the participant was given them
    scores: dict[str, Score]


@dataclass(frozen=True)
class Record:
    participant: Participant
    allocation: Allocation
    arm: str
    strata: tuple[str, ...]
    visits: list[VisitRecord]


def randomized_records(protocol: Protocol, *, chunk: int = CHUNK) -> Iterator[Record]:
    """Every randomized participant, in study-ID order, with every visit the protocol gave them
    (intention to treat): answered or not, scheduled or not."""
    codes = protocol.factor_codes()
    allocation_ids = list(
        Allocation.objects.filter(trial=protocol.trial).order_by("participant__study_id").values_list("pk", flat=True)
    )
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
            visits = []
            for planned in protocol.visits:
                assessment = assessments.get((participant.pk, planned.visit.pk))
                wanted = planned.instruments_for(None if protocol.blinded else allocation.arm_id)
                if assessment is not None:
                    given = [c for c in assessment.instruments if c in wanted]
                    wanted = (*given, *(c for c in wanted if c not in given))
                scores = {}
                for code in wanted:
                    key: tuple[int, str] | None = (assessment.pk, code) if assessment is not None else None
                    scores[code] = Score(
                        response=latest.get(key) if key else None,
                        first_submitted_at=first_at.get(key) if key else None,
                    )
                visits.append(
                    VisitRecord(planned=planned, assessment=assessment, instruments=tuple(wanted), scores=scores)
                )
            yield Record(
                participant=participant,
                allocation=allocation,
                arm=protocol.arm_label(allocation.arm),
                strata=tuple(str(participant.strata.get(code, "")) for code in codes),
                visits=visits,
            )


def scale_value(score: Score, scale: str) -> float | None:
    response = score.response
    if response is None:
        return None
    if scale == "total":
        return response.total
    value = response.subscales.get(scale)
    return None if value is None else float(value)
