"""What the browser tests share: Debian's Chromium driven by playwright, signed-in staff pages at laptop
and phone sizes, the accessibility check (axe-core, vendored in tests/vendor/axe-core), screenshots.

Needs the ``playwright`` package and a Chromium at /usr/bin/chromium (or ``CHROMIUM_PATH``); never
``playwright install``. Without them the tests skip, except under CI (CI=true), where a skipped browser
test would hide that the pages were never tried in a browser, so they fail instead. Set ``SCREENSHOT_DIR``
to keep the screenshots (``make screenshots`` writes the ones the docs show into docs/screenshots/).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.test import Client

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - require_browser explains it
    Page = expect = sync_playwright = None  # type: ignore[assignment,misc]

STRICT = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = {"laptop": LAPTOP, "phone": PHONE}

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1
# The page fetches axe from its own origin, so the Content-Security-Policy (script-src 'self') admits it
# as it is; the route below answers this address from the vendored file.
AXE_PATH = "/__tests__/axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def require_browser() -> None:
    missing = []
    if sync_playwright is None:
        missing.append("the playwright package (pip install playwright; no 'playwright install' needed)")
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if STRICT:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)


@contextmanager
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium for one test (the ``browser`` fixture in tests/conftest.py)."""
    require_browser()
    # Playwright's sync API runs an event loop in this thread. The test's own ORM calls are still
    # synchronous (the pages are served by the live server's threads), so Django may make them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While that loop runs, Django keeps this thread's connections apart from the usual ones
            # (asgiref's Local); left open, they keep PostgreSQL from dropping the test database.
            connections.close_all()


def session_cookie(live_server: Any, user: Any) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


def new_page(
    browser: Any, size: str = "laptop", *, javascript: bool = True, user: Any = None, live_server: Any = None
) -> Page:
    """A page at ``size`` ("laptop" 1280x800 or "phone" 390x844), signed in as ``user`` if given."""
    phone = size == "phone"
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=phone, has_touch=phone, java_script_enabled=javascript
    )
    context.set_default_timeout(15_000)
    if user is not None:
        context.add_cookies([session_cookie(live_server, user)])
    serve_axe(context)
    return context.new_page()


def serve_axe(context: Any) -> None:
    """Let the context's pages load the vendored axe-core from their own origin (AXE_PATH)."""
    body = AXE.read_bytes()
    assert hashlib.sha256(body).hexdigest() == AXE_SHA256, "tests/vendor/axe-core/axe.min.js is not the vendored file"
    context.route(f"**{AXE_PATH}", lambda route: route.fulfill(body=body, content_type="text/javascript"))


def axe_violations(page: Page) -> list[str]:
    """The WCAG 2.1 A/AA violations axe-core finds on the page as it is now, one line each (axe runs in the
    page: it needs a page with JavaScript on; the markup it checks is the same without)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_PATH)
    results = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_AA,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:5])}"
        for v in results["violations"]
    ]


def assert_accessible(page: Page, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{where}: {violations}"


def fits_width(page: Page) -> bool:
    """Whether the page needs no sideways scrolling (wide tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def too_wide(page: Page) -> list[str]:
    """The elements that stick out past the right edge (for a failure's message)."""
    return list(
        page.evaluate(
            """[...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
              .slice(0, 6).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""
        )
    )


def screenshot(page: Page, name: str) -> None:
    directory = os.environ.get("SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(directory) / name), full_page=True)


# Every violation is recorded in the page itself, whether or not the console shows it.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
});
"""


class Watched:
    """A page whose console errors, CSP violations and failed requests are collected."""

    def __init__(self, browser: Any, cookies: list[dict[str, Any]] | None = None) -> None:
        self.context = browser.new_context()
        self.context.set_default_timeout(15_000)
        if cookies:
            self.context.add_cookies(cookies)
        self.context.add_init_script(WATCH)
        serve_axe(self.context)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.hosts: set[str] = set()  # where requests went and were answered
        self.page.on("requestfinished", self._finished)

    def _finished(self, request: Any) -> None:
        if urlsplit(request.url).scheme in {"http", "https"}:
            self.hosts.add(urlsplit(request.url).netloc)

    def _console(self, message: Any) -> None:
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and url == self.page.url:
            return  # the page's own status (a 400 with the form's errors, the 404 problem page)
        if message.type in {"error", "warning"} or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text} ({message.location})")

    def goto(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.ok, (url, response and response.status)
        return response

    def _failed(self, request: Any) -> None:
        # ERR_ABORTED is the browser cancelling a load because the page moved on (the icon of a page left
        # at once), not a refusal: a load the policy blocks fails with ERR_BLOCKED_BY_CSP and is kept.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} {request.failure}")

    def assert_clean(self, where: str, *, blocked: tuple[str, ...] = ()) -> None:
        """No violation and no console error, except for what ``blocked`` names (the policy's doing)."""
        self.page.wait_for_load_state("load")
        violations = [v for v in self.page.evaluate("window.__violations") if not any(b in v for b in blocked)]
        problems = [p for p in self.problems if not any(b in p for b in blocked)]
        assert (violations, problems) == ([], []), (where, violations, problems)
