"""The rate-limit helper: who the client is (behind trusted proxies too), fixed windows in the cache, and
rates from the environment that fail loudly."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from tests.test_config import _settings
from trial import throttling
from trial.throttling import Rate, client_ip


def request(**meta: str):
    return RequestFactory().get("/", **meta)


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request(REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR="6.6.6.6")) == "203.0.113.1"


def test_behind_proxies_the_address_the_outermost_trusted_one_saw_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    forwarded = "6.6.6.6, 203.0.113.1, 10.0.0.2"  # spoofed by the client, then what each proxy appended
    assert client_ip(request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)) == "203.0.113.1"
    # A request that did not come through them all (a short header) is known by its own address.
    assert client_ip(request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.1")) == "10.0.0.1"


def test_a_window_allows_the_rate_then_tells_how_long_to_wait():
    rate = Rate(3, 60)
    assert [throttling.hit("test", "client", rate) for _ in range(3)] == [None, None, None]
    assert throttling.exceeded("test", "client", rate) is not None
    wait = throttling.hit("test", "client", rate)
    assert wait is not None and 1 <= wait <= 60
    assert throttling.hit("test", "another client", rate) is None
    assert throttling.exceeded("other-scope", "client", rate) is None


@pytest.mark.parametrize(
    ("text", "rate"), [("30/minute", Rate(30, 60)), ("5/h", Rate(5, 3600)), ("1/day", Rate(1, 86400))]
)
def test_rates_are_written_as_drf_writes_them(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["30", "0/minute", "x/minute", "30/fortnight", "-1/hour"])
def test_a_bad_rate_is_refused(text):
    with pytest.raises(ValueError, match="not a rate"):
        Rate.parse(text)


@pytest.mark.parametrize(
    "name",
    [
        "API_THROTTLE_USER",
        "API_THROTTLE_ANON",
        "API_THROTTLE_SCREENING",
        "API_THROTTLE_BAD_TOKEN",
        "PARTICIPANT_RATE_PER_LINK",
        "PARTICIPANT_RATE_BAD_LINKS",
    ],
)
def test_a_bad_rate_in_the_environment_stops_the_start(name):
    result = _settings("s.API_THROTTLE_RATES", DEBUG="1", **{name: "lots"})
    assert result.returncode != 0
    assert f"{name}='lots' is not a rate" in result.stderr


def test_rates_and_lockout_come_from_the_environment():
    env = {
        "DEBUG": "1",
        "API_THROTTLE_USER": "10/second",
        "AXES_FAILURE_LIMIT": "7",
        "AXES_COOLOFF_MINUTES": "30",
        "TRUSTED_PROXY_COUNT": "1",
    }
    result = _settings(
        "(s.API_THROTTLE_RATES['user'], s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.seconds, s.TRUSTED_PROXY_COUNT)",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('10/second', 7, 1800, 1)"
