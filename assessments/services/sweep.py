"""The periodic sweep (Celery beat, every minute): open visits whose window has come, queue reminders,
close windows that have passed as missed, then deliver the outbox.

Each step asks an index over only the rows in play (scheduled rows by opens_at, pending rows by
closes_at, open rows by next_reminder_at), so its cost follows what is due, not the trial's size. Rows
are taken in batches with SKIP LOCKED, so two sweeps running at once share the work instead of doing it
twice; the outbox's dedupe keys make a repeated step harmless anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from assessments.models import PENDING, AssessmentStatus, ScheduledAssessment
from assessments.schedule import next_reminder
from assessments.services.scheduling import REMINDER_KIND, assessment_open, channel_for, participant_tz
from participants.messaging import outbox_deliver_due, outbox_enqueue
from trial import clock

BATCH = 500


def _in_batches(
    rows: Callable[[], QuerySet[ScheduledAssessment]], act: Callable[[ScheduledAssessment], None], limit: int
) -> int:
    done = 0
    while done < limit:
        with transaction.atomic():
            batch = list(
                rows()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("participant")[: min(BATCH, limit - done)]
            )
            for assessment in batch:
                act(assessment)
        done += len(batch)
        if len(batch) < BATCH:
            break
    return done


def open_due(*, now: datetime, limit: int = 100_000) -> int:
    def rows() -> QuerySet[ScheduledAssessment]:
        return ScheduledAssessment.objects.filter(
            status=AssessmentStatus.SCHEDULED, opens_at__lte=now, closes_at__gt=now
        ).order_by("opens_at")

    return _in_batches(rows, lambda a: assessment_open(assessment=a, now=now), limit)


def remind_due(*, now: datetime, limit: int = 100_000) -> int:
    def remind(assessment: ScheduledAssessment) -> None:
        number = assessment.reminders_sent + 1
        outbox_enqueue(
            kind=REMINDER_KIND,
            dedupe_key=f"assessment:{assessment.pk}:remind:{number}",
            channel=channel_for(assessment.participant),
            participant=assessment.participant,
            context={"assessment": assessment.pk, "reminder": number},
        )
        assessment.reminders_sent = number
        assessment.next_reminder_at = next_reminder(
            opened_at=assessment.opened_at or now,
            closes_at=assessment.closes_at,
            tz=participant_tz(assessment.participant),
            reminder_days=settings.ASSESSMENT_REMINDER_DAYS,
            sent=number,
            send_hour=settings.ASSESSMENT_SEND_HOUR,
        )
        assessment.save(update_fields=["reminders_sent", "next_reminder_at"])

    def rows() -> QuerySet[ScheduledAssessment]:
        return ScheduledAssessment.objects.filter(
            status=AssessmentStatus.OPEN, next_reminder_at__lte=now, closes_at__gt=now
        ).order_by("next_reminder_at")

    return _in_batches(rows, remind, limit)


def close_due(*, now: datetime, limit: int = 100_000) -> int:
    def close(assessment: ScheduledAssessment) -> None:
        assessment.status = AssessmentStatus.MISSED
        assessment.ended_at = now
        assessment.ended_reason = "Window closed before completion"
        assessment.next_reminder_at = None
        assessment.save(update_fields=["status", "ended_at", "ended_reason", "next_reminder_at"])

    def rows() -> QuerySet[ScheduledAssessment]:
        return ScheduledAssessment.objects.filter(status__in=PENDING, closes_at__lte=now).order_by("closes_at")

    return _in_batches(rows, close, limit)


def sweep(*, now: datetime | None = None, deliver: bool = True) -> dict[str, object]:
    now = now or clock.now()
    result: dict[str, object] = {
        "closed": close_due(now=now),
        "opened": open_due(now=now),
        "reminded": remind_due(now=now),
    }
    if deliver:
        result["delivered"] = outbox_deliver_due(now=now)
    return result
