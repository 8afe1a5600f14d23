"""Every workspace page an investigator can open (they hold every study-work capability: enroll, contact
details, safety, unblinding), in Chromium at 1280x800 and 390x844: axe-core finds no WCAG 2.1 AA
violation, nothing needs sideways scrolling, and no console error or CSP violation occurs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import LAPTOP, PHONE, Watched, assert_accessible, fits_width, session_cookie, too_wide
from tests.workspace.test_every_page import DOWNLOADS, POST_ONLY, world  # noqa: F401  (the fixture)
from tests.workspace.test_participant_page import masked  # noqa: F401  (the fixture world needs)
from trial.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_page_is_accessible_and_fits(
    browser: Any,
    live_server: Any,
    world: dict[str, Any],  # noqa: F811
    size: dict[str, int],
) -> None:
    investigator = world["readers"][Role.INVESTIGATOR]
    tab = Watched(browser, [session_cookie(live_server, investigator)])
    tab.page.set_viewport_size(size)
    checked = []
    for name, path in world["pages"].items():
        if name in POST_ONLY or name in DOWNLOADS:
            continue
        response = tab.page.goto(live_server.url + path)
        assert response is not None
        if response.status != 200:
            assert response.status in {302, 403}, (name, response.status)
            continue
        assert_accessible(tab.page, f"{name} at {size['width']} px")
        assert fits_width(tab.page), (name, size["width"], too_wide(tab.page))
        checked.append(name)
    tab.assert_clean("every page")
    assert len(checked) >= 15, checked
