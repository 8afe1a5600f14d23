"""Celery tasks of the workspace: thin, call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=120)
def forget_form_submissions() -> int:
    from workspace.submissions import submissions_forget

    return submissions_forget()
