"""SMS through Twilio, against a fake Twilio on 127.0.0.1: what is sent, what Twilio's refusals become, the
signed delivery reports and replies (STOP, START), and participants choosing e-mail, SMS or both."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from twilio.request_validator import RequestValidator

from assessments.models import AccessLink
from assessments.services.links import link_resolve
from participants.messaging import outbox_deliver, outbox_deliver_due
from participants.models import ContactDetails, MessageStatus, OutboxMessage
from participants.sms import TwilioSmsBackend
from tests import helpers
from tests.participants.fake_twilio import FakeTwilio
from trial.errors import DomainError
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token-for-tests-0123456789"
SENDER = "+16035550000"
NUMBER = "+16035550123"
BASE = "https://trials.example.org"


@pytest.fixture
def twilio(settings: Any) -> Any:
    with FakeTwilio() as fake:
        settings.SMS_BACKEND = "participants.sms.TwilioSmsBackend"
        settings.TWILIO_ACCOUNT_SID = SID
        settings.TWILIO_AUTH_TOKEN = TOKEN
        settings.TWILIO_FROM_NUMBER = SENDER
        settings.TWILIO_MESSAGING_SERVICE_SID = ""
        settings.TWILIO_API_BASE = fake.url
        settings.TWILIO_TIMEOUT = 5
        settings.PUBLIC_BASE_URL = BASE
        yield fake


def enroll(trial: Any, *, email: str = "", phone: str = NUMBER, channels: str = "") -> Any:
    participant = helpers.consented(trial)
    helpers.services.participant_enroll(
        participant=participant,
        contact=helpers.services.ContactInput(full_name="Sam Lee", email=email, phone=phone, channels=channels),
        by=None,
    )
    return participant


def sms_of(participant: Any) -> OutboxMessage:
    return OutboxMessage.objects.get(participant=participant, channel="sms")


def signed_post(path: str, data: dict[str, str], *, token: str = TOKEN, **headers: str) -> Any:
    url = BASE + path
    signature = RequestValidator(token).compute_signature(url, data)
    return Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


# --- Sending ---------------------------------------------------------------------------------------


def test_an_sms_is_one_messages_post_with_sender_body_callback_and_the_accounts_credentials(trial, twilio, caplog):
    caplog.set_level(logging.DEBUG)
    message = sms_of(enroll(trial))
    assert outbox_deliver(message_id=message.pk) == "sent"
    (seen,) = twilio.requests
    assert seen.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert seen.basic_auth == (SID, TOKEN)
    assert seen.form["To"] == NUMBER and seen.form["From"] == SENDER
    assert "MessagingServiceSid" not in seen.form
    assert f"{BASE}/q/" in seen.form["Body"]
    assert seen.form["StatusCallback"] == f"{BASE}/sms/status/?m={message.pk}"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.recipient == NUMBER
    assert message.provider_id.startswith("SM") and len(message.provider_id) == 34
    assert TOKEN not in caplog.text and "6035550123" not in caplog.text and "/q/" not in caplog.text


def test_a_messaging_service_sends_in_place_of_a_number(trial, twilio, settings):
    settings.TWILIO_FROM_NUMBER = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
    assert outbox_deliver(message_id=sms_of(enroll(trial)).pk) == "sent"
    (seen,) = twilio.requests
    assert seen.form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in seen.form


def test_an_invalid_number_fails_at_once_with_twilios_words_and_without_the_number(trial, twilio, caplog):
    twilio.refuse(status=400, code=21211, message=f"Invalid 'To' Phone Number: {NUMBER}")
    participant = enroll(trial)
    message = sms_of(participant)
    assert outbox_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.provider_id == ""
    assert "HTTP 400" in message.last_error
    assert "error 21211: the number is not a valid phone number" in message.last_error
    assert "6035550123" not in message.last_error and "…23" in message.last_error
    assert "6035550123" not in caplog.text
    # The link minted for it is taken back: nobody has it.
    assert not AccessLink.objects.filter(assessment__participant=participant).exists()


def test_a_twilio_server_error_is_retried_later(trial, twilio):
    twilio.refuse(status=500, code=20500, message="Internal Server Error")
    message = sms_of(enroll(trial))
    assert outbox_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and "HTTP 500" in message.last_error


def test_twilio_out_of_reach_is_retried_later(trial, twilio, settings):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{port}"  # nothing listens there
    message = sms_of(enroll(trial))
    assert outbox_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert "Twilio could not be reached" in message.last_error and TOKEN not in message.last_error


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID"),
        ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN"),
        ("TWILIO_FROM_NUMBER", "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"),
    ],
)
def test_a_missing_setting_is_named(twilio, settings, missing, named):
    setattr(settings, missing, "")
    with pytest.raises(ImproperlyConfigured, match=named):
        TwilioSmsBackend()


# --- Delivery reports ------------------------------------------------------------------------------


@pytest.fixture
def sent(trial, twilio) -> OutboxMessage:
    message = sms_of(enroll(trial))
    assert outbox_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    return message


def report(message: OutboxMessage, status: str, **more: str) -> Any:
    return signed_post(
        f"/sms/status/?m={message.pk}",
        {"MessageSid": message.provider_id, "MessageStatus": status, "AccountSid": SID, **more},
    )


def test_signed_delivery_reports_update_the_log_and_an_earlier_status_never_replaces_a_later(sent):
    assert report(sent, "sent").status_code == 204
    sent.refresh_from_db()
    assert sent.delivery_status == "sent" and sent.delivery_updated_at is not None
    assert report(sent, "delivered").status_code == 204
    assert report(sent, "sent").status_code == 204  # late, out of order
    sent.refresh_from_db()
    assert sent.delivery_status == "delivered" and sent.delivery_error == ""


def test_an_undelivered_report_says_why_in_words(sent):
    report(sent, "undelivered", ErrorCode="30003")
    sent.refresh_from_db()
    assert sent.delivery_status == "undelivered"
    assert sent.delivery_error == "error 30003: the phone is unreachable (off or out of coverage)"


def test_a_report_faster_than_the_sends_bookkeeping_finds_its_message_by_the_callback_address(sent):
    sid = sent.provider_id
    OutboxMessage.objects.filter(pk=sent.pk).update(provider_id="")
    response = signed_post(f"/sms/status/?m={sent.pk}", {"MessageSid": sid, "MessageStatus": "queued"})
    assert response.status_code == 204
    sent.refresh_from_db()
    assert (sent.provider_id, sent.delivery_status) == (sid, "queued")


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-token"])
def test_a_report_without_twilios_signature_is_refused_and_changes_nothing(sent, signature):
    data = {"MessageSid": sent.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    path = f"/sms/status/?m={sent.pk}"
    if signature == "wrong-token":
        response = signed_post(path, data, token="not-the-accounts-token")
    else:
        response = Client().post(path, data, **({"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}))
    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.delivery_status == "" and sent.delivery_error == ""


def test_a_signature_of_another_address_is_refused(sent):
    """The signature covers the address: a report signed for another message's address does not count."""
    data = {"MessageSid": sent.provider_id, "MessageStatus": "delivered"}
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/sms/status/?m=999", data)
    response = Client().post(f"/sms/status/?m={sent.pk}", data, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.delivery_status == ""


def test_the_callbacks_answer_only_post(twilio):
    assert Client().get("/sms/status/").status_code == 405
    assert Client().get("/sms/inbound/").status_code == 405


# --- STOP and START --------------------------------------------------------------------------------


def reply(body: str, number: str = NUMBER) -> Any:
    return signed_post("/sms/inbound/", {"From": number, "To": SENDER, "Body": body, "AccountSid": SID})


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "UNSUBSCRIBE", "quit", "ALTO", "parar", "StopAll"])
def test_a_stop_reply_stops_every_sms_to_that_number_until_start(trial, twilio, word):
    participant = enroll(trial, email="sam@example.org", channels="both")
    response = reply(word)
    assert response.status_code == 200 and "<Response></Response>" in response.content.decode()
    contact = ContactDetails.objects.get(participant=participant)
    assert contact.sms_stopped_at is not None
    # The SMS invitation not yet sent is cancelled with the reason staff read; the e-mail still goes.
    sms = sms_of(participant)
    assert sms.status == MessageStatus.CANCELLED and "replied STOP" in sms.cancel_reason
    assert outbox_deliver_due() == {"sent": 1}
    assert len(mail.outbox) == 1 and twilio.requests == []
    event = AuditEvent.objects.get(action="participant.sms_stop")
    assert NUMBER not in str(event.changes) and event.actor_label == "system"

    assert reply("START").status_code == 200
    contact.refresh_from_db()
    assert contact.sms_stopped_at is None
    assert AuditEvent.objects.filter(action="participant.sms_start").count() == 1


def test_the_outbox_cancels_an_sms_to_a_stopped_participant_at_send_time(trial, twilio):
    participant = enroll(trial)
    message = sms_of(participant)
    ContactDetails.objects.filter(participant=participant).update(sms_stopped_at=message.created_at)
    assert outbox_deliver(message_id=message.pk) == "cancelled"
    message.refresh_from_db()
    assert "replied STOP" in message.cancel_reason and twilio.requests == []
    assert not AccessLink.objects.filter(assessment__participant=participant).exists()  # no link was made


def test_twilio_refusing_a_number_that_opted_out_records_the_stop(trial, twilio):
    twilio.refuse(status=400, code=21610, message=f"Attempt to send to unsubscribed recipient {NUMBER}")
    participant = enroll(trial)
    assert outbox_deliver(message_id=sms_of(participant).pk) == "failed"
    assert ContactDetails.objects.get(participant=participant).sms_stopped_at is not None
    assert "replied STOP" in sms_of(participant).last_error


def test_an_unsigned_stop_is_refused_and_changes_nothing(trial, twilio):
    participant = enroll(trial)
    response = Client().post("/sms/inbound/", {"From": NUMBER, "Body": "STOP"})
    assert response.status_code == 403
    assert ContactDetails.objects.get(participant=participant).sms_stopped_at is None
    assert sms_of(participant).status == MessageStatus.PENDING


def test_a_keyword_twilio_reports_as_an_opt_out_stops_too(trial, twilio):
    participant = enroll(trial)
    data = {"From": NUMBER, "To": SENDER, "Body": "BAJA", "OptOutType": "STOP"}
    assert signed_post("/sms/inbound/", data).status_code == 200
    assert ContactDetails.objects.get(participant=participant).sms_stopped_at is not None


def test_other_replies_change_nothing(trial, twilio, caplog):
    participant = enroll(trial)
    assert reply("stop sending me these at night please").status_code == 200
    assert ContactDetails.objects.get(participant=participant).sms_stopped_at is None
    assert "6035550123" not in caplog.text


def test_a_new_phone_number_has_not_said_stop(trial, twilio):
    participant = enroll(trial)
    reply("STOP")
    helpers.services.contact_update(
        participant=participant,
        contact=helpers.services.ContactInput(full_name="Sam Lee", phone="+16035550199"),
        by=None,
    )
    assert ContactDetails.objects.get(participant=participant).sms_stopped_at is None


# --- E-mail, SMS or both ---------------------------------------------------------------------------


def test_both_sends_the_invitation_by_email_and_by_sms_each_with_a_link_that_works(trial, twilio):
    participant = enroll(trial, email="sam@example.org", channels="both")
    messages = OutboxMessage.objects.filter(participant=participant, kind="assessment_invitation")
    assert sorted(messages.values_list("channel", flat=True)) == ["email", "sms"]
    assert outbox_deliver_due() == {"sent": 2}
    (seen,) = twilio.requests
    sms_link = seen.form["Body"].split(f"{BASE}/q/")[1].split("/")[0]
    email_link = mail.outbox[0].body.split("/q/")[1].split("/")[0]
    assert sms_link != email_link
    assert link_resolve(token=sms_link) is not None and link_resolve(token=email_link) is not None


@pytest.mark.parametrize(
    ("email", "phone", "channels", "chosen"),
    [
        ("sam@example.org", NUMBER, "", "email"),  # as before: e-mail when there is an address
        ("", NUMBER, "", "sms"),
        ("sam@example.org", NUMBER, "sms", "sms"),
        ("sam@example.org", NUMBER, "both", "both"),
    ],
)
def test_the_channels_default_to_what_they_were(trial, twilio, email, phone, channels, chosen):
    participant = enroll(trial, email=email, phone=phone, channels=channels)
    assert ContactDetails.objects.get(participant=participant).channels == chosen


@pytest.mark.parametrize(
    ("email", "phone", "channels", "field"),
    [
        ("", NUMBER, "both", "contact.email"),
        ("sam@example.org", "", "sms", "contact.phone"),
        ("a@b.org", "", "fax", "contact.channels"),
    ],
)
def test_a_channel_without_its_address_is_refused(trial, email, phone, channels, field):
    with pytest.raises(DomainError) as refused:
        enroll(trial, email=email, phone=phone, channels=channels)
    assert refused.value.field == field


def test_the_reminder_sweep_queues_one_reminder_per_channel(trial, twilio):
    from datetime import timedelta

    from assessments.models import ScheduledAssessment
    from assessments.services.sweep import remind_due
    from trial import clock

    participant = enroll(trial, email="sam@example.org", channels="both")
    visit = ScheduledAssessment.objects.get(participant=participant, status="open")
    ScheduledAssessment.objects.filter(pk=visit.pk).update(next_reminder_at=clock.now() - timedelta(minutes=1))
    assert remind_due(now=clock.now()) == 1
    reminders = OutboxMessage.objects.filter(participant=participant, kind="assessment_reminder")
    assert sorted(reminders.values_list("channel", flat=True)) == ["email", "sms"]
