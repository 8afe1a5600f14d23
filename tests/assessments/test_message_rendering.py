"""Every message template, in both languages, for every trial the project ships: no arm and no scientific
title in a subject (it shows on a lock screen), the same last day as the participant's page, the link in
every part, and an invitation's calendar file with the window's dates and no link."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.utils import translation
from django.utils.formats import date_format
from django.utils.html import escape

from assessments.messages import render_assessment_message
from assessments.models import ScheduledAssessment
from assessments.schedule import window_end
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND
from participants import services
from participants.message_templates import forbidden_in_subject, render_message, sample_context, template_kinds
from participants.messaging import Rendered, outbox_deliver_due
from participants.models import Channel, OutboxMessage, Participant
from participants.services.adverse_events import adverse_event_record
from participants.services.safety import safety_alert_raise
from tests import helpers
from tests.catalogue import compiled_locale, spanish_catalogue  # noqa: F401 (fixtures)
from trial import clock
from trial.models import Trial
from trial.services import trial_set_status
from trial.templates import TEMPLATE_DIR, read_template, trial_create_from_template

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("spanish_catalogue")]

TRIAL_FILES = sorted(TEMPLATE_DIR.glob("*.json"))
LANGUAGES = ["en", "es"]
LINK = re.compile(r"https?://[^\s\"<]+/q/[\w-]+/")
NEW_YORK = ZoneInfo("America/New_York")


def _trial(path: Path) -> Trial:
    data = read_template(str(path))
    data["languages"] = sorted(set(data.get("languages") or ["en"]) | set(LANGUAGES))
    trial = trial_create_from_template(data=data, by=None, slug=f"{path.stem}-msg")
    return trial_set_status(trial=trial, status="recruiting", by=None)


def _participant(trial: Trial, language: str) -> Participant:
    answers = helpers.answers()
    participant = services.participant_screen(trial=trial, answers=answers, by=None)
    Participant.objects.filter(pk=participant.pk).update(language=language)
    services.participant_consent(participant=participant, signed_name="Jamie Doe", by=None)
    contact = services.ContactInput(
        full_name="Jamie Doe", email="jamie@example.org", phone="+12125550123", timezone="America/New_York"
    )
    participant.refresh_from_db()
    return services.participant_enroll(participant=participant, contact=contact, by=None)


def _baseline(participant: Participant) -> ScheduledAssessment:
    return ScheduledAssessment.objects.select_related("visit").get(participant=participant, status="open")


def _render(assessment: ScheduledAssessment, kind: str, channel: str) -> Rendered:
    message = OutboxMessage(kind=kind, channel=channel, participant=assessment.participant, context={})
    message.context = {"assessment": assessment.pk}
    rendered = render_assessment_message(message)
    assert isinstance(rendered, Rendered), rendered
    return rendered


def _assert_clean_subject(subject: str, trial: Trial) -> None:
    assert subject and "\n" not in subject
    for word in forbidden_in_subject(trial):
        assert not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", subject, re.IGNORECASE), (word, subject)


@pytest.mark.parametrize("path", TRIAL_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_registered_kind_renders_with_a_clean_subject(path: Path, language: str) -> None:
    trial = _trial(path)
    kinds = template_kinds()
    assert {k.kind for k in kinds} >= {
        INVITATION_KIND,
        REMINDER_KIND,
        "safety_alert",
        "adverse_event_serious",
        "unblinding_notice",
    }
    for info in kinds:
        parts = render_message(
            info.kind, trial=trial, language=language, timezone=trial.timezone, context=sample_context(info.kind)
        )
        _assert_clean_subject(parts.subject, trial)
        assert parts.text.strip() and f'<html lang="{language}">' in parts.html
        assert "<script" not in parts.html
        assert (parts.sms is not None) == info.sms
        sample = sample_context(info.kind)
        if "url" in sample:  # a message about a page links to it, in every part
            for body in (parts.text, parts.html, parts.sms or sample["url"]):
                assert sample["url"] in body or escape(sample["url"]) in body, (info.kind, body)
        if sample.get("last_day"):
            with translation.override(language):
                day = date_format(sample["last_day"], "DATE_FORMAT")
            assert day in parts.text and day in parts.html, (info.kind, parts.text)


@pytest.mark.parametrize("path", TRIAL_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [INVITATION_KIND, REMINDER_KIND])
def test_invitations_and_reminders_name_the_pages_last_day_and_carry_the_link(
    path: Path, language: str, kind: str
) -> None:
    trial = _trial(path)
    assessment = _baseline(_participant(trial, language))
    # The window closes at midnight New York time, as in the report: the e-mail must name the day before.
    opens = clock.now().astimezone(NEW_YORK) - timedelta(hours=1)
    closes = datetime.combine(opens.date() + timedelta(days=8), time(0), tzinfo=NEW_YORK)
    ScheduledAssessment.objects.filter(pk=assessment.pk).update(opens_at=opens, closes_at=closes)
    assessment.refresh_from_db()
    last_day, _ = window_end(assessment.closes_at, NEW_YORK)
    assert last_day == opens.date() + timedelta(days=7)
    with translation.override(language):
        day = date_format(last_day, "DATE_FORMAT")
        wrong_day = date_format(last_day + timedelta(days=1), "DATE_FORMAT")

    sms = _render(assessment, kind, Channel.SMS)
    email = _render(assessment, kind, Channel.EMAIL)  # the live link: each message mints its own
    _assert_clean_subject(email.subject, trial)
    assert trial.public_text(language)["name"] in email.subject
    assert email.html is not None
    for body in (email.body, email.html, sms.body):
        assert LINK.search(body), body
        assert day in body and wrong_day not in body, body
    assert "988" in email.body and "tel:988" in email.html  # the crisis resources

    # The participant's page, opened with the e-mail's link, shows the same last day.
    url = LINK.search(email.body).group(0)  # type: ignore[union-attr]
    page = Client().get(url[url.index("/q/") :])
    assert page.status_code == 200
    assert page.context["last_day"] == last_day

    if kind == INVITATION_KIND:
        (attachment,) = email.attachments
        assert attachment.filename.endswith(".ics") and attachment.mimetype == "text/calendar"
        calendar = icalendar.Calendar.from_ical(attachment.content)
        (event,) = calendar.walk("VEVENT")
        assert event.decoded("dtstart") == opens.date()
        assert event.decoded("dtend") == last_day + timedelta(days=1)  # exclusive: the 18th is the last day
        assert str(event["summary"]).startswith(trial.public_text(language)["name"])
        text = attachment.content.decode()
        assert "/q/" not in text and "http" not in text.lower().replace("prodid", "")
        assert str(event["uid"]) == str(calendar_uid(assessment))
        again = _render(assessment, kind, Channel.EMAIL)  # a second invitation updates the same event
        assert icalendar.Calendar.from_ical(again.attachments[0].content).walk("VEVENT")[0]["uid"] == event["uid"]
    else:
        assert email.attachments == ()


def calendar_uid(assessment: ScheduledAssessment) -> str:
    return f"assessment-{assessment.public_id}@trialplatform.local"


def test_a_window_that_does_not_close_at_midnight_is_a_timed_event(trial: Trial) -> None:
    assessment = _baseline(helpers.enrolled(trial))
    opens = datetime(2031, 3, 2, 9, 0, tzinfo=NEW_YORK)
    ScheduledAssessment.objects.filter(pk=assessment.pk).update(opens_at=opens, closes_at=opens + timedelta(hours=30))
    assessment.refresh_from_db()
    email = _render(assessment, INVITATION_KIND, Channel.EMAIL)
    event = icalendar.Calendar.from_ical(email.attachments[0].content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == opens and event.decoded("dtend") == opens + timedelta(hours=30)
    assert "until March 3, 2031, 3 p.m. (your local time)." in email.body


def test_the_sent_invitation_has_text_html_and_the_calendar_file(trial: Trial) -> None:
    helpers.enrolled(trial)  # enrollment opens the baseline and invites at once
    outbox_deliver_due()
    (sent,) = [m for m in mail.outbox if "questionnaires" in m.subject]
    assert isinstance(sent, EmailMultiAlternatives)
    assert sent.alternatives and sent.alternatives[0][1] == "text/html"
    assert [a[0] for a in sent.attachments] == ["questionnaires.ics"]
    assert trial.title not in sent.subject


def test_safety_e_mails_are_templated_with_html_and_no_title_in_the_subject(trial: Trial, clinician: Any) -> None:
    participant = helpers.enrolled(trial)
    safety_alert_raise(participant=participant, source="phq9", flag="suicidal_ideation", dedupe_key="t:1", urgent=True)
    adverse_event_record(
        participant=participant,
        by=clinician,
        description="Admitted",
        onset_date=datetime.now(tz=NEW_YORK).date(),
        severity="severe",
        relatedness="not_related",
        outcome="recovering",
        seriousness=["hospitalisation"],
    )
    outbox_deliver_due()
    staff = [m for m in mail.outbox if m.to == ["clara@example.org"] and isinstance(m, EmailMultiAlternatives)]
    assert sorted(m.subject for m in staff) == [
        f"[{trial.slug}] Serious adverse event: {participant}",
        f"[{trial.slug}] URGENT: Safety alert: {participant}",
    ]
    for sent in staff:
        _assert_clean_subject(str(sent.subject), trial)
        assert sent.alternatives and "<a href=" in str(sent.alternatives[0][0])


def test_dates_follow_the_participants_timezone_not_the_trials(trial: Trial) -> None:
    participant = helpers.consented(trial)
    contact = services.ContactInput(full_name="Jamie Doe", email="jamie@example.org", timezone="America/Los_Angeles")
    assessment = _baseline(services.participant_enroll(participant=participant, contact=contact, by=None))
    los_angeles = ZoneInfo("America/Los_Angeles")
    last_day, _ = window_end(assessment.closes_at, los_angeles)
    assert last_day is not None  # the window closes at midnight where the participant lives
    assert window_end(assessment.closes_at, NEW_YORK)[0] is None  # 3 a.m. in the trial's own timezone
    email = _render(assessment, INVITATION_KIND, Channel.EMAIL)
    assert f"until the end of {date_format(last_day, 'DATE_FORMAT')}." in email.body
    url = LINK.search(email.body).group(0)  # type: ignore[union-attr]
    assert Client().get(url[url.index("/q/") :]).context["last_day"] == last_day
    event = icalendar.Calendar.from_ical(email.attachments[0].content).walk("VEVENT")[0]
    assert event.decoded("dtend") == last_day + timedelta(days=1)
