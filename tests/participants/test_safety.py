"""Safety alerts reach a clinician at once, are worked through a queue, and escalate when ignored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from participants.messaging import outbox_deliver_due
from participants.models import AlertSource, SafetyAlert
from participants.services.safety import (
    safety_alert_acknowledge,
    safety_alert_raise,
    safety_alert_record_contact,
    safety_alert_resolve,
    safety_alerts_escalate_due,
)
from tests import helpers
from trial.errors import Conflict, DomainError

pytestmark = pytest.mark.django_db


def _raise(participant, urgent=False, key="k1"):
    return safety_alert_raise(
        participant=participant,
        source=AlertSource.QUESTIONNAIRE,
        flag="suicidal_ideation",
        urgent=urgent,
        dedupe_key=key,
    )


def test_an_alert_e_mails_the_safety_clinicians_at_once(trial, clinician, coordinator):
    participant = helpers.enrolled(trial)
    alert = _raise(participant)
    assert _raise(participant) is None  # the same signal raises one alert
    outbox_deliver_due()
    alert_mail = [m for m in mail.outbox if "Safety alert" in m.subject]
    assert [m.to for m in alert_mail] == [["clara@example.org"]]
    body = alert_mail[0].body
    assert str(participant) in body and f"/workspace/{trial.slug}/safety/{alert.pk}/" in body
    assert "jamie@example.org" not in body  # contact details are not e-mailed


def test_without_a_safety_clinician_the_investigators_are_told(trial, investigator):
    _raise(helpers.enrolled(trial))
    outbox_deliver_due()
    assert [m.to for m in mail.outbox if "Safety alert" in m.subject] == [["ivan@example.org"]]


def test_the_queue_records_acknowledgement_contact_risk_and_resolution(trial, clinician):
    alert = _raise(helpers.enrolled(trial))
    with pytest.raises(DomainError, match="Record the contact"):
        safety_alert_resolve(alert=alert, by=clinician, resolution="Fine")
    acknowledged = safety_alert_acknowledge(alert=alert, by=clinician)
    assert acknowledged.acknowledged_by == clinician and acknowledged.time_to_acknowledge is not None
    with pytest.raises(Conflict, match="already acknowledged"):
        safety_alert_acknowledge(alert=alert, by=clinician)
    with pytest.raises(DomainError) as caught:
        safety_alert_record_contact(alert=alert, by=clinician, notes="Called", risk_level="unsure")
    assert caught.value.field == "risk_level"
    safety_alert_record_contact(alert=alert, by=clinician, notes="Phoned, safety plan agreed", risk_level="low")
    resolved = safety_alert_resolve(alert=alert, by=clinician, resolution="Low risk; follow-up call booked")
    assert (resolved.status, resolved.risk_level, resolved.resolved_by) == ("resolved", "low", clinician)


def test_an_unacknowledged_alert_escalates_after_24_hours_and_urgent_ones_after_one(trial, clinician, investigator):
    participant = helpers.enrolled(trial)
    routine = _raise(participant, key="a")
    urgent = _raise(participant, urgent=True, key="b")
    assert safety_alerts_escalate_due(now=urgent.raised_at + timedelta(minutes=59)) == 0
    assert safety_alerts_escalate_due(now=urgent.raised_at + timedelta(hours=1)) == 1
    assert safety_alerts_escalate_due(now=routine.raised_at + timedelta(hours=24)) == 1
    assert safety_alerts_escalate_due(now=routine.raised_at + timedelta(hours=48)) == 0  # once
    mail.outbox.clear()
    outbox_deliver_due()
    escalations = [m for m in mail.outbox if "ESCALATED" in m.subject]
    assert sorted(m.to[0] for m in escalations) == sorted(["clara@example.org", "ivan@example.org"] * 2)


def test_an_acknowledged_alert_does_not_escalate(trial, clinician):
    alert = _raise(helpers.enrolled(trial))
    safety_alert_acknowledge(alert=alert, by=clinician)
    assert safety_alerts_escalate_due(now=alert.raised_at + timedelta(days=3)) == 0


def test_clinicians_work_the_queue_through_the_api(api, clinician, coordinator, trial):
    alert = _raise(helpers.enrolled(trial))
    base = "/api/v1/trials/therabot/safety-alerts/"
    assert api(coordinator).get(base).status_code == 403
    listed = api(clinician).get(base, {"status": "open"}).json()
    assert [a["id"] for a in listed["results"]] == [alert.pk]
    assert api(clinician).post(f"{base}{alert.pk}/acknowledge/").json()["minutes_to_acknowledge"] is not None
    contact = api(clinician).post(
        f"{base}{alert.pk}/contact/", {"notes": "Called", "risk_level": "moderate"}, format="json"
    )
    assert contact.status_code == 200 and contact.json()["risk_level"] == "moderate"
    missing = api(clinician).post(f"{base}{alert.pk}/resolve/", {}, format="json")
    assert missing.status_code == 400 and "resolution" in missing.json()
    done = api(clinician).post(f"{base}{alert.pk}/resolve/", {"resolution": "Referred to GP"}, format="json")
    assert done.json()["status"] == "resolved"
    assert SafetyAlert.objects.get().resolution == "Referred to GP"
