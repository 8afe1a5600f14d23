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
from collections.abc import Iterator
from datetime import datetime

from analysis import datasets
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
        for row in chunk:
            writer.writerow([_cell(v) for v in row])
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
