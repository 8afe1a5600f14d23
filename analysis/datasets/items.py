"""The item-level dataset: one row per randomized participant x visit (intention to treat), a column per item,

    participant_id, arm, <stratification columns>, visit, week, status, completed_at,
    then every item key of every instrument of the protocol, in protocol order (phq9_1 ... phq9_10, gad7_1 ...)

The item keys are the column names (DESIGN.md), for item analyses: internal consistency, item 9 of the
PHQ-9, missing-item patterns. A value is the answer as recorded, the numeric value of the chosen option, of
the latest version of the response (as the long and wide files' scores are). It is empty when the item was
left blank, the questionnaire not answered (``status`` says why) or not asked at that visit. As in every
blinded dataset, the instruments of one arm only (the alliance scale) are left out of a blinded file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import F

from analysis.datasets.source import (
    CHUNK,
    InstrumentOrder,
    Protocol,
    _as_text,
    _IdIn,
    _json,
    load_protocol,
    randomized_chunks,
)
from analysis.datasets.variables import NOT_SCHEDULED, id_variables, status_variable, visit_variable
from analysis.formats import Dataset, Variable
from assessments.models import Response
from participants.models import Allocation
from trial.models import Trial

Row = tuple[Any, ...]


def _instruments(protocol: Protocol) -> list[str]:
    """Every instrument the dataset shows, in protocol order (first visit first)."""
    codes = [code for p in protocol.visits for code in (p.common if protocol.blinded else p.all_instruments())]
    return list(dict.fromkeys(codes))


def _item_variables(protocol: Protocol, codes: list[str]) -> list[Variable]:
    variables = []
    for code in codes:
        instrument = protocol.instrument(code)
        only = sorted(
            {arm.code for arm in protocol.arms for p in protocol.visits if code in p.by_arm.get(arm.pk, ())}
            - {arm.code for arm in protocol.arms for p in protocol.visits if code in p.common}
        )
        missing = "Left blank, not answered (see status), or not asked at this visit."
        if only:
            missing += f" Asked of the {', '.join(only)} arm only."
        for number, key in enumerate(instrument.item_keys, start=1):
            scored = "" if instrument.item(key).scored else " (not scored)"
            label = f"{instrument.short_name} item {number}{scored}"
            variables.append(Variable(key, label, "float", missing=missing))
    return variables


def items_dataset(trial: Trial, *, blinded: bool) -> tuple[Dataset, Iterator[list[Row]]]:
    protocol = load_protocol(trial, blinded=blinded)
    codes = _instruments(protocol)
    variables = (
        *id_variables(protocol),
        visit_variable(protocol),
        Variable("week", "Weeks since randomization (0 = baseline)", "integer"),
        status_variable("status", "Status of the visit"),
        Variable(
            "completed_at",
            "First submission of the visit's answers (UTC)",
            "datetime",
            missing="Nothing submitted at this visit.",
        ),
        *_item_variables(protocol, codes),
    )
    n_rows = Allocation.objects.filter(trial=trial).count() * len(protocol.visits)
    return Dataset(name="items", variables=variables, n_rows=n_rows), _chunks(protocol, codes)


def _chunks(protocol: Protocol, codes: list[str]) -> Iterator[list[Row]]:
    order = InstrumentOrder(protocol)
    keys = {code: protocol.instrument(code).item_keys for code in codes}
    width = sum(len(k) for k in keys.values())
    offsets, at = {}, 0
    for code in codes:
        offsets[code] = at
        at += len(keys[code])
    for part in randomized_chunks(protocol, chunk=CHUNK):
        ids = [assessment[0] for assessment in part.assessments.values()]
        answers: dict[tuple[int, str], str | None] = {}
        latest = (
            Response.objects.filter(_IdIn(F("assessment_id"), ids))
            .filter(instrument_code__in=codes)
            .order_by("assessment_id", "instrument_code", "version")
            .values_list("assessment_id", "instrument_code", _as_text("answers"))
        )
        for assessment_id, code, text in latest:
            answers[(assessment_id, code)] = text  # versions in order: the last one seen is the current one
        rows: list[Row] = []
        for participant_id, study_id, arm_id, arm, strata in part.participants:
            for planned in protocol.visits:
                visit = planned.visit
                assessment = part.assessments.get((participant_id, visit.pk))
                values: list[Any] = [None] * width
                if assessment is None:
                    rows.append((study_id, arm, *strata, visit.code, visit.week, NOT_SCHEDULED, None, *values))
                    continue
                assessment_id, status, given = assessment
                first: list[Any] = []
                answered = []
                for code in order(planned, arm_id, given):
                    score = part.scores.get((assessment_id, code))
                    if score is not None and score[2] is not None:
                        first.append(score[2])
                        answered.append(code)
                    given_answers = _json(answers.get((assessment_id, code)))
                    if not given_answers:
                        continue
                    start = offsets[code]
                    for i, key in enumerate(keys[code]):
                        values[start + i] = given_answers.get(key)
                completed_at = min(first) if first else None
                status = protocol.visit_status(planned, status, answered)
                rows.append((study_id, arm, *strata, visit.code, visit.week, status, completed_at, *values))
        yield rows
