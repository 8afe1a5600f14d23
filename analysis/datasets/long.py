"""The long dataset (DESIGN.md contract): one row per randomized participant x visit x instrument x scale,

    participant_id, arm, <one column per stratification factor>, visit, week, instrument, scale, value,
    completed_at

``scale`` is ``total`` or a subscale; ``week`` is 0 at baseline; ``value`` is empty when missing;
``completed_at`` is when the answers were first submitted (a correction keeps it; the value is the
corrected one). Every randomized participant has every row the protocol gave them, answered or not
(intention to treat).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count

from analysis.datasets.source import (
    CHUNK,
    NO_SCORE,
    InstrumentOrder,
    Protocol,
    load_protocol,
    randomized_chunks,
    scale_value,
)
from analysis.datasets.variables import id_variables, instrument_variable, scale_variable, visit_variable
from analysis.formats import Dataset, Variable
from participants.models import Allocation
from trial.models import Trial

VALUE_MISSING = (
    "No score: the visit was missed, is not yet due or done, or too many items were left blank to score "
    "(the instrument's missing-item rule)."
)


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


def long_rows(trial: Trial, *, blinded: bool, chunk: int = CHUNK) -> Iterator[LongRow]:
    for rows in _long_chunks(load_protocol(trial, blinded=blinded), chunk=chunk):
        for row in rows:
            *head, visit, week, instrument, scale, value, completed_at = row
            yield LongRow(
                participant_id=head[0],
                arm=head[1],
                strata=tuple(head[2:]),
                visit=visit,
                week=week,
                instrument=instrument,
                scale=scale,
                value=value,
                completed_at=completed_at,
            )


Row = tuple[Any, ...]


def _long_chunks(protocol: Protocol, *, chunk: int = CHUNK) -> Iterator[list[Row]]:
    """The long rows (the values of ``LongRow.as_list``), a list per chunk of participants. The export's
    inner loop: one plain tuple per row and nothing else per row (no model objects, no per-row records;
    tuples rather than lists, which the garbage collector keeps tracking)."""
    order = InstrumentOrder(protocol)
    codes = {code for planned in protocol.visits for code in planned.all_instruments()}
    scales = {code: protocol.instrument(code).scale_names() for code in codes}  # "total" first, always
    subscales = {code: names[1:] for code, names in scales.items()}
    visits = [(planned, planned.visit.pk, planned.visit.code, planned.visit.week) for planned in protocol.visits]
    for part in randomized_chunks(protocol, chunk=chunk):
        rows: list[Row] = []
        append = rows.append
        assessments, scores = part.assessments, part.scores
        for participant_id, study_id, arm_id, arm, strata in part.participants:
            head = (study_id, arm, *strata)
            for planned, visit_id, visit, week in visits:
                assessment = assessments.get((participant_id, visit_id))
                if assessment is None:
                    for instrument in order(planned, arm_id, None):
                        for scale in scales[instrument]:
                            append((*head, visit, week, instrument, scale, None, None))
                    continue
                assessment_id, _status, given = assessment
                for instrument in order(planned, arm_id, given):
                    score = scores.get((assessment_id, instrument), NO_SCORE)
                    total, _subscales, at = score
                    append((*head, visit, week, instrument, "total", total, at))
                    for scale in subscales[instrument]:
                        append((*head, visit, week, instrument, scale, scale_value(score, scale), at))
        yield rows


def _rows_per_arm(protocol: Protocol) -> dict[int | None, int]:
    """How many long rows a participant of each arm has (the header of some formats needs the count)."""
    counts: dict[int | None, int] = {}
    for arm in protocol.arms:
        key = None if protocol.blinded else arm.pk
        counts[arm.pk] = sum(
            len(protocol.instrument(code).scale_names())
            for visit in protocol.visits
            for code in visit.instruments_for(key)
        )
    return counts


def long_dataset(trial: Trial, *, blinded: bool) -> tuple[Dataset, Iterator[list[Row]]]:
    protocol = load_protocol(trial, blinded=blinded)
    codes = [c for v in protocol.visits for c in (v.common if blinded else v.all_instruments())]
    variables: list[Variable] = [
        *id_variables(protocol),
        visit_variable(protocol),
        Variable("week", "Weeks since randomization (0 = baseline)", "integer"),
        instrument_variable(protocol, codes),
        scale_variable(protocol, codes),
        Variable("value", "Score on the scale", "float", missing=VALUE_MISSING),
        Variable(
            "completed_at",
            "When the answers were first submitted (UTC)",
            "datetime",
            missing="Not submitted.",
        ),
    ]
    per_arm = _rows_per_arm(protocol)
    counts = Allocation.objects.filter(trial=trial).values("arm_id").annotate(n=Count("id")).order_by()
    n_rows = sum(per_arm.get(row["arm_id"], 0) * row["n"] for row in counts)
    dataset = Dataset(name="long", variables=tuple(variables), n_rows=n_rows)
    return dataset, _batches(_long_chunks(protocol))


def _batches(parts: Iterator[list[Row]], size: int = 5000) -> Iterator[list[Row]]:
    """The rows again in batches of ``size`` (as they always came: the files' blocks and Parquet's row
    groups fall where they did)."""
    pending: list[Row] = []
    for rows in parts:
        pending += rows
        while len(pending) >= size:
            yield pending[:size]
            del pending[:size]
    if pending:
        yield pending
