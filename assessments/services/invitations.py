"""Staff sending a participant's questionnaire invitation again.

A link is stored hashed, so the invitation a participant received cannot be sent again as it was. A resend
is a new invitation: like every invitation and reminder it is written at send time with a fresh link, and
that link replaces the visit's earlier one (assessments.services.links: one live link per visit). Issuing a
new link goes further: the visit's links stop working at once, before the new message is even sent (a link
forwarded to someone else, a phone lost), and a send that fails never brings them back.
"""

from __future__ import annotations

from django.db import transaction

from assessments.messages import ACTIVE
from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.services.links import links_revoke
from assessments.services.scheduling import INVITATION_KIND, contacts_of
from participants.messaging import outbox_enqueue
from participants.models import ContactDetails, OutboxMessage
from trial import clock
from trial.audit import Actor, audit_record
from trial.errors import Conflict, DomainError


def _check_sendable(assessment: ScheduledAssessment) -> None:
    # What the renderer (assessments.messages) would otherwise cancel silently at send time: said up front.
    participant = assessment.participant
    if participant.status not in ACTIVE:
        raise DomainError(f"Participant {participant} is {participant.get_status_display().lower()}: no messages.")
    if assessment.status != AssessmentStatus.OPEN or assessment.closes_at <= clock.now():
        state = "closed" if assessment.status == AssessmentStatus.OPEN else assessment.get_status_display().lower()
        raise DomainError(f"{assessment.visit.name} is {state}: there is nothing to invite to.", code="not_open")
    contact = ContactDetails.objects.filter(participant=participant).first()
    if contact is None or not (contact.email or contact.phone):
        raise DomainError(f"Participant {participant} has no e-mail address or phone number to send to.")


@transaction.atomic
def invitation_resend(*, assessment: ScheduledAssessment, key: str, by: Actor, revoke: bool = False) -> OutboxMessage:
    """Queue the visit's invitation again, with a fresh link made when it is sent. ``revoke``: the visit's
    current links stop working now (a new link). ``key`` names this request: the same key twice (a double
    click) queues one message."""
    assessment = (
        ScheduledAssessment.objects.select_for_update(of=("self",))
        .select_related("participant__trial", "visit")
        .get(pk=assessment.pk)
    )
    _check_sendable(assessment)
    participant = assessment.participant
    dedupe_key = f"assessment:{assessment.pk}:invite:staff:{key}"[:120]
    context = {"assessment": assessment.pk, "resent_by": getattr(by, "pk", None), "new_link": revoke}
    # By each of the participant's channels (e-mail, SMS or both); the first message stands for the request.
    queued = [
        outbox_enqueue(
            kind=INVITATION_KIND,
            dedupe_key=outgoing.dedupe_key,
            channel=outgoing.channel,
            participant=participant,
            context=context,
        )
        for outgoing in contacts_of([participant.pk])[participant.pk].outgoing(
            dedupe_key=dedupe_key, participant_id=participant.pk, context=context
        )
    ]
    message = queued[0]
    if message is None:
        raise Conflict("This request was already made; the invitation is queued once.", code="duplicate")
    revoked = links_revoke(assessment=assessment) if revoke else 0
    audit_record(
        actor=by,
        action="assessment.new_link" if revoke else "assessment.resend_invitation",
        obj=assessment,
        trial=participant.trial,
        changes={"message": [None, message.pk], "links_revoked": [0, revoked]},
    )
    return message
