"""Importing responses from a file: every row checked, all or nothing, every problem reported with its
row. Rows go through response_submit, so an import scores and raises safety alerts like any other path;
a file refused for its errors writes nothing, but its rows' risk signals still raise their alerts (each row
read as far as it can be: a stray column, a cell that is not a number, a wrong item or header, keep no
readable PHQ-9 item 9 from its clinician).

Layout (CSV, UTF-8, header row): ``participant_id, visit, instrument`` and then one column per item key
(``phq9_1`` ...). A blank cell is an unanswered item. A file may hold several instruments, each row
filling only its own instrument's columns; a value in another instrument's column, or a column that is
no instrument's item, is an error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from assessments.instruments import UnknownInstrumentError, default_registry
from assessments.models import ResponseSource, ScheduledAssessment
from assessments.services.submission import response_submit, unrecorded_signal_raise
from trial.audit import Actor, audit_record
from trial.errors import DomainError
from trial.models import Trial

REQUIRED = ("participant_id", "visit", "instrument")


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def _number(raw: str) -> int | float:
    value = Decimal(raw.strip())
    if not value.is_finite():
        raise InvalidOperation(raw)
    return int(value) if value == value.to_integral_value() else float(value)


def _cell(raw: str) -> int | float | str:
    """A cell as a number, or as written when it is not one."""
    try:
        return _number(raw)
    except InvalidOperation:
        return raw.strip()


def _row_visit(trial: Trial, row: dict[str, Any]) -> ScheduledAssessment | None:
    """The scheduled visit a row names (its participant's study ID and the visit code), if there is one."""
    return (
        ScheduledAssessment.objects.filter(
            participant__trial=trial,
            participant__study_id=_text(row, "participant_id"),
            visit__code=_text(row, "visit"),
        )
        .select_related("participant", "visit")
        .first()
    )


def _text(row: dict[str, Any], column: str) -> str:
    return (row.get(column) or "").strip()  # None when the row is shorter than the header


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            return list(reader.fieldnames or []), list(reader)
    except UnicodeDecodeError as exc:
        raise DomainError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start}).", field="file") from None


class ImportFailed(DomainError):
    code = "import_failed"

    def __init__(self, report: ImportReport):
        self.report = report
        super().__init__(f"{len(report.errors)} problem(s); nothing was imported.")


def _signals(trial: Trial, rows: list[dict[str, Any]], owner: dict[str, str], why: str) -> None:
    """Raise the alerts of a file that is not imported: each row read as far as it can be (its visit, each
    instrument's filled cells), whatever was wrong with it or with the file. A row of a visit that cannot be
    found names nobody's answers and raises nothing. Cells of another instrument than the row's raise only
    what they answer, never "item 9 left unanswered"."""
    for number, row in enumerate(rows, start=2):
        assessment = _row_visit(trial, row)
        if assessment is None:
            continue
        declared = _text(row, "instrument")
        by_code: dict[str, dict[str, Any]] = {declared: {}} if declared in owner.values() else {}
        for key, raw in row.items():
            if isinstance(key, str) and key in owner and isinstance(raw, str) and raw.strip():
                by_code.setdefault(owner[key], {})[key] = _cell(raw)
        for code, answers in by_code.items():
            unrecorded_signal_raise(
                assessment=assessment,
                instrument_code=code,
                answers=answers,
                why=f"In {why} (row {number})",
                answered_only=code != declared,
            )


def responses_import(*, trial: Trial, path: Path, by: Actor, source: str = ResponseSource.IMPORT) -> ImportReport:
    """Import a file into open visits of the trial. Raises ImportFailed (with every problem) and writes
    nothing if any row is wrong; a risk signal in a row that can be read still raises its alert."""
    registry = default_registry()
    header, rows = _rows(path)
    missing = [c for c in REQUIRED if c not in header]
    if missing:  # a row cannot be said to be whose, at which visit
        raise DomainError(f"{path.name}: missing column(s) {', '.join(missing)}.", field="file")
    owner = {item.key: instrument.code for instrument in registry.all() for item in instrument.items}
    unknown = [c for c in header if c not in REQUIRED and c not in owner]
    if unknown:
        _signals(trial, rows, owner, f"{path.name}, not imported: column(s) {', '.join(unknown)} are not item keys")
        raise DomainError(
            f"{path.name}: column(s) {', '.join(unknown)} are not item keys of any instrument.", field="file"
        )
    report = ImportReport()
    with transaction.atomic():
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            report.rows += 1
            where = f"row {number}"
            try:
                if None in row:
                    raise DomainError("more cells than the header has columns")
                instrument = registry.get(_text(row, "instrument"))
                assessment = _row_visit(trial, row)
                if assessment is None:
                    raise DomainError(
                        f"no visit {_text(row, 'visit')!r} scheduled for participant {_text(row, 'participant_id')!r}"
                    )
                own = {item.key for item in instrument.items}
                stray = [k for k, v in row.items() if k not in REQUIRED and k not in own and (v or "").strip()]
                if stray:
                    raise DomainError(f"{', '.join(stray)} filled in, but the row is for {instrument.code}")
                answers = {key: _number(row[key]) for key in own if (row.get(key) or "").strip()}
                with transaction.atomic():
                    before = assessment.responses.count()
                    response_submit(
                        assessment=assessment, instrument_code=instrument.code, answers=answers, source=source, by=by
                    )
                    if assessment.responses.count() > before:
                        report.created += 1
                    else:
                        report.unchanged += 1
            except UnknownInstrumentError:
                report.errors.append(f"{where}: unknown instrument {_text(row, 'instrument')!r}")
            except InvalidOperation:
                report.errors.append(f"{where}: a value is not a number")
            except DomainError as exc:
                report.errors.append(f"{where}: {exc.message}")
        if report.errors:
            transaction.set_rollback(True)
        else:
            audit_record(
                actor=by,
                action="responses.import",
                obj=trial,
                trial=trial,
                changes={"file": [None, path.name], "rows": [None, report.rows], "created": [None, report.created]},
            )
    if report.errors:
        # Nothing of the file was written, but a risk signal in it must still reach a clinician.
        _signals(trial, rows, owner, f"{path.name}, not imported: the file had {len(report.errors)} error(s)")
        raise ImportFailed(report)
    return report
