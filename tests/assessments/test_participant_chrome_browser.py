"""The participant pages' chrome in Debian's Chromium at 390x844: the crisis line takes little room until it
matters (the numbers still there, tappable), in English and in Spanish; the icon and the web app manifest are
found, so no page draws a 404; axe-core finds no violation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from participants.models import Participant
from tests import helpers
from tests.browser import Watched, assert_accessible, expect, new_page, screenshot
from trial.models import Trial

pytestmark = pytest.mark.browser

MOST_OF_THE_SCREEN = 0.08  # the crisis line's share of a 390x844 screen, at most


@pytest.fixture
def participant(live_server: Any, settings: Any, trial: Trial) -> Participant:
    settings.PUBLIC_BASE_URL = live_server.url
    return helpers.enrolled(trial)


def _link(participant: Participant, language: str) -> str:
    Participant.objects.filter(pk=participant.pk).update(language=language)
    baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    return link_create(assessment=baseline)


@pytest.mark.parametrize(
    ("language", "asks", "lang_attr"),
    [("en", "In crisis?", "en"), ("es", "¿En crisis?", "es")],
)
def test_the_crisis_line_is_compact_and_its_numbers_are_tappable(browser, participant, language, asks, lang_attr):
    page = new_page(browser, "phone")
    page.goto(_link(participant, language))
    expect(page.locator("html")).to_have_attribute("lang", lang_attr)
    line = page.locator(".crisis-line")
    expect(line).to_contain_text(asks)
    screenshot(page, f"participant-crisis-line-{language}.png")
    box = line.bounding_box()
    assert box is not None and box["y"] == 0
    assert box["height"] <= MOST_OF_THE_SCREEN * 844, f"the crisis line takes {box['height']}px of 844"
    assert line.locator("a[href='tel:988']").is_visible()
    assert line.locator("a[href='sms:988']").is_visible()
    assert line.locator("a[href='tel:911']").is_visible()
    for link in line.locator("a").all():  # big enough to tap (WCAG 2.2's 24px)
        size = link.bounding_box()
        assert size is not None and size["height"] >= 24 and size["width"] >= 24, size
    assert_accessible(page, f"the overview in {language}")

    # The expired-link page carries the same line, in the participant's language.
    page.goto(f"{participant_page_origin(page)}/q/{'x' * 43}/")
    expect(page.locator(".crisis-line a[href='tel:988']")).to_be_visible()
    assert_accessible(page, f"the link problem page in {language}")


def participant_page_origin(page: Any) -> str:
    match = re.match(r"https?://[^/]+", page.url)
    assert match is not None
    return match.group(0)


def test_after_a_risk_answer_the_prominent_box_replaces_the_line(browser, participant, settings):
    page = new_page(browser, "phone")
    page.goto(_link(participant, "en") + "phq9/")
    for n in range(1, 10):
        label = "Several days" if n == 9 else "Not at all"
        page.locator("fieldset", has=page.locator(f"input[name='phq9_{n}']")).get_by_label(label, exact=True).check()
    page.get_by_role("button", name=re.compile("Send|Next|Continue|Submit")).first.click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("link", name=re.compile("Call or text 988"))).to_be_visible()
    assert page.locator(".crisis-line").count() == 0
    assert_accessible(page, "the page after item 9")


def test_the_icon_and_the_manifest_are_found_from_every_kind_of_page(browser, live_server, participant, coordinator):
    mail.outbox.clear()
    watched = Watched(browser)
    requested: list[tuple[str, int]] = []
    watched.page.on("response", lambda response: requested.append((response.url, response.status)))
    watched.goto(_link(participant, "es"))
    # The icon and manifest load after the page: leaving before they have would abort them (ERR_ABORTED).
    watched.page.wait_for_load_state("networkidle")
    watched.page.goto(f"{live_server.url}/q/{'y' * 43}/")  # a 404 of its own, the icon still found
    watched.assert_clean("participant pages")

    icons = watched.page.evaluate(
        "[...document.querySelectorAll('link[rel~=icon], link[rel=manifest], link[rel=apple-touch-icon]')]"
        ".map(l => l.href)"
    )
    assert len(icons) == 4, icons
    for url in icons:
        response = watched.page.request.get(url)
        assert response.ok, (url, response.status)
    manifest = watched.page.request.get(f"{live_server.url}/manifest.webmanifest").json()
    for icon in manifest["icons"]:
        assert watched.page.request.get(f"{live_server.url}{icon['src']}").ok, icon
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512", "any"}
    favicon = watched.page.request.get(f"{live_server.url}/favicon.ico")
    assert favicon.ok and favicon.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    not_found = [(url, status) for url, status in requested if status == 404 and "/q/" not in url]
    assert not_found == []


def test_the_staff_workspace_links_the_icon_too(browser, live_server, coordinator):
    from tests.browser import session_cookie

    watched = Watched(browser, cookies=[session_cookie(live_server, coordinator)])
    watched.goto(f"{live_server.url}/workspace/")
    watched.assert_clean("the workspace")
    icons = watched.page.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert any(url.endswith("/favicon.ico") for url in icons), icons


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_participant_asks_for_a_new_link_from_the_expired_link_page(browser, participant, javascript: bool):
    from django.utils import timezone

    from assessments.models import AccessLink
    from participants.models import OutboxMessage

    old = _link(participant, "es")
    AccessLink.objects.update(expires_at=timezone.now())
    page = new_page(browser, "phone", javascript=javascript)
    page.goto(old)
    expect(page.get_by_role("heading", name="Este enlace venció")).to_be_visible()
    if javascript:
        assert_accessible(page, "the expired-link page with its form")
    page.get_by_label("Correo electrónico o número de celular").fill("jamie@")
    page.get_by_role("button", name="Envíenme un enlace nuevo").click()
    expect(page.locator("#new-link-error")).to_contain_text("Escriba un correo electrónico")
    screenshot(page, f"participant-new-link-{'js' if javascript else 'nojs'}.png")
    if javascript:
        assert_accessible(page, "the form with its error")
    page.get_by_label("Correo electrónico o número de celular").fill("JAMIE@example.org")
    page.get_by_role("button", name="Envíenme un enlace nuevo").click()
    expect(page.get_by_role("heading", name="Revise sus mensajes")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("un enlace nuevo va en camino")
    if javascript:
        assert_accessible(page, "the page after the request")
    assert OutboxMessage.objects.filter(kind="new_link", participant=participant).exists()
