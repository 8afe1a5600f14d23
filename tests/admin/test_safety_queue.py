"""A safety clinician works an alert through the admin: from the e-mailed link to resolution."""

from __future__ import annotations

import pytest
from django.urls import reverse

from participants.models import AlertSource, SafetyAlert
from participants.services.safety import safety_alert_raise
from tests import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(trial):
    return safety_alert_raise(
        participant=helpers.enrolled(trial), source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation", dedupe_key="x"
    )


def _staff(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_a_clinician_acknowledges_records_contact_and_resolves(client, clinician, alert):
    _staff(client, clinician)
    page = client.get(reverse("admin:participants_safetyalert_change", args=[alert.pk]))
    assert page.status_code == 200
    assert b"Acknowledge" in page.content and b"Record contact and risk" in page.content

    assert client.post(reverse("admin:participants_safetyalert_acknowledge", args=[alert.pk])).status_code == 302
    bad = client.post(
        reverse("admin:participants_safetyalert_contact", args=[alert.pk]), {"notes": "", "risk_level": "low"}
    )
    assert bad.status_code == 200 and bad.context["form"].errors["notes"]
    client.post(
        reverse("admin:participants_safetyalert_contact", args=[alert.pk]),
        {"notes": "Phoned; safety plan reviewed", "risk_level": "low"},
    )
    client.post(reverse("admin:participants_safetyalert_resolve", args=[alert.pk]), {"resolution": "Low risk"})
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.risk_level, alert.resolution) == (
        "resolved",
        clinician,
        "low",
        "Low risk",
    )


def test_the_queue_is_for_safety_roles_of_the_trial_only(client, coordinator, outsider, alert):
    _staff(client, coordinator)
    assert client.get(reverse("admin:participants_safetyalert_changelist")).status_code == 403
    assert client.post(reverse("admin:participants_safetyalert_acknowledge", args=[alert.pk])).status_code in (403, 404)
    _staff(client, outsider)
    assert client.get(reverse("admin:participants_safetyalert_change", args=[alert.pk])).status_code in (403, 404)
    assert SafetyAlert.objects.get().status == "open"


def test_visit_questionnaires_are_edited_on_the_visit_page(client, investigator, trial):
    _staff(client, investigator)
    visit = trial.visits.get(code="week4")
    page = client.get(reverse("admin:trial_visitdefinition_change", args=[visit.pk]))
    assert page.status_code == 200
    assert b"waisr" in page.content
