"""People's API tokens: stored hashed, shown once, expiring, listed and revoked by their owner; keys that
do not work are throttled per address. Scripts keep the header ``Authorization: Token <key>``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests import helpers
from trial import clock
from trial.models import ApiToken

TOKENS = "/api/v1/tokens/"


def signed_in(user) -> APIClient:
    """A browser session, as after logging in at /api-auth/login/."""
    client = APIClient()
    client.force_login(user)
    return client


def with_token(key: str, **meta: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", **meta)
    return client


def create(user, **data) -> dict:
    response = signed_in(user).post(TOKENS, {"name": "nightly export", **data}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_token_is_shown_once_stored_only_hashed_and_works(coordinator, trial):
    created = create(coordinator)
    key = created["token"]
    assert created["name"] == "nightly export"
    assert key.startswith(created["prefix"])
    stored = ApiToken.objects.get(pk=created["id"])
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM trial_apitoken")
        assert not any(key in str(value) for row in cursor.fetchall() for value in row)
    listed = signed_in(coordinator).get(TOKENS)
    assert key not in listed.content.decode()
    assert [t["id"] for t in listed.json()] == [created["id"]]
    assert with_token(key).get("/api/v1/trials/").json()["results"][0]["slug"] == trial.slug


def test_tokens_expire_after_the_configured_lifetime(coordinator, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    created = create(coordinator)
    token = ApiToken.objects.get(pk=created["id"])
    assert timedelta(days=7) - timedelta(minutes=1) < token.expires_at - clock.now() <= timedelta(days=7)
    assert create(coordinator, days=2)["expires_at"] < created["expires_at"]
    refused = signed_in(coordinator).post(TOKENS, {"name": "long", "days": 30}, format="json")
    assert refused.status_code == 400
    assert "days" in refused.json()["errors"]
    ApiToken.objects.filter(pk=token.pk).update(expires_at=clock.now() - timedelta(seconds=1))
    response = with_token(created["token"]).get("/api/v1/trials/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown, expired or revoked token."


def test_an_owner_revokes_their_token_and_nobody_elses(coordinator, investigator):
    mine, theirs = create(coordinator), create(investigator)
    client = signed_in(coordinator)
    assert client.delete(f"{TOKENS}{theirs['id']}/").status_code == 404
    assert with_token(theirs["token"]).get("/api/v1/trials/").status_code == 200
    assert client.delete(f"{TOKENS}{mine['id']}/").status_code == 204
    assert with_token(mine["token"]).get("/api/v1/trials/").status_code == 401
    assert client.get(TOKENS).json() == []
    # A token can revoke itself (a script cleaning up after itself).
    again = create(coordinator)
    assert with_token(again["token"]).delete(f"{TOKENS}{again['id']}/").status_code == 204


def test_a_token_cannot_create_tokens(coordinator):
    created = create(coordinator)
    response = with_token(created["token"]).post(TOKENS, {"name": "another"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_token_needs_a_name(coordinator):
    response = signed_in(coordinator).post(TOKENS, {"name": "  "}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "name" in body.get("errors", body)


def test_a_deactivated_persons_tokens_stop_working(coordinator):
    headers = helpers.api_auth_headers(coordinator)
    coordinator.is_active = False
    coordinator.save()
    assert APIClient().get("/api/v1/trials/", headers=headers).status_code == 401


def test_last_use_is_recorded(coordinator):
    created = create(coordinator)
    assert created["last_used_at"] is None
    with_token(created["token"]).get("/api/v1/trials/")
    assert ApiToken.objects.get(pk=created["id"]).last_used_at is not None


def test_a_client_sending_bad_tokens_is_throttled_by_address(coordinator, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "bad_token": "3/hour"}
    key = create(coordinator)["token"]
    guesser = {"REMOTE_ADDR": "203.0.113.8"}
    for n in range(3):
        assert with_token(f"tpt_guess{n}", **guesser).get("/api/v1/trials/").status_code == 401
    throttled = with_token("tpt_guess4", **guesser).get("/api/v1/trials/")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) >= 1
    # Even a good key from that address waits; from elsewhere it works.
    assert with_token(key, **guesser).get("/api/v1/trials/").status_code == 429
    assert with_token(key, REMOTE_ADDR="198.51.100.8").get("/api/v1/trials/").status_code == 200


@pytest.mark.parametrize("header", ["Token", "Token a b"])
def test_a_malformed_header_is_a_clear_401(db, header):
    response = APIClient().get("/api/v1/trials/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "Authorization: Token <key>" in response.json()["detail"]


def test_an_operator_issues_lists_and_revokes_tokens_from_the_command_line(coordinator, capsys):
    from django.core.management import CommandError, call_command

    call_command("api_token", "carol", "--name", "export job", "--days", "3")
    key = capsys.readouterr().out.splitlines()[-1]
    assert with_token(key).get("/api/v1/trials/").status_code == 200
    call_command("api_token", "carol", "--list")
    assert "export job" in capsys.readouterr().out
    call_command("api_token", "carol", "--revoke", key[:12])
    assert with_token(key).get("/api/v1/trials/").status_code == 401
    with pytest.raises(CommandError, match="from 1 to"):
        call_command("api_token", "carol", "--days", "100000")
    with pytest.raises(CommandError, match="No user"):
        call_command("api_token", "nobody")
