"""The Content-Security-Policy, in a real headless Chromium: every kind of page the site serves (the
participant's questionnaire pages, the admin, the API docs, the analysis report as downloaded) loads with no
CSP violation and no error in the console, with no inline script allowed.

Skips like tests/assessments/test_browser.py without playwright or Chromium (and fails under CI=true).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from analysis.models import Job, JobKind, JobStatus
from analysis.report import render_report
from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from tests import helpers
from tests.analysis.test_report import build_report
from tests.browser import Watched, expect
from tests.workspace.test_enrollment_forms import ELIGIBLE_FORM
from trial.models import Role, Trial

pytestmark = pytest.mark.browser


def _policy(response: Any) -> str:
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "script-src 'self'" in policy, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    return policy


@pytest.fixture
def staff_cookies(live_server: Any, trial: Trial) -> list[dict[str, Any]]:
    user = get_user_model().objects.create_user("stella", email="stella@example.org", password="x", is_staff=True)
    helpers.grant(trial, user, Role.INVESTIGATOR)
    client = Client()
    client.force_login(user)
    return [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]


def test_the_participant_pages_pass_the_csp(browser, live_server, settings, trial):
    settings.PUBLIC_BASE_URL = live_server.url
    participant = helpers.enrolled(trial)
    link = link_create(assessment=ScheduledAssessment.objects.get(participant=participant))
    tab = Watched(browser)

    _policy(tab.goto(link))
    expect(tab.page.get_by_role("heading", name="Your questionnaires")).to_be_visible()
    tab.assert_clean("overview")
    tab.page.get_by_role("link", name="Start").click()
    expect(tab.page.get_by_role("heading", name="Patient Health Questionnaire-9")).to_be_visible()
    tab.assert_clean("questionnaire")
    tab.page.get_by_role("button", name="Send and continue").click()  # nothing answered: the error summary
    expect(tab.page.locator(".error-summary")).to_be_visible()
    tab.assert_clean("errors")
    for n in range(1, 10):
        tab.page.locator(f"#phq9_{n}-2").check()  # item 9 "More than half the days": the crisis resources
    tab.page.get_by_role("button", name="Send and continue").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("A study clinician will be in touch with you soon.")
    tab.assert_clean("crisis resources")
    while tab.page.get_by_role("button", name=re.compile("Send")).count():
        for fieldset in tab.page.locator("fieldset").all():
            fieldset.locator("input[type=radio]").first.check()
        tab.page.get_by_role("button", name=re.compile("Send")).click()
        tab.page.wait_for_load_state("load")
    expect(tab.page.get_by_role("heading", name="Thank you")).to_be_visible()
    tab.assert_clean("thanks")

    problem = tab.page.goto(f"{live_server.url}/q/not-a-link/")
    assert problem is not None and problem.status == 404
    _policy(problem)
    tab.assert_clean("problem page")
    tab.context.close()


def test_the_admin_passes_the_csp(browser, live_server, trial, staff_cookies, settings):
    participant = helpers.enrolled(trial)
    settings.OIDC_ENABLED, settings.OIDC_PROVIDER_NAME = True, "University login"  # the link on the login page
    anonymous = Watched(browser)
    _policy(anonymous.goto(f"{live_server.url}/admin/login/"))
    expect(anonymous.page.get_by_role("button", name="Log in")).to_be_visible()
    expect(anonymous.page.get_by_role("link", name="Sign in with University login")).to_be_visible()
    anonymous.assert_clean("admin login")
    anonymous.context.close()

    tab = Watched(browser, staff_cookies)
    for path in (
        "/admin/",
        "/admin/participants/participant/",
        f"/admin/participants/participant/{participant.pk}/change/",
        "/admin/trial/trial/",
    ):
        _policy(tab.goto(live_server.url + path))
        tab.assert_clean(path)

    tab.context.close()


def test_the_workspace_screening_form_passes_the_csp(browser, live_server, trial, staff_cookies):
    """Screening through the workspace's form, redirected to its result page."""
    tab = Watched(browser, staff_cookies)
    _policy(tab.goto(f"{live_server.url}/workspace/{trial.slug}/screen/"))
    for name, value in ELIGIBLE_FORM.items():
        field = tab.page.locator(f"[name={name}]")
        if field.count() > 1:  # radio buttons
            tab.page.locator(f"[name={name}][value='{value}']").check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    tab.page.get_by_role("button", name="Record screening").click()
    expect(tab.page.locator("#screening-outcome")).to_have_text("Eligible")
    expect(tab.page.get_by_role("link", name="Record consent")).to_be_visible()
    tab.assert_clean("screening result")
    tab.context.close()


def test_the_api_docs_are_self_hosted_and_pass_the_csp(browser, live_server, staff_cookies):
    tab = Watched(browser, staff_cookies)
    _policy(tab.goto(f"{live_server.url}/api/docs/"))
    expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("Trial platform API")
    expect(tab.page.get_by_text("/api/v1/trials/{slug}/screenings/").first).to_be_visible()
    tab.assert_clean("Swagger UI")

    _policy(tab.goto(f"{live_server.url}/api/redoc/"))
    expect(tab.page.get_by_role("heading", name=re.compile("Trial platform API"))).to_be_visible()
    expect(tab.page.get_by_text("/api/v1/trials/{slug}/screenings/").first).to_be_attached()
    # Blocked on purpose: the vendor's logo, which ReDoc would fetch from its CDN (it hides it when it fails).
    tab.assert_clean("ReDoc", blocked=("https://cdn.redoc.ly/redoc/logo-mini.svg",))
    assert tab.hosts == {urlsplit(live_server.url).netloc}  # nothing from a CDN: works offline
    tab.context.close()


def test_the_report_as_downloaded_passes_its_own_csp(browser, live_server, trial, staff_cookies, settings, tmp_path):
    """The report is sent as an attachment, which a browser saves rather than shows; this shows it with
    the headers it was sent with (its policy allows its own style sheet, by hash, and nothing else)."""
    settings.EXPORT_ROOT = tmp_path
    path = tmp_path / "report.html"
    path.write_text(render_report(build_report()), encoding="utf-8")
    job = Job.objects.create(
        trial=trial,
        requested_by=get_user_model().objects.get(username="stella"),
        kind=JobKind.REPORT,
        format="html",
        blinded=False,
        status=JobStatus.DONE,
        file_name="report.html",
        path=str(path),
        bytes=path.stat().st_size,
        finished_at=timezone.now(),
    )
    tab = Watched(browser, staff_cookies)
    url = f"{live_server.url}/api/v1/trials/{trial.slug}/jobs/{job.pk}/download/"
    served = tab.context.request.get(url)
    assert served.ok, served.status
    headers = served.headers
    assert headers["content-disposition"].startswith("attachment;")
    policy = headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-") and "script-src" not in policy

    shown = f"{live_server.url}/shown-report/"
    inline = {k: v for k, v in headers.items() if k != "content-disposition"}
    tab.page.route(shown, lambda route: route.fulfill(status=200, headers=inline, body=served.body()))
    tab.goto(shown)
    expect(tab.page.locator("h1")).to_be_visible()
    assert tab.page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") != "none"  # styled
    tab.assert_clean("report")
    tab.context.close()
