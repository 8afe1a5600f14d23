""" "Send me a new link": a participant whose link expired or got lost gets a fresh one by typing the e-mail
address or phone number on record. The page says the same whether or not the details matched and answers
before anything is looked up; requests are limited per contact and per client; the request is audited and
nothing logged holds the address, the number or the link."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.utils import timezone

from assessments import new_link_views
from assessments.models import AccessLink, AssessmentStatus, ScheduledAssessment
from assessments.services.links import link_create
from assessments.services.new_link import NEW_LINK_KIND, contact_parse, new_link_request
from participants import messaging
from participants.models import Channel, ContactDetails, OutboxMessage, Participant, Status
from tests import helpers
from trial.models import AuditEvent, Trial

NEW_LINK = "/q/new-link/"
EMAIL = "jamie@example.org"  # helpers.enrolled's


@pytest.fixture
def participant(trial: Trial) -> Participant:
    trial.public_info = {"en": {"name": "Mood Study"}, "es": {"name": "Estudio del Ánimo"}}
    trial.save()
    return helpers.enrolled(trial)


@pytest.fixture
def baseline(participant: Participant) -> ScheduledAssessment:
    assessment = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    assert assessment.status == AssessmentStatus.OPEN
    return assessment


def _queued() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=NEW_LINK_KIND))


def _deliver() -> None:
    mail.outbox.clear()
    messaging.LocmemSmsBackend.outbox.clear()
    for message in _queued():  # the new links only (the invitation enrollment queued is still pending)
        assert messaging.outbox_deliver(message_id=message.pk) == "sent"


def _link_in(text: str) -> str:
    match = re.search(r"https?://\S+/q/[\w-]+/", text)
    assert match is not None, text
    return urlsplit(match.group(0)).path


def test_the_expired_and_the_unknown_link_pages_offer_a_new_link(client: Client, baseline):
    old = urlsplit(link_create(assessment=baseline)).path
    AccessLink.objects.update(expires_at=timezone.now())
    for response in (client.get(old), client.get(f"/q/{'x' * 43}/")):
        assert response.status_code in (404, 410)
        page = response.content.decode()
        assert f'action="{NEW_LINK}"' in page and 'name="contact"' in page
        assert "Send me a new link" in page
    assert client.get(NEW_LINK).status_code == 200  # its own page, for a link lost altogether


def test_the_address_on_record_gets_a_fresh_link_that_works(client: Client, baseline, participant):
    old = urlsplit(link_create(assessment=baseline)).path
    response = client.post(NEW_LINK, {"contact": "  Jamie@Example.ORG ", "language": "en"})
    assert response.status_code == 200
    assert "Check your messages" in response.content.decode()
    (message,) = _queued()
    assert (message.channel, message.participant_id) == (Channel.EMAIL, participant.pk)

    _deliver()
    (sent,) = mail.outbox
    assert sent.to == [EMAIL]
    assert sent.subject == "Mood Study: your new questionnaire link"
    assert participant.trial.title not in sent.subject + sent.body
    new = _link_in(sent.body)
    html = sent.alternatives[0][0]
    assert new in html and "Open your questionnaires" in html
    assert "988" in sent.body  # the crisis resources come with it
    assert client.get(new).status_code == 200
    assert client.get(old).status_code == 410  # replaced

    event = AuditEvent.objects.get(action="assessment.new_link_requested")
    assert event.object_id == str(baseline.public_id)
    assert EMAIL not in str(event.changes) + event.reason + event.object_label


def test_a_spanish_speaking_participant_gets_the_message_in_spanish(client: Client, baseline, participant):
    Participant.objects.filter(pk=participant.pk).update(language="es")
    client.post(NEW_LINK, {"contact": EMAIL, "language": "es"})
    _deliver()
    (sent,) = mail.outbox
    assert sent.subject == "Estudio del Ánimo: su nuevo enlace a los cuestionarios"
    assert sent.body.startswith("Hola, Jamie:")
    assert "funciona hasta el" in sent.body and "Si está en crisis" in sent.body
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")
    assert not any(month in sent.body for month in (*months, "November", "December"))  # the date in Spanish too


def test_the_phone_on_record_gets_an_sms(client: Client, settings, baseline, participant):
    settings.SMS_BACKEND = "participants.messaging.LocmemSmsBackend"
    ContactDetails.objects.filter(participant=participant).update(phone="+1 (555) 201-3344")
    client.post(NEW_LINK, {"contact": "555-201-3344"})
    (message,) = _queued()
    assert message.channel == Channel.SMS
    _deliver()
    ((to, body),) = messaging.LocmemSmsBackend.outbox
    assert to == "+1 (555) 201-3344"
    assert client.get(_link_in(body)).status_code == 200


def test_a_participant_who_replied_stop_gets_the_link_by_e_mail_not_sms(
    client: Client, settings, baseline, participant
):
    settings.SMS_BACKEND = "participants.messaging.LocmemSmsBackend"
    ContactDetails.objects.filter(participant=participant).update(phone="+15552013344", sms_stopped_at=timezone.now())
    client.post(NEW_LINK, {"contact": "555-201-3344"})
    (message,) = _queued()
    assert message.channel == Channel.EMAIL  # the SMS would be cancelled: the address on record instead
    _deliver()
    assert messaging.LocmemSmsBackend.outbox == []
    (sent,) = mail.outbox
    assert sent.to == [EMAIL] and client.get(_link_in(sent.body)).status_code == 200
    OutboxMessage.objects.all().delete()
    ContactDetails.objects.filter(participant=participant).update(email="")
    client.post(NEW_LINK, {"contact": "555-201-3344"})
    assert _queued() == []  # stopped SMS and no e-mail: nothing goes, and the page says the same


def test_the_page_is_the_same_whether_or_not_the_details_matched(client: Client, baseline):
    matched = client.post(NEW_LINK, {"contact": EMAIL, "language": "en"})
    unknown = client.post(NEW_LINK, {"contact": "nobody@example.org", "language": "en"})
    phone = client.post(NEW_LINK, {"contact": "+44 20 7946 0000", "language": "en"})
    assert matched.status_code == unknown.status_code == phone.status_code == 200
    assert matched.content == unknown.content == phone.content
    assert len(_queued()) == 1


def test_the_lookup_runs_only_after_the_response_has_gone(baseline):
    request = RequestFactory().post(NEW_LINK, {"contact": EMAIL})
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
    response = new_link_views.new_link(request)
    assert response.status_code == 200
    assert _queued() == []  # the page is ready, and nothing has been looked up yet
    # The server has sent it. As Django's test client does, keep the test's connection open: on
    # PostgreSQL request_finished would close it under the test's transaction.
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert len(_queued()) == 1


def test_nothing_is_sent_without_an_open_visit_or_to_someone_who_withdrew(client: Client, baseline, participant):
    ScheduledAssessment.objects.filter(pk=baseline.pk).update(status=AssessmentStatus.COMPLETED)
    assert new_link_request(contact=contact_parse(EMAIL)) == 0
    ScheduledAssessment.objects.filter(pk=baseline.pk).update(status=AssessmentStatus.OPEN)
    Participant.objects.filter(pk=participant.pk).update(status=Status.WITHDRAWN)
    assert new_link_request(contact=contact_parse(EMAIL)) == 0
    assert _queued() == []


def test_nothing_is_sent_for_a_simulated_or_a_locked_trial(baseline, trial):
    Trial.objects.filter(pk=trial.pk).update(simulated=True)
    assert new_link_request(contact=contact_parse(EMAIL)) == 0
    Trial.objects.filter(pk=trial.pk).update(simulated=False, status="locked")
    assert new_link_request(contact=contact_parse(EMAIL)) == 0
    Trial.objects.filter(pk=trial.pk).update(status="recruiting")
    assert new_link_request(contact=contact_parse(EMAIL)) == 1


def test_a_double_tap_queues_one_message(baseline):
    assert new_link_request(contact=contact_parse(EMAIL)) == 1
    assert new_link_request(contact=contact_parse(EMAIL)) == 0
    assert len(_queued()) == 1


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "Enter the e-mail address or mobile phone number"),
        ("jamie@", "Enter an e-mail address like"),
        ("12", "Enter a phone number with its area code"),
        ("call me maybe", "Enter a phone number with its area code"),
        ("x" * 300, "too long"),
    ],
)
def test_what_is_neither_an_address_nor_a_number_is_refused_clearly(client: Client, baseline, typed, error):
    response = client.post(NEW_LINK, {"contact": typed})
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page and 'aria-invalid="true"' in page
    assert _queued() == []


def test_requests_are_limited_per_contact(client: Client, settings, baseline):
    settings.PARTICIPANT_PAGE_RATES = {**settings.PARTICIPANT_PAGE_RATES, "new_link_contact": "2/hour"}
    statuses = [client.post(NEW_LINK, {"contact": EMAIL.upper() if n else EMAIL}).status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    assert client.post(NEW_LINK, {"contact": "someone.else@example.org"}).status_code == 200


def test_requests_are_limited_per_client(client: Client, settings, baseline):
    settings.PARTICIPANT_PAGE_RATES = {**settings.PARTICIPANT_PAGE_RATES, "new_link_client": "3/hour"}
    statuses = [client.post(NEW_LINK, {"contact": f"person{n}@example.org"}).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    other = Client(REMOTE_ADDR="192.0.2.77")
    assert other.post(NEW_LINK, {"contact": EMAIL}).status_code == 200


def test_no_log_holds_the_address_or_the_number(client: Client, settings, baseline, participant, caplog: Any):
    settings.SMS_BACKEND = "participants.messaging.ConsoleSmsBackend"
    ContactDetails.objects.filter(participant=participant).update(phone="+15552013344")
    caplog.set_level(logging.DEBUG)
    client.post(NEW_LINK, {"contact": EMAIL})
    client.post(NEW_LINK, {"contact": "5552013344"})
    client.post(NEW_LINK, {"contact": "nobody@example.org"})
    _deliver()
    assert len(mail.outbox) == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (EMAIL, "jamie", "5552013344", "555201", "nobody@example.org"):
        assert secret not in logged.lower()


def test_the_form_works_without_a_csrf_exemption(baseline):
    client = Client(enforce_csrf_checks=True)
    page = client.get(NEW_LINK).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = client.post(NEW_LINK, {"contact": EMAIL, "csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 200
    assert len(_queued()) == 1
