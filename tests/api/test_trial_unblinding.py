"""Unblinding the whole trial takes two authorised people, after recruitment closes or in an emergency,
and every investigator and administrator hears of each step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tests import helpers
from trial import clock
from trial.models import AuditEvent, Role, Trial
from trial.services import trial_set_status

BASE = "/api/v1/trials/therabot"


@pytest.fixture
def second_investigator(trial):
    user = get_user_model().objects.create_user("iris", email="iris@example.org")
    helpers.grant(trial, user, Role.INVESTIGATOR)
    return user


@pytest.fixture
def closed(trial):
    return trial_set_status(trial=trial, status="closed", by=None)


def _unblinded(trial: Trial) -> bool:
    trial.refresh_from_db()
    return trial.unblinded_at is not None


def test_one_person_alone_cannot_unblind_the_trial(api, closed, investigator, blinded_statistician):
    asked = api(investigator).post(f"{BASE}/unblind/", {"reason": "Database locked"}, format="json")
    assert asked.status_code == 202
    assert asked.json()["status"] == "pending" and asked.json()["requested_by"] == "ivan"
    assert not _unblinded(closed)

    own = api(investigator).post(f"{BASE}/unblind/{asked.json()['id']}/confirm/", {}, format="json")
    assert own.status_code == 403 and own.json()["code"] == "second_person_required"
    assert not _unblinded(closed)
    arms = api(blinded_statistician).get(f"{BASE}/").json()["arms"]
    assert [a["code"] for a in arms] == ["A", "B"]


def test_a_second_person_confirms_and_everyone_responsible_is_told(
    api,
    trial,
    investigator,
    second_investigator,
    administrator,
    coordinator,
    blinded_statistician,
    django_capture_on_commit_callbacks,
):
    participant = helpers.randomized(trial)
    trial_set_status(trial=trial, status="closed", by=None)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        asked = api(investigator).post(f"{BASE}/unblind/", {"reason": "Final analysis"}, format="json").json()
    requested = [m for m in mail.outbox if "Request to unblind" in m.subject]
    assert sorted(m.to[0] for m in requested) == ["ada@example.org", "iris@example.org", "ivan@example.org"]
    assert "Final analysis" in requested[0].body

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = api(second_investigator).post(
            f"{BASE}/unblind/{asked['id']}/confirm/", {"note": "Agreed at the steering committee"}, format="json"
        )
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], confirmed.json()["decided_by"]) == ("confirmed", "iris")
    assert _unblinded(trial)
    arm = api(blinded_statistician).get(f"{BASE}/participants/{participant.pk}/").json()["allocation"]["arm"]
    assert arm in {"chatbot", "waitlist"}
    notices = [m for m in mail.outbox if "unblinding confirmed" in m.subject]
    assert sorted(m.to[0] for m in notices) == ["ada@example.org", "iris@example.org", "ivan@example.org"]
    assert "carol@example.org" not in {m.to[0] for m in mail.outbox}  # the coordinator enrolls: not told

    actions = list(
        AuditEvent.objects.filter(trial=trial, action__startswith="trial.unblind").values_list("action", "actor_label")
    )
    assert sorted(actions) == [("trial.unblind", "iris"), ("trial.unblind_request", "ivan")]
    listed = api(administrator).get(f"{BASE}/unblind/").json()
    assert [(r["id"], r["status"]) for r in listed] == [(asked["id"], "confirmed")]
    again = api(administrator).post(f"{BASE}/unblind/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and "already unblinded" in again.json()["detail"]


def test_a_recruiting_trial_is_unblinded_only_with_an_emergency_reason(api, trial, investigator, administrator):
    refused = api(investigator).post(f"{BASE}/unblind/", {"reason": "Curious"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "trial_not_closed" and "emergency_reason" in refused.json()["errors"]
    assert not AuditEvent.objects.filter(action="trial.unblind_request").exists()

    emergency = "DMC recommends stopping for harm in one arm"
    asked = api(investigator).post(
        f"{BASE}/unblind/", {"reason": "DMC decision", "emergency_reason": emergency}, format="json"
    )
    assert asked.status_code == 202 and asked.json()["emergency_reason"] == emergency
    assert emergency in AuditEvent.objects.get(action="trial.unblind_request").reason
    confirmed = api(administrator).post(f"{BASE}/unblind/{asked.json()['id']}/confirm/", {}, format="json")
    assert confirmed.status_code == 200 and _unblinded(trial)


def test_a_rejection_keeps_the_trial_blinded_and_a_request_expires(
    api, closed, investigator, second_investigator, coordinator
):
    first = api(investigator).post(f"{BASE}/unblind/", {"reason": "Final analysis"}, format="json").json()
    assert api(investigator).post(f"{BASE}/unblind/", {"reason": "twice"}, format="json").json()["code"] == (
        "request_pending"
    )
    no_reason = api(second_investigator).post(f"{BASE}/unblind/{first['id']}/reject/", {}, format="json")
    assert no_reason.status_code == 400 and "note" in no_reason.json()["errors"]
    rejected = api(second_investigator).post(
        f"{BASE}/unblind/{first['id']}/reject/", {"note": "Lock the database first"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    decided = api(second_investigator).post(f"{BASE}/unblind/{first['id']}/confirm/", {}, format="json")
    assert decided.status_code == 409 and decided.json()["code"] == "not_pending"
    assert not _unblinded(closed)
    assert AuditEvent.objects.filter(action="trial.unblind_reject", actor_label="iris").exists()

    second = api(investigator).post(f"{BASE}/unblind/", {"reason": "Final analysis"}, format="json").json()
    with clock.use(clock.SimulatedClock(clock.now() + timedelta(days=8))):
        assert api(investigator).get(f"{BASE}/unblind/").json()[0]["status"] == "expired"
        expired = api(second_investigator).post(f"{BASE}/unblind/{second['id']}/confirm/", {}, format="json")
    assert expired.status_code == 409 and expired.json()["code"] == "not_pending"
    assert not _unblinded(closed)

    assert api(coordinator).post(f"{BASE}/unblind/", {"reason": "x"}, format="json").status_code == 403
    assert api(second_investigator).post(f"{BASE}/unblind/99999/confirm/", {}, format="json").status_code == 404
