"""Safety alerts: raised by every write path that sees a risk signal, sent to the trial's safety
clinicians at once, escalated when nobody acknowledges them in time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from participants.message_templates import render_message
from participants.messaging import Rendered, Skip, Undeliverable, outbox_enqueue
from participants.models import AlertStatus, MessageStatus, OutboxMessage, Participant, RiskLevel, SafetyAlert
from participants.selectors import members_to_notify
from trial import clock
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError
from trial.models import Role

ALERT_KIND = "safety_alert"
ESCALATION_KIND = "safety_escalation"


def _escalation_delay(urgent: bool) -> timedelta:
    hours = settings.SAFETY_ESCALATION_HOURS_URGENT if urgent else settings.SAFETY_ESCALATION_HOURS
    return timedelta(hours=float(hours))


def _members(participant: Participant, roles: tuple[str, ...]) -> list[User]:
    return members_to_notify(trial_id=participant.trial_id, roles=roles)


def safety_recipients(participant: Participant) -> list[User]:
    """The trial's safety clinicians; if it has none with an e-mail, its investigators and administrators,
    so that a risk signal always reaches somebody clinically responsible."""
    return _members(participant, (Role.SAFETY_CLINICIAN,)) or _members(
        participant, (Role.INVESTIGATOR, Role.ADMINISTRATOR)
    )


def safety_alert_raise(
    *,
    participant: Participant,
    source: str,
    flag: str,
    dedupe_key: str,
    urgent: bool = False,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> SafetyAlert | None:
    """Raise an alert (inside the caller's transaction). The same signal (``dedupe_key``) raises one
    alert, however often it is seen. Returns None when it was raised before."""
    now = now or clock.now()
    try:
        with transaction.atomic():
            alert = SafetyAlert.objects.create(
                participant=participant,
                source=source,
                flag=flag,
                urgent=urgent,
                details=details or {},
                dedupe_key=dedupe_key,
                raised_at=now,
                escalate_at=now + _escalation_delay(urgent),
            )
    except IntegrityError:
        return None
    recipients = safety_recipients(participant)
    for user in recipients:
        outbox_enqueue(
            kind=ALERT_KIND, dedupe_key=f"alert:{alert.pk}:to:{user.pk}", user=user, context={"alert": alert.pk}
        )
    audit_record(
        actor=None,
        action="safety_alert.raise",
        obj=alert,
        trial=participant.trial,
        changes={
            "flag": [None, flag],
            "urgent": [None, urgent],
            "notified": [None, [u.get_username() for u in recipients]],
        },
    )
    return alert


def _locked(alert: SafetyAlert) -> SafetyAlert:
    return SafetyAlert.objects.select_for_update(of=("self",)).select_related("participant__trial").get(pk=alert.pk)


@transaction.atomic
def safety_alert_acknowledge(*, alert: SafetyAlert, by: Actor) -> SafetyAlert:
    alert = _locked(alert)
    if alert.status != AlertStatus.OPEN:
        raise Conflict(f"Alert {alert.pk} was already acknowledged on {alert.acknowledged_at:%Y-%m-%d %H:%M}.")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = clock.now()
    alert.acknowledged_by = actor_user(by)
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit_record(
        actor=by,
        action="safety_alert.acknowledge",
        obj=alert,
        trial=alert.participant.trial,
        changes={
            "status": [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED],
            "minutes_to_acknowledge": [
                None,
                round(alert.time_to_acknowledge.total_seconds() / 60, 1) if alert.time_to_acknowledge else None,
            ],
        },
    )
    return alert


@transaction.atomic
def safety_alert_record_contact(
    *,
    alert: SafetyAlert,
    by: Actor,
    notes: str,
    risk_level: str,
    risk_notes: str = "",
    contacted_at: datetime | None = None,
) -> SafetyAlert:
    """Record the clinician's contact with the participant and their risk assessment (the result of a
    clinician-administered assessment such as the C-SSRS; no self-report C-SSRS is built here)."""
    alert = _locked(alert)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"Alert {alert.pk} is resolved.")
    if risk_level not in RiskLevel.values:
        raise DomainError(
            f"Unknown risk level {risk_level!r}; use one of {', '.join(RiskLevel.values)}.", field="risk_level"
        )
    if not notes.strip():
        raise DomainError("Describe the contact (how, with whom, what was agreed).", field="notes")
    now = clock.now()
    contacted_at = contacted_at or now
    if contacted_at > now + timedelta(minutes=5) or contacted_at < alert.raised_at - timedelta(minutes=5):
        raise DomainError("The contact time must lie between the alert and now.", field="contacted_at")
    if alert.status == AlertStatus.OPEN:  # contacting the participant acknowledges the alert
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by = actor_user(by)
    alert.contacted_at = contacted_at
    alert.contact_notes = notes.strip()
    alert.risk_level = risk_level
    alert.risk_notes = risk_notes.strip()
    alert.save()
    audit_record(
        actor=by,
        action="safety_alert.contact",
        obj=alert,
        trial=alert.participant.trial,
        changes={"risk_level": [None, risk_level]},
    )
    return alert


@transaction.atomic
def safety_alert_resolve(*, alert: SafetyAlert, by: Actor, resolution: str) -> SafetyAlert:
    alert = _locked(alert)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"Alert {alert.pk} is already resolved.")
    if alert.contacted_at is None or not alert.risk_level:
        raise DomainError(
            "Record the contact and the risk assessment before resolving the alert.", code="contact_required"
        )
    if not resolution.strip():
        raise DomainError("Say how the alert was resolved.", field="resolution")
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = clock.now()
    alert.resolved_by = actor_user(by)
    alert.resolution = resolution.strip()
    alert.save(update_fields=["status", "resolved_at", "resolved_by", "resolution"])
    audit_record(
        actor=by, action="safety_alert.resolve", obj=alert, trial=alert.participant.trial, reason=resolution.strip()
    )
    return alert


def safety_alerts_escalate_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Escalate open alerts nobody acknowledged in time: every clinical role of the trial is told."""
    now = now or clock.now()
    escalated = 0
    due = SafetyAlert.objects.filter(status=AlertStatus.OPEN, escalated_at=None, escalate_at__lte=now)
    for alert_id in due.order_by("escalate_at").values_list("id", flat=True)[:limit]:
        with transaction.atomic():
            alert = (
                SafetyAlert.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=alert_id, status=AlertStatus.OPEN, escalated_at=None)
                .select_related("participant__trial")
                .first()
            )
            if alert is None:
                continue
            alert.escalated_at = now
            alert.save(update_fields=["escalated_at"])
            roles = (Role.SAFETY_CLINICIAN, Role.INVESTIGATOR, Role.ADMINISTRATOR)
            for user in _members(alert.participant, roles):
                outbox_enqueue(
                    kind=ESCALATION_KIND,
                    dedupe_key=f"alert:{alert.pk}:escalate:{user.pk}",
                    user=user,
                    context={"alert": alert.pk},
                )
            audit_record(actor=None, action="safety_alert.escalate", obj=alert, trial=alert.participant.trial)
            escalated += 1
    return escalated


def _alert_link(alert: SafetyAlert) -> str:
    # The workspace's alert page (participants cannot import workspace: the path is spelled out here).
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/workspace/{alert.participant.trial.slug}/safety/{alert.pk}/"


def render_alert(message: OutboxMessage) -> Rendered | Skip:
    """The alert's e-mail to one member. One that can never be written is Undeliverable (failed at once, not
    retried for ever). When that leaves nobody told of the alert, it escalates at once to every clinical role
    of the trial, rather than once nobody acknowledged it in time."""
    alert = SafetyAlert.objects.select_related("participant__trial").filter(pk=message.context["alert"]).first()
    if alert is None:
        raise Undeliverable(f"Safety alert {message.context['alert']} no longer exists.")
    escalation = message.kind == ESCALATION_KIND
    if message.user is None or not message.user.email:
        others = OutboxMessage.objects.filter(kind=ALERT_KIND, context__alert=alert.pk).exclude(pk=message.pk)
        if not escalation and not others.exclude(status__in=[MessageStatus.FAILED, MessageStatus.CANCELLED]).exists():
            SafetyAlert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN, escalated_at=None).update(
                escalate_at=clock.now()
            )
        raise Undeliverable(f"Outbox message {message.pk} has no staff recipient with an e-mail address.")
    if escalation and alert.status != AlertStatus.OPEN:
        return Skip("The alert was acknowledged before the escalation went out.")
    trial = alert.participant.trial
    label = {
        "suicidal_ideation": "thoughts of death or self-harm reported (PHQ-9 item 9)",
        "suicidal_ideation_severe": "thoughts of death or self-harm nearly every day (PHQ-9 item 9 = 3)",
        "safety_item_missing": "PHQ-9 item 9 (self-harm) left unanswered",
        "crisis_language": "crisis language detected by the chatbot",
    }.get(alert.flag, alert.flag)
    context = {
        **staff_context(message.user, trial),
        "participant": str(alert.participant),
        "signal": label,
        "escalation": escalation,
        "urgent": alert.urgent,
        "raised_at": alert.raised_at,
        "acknowledge_by": alert.escalate_at,
        "url": _alert_link(alert),
    }
    parts = render_message(ALERT_KIND, trial=trial, language=staff_language(), timezone=trial.timezone, context=context)
    return Rendered(to=message.user.email, subject=parts.subject, body=parts.text, html=parts.html)


def staff_language() -> str:
    """Staff have no language of their own: their messages are in the deployment's."""
    return settings.LANGUAGE_CODE.split("-")[0]


def staff_context(user: Any, trial: Any) -> dict[str, Any]:
    return {
        "first_name": (user.first_name or user.get_username()) if user is not None else "",
        "trial_slug": trial.slug,
        "trial_title": trial.title,  # staff know the scientific title; it stays out of subjects
    }


def sample_alert_context() -> dict[str, Any]:
    now = clock.now()
    return {
        "first_name": "Clara",
        "trial_slug": "sample-trial",
        "trial_title": "A sample trial",
        "participant": "TB-0001",
        "signal": "thoughts of death or self-harm reported (PHQ-9 item 9)",
        "escalation": False,
        "urgent": True,
        "raised_at": now,
        "acknowledge_by": now + timedelta(hours=1),
        "url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/workspace/sample-trial/safety/1/",
    }
