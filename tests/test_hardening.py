"""Hardening of what the site sends: no response with personal data is kept by a browser or a proxy."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from django.test import Client

from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from tests import helpers
from tests.admin import login

BASE = "/api/v1/trials/therabot"
ROOT = Path(__file__).resolve().parent.parent


def _not_stored(response) -> None:
    assert "no-store" in response["Cache-Control"], response.get("Cache-Control")
    assert "private" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"


def test_api_responses_with_contact_details_and_research_data_are_not_stored(api, coordinator, investigator, trial):
    participant = helpers.enrolled(trial, by=coordinator)
    contact = api(coordinator).get(f"{BASE}/participants/{participant.pk}/contact/")
    assert contact.status_code == 200 and contact.json()["email"] == "jamie@example.org"
    _not_stored(contact)
    _not_stored(api(coordinator).get(f"{BASE}/participants/"))
    _not_stored(api(coordinator).get(f"{BASE}/participants/{participant.pk}/"))
    _not_stored(api(investigator).get(f"{BASE}/audit/"))
    _not_stored(api(investigator).get(f"{BASE}/safety-alerts/"))
    _not_stored(api(investigator).get(f"{BASE}/exports/long.csv"))
    _not_stored(api(None).get(f"{BASE}/participants/"))  # the 401 too


def test_participant_pages_and_admin_pages_are_not_stored(client: Client, coordinator, trial):
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant)
    page = client.get(urlsplit(link_create(assessment=baseline)).path)
    assert page.status_code == 200
    _not_stored(page)

    login(client, coordinator)
    change = client.get(f"/admin/participants/participant/{participant.pk}/change/")
    assert change.status_code == 200
    _not_stored(change)


def test_every_page_carries_the_content_security_policy(client: Client, trial):
    participant = helpers.enrolled(trial)
    page = client.get(urlsplit(link_create(assessment=ScheduledAssessment.objects.get(participant=participant))).path)
    for response in (page, client.get("/admin/login/"), client.get("/q/no-such-link/")):
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


#: A self-contained file, never a page of the site: its one <style> is allowed by hash in the policy it is
#: downloaded with (analysis.report.policy_for; tests/test_csp_browser.py shows it in Chromium).
STANDALONE = {"analysis/templates/analysis/report/report.html": "<style"}


def test_templates_have_no_inline_script_or_style_attribute():
    """The policy refuses them (tests/test_csp_browser.py shows it in Chromium); a nonce'd <style> is fine."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=|<style(?![^>]*\bnonce=)", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted(ROOT.glob("*/templates/**/*.html")) + sorted(ROOT.glob("templates/**/*.html"))
        if ".venv" not in path.parts
        for match in inline.finditer(path.read_text())
        if STANDALONE.get(str(path.relative_to(ROOT))) != match.group(0)
    ]
    assert found == []
