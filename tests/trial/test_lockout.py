"""Login lockout (django-axes) on every login form: after AXES_FAILURE_LIMIT wrong passwords for one
username from one address, the right password no longer logs in until the cool-off has passed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

PASSWORD = "correct horse battery"
LOGINS = ["/admin/login/", "/api-auth/login/"]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="sam", password=PASSWORD, is_staff=True)


def attempt(client: Client, url: str, password: str, **headers: str):
    return client.post(url, {"username": "sam", "password": password, "next": "/admin/"}, **headers)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGINS)
def test_a_hundred_wrong_passwords_then_the_right_one_is_refused(client, staff, url):
    for _ in range(100):
        attempt(client, url, "guess")
    response = attempt(client, url, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    assert b"Too many failed logins" in response.content
    assert response["Retry-After"] == str(15 * 60)


@pytest.mark.parametrize("url", LOGINS)
def test_fewer_failures_than_the_limit_still_log_in(client, staff, settings, url):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, url, "guess").status_code == 200
    assert attempt(client, url, PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_lockout_ends_after_the_cool_off(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/admin/login/", "guess")
    assert attempt(client, "/admin/login/", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert attempt(client, "/admin/login/", PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_limit_and_cool_off_are_settings(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)
    attempt(client, "/admin/login/", "guess")
    attempt(client, "/admin/login/", "guess")
    response = attempt(client, "/admin/login/", PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "180"
    assert b"3 minutes" in response.content


def test_a_client_asking_for_json_gets_the_api_error_body(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/api-auth/login/", "guess")
    response = attempt(client, "/api-auth/login/", PASSWORD, HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert "detail" in response.json()


def test_the_lockout_is_per_username_and_address(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/admin/login/", "guess", REMOTE_ADDR="203.0.113.7")
    assert attempt(client, "/admin/login/", PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    assert attempt(client, "/admin/login/", PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client, staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/admin/login/", "guess", HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.7", **proxy)
    # The same client, whatever it puts in front of the proxy's entry, is locked out ...
    locked = attempt(client, "/admin/login/", PASSWORD, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7", **proxy)
    assert locked.status_code == 429
    # ... while another client behind the same proxy is not.
    other = attempt(client, "/admin/login/", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)
    assert other.status_code == 302
