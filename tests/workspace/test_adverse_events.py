"""Adverse events in the workspace: the roles that handle safety list, record (from an alert or on their
own) and follow up events; a repeated submission records one event; nobody else reaches the pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from participants.models import AdverseEvent, AlertSource, OutboxMessage
from participants.services.adverse_events import SERIOUS_KIND, adverse_event_record
from participants.services.safety import safety_alert_raise
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = pytest.mark.django_db

ARM_WORDS = ("Therapy chatbot", "Waitlist control", "waitlist", "Arm A", "Arm B")


def _form(client: Any, path: str) -> dict[str, str]:
    page = client.get(path).content.decode()
    return {"once": re.search(r'name="once" value="([^"]+)"', page).group(1)}  # type: ignore[union-attr]


def _post_data(study_id: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "study_id": study_id,
        "description": "Sleep worse for a week",
        "onset_date": (clock.now().date() - timedelta(days=3)).isoformat(),
        "severity": "mild",
        "relatedness": "unlikely",
        "outcome": "recovering",
        "action_taken": "",
        "resolved_date": "",
        "once": uuid.uuid4().hex,  # the form's one-time key: a new form each time
    }
    return {**data, **overrides}


@pytest.fixture
def event(trial: Any, clinician: Any) -> Any:
    return adverse_event_record(
        participant=helpers.enrolled(trial),
        by=clinician,
        description="Headache",
        onset_date=clock.now().date(),
        severity="mild",
        relatedness="not_related",
        outcome="recovering",
    )


def _paths(trial: Any, event: Any) -> list[str]:
    base = f"/workspace/{trial.slug}/adverse-events/"
    return [base, base + "new/", f"{base}{event.pk}/"]


def test_the_safety_roles_reach_the_pages(
    web: Any, trial: Any, event: Any, clinician: Any, investigator: Any, administrator: Any
) -> None:
    for user in (clinician, investigator, administrator):
        for path in _paths(trial, event):
            assert web(user).get(path).status_code == 200, (user, path)


def test_other_roles_get_403_and_outsiders_404(
    web: Any, trial: Any, event: Any, coordinator: Any, blinded_statistician: Any, unblinded_statistician: Any,
    outsider: Any,
) -> None:  # fmt: skip
    for user in (coordinator, blinded_statistician, unblinded_statistician):
        for path in _paths(trial, event):
            assert web(user).get(path).status_code == 403
            assert web(user).post(path, _post_data(event.participant.study_id)).status_code == 403
    for path in _paths(trial, event):
        assert web(outsider).get(path).status_code == 404
        assert web(outsider).post(path, _post_data(event.participant.study_id)).status_code == 404
    assert AdverseEvent.objects.count() == 1


def test_a_clinician_records_an_event_once_however_often_the_form_is_sent(
    web: Any, trial: Any, clinician: Any, investigator: Any
) -> None:
    participant = helpers.enrolled(trial)
    client = web(clinician)
    path = f"/workspace/{trial.slug}/adverse-events/new/"
    data = {**_form(client, path), **_post_data(participant.study_id, seriousness=["hospitalisation"])}
    first = client.post(path, data)
    assert first.status_code == 302
    event = AdverseEvent.objects.get()
    assert first["Location"] == f"/workspace/{trial.slug}/adverse-events/{event.pk}/"
    page = client.get(first["Location"]).content.decode()
    assert "Adverse event recorded. The investigators are being notified." in page
    assert "Required or prolonged hospitalisation" in page
    again = client.post(path, data)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert AdverseEvent.objects.count() == 1
    reloaded = {**_form(client, path), **_post_data(participant.study_id, seriousness=["hospitalisation"])}
    assert client.post(path, reloaded)["Location"] == first["Location"]  # a new token, the same values
    assert AdverseEvent.objects.count() == 1
    assert event.serious and event.recorded_by == clinician
    assert OutboxMessage.objects.filter(kind=SERIOUS_KIND).count() == 2  # clara and ivan


def test_the_form_names_what_is_missing_or_inconsistent(web: Any, trial: Any, clinician: Any) -> None:
    participant = helpers.enrolled(trial)
    client = web(clinician)
    path = f"/workspace/{trial.slug}/adverse-events/new/"
    response = client.post(path, _post_data(participant.study_id, severity="", relatedness="", outcome=""))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Severity: Choose the severity." in page
    assert "Relatedness to the intervention: Choose the relatedness" in page
    assert "Outcome: Choose the outcome." in page
    response = client.post(path, _post_data(participant.study_id, outcome="recovered"))
    assert "Resolved date: An outcome of &#x27;Recovered&#x27; needs the date the event resolved." in (
        response.content.decode()
    )
    onset = clock.now().date() - timedelta(days=3)
    response = client.post(
        path,
        _post_data(participant.study_id, outcome="recovered", resolved_date=(onset - timedelta(days=1)).isoformat()),
    )
    assert "The resolved date cannot be before the onset date." in response.content.decode()
    response = client.post(path, _post_data("NOPE-1"))
    assert "No participant of this trial has that study ID." in response.content.decode()
    assert not AdverseEvent.objects.exists()


def test_the_severity_and_outcome_have_no_default(web: Any, trial: Any, clinician: Any) -> None:
    page = web(clinician).get(f"/workspace/{trial.slug}/adverse-events/new/").content.decode()
    assert "checked" not in page
    assert '<option value="" selected>Choose…</option>' in page


def test_an_event_is_recorded_from_an_alert(web: Any, trial: Any, clinician: Any) -> None:
    participant = helpers.enrolled(trial)
    alert = safety_alert_raise(
        participant=participant, source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation", dedupe_key="a:1"
    )
    client = web(clinician)
    path = f"/workspace/{trial.slug}/adverse-events/new/?alert={alert.pk}"
    page = client.get(path).content.decode()
    assert f'value="{participant.study_id}"' in page and f'name="alert" value="{alert.pk}"' in page
    data = {**_form(client, path), **_post_data(participant.study_id), "alert": str(alert.pk)}
    assert client.post(f"/workspace/{trial.slug}/adverse-events/new/", data).status_code == 302
    event = AdverseEvent.objects.get()
    assert event.alert == alert
    alert_page = client.get(f"/workspace/{trial.slug}/safety/{alert.pk}/").content.decode()
    assert f"/workspace/{trial.slug}/adverse-events/{event.pk}/" in alert_page


def test_an_alert_of_another_trial_is_ignored(web: Any, trial: Any, other_trial: Any, clinician: Any) -> None:
    foreign = safety_alert_raise(
        participant=helpers.enrolled(other_trial), source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation",
        dedupe_key="f:1",
    )  # fmt: skip
    page = web(clinician).get(f"/workspace/{trial.slug}/adverse-events/new/?alert={foreign.pk}").content.decode()
    assert 'name="alert"' not in page


def test_a_follow_up_updates_the_event(web: Any, trial: Any, clinician: Any, event: Any) -> None:
    client = web(clinician)
    path = f"/workspace/{trial.slug}/adverse-events/{event.pk}/"
    data = _post_data(
        "", description="Headache", onset_date=event.onset_date.isoformat(), relatedness="not_related",
        outcome="recovered", resolved_date=clock.now().date().isoformat(), reason="Follow-up call",
    )  # fmt: skip
    response = client.post(path, data)
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.outcome == "recovered" and event.resolved_date == clock.now().date()


def test_the_list_shows_the_trials_events(web: Any, trial: Any, clinician: Any, event: Any) -> None:
    page = web(clinician).get(f"/workspace/{trial.slug}/adverse-events/").content.decode()
    assert event.participant.study_id in page and "Headache" in page
    serious_only = web(clinician).get(f"/workspace/{trial.slug}/adverse-events/?serious=1").content.decode()
    assert "Headache" not in serious_only


def test_a_masked_clinician_sees_no_arm(web: Any, clinician: Any) -> None:
    trial = helpers.open_reference_trial(slug="masked-trial", study_id_prefix="MT", open_label=False)
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    event = adverse_event_record(
        participant=helpers.randomized(trial), by=clinician, description="Headache", onset_date=clock.now().date(),
        severity="mild", relatedness="not_related", outcome="recovering",
    )  # fmt: skip
    for path in _paths(trial, event):
        page = web(clinician).get(path).content.decode().replace(trial.title, "")
        assert not [w for w in ARM_WORDS if w in page], path


def test_the_list_costs_the_same_queries_for_3_or_12_events(
    web: Any, trial: Any, clinician: Any, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = web(clinician)

    def count(n: int) -> int:
        for _ in range(n):
            adverse_event_record(
                participant=helpers.enrolled(trial), by=clinician, description="x", onset_date=clock.now().date(),
                severity="mild", relatedness="not_related", outcome="unknown",
            )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/workspace/{trial.slug}/adverse-events/").status_code == 200
        return len(queries)

    assert count(3) == count(9)
    with django_assert_max_num_queries(8):
        client.get(f"/workspace/{trial.slug}/adverse-events/")
