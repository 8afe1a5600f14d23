"""Input that used to crash the server (500) gets a 4xx naming what is wrong, in the API's error format."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from rest_framework.test import APIClient

from participants.models import ContactDetails
from tests import helpers
from trial.models import ConsentDocument

pytestmark = pytest.mark.django_db

BASE = "/api/v1/trials/therabot"


@pytest.mark.parametrize(
    "query",
    [
        "screened_after=2020-01-01T00:00:00-17:00",
        "screened_before=2020-01-01T00:00:00%2B25:00",
        "screened_after=9999-12-31T23:59:59-01:00",
        "screened_before=2020-13-45T00:00:00",
        "screened_after=0000-01-01",
    ],
)
def test_a_datetime_out_of_range_names_the_parameter(api, coordinator, trial, query):
    helpers.eligible(trial)
    answer = api(coordinator).get(f"{BASE}/participants/?{query}")
    assert answer.status_code == 400, answer.content
    assert query.split("=")[0] in answer.json()


@pytest.mark.parametrize("query", ["page=99999999999999999999999", "page_size=-1", "page=0", "page=x"])
def test_numbers_out_of_range_are_refused_or_clamped(api, coordinator, trial, query):
    helpers.eligible(trial)
    for path in ("participants/", "audit/", "safety-alerts/"):
        answer = api(coordinator).get(f"{BASE}/{path}?{query}")
        assert answer.status_code in (200, 403, 404), (path, answer.content)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "a" * 250 + "@example.org"),  # 262 characters: a valid address, longer than the column
        ("full_name", "J" * 201),
        ("phone", "1" * 33),
        ("timezone", "A" * 65),
    ],
)
def test_contact_details_longer_than_their_columns_are_refused_by_name(api, coordinator, trial, field, value):
    participant = helpers.enrolled(trial)
    body = {"full_name": "Jamie Doe", "email": "jamie@example.org", field: value}
    answer = api(coordinator).put(f"{BASE}/participants/{participant.pk}/contact/", body, format="json")
    assert answer.status_code == 400 and field in answer.json()
    assert ContactDetails.objects.get(participant=participant).email == "jamie@example.org"  # nothing written


def test_a_body_nested_too_deep_is_a_400_in_the_error_format_on_every_endpoint(api, coordinator, trial):
    participant = helpers.eligible(trial)
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("screenings/", f"participants/{participant.pk}/consent/", f"participants/{participant.pk}/enroll/"):
        answer = api(coordinator).generic("POST", f"{BASE}/{path}", deep, content_type="application/json")
        assert answer.status_code == 400, (path, answer.content)
        assert answer.json()["code"] == "parse_error" and "nested" in answer.json()["detail"]
    chatbot = APIClient().generic("POST", "/api/v1/chatbot/therabot/sessions/", deep, content_type="application/json")
    assert chatbot.status_code in (400, 401) and set(chatbot.json()) >= {"detail", "code"}


def test_publishing_a_consent_version_twice_is_a_conflict(api, investigator, trial):
    body = {"version": "2.0", "text": "Consent, amended."}
    first = api(investigator).post(f"{BASE}/consent-documents/", body, format="json")
    again = api(investigator).post(f"{BASE}/consent-documents/", body, format="json")
    assert first.status_code == 201
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert again.json()["errors"] == {"version": ["Version '2.0' of the consent document already exists."]}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_publishers_of_one_version_at_once_get_one_201_and_nine_409s(api, investigator, trial):
    barrier = threading.Barrier(10)

    def publish(_: int) -> tuple[int, str]:
        try:
            client = api(investigator)
            barrier.wait()
            answer = client.post(f"{BASE}/consent-documents/", {"version": "3.0", "text": "Again."}, format="json")
            return answer.status_code, answer.json().get("code", "")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = sorted(pool.map(publish, range(10)))
    assert results == [(201, "")] + [(409, "conflict")] * 9
    assert ConsentDocument.objects.filter(trial=trial, version="3.0").count() == 1


def _schema(api: Any) -> dict[str, Any]:
    """The OpenAPI document, as staff read it (it is for staff only)."""
    staff = get_user_model().objects.create_user(username="docs-reader", email="docs@example.org", is_staff=True)
    response = api(staff).get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(response.json())


def test_the_schema_allows_null_reminders_for_readers_who_see_no_arm(api, trial):
    schema = _schema(api)
    field = schema["components"]["schemas"]["AssessmentOut"]["properties"]["reminders_sent"]
    assert field.get("nullable") is True


def test_every_operation_documents_its_refusals_in_the_error_format(api, investigator, trial):
    schema = _schema(api)
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= documented, (method, path)
            if method in ("post", "put"):
                assert "409" in documented, (method, path)
    # Django's own 404 (an unknown trial) answers in that format too.
    missing = api(investigator).get("/api/v1/trials/no-such-trial/")
    assert missing.status_code == 404 and missing.json() == {"detail": "No such trial.", "code": "not_found"}


@pytest.mark.parametrize("path", ["/api/v1/tokens/-567/", "/api/v1/no-such-thing/", "/api/v1/trials/therabot/x/"])
def test_an_api_address_no_route_matches_answers_in_the_error_format(api, coordinator, path):
    response = api(coordinator).delete(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
