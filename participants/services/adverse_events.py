"""Adverse events: recorded and updated by the trial's safety roles, every change audited; a serious one
(any seriousness criterion) is notified at once to the trial's investigators and safety clinicians.

The notification names the participant, the severity and the seriousness criteria, never the
description or relatedness: those may tell the arm (the chatbot arm's events mention the chatbot), and the
e-mail reaches masked investigators too. The details are on the workspace page it links to."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.db import transaction

from participants.message_templates import render_message
from participants.messaging import Rendered, Undeliverable, outbox_enqueue
from participants.models import (
    AdverseEvent,
    AEOutcome,
    AERelatedness,
    AESeriousness,
    AESeverity,
    OutboxMessage,
    Participant,
    SafetyAlert,
)
from participants.selectors import adverse_events_for, members_to_notify
from participants.services.safety import staff_context, staff_language
from trial import clock
from trial.audit import Actor, actor_user, audit_record
from trial.errors import DomainError
from trial.models import Role

SERIOUS_KIND = "adverse_event_serious"
SERIOUS_NOTIFIED = (Role.INVESTIGATOR, Role.SAFETY_CLINICIAN)
# Outcomes that say the event is over: they need the date it ended (for "fatal", the date of death).
__all__ = ["SERIOUS_KIND", "adverse_event_record", "adverse_event_update", "adverse_events_for"]
ENDED = {AEOutcome.RECOVERED, AEOutcome.RECOVERED_WITH_SEQUELAE, AEOutcome.FATAL}
FIELDS = (
    "description", "onset_date", "severity", "seriousness", "relatedness", "action_taken", "outcome",
    "resolved_date", "alert_id",
)  # fmt: skip


def _choice(value: str, choices: Any, field: str, what: str) -> str:
    if value not in choices.values:
        raise DomainError(f"Choose the {what} ({', '.join(choices.values)}).", field=field)
    return value


def _validated(
    *,
    participant: Participant,
    alert: SafetyAlert | None,
    description: str,
    onset_date: date,
    severity: str,
    seriousness: Iterable[str],
    relatedness: str,
    action_taken: str,
    outcome: str,
    resolved_date: date | None,
) -> dict[str, Any]:
    if participant.study_id is None:
        raise DomainError("Adverse events are recorded for enrolled participants.", field="participant")
    if alert is not None and alert.participant_id != participant.pk:
        raise DomainError("That alert is about another participant.", field="alert")
    if not description.strip():
        raise DomainError("Describe the event.", field="description")
    today = clock.now().date()
    if onset_date > today:
        raise DomainError("The onset date cannot be in the future.", field="onset_date")
    criteria = list(dict.fromkeys(seriousness))
    unknown = [c for c in criteria if c not in AESeriousness.values]
    if unknown:
        raise DomainError(f"Unknown seriousness criteria: {', '.join(unknown)}.", field="seriousness")
    criteria = [c for c in AESeriousness.values if c in criteria]  # a stable order
    _choice(severity, AESeverity, "severity", "severity")
    _choice(relatedness, AERelatedness, "relatedness", "relatedness to the intervention")
    _choice(outcome, AEOutcome, "outcome", "outcome")
    if resolved_date is not None:
        if resolved_date < onset_date:
            raise DomainError("The resolved date cannot be before the onset date.", field="resolved_date")
        if resolved_date > today:
            raise DomainError("The resolved date cannot be in the future.", field="resolved_date")
    if outcome in ENDED and resolved_date is None:
        what = "the date of death" if outcome == AEOutcome.FATAL else "the date the event resolved"
        raise DomainError(f"An outcome of '{AEOutcome(outcome).label}' needs {what}.", field="resolved_date")
    if outcome not in ENDED and resolved_date is not None:
        raise DomainError(
            f"An outcome of '{AEOutcome(outcome).label}' means the event has not resolved: leave the resolved date "
            "empty, or choose the outcome it resolved with.",
            field="resolved_date",
        )
    if outcome == AEOutcome.FATAL and AESeriousness.DEATH not in criteria:
        raise DomainError("A fatal event is serious: tick 'Resulted in death'.", field="seriousness")
    if AESeriousness.DEATH in criteria and outcome != AEOutcome.FATAL:
        raise DomainError("An event that resulted in death has the outcome 'Fatal'.", field="outcome")
    return {
        "alert_id": alert.pk if alert is not None else None,
        "description": description.strip(),
        "onset_date": onset_date,
        "severity": severity,
        "seriousness": criteria,
        "serious": bool(criteria),
        "relatedness": relatedness,
        "action_taken": action_taken.strip(),
        "outcome": outcome,
        "resolved_date": resolved_date,
    }


def _notify_serious(event: AdverseEvent) -> None:
    for user in members_to_notify(trial_id=event.participant.trial_id, roles=SERIOUS_NOTIFIED):
        outbox_enqueue(
            kind=SERIOUS_KIND,
            dedupe_key=f"ae:{event.pk}:serious:to:{user.pk}",
            user=user,
            context={"adverse_event": event.pk},
        )


@transaction.atomic
def adverse_event_record(
    *,
    participant: Participant,
    by: Actor,
    description: str,
    onset_date: date,
    severity: str,
    relatedness: str,
    outcome: str,
    seriousness: Iterable[str] = (),
    action_taken: str = "",
    resolved_date: date | None = None,
    alert: SafetyAlert | None = None,
) -> AdverseEvent:
    values = _validated(
        participant=participant,
        alert=alert,
        description=description,
        onset_date=onset_date,
        severity=severity,
        seriousness=seriousness,
        relatedness=relatedness,
        action_taken=action_taken,
        outcome=outcome,
        resolved_date=resolved_date,
    )
    now = clock.now()
    event = AdverseEvent.objects.create(
        participant=participant, recorded_by=actor_user(by), recorded_at=now, updated_at=now, **values
    )
    audit_record(
        actor=by,
        action="adverse_event.record",
        obj=event,
        trial=participant.trial,
        changes={name: [None, values[name]] for name in FIELDS},
    )
    if event.serious:
        _notify_serious(event)
    return event


@transaction.atomic
def adverse_event_update(
    *,
    event: AdverseEvent,
    by: Actor,
    description: str,
    onset_date: date,
    severity: str,
    relatedness: str,
    outcome: str,
    seriousness: Iterable[str] = (),
    action_taken: str = "",
    resolved_date: date | None = None,
    reason: str = "",
) -> AdverseEvent:
    """Change a recorded event (follow-up: its outcome, the date it resolved). An event that becomes
    serious is notified then, once."""
    event = AdverseEvent.objects.select_for_update(of=("self",)).select_related("participant__trial").get(pk=event.pk)
    values = _validated(
        participant=event.participant,
        alert=event.alert,
        description=description,
        onset_date=onset_date,
        severity=severity,
        seriousness=seriousness,
        relatedness=relatedness,
        action_taken=action_taken,
        outcome=outcome,
        resolved_date=resolved_date,
    )
    changes = {name: [getattr(event, name), values[name]] for name in FIELDS if getattr(event, name) != values[name]}
    if not changes:
        return event
    was_serious = event.serious
    for name, value in values.items():
        setattr(event, name, value)
    event.updated_at = clock.now()
    event.save()
    audit_record(
        actor=by,
        action="adverse_event.update",
        obj=event,
        trial=event.participant.trial,
        changes=changes,
        reason=reason,
    )
    if event.serious and not was_serious:
        _notify_serious(event)
    return event


def _event_link(event: AdverseEvent) -> str:
    # participants cannot import workspace: the path is spelled out (workspace/views/adverse_events.py).
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/workspace/{event.participant.trial.slug}/adverse-events/{event.pk}/"


def render_serious_event(message: OutboxMessage) -> Rendered:
    event = (
        AdverseEvent.objects.select_related("participant__trial")
        .filter(pk=message.context.get("adverse_event"))
        .first()
    )
    if event is None:
        raise Undeliverable(f"Adverse event {message.context.get('adverse_event')} no longer exists.")
    if message.user is None or not message.user.email:
        raise Undeliverable(f"Outbox message {message.pk} has no staff recipient with an e-mail address.")
    trial = event.participant.trial
    context = {
        **staff_context(message.user, trial),
        "participant": str(event.participant),
        "seriousness": event.seriousness_labels,
        "severity": event.get_severity_display(),
        "onset_date": event.onset_date,
        "outcome": event.get_outcome_display(),
        "url": _event_link(event),
    }
    parts = render_message(
        SERIOUS_KIND, trial=trial, language=staff_language(), timezone=trial.timezone, context=context
    )
    return Rendered(to=message.user.email, subject=parts.subject, body=parts.text, html=parts.html)


def sample_serious_context() -> dict[str, Any]:
    return {
        "first_name": "Ivan",
        "trial_slug": "sample-trial",
        "trial_title": "A sample trial",
        "participant": "TB-0001",
        "seriousness": [AESeriousness.HOSPITALISATION.label],
        "severity": AESeverity.SEVERE.label,
        "onset_date": clock.now().date(),
        "outcome": AEOutcome.RECOVERING.label,
        "url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/workspace/sample-trial/adverse-events/1/",
    }
