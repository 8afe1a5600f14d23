"""Withdrawal, loss to follow-up, return, completion."""

from __future__ import annotations

from django.db import transaction

from participants import events
from participants.models import Participant, Status
from participants.services.common import lock_participant, step
from trial import clock
from trial.audit import Actor, audit_record
from trial.errors import DomainError


def _end(participant: Participant, status: str, *, by: Actor, reason: str, action: str) -> Participant:
    reason = reason.strip()
    if status != Status.COMPLETED and not reason:
        raise DomainError("Give the reason; it is reported in the CONSORT flow.", field="reason")
    with transaction.atomic():
        participant = lock_participant(participant)
        previous = step(participant, status, by=by, reason=reason)
        participant.ended_at = clock.now()
        participant.ended_reason = reason
        participant.save(update_fields=["status", "ended_at", "ended_reason"])
        audit_record(
            actor=by,
            action=action,
            obj=participant,
            trial=participant.trial,
            changes={"status": [previous, status]},
            reason=reason,
        )
        events.participant_follow_up_ended.send(
            sender=Participant, participant=participant, status=status, reason=reason, by=by
        )
    return participant


def participant_withdraw(*, participant: Participant, reason: str, by: Actor) -> Participant:
    return _end(participant, Status.WITHDRAWN, by=by, reason=reason, action="participant.withdraw")


def participant_mark_lost(*, participant: Participant, reason: str, by: Actor) -> Participant:
    return _end(participant, Status.LOST_TO_FOLLOW_UP, by=by, reason=reason, action="participant.lost_to_follow_up")


def participant_complete(*, participant: Participant, by: Actor) -> Participant:
    return _end(participant, Status.COMPLETED, by=by, reason="", action="participant.complete")


@transaction.atomic
def participant_return(*, participant: Participant, reason: str, by: Actor) -> Participant:
    """A participant who was lost to follow-up is back in contact."""
    participant = lock_participant(participant)
    if participant.status != Status.LOST_TO_FOLLOW_UP:
        raise DomainError(
            f"Participant {participant} is {participant.status}, not lost to follow-up.", code="invalid_transition"
        )
    step(participant, Status.RANDOMIZED, by=by, reason=reason)
    participant.ended_at = None
    participant.ended_reason = ""
    participant.save(update_fields=["status", "ended_at", "ended_reason"])
    audit_record(
        actor=by,
        action="participant.return",
        obj=participant,
        trial=participant.trial,
        changes={"status": [Status.LOST_TO_FOLLOW_UP, Status.RANDOMIZED]},
        reason=reason,
    )
    events.participant_returned.send(sender=Participant, participant=participant, by=by)
    return participant
