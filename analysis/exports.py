"""Exports: streamed, hashed, audited.

A blinded export (arms as A/B) is open to the roles that analyse while the trial runs. An unblinded one
needs the unblinded statistician's role and a trial that is locked or unblinded. Every export writes an
audit event with its SHA-256 once the last byte is out, so what a statistician analysed can be matched
to the file later.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import cast

from analysis import datasets
from analysis.formats.csvfile import datetimes_text
from trial.access import Capability, can
from trial.audit import Actor, audit_record
from trial.errors import DomainError
from trial.models import Role, Trial, TrialStatus


class ExportRefused(DomainError):
    status_code = 403
    code = "export_refused"


def export_permission(*, trial: Trial, roles: frozenset[str], blinded: bool) -> None:
    if not can(roles, Capability.EXPORT):
        raise ExportRefused(f"Your roles in {trial.slug} do not allow exports.")
    if blinded:
        return
    if Role.UNBLINDED_STATISTICIAN not in roles:
        raise ExportRefused("An unblinded export needs the unblinded statistician's role.")
    if trial.status != TrialStatus.LOCKED and trial.unblinded_at is None:
        raise ExportRefused(
            f"Trial {trial.slug} is {trial.status} and blinded: unblinded exports wait for database lock or unblinding."
        )


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_AS_IS = frozenset((str, int, type(None)))  # the csv module writes these as _cell would (None as "")


def _cells(values: tuple[object, ...]) -> Sequence[object]:
    """``_cell`` of every value of a column (or the text the csv module writes for it), the common cases
    without a call per value: a column of strings and integers is written as it is; one of floats or one of
    datetimes is turned into text in one go."""
    kinds = set(map(type, values))
    if kinds <= _AS_IS:
        return values
    kinds.discard(type(None))
    if kinds == {float}:  # as text already: what the csv module would write for int(v) or v
        floats = cast("set[float | None]", set(values))
        text: dict[object, str] = {v: "" if v is None else str(int(v)) if v.is_integer() else repr(v) for v in floats}
        return list(map(text.__getitem__, values))  # each distinct score is turned into text once
    if kinds == {datetime}:
        return datetimes_text(cast("tuple[datetime | None, ...]", values))
    return [_cell(v) for v in values]


def _columns(chunk: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
    """The columns of a chunk of rows of one length. Not ``zip(*chunk)``: that makes an iterator per row,
    which lives as long as the transposition, long enough for the garbage collector to keep walking it."""
    return [tuple(map(itemgetter(i), chunk)) for i in range(len(chunk[0]))]


def _csv_rows(chunk: Sequence[Sequence[object]]) -> Iterable[Sequence[object]]:
    """The rows of a chunk as ``_cell`` makes them, converted a column at a time."""
    if len(set(map(len, chunk))) != 1:  # empty, or rows of different lengths: row by row
        return [[_cell(v) for v in row] for row in chunk]
    return zip(*(_cells(column) for column in _columns(chunk)), strict=True)


_PLAIN = frozenset((str, int, float, type(None)))  # types whose text the csv module takes from str() ("" for None)


def _texts(values: Sequence[object]) -> Sequence[str] | None:
    """The fields of a column of ``_cell`` values as the csv module writes them, or None when one would
    need quoting (a comma, a quote, a line end) or is of another type: the csv module then writes the chunk."""
    kinds = set(map(type, values))
    if not kinds <= _PLAIN:
        return None
    if kinds == {str}:
        texts = cast("Sequence[str]", values)
    elif str not in kinds and type(None) not in kinds:
        return list(map(str, values))  # numbers: never quoted
    else:
        texts = ["" if v is None else v if type(v) is str else str(v) for v in values]
    joined = "".join(texts)
    if "," in joined or '"' in joined or "\n" in joined or "\r" in joined:
        return None
    return texts


def _csv_text(chunk: Sequence[Sequence[object]]) -> str | None:
    """The chunk as CSV, exactly as ``csv.writer(lineterminator="\\n")`` writes the rows of ``_cell`` values,
    built a column at a time and joined (a third of the time of the csv module for a long file); None when
    that would not be sure to give the same bytes, and the csv module must write the chunk."""
    if len(set(map(len, chunk))) != 1 or len(chunk[0]) < 2:  # empty, ragged, or one column ("" is quoted)
        return None
    columns = [_texts(_cells(column)) for column in _columns(chunk)]
    if any(column is None for column in columns):
        return None
    return "\n".join(map(",".join, zip(*cast("list[Sequence[str]]", columns), strict=True))) + "\n"


def dataset_csv(*, trial: Trial, name: str, blinded: bool, by: Actor) -> Iterator[bytes]:
    """A dataset as CSV, in chunks of bytes, for streaming over HTTP; the audit event (with the SHA-256
    of exactly the bytes sent) is written after the last chunk. Permission is the caller's to check."""
    dataset, chunks = datasets.build(trial, name, blinded=blinded)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    digest = hashlib.sha256()
    rows = 0

    def flush() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        digest.update(data)
        return data

    writer.writerow([v.name for v in dataset.variables])
    for chunk in chunks:
        text = _csv_text(chunk)
        if text is None:
            writer.writerows(_csv_rows(chunk))
        else:
            buffer.write(text)
        rows += len(chunk)
        yield flush()
    yield flush()
    audit_record(
        actor=by,
        action=f"export.{name}",
        obj=trial,
        trial=trial,
        changes={
            "format": [None, "csv"],
            "blinded": [None, blinded],
            "rows": [None, rows],
            "sha256": [None, digest.hexdigest()],
        },
    )


def long_csv(*, trial: Trial, blinded: bool, by: Actor) -> Iterator[bytes]:
    """The long dataset as CSV (DESIGN.md contract), in chunks of bytes."""
    return dataset_csv(trial=trial, name="long", blinded=blinded, by=by)
