"""Each outbox row is sent once: by one of two racing workers, again only if its worker died, never
after the reason for it is gone; and a web request does not need the broker."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from participants import messaging
from participants.messaging import LocmemSmsBackend, outbox_deliver, outbox_deliver_due
from participants.models import MessageStatus, OutboxMessage
from tests import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(trial):
    participant = helpers.enrolled(trial)
    return OutboxMessage.objects.get(participant=participant, kind="assessment_invitation")


def test_it_sends_a_message_once_and_records_where_it_went(invitation):
    assert outbox_deliver(message_id=invitation.pk) == "sent"
    assert outbox_deliver(message_id=invitation.pk) == "skipped"
    invitation.refresh_from_db()
    assert (invitation.status, invitation.recipient, invitation.attempts) == ("sent", "jamie@example.org", 1)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == f"<outbox-{invitation.pk}@trialplatform.local>"


def test_of_two_workers_only_the_one_that_claims_it_sends(invitation):
    """A second worker arriving while the first is mid-send finds the row claimed."""
    sent_by_second: list[str] = []
    original = messaging._send

    def send_and_race(message, rendered):
        sent_by_second.append(outbox_deliver(message_id=message.pk))  # the other worker, right now
        original(message, rendered)

    with mock.patch.object(messaging, "_send", side_effect=send_and_race):
        assert outbox_deliver(message_id=invitation.pk) == "sent"
    assert sent_by_second == ["skipped"]
    assert len(mail.outbox) == 1


def test_a_worker_that_died_mid_send_is_taken_over_when_its_lease_ends(invitation, settings):
    now = timezone.now()
    OutboxMessage.objects.filter(pk=invitation.pk).update(status=MessageStatus.SENDING, claimed_at=now, attempts=1)
    assert outbox_deliver_due(now=now + timedelta(seconds=10)) == {}  # still leased to the dead worker
    later = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    assert outbox_deliver_due(now=later) == {"sent": 1}
    assert len(mail.outbox) == 1
    assert OutboxMessage.objects.get(pk=invitation.pk).attempts == 2


def test_a_failed_send_is_retried_with_back_off_then_given_up(invitation, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    now = timezone.now()
    with mock.patch.object(messaging, "_send", side_effect=OSError("SMTP down")):
        assert outbox_deliver(message_id=invitation.pk, now=now) == "retry"
        row = OutboxMessage.objects.get(pk=invitation.pk)
        assert row.status == "pending" and row.available_at == now + timedelta(seconds=30)
        assert "SMTP down" in row.last_error
        assert outbox_deliver(message_id=invitation.pk, now=now) == "skipped"  # not due yet
        assert outbox_deliver(message_id=invitation.pk, now=now + timedelta(seconds=30)) == "retry"
        assert outbox_deliver(message_id=invitation.pk, now=now + timedelta(minutes=5)) == "failed"
    assert OutboxMessage.objects.get(pk=invitation.pk).status == "failed"
    assert mail.outbox == []


def test_a_second_enqueue_of_the_same_message_is_ignored(invitation):
    again = messaging.outbox_enqueue(
        kind=invitation.kind,
        dedupe_key=invitation.dedupe_key,
        participant=invitation.participant,
        context=invitation.context,
    )
    assert again is None
    assert OutboxMessage.objects.filter(dedupe_key=invitation.dedupe_key).count() == 1


def test_the_web_request_succeeds_when_the_broker_is_down(api, coordinator, trial, django_capture_on_commit_callbacks):
    participant = helpers.consented(trial)
    broken = mock.patch("participants.tasks.deliver_outbox.delay", side_effect=ConnectionError("Redis is down"))
    with broken, django_capture_on_commit_callbacks(execute=True):
        response = api(coordinator).post(
            f"/api/v1/trials/therabot/participants/{participant.pk}/enroll/",
            {"contact": {"full_name": "Jamie Doe", "email": "jamie@example.org"}},
            format="json",
        )
    assert response.status_code == 200
    assert OutboxMessage.objects.get(participant=participant).status == "pending"
    assert mail.outbox == []
    assert outbox_deliver_due() == {"sent": 1}  # the next sweep delivers it
    assert len(mail.outbox) == 1


def test_sms_goes_through_the_configured_backend(trial, settings):
    settings.SMS_BACKEND = "participants.messaging.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()
    participant = helpers.consented(trial)
    helpers.services.participant_enroll(
        participant=participant,
        contact=helpers.services.ContactInput(full_name="Sam Lee", phone="+16035550123"),
        by=None,
    )
    message = OutboxMessage.objects.get(participant=participant)
    assert message.channel == "sms"
    assert outbox_deliver(message_id=message.pk) == "sent"
    ((to, body),) = LocmemSmsBackend.outbox
    assert to == "+16035550123" and "/q/" in body


def test_a_safety_alert_is_never_given_up_however_long_the_mail_server_is_down(trial, clinician, settings, caplog):
    from participants.models import AlertSource
    from participants.services.safety import safety_alert_raise

    settings.OUTBOX_MAX_ATTEMPTS = 2
    alert = safety_alert_raise(
        participant=helpers.enrolled(trial), source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation",
        dedupe_key="k",
    )  # fmt: skip
    message = OutboxMessage.objects.get(kind="safety_alert", context__alert=alert.pk)
    at = timezone.now()
    with mock.patch.object(messaging, "_send", side_effect=OSError("SMTP down")):
        for _ in range(12):  # hours of failures, far past the limit
            assert outbox_deliver(message_id=message.pk, now=at) == "retry"
            row = OutboxMessage.objects.get(pk=message.pk)
            assert row.status == "pending" and row.available_at - at <= timedelta(minutes=10)
            at = row.available_at
    assert "still not sent after 12 attempts" in caplog.text
    assert outbox_deliver(message_id=message.pk, now=at) == "sent"  # the server is back
    assert [m.to for m in mail.outbox if "Safety alert" in m.subject] == [["clara@example.org"]]


def _alert_message(trial, clinician):
    from participants.models import AlertSource
    from participants.services.safety import safety_alert_raise

    alert = safety_alert_raise(
        participant=helpers.enrolled(trial), source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation",
        dedupe_key="k",
    )  # fmt: skip
    return alert, OutboxMessage.objects.get(kind="safety_alert", context__alert=alert.pk, user=clinician)


@pytest.mark.parametrize("gone", ["address", "alert"])
def test_a_safety_alert_that_can_never_be_rendered_fails_at_once_with_an_error(trial, clinician, gone, caplog):
    alert, message = _alert_message(trial, clinician)
    if gone == "address":
        clinician.email = ""
        clinician.save()
    else:
        from participants.models import SafetyAlert

        SafetyAlert.objects.filter(pk=alert.pk).delete()
    assert outbox_deliver(message_id=message.pk) == "failed"  # retrying would never change it
    row = OutboxMessage.objects.get(pk=message.pk)
    assert row.status == "failed" and ("e-mail address" if gone == "address" else "no longer exists") in row.last_error
    errors = [r for r in caplog.records if r.levelname == "ERROR" and f"Outbox message {message.pk}" in r.getMessage()]
    assert errors and "can never be sent" in errors[0].getMessage()
    outbox_deliver_due(now=timezone.now() + timedelta(days=1))
    assert OutboxMessage.objects.get(pk=message.pk).attempts == 1  # never tried again


def test_a_safety_alert_nobody_can_get_escalates_to_the_other_roles_at_once(
    trial, clinician, investigator, administrator
):
    from participants.services.safety import safety_alerts_escalate_due

    alert, message = _alert_message(trial, clinician)
    clinician.email = ""  # the only safety clinician's address was removed after the alert was raised
    clinician.save()
    assert outbox_deliver(message_id=message.pk) == "failed"
    # Nobody was told: it escalates now, not when nobody acknowledged it (24 hours later).
    assert safety_alerts_escalate_due(now=alert.raised_at + timedelta(minutes=1)) == 1
    outbox_deliver_due(now=alert.raised_at + timedelta(minutes=1))
    escalated = sorted(m.to[0] for m in mail.outbox if "ESCALATED" in m.subject)
    assert escalated == sorted([investigator.email, administrator.email])


def test_a_safety_alert_another_clinician_gets_escalates_on_time(trial, clinician, investigator):
    from django.contrib.auth import get_user_model

    from participants.services.safety import safety_alerts_escalate_due
    from trial.models import Role

    helpers.grant(
        trial, get_user_model().objects.create_user(username="cai", email="cai@example.org"), Role.SAFETY_CLINICIAN
    )
    alert, message = _alert_message(trial, clinician)
    clinician.email = ""
    clinician.save()
    assert outbox_deliver(message_id=message.pk) == "failed"
    assert safety_alerts_escalate_due(now=alert.raised_at + timedelta(minutes=1)) == 0
    outbox_deliver_due()
    assert [m.to for m in mail.outbox if "Safety alert" in m.subject] == [["cai@example.org"]]
    assert safety_alerts_escalate_due(now=alert.escalate_at) == 1
