"""Emergency unblinding of one participant in a masked trial."""

from __future__ import annotations

from django.db import transaction

from participants.messaging import Rendered, Undeliverable, outbox_enqueue
from participants.models import Allocation, EmergencyUnblinding, OutboxMessage, Participant
from participants.selectors import members_to_notify
from trial.audit import Actor, actor_user, audit_record
from trial.errors import DomainError
from trial.models import Role

NOTIFIED_ROLES = (Role.INVESTIGATOR, Role.SAFETY_CLINICIAN, Role.ADMINISTRATOR)
NOTICE_KIND = "unblinding_notice"


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
    return Rendered(
        to=message.user.email,
        subject=f"[{trial.slug}] Emergency unblinding of {unblinding.participant}",
        body=(
            f"{unblinding.by.get_username()} unblinded participant {unblinding.participant} of trial "
            f"{trial.title} on {unblinding.at:%Y-%m-%d %H:%M %Z}.\n\nReason: {unblinding.reason}\n\n"
            "The act is recorded in the trial's audit trail."
        ),
    )
