"""Adverse events: recorded and followed up through services that validate and audit; a serious one is
notified at once to the trial's investigators and safety clinicians, without its description."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail

from participants.messaging import outbox_deliver_due
from participants.models import AdverseEvent, AlertSource, OutboxMessage
from participants.services.adverse_events import (
    SERIOUS_KIND,
    adverse_event_record,
    adverse_event_update,
    adverse_events_for,
)
from participants.services.safety import safety_alert_raise
from tests import helpers
from trial import clock
from trial.errors import DomainError
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db


def _today() -> date:
    return clock.now().date()


def _fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "description": "Panic attack after a session; seen by GP",
        "onset_date": _today() - timedelta(days=3),
        "severity": "moderate",
        "relatedness": "possible",
        "outcome": "recovering",
    }
    return {**values, **overrides}


def test_it_records_an_event_and_audits_it(trial: Any, clinician: Any) -> None:
    participant = helpers.enrolled(trial)
    event = adverse_event_record(participant=participant, by=clinician, **_fields(action_taken="  Referred  "))
    assert (event.serious, event.seriousness, event.action_taken) == (False, [], "Referred")
    assert event.recorded_by == clinician
    audit = AuditEvent.objects.get(action="adverse_event.record")
    assert audit.actor == clinician and audit.trial == trial
    assert audit.changes["severity"] == [None, "moderate"]
    assert list(adverse_events_for(participant)) == [event]
    assert not OutboxMessage.objects.filter(kind=SERIOUS_KIND).exists()  # not serious: nobody is paged


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "  "}, "description"),
        ({"onset_date": date(2999, 1, 1)}, "onset_date"),
        ({"severity": "grade 3"}, "severity"),
        ({"relatedness": ""}, "relatedness"),
        ({"outcome": "better"}, "outcome"),
        ({"seriousness": ["hospitalisation", "bad"]}, "seriousness"),
        ({"outcome": "recovered", "resolved_date": None}, "resolved_date"),
        ({"outcome": "recovering", "resolved_date": date(2020, 1, 1)}, "resolved_date"),
        ({"outcome": "recovered", "resolved_date": date(2000, 1, 1)}, "resolved_date"),  # before onset
        ({"outcome": "fatal", "resolved_date": None}, "resolved_date"),
        ({"outcome": "fatal", "resolved_date": "today", "seriousness": []}, "seriousness"),
        ({"seriousness": ["death"]}, "outcome"),
    ],
)
def test_it_refuses_an_inconsistent_event_naming_the_field(
    trial: Any, clinician: Any, overrides: dict[str, Any], field: str
) -> None:
    if overrides.get("resolved_date") == "today":
        overrides["resolved_date"] = _today()
    with pytest.raises(DomainError) as refused:
        adverse_event_record(participant=helpers.enrolled(trial), by=clinician, **_fields(**overrides))
    assert refused.value.field == field
    assert not AdverseEvent.objects.exists()


def test_it_refuses_an_alert_of_another_participant_and_a_participant_not_enrolled(trial: Any, clinician: Any) -> None:
    first, second = helpers.enrolled(trial), helpers.enrolled(trial)
    alert = safety_alert_raise(
        participant=first, source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation", dedupe_key="k"
    )
    with pytest.raises(DomainError) as refused:
        adverse_event_record(participant=second, by=clinician, alert=alert, **_fields())
    assert refused.value.field == "alert"
    with pytest.raises(DomainError):
        adverse_event_record(participant=helpers.eligible(trial), by=clinician, **_fields())
    event = adverse_event_record(participant=first, by=clinician, alert=alert, **_fields())
    assert event.alert == alert


def test_a_serious_event_is_notified_at_once_to_investigators_and_safety_clinicians(
    trial: Any, clinician: Any, investigator: Any, coordinator: Any, blinded_statistician: Any, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://trials.example.org"
    event = adverse_event_record(
        participant=helpers.enrolled(trial),
        by=clinician,
        **_fields(seriousness=["hospitalisation", "life_threatening"], severity="severe"),
    )
    assert event.serious and event.seriousness == ["life_threatening", "hospitalisation"]
    queued = OutboxMessage.objects.filter(kind=SERIOUS_KIND)
    assert sorted(m.user.username for m in queued) == ["clara", "ivan"]
    outbox_deliver_due()
    sent = [m for m in mail.outbox if "Serious adverse event" in m.subject]
    assert sorted(m.to[0] for m in sent) == ["clara@example.org", "ivan@example.org"]
    body = sent[0].body
    assert f"https://trials.example.org/workspace/{trial.slug}/adverse-events/{event.pk}/" in body
    assert "Required or prolonged hospitalisation" in body
    assert "Panic attack" not in body and "jamie@example.org" not in body  # no description, no contact


def test_an_event_that_becomes_serious_is_notified_once(trial: Any, clinician: Any, investigator: Any) -> None:
    event = adverse_event_record(participant=helpers.enrolled(trial), by=clinician, **_fields())
    updated = adverse_event_update(
        event=event, by=clinician, reason="Admitted overnight", **_fields(seriousness=["hospitalisation"])
    )
    assert updated.serious
    adverse_event_update(
        event=event,
        by=clinician,
        **_fields(seriousness=["hospitalisation"], outcome="recovered", resolved_date=_today()),
    )
    assert OutboxMessage.objects.filter(kind=SERIOUS_KIND).count() == 2  # clara and ivan, once each
    audits = AuditEvent.objects.filter(action="adverse_event.update").order_by("id")
    assert [a.reason for a in audits] == ["Admitted overnight", ""]
    assert audits[1].changes["outcome"] == ["recovering", "recovered"]


def test_an_update_that_changes_nothing_records_nothing(trial: Any, clinician: Any) -> None:
    event = adverse_event_record(participant=helpers.enrolled(trial), by=clinician, **_fields())
    adverse_event_update(event=event, by=clinician, **_fields())
    assert not AuditEvent.objects.filter(action="adverse_event.update").exists()


def test_a_serious_event_e_mail_that_can_never_be_written_is_failed_not_retried(trial: Any, clinician: Any) -> None:
    serious = _fields(seriousness=["other_important"])
    event = adverse_event_record(participant=helpers.enrolled(trial), by=clinician, **serious)
    clinician.email = ""
    clinician.save()
    outbox_deliver_due()
    message = OutboxMessage.objects.get(kind=SERIOUS_KIND, context__adverse_event=event.pk)
    assert message.status == "failed"
