"""The clinician's path in a real browser (Debian's Chromium), at a laptop's and a phone's size: a
participant answers PHQ-9 item 9 on their questionnaire page; the clinician finds the alert in the queue,
acknowledges it, records the contact and risk assessment, resolves it and records an adverse event."""

from __future__ import annotations

import re
from typing import Any

import pytest

from participants.models import AdverseEvent, SafetyAlert
from tests import helpers
from tests.assessments.test_browser import _answer, _fill, _invitation_link, short_trial  # noqa: F401
from tests.browser import SIZES, assert_accessible, expect, new_page, screenshot
from trial.models import Role

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", list(SIZES))
def test_a_clinician_works_an_item_9_alert_to_an_adverse_event(
    browser: Any,
    short_trial: Any,  # noqa: F811
    live_server: Any,
    django_user_model: Any,
    size: str,
) -> None:
    trial = short_trial
    clinician = django_user_model.objects.create_user("clara", email="clara@example.org", password="x")
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    participant = helpers.enrolled(trial)

    survey = browser.new_context(viewport=SIZES["phone"]).new_page()
    survey.goto(_invitation_link() + "phq9/")
    _fill(survey, "phq9", 8, label="More than half the days")
    _answer(survey, "phq9_9", "More than half the days")
    survey.get_by_role("button", name="Send and continue").click()
    expect(survey.get_by_role("alert")).to_be_visible()
    survey.context.close()
    alert = SafetyAlert.objects.get(participant=participant)

    page = new_page(browser, size, user=clinician, live_server=live_server)
    context = page.context
    problems: list[str] = []
    # A form refused for what is missing comes back with status 400, which Chromium logs; nothing else may.
    page.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and "status of 400" not in m.text else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{live_server.url}/workspace/{trial.slug}/")
    page.get_by_role("link", name="Safety", exact=True).click()
    row = page.locator("tr", has_text=participant.study_id)
    expect(row).to_contain_text("PHQ-9 item 9 answered 'More than half the days' (2), total 18, Baseline visit")
    expect(row).to_contain_text("Routine")
    assert_accessible(page, f"safety queue at {size}")
    screenshot(page, f"workspace-safety-queue-{size}.png")
    row.get_by_role("link", name=re.compile("PHQ-9 item 9")).click()
    assert_accessible(page, f"alert page at {size}")
    screenshot(page, f"workspace-alert-{size}.png")

    expect(page.get_by_role("link", name="jamie@example.org")).to_have_attribute("href", "mailto:jamie@example.org")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Alert acknowledged.")).to_be_visible()

    page.get_by_role("button", name="Save contact and risk assessment").click()  # nothing filled in
    expect(page.get_by_text("Risk level: Choose the risk level from your assessment.")).to_be_visible()
    assert_accessible(page, f"alert page with the form's errors at {size}")
    page.get_by_label("Contact notes").fill("Phoned; safety plan reviewed with the participant")
    page.get_by_label("Risk level").select_option("low")
    page.get_by_role("button", name="Save contact and risk assessment").click()
    expect(page.get_by_text("Contact and risk assessment recorded.")).to_be_visible()

    page.get_by_label("Resolution").fill("Low risk; follow-up call booked")
    page.get_by_role("button", name="Resolve the alert").click()
    expect(page.get_by_text("Alert resolved.")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_role("link", name="Record an adverse event").click()
    expect(page.get_by_label("Participant (study ID)")).to_have_value(participant.study_id)
    assert_accessible(page, f"adverse event form at {size}")
    screenshot(page, f"workspace-adverse-event-{size}.png")
    page.get_by_label("Description").fill("Worsening low mood with passive thoughts of death")
    page.get_by_label("Moderate").check()
    page.get_by_label("Relatedness to the intervention").select_option("unlikely")
    page.get_by_label("Outcome").select_option("recovering")
    page.get_by_role("button", name="Record the adverse event").click()
    expect(page.get_by_text("Adverse event recorded.")).to_be_visible()
    assert_accessible(page, f"adverse event page at {size}")
    page.go_back()  # the form sent again from the browser's history records nothing new
    page.get_by_role("button", name="Record the adverse event").click()
    context.close()

    alert.refresh_from_db()
    assert (alert.status, alert.risk_level, alert.resolution) == ("resolved", "low", "Low risk; follow-up call booked")
    event = AdverseEvent.objects.get()
    assert (event.alert, event.severity, event.serious) == (alert, "moderate", False)
    assert not problems, problems
