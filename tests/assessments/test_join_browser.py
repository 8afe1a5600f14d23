"""Joining online end to end in Debian's Chromium at phone size (390x844), with JavaScript on and off, in
English and Spanish: the public page, the screening questions, the consent, the contact details, the link
from the verification e-mail, and the baseline questionnaires' page reached from the invitation. Also an
ineligible person and a person who joins twice. axe-core checks every join page (it runs in the page, so
in the runs with JavaScript on; the markup is the same without)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from participants import messaging
from participants.models import JoinApplication, JoinStatus, Participant, Status
from tests import helpers
from tests.assessments.test_join_pages import compile_catalogue
from tests.browser import Page, assert_accessible, expect, fits_width, new_page, screenshot
from trial.models import Trial
from trial.templates import read_template

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"welcome": "Welcome to the study", "ineligible": "not the right fit", "duplicate": "already signed up"},
    "es": {"welcome": "Le damos la bienvenida", "ineligible": "no es el adecuado", "duplicate": "ya se inscribió"},
}


def _has_pdf(message: Any) -> bool:
    """The consent copy (the invitation also carries an attachment: its calendar file)."""
    return any(attachment[2] == "application/pdf" for attachment in message.attachments)


@pytest.fixture
def open_trial(live_server: Any, settings: Any) -> Trial:
    """The reference trial taking people online (enrolled at once), a baseline of the PHQ-9 and GAD-7."""
    compile_catalogue()
    settings.PUBLIC_BASE_URL = live_server.url
    data = read_template("therabot")
    visits = [dict(visit) for visit in data["visits"]]
    visits[0]["instruments"] = ["phq9", "gad7"]
    outcomes = [o for o in data["outcomes"] if o["instrument"] in visits[0]["instruments"]]
    return helpers.open_reference_trial(
        slug="join-online", visits=visits, outcomes=outcomes, online_joining="automatic"
    )


def _check(page: Page, where: str, javascript: bool) -> None:
    assert fits_width(page), where
    if javascript:
        assert_accessible(page, where)
        screenshot(page, "join-" + re.sub(r"\W+", "-", where).strip("-") + "-390x844.png")  # with SCREENSHOT_DIR


def _delivered_link(pattern: str, to: str) -> str:
    assert messaging.wait_for_background_delivery(timeout=60)
    for message in reversed(mail.outbox):
        if message.to == [to]:
            match = re.search(pattern, str(message.body))
            if match:
                return match.group(0)
    raise AssertionError(f"no message to {to} matching {pattern}: {[m.subject for m in mail.outbox]}")


def _submit(page: Page) -> None:
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state("load")


def _screen(page: Page, base: str, lang: str, javascript: bool, *, age: str = "34") -> None:
    page.goto(f"{base}?lang={lang}")
    _check(page, f"start ({lang})", javascript)
    name = "Mood and Wellbeing Study" if lang == "en" else "Estudio de Ánimo y Bienestar"
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator(f"#lang-{lang}")).to_be_checked()
    _submit(page)
    _check(page, f"questions ({lang})", javascript)
    page.fill("#id_age", age)
    page.check("#id_us_resident_0")
    page.check("#id_condition_0")
    page.fill("#id_phq9_total", "15")
    for code in ("suicidality_treatment", "bipolar", "psychosis"):
        page.check(f"#id_{code}_1")
    screenshot(page, f"join-questions-{lang}-390x844.png")
    _submit(page)


def _consent_and_contact(page: Page, lang: str, javascript: bool, email: str) -> None:
    _check(page, f"consent ({lang})", javascript)
    # The form with a statement left out is sent back with the error, named.
    page.fill("#id_signed_name", "Alex Rivera")
    _submit(page)
    expect(page.locator("#error-summary")).to_be_visible()
    _check(page, f"consent with errors ({lang})", javascript)
    for box in page.locator("input[type=checkbox][name^=statement_]").all():
        box.check()
    _submit(page)
    _check(page, f"contact ({lang})", javascript)
    page.fill("#id_email", email)
    page.select_option("#id_timezone", "America/Chicago")
    _submit(page)
    _check(page, f"check your e-mail ({lang})", javascript)


def _verify(page: Page, email: str, lang: str, javascript: bool) -> None:
    page.goto(_delivered_link(r"https?://\S+/join/\S+/verify/[\w-]+/", email))
    _check(page, f"verify ({lang})", javascript)
    _submit(page)
    _check(page, f"verified ({lang})", javascript)


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_person_joins_online_and_reaches_the_baseline(
    browser: Any, live_server: Any, open_trial: Trial, javascript: bool, lang: str
) -> None:
    page = new_page(browser, "phone", javascript=javascript)
    base = f"{live_server.url}/join/{open_trial.slug}/"
    email = f"alex-{lang}-{int(javascript)}@example.org"
    _screen(page, base, lang, javascript)
    _consent_and_contact(page, lang, javascript, email)
    assert not Participant.objects.filter(trial=open_trial).exists()
    _verify(page, email, lang, javascript)
    expect(page.locator("h1")).to_contain_text(WORDS[lang]["welcome"])
    participant = Participant.objects.get(trial=open_trial)
    assert participant.status == Status.ENROLLED and participant.language == lang
    baseline = _delivered_link(r"https?://\S+/q/[\w-]+/", email)
    copy = [m for m in mail.outbox if m.to == [email] and _has_pdf(m)]
    assert copy and copy[0].attachments[0][2] == "application/pdf"
    page.goto(baseline)
    expect(page.locator(".questionnaire-item")).to_have_count(2)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_an_ineligible_person_and_a_person_joining_twice(
    browser: Any, live_server: Any, open_trial: Trial, javascript: bool
) -> None:
    page = new_page(browser, "phone", javascript=javascript)
    base = f"{live_server.url}/join/{open_trial.slug}/"
    _screen(page, base, "es", javascript, age="16")
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("main")).to_contain_text(WORDS["es"]["ineligible"])
    _check(page, "ineligible (es)", javascript)
    assert Participant.objects.get(trial=open_trial).status == Status.INELIGIBLE

    for attempt in (1, 2):
        _screen(page, base, "en", javascript)
        _consent_and_contact(page, "en", javascript, "twice@example.org" if attempt == 1 else "Twice@Example.org")
        _verify(page, "twice@example.org" if attempt == 1 else "Twice@Example.org", "en", javascript)
    expect(page.locator("h1")).to_contain_text("You have already signed up")
    assert Participant.objects.filter(trial=open_trial, status=Status.ENROLLED).count() == 1
    assert JoinApplication.objects.filter(trial=open_trial, status=JoinStatus.DUPLICATE).count() == 1
