"""Rate limits on the participant pages (/q/): requests per link, and unknown links per address (someone
guessing links). A participant who hits one gets a kind page with the crisis resources, HTTP 429; one who
fills a visit's questionnaires, with drafts and reloads, never does."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from participants.models import SafetyAlert
from tests import helpers
from trial.models import Trial
from trial.throttling import Rate


@pytest.fixture
def baseline(trial: Trial) -> ScheduledAssessment:
    participant = helpers.enrolled(trial)
    return ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")


@pytest.fixture
def url(baseline: ScheduledAssessment) -> str:
    return urlsplit(link_create(assessment=baseline)).path


def form(code: str) -> dict[str, str]:
    return {key: str(value) for key, value in helpers.lowest_answers(code).items()}


def assert_kind_429(response: Any) -> None:
    page = response.content.decode()
    assert response.status_code == 429
    assert "Too many attempts" in page
    assert "Please wait a minute" in page
    assert "tel:988" in page  # the crisis resources are still there
    assert int(response["Retry-After"]) >= 1


def test_a_participant_filling_a_visit_with_drafts_and_reloads_is_never_throttled(client: Client, url, baseline):
    requests = 0
    for code in baseline.instruments:
        for response in (
            client.get(url),
            client.get(f"{url}{code}/"),
            client.post(f"{url}{code}/", {**form(code), "action": "save"}),
            client.get(url),
            client.get(f"{url}{code}/"),
            client.get(f"{url}{code}/"),
            client.post(f"{url}{code}/", form(code)),
        ):
            requests += 1
            assert response.status_code in (200, 302), response.status_code
    assert "Thank you" in client.get(url).content.decode()
    # Nine questionnaires, each with the same traffic, three times over, still fit in the default rate.
    per_questionnaire = requests / len(baseline.instruments)
    assert Rate.parse("300/hour").count >= 9 * per_questionnaire * 3


def test_too_many_requests_on_one_link_get_the_kind_page(client: Client, url, settings, trial):
    settings.PARTICIPANT_PAGE_RATES = {**settings.PARTICIPANT_PAGE_RATES, "link": "5/hour"}
    for _ in range(5):
        assert client.get(url).status_code == 200
    assert_kind_429(client.get(url))
    assert_kind_429(client.post(f"{url}phq9/", form("phq9")))
    # Another participant's link is not affected.
    other = ScheduledAssessment.objects.get(participant=helpers.enrolled(trial), visit__code="baseline")
    assert client.get(urlsplit(link_create(assessment=other)).path).status_code == 200


def test_an_address_guessing_links_is_turned_away_even_from_a_real_link(client: Client, url, settings):
    settings.PARTICIPANT_PAGE_RATES = {**settings.PARTICIPANT_PAGE_RATES, "bad_link": "3/hour"}
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(3):
        assert client.get(f"/q/guess-{n}/", **guesser).status_code == 404
    assert_kind_429(client.get("/q/guess-4/", **guesser))
    assert_kind_429(client.get("/q/guess-5/phq9/", **guesser))
    assert_kind_429(client.get(url, **guesser))
    # Other addresses, and the participant whose link it is, are not.
    assert client.get(url, REMOTE_ADDR="198.51.100.4").status_code == 200
    assert client.get("/q/guess-6/", REMOTE_ADDR="198.51.100.4").status_code == 404


def cache_keys(settings: Any) -> list[str]:
    if settings.REDIS_URL:
        return [key.decode() for key in cache._cache.get_client().keys("*")]
    return list(cache._cache.keys())  # the local-memory cache


def test_the_link_token_is_never_a_cache_key_in_clear(client: Client, url, settings):
    token = url.strip("/").split("/")[-1]
    client.get(url)
    client.get("/q/not-a-real-token-at-all/")
    keys = cache_keys(settings)
    assert any("ratelimit" in key for key in keys)
    assert not any(token in key or "not-a-real-token" in key for key in keys)


def test_answers_turned_away_by_a_rate_limit_still_raise_item_9(client: Client, url, settings, baseline):
    """A limit keeps a page from being recorded, never a risk signal from reaching a clinician."""
    settings.PARTICIPANT_PAGE_RATES = {**settings.PARTICIPANT_PAGE_RATES, "link": "2/hour"}
    for _ in range(2):
        client.get(url)
    answers = {**form("phq9"), "phq9_9": "2"}
    assert_kind_429(client.post(f"{url}phq9/", answers))
    alert = SafetyAlert.objects.get(participant=baseline.participant)
    assert alert.details["recorded"] is False
    assert "too many requests" in alert.details["why"].lower()
