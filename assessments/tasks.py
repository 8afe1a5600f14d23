"""Celery tasks: thin, take IDs, call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270)
def sweep() -> dict[str, object]:
    from assessments.services.sweep import sweep as run_sweep

    return run_sweep()
