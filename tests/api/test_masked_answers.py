"""In a masked trial, staff who enter answers must not learn the arm from what the API accepts or says:
one arm's questionnaire (the alliance scale) is as absent for every participant, in errors and in
corrections, until the participant is emergency-unblinded."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from assessments.models import Response, ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants.services.unblinding import participant_unblind
from tests import helpers
from trial.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def masked():
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    people = [helpers.randomized(trial) for _ in range(6)]  # a whole block at most: both arms
    for person in people:
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
        sweep(now=visit.opens_at, deliver=False)
    coordinator = get_user_model().objects.create_user(username="mick", email="mick@example.org")
    helpers.grant(trial, coordinator, Role.COORDINATOR)
    return trial, people, coordinator


def _post(api, user, person, body):
    visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
    url = f"/api/v1/trials/masked/participants/{person.pk}/assessments/{visit.public_id}/responses/"
    return api(user).post(url, body, format="json")


def test_one_arms_questionnaire_is_absent_for_every_participant_alike(api, masked):
    _trial, people, coordinator = masked
    waisr = {"instrument": "waisr", "answers": helpers.lowest_answers("waisr")}
    replies = {(r.status_code, r.json()["detail"]) for r in (_post(api, coordinator, p, waisr) for p in people)}
    assert replies == {(400, "Week 4 (end of treatment) has no 'waisr' questionnaire.")}
    assert not Response.objects.filter(instrument_code="waisr").exists()
    # A wrong code gets the same kind of answer, naming no questionnaire that is due.
    wrong = _post(api, coordinator, people[0], {"instrument": "nope", "answers": {}}).json()["detail"]
    assert wrong == "Week 4 (end of treatment) has no 'nope' questionnaire."
    # The shared questionnaires are entered as usual.
    assert (
        _post(
            api, coordinator, people[0], {"instrument": "phq9", "answers": helpers.lowest_answers("phq9")}
        ).status_code
        == 201
    )


def test_a_hidden_response_cannot_be_corrected_or_probed_until_the_participant_is_unblinded(api, masked):
    _trial, people, coordinator = masked
    chatbot = next(p for p in people if p.allocation.arm.code == "chatbot")
    visit = ScheduledAssessment.objects.get(participant=chatbot, visit__code="week4")
    hidden = response_submit(
        assessment=visit, instrument_code="waisr", answers=helpers.lowest_answers("waisr"), source="survey"
    )
    url = f"/api/v1/trials/masked/responses/{hidden.public_id}/corrections/"
    probe = api(coordinator).post(url, {"answers": {"zz": 1}, "reason": "probe"}, format="json")
    missing = api(coordinator).post(url.replace(str(hidden.public_id), str(uuid.uuid4())), {}, format="json")
    assert probe.status_code == missing.status_code == 404 and probe.json() == missing.json()  # alike
    investigator = get_user_model().objects.create_user(username="ines", email="ines@example.org")
    helpers.grant(_trial, investigator, Role.INVESTIGATOR)
    participant_unblind(participant=chatbot, reason="Clinical emergency", by=investigator)
    corrected = api(coordinator).post(
        url, {"answers": {**helpers.lowest_answers("waisr"), "waisr_1": 2}, "reason": "Misread"}, format="json"
    )
    assert corrected.status_code == 201 and corrected.json()["version"] == 2
