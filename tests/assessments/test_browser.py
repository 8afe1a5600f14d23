"""End to end in a real headless Chromium: a participant opens the link from the invitation e-mail and
answers the questionnaires, with and without JavaScript.

Needs the ``playwright`` package and a Chromium at /usr/bin/chromium (or ``CHROMIUM_PATH``); never
``playwright install``. Without them the tests skip, except under CI (CI=true), where a skipped browser
test would hide that the participant pages were never tried in a browser, so they fail instead. Set
``SCREENSHOT_DIR`` to keep phone-sized screenshots of the question page and the crisis page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from assessments.models import AssessmentStatus, Response, ScheduledAssessment
from participants.models import SafetyAlert
from tests import helpers
from tests.browser import Page, assert_accessible, expect, new_page, screenshot
from trial.models import Trial
from trial.templates import read_template

pytestmark = pytest.mark.browser


def _phone(browser: Any, *, javascript: bool = True) -> Page:
    return new_page(browser, "phone", javascript=javascript)


@pytest.fixture
def short_trial(live_server: Any, settings: Any) -> Trial:
    """The reference trial with a baseline of just the PHQ-9 and the GAD-7; links point at the live server."""
    settings.PUBLIC_BASE_URL = live_server.url
    data = read_template("therabot")
    visits = [dict(visit) for visit in data["visits"]]
    visits[0]["instruments"] = ["phq9", "gad7"]
    outcomes = [o for o in data["outcomes"] if o["instrument"] in visits[0]["instruments"]]
    return helpers.open_reference_trial(slug="short-baseline", visits=visits, outcomes=outcomes)


def _invitation_link() -> str:
    """The questionnaire link from the invitation e-mail the enrollment sent."""
    assert mail.outbox, "enrollment sent no invitation"
    match = re.search(r"https?://\S+/q/[\w-]+/", mail.outbox[-1].body)
    assert match is not None, mail.outbox[-1].body
    return match.group(0)


def _answer(page: Page, key: str, label: str) -> None:
    page.locator("fieldset", has=page.locator(f"input[name='{key}']")).get_by_label(label, exact=True).check()


def _fill(page: Page, code: str, count: int, label: str = "Several days", skip: tuple[int, ...] = ()) -> None:
    for n in range(1, count + 1):
        if n not in skip:
            _answer(page, f"{code}_{n}", label)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_participant_answers_the_phq9_and_gad7_and_is_thanked(browser, short_trial, javascript: bool):
    participant = helpers.enrolled(short_trial)
    page = _phone(browser, javascript=javascript)

    page.goto(_invitation_link())
    expect(page.get_by_role("heading", name="Your questionnaires")).to_be_visible()
    expect(page.locator(".questionnaire-item")).to_have_count(2)
    expect(page.locator(".crisis-line a[href='tel:988']")).to_be_visible()
    page.get_by_role("link", name="Start").click()

    expect(page.get_by_role("heading", name="Patient Health Questionnaire-9")).to_be_visible()
    # Keyboard: the first answer chosen with the arrow keys, as a keyboard or switch user would.
    page.locator("#phq9_1-0").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#phq9_1-1")).to_be_checked()
    _fill(page, "phq9", 9, skip=(1, 3, 9))
    _answer(page, "phq9_9", "Not at all")
    screenshot(page, "participant-question-390x844.png")
    if javascript:  # axe runs in the page; the markup is the same without JavaScript
        assert_accessible(page, "question page")
    page.get_by_role("button", name="Send and continue").click()

    # Question 3 was left out: it is named, linked, and the other answers are still there.
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link", name="Please answer question 3.")).to_have_attribute("href", "#phq9_3-0")
    expect(page.locator("#phq9_1-1")).to_be_checked()
    expect(page.locator("#phq9_9-0")).to_be_checked()
    expect(summary).to_be_focused()  # autofocus: a screen reader reads the problems first, even without JS
    _answer(page, "phq9_3", "Nearly every day")
    page.get_by_role("button", name="Send and continue").click()

    expect(page.get_by_role("heading", name="Generalized Anxiety Disorder 7-item scale")).to_be_visible()
    expect(page.get_by_text("Questionnaire 2 of 2")).to_be_visible()
    _fill(page, "gad7", 7, label="Not at all")
    page.get_by_role("button", name="Send answers").click()

    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.context.close()

    assessment = ScheduledAssessment.objects.get(participant=participant)
    assert assessment.status == AssessmentStatus.COMPLETED
    totals = dict(Response.objects.filter(assessment=assessment).values_list("instrument_code", "total"))
    assert totals == {"phq9": 10.0, "gad7": 0.0}  # PHQ-9: 7 items x 1 + item 3 = 3, item 9 = 0
    assert not SafetyAlert.objects.filter(participant=participant).exists()


def test_item_9_shows_the_crisis_resources_at_once_and_alerts_the_clinicians(browser, short_trial):
    participant = helpers.enrolled(short_trial)
    page = _phone(browser)

    page.goto(_invitation_link() + "phq9/")
    _fill(page, "phq9", 8, label="More than half the days")
    _answer(page, "phq9_9", "Several days")
    page.get_by_role("button", name="Send and continue").click()

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("A study clinician will be in touch with you soon.")
    call = alert.get_by_role("link", name=re.compile("Call or text 988"))
    expect(call).to_have_attribute("href", "tel:988")
    expect(alert.get_by_role("link", name=re.compile("Call 911"))).to_be_visible()
    # At the top of the page, without scrolling, before the next questionnaire.
    box = alert.bounding_box()
    assert box is not None and box["y"] < 50
    expect(call).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Generalized Anxiety Disorder 7-item scale")).to_be_attached()
    screenshot(page, "participant-crisis-390x844.png")
    assert_accessible(page, "crisis page")
    page.context.close()

    alert_row = SafetyAlert.objects.get(participant=participant)
    assert alert_row.flag == "suicidal_ideation"
    assert alert_row.source == "questionnaire"
    assert Response.objects.get(instrument_code="phq9").flags == ["suicidal_ideation"]
