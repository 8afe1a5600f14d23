"""Emergency unblinding of one participant in a masked trial."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction

from participants.models import Allocation, EmergencyUnblinding, Participant
from participants.tasks import notify_unblinding
from trial.audit import Actor, actor_user, audit_record
from trial.errors import DomainError
from trial.models import Role, TrialMembership

NOTIFIED_ROLES = (Role.INVESTIGATOR, Role.SAFETY_CLINICIAN, Role.ADMINISTRATOR)


@transaction.atomic
def participant_unblind(*, participant: Participant, reason: str, by: Actor) -> Allocation:
    """Reveal one participant's arm to the person asking, for a clinical emergency. The reason is
    mandatory; the act is audited, and the trial's investigators, safety clinicians and administrators
    are told by e-mail (queued when the transaction commits)."""
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
    transaction.on_commit(lambda: notify_unblinding.delay(unblinding.pk))
    return allocation


def unblinding_notify(*, unblinding_id: int) -> int:
    """E-mail the trial's responsible roles that a participant was unblinded. Returns recipients count."""
    unblinding = EmergencyUnblinding.objects.select_related("participant__trial", "by").get(pk=unblinding_id)
    trial = unblinding.participant.trial
    recipients = sorted(
        set(
            TrialMembership.objects.filter(trial=trial, role__in=NOTIFIED_ROLES)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return 0
    # The arm is not in the message: e-mail travels further than the platform's access rules.
    send_mail(
        subject=f"[{trial.slug}] Emergency unblinding of {unblinding.participant}",
        message=(
            f"{unblinding.by.get_username()} unblinded participant {unblinding.participant} of trial "
            f"{trial.title} on {unblinding.at:%Y-%m-%d %H:%M %Z}.\n\nReason: {unblinding.reason}\n\n"
            "The act is recorded in the trial's audit trail."
        ),
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)
