"""The schedule follows the participant: baseline at enrollment, follow-ups at randomization with the
arm's instruments, everything pending cancelled at withdrawal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.models import ScheduledAssessment
from participants.models import Allocation, MessageStatus, OutboxMessage
from participants.services import participant_mark_lost, participant_randomize, participant_withdraw
from tests import helpers
from trial.errors import DomainError

pytestmark = pytest.mark.django_db


def test_enrollment_opens_the_baseline_and_queues_its_invitation(trial):
    participant = helpers.enrolled(trial)
    (baseline,) = ScheduledAssessment.objects.filter(participant=participant)
    assert baseline.visit.code == "baseline"
    assert baseline.status == "open"
    assert baseline.instruments == ["phq9", "gad7", "gadq4", "wcs"]
    assert baseline.opens_at == participant.enrolled_at
    assert baseline.closes_at - participant.enrolled_at <= timedelta(days=15)
    assert baseline.next_reminder_at is not None
    invite = OutboxMessage.objects.get(participant=participant)
    assert (invite.kind, invite.status, invite.dedupe_key) == (
        "assessment_invitation",
        "pending",
        f"assessment:{baseline.pk}:invite",
    )


def test_randomization_waits_for_a_completed_baseline(trial):
    participant = helpers.enrolled(trial)
    with pytest.raises(DomainError, match=r"baseline questionnaires are completed: Baseline .open.") as caught:
        participant_randomize(participant=participant, by=None)
    assert caught.value.code == "baseline_incomplete"
    assert not Allocation.objects.exists()
    helpers.complete_baseline(participant)
    assert ScheduledAssessment.objects.get(participant=participant).status == "completed"
    participant_randomize(participant=participant, by=None)


def test_randomization_schedules_week_4_and_8_with_the_arms_instruments(trial):
    chatbot_seen = waitlist_seen = False
    for _ in range(12):
        participant = helpers.randomized(trial)
        arm = Allocation.objects.get(participant=participant).arm.code
        follow_ups = ScheduledAssessment.objects.filter(participant=participant).exclude(visit__code="baseline")
        assert [a.visit.code for a in follow_ups] == ["week4", "week8"]
        for assessment in follow_ups:
            assert assessment.status == "scheduled"
            expected = ["phq9", "gad7", "gadq4", "wcs"] + (["waisr"] if arm == "chatbot" else [])
            assert assessment.instruments == expected
        week4 = follow_ups[0]
        assert (week4.due_at - participant.randomized_at).days in (27, 28)  # local 09:00, 28 days on
        chatbot_seen |= arm == "chatbot"
        waitlist_seen |= arm == "waitlist"
        if chatbot_seen and waitlist_seen:
            break
    assert chatbot_seen and waitlist_seen


def test_withdrawal_cancels_everything_pending_at_once(trial):
    participant = helpers.randomized(trial)
    participant_withdraw(participant=participant, reason="No longer interested", by=None)
    statuses = dict(ScheduledAssessment.objects.filter(participant=participant).values_list("visit__code", "status"))
    assert statuses == {"baseline": "completed", "week4": "cancelled", "week8": "cancelled"}
    assert (
        ScheduledAssessment.objects.get(participant=participant, visit__code="week4").ended_reason
        == "No longer interested"
    )


def test_withdrawal_cancels_an_unsent_invitation(trial):
    participant = helpers.enrolled(trial)
    participant_withdraw(participant=participant, reason="Changed their mind", by=None)
    assert OutboxMessage.objects.get(participant=participant).status == MessageStatus.CANCELLED
    assert ScheduledAssessment.objects.get(participant=participant).status == "cancelled"


def test_someone_lost_to_follow_up_keeps_their_open_windows(trial):
    participant = helpers.randomized(trial)
    participant_mark_lost(participant=participant, reason="No reply", by=None)
    assert set(ScheduledAssessment.objects.filter(participant=participant).values_list("status", flat=True)) == {
        "completed",
        "scheduled",
    }


def test_a_trial_cannot_open_with_an_uninstalled_instrument(db):
    from trial.services import trial_set_status
    from trial.templates import read_template, trial_create_from_template

    data = read_template("therabot")
    data["visits"][0]["instruments"].append("bdi2")
    draft = trial_create_from_template(data=data, by=None)
    with pytest.raises(DomainError, match="names instrument 'bdi2', which is not installed"):
        trial_set_status(trial=draft, status="recruiting", by=None)


def test_a_template_instrument_for_an_unknown_arm_is_refused(db):
    from trial.templates import TemplateInvalid, read_template, trial_create_from_template

    data = read_template("therabot")
    data["visits"][1]["instruments"].append({"code": "scoff", "arm": "placebo"})
    with pytest.raises(TemplateInvalid, match=r"visits\[1\]\.instruments\[5\]: no arm 'placebo'"):
        trial_create_from_template(data=data, by=None)


def test_enrollment_in_another_timezone_uses_the_local_calendar(trial):
    participant = helpers.consented(trial)
    from participants.services import ContactInput, participant_enroll

    participant_enroll(
        participant=participant,
        contact=ContactInput(full_name="Kai Tanaka", email="kai@example.org", timezone="Asia/Tokyo"),
        by=None,
    )
    baseline = ScheduledAssessment.objects.get(participant=participant)
    local_close = baseline.closes_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert (local_close.hour, local_close.minute) == (0, 0)
    assert baseline.closes_at > timezone.now() + timedelta(days=14)


def test_visits_get_their_keys_where_a_bulk_insert_returns_none(trial, monkeypatch):
    """SQLite before 3.35 (which Django 5.2 accepts) returns no keys from a bulk insert: the new visits are
    read back, so the baseline opens at once and its invitation names it."""
    from django.db import connection

    from assessments.models import ScheduledAssessment
    from participants.models import OutboxMessage

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant)
    assert baseline.status == "open"
    invite = OutboxMessage.objects.get(participant=participant, kind="assessment_invitation")
    assert invite.dedupe_key == f"assessment:{baseline.pk}:invite" and invite.context == {"assessment": baseline.pk}
