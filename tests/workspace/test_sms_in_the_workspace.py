"""What staff see of SMS: the delivery reports in the message log and on the participant's page, a STOP
reply, and the choice of e-mail, SMS or both on the contact form."""

from __future__ import annotations

import re
from typing import Any

import pytest

from participants.messaging import outbox_deliver
from participants.models import ContactDetails, OutboxMessage
from participants.services.sms import delivery_record, sms_stop
from tests import helpers

pytestmark = pytest.mark.django_db

NUMBER = "+16035550123"


def enroll(trial: Any, **contact: str) -> Any:
    participant = helpers.consented(trial)
    helpers.services.participant_enroll(
        participant=participant,
        contact=helpers.services.ContactInput(full_name="Sam Lee", phone=NUMBER, **contact),
        by=None,
    )
    return participant


@pytest.fixture
def delivered_sms(trial: Any, settings: Any) -> OutboxMessage:
    settings.SMS_BACKEND = "participants.messaging.LocmemSmsBackend"
    participant = enroll(trial)
    message = OutboxMessage.objects.get(participant=participant, channel="sms")
    assert outbox_deliver(message_id=message.pk) == "sent"
    OutboxMessage.objects.filter(pk=message.pk).update(provider_id="SM" + "a" * 32)
    return message


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.mark.parametrize("role", ["coordinator", "blinded_statistician"])
def test_the_message_log_shows_an_sms_delivery_report(request, web, trial, delivered_sms, role):
    client = web(request.getfixturevalue(role))
    log = f"/workspace/{trial.slug}/messages/"
    assert "No delivery report yet" in text(client.get(log))
    delivery_record(provider_id="SM" + "a" * 32, status="undelivered", error_code="30003")
    shown = text(client.get(log))
    assert "Not delivered" in shown and "error 30003: the phone is unreachable" in shown
    page = text(client.get(f"/workspace/{trial.slug}/participants/{delivered_sms.participant_id}/"))
    assert "Not delivered" in page


def test_the_participant_page_says_sms_stopped(web, coordinator, trial):
    participant = enroll(trial)
    page = f"/workspace/{trial.slug}/participants/{participant.pk}/"
    assert "Messages by SMS" in text(web(coordinator).get(page))
    sms_stop(number=NUMBER)
    shown = text(web(coordinator).get(page))
    assert "replied STOP" in shown and "They get no invitations or reminders now" in shown


def test_staff_choose_email_sms_or_both_on_the_contact_form(web, coordinator, trial):
    participant = enroll(trial, email="sam@example.org")
    client = web(coordinator)
    url = f"/workspace/{trial.slug}/participants/{participant.pk}/contact/"
    form = client.get(url)
    once = re.search(r'name="once" value="([0-9a-f-]{36})"', form.content.decode()).group(1)
    data = {"full_name": "Sam Lee", "email": "sam@example.org", "phone": NUMBER, "timezone": "America/New_York"}
    assert 'name="channels"' in form.content.decode()
    refused = client.post(url, {**data, "email": "", "channels": "both", "once": once})
    assert refused.status_code == 200 and "need an e-mail address" in text(refused)
    saved = client.post(url, {**data, "channels": "both", "once": once})
    assert saved.status_code == 302
    assert ContactDetails.objects.get(participant=participant).channels == "both"
