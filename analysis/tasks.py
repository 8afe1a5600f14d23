"""Celery tasks: thin, take IDs, call a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(acks_late=True, time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
def run_job(job_id: str) -> str | None:
    """Build an export, dictionary or report file. A duplicate delivery finds the job claimed and stops."""
    from analysis.services import job_run

    job = job_run(job_id)
    return None if job is None else str(job.status)


@shared_task(acks_late=True, time_limit=120)
def resume_jobs() -> dict[str, Any]:
    from analysis.services import jobs_resume

    return jobs_resume()
