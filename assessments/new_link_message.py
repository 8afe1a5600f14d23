"""The ``new_link`` message: a fresh questionnaire link, sent because the participant asked for one on the
link problem page (assessments/services/new_link.py). Written at send time like the invitations: the link
is minted then (the visit's earlier links are replaced), and nothing is sent if the participant withdrew or
the visit closed meanwhile. The words are Django templates, rendered in the participant's language:
``messages/new_link/subject.txt``, ``body.txt``, ``body.html`` (e-mail) and ``sms.txt``."""

from __future__ import annotations

from datetime import time, timedelta
from functools import partial
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation

from assessments.crisis import crisis_resources_for
from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.services.links import link_create, link_retract
from assessments.services.new_link import ACTIVE
from assessments.services.scheduling import participant_tz
from participants.messaging import Rendered, Skip
from participants.models import Channel, ContactDetails, OutboxMessage
from trial import clock

TEMPLATES = "messages/new_link"


def new_link_context(assessment: ScheduledAssessment, *, url: str, first_name: str) -> dict[str, Any]:
    """What the templates are given. The study's name is its participant-facing one (never the scientific
    title, which names the arms); the window's end in the participant's timezone, as the page says it: the
    last whole day when it closes at local midnight, else the local date and time."""
    participant = assessment.participant
    closes = assessment.closes_at.astimezone(participant_tz(participant))
    last_day = (closes - timedelta(days=1)).date() if closes.time() == time(0, 0) else None
    return {
        "study_name": participant.trial.public_text(participant.language)["name"],
        "first_name": first_name,
        "url": url,
        "last_day": last_day,
        "closes_at": None if last_day else closes.replace(tzinfo=None),
        "crisis_resources": crisis_resources_for(participant.trial),
    }


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
    url = link_create(assessment=assessment)
    retract = partial(link_retract, url=url)
    first_name = (contact.full_name.split() or [""])[0]
    with translation.override(participant.language):
        context = new_link_context(assessment, url=url, first_name=first_name)
        subject = " ".join(render_to_string(f"{TEMPLATES}/subject.txt", context).split())
        if message.channel == Channel.SMS:
            body = render_to_string(f"{TEMPLATES}/sms.txt", context).strip()
            return Rendered(to=to, subject=subject, body=body, on_failure=retract)
        body = render_to_string(f"{TEMPLATES}/body.txt", context).strip() + "\n"
        html = render_to_string(f"{TEMPLATES}/body.html", context)
    return Rendered(to=to, subject=subject, body=body, html=html, on_failure=retract)
