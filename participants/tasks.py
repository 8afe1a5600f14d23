"""Celery tasks: thin, take IDs, call a service."""

from __future__ import annotations

import smtplib

from celery import shared_task


@shared_task(
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
    acks_late=True,
)
def notify_unblinding(unblinding_id: int) -> int:
    from participants.services.unblinding import unblinding_notify

    return unblinding_notify(unblinding_id=unblinding_id)
