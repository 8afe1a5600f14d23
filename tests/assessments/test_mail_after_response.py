"""Without a broker, a participant's request never waits for the mail server: what it queued is delivered
after the response. With a mail server that accepts the connection and never answers, the crisis page
comes back at once and the alert e-mail is retried, not left "sending"."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from config.celery import app as celery_app
from participants import messaging
from participants.models import MessageStatus, OutboxMessage, SafetyAlert
from tests import helpers
from tests.assessments.test_pages import CRISIS_ALERT, phq9
from tests.test_config import _settings
from trial.models import Trial

# on_commit runs for real only when the test's transactions commit.
transactional = pytest.mark.django_db(transaction=True)


@pytest.fixture
def silent_smtp() -> Iterator[tuple[int, list[socket.socket]]]:
    """A mail server on 127.0.0.1 that accepts connections and never says a word (until the test ends)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    server.close()


@pytest.fixture
def questionnaire(trial: Trial, clinician: Any) -> tuple[Any, str]:
    """An enrolled participant (the invitation went out, in memory) and the link's PHQ-9 page."""
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    return participant, f"{urlsplit(link_create(assessment=baseline)).path}phq9/"


@transactional
def test_a_hanging_mail_server_does_not_hold_the_crisis_page(client: Client, settings, silent_smtp, questionnaire):
    port, accepted = silent_smtp
    participant, page = questionnaire
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 6
    assert client.get(page).status_code == 200  # the participant opens the page (and this process warms up)

    started = time.monotonic()
    response = client.post(page, phq9(phq9_9=2))
    elapsed = time.monotonic() - started

    assert response.status_code == 302
    assert elapsed < settings.EMAIL_TIMEOUT / 2
    alert = SafetyAlert.objects.get(participant=participant)
    assert alert.flag == "suicidal_ideation"
    # Meanwhile the delivery reached the mail server, waited EMAIL_TIMEOUT, and put the e-mail back.
    assert messaging.wait_for_background_delivery(timeout=settings.EMAIL_TIMEOUT * 5)
    assert accepted
    row = OutboxMessage.objects.get(kind="safety_alert", context__alert=alert.pk)
    assert (row.status, row.attempts) == (MessageStatus.PENDING, 1)
    assert "timed out" in row.last_error
    next_page = client.get(response["Location"])
    assert CRISIS_ALERT.search(next_page.content.decode())


@transactional
def test_the_alert_e_mail_goes_out_right_after_the_response_not_in_the_request(client: Client, questionnaire):
    participant, page = questionnaire
    mail.outbox.clear()
    delivered_in: list[threading.Thread] = []
    deliver_due = messaging.outbox_deliver_due

    def recording(**kwargs: Any) -> dict[str, int]:
        delivered_in.append(threading.current_thread())
        return deliver_due(**kwargs)

    with mock.patch.object(messaging, "outbox_deliver_due", side_effect=recording):
        response = client.post(page, phq9(phq9_9=3))
        assert messaging.wait_for_background_delivery(timeout=30)
    assert response.status_code == 302
    assert delivered_in and threading.current_thread() not in delivered_in  # not the request's thread
    assert [m.to for m in mail.outbox] == [["clara@example.org"]]
    alert = SafetyAlert.objects.get(participant=participant)
    assert OutboxMessage.objects.get(kind="safety_alert", context__alert=alert.pk).status == MessageStatus.SENT


@transactional
def test_with_a_broker_the_request_queues_the_delivery(client: Client, questionnaire):
    _, page = questionnaire
    celery_app.conf.task_always_eager = False
    with mock.patch("participants.tasks.deliver_outbox.delay") as delay:
        assert client.post(page, phq9(phq9_9=3)).status_code == 302
    delay.assert_called_once_with()
    assert messaging.wait_for_background_delivery(timeout=1)


def test_the_smtp_timeout_comes_from_the_environment():
    assert _settings("s.EMAIL_TIMEOUT", DEBUG="1").stdout.strip() == "10"
    assert _settings("s.EMAIL_TIMEOUT", DEBUG="1", EMAIL_TIMEOUT="2.5").stdout.strip() == "2.5"
    bad = _settings("s.EMAIL_TIMEOUT", DEBUG="1", EMAIL_TIMEOUT="0")
    assert bad.returncode != 0
    assert "EMAIL_TIMEOUT='0' is out of range: it must be at least 1." in bad.stderr
