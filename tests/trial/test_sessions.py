"""Staff sessions end SESSION_HOURS after login (default 8) and after SESSION_IDLE_MINUTES without a
request (default 30), in the admin and for the API alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.admin import login
from tests.test_config import _settings
from trial import clock

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def time():
    simulated = clock.SimulatedClock(START)
    with clock.use(simulated):
        yield simulated


def signed_in(response) -> bool:
    return response.status_code == 200


def test_an_idle_session_ends_after_thirty_minutes(client: Client, coordinator, time):
    login(client, coordinator)
    assert signed_in(client.get("/admin/"))
    time.advance(timedelta(minutes=29))
    assert signed_in(client.get("/admin/"))
    time.advance(timedelta(minutes=29))  # 58 minutes after login, but only 29 idle
    assert signed_in(client.get("/admin/"))
    time.advance(timedelta(minutes=31))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_the_idle_limit_holds_for_the_api_too(client: Client, coordinator, time):
    client.force_login(coordinator)
    assert client.get("/api/v1/trials/").status_code == 200
    time.advance(timedelta(minutes=31))
    assert client.get("/api/v1/trials/").status_code in (401, 403)


def test_a_busy_session_still_ends_after_eight_hours(client: Client, coordinator, time):
    login(client, coordinator)
    for _ in range(7 * 4 + 3):  # a request every 15 minutes for 7 h 45 min
        time.advance(timedelta(minutes=15))
        assert signed_in(client.get("/admin/"))
    time.advance(timedelta(minutes=16))
    assert client.get("/admin/").status_code == 302


def test_the_limits_are_settings(client: Client, coordinator, settings, time):
    settings.SESSION_IDLE_MINUTES = 0  # no idle limit
    settings.SESSION_COOKIE_AGE = 3600
    login(client, coordinator)
    time.advance(timedelta(minutes=59))
    assert signed_in(client.get("/admin/"))
    time.advance(timedelta(minutes=2))
    assert client.get("/admin/").status_code == 302


def test_the_defaults_and_the_environment():
    defaults = _settings("(s.SESSION_COOKIE_AGE, s.SESSION_IDLE_MINUTES)", DEBUG="1")
    assert defaults.stdout.strip() == "(28800, 30)", defaults.stderr
    changed = _settings(
        "(s.SESSION_COOKIE_AGE, s.SESSION_IDLE_MINUTES)", DEBUG="1", SESSION_HOURS="12", SESSION_IDLE_MINUTES="15"
    )
    assert changed.stdout.strip() == "(43200, 15)", changed.stderr
    assert _settings("s.SESSION_COOKIE_AGE", DEBUG="1", SESSION_HOURS="0").returncode != 0
