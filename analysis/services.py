"""Background jobs: a dataset export in any format, the data dictionary, or the analysis report.

A request checks permission and writes a queued Job; the Celery task claims it (a conditional UPDATE, so
a duplicate delivery never runs it twice), builds the file under ``EXPORT_ROOT`` as ``<id>.part`` while
recording progress, and only then renames it, records its size and SHA-256, and writes the audit event.
A failure leaves no file and the job says why. A job whose worker died is claimed again after the lease.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet

from analysis import datasets
from analysis.exports import export_permission
from analysis.formats import FORMATS, extension, write_dataset, write_dictionary
from analysis.models import Job, JobKind, JobStatus
from analysis.report import render_report
from analysis.reporting import trial_analysis
from analysis.stats.mmrm import MMRMConvergenceError
from analysis.stats.primary import AnalysisInputError
from trial import clock
from trial.audit import audit_record
from trial.errors import DomainError
from trial.models import Trial

log = logging.getLogger(__name__)

DICTIONARY_FORMATS = ("csv", "json")
REPORT_FORMATS = ("html",)


class JobInvalid(DomainError):
    code = "invalid_job"


class JobNotReady(DomainError):
    status_code = 409
    code = "job_not_ready"


class JobExpired(DomainError):
    status_code = 410
    code = "job_expired"


def export_root() -> Path:
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _lease() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


def job_request(
    *,
    trial: Trial,
    roles: frozenset[str],
    by: User,
    kind: str,
    fmt: str,
    blinded: bool,
    dataset: str = "",
    options: dict[str, Any] | None = None,
) -> Job:
    """Check the request and permission, write a queued job, and hand it to a worker once committed."""
    export_permission(trial=trial, roles=roles, blinded=blinded)
    if kind == JobKind.EXPORT:
        if dataset not in datasets.DATASETS:
            raise JobInvalid(f"No dataset {dataset!r} (datasets: {', '.join(datasets.DATASETS)}).", field="dataset")
        allowed: tuple[str, ...] = FORMATS
    elif kind == JobKind.DICTIONARY:
        dataset, allowed = "", DICTIONARY_FORMATS
    elif kind == JobKind.REPORT:
        dataset, allowed = "", REPORT_FORMATS
    else:
        raise JobInvalid(f"No job kind {kind!r} (kinds: {', '.join(JobKind.values)}).", field="kind")
    if fmt not in allowed:
        raise JobInvalid(f"Format {fmt!r} is not available here (formats: {', '.join(allowed)}).", field="format")
    mode = "blinded" if blinded else "unblinded"
    what = dataset or kind
    ext = extension(fmt) if kind == JobKind.EXPORT else fmt
    with transaction.atomic():
        job = Job.objects.create(
            trial=trial,
            requested_by=by,
            kind=kind,
            dataset=dataset,
            format=fmt,
            blinded=blinded,
            options=options or {},
            file_name=f"{trial.slug}-{what}-{mode}-{clock.now():%Y%m%d-%H%M%S}.{ext}",
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    job.refresh_from_db()
    return job


def _enqueue(job_id: Any) -> None:
    """Hand the job to a worker. If the broker is down the request still succeeds: the beat's
    ``jobs_resume`` picks queued jobs up."""
    from analysis.tasks import run_job

    try:
        run_job.delay(str(job_id))
    except Exception:
        log.warning("Could not queue job %s; jobs_resume will run it.", job_id, exc_info=True)


def _claim(job_id: Any) -> Job | None:
    now = clock.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, started_at__lt=now - _lease())
    claimed = Job.objects.filter(claimable, pk=job_id).update(status=JobStatus.RUNNING, started_at=now, rows_done=0)
    if not claimed:
        return None
    return Job.objects.select_related("trial", "requested_by").get(pk=job_id)


def job_run(job_id: Any) -> Job | None:
    """Build the job's file. Returns the job, or None when it was not claimable (done, or running
    elsewhere within its lease)."""
    job = _claim(job_id)
    if job is None:
        return None
    final = export_root() / f"{job.pk}.{Path(job.file_name).suffix.lstrip('.')}"
    partial = final.with_name(final.name + ".part")
    try:
        # Permission again at run time: a role or a trial state may have changed since the request.
        from trial.access import roles_for

        requester = job.requested_by
        roles = roles_for(requester, job.trial) if requester is not None else frozenset()
        export_permission(trial=job.trial, roles=roles, blinded=job.blinded)
        changes = _build(job, partial)
        os.replace(partial, final)
    except (DomainError, AnalysisInputError, MMRMConvergenceError, ValueError, OSError) as exc:
        partial.unlink(missing_ok=True)
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error=message, finished_at=clock.now())
        log.info("Job %s failed: %s", job.pk, message)
        job.refresh_from_db()
        return job
    except BaseException:
        partial.unlink(missing_ok=True)
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            error="Internal error; the operators' log has the details.",
            finished_at=clock.now(),
        )
        raise
    digest, size = _digest(final)
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.DONE, path=str(final), bytes=size, sha256=digest, finished_at=clock.now(), **changes
        )
        audit_record(
            actor=job.requested_by,
            action=f"export.{job.dataset}" if job.kind == JobKind.EXPORT else f"{job.kind}.create",
            obj=job.trial,
            trial=job.trial,
            changes={
                "job": [None, str(job.pk)],
                "format": [None, job.format],
                "blinded": [None, job.blinded],
                "rows": [None, changes.get("rows_done")],
                "sha256": [None, digest],
            },
        )
    job.refresh_from_db()
    return job


def _progress(job: Job) -> Any:
    def report(rows: int) -> None:
        Job.objects.filter(pk=job.pk).update(rows_done=rows)

    return report


def _build(job: Job, partial: Path) -> dict[str, Any]:
    """Write the file; return the fields to store with it."""
    if job.kind == JobKind.EXPORT:
        dataset, chunks = datasets.build(job.trial, job.dataset, blinded=job.blinded)
        Job.objects.filter(pk=job.pk).update(rows_total=dataset.n_rows)
        with partial.open("wb") as handle:
            written = write_dataset(dataset, chunks, handle, job.format, on_progress=_progress(job))
        return {"rows_done": written.rows}
    if job.kind == JobKind.DICTIONARY:
        described = datasets.describe(job.trial, blinded=job.blinded)
        with partial.open("wb") as handle:
            write_dictionary(described, handle, job.format)  # type: ignore[arg-type]
        return {"rows_done": sum(len(d.variables) for d in described)}
    options = job.options or {}
    with tempfile.TemporaryDirectory() as scratch:
        result = trial_analysis(
            job.trial,
            blinded=job.blinded,
            scratch=Path(scratch),
            control=options.get("control") or None,
            covariates=options.get("covariates"),
        )
    partial.write_text(render_report(result), encoding="utf-8")
    return {"result": json.loads(json.dumps(result, default=str)), "rows_done": len(result["outcomes"])}


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def job_file(job: Job) -> Path:
    """The finished file, for download."""
    if job.status != JobStatus.DONE:
        detail = f": {job.error}" if job.status == JobStatus.FAILED else ""
        raise JobNotReady(f"The job is {job.status}{detail}; the file is there once it is done.")
    path = Path(job.path)
    if not job.path or not path.exists():
        raise JobExpired("The file has been removed (files are kept for EXPORT_RETENTION_DAYS); request it again.")
    return path


def stream_file(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(block), b"")


def jobs_resume(now: Any = None) -> dict[str, int]:
    """Periodic: hand queued jobs (whose hand-off failed) and jobs whose worker died to a worker; delete
    files older than the retention period."""
    now = now or clock.now()
    stale = Job.objects.filter(
        Q(status=JobStatus.QUEUED, created_at__lt=now - timedelta(minutes=1))
        | Q(status=JobStatus.RUNNING, started_at__lt=now - _lease())
    ).values_list("pk", flat=True)
    resumed = 0
    for job_id in stale:
        _enqueue(job_id)
        resumed += 1
    expired = 0
    cutoff = now - timedelta(days=settings.EXPORT_RETENTION_DAYS)
    for job in Job.objects.filter(status=JobStatus.DONE, finished_at__lt=cutoff).exclude(path=""):
        Path(job.path).unlink(missing_ok=True)
        Job.objects.filter(pk=job.pk).update(path="")
        expired += 1
    return {"resumed": resumed, "expired": expired}


def visible_jobs(trial: Trial, user: User) -> QuerySet[Job]:
    """A user sees the jobs they requested (an unblinded file is theirs alone)."""
    return Job.objects.filter(trial=trial, requested_by=user).order_by("-created_at")


__all__ = [
    "JobExpired",
    "JobInvalid",
    "JobNotReady",
    "job_file",
    "job_request",
    "job_run",
    "jobs_resume",
    "stream_file",
    "visible_jobs",
]
