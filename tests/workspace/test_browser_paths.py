"""The coordinator's whole path through the workspace in Debian's Chromium, at a laptop's and a phone's
size, with axe-core's WCAG 2.1 AA check on every page it meets: screen -> consent -> enroll -> baseline
entered on paper -> randomize -> (four weeks later) resend the invitation -> issue a new link, after which
the old link stops working. The clinician's path is in test_safety_browser.py.

Screenshots for the docs: ``make screenshots`` (SCREENSHOT_DIR=docs/screenshots).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail

from assessments.models import AssessmentStatus, Response, ScheduledAssessment
from assessments.services.scheduling import assessments_open
from participants.models import Participant, Status
from tests import helpers
from tests.assessments.test_browser import short_trial  # noqa: F401  (the fixture)
from tests.browser import assert_accessible, expect, fits_width, new_page, screenshot
from trial import clock
from trial.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://\S+/q/[\w-]+/")


def _check(page: Any, what: str, size: str, shot: str | None = None) -> None:
    """The page as the coordinator meets it: no accessibility violation, no sideways scrolling."""
    assert_accessible(page, f"{what} at {size}")
    assert fits_width(page), f"{what} needs sideways scrolling at {size}"
    if shot:
        screenshot(page, f"workspace-{shot}-{size}.png")


def _answer_all(page: Any, code: str, items: int, label: str) -> None:
    for n in range(1, items + 1):
        group = page.locator("fieldset", has=page.locator(f"input[name='{code}_{n}']"))
        group.get_by_label(label, exact=True).check()


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_a_coordinator_takes_a_person_from_screening_to_a_new_link(
    browser: Any,
    short_trial: Any,  # noqa: F811
    live_server: Any,
    django_user_model: Any,
    size: str,
) -> None:
    trial = short_trial
    coordinator = django_user_model.objects.create_user("cora", email="cora@example.org", password="x")
    helpers.grant(trial, coordinator, Role.COORDINATOR)
    page = new_page(browser, size, user=coordinator, live_server=live_server)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # Screen.
    page.goto(f"{live_server.url}/workspace/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(trial.title)
    _check(page, "dashboard", size)
    page.get_by_role("link", name="Screen someone").click()
    _check(page, "screening form", size, "screen")
    page.get_by_label("Age in years").fill("34")
    page.locator("input[name='us_resident'][value='yes']").check()
    page.get_by_label("Primary condition the person screens for").select_option("MDD")
    page.get_by_label("PHQ-9 total at screening (0-27)").fill("")  # a value the rule needs, left out
    for name in ("suicidality_treatment", "bipolar", "psychosis"):
        page.locator(f"input[name='{name}'][value='no']").check()
    page.get_by_role("button", name="Record screening").click()
    expect(page.get_by_text("Nothing was recorded")).to_be_visible()
    _check(page, "screening form with errors", size, "screen-errors")
    assert not Participant.objects.filter(trial=trial).exists()
    page.get_by_label("PHQ-9 total at screening (0-27)").fill("14")
    page.get_by_role("button", name="Record screening").click()
    expect(page.get_by_text("Eligible", exact=False).first).to_be_visible()
    _check(page, "screening result", size)
    page.reload()  # the result page is a GET: reloading it records nothing
    assert Participant.objects.filter(trial=trial).count() == 1

    # Consent, in the trial's time zone, defaulting to now.
    page.get_by_role("link", name="Record consent").click()
    expect(page.get_by_text("America/New_York").first).to_be_visible()
    _check(page, "consent form", size, "consent")
    page.get_by_label("Signature (typed full name)").fill("Jamie Doe")
    page.get_by_label(re.compile("The participant read this version")).check()
    page.get_by_role("button", name="Record consent").click()

    # Enroll, with a US phone number typed as people type it.
    page.get_by_role("link", name="Enroll", exact=True).click()
    _check(page, "enrollment form", size, "enroll")
    page.get_by_label("Full name").fill("Jamie Doe")
    page.get_by_role("textbox", name="E-mail").fill("jamie@example.org")
    page.get_by_label("Mobile phone").fill("603-555-0100")
    page.get_by_role("button", name="Enroll").click()
    participant = Participant.objects.get(trial=trial)
    assert participant.status == Status.ENROLLED and participant.contact.phone == "+16035550100"
    expect(page.get_by_role("heading", level=1)).to_contain_text(participant.study_id)
    _check(page, "participant page after enrolling", size, "participant")

    # The baseline, returned on paper, entered by the coordinator.
    for code, items, name in (("phq9", 9, "PHQ-9"), ("gad7", 7, "GAD-7")):
        page.locator(".pt-visit-actions").get_by_role("link", name=name, exact=True).click()
        _answer_all(page, code, items, "Several days")
        if code == "phq9":
            _check(page, "paper entry form", size, "paper-entry")
        page.get_by_label("Why are you entering these answers?").fill("Paper form returned by post")
        page.get_by_role("button", name="Record answers").click()
        expect(page.locator(".flash")).to_be_visible()
    responses = Response.objects.filter(assessment__participant=participant)
    assert sorted(r.instrument_code for r in responses) == ["gad7", "phq9"]
    assert {(r.source, r.submitted_by_id) for r in responses} == {("staff", coordinator.pk)}

    # Randomize: the page explains, then one button.
    page.get_by_role("link", name="Randomize", exact=True).click()
    _check(page, "randomization page", size, "randomize")
    page.get_by_role("button", name=re.compile("Randomize .* now")).click()
    participant.refresh_from_db()
    assert participant.status == Status.RANDOMIZED
    expect(page.locator(".flash")).to_be_visible()

    # Four weeks later the week 4 questionnaires are open; the participant says the e-mail never came.
    week4 = ScheduledAssessment.objects.get(participant=participant, visit__code="week4")
    now = clock.now()
    ScheduledAssessment.objects.filter(pk=week4.pk).update(
        opens_at=now - timedelta(hours=1), due_at=now, closes_at=now + timedelta(days=7)
    )
    week4.refresh_from_db()
    assessments_open([week4], now=now)
    mail.outbox.clear()
    page.reload()
    page.get_by_role("button", name="Resend invitation").click()
    expect(page.locator(".flash")).to_be_visible()
    _check(page, "participant page after a resend", size)
    first = LINK.search(mail.outbox[-1].body)
    assert first is not None and "jamie@example.org" in mail.outbox[-1].to

    # The link may have been forwarded: a new one, and the old one stops working at once.
    page.locator("summary", has_text="Issue a new link").click()
    page.get_by_label("Stop the current link").check()
    page.get_by_role("button", name="Issue a new link").click()
    expect(page.locator(".flash")).to_be_visible()
    second = LINK.search(mail.outbox[-1].body)
    assert second is not None and second.group(0) != first.group(0)
    visitor = new_page(browser, "phone")
    visitor.goto(first.group(0))
    expect(visitor.get_by_role("heading", level=1)).not_to_contain_text("Your questionnaires")
    visitor.goto(second.group(0))
    expect(visitor.get_by_role("heading", name="Your questionnaires")).to_be_visible()
    week4.refresh_from_db()
    assert week4.status == AssessmentStatus.OPEN
    assert problems == []
