"""API throttles: per signed-in user, per anonymous address, and screenings per user. A throttled call gets
429 in the API's one error format with Retry-After; the rates are settings, read at each request."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests import helpers


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str) -> None:
        settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, **rates}

    return set_rates


def assert_throttled(response) -> None:
    assert response.status_code == 429
    body = json.loads(response.content)
    assert body["code"] == "throttled"
    assert body["detail"]
    assert int(response["Retry-After"]) >= 1


def test_a_user_over_the_rate_gets_429_in_the_error_format(api, rates, coordinator, investigator, trial):
    rates(user="3/minute")
    client = api(coordinator)
    for _ in range(3):
        assert client.get("/api/v1/trials/").status_code == 200
    assert_throttled(client.get("/api/v1/trials/"))
    assert_throttled(client.get(f"/api/v1/trials/{trial.slug}/participants/"))
    # Per user: a colleague is not slowed down.
    assert api(investigator).get("/api/v1/trials/").status_code == 200


def test_anonymous_callers_are_throttled_per_address(rates, db):
    rates(anon="2/minute")
    client = APIClient()
    # Every API view wants a signed-in caller: the first requests get 401, the next one 429.
    for _ in range(2):
        assert client.get("/api/v1/trials/", REMOTE_ADDR="203.0.113.5").status_code == 401
    assert_throttled(client.get("/api/v1/trials/", REMOTE_ADDR="203.0.113.5"))
    assert_throttled(client.get("/api/schema/?format=json", REMOTE_ADDR="203.0.113.5"))
    assert client.get("/api/v1/trials/", REMOTE_ADDR="198.51.100.5").status_code == 401


def test_screenings_have_their_own_rate_per_user(api, rates, coordinator, investigator, trial):
    rates(screening="2/hour")
    client = api(coordinator)
    url = f"/api/v1/trials/{trial.slug}/screenings/"
    for _ in range(2):
        assert client.post(url, {"answers": helpers.answers()}, format="json").status_code == 201
    assert_throttled(client.post(url, {"answers": helpers.answers()}, format="json"))
    # Reading goes on, and so does a colleague's screening.
    assert client.get(f"/api/v1/trials/{trial.slug}/participants/").status_code == 200
    assert api(investigator).post(url, {"answers": helpers.answers()}, format="json").status_code == 201


def test_the_chatbot_service_has_its_own_rate_per_key(rates, trial):
    from participants.services.chatbot import chatbot_key_create

    rates(chatbot="2/minute")
    clients = []
    for name in ("first", "second"):
        _, key = chatbot_key_create(trial=trial, name=name, by=None)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        clients.append(client)
    url = f"/api/v1/chatbot/{trial.slug}/sessions/"
    for _ in range(2):
        assert clients[0].post(url, {}, format="json").status_code == 400  # counted, and refused as empty
    assert_throttled(clients[0].post(url, {}, format="json"))
    assert clients[1].post(url, {}, format="json").status_code == 400


def test_chatbot_keys_that_do_not_work_are_throttled_by_address(rates, trial):
    from participants.services.chatbot import chatbot_key_create

    rates(bad_token="2/hour")
    _, key = chatbot_key_create(trial=trial, name="svc", by=None)
    url = f"/api/v1/chatbot/{trial.slug}/sessions/"
    guesser = APIClient(REMOTE_ADDR="203.0.113.12")
    for n in range(2):
        guesser.credentials(HTTP_AUTHORIZATION=f"Api-Key tpk_guess{n}")
        assert guesser.post(url, {}, format="json").status_code == 401
    guesser.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_throttled(guesser.post(url, {}, format="json"))
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.12")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert elsewhere.post(url, {}, format="json").status_code == 400
