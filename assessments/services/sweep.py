"""The periodic sweep (Celery beat, every minute): open visits whose window has come, queue reminders,
close windows that have passed as missed, then deliver the outbox.

Each step asks an index over only the rows in play (scheduled rows by opens_at, pending rows by
closes_at, open rows by next_reminder_at), so its cost follows what is due, not the trial's size. Rows
are taken in batches with SKIP LOCKED, so two sweeps running at once share the work instead of doing it
twice; the outbox's dedupe keys make a repeated step harmless anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from assessments.models import PENDING, AssessmentStatus, ScheduledAssessment
from assessments.schedule import next_reminder
from assessments.services.scheduling import REMINDER_KIND, assessments_open, contacts_of
from participants.messaging import Outgoing, outbox_deliver_due, outbox_enqueue_many
from trial import clock

BATCH = 500


def _in_batches(
    rows: Callable[[], QuerySet[ScheduledAssessment]], act: Callable[[list[ScheduledAssessment]], None], limit: int
) -> int:
    """Take due rows a batch at a time, locked (skipping rows another sweep holds), and act on each batch
    as a whole: a few set-wise statements per batch, not a few per row."""
    done = 0
    while done < limit:
        with transaction.atomic():
            batch = list(
                rows()
                .select_for_update(skip_locked=True)
                .only("participant_id", "closes_at", "opened_at", "reminders_sent")[: min(BATCH, limit - done)]
            )
            if batch:
                act(batch)
        done += len(batch)
        if len(batch) < BATCH:
            break
    return done


def open_due(*, now: datetime, limit: int = 100_000) -> int:
    def rows() -> QuerySet[ScheduledAssessment]:
        return ScheduledAssessment.objects.filter(
            status=AssessmentStatus.SCHEDULED, opens_at__lte=now, closes_at__gt=now
        ).order_by("opens_at")

    return _in_batches(rows, lambda batch: assessments_open(batch, now=now), limit)


def remind_due(*, now: datetime, limit: int = 100_000) -> int:
    def remind(batch: list[ScheduledAssessment]) -> None:
        reach = contacts_of(a.participant_id for a in batch)
        by_change: defaultdict[tuple[int, datetime | None], list[int]] = defaultdict(list)
        messages: list[Outgoing] = []
        for assessment in batch:
            number = assessment.reminders_sent + 1
            messages += reach[assessment.participant_id].outgoing(
                dedupe_key=f"assessment:{assessment.pk}:remind:{number}",
                participant_id=assessment.participant_id,
                context={"assessment": assessment.pk, "reminder": number},
            )
            following = next_reminder(
                opened_at=assessment.opened_at or now,
                closes_at=assessment.closes_at,
                tz=reach[assessment.participant_id].tz,
                reminder_days=settings.ASSESSMENT_REMINDER_DAYS,
                sent=number,
                send_hour=settings.ASSESSMENT_SEND_HOUR,
            )
            by_change[(number, following)].append(assessment.pk)
        outbox_enqueue_many(kind=REMINDER_KIND, messages=messages)
        for (number, following), ids in by_change.items():
            ScheduledAssessment.objects.filter(pk__in=ids).update(reminders_sent=number, next_reminder_at=following)

    def rows() -> QuerySet[ScheduledAssessment]:
        return ScheduledAssessment.objects.filter(
            status=AssessmentStatus.OPEN, next_reminder_at__lte=now, closes_at__gt=now
        ).order_by("next_reminder_at")

    return _in_batches(rows, remind, limit)


def close_due(*, now: datetime, limit: int = 100_000) -> int:
    def close(batch: list[ScheduledAssessment]) -> None:
        ScheduledAssessment.objects.filter(pk__in=[a.pk for a in batch]).update(
            status=AssessmentStatus.MISSED,
            ended_at=now,
            ended_reason="Window closed before completion",
            next_reminder_at=None,
        )

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
