"""Invitation and reminder messages, written at send time: a link minted then, the current contact
details, and nothing at all if the participant withdrew or the questionnaire is no longer open. The
wording is the trial's templates (participants.message_templates), in the participant's language and
timezone; an invitation e-mail carries the window as a calendar file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import translation
from django.utils.translation import pgettext

from assessments.calendar import MIMETYPE, window_ics
from assessments.crisis import crisis_resources_for
from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.schedule import visit_label, window_end
from assessments.services.links import link_create, link_retract
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND, participant_tz
from participants.message_templates import register_context_provider, register_template_kind, render_message
from participants.messaging import Attachment, Rendered, Skip
from participants.models import Channel, ContactDetails, OutboxMessage, Status
from trial import clock
from trial.models import Trial

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
    languages = trial.languages or [settings.LANGUAGE_CODE]
    language = participant.language if participant.language in languages else languages[0]
    kind = INVITATION_KIND if message.kind == INVITATION_KIND else REMINDER_KIND
    retract = partial(link_retract, url=url)
    try:  # a message that cannot be written leaves no live link behind (the retry mints another)
        first_name = (contact.full_name.split() or [""])[0]
        return _written(
            message, assessment, to=to, first_name=first_name, url=url, kind=kind, language=language, now=now,
            retract=retract,
        )  # fmt: skip
    except Exception:
        retract()
        raise


def _written(
    message: OutboxMessage,
    assessment: ScheduledAssessment,
    *,
    to: str,
    first_name: str,
    url: str,
    kind: str,
    language: str,
    now: datetime,
    retract: Callable[[], None],
) -> Rendered:
    participant = assessment.participant
    tz = participant_tz(participant)
    with translation.override(language):
        context = assessment_context(assessment, first_name=first_name, url=url, tz=tz)
    parts = render_message(kind, trial=participant.trial, language=language, timezone=tz, context=context)
    if message.channel == Channel.SMS:
        return Rendered(to=to, subject=parts.subject, body=parts.sms or parts.text, on_failure=retract)
    attachments: tuple[Attachment, ...] = ()
    if kind == INVITATION_KIND:
        with translation.override(language):
            ics = window_ics(
                uid=str(assessment.public_id),
                study_name=context["study_name"],
                visit_name=context["visit_name"],
                opens_at=assessment.opens_at,
                closes_at=assessment.closes_at,
                tz=tz,
                stamp=now,
            )
        attachments = (Attachment(filename="questionnaires.ics", content=ics, mimetype=MIMETYPE),)
    return Rendered(
        to=to, subject=parts.subject, body=parts.text, html=parts.html, attachments=attachments, on_failure=retract
    )


def assessment_context(assessment: ScheduledAssessment, *, first_name: str, url: str, tz: ZoneInfo) -> dict[str, Any]:
    """What an invitation or reminder says about its visit (call with the language active)."""
    last_day, closes_at = window_end(assessment.closes_at, tz)
    return {
        "first_name": first_name,
        "study_name": assessment.participant.trial.public_text(translation.get_language())["name"],
        "visit_name": visit_label(assessment.visit),
        "url": url,
        "last_day": last_day,
        "closes_at": closes_at,
        "opens_at": assessment.opens_at,
    }


def link_sample() -> dict[str, Any]:
    """A made-up participant's link and window, for previews of the messages that carry a link."""
    return {
        "first_name": "Alex",
        "url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/q/SAMPLE-LINK-NOT-REAL/",
        "last_day": date(2026, 12, 18),
        "closes_at": None,
        "opens_at": datetime(2026, 12, 11, 14, 0, tzinfo=ZoneInfo("UTC")),
    }


def _sample() -> dict[str, Any]:
    return {**link_sample(), "visit_name": pgettext("visit", "Week %(week)s") % {"week": 4}}


def register_message_templates() -> None:
    """The kinds this app owns (assessments/apps.py), and the crisis resources every message carries."""
    register_template_kind(
        INVITATION_KIND,
        description="Invitation to a visit's questionnaires (e-mail with a calendar file, or SMS).",
        sample_context=_sample,
        sms=True,
    )
    register_template_kind(
        REMINDER_KIND,
        description="Reminder of a visit's questionnaires still to fill in (e-mail or SMS).",
        sample_context=_sample,
        sms=True,
    )
    register_context_provider(crisis_context)


def crisis_context(trial: Trial, language: str) -> dict[str, Any]:
    return {"crisis_resources": crisis_resources_for(trial)}
