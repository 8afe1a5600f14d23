"""Safety alerts left the admin for the workspace (tests/workspace/test_safety.py): the admin has no alert
pages, so no internal field of an alert can be edited there."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from participants.models import AdverseEvent, SafetyAlert

pytestmark = pytest.mark.django_db


def test_alerts_and_adverse_events_are_not_in_the_admin(client, administrator):
    administrator.is_staff = True
    administrator.save()
    client.force_login(administrator)
    assert not admin.site.is_registered(SafetyAlert)
    assert not admin.site.is_registered(AdverseEvent)
    assert client.get("/admin/participants/safetyalert/").status_code == 404


def test_visit_questionnaires_are_edited_on_the_visit_page(client, investigator, trial):
    investigator.is_staff = True
    investigator.save()
    client.force_login(investigator)
    visit = trial.visits.get(code="week4")
    page = client.get(reverse("admin:trial_visitdefinition_change", args=[visit.pk]))
    assert page.status_code == 200
    assert b"waisr" in page.content
