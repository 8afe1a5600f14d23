"""The workspace in Debian's Chromium at laptop and phone sizes: each page passes axe-core's WCAG 2.1 AA
rules, fits the screen, and keeps working without JavaScript. (The coordinator's and the clinician's
whole paths are in test_browser_paths.py.)"""

from __future__ import annotations

import pytest

from tests import helpers
from tests.browser import assert_accessible, fits_width, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_dashboard_and_participant_list_are_accessible_and_fit(browser, live_server, trial, coordinator, size):
    for _ in range(3):
        helpers.enrolled(trial)
    page = new_page(browser, size, user=coordinator, live_server=live_server)
    for path, name in (
        (f"/workspace/{trial.slug}/", "dashboard"),
        (f"/workspace/{trial.slug}/participants/", "participants"),
    ):
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        assert_accessible(page, f"{name} at {size}")
        assert fits_width(page), f"{name} needs sideways scrolling at {size}"
        screenshot(page, f"workspace-{name}-{size}.png")
