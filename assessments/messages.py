"""Invitation and reminder messages, written at send time: a link minted then, the current contact
details, and nothing at all if the participant withdrew or the questionnaire is no longer open."""

from __future__ import annotations

from functools import partial

from assessments.crisis import crisis_resources_for
from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.services.links import link_create, link_retract
from assessments.services.scheduling import INVITATION_KIND, participant_tz
from participants.messaging import Rendered, Skip
from participants.models import Channel, ContactDetails, OutboxMessage, Status
from trial import clock

ACTIVE = (Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)


def render_assessment_message(message: OutboxMessage) -> Rendered | Skip:
    assessment = (
        ScheduledAssessment.objects.select_related("participant__trial", "visit")
        .filter(pk=message.context["assessment"])
        .first()
    )
    now = clock.now()
    if assessment is None:
        return Skip("The questionnaires it was about no longer exist.")
    if assessment.status != AssessmentStatus.OPEN:
        return Skip(f"The questionnaires were {assessment.get_status_display().lower()} by then.")
    if assessment.closes_at <= now:
        return Skip("The questionnaires' window had closed.")
    participant = assessment.participant
    if participant.status not in ACTIVE:
        return Skip(f"The participant's status was {participant.get_status_display().lower()}.")
    contact = ContactDetails.objects.filter(participant=participant).first()
    if contact is None:
        return Skip("The participant has no contact details.")
    to = contact.email if message.channel == Channel.EMAIL else contact.phone
    if not to:
        return Skip(
            f"The participant has no {'e-mail address' if message.channel == Channel.EMAIL else 'phone number'}."
        )
    trial = participant.trial
    url = link_create(assessment=assessment, channel=message.channel)
    closes = assessment.closes_at.astimezone(participant_tz(participant))
    first_name = contact.full_name.split()[0]
    if message.kind == INVITATION_KIND:
        subject = f"{trial.title}: your {assessment.visit.name.lower()} questionnaires"
        opening = f"Hello {first_name},\n\nIt is time for your {assessment.visit.name.lower()} questionnaires."
    else:
        subject = f"Reminder: {trial.title} questionnaires"
        opening = (
            f"Hello {first_name},\n\nA reminder: your {assessment.visit.name.lower()} questionnaires are still open."
        )
    if message.channel == Channel.SMS:
        body = f"{trial.title}: your questionnaires are ready until {closes:%b %d}. {url}"
        return Rendered(to=to, subject=subject, body=body, on_failure=partial(link_retract, url=url))
    body = (
        f"{opening} They take about ten minutes.\n\n{url}\n\n"
        f"The link is personal and works until {closes:%A %B %d, %Y}.\n\n"
        "If you are in crisis or thinking of harming yourself:\n"
        + "".join(f"- {r['action']} ({r['name']})\n" for r in crisis_resources_for(trial))
    )
    return Rendered(to=to, subject=subject, body=body, on_failure=partial(link_retract, url=url))
