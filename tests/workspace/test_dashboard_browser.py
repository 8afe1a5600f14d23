"""The dashboard and the participant list in a real Chromium: no CSP violation or console error, no
accessibility violation (axe-core, WCAG 2.1 AA), no
horizontal scroll at 1280x800 (nor on a 390 px phone), and the list's filters refresh the table through
htmx, keeping the address in step. Skips without playwright or Chromium, like tests/test_csp_browser.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from participants import services
from tests import helpers
from tests.browser import LAPTOP, PHONE, Watched, assert_accessible, expect, screenshot
from trial.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 8).map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def coordinator_cookies(live_server: Any, trial: Any) -> list[dict[str, Any]]:
    user = get_user_model().objects.create_user("mick", email="mick@example.org", password="x")
    helpers.grant(trial, user, Role.COORDINATOR)
    helpers.grant(trial, user, Role.INVESTIGATOR)  # the alerts panel too
    for i in range(4):
        helpers.randomized(trial)
        helpers.enrolled(trial, condition="GAD")
        person = helpers.consented(trial)
        services.participant_enroll(
            participant=person,
            contact=services.ContactInput(
                full_name=f"Maximiliana Konstantinopoulou-Vanderberg {i}",
                email=f"maximiliana.konstantinopoulou.{i}@a-rather-long-example-domain.org",
                timezone="America/New_York",
            ),
            by=None,
        )
    client = Client()
    client.force_login(user)
    return [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]


def test_the_pages_fit_the_screen_and_pass_the_csp(browser: Any, live_server: Any, trial: Any, coordinator_cookies):
    for viewport in (LAPTOP, PHONE):
        tab = Watched(browser, coordinator_cookies)
        tab.page.set_viewport_size(viewport)
        for path in ("", "participants/", "?by=week", "participants/?stratum=condition:GAD"):
            tab.goto(f"{live_server.url}/workspace/{trial.slug}/{path}")
            wide = tab.page.evaluate(WIDEST)
            name = (path.split("?")[0].strip("/") or "dashboard") + ("-week" if "week" in path else "")
            screenshot(tab.page, f"workspace-{name}-{viewport['width']}.png")
            assert tab.page.evaluate(NO_SIDEWAYS_SCROLL), (viewport, path, wide)
            assert_accessible(tab.page, f"{path or 'dashboard'} at {viewport['width']} px")
            assert tab.page.evaluate("window.__violations") == [], (viewport, path)
        assert tab.problems == []
        tab.context.close()


def test_the_filters_refresh_the_table_in_place(browser: Any, live_server: Any, trial: Any, coordinator_cookies):
    tab = Watched(browser, coordinator_cookies)
    tab.page.set_viewport_size(LAPTOP)
    tab.goto(f"{live_server.url}/workspace/{trial.slug}/participants/")
    rows = tab.page.locator("table.plist tbody tr")
    assert rows.count() == 12
    tab.page.select_option("#id_stratum", "condition:GAD")
    tab.page.wait_for_url("**stratum=condition%3AGAD**")
    expect(rows).to_have_count(4)
    assert tab.page.locator("h1").count() == 1  # the table was swapped, not the page nested in itself
    tab.page.fill("#id_q", "Konstantinopoulou")
    expect(tab.page.locator("table.plist tbody td[colspan]")).to_have_text("No participant matches the filters.")
    assert tab.problems == [] and tab.page.evaluate("window.__violations") == []
