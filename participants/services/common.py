"""Helpers the participant services share: locking, the lifecycle step, preconditions."""

from __future__ import annotations

from participants.models import TRANSITIONS, Participant, StatusChange
from participants.selectors import consent_required_document
from trial import clock
from trial.audit import Actor, actor_user
from trial.errors import DomainError, InvalidTransition
from trial.models import Trial, TrialStatus


def lock_participant(participant: Participant) -> Participant:
    """Re-read the participant under a row lock (call inside transaction.atomic)."""
    # of=("self",): lock the participant only; a plain FOR UPDATE would also lock the joined trial row
    # and serialize every write in the trial.
    return Participant.objects.select_for_update(of=("self",)).select_related("trial").get(pk=participant.pk)


def require_recruiting(trial: Trial, action: str) -> None:
    if trial.status != TrialStatus.RECRUITING:
        raise DomainError(
            f"Trial {trial.slug} is {trial.status}, not recruiting: cannot {action}.", code="not_recruiting"
        )


def step(participant: Participant, to_status: str, *, by: Actor, reason: str = "") -> str:
    """Move a (locked) participant one step through the lifecycle, recording the change. The caller
    saves the participant. Returns the previous status."""
    current = participant.status
    allowed = TRANSITIONS[current]
    if to_status not in allowed:
        options = ", ".join(sorted(allowed)) if allowed else "nothing: this status is final"
        raise InvalidTransition(
            f"Participant {participant} is {current} and cannot become {to_status} (from {current}: {options})."
        )
    StatusChange.objects.create(
        participant=participant,
        from_status=current,
        to_status=to_status,
        at=clock.now(),
        by=actor_user(by),
        reason=reason,
    )
    participant.status = to_status
    return current


def require_current_consent(participant: Participant, action: str) -> None:
    document = consent_required_document(participant)
    if document is not None:
        raise DomainError(
            f"Participant {participant} must consent to version {document.version} of the consent document "
            f"before they can {action}.",
            code="consent_required",
        )
