"""The sweep moves the calendar: opens visits, reminds, closes windows as missed; its cost follows
what is due, not how many participants there are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import ScheduledAssessment
from assessments.services.sweep import sweep
from participants.models import OutboxMessage
from tests import helpers

pytestmark = pytest.mark.django_db


def _week4(participant):
    return ScheduledAssessment.objects.get(participant=participant, visit__code="week4")


def test_week_4_opens_on_time_invites_reminds_and_closes_as_missed(trial):
    participant = helpers.randomized(trial)
    week4 = _week4(participant)
    mail.outbox.clear()

    sweep(now=week4.opens_at - timedelta(minutes=1))
    assert _week4(participant).status == "scheduled"

    sweep(now=week4.opens_at)
    week4.refresh_from_db()
    assert week4.status == "open" and week4.opened_at == week4.opens_at
    # The subject names the study as participants know it, never the scientific title (it names the arms).
    study = trial.public_text("en")["name"]
    assert [m.subject for m in mail.outbox] == [f"{study}: your week 4 questionnaires"]
    assert mail.outbox[0].to == ["jamie@example.org"]
    assert "/q/" in mail.outbox[0].body and "988" in mail.outbox[0].body

    first_reminder = week4.next_reminder_at
    assert first_reminder == week4.opens_at + timedelta(days=2)
    sweep(now=first_reminder)
    sweep(now=first_reminder + timedelta(minutes=1))  # a second sweep queues nothing more
    week4.refresh_from_db()
    assert week4.reminders_sent == 1
    assert [m.subject.startswith("Reminder") for m in mail.outbox] == [False, True]
    assert week4.next_reminder_at == week4.opens_at + timedelta(days=5)

    sweep(now=week4.next_reminder_at)
    sweep(now=week4.closes_at)
    week4.refresh_from_db()
    assert week4.status == "missed" and week4.reminders_sent == 2
    assert len(mail.outbox) == 3
    assert OutboxMessage.objects.filter(participant=participant, status="sent").count() == 3
    # The baseline invitation was still queued when the baseline was completed: it was not sent stale.
    assert OutboxMessage.objects.get(participant=participant, dedupe_key__endswith="invite", status="cancelled")


def test_a_completed_visit_gets_no_more_reminders(trial):
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant)
    helpers.complete_baseline(participant)
    result = sweep(now=baseline.opens_at + timedelta(days=10))
    assert result["reminded"] == 0
    assert not OutboxMessage.objects.filter(kind="assessment_reminder").exists()


def test_a_message_queued_before_withdrawal_is_not_sent_after_it(trial):
    participant = helpers.randomized(trial)
    week4 = _week4(participant)
    sweep(now=week4.opens_at, deliver=False)  # invitation queued, not yet sent
    helpers.services.participant_withdraw(participant=participant, reason="Moved away", by=None)
    mail.outbox.clear()
    sweep(now=week4.opens_at + timedelta(minutes=1))
    assert mail.outbox == []


def test_the_sweep_costs_the_same_however_many_participants_are_not_due(trial):
    due = helpers.randomized(trial)
    when = _week4(due).opens_at

    def queries_for_a_sweep() -> int:
        with CaptureQueriesContext(connection) as captured:
            sweep(now=when - timedelta(days=1), deliver=False)
        return len(captured)

    few = queries_for_a_sweep()
    for _ in range(15):
        helpers.randomized(trial)
    assert queries_for_a_sweep() == few


def test_a_batch_of_due_visits_opens_in_the_same_statements_however_many_in_each_ones_timezone_and_channel(trial):
    from zoneinfo import ZoneInfo

    from django.conf import settings

    from participants.models import ContactDetails

    def due_visits(n: int) -> list:
        people = [helpers.randomized(trial) for _ in range(n)]
        # One in three moves to Berlin with a phone only: invited by SMS, reminded at the send hour in Berlin.
        for p in people[::3]:
            contact = ContactDetails.objects.filter(participant=p)
            contact.update(timezone="Europe/Berlin", email="", phone="+4915112345678")
        return people

    def open_all(people: list) -> tuple[int, list]:
        when = max(_week4(p).opens_at for p in people)
        with CaptureQueriesContext(connection) as captured:
            result = sweep(now=when, deliver=False)
        assert result["opened"] == len(people)
        return len(captured), [(p, when) for p in people]

    few, opened_few = open_all(due_visits(3))
    many, opened_many = open_all(due_visits(9))
    assert many == few

    for p, when in opened_few + opened_many:
        week4 = _week4(p)
        berlin = ContactDetails.objects.get(participant=p).timezone == "Europe/Berlin"
        tz = ZoneInfo("Europe/Berlin" if berlin else "America/New_York")
        assert week4.status == "open" and week4.opened_at == when
        assert week4.next_reminder_at.astimezone(tz).hour == settings.ASSESSMENT_SEND_HOUR
        assert week4.next_reminder_at.astimezone(tz).date() == when.astimezone(tz).date() + timedelta(days=2)
        invite = OutboxMessage.objects.get(dedupe_key=f"assessment:{week4.pk}:invite")
        assert invite.channel == ("sms" if berlin else "email")
        assert invite.context == {"assessment": week4.pk} and invite.status == "pending"
