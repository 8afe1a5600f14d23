"""Emergency unblinding of one participant in a masked trial; the notices of trial unblinding requests."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from participants.message_templates import render_message
from participants.messaging import Rendered, Undeliverable, outbox_enqueue
from participants.models import Allocation, EmergencyUnblinding, OutboxMessage, Participant
from participants.selectors import members_to_notify
from participants.services.safety import staff_context, staff_language
from trial import clock
from trial.audit import Actor, actor_user, audit_record
from trial.errors import DomainError
from trial.models import Role, TrialUnblindingRequest

NOTIFIED_ROLES = (Role.INVESTIGATOR, Role.SAFETY_CLINICIAN, Role.ADMINISTRATOR)
NOTICE_KIND = "unblinding_notice"
TRIAL_NOTICE_KIND = "trial_unblinding_notice"
TRIAL_NOTIFIED_ROLES = (Role.INVESTIGATOR, Role.ADMINISTRATOR)


@transaction.atomic
def participant_unblind(*, participant: Participant, reason: str, by: Actor) -> Allocation:
    """Reveal one participant's arm to the person asking, for a clinical emergency. The reason is
    mandatory; the act is audited, and the trial's investigators, safety clinicians and administrators
    are told by e-mail, through the outbox."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Give the clinical reason for unblinding.", field="reason")
    user = actor_user(by)
    if user is None:
        raise DomainError("Unblinding needs a named, signed-in person.", code="not_authenticated")
    allocations = Allocation.objects.select_related("arm", "participant__trial")
    allocation: Allocation | None = allocations.filter(participant=participant).first()
    if allocation is None:
        raise DomainError(f"Participant {participant} has not been randomized; there is nothing to unblind.")
    trial = allocation.participant.trial
    if trial.open_label:
        raise DomainError(f"Trial {trial.slug} is open label: arms are not masked from staff.", code="open_label")
    unblinding = EmergencyUnblinding.objects.create(participant=participant, by=user, reason=reason)
    audit_record(actor=by, action="participant.emergency_unblind", obj=participant, trial=trial, reason=reason)
    for recipient in members_to_notify(trial_id=trial.pk, roles=NOTIFIED_ROLES):
        outbox_enqueue(
            kind=NOTICE_KIND,
            dedupe_key=f"unblinding:{unblinding.pk}:to:{recipient.pk}",
            user=recipient,
            context={"unblinding": unblinding.pk},
        )
    return allocation


def render_unblinding_notice(message: OutboxMessage) -> Rendered | None:
    unblinding = (
        EmergencyUnblinding.objects.select_related("participant__trial", "by")
        .filter(pk=message.context["unblinding"])
        .first()
    )
    if unblinding is None:
        raise Undeliverable(f"Emergency unblinding {message.context['unblinding']} no longer exists.")
    if message.user is None or not message.user.email:
        raise Undeliverable(f"Outbox message {message.pk} has no staff recipient with an e-mail address.")
    trial = unblinding.participant.trial
    # The arm is not in the message: e-mail travels further than the platform's access rules.
    context = {
        **staff_context(message.user, trial),
        "participant": str(unblinding.participant),
        "unblinded_by": unblinding.by.get_username(),
        "unblinded_at": unblinding.at,
        "reason": unblinding.reason,
    }
    parts = render_message(
        NOTICE_KIND, trial=trial, language=staff_language(), timezone=trial.timezone, context=context
    )
    return Rendered(to=message.user.email, subject=parts.subject, body=parts.text, html=parts.html)


def sample_notice_context() -> dict[str, Any]:
    return {
        "first_name": "Clara",
        "trial_slug": "sample-trial",
        "trial_title": "A sample trial",
        "participant": "TB-0001",
        "unblinded_by": "clara",
        "unblinded_at": clock.now(),
        "reason": "Emergency department call: the treating physician needs to know.",
    }


def notify_trial_unblinding_step(*, request: TrialUnblindingRequest, step: str, **_: object) -> None:
    """Receiver of ``trial.events.trial_unblinding_step``: every investigator and administrator of the
    trial is told of each step (asked, confirmed, rejected), by e-mail through the outbox."""
    for recipient in members_to_notify(trial_id=request.trial_id, roles=TRIAL_NOTIFIED_ROLES):
        outbox_enqueue(
            kind=TRIAL_NOTICE_KIND,
            dedupe_key=f"trial-unblinding:{request.pk}:{step}:to:{recipient.pk}",
            user=recipient,
            context={"request": request.pk, "step": step},
        )


def render_trial_unblinding_notice(message: OutboxMessage) -> Rendered | None:
    request = TrialUnblindingRequest.objects.select_related("trial", "requested_by", "decided_by").get(
        pk=message.context["request"]
    )
    if message.user is None or not message.user.email:
        raise LookupError(f"Outbox message {message.pk} has no staff recipient with an e-mail address.")
    trial, step = request.trial, message.context["step"]
    emergency = f"\nEmergency reason: {request.emergency_reason}" if request.emergency_reason else ""
    asked = (
        f"{request.requested_by.get_username()} asked on {request.requested_at:%Y-%m-%d %H:%M %Z} to unblind "
        f"trial {trial.title} (status then: {request.trial_status}).\n\nReason: {request.reason}{emergency}\n\n"
    )
    if step == "requested":
        subject = f"[{trial.slug}] Request to unblind the trial"
        action = (
            f"Nothing is revealed until a second authorised person confirms it (request {request.pk}, "
            f"before {request.expires_at:%Y-%m-%d %H:%M %Z}); anyone who disagrees can reject it."
        )
    else:
        decider = request.decided_by.get_username() if request.decided_by else "system"
        verb = "confirmed: the trial is now unblinded" if step == "confirmed" else "rejected: the trial stays blinded"
        subject = f"[{trial.slug}] Trial unblinding {step}"
        note = f"\n\nNote: {request.decision_note}" if request.decision_note else ""
        action = f"{decider} {verb}.{note}"
    return Rendered(
        to=message.user.email,
        subject=subject,
        body=f"{asked}{action}\n\nEvery step is recorded in the trial's audit trail.",
    )
