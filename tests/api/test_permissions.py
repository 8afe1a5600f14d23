"""Every endpoint for every role, including outsiders (404: the trial's existence is not revealed) and
anonymous callers (401)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from participants import services
from tests import helpers

pytestmark = pytest.mark.django_db

ROLES = ["coordinator", "investigator", "blinded_statistician", "unblinded_statistician", "clinician", "administrator"]
MEMBERS = set(ROLES)
ENROLLERS = {"coordinator", "investigator"}
MANAGERS = {"investigator", "administrator"}
CONTACT_READERS = {"coordinator", "investigator", "clinician", "administrator"}
UNBLINDERS = {"investigator", "clinician", "administrator"}
EXPORTERS = {"investigator", "blinded_statistician", "unblinded_statistician", "administrator"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {slug}, {pk}
    allowed: set[str]
    ok: int = 200
    state: str = ""  # participant state needed
    body: dict[str, Any] = field(default_factory=dict)


ENDPOINTS = [
    Endpoint("trial detail", "get", "/api/v1/trials/{slug}/", MEMBERS),
    Endpoint("trial status", "post", "/api/v1/trials/{slug}/status/", MANAGERS, body={"status": "closed"}),
    Endpoint(
        "trial unblind",
        "post",
        "/api/v1/trials/{slug}/unblind/",
        MANAGERS,
        ok=202,
        body={"reason": "Stopping early", "emergency_reason": "DMC recommends stopping for harm"},
    ),
    Endpoint("trial unblind requests", "get", "/api/v1/trials/{slug}/unblind/", MANAGERS),
    Endpoint("consent documents", "get", "/api/v1/trials/{slug}/consent-documents/", MEMBERS),
    Endpoint(
        "publish consent",
        "post",
        "/api/v1/trials/{slug}/consent-documents/",
        MANAGERS,
        ok=201,
        body={"version": "2.0", "text": "Amended", "requires_reconsent": True},
    ),
    Endpoint("audit trail", "get", "/api/v1/trials/{slug}/audit/", MANAGERS),
    Endpoint(
        "screen", "post", "/api/v1/trials/{slug}/screenings/", ENROLLERS, ok=201, body={"answers": helpers.answers()}
    ),
    Endpoint("participant list", "get", "/api/v1/trials/{slug}/participants/", MEMBERS),
    Endpoint("export long", "get", "/api/v1/trials/{slug}/exports/long.csv", EXPORTERS, state="randomized"),
    Endpoint("participant detail", "get", "/api/v1/trials/{slug}/participants/{pk}/", MEMBERS, state="randomized"),
    Endpoint(
        "consent",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/consent/",
        ENROLLERS,
        ok=201,
        state="eligible",
        body={"signed_name": "Jamie Doe"},
    ),
    Endpoint(
        "enroll",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/enroll/",
        ENROLLERS,
        state="consented",
        body={"contact": {"full_name": "Jamie Doe", "email": "jamie@example.org", "timezone": "America/Chicago"}},
    ),
    Endpoint(
        "randomize", "post", "/api/v1/trials/{slug}/participants/{pk}/randomize/", ENROLLERS, ok=201, state="enrolled"
    ),
    Endpoint(
        "withdraw",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/withdraw/",
        ENROLLERS,
        state="randomized",
        body={"reason": "Moved abroad"},
    ),
    Endpoint(
        "lost",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/lost-to-follow-up/",
        ENROLLERS,
        state="randomized",
        body={"reason": "No reply"},
    ),
    Endpoint(
        "return",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/return/",
        ENROLLERS,
        state="lost",
        body={"reason": "Called back"},
    ),
    Endpoint("complete", "post", "/api/v1/trials/{slug}/participants/{pk}/complete/", ENROLLERS, state="randomized"),
    Endpoint(
        "unblind",
        "post",
        "/api/v1/trials/{slug}/participants/{pk}/unblind/",
        UNBLINDERS,
        state="randomized",
        body={"reason": "Emergency"},
    ),
    Endpoint("contact", "get", "/api/v1/trials/{slug}/participants/{pk}/contact/", CONTACT_READERS, state="randomized"),
    # Engagement tells the arm: in this masked trial only those who see arms as they are may read it.
    Endpoint(
        "engagement",
        "get",
        "/api/v1/trials/{slug}/participants/{pk}/engagement/",
        {"unblinded_statistician", "administrator"},
        state="randomized",
    ),
    Endpoint(
        "update contact",
        "put",
        "/api/v1/trials/{slug}/participants/{pk}/contact/",
        ENROLLERS,
        state="randomized",
        body={"full_name": "Jamie Doe", "email": "new@example.org"},
    ),
]


@pytest.fixture
def masked_trial(db):
    # Masked, so that emergency unblinding can succeed for the roles allowed to do it.
    return helpers.open_reference_trial(open_label=False)


def _participant(trial, state: str):
    if state == "eligible":
        return helpers.eligible(trial)
    if state == "consented":
        return helpers.consented(trial)
    if state == "enrolled":
        return helpers.ready_to_randomize(trial)
    participant = helpers.randomized(trial)
    if state == "lost":
        services.participant_mark_lost(participant=participant, reason="No reply", by=None)
    return participant


def _call(client, endpoint: Endpoint, trial, participant):
    path = endpoint.path.format(slug=trial.slug, pk=participant.pk if participant else 0)
    return getattr(client, endpoint.method)(path, endpoint.body, format="json")


@pytest.mark.parametrize("role", [*ROLES, "outsider", "anonymous"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_for_every_role(endpoint, role, request, api, masked_trial, other_trial):
    user = None
    if role == "outsider":
        user = request.getfixturevalue("outsider")
    elif role != "anonymous":
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user(role)
        helpers.grant(masked_trial, user, {"clinician": "safety_clinician"}.get(role, role))
    participant = _participant(masked_trial, endpoint.state) if endpoint.state else None

    response = _call(api(user), endpoint, masked_trial, participant)

    if role == "anonymous":
        assert response.status_code == 401
    elif role == "outsider":
        assert response.status_code == 404, response.content
    elif role in endpoint.allowed:
        assert response.status_code == endpoint.ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert "do not allow" in response.json()["detail"]


def test_the_trial_list_shows_only_the_callers_trials(api, coordinator, outsider, trial, other_trial):
    assert [t["slug"] for t in api(coordinator).get("/api/v1/trials/").json()["results"]] == ["therabot"]
    assert [t["slug"] for t in api(outsider).get("/api/v1/trials/").json()["results"]] == ["other-trial"]
    assert api(None).get("/api/v1/trials/").status_code == 401


def test_an_outsider_cannot_reach_a_participant_through_their_own_trial(api, outsider, trial, other_trial):
    participant = helpers.randomized(trial)
    response = api(outsider).get(f"/api/v1/trials/{other_trial.slug}/participants/{participant.pk}/")
    assert response.status_code == 404
    response = api(outsider).post(
        f"/api/v1/trials/{other_trial.slug}/participants/{participant.pk}/withdraw/", {"reason": "x"}
    )
    assert response.status_code == 404
    participant.refresh_from_db()
    assert participant.status == "randomized"
