"""The ``new_link`` message: a fresh questionnaire link, sent because the participant asked for one on the
link problem page (assessments/services/new_link.py). Written at send time like the invitations: the link
is minted then (the visit's earlier link for that channel is replaced), and nothing is sent if the
participant withdrew or the visit closed meanwhile. The words are message templates
(participants/message_templates.py), rendered in the participant's language and timezone; defaults in
``messages/new_link/``, a trial's own approved wording from the admin."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.utils import translation

from assessments.messages import link_sample
from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.schedule import window_end
from assessments.services.links import link_create, link_retract
from assessments.services.new_link import ACTIVE, NEW_LINK_KIND
from assessments.services.scheduling import participant_tz
from participants.message_templates import register_template_kind, render_message
from participants.messaging import Rendered, Skip
from participants.models import Channel, ContactDetails, OutboxMessage
from trial import clock


def new_link_context(assessment: ScheduledAssessment, *, url: str, first_name: str) -> dict[str, Any]:
    """What the templates are given beyond every message's context (the study's participant-facing name,
    the crisis resources): the window's end in the participant's timezone, told as the page tells it."""
    last_day, closes_at = window_end(assessment.closes_at, participant_tz(assessment.participant))
    return {"first_name": first_name, "url": url, "last_day": last_day, "closes_at": closes_at}


def render_new_link(message: OutboxMessage) -> Rendered | Skip:
    assessment = (
        ScheduledAssessment.objects.select_related("participant__trial", "visit")
        .filter(pk=message.context.get("assessment"))
        .first()
    )
    if assessment is None:
        return Skip("The questionnaires it was about no longer exist.")
    if assessment.status != AssessmentStatus.OPEN or assessment.closes_at <= clock.now():
        return Skip("The questionnaires were no longer open.")
    participant = assessment.participant
    if participant.status not in ACTIVE:
        return Skip(f"The participant's status was {participant.get_status_display().lower()}.")
    contact = ContactDetails.objects.filter(participant=participant).first()
    to = (contact.email if message.channel == Channel.EMAIL else contact.phone) if contact else ""
    if contact is None or not to:
        return Skip("The participant's contact details had changed.")
    trial = participant.trial
    languages = trial.languages or [settings.LANGUAGE_CODE]
    language = participant.language if participant.language in languages else languages[0]
    url = link_create(assessment=assessment, channel=message.channel)
    retract = partial(link_retract, url=url)
    try:  # a message that cannot be written leaves no live link behind
        first_name = (contact.full_name.split() or [""])[0]
        with translation.override(language):
            context = new_link_context(assessment, url=url, first_name=first_name)
        parts = render_message(
            NEW_LINK_KIND, trial=trial, language=language, timezone=participant_tz(participant), context=context
        )
    except Exception:
        retract()
        raise
    if message.channel == Channel.SMS:
        return Rendered(to=to, subject=parts.subject, body=parts.sms or parts.text, on_failure=retract)
    return Rendered(to=to, subject=parts.subject, body=parts.text, html=parts.html, on_failure=retract)


def register_message_templates() -> None:
    register_template_kind(
        NEW_LINK_KIND,
        description="A fresh questionnaire link the participant asked for on the lost or expired link page "
        "(e-mail or SMS).",
        sample_context=link_sample,
        sms=True,
    )
