"""``GET /health/``: 503 when this instance's database or broker does not answer; "warn" (still 200) when
the outbox lags or an urgent safety alert waits unacknowledged; details only for administrators and
monitoring with the health token, and never anything personal."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test import Client

from participants.models import AlertSource, MessageStatus, OutboxMessage, SafetyAlert
from participants.services.safety import safety_alert_acknowledge, safety_alert_raise
from tests import helpers
from trial import clock

pytestmark = pytest.mark.django_db

TOKEN = "monitoring-" + "x" * 30


@pytest.fixture
def monitoring(settings: Any) -> Client:
    settings.HEALTH_TOKEN = TOKEN
    return Client(headers={"Authorization": f"Bearer {TOKEN}"})


def checks(response: Any) -> dict[str, Any]:
    return response.json()["checks"]


def test_anyone_gets_the_status_alone(client: Client, settings):
    settings.REDIS_URL = ""
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.post("/health/").status_code == 405


def test_monitoring_with_the_token_and_administrators_get_the_checks(monitoring: Client, client: Client, settings):
    settings.REDIS_URL = ""
    expected = {
        "database": {"status": "ok"},
        "outbox": {"status": "ok", "lag_seconds": None, "limit_seconds": 900},
        "urgent_safety_alerts": {"status": "ok", "oldest_unacknowledged_seconds": None, "limit_seconds": 3600},
    }
    assert monitoring.get("/health/").json() == {"status": "ok", "checks": expected}
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-long-enough")
    client.force_login(admin)
    assert checks(client.get("/health/")) == expected


def test_a_wrong_token_or_a_staff_member_gets_the_status_alone(settings, client: Client, coordinator):
    settings.HEALTH_TOKEN = TOKEN
    assert Client(headers={"Authorization": f"Bearer {TOKEN}x"}).get("/health/").json() == {"status": "ok"}
    assert Client(headers={"Authorization": "Bearer "}).get("/health/").json() == {"status": "ok"}
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    assert client.get("/health/").json() == {"status": "ok"}
    settings.HEALTH_TOKEN = ""
    assert Client(headers={"Authorization": "Bearer "}).get("/health/").json() == {"status": "ok"}


def test_an_urgent_alert_left_unacknowledged_too_long_warns_without_saying_whose(
    monitoring, trial, clinician, settings
):
    participant = helpers.enrolled(trial)
    OutboxMessage.objects.update(status=MessageStatus.SENT)  # the invitation: not what this test is about
    old = safety_alert_raise(
        participant=participant, source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation_severe", dedupe_key="a",
        urgent=True,
    )  # fmt: skip
    safety_alert_raise(participant=participant, source=AlertSource.CHATBOT, flag="crisis_language", dedupe_key="b")
    OutboxMessage.objects.update(status=MessageStatus.SENT)
    assert monitoring.get("/health/").json()["status"] == "ok"  # just raised

    SafetyAlert.objects.filter(pk=old.pk).update(raised_at=clock.now() - timedelta(hours=2))
    response = monitoring.get("/health/")
    assert response.status_code == 200  # every instance sees it: not a reason to take this one out
    assert response.json()["status"] == "warn"
    alerts = checks(response)["urgent_safety_alerts"]
    assert alerts["status"] == "warn" and 7190 <= alerts["oldest_unacknowledged_seconds"] <= 7300
    body = response.content.decode()
    for personal in (participant.study_id, trial.slug, trial.title, "clara", str(participant.pk) + ","):
        assert personal not in body

    safety_alert_acknowledge(alert=SafetyAlert.objects.get(pk=old.pk), by=clinician)
    assert monitoring.get("/health/").json()["status"] == "ok"


def test_an_outbox_message_due_long_ago_and_unsent_warns(monitoring, trial, settings):
    helpers.enrolled(trial)  # queues the invitation, due now
    assert checks(monitoring.get("/health/"))["outbox"]["status"] == "ok"
    OutboxMessage.objects.update(available_at=clock.now() - timedelta(minutes=20))
    outbox = checks(monitoring.get("/health/"))["outbox"]
    assert outbox["status"] == "warn" and 1195 <= outbox["lag_seconds"] <= 1260
    # A worker that died mid-send: due again once its lease ran out.
    leased = clock.now() - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS) - timedelta(minutes=30)
    OutboxMessage.objects.update(status=MessageStatus.SENDING, claimed_at=leased)
    outbox = checks(monitoring.get("/health/"))["outbox"]
    assert outbox["status"] == "warn" and 1795 <= outbox["lag_seconds"] <= 1860
    OutboxMessage.objects.update(status=MessageStatus.SENT)
    assert monitoring.get("/health/").json() == {"status": "ok", "checks": mock.ANY}


def test_a_database_that_does_not_answer_takes_the_instance_out(monitoring, settings):
    settings.REDIS_URL = ""
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = monitoring.get("/health/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {"database": {"status": "fail", "error": "OperationalError"}},
    }


def test_a_broker_that_does_not_answer_takes_the_instance_out(monitoring, client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = monitoring.get("/health/")
    assert response.status_code == 503
    assert checks(response)["broker"] == {"status": "fail", "error": "ConnectionError"}
    assert json.loads(client.get("/health/").content) == {"status": "fail"}


@pytest.mark.redis
def test_the_broker_is_checked_when_configured(monitoring):
    response = monitoring.get("/health/")
    assert response.status_code == 200
    assert checks(response)["broker"] == {"status": "ok"}


def test_the_health_check_is_cheap(monitoring, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        assert monitoring.get("/health/").status_code == 200
