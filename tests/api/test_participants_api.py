from __future__ import annotations

import json
import re

import pytest

from participants.models import Participant
from tests import helpers
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db

BASE = "/api/v1/trials/therabot"


def test_a_coordinator_runs_the_whole_enrollment_through_the_api(api, coordinator, trial):
    client = api(coordinator)
    screened = client.post(
        f"{BASE}/screenings/", {"site": "online", "answers": helpers.answers("CHR-FED")}, format="json"
    )
    assert screened.status_code == 201
    pk = screened.json()["id"]
    assert screened.json()["status"] == "eligible" and screened.json()["study_id"] is None

    consented = client.post(
        f"{BASE}/participants/{pk}/consent/", {"signed_name": "Robin Roe", "version": "1.0"}, format="json"
    )
    assert consented.status_code == 201 and consented.json()["status"] == "consented"
    assert consented.json()["consent_current"] is True

    contact = {
        "full_name": "Robin Roe",
        "email": "robin@example.org",
        "phone": "+16035550111",
        "timezone": "America/Denver",
    }
    enrolled = client.post(f"{BASE}/participants/{pk}/enroll/", {"contact": contact}, format="json")
    assert enrolled.status_code == 200
    assert enrolled.json()["study_id"] == "TB-0001"
    assert "email" not in json.dumps(enrolled.json())  # contact details stay behind their own endpoint

    too_early = client.post(f"{BASE}/participants/{pk}/randomize/")
    assert too_early.status_code == 400 and too_early.json()["code"] == "baseline_incomplete"
    (baseline,) = client.get(f"{BASE}/participants/{pk}/assessments/").json()
    assert baseline["visit"] == "baseline" and baseline["status"] == "open"
    for code in baseline["instruments"]:
        submitted = client.post(
            f"{BASE}/participants/{pk}/assessments/{baseline['id']}/responses/",
            {"instrument": code, "answers": helpers.lowest_answers(code)},
            format="json",
        )
        assert submitted.status_code == 201, submitted.content

    randomized = client.post(f"{BASE}/participants/{pk}/randomize/")
    assert randomized.status_code == 201
    body = randomized.json()
    assert body["status"] == "randomized"
    assert body["allocation"]["arm"] in {"chatbot", "waitlist"}  # open label: the coordinator sees the arm
    assert body["allocation"]["masked"] is False

    again = client.post(f"{BASE}/participants/{pk}/randomize/")
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    assert client.get(f"{BASE}/participants/{pk}/contact/").json()["timezone"] == "America/Denver"


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_responses_to_enrolling_staff_never_reveal_the_block_structure(api, coordinator, trial):
    participant = helpers.ready_to_randomize(trial)
    client = api(coordinator)
    bodies = [
        client.post(f"{BASE}/participants/{participant.pk}/randomize/").json(),
        client.get(f"{BASE}/participants/{participant.pk}/").json(),
        client.get(f"{BASE}/participants/").json(),
        client.get(f"{BASE}/").json(),
    ]
    for body in bodies:
        keys = _keys(body)
        assert not {"block_index", "block_size", "sequence_number", "stratum", "state"} & keys
    assert bodies[3]["block_sizes"] is None


def test_unblinded_roles_see_the_block_sizes(api, unblinded_statistician, administrator, trial):
    assert api(unblinded_statistician).get(f"{BASE}/").json()["block_sizes"] == [2, 4, 6]
    assert api(administrator).get(f"{BASE}/").json()["block_sizes"] == [2, 4, 6]


def test_a_blinded_statistician_sees_arms_only_as_letters(api, blinded_statistician, unblinded_statistician, trial):
    participant = helpers.randomized(trial)
    blinded = api(blinded_statistician).get(f"{BASE}/participants/{participant.pk}/").json()["allocation"]
    real = api(unblinded_statistician).get(f"{BASE}/participants/{participant.pk}/").json()["allocation"]
    assert blinded["arm"] in {"A", "B"} and blinded["arm_name"] == f"Arm {blinded['arm']}"
    assert real["arm"] in {"chatbot", "waitlist"}
    arms = api(blinded_statistician).get(f"{BASE}/").json()["arms"]
    assert [a["code"] for a in arms] == ["A", "B"]
    assert all(a["is_control"] is None for a in arms)
    assert "chatbot" not in json.dumps(api(blinded_statistician).get(f"{BASE}/participants/").json())


def test_trial_unblinding_reveals_arms_to_the_blinded_statistician(
    api, blinded_statistician, investigator, administrator, trial
):
    participant = helpers.randomized(trial)
    trial_set_status(trial=trial, status="closed", by=None)
    asked = api(investigator).post(f"{BASE}/unblind/", {"reason": "Database locked"})
    assert asked.status_code == 202
    assert api(administrator).post(f"{BASE}/unblind/{asked.json()['id']}/confirm/").status_code == 200
    arm = api(blinded_statistician).get(f"{BASE}/participants/{participant.pk}/").json()["allocation"]["arm"]
    assert arm in {"chatbot", "waitlist"}


def test_in_a_masked_trial_staff_see_an_arm_only_after_emergency_unblinding(api, db):
    trial = helpers.open_reference_trial(slug="masked", open_label=False)
    from django.contrib.auth import get_user_model

    clinician = get_user_model().objects.create_user("clin")
    helpers.grant(trial, clinician, "safety_clinician")
    participant = helpers.randomized(trial)
    url = f"/api/v1/trials/masked/participants/{participant.pk}/"
    client = api(clinician)

    before = client.get(url).json()["allocation"]
    assert before == {"arm": None, "arm_name": None, "masked": True, "allocated_at": before["allocated_at"]}
    missing_reason = client.post(url + "unblind/", {}, format="json")
    assert missing_reason.status_code == 400 and "reason" in missing_reason.json()

    revealed = client.post(url + "unblind/", {"reason": "Hospitalised, treating team asks"}, format="json")
    assert revealed.status_code == 200
    assert revealed.json()["arm"] in {"chatbot", "waitlist"}
    assert client.get(url).json()["allocation"]["arm"] == revealed.json()["arm"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("screenings/", {"answers": helpers.answers(age="forty")}, "answers.age"),
        ("screenings/", {"answers": {**helpers.answers(), "condition": "OCD"}}, "answers.condition"),
        ("screenings/", {"site": "moon", "answers": helpers.answers()}, "site"),
        ("screenings/", {"language": "fr", "answers": helpers.answers()}, "language"),
        ("screenings/", {}, "answers"),
        # A blank PHQ-9 for an MDD screen: asked for, not recorded as "PHQ-9 below 10".
        ("screenings/", {"answers": helpers.answers(phq9_total=None)}, "answers.phq9_total"),
    ],
)
def test_bad_screening_input_gets_a_400_naming_the_field(api, coordinator, trial, path, body, field):
    response = api(coordinator).post(f"{BASE}/{path}", body, format="json")
    assert response.status_code == 400
    errors = response.json().get("errors", response.json())
    assert field in errors
    assert not Participant.objects.exists()


def test_a_screening_records_the_language_the_person_chose(api, coordinator, trial):
    spanish = api(coordinator).post(
        f"{BASE}/screenings/", {"language": "es", "answers": helpers.answers()}, format="json"
    )
    assert spanish.status_code == 201 and spanish.json()["language"] == "es"
    default = api(coordinator).post(f"{BASE}/screenings/", {"answers": helpers.answers()}, format="json")
    assert default.json()["language"] == trial.languages[0]
    assert Participant.objects.get(pk=spanish.json()["id"]).language == "es"


def test_bad_enrollment_input_gets_a_400_naming_the_field(api, coordinator, trial):
    participant = helpers.consented(trial)
    url = f"{BASE}/participants/{participant.pk}/enroll/"
    bad_email = api(coordinator).post(url, {"contact": {"full_name": "A B", "email": "nope"}}, format="json")
    assert bad_email.status_code == 400
    assert "email" in bad_email.json()["contact"]
    bad_tz = api(coordinator).post(
        url, {"contact": {"full_name": "A B", "email": "a@b.org", "timezone": "Nowhere"}}, format="json"
    )
    assert bad_tz.status_code == 400
    assert "contact.timezone" in bad_tz.json()["errors"]
    participant.refresh_from_db()
    assert participant.status == "consented" and participant.study_id is None


def test_an_invalid_transition_gets_a_409_saying_why(api, coordinator, trial):
    participant = helpers.eligible(trial)
    response = api(coordinator).post(f"{BASE}/participants/{participant.pk}/randomize/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert "eligible and cannot become randomized" in response.json()["detail"]


def test_malformed_json_is_a_400_not_a_500(api, coordinator, trial):
    response = api(coordinator).generic("POST", f"{BASE}/screenings/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_a_consent_time_in_the_future_is_refused(api, coordinator, trial):
    participant = helpers.eligible(trial)
    response = api(coordinator).post(
        f"{BASE}/participants/{participant.pk}/consent/",
        {"signed_name": "Jamie Doe", "signed_at": "2999-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert "signed_at" in response.json()["errors"]


def test_the_participant_list_filters_and_paginates(api, coordinator, trial, django_assert_max_num_queries):
    for condition in ["MDD", "GAD", "CHR-FED"] * 2:
        helpers.randomized(trial, condition=condition)
    helpers.eligible(trial)
    helpers.services.participant_screen(trial=trial, answers=helpers.answers(age=15), by=None)
    client = api(coordinator)

    with django_assert_max_num_queries(8):
        everyone = client.get(f"{BASE}/participants/").json()
    assert everyone["count"] == 8
    assert client.get(f"{BASE}/participants/", {"status": "ineligible"}).json()["count"] == 1
    both = client.get(f"{BASE}/participants/?status=eligible&status=ineligible").json()
    assert both["count"] == 2
    assert client.get(f"{BASE}/participants/", {"enrolled": "true"}).json()["count"] == 6
    assert client.get(f"{BASE}/participants/", {"study_id": "TB-0002"}).json()["results"][0]["study_id"] == "TB-0002"
    assert client.get(f"{BASE}/participants/", {"site": "online"}).json()["count"] == 8
    assert client.get(f"{BASE}/participants/", {"status": "dancing"}).status_code == 400
    first = client.get(f"{BASE}/participants/", {"page_size": 3}).json()
    third = client.get(f"{BASE}/participants/", {"page_size": 3, "page": 3}).json()
    assert [p["id"] for p in first["results"]] == [p["id"] for p in everyone["results"][:3]]
    assert len(third["results"]) == 2 and third["next"] is None
    assert client.get(f"{BASE}/participants/", {"page_size": 3, "page": 4}).status_code == 404


def test_the_list_query_count_does_not_grow_with_participants(api, coordinator, trial, django_assert_max_num_queries):
    for _ in range(25):
        helpers.randomized(trial)
    with django_assert_max_num_queries(8):
        assert api(coordinator).get(f"{BASE}/participants/").json()["count"] == 25


def test_scripts_authenticate_with_a_token(client, coordinator, trial):
    response = client.get("/api/v1/trials/", headers=helpers.api_auth_headers(coordinator))
    assert response.status_code == 200
    assert response.json()["results"][0]["slug"] == "therabot"
    assert client.get("/api/v1/trials/", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_the_audit_trail_is_visible_to_investigators(api, investigator, coordinator, trial):
    participant = helpers.enrolled(trial, by=coordinator)
    events = api(investigator).get(f"{BASE}/audit/").json()["results"]
    mine = [
        e for e in events if e["object_type"] == "participants.participant" and e["object_id"] == str(participant.pk)
    ]
    assert [e["action"] for e in mine] == ["participant.enroll", "participant.consent", "participant.screen"]
    assert {e["actor_label"] for e in mine} == {"carol"}
    filtered = api(investigator).get(f"{BASE}/audit/", {"action": "participant.consent"}).json()
    assert filtered["count"] == 1


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/trials/{slug}/screenings/" in (tmp_path / "schema.yml").read_text()


def test_the_openapi_schema_and_docs_are_served_to_staff(client, api, coordinator):
    coordinator.is_staff = True
    coordinator.save(update_fields=["is_staff"])
    schema = api(coordinator).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/trials/{slug}/participants/{id}/randomize/" in paths
    assert "/api/v1/trials/{slug}/screenings/" in paths
    client.force_login(coordinator)
    for page in ("/api/docs/", "/api/redoc/"):
        response = client.get(page)
        assert response.status_code == 200
        html = response.content.decode()
        # Served from this server (works offline), no CDN: scripts and style sheets under /static/ or the
        # page's own start-up script; no inline script, no other host.
        assert set(re.findall(r'(?:src|href)="(?!/static/)([^"]+)"', html)) <= {f"{page}?script="}
        assert "<script>" not in html and "//" not in html
    script = client.get("/api/docs/?script=")  # Swagger UI's start-up, a script file of its own
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_the_openapi_schema_and_docs_are_for_staff_only(client, api, coordinator):
    assert api(None).get("/api/schema/").status_code == 401
    assert api(coordinator).get("/api/schema/").status_code == 403  # a trial member, not staff
    for page in ("/api/docs/", "/api/redoc/"):
        anonymous = client.get(page)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(f"/admin/login/?next={page}")
    client.force_login(coordinator)
    assert client.get("/api/docs/").status_code == 302
    assert client.get("/api/docs/?script=").status_code == 302


def test_submitting_through_the_api_is_scoped_and_costs_a_fixed_number_of_statements(api, coordinator, trial):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assessments.models import ScheduledAssessment

    participant, other = helpers.enrolled(trial), helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant)
    other_baseline = ScheduledAssessment.objects.get(participant=other)
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=helpers.api_auth_headers(coordinator)["Authorization"])

    def submit(pk: int, assessment_id: object, code: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            reply = client.post(
                f"{BASE}/participants/{pk}/assessments/{assessment_id}/responses/",
                {"instrument": code, "answers": helpers.lowest_answers(code)},
                format="json",
            )
        return reply.status_code, len(captured)

    # Another participant's visit, under this participant's URL: not found, and nothing written.
    assert submit(participant.pk, other_baseline.public_id, baseline.instruments[0])[0] == 404
    assert not other_baseline.responses.exists()

    statuses, counts = zip(
        *(submit(participant.pk, baseline.public_id, code) for code in baseline.instruments), strict=True
    )
    assert set(statuses) == {201}
    baseline.refresh_from_db()
    assert baseline.status == "completed"
    # Token, membership, the scoped visit, the lock, earlier responses, the insert, the draft: the same for
    # every questionnaire (nothing grows with what was answered before); the last adds the completion.
    assert len(set(counts[:-1])) == 1 and counts[-1] == counts[0] + 1
    assert counts[0] <= 9, counts


def test_a_submission_or_correction_refused_for_its_body_still_raises_item_9(api, coordinator, clinician, trial):
    from assessments.models import ScheduledAssessment
    from participants.models import SafetyAlert

    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant)
    client = api(coordinator)
    url = f"{BASE}/participants/{participant.pk}/assessments/{baseline.public_id}/responses/"
    risk = {**helpers.lowest_answers("phq9"), "phq9_9": 3}
    refused = client.post(url, {"instrument": "phq9", "answers": risk, "source": "fax"}, format="json")
    assert refused.status_code == 400 and "source" in refused.json()
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.details["recorded"]) == ("suicidal_ideation_severe", False)
    for body in ({"instrument": 9, "answers": risk}, {"instrument": "phq9", "answers": [3]}, ["phq9"]):
        assert client.post(url, body, format="json").status_code == 400  # nothing to read: nothing raised
    recorded = client.post(url, {"instrument": "phq9", "answers": helpers.lowest_answers("phq9")}, format="json")
    correction = f"{BASE}/responses/{recorded.json()['id']}/corrections/"
    refused = client.post(correction, {"answers": {**helpers.lowest_answers("phq9"), "phq9_9": 1}}, format="json")
    assert refused.status_code == 400 and "reason" in json.dumps(refused.json())
    assert sorted(SafetyAlert.objects.values_list("flag", "details__recorded")) == [
        ("suicidal_ideation", False),
        ("suicidal_ideation_severe", False),
    ]
