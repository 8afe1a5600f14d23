"""Joining a trial online (/join/<slug>/): self-screening, e-consent, e-mail verification, enrollment or
review, through the pages as a browser without JavaScript sends them."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from assessments.models import ScheduledAssessment
from participants.messaging import outbox_deliver_due
from participants.models import Consent, JoinApplication, JoinStatus, Participant, Status
from participants.services import joining
from tests import helpers
from trial import clock
from trial.models import AuditEvent, Trial

ANSWERS_EN = {
    "age": "34",
    "us_resident": "yes",
    "condition": "MDD",
    "phq9_total": "14",
    "suicidality_treatment": "no",
    "bipolar": "no",
    "psychosis": "no",
}
STATEMENTS = ["read", "voluntary", "random", "safety"]


def _has_pdf(message: Any) -> bool:
    """The consent copy (the invitation also carries an attachment: its calendar file)."""
    return any(attachment[2] == "application/pdf" for attachment in message.attachments)


def compile_catalogue() -> None:
    """The Spanish catalogue compiled (django.mo is built, not kept in git), before any page is rendered."""
    from pathlib import Path

    from django.core.management import call_command

    po = Path(__file__).resolve().parents[2] / "config" / "locale" / "es" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        call_command("compilemessages", locale=["es"], verbosity=0)


@pytest.fixture(scope="module", autouse=True)
def _catalogue() -> None:
    compile_catalogue()


@pytest.fixture
def joinable(db: None) -> Trial:
    return helpers.open_reference_trial(online_joining="automatic")


def _state(response: Any) -> str:
    match = re.search(r'name="state" value="([^"]+)"', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1)


def deliver() -> None:
    """What the outbox holds, sent (a test's transaction never commits, so nothing is sent by itself)."""
    outbox_deliver_due()


def _verify_link(email: str) -> str:
    deliver()
    for message in reversed(mail.outbox):
        if message.to == [email]:
            match = re.search(r"https?://[^/\s]+(/join/[^\s]+/verify/[^\s/]+/)", str(message.body))
            if match:
                return match.group(1)
    raise AssertionError(f"no verification e-mail to {email}")


def apply(
    client: Client,
    trial: Trial,
    *,
    email: str = "dana@example.org",
    lang: str = "en",
    answers: dict[str, str] | None = None,
    name: str = "Dana Scully",
    phone: str = "",
) -> Any:
    """Walk the pages up to "check your e-mail"; returns the last response."""
    page = client.get(f"/join/{trial.slug}/?lang={lang}")
    assert page.status_code == 200
    response = client.post(f"/join/{trial.slug}/questions/", {"lang": lang, **(answers or ANSWERS_EN)})
    assert response.status_code == 200, response.content.decode()[:3000]
    consent = {"state": _state(response), "signed_name": name, **{f"statement_{s}": "on" for s in STATEMENTS}}
    response = client.post(f"/join/{trial.slug}/consent/", consent)
    assert response.status_code == 200, response.content.decode()[:3000]
    contact = {"state": _state(response), "email": email, "phone": phone, "timezone": "America/Chicago"}
    return client.post(f"/join/{trial.slug}/contact/", contact)


def test_it_takes_a_person_from_the_public_page_to_the_baseline_link(joinable: Trial) -> None:
    client = Client()
    response = apply(client, joinable)
    assert response.status_code == 302 and "/check-email/" in response["Location"]
    assert client.get(response["Location"]).status_code == 200
    assert not Participant.objects.filter(trial=joinable).exists()  # nothing counted before verification
    link = _verify_link("dana@example.org")
    page = client.get(link)
    assert page.status_code == 200 and b"Confirm and join" in page.content
    assert not Participant.objects.filter(trial=joinable).exists()  # opening the link uses nothing up
    done = client.post(link)
    assert done.status_code == 200
    deliver()
    assert b"Welcome to the study" in done.content
    participant = Participant.objects.get(trial=joinable)
    assert participant.status == Status.ENROLLED and participant.study_id
    assert participant.language == "en"
    consent = Consent.objects.get(participant=participant)
    assert consent.signed_name == "Dana Scully"
    assert participant.contact.email == "dana@example.org" and participant.contact.timezone == "America/Chicago"
    assert ScheduledAssessment.objects.filter(participant=participant, visit__week=0).exists()
    subjects = [m.subject for m in mail.outbox if m.to == ["dana@example.org"]]
    assert any("consent form" in s for s in subjects)
    assert any("/q/" in m.body for m in mail.outbox if m.to == ["dana@example.org"])  # the baseline link
    for subject in [s for s in subjects if "Mood and Wellbeing Study" in s]:
        assert joinable.title not in subject and "chatbot" not in subject.lower()
    actions = set(AuditEvent.objects.filter(trial=joinable).values_list("action", flat=True))
    assert {"join.apply", "join.verify", "participant.screen", "participant.consent", "participant.enroll"} <= actions


def test_it_works_in_spanish_and_keeps_the_language(joinable: Trial) -> None:
    client = Client()
    start = client.get(f"/join/{joinable.slug}/?lang=es")
    assert "Estudio de Ánimo y Bienestar" in start.content.decode()
    assert joinable.title not in start.content.decode()
    questions = client.get(f"/join/{joinable.slug}/questions/?lang=es")
    assert "¿Cuántos años tiene?" in questions.content.decode()
    response = apply(client, joinable, lang="es", email="ana@example.org", name="Ana Pérez")
    assert response.status_code == 302
    deliver()
    message = next(m for m in mail.outbox if m.to == ["ana@example.org"])
    assert "confirme su correo electrónico" in message.subject
    done = client.post(_verify_link("ana@example.org"))
    deliver()
    assert "Le damos la bienvenida al estudio" in done.content.decode()
    participant = Participant.objects.get(trial=joinable)
    assert participant.language == "es"
    copy = next(m for m in mail.outbox if m.to == ["ana@example.org"] and _has_pdf(m))
    assert "formulario de consentimiento" in copy.subject


def test_an_ineligible_person_is_counted_with_reasons_and_told_kindly(joinable: Trial) -> None:
    client = Client()
    response = client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN, "age": "16"})
    assert response.status_code == 200
    assert b"not the right fit" in response.content and b"988" in response.content
    participant = Participant.objects.get(trial=joinable)
    assert participant.status == Status.INELIGIBLE
    assert participant.ineligibility_reasons == [{"rule": "adult", "reason": "Younger than 18"}]


def test_a_missing_answer_is_asked_for_and_nothing_is_recorded(joinable: Trial) -> None:
    answers = {k: v for k, v in ANSWERS_EN.items() if k != "phq9_total"}
    response = Client().post(f"/join/{joinable.slug}/questions/", {"lang": "en", **answers})
    assert response.status_code == 400
    assert b"Please answer this question." in response.content
    assert not Participant.objects.exists()


def test_a_required_statement_left_unconfirmed_is_asked_for(joinable: Trial) -> None:
    client = Client()
    response = client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN})
    consent = {"state": _state(response), "signed_name": "Dana", "statement_read": "on"}
    response = client.post(f"/join/{joinable.slug}/consent/", consent)
    assert response.status_code == 400
    assert response.content.count(b"Please confirm this statement to take part.") >= 3


def test_an_altered_form_is_refused(joinable: Trial) -> None:
    client = Client()
    response = client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN})
    state = _state(response)
    response = client.post(f"/join/{joinable.slug}/consent/", {"state": state[:-3] + "abc", "signed_name": "X"})
    assert response.status_code == 400 and b"start again" in response.content


def test_a_duplicate_person_is_recognised_and_counted_once(joinable: Trial) -> None:
    client = Client()
    apply(client, joinable, email="dana@example.org")
    client.post(_verify_link("dana@example.org"))
    mail.outbox.clear()
    apply(Client(), joinable, email="  DANA@Example.org ")
    done = Client().post(_verify_link("DANA@Example.org"))
    assert b"You have already signed up" in done.content
    assert Participant.objects.filter(trial=joinable).count() == 1
    second = JoinApplication.objects.filter(trial=joinable).order_by("-id").first()
    assert second is not None and second.status == JoinStatus.DUPLICATE
    assert second.email_hash == hashlib.sha256(b"dana@example.org").hexdigest()


def test_a_person_the_study_team_enrolled_is_recognised_too(joinable: Trial) -> None:
    staff_enrolled = helpers.enrolled(joinable)  # jamie@example.org, enrolled in the workspace
    apply(Client(), joinable, email="Jamie@Example.org")
    done = Client().post(_verify_link("Jamie@Example.org"))
    assert b"You have already signed up" in done.content
    assert list(Participant.objects.filter(trial=joinable).exclude(status=Status.INELIGIBLE)) == [staff_enrolled]
    assert JoinApplication.objects.get(trial=joinable).status == JoinStatus.DUPLICATE


def test_a_mobile_number_given_gets_the_reminders_by_sms_too(joinable: Trial) -> None:
    apply(Client(), joinable, email="sam@example.org", phone="(603) 555-0147")
    Client().post(_verify_link("sam@example.org"))
    participant = Participant.objects.get(trial=joinable)
    assert participant.contact.channels == "both" and participant.contact.phone == "+16035550147"
    apply(Client(), joinable, email="kim@example.org")
    Client().post(_verify_link("kim@example.org"))
    assert Participant.objects.get(contact__email="kim@example.org").contact.channels == "email"


def test_the_honeypot_records_nothing(joinable: Trial) -> None:
    client = Client()
    response = client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN})
    consent = {"state": _state(response), "signed_name": "Bot", **{f"statement_{s}": "on" for s in STATEMENTS}}
    response = client.post(f"/join/{joinable.slug}/consent/", consent)
    contact = {"state": _state(response), "email": "bot@example.org", "timezone": "America/New_York", "website": "x"}
    response = client.post(f"/join/{joinable.slug}/contact/", contact)
    assert response.status_code == 302  # looks the same to the robot
    assert not JoinApplication.objects.exists() and not mail.outbox
    ineligible_bot = client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN, "website": "x"})
    assert ineligible_bot.status_code == 200 and not Participant.objects.exists()


def test_it_limits_submissions_per_client_and_per_email(joinable: Trial, settings: Any) -> None:
    settings.JOIN_RATES = {**settings.JOIN_RATES, "email": "2/hour"}
    for _ in range(2):
        assert apply(Client(), joinable, email="many@example.org").status_code == 302
    third = apply(Client(), joinable, email="MANY@example.org")
    assert third.status_code == 429 and third.headers["Retry-After"]
    assert JoinApplication.objects.count() == 2
    settings.JOIN_RATES = {**settings.JOIN_RATES, "client": "2/hour"}
    client = Client()
    codes = [
        client.post(f"/join/{joinable.slug}/questions/", {"lang": "en", **ANSWERS_EN}).status_code for _ in range(3)
    ]
    assert codes[-1] == 429


def test_the_verification_link_works_once_and_expires(joinable: Trial, settings: Any) -> None:
    apply(Client(), joinable, email="once@example.org")
    link = _verify_link("once@example.org")
    assert Client().post(link).status_code == 200
    again = Client().post(link)
    assert again.status_code == 410 and b"already been used" in again.content
    assert Participant.objects.count() == 1
    apply(Client(), joinable, email="late@example.org")
    late = _verify_link("late@example.org")
    JoinApplication.objects.filter(email="late@example.org").update(token_expires_at=clock.now() - timedelta(seconds=1))
    response = Client().post(late)
    assert response.status_code == 410 and b"expired" in response.content
    assert Participant.objects.count() == 1
    assert Client().get(f"/join/{joinable.slug}/verify/{'x' * 43}/").status_code == 404


def test_review_waits_for_a_coordinator(db: None) -> None:
    trial = helpers.open_reference_trial(online_joining="review")
    apply(Client(), trial, email="rev@example.org")
    done = Client().post(_verify_link("rev@example.org"))
    assert b"will look at your answers" in done.content
    participant = Participant.objects.get(trial=trial)
    assert participant.status == Status.CONSENTED and participant.study_id is None
    application = JoinApplication.objects.get(trial=trial)
    assert application.status == JoinStatus.REVIEW
    enrolled = joining.join_approve(application=application, by=None)
    assert enrolled.status == Status.ENROLLED and enrolled.study_id


def test_the_pdf_copy_shows_what_was_signed_and_its_hash_verifies(joinable: Trial) -> None:
    client = Client()
    apply(client, joinable, email="pdf@example.org")
    done = client.post(_verify_link("pdf@example.org"))
    deliver()
    application = JoinApplication.objects.get(email="pdf@example.org")
    html = joining_html(application)
    assert "Dana Scully" in html and "Version 1.0" in html and application.record_hash in html
    assert "CST" in html or "CDT" in html or "America/Chicago" in html
    copy = re.search(r'name="copy" value="([^"]+)"', done.content.decode())
    assert copy
    pdf = client.post(f"/join/{joinable.slug}/copy/", {"copy": copy.group(1)})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    attached = next(m for m in mail.outbox if m.to == ["pdf@example.org"] and _has_pdf(m))
    assert attached.attachments[0][2] == "application/pdf"
    check = joining.consent_hash_verify(trial=joinable, digest=application.record_hash.upper())
    assert check.application == application and check.intact
    assert joining.consent_hash_verify(trial=joinable, digest="0" * 64).application is None


def joining_html(application: JoinApplication) -> str:
    from participants.consent_pdf import consent_copy_html

    return consent_copy_html(application)


@pytest.mark.parametrize("state", ["draft", "off", "simulated", "missing"])
def test_nothing_opens_for_a_trial_not_taking_people_online(db: None, state: str) -> None:
    if state == "draft":
        from trial.templates import read_template, trial_create_from_template

        trial = trial_create_from_template(data={**read_template("therabot"), "online_joining": "automatic"}, by=None)
        slug = trial.slug
    elif state == "off":
        slug = helpers.open_reference_trial(online_joining="off").slug
    elif state == "simulated":
        trial = helpers.open_reference_trial(online_joining="automatic")
        Trial.objects.filter(pk=trial.pk).update(simulated=True)
        slug = trial.slug
    else:
        slug = "no-such-trial"
    response = Client().get(f"/join/{slug}/")
    assert response.status_code == 404
    assert b"not taking new people online" in response.content
    assert Client().post(f"/join/{slug}/questions/", ANSWERS_EN).status_code == 404
