"""Celery tasks: thin, take IDs, call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=240, soft_time_limit=200)
def deliver_outbox() -> dict[str, int]:
    """Send what the outbox has due. Safe to run in several workers at once: each row is claimed once."""
    from participants.messaging import outbox_deliver_due

    return outbox_deliver_due()


@shared_task(acks_late=True, time_limit=120)
def escalate_safety_alerts() -> int:
    from participants.services.safety import safety_alerts_escalate_due

    return safety_alerts_escalate_due()
