"""The wide dataset: one row per randomized participant (intention to treat).

    participant_id, arm, <stratification columns>,
    then for each visit in protocol order:  <visit>_status, <visit>_completed_at,
                                            <instrument>_<scale>_<visit> for each instrument and scale

``<visit>_status`` says why a score is missing (missed, cancelled after withdrawal, not yet due, not
scheduled); the scores are the latest version of each response, as in the long file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from analysis.datasets.source import CHUNK, Protocol, load_protocol, randomized_records, scale_value
from analysis.datasets.variables import NOT_SCHEDULED, id_variables, status_variable
from analysis.formats import Dataset, Variable
from participants.models import Allocation
from trial.models import Trial


def _columns(protocol: Protocol) -> list[tuple[str, str, str, Variable]]:
    """(visit code, instrument code or "", scale or kind, variable) for every visit column, in order."""
    columns: list[tuple[str, str, str, Variable]] = []
    for planned in protocol.visits:
        visit = planned.visit
        status = status_variable(f"{visit.code}_status", f"{visit.name}: status of the visit")
        columns.append((visit.code, "", "status", status))
        columns.append(
            (
                visit.code,
                "",
                "completed_at",
                Variable(
                    f"{visit.code}_completed_at",
                    f"{visit.name}: first submission of the visit's answers (UTC)",
                    "datetime",
                    missing="Nothing submitted at this visit.",
                ),
            )
        )
        codes = planned.common if protocol.blinded else planned.all_instruments()
        for code in codes:
            instrument = protocol.instrument(code)
            only = [arm.code for arm in protocol.arms if code in planned.by_arm.get(arm.pk, ())]
            for scale in instrument.scale_names():
                label = f"{instrument.short_name} {scale}, {visit.name}"
                missing = "No score (see the visit's status)."
                if only:
                    missing += f" Asked of the {', '.join(only)} arm only."
                columns.append(
                    (visit.code, code, scale, Variable(f"{code}_{scale}_{visit.code}", label, "float", missing=missing))
                )
    return columns


def wide_dataset(trial: Trial, *, blinded: bool) -> tuple[Dataset, Iterator[list[list[Any]]]]:
    protocol = load_protocol(trial, blinded=blinded)
    columns = _columns(protocol)
    variables = (*id_variables(protocol), *(c[3] for c in columns))
    n_rows = Allocation.objects.filter(trial=trial).count()
    return Dataset(name="wide", variables=variables, n_rows=n_rows), _chunks(protocol, columns)


def _chunks(protocol: Protocol, columns: list[tuple[str, str, str, Variable]]) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for record in randomized_records(protocol, chunk=CHUNK):
        by_visit = {v.planned.visit.code: v for v in record.visits}
        row: list[Any] = [record.study_id, record.arm, *record.strata]
        for visit_code, code, kind, _ in columns:
            visit = by_visit[visit_code]
            if kind == "status":
                answered = [c for c, score in visit.scores.items() if score[2] is not None]
                shown = None if visit.status is None else protocol.visit_status(visit.planned, visit.status, answered)
                row.append(NOT_SCHEDULED if shown is None else shown)
            elif kind == "completed_at":
                times = [at for _total, _subscales, at in visit.scores.values() if at is not None]
                row.append(min(times) if times else None)
            else:
                score = visit.scores.get(code)
                row.append(scale_value(score, kind) if score is not None else None)
        batch.append(row)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch
