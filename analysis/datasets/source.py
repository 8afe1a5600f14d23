"""What every analysis dataset reads: the protocol (visits and their instruments, arms, factors) and, a
chunk of randomized participants at a time, their scheduled visits and latest scores. Memory stays bounded
however large the trial; queries per chunk are fixed. Contact details are never read.

Only the columns a dataset uses are read, as plain values (no model objects): the raw answers, the largest
column, are never loaded. The randomized participants come from one query in study-ID order, read a chunk
at a time (a server-side cursor on PostgreSQL); each chunk then costs two queries, its scheduled visits and
its responses."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any, cast

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, F, Func, Lookup, TextField
from django.db.models.functions import Cast

from assessments.blinding import ArmSpecific, arm_specific
from assessments.instruments import Instrument, default_registry
from assessments.models import Response, ScheduledAssessment
from participants.models import Allocation
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
    specific: ArmSpecific | None = None  # blinded: the visits where one arm fills more (assessments.blinding)

    def visit_status(self, planned: PlannedVisit, status: str, answered: Iterable[str]) -> str:
        """A visit's status as the dataset shows it: blinded, complete once every arm's questionnaires are in."""
        if self.specific is None:
            return status
        return self.specific.shared_status(planned.visit.pk, status, answered)

    def arm_label(self, arm: Arm) -> str:
        return arm.blinded_label if self.blinded else arm.code

    def instrument(self, code: str) -> Instrument:
        return default_registry().get(code)

    def factor_codes(self) -> list[str]:
        return [f.code for f in self.factors]


def load_protocol(trial: Trial, *, blinded: bool) -> Protocol:
    """The protocol as the dataset sees it. In a blinded dataset the instruments of one arm only are left
    out, and so are the visits that have no others: their presence would tell which letter is which arm."""
    rows = list(VisitInstrument.objects.filter(visit__trial=trial).order_by("order", "id"))
    visits = []
    for visit in VisitDefinition.objects.filter(trial=trial).order_by("order", "week"):
        mine = [row for row in rows if row.visit_id == visit.pk]
        by_arm: dict[int, tuple[str, ...]] = {}
        if not blinded:
            for row in mine:
                if row.arm_id is not None:
                    by_arm[row.arm_id] = (*by_arm.get(row.arm_id, ()), row.instrument_code)
        common = tuple(r.instrument_code for r in mine if r.arm_id is None)
        if blinded and not common:
            continue  # only some arms have this visit (they alone are scheduled for it): its status would tell
        visits.append(PlannedVisit(visit=visit, common=common, by_arm=by_arm))
    arms = list(trial.arms.order_by("order", "id"))
    if blinded:
        arms.sort(key=lambda arm: arm.blinded_label)
    factors = list(trial.factors.order_by("order", "id").prefetch_related("levels"))
    specific = arm_specific(trial) if blinded else None
    return Protocol(trial=trial, blinded=blinded, arms=arms, factors=factors, visits=visits, specific=specific)


def _json(text: str | None) -> Any:
    """A JSON column read as text, decoded as ``JSONField.from_db_value`` decodes it. Reading the text and
    decoding it only when it is needed (or once for many equal values) spares most of the decoding."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@lru_cache(maxsize=64)
def _subscales(text: str | None) -> Mapping[str, Any]:
    """A response's subscales (its JSON text decoded; read-only, shared). Cached: the scales of one
    response are asked for one after another."""
    return {} if text is None else cast("Mapping[str, Any]", _json(text))


def _as_text(field: str) -> Cast:
    return Cast(field, output_field=TextField())


class _Microseconds(Func):
    """A timestamp as whole microseconds since 1970-01-01 UTC (exact: PostgreSQL keeps microseconds)."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = BigIntegerField()

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Any]:
        return []  # psycopg returns an int already: no call per value


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instants(field: str, db: str) -> tuple[str | Func, bool]:
    """How to read a timestamp column fast: the column itself, or (True) as microseconds since ``EPOCH``,
    for ``EPOCH + timedelta(microseconds=value)``, the datetime Django would have returned. The latter on
    PostgreSQL with UTC connections: psycopg reads integers in C, where Django's timezone-aware datetime
    loader is Python (the largest part of the time spent reading a chunk)."""
    connection = connections[db]
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return field, False
    return _Microseconds(field), True


class _IdIn(Lookup[Any]):
    """``column IN (ids)`` for integer ids, the ids passed as one parameter (their text): on PostgreSQL
    ``column = ANY(%s::bigint[])``, on SQLite ``column IN (SELECT value FROM json_each(%s))``. A chunk's
    thousands of ids would otherwise each cost the ORM and the driver a placeholder in Python, and on SQLite
    they could pass its limit on parameters (32,766 in most builds: a protocol of daily visits for three
    months would, at a thousand participants a chunk)."""

    lookup_name = "id_in"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = ",".join(str(int(value)) for value in self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, "{" + ids + "}")
        if connection.vendor == "sqlite":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", (*lhs_params, "[" + ids + "]")  # noqa: S608 (a column)
        if not ids:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", (*lhs_params, *map(int, self.rhs))


# What a chunk holds is plain tuples, not named ones nor objects: the garbage collector stops tracking a
# plain tuple of strings and numbers, never a named tuple, and every tracked object that outlives a chunk
# brings the next walk through the whole heap nearer (that walking took a third of the export's time).

Score = tuple[float | None, str | None, datetime | None]
"""One instrument at one visit: the latest version's total and subscales (JSON text, decoded only when a
subscale is asked for) and when the first version was submitted."""

NO_SCORE: Score = (None, None, None)

Randomized = tuple[int, str, int, str, tuple[str, ...]]
"""One randomized participant: participant id, study ID, arm id, the arm as the dataset shows it (A/B when
blinded, the arm's code when not) and the strata (level codes in factor order, "" when not recorded)."""

Assessment = tuple[int, str, str]
"""A scheduled visit: assessment id, status and the instruments as given, in order (JSON text)."""


@dataclass(frozen=True)
class VisitRecord:
    planned: PlannedVisit
    status: str | None  # of the scheduled assessment; None when the visit was never scheduled
    instruments: tuple[str, ...]  # in the order the participant was given them
    scores: dict[str, Score]


@dataclass(frozen=True)
class Record:
    study_id: str
    arm: str
    strata: tuple[str, ...]
    visits: list[VisitRecord]


@dataclass(frozen=True)
class Chunk:
    """A chunk of randomized participants (study-ID order) with their visits and scores, as plain values."""

    participants: list[Randomized]
    assessments: dict[tuple[int, int], Assessment]  # (participant id, visit id) ->
    scores: dict[tuple[int, str], Score]  # (assessment id, instrument code) ->


class InstrumentOrder:
    """The instruments of a planned visit in the order a participant was given them: those of the scheduled
    assessment first, then the rest of the protocol's; arm-specific ones only in unblinded datasets. The
    answer depends on few things (visit, arm, the assessment's list), so it is worked out once for each."""

    KEEP = 10_000  # answers remembered at most (a trial has a handful)

    def __init__(self, protocol: Protocol) -> None:
        self.blinded = protocol.blinded
        self._known: dict[tuple[str, int | None, str | None], tuple[str, ...]] = {}

    def __call__(self, planned: PlannedVisit, arm_id: int, given: str | None) -> tuple[str, ...]:
        """``given``: the scheduled assessment's instruments (JSON text), None when it was not scheduled."""
        arm = None if self.blinded else arm_id
        key = (planned.visit.code, arm, given)  # visit codes are unique in a trial
        order = self._known.get(key)
        if order is None:
            order = self._order(planned, arm, None if given is None else _json(given))
            if len(self._known) < self.KEEP:
                self._known[key] = order
        return order

    @staticmethod
    def _order(planned: PlannedVisit, arm: int | None, given: list[str] | None) -> tuple[str, ...]:
        wanted = planned.instruments_for(arm)
        if given is None:
            return wanted
        first = [c for c in given if c in wanted]
        return (*first, *(c for c in wanted if c not in first))


def randomized_chunks(protocol: Protocol, *, chunk: int = CHUNK) -> Iterator[Chunk]:
    """Every randomized participant, in study-ID order, ``chunk`` participants at a time, with their
    scheduled assessments and, per assessment and instrument, the latest scores and first submission."""
    codes = protocol.factor_codes()
    labels = {arm.pk: protocol.arm_label(arm) for arm in protocol.arms}
    strata_of: dict[str, tuple[str, ...]] = {}  # a handful of strata, each decoded once
    submitted, as_microseconds = _instants("submitted_at", Response.objects.db)
    used = sorted({code for planned in protocol.visits for code in planned.all_instruments()})
    rows_of = (
        Allocation.objects.filter(trial=protocol.trial)
        .order_by("participant__study_id")
        .values_list("participant_id", "participant__study_id", _as_text("participant__strata"), "arm_id")
    )
    # PostgreSQL streams from a server-side cursor that holds no lock. SQLite would keep its statement
    # open, and so its read lock, for as long as the caller takes to consume the export (a slow download):
    # every write to the database (a survey submission, the sweep) would wait. There the list is read
    # first, a small tuple per participant.
    streams = connections[Allocation.objects.db].vendor == "postgresql"
    allocations: Iterator[tuple[Any, ...]] = rows_of.iterator(chunk_size=chunk) if streams else iter(list(rows_of))
    while rows := list(islice(allocations, chunk)):
        participants = []
        for participant_id, study_id, strata_json, arm_id in rows:
            if arm_id not in labels:  # not one of the trial's arms: cannot happen, but never guess a label
                labels[arm_id] = protocol.arm_label(Arm.objects.get(pk=arm_id))
            strata = strata_of.get(strata_json)
            if strata is None:
                levels = _json(strata_json)
                strata = tuple(str(levels.get(code, "")) for code in codes)
                if len(strata_of) < InstrumentOrder.KEEP:
                    strata_of[strata_json] = strata
            participants.append((participant_id, study_id or "", arm_id, labels[arm_id], strata))
        ids = [p[0] for p in participants]
        assessments: dict[tuple[int, int], Assessment] = {
            (participant_id, visit_id): (pk, status, instruments)
            for pk, participant_id, visit_id, status, instruments in ScheduledAssessment.objects.filter(
                _IdIn(F("participant_id"), ids)
            )
            .order_by()
            .values_list("pk", "participant_id", "visit_id", "status", _as_text("instruments"))
        }
        scores: dict[tuple[int, str], Score] = {}
        responses = (
            # By the assessments' ids, not a join on the participants: that join reads every response of the
            # trial for each chunk (PostgreSQL hashes the chunk's assessments and scans the table).
            Response.objects.filter(_IdIn(F("assessment_id"), [a[0] for a in assessments.values()]))
            .filter(instrument_code__in=used)  # not those a dataset leaves out (one arm's, when blinded)
            .order_by("assessment_id", "instrument_code", "version")
            .values_list("assessment_id", "instrument_code", "total", _as_text("subscales"), submitted)
        )
        for assessment_id, code, total, subscales, submitted_at in responses:
            key = (assessment_id, code)
            first = scores.get(key)  # versions come in order: the first one seen is the first submitted
            if first is None:
                if as_microseconds:  # never None: the column is NOT NULL
                    submitted_at = EPOCH + timedelta(0, 0, submitted_at)  # (days, seconds, microseconds)
                scores[key] = (total, subscales, submitted_at)
            else:
                scores[key] = (total, subscales, first[2])
        yield Chunk(participants=participants, assessments=assessments, scores=scores)


def randomized_records(protocol: Protocol, *, chunk: int = CHUNK) -> Iterator[Record]:
    """Every randomized participant, in study-ID order, with every visit the protocol gave them
    (intention to treat): answered or not, scheduled or not."""
    order = InstrumentOrder(protocol)
    for part in randomized_chunks(protocol, chunk=chunk):
        for participant_id, study_id, arm_id, arm, strata in part.participants:
            visits = []
            for planned in protocol.visits:
                assessment = part.assessments.get((participant_id, planned.visit.pk))
                if assessment is None:
                    instruments = order(planned, arm_id, None)
                    scores = dict.fromkeys(instruments, NO_SCORE)
                    visits.append(VisitRecord(planned=planned, status=None, instruments=instruments, scores=scores))
                    continue
                assessment_id, status, given = assessment
                instruments = order(planned, arm_id, given)
                scores = {code: part.scores.get((assessment_id, code), NO_SCORE) for code in instruments}
                visits.append(VisitRecord(planned=planned, status=status, instruments=instruments, scores=scores))
            yield Record(study_id=study_id, arm=arm, strata=strata, visits=visits)


def scale_value(score: Score, scale: str) -> float | None:
    total, subscales, _first_submitted_at = score
    if scale == "total":
        return total
    value = _subscales(subscales).get(scale)
    return None if value is None else float(value)
