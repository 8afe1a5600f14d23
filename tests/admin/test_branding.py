"""The admin is the platform's, for trial design and administration; study work is in the workspace, and a
demo account printed by ``make demo`` gets there through the sign-in form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.admin import login
from trial.models import Trial

pytestmark = pytest.mark.django_db

PLATFORM = "Trial platform"


def assert_branded(page: str) -> None:
    assert PLATFORM in page
    assert "Django administration" not in page and "Django site admin" not in page


def test_the_sign_in_page_names_the_platform(client: Client) -> None:
    page = client.get("/admin/login/").content.decode()
    assert_branded(page)
    assert "<title>Log in | Trial platform administration</title>" in page


def test_every_admin_page_names_the_platform_and_points_to_the_workspace(
    client: Client, trial: Trial, administrator: Any
) -> None:
    login(client, administrator)
    index = client.get("/admin/")
    assert index.status_code == 200
    page = index.content.decode()
    assert_branded(page)
    assert re.search(r'id="workspace-banner".*?<a href="/workspace/">study workspace</a>', page, re.S)
    assert 'href="/workspace/">View site</a>' in page
    for address in (
        reverse("admin:trial_trial_changelist"),
        reverse("admin:trial_trial_change", args=[trial.pk]),
        reverse("admin:trial_auditevent_changelist"),
        reverse("admin:password_change"),
    ):
        response = client.get(address)
        assert response.status_code == 200, address
        assert_branded(response.content.decode())


def test_a_demo_account_signs_in_and_lands_in_the_workspace(capsys: Any) -> None:
    call_command("load_trial_template", "therabot", "--open")
    capsys.readouterr()
    call_command("demo_accounts", "--trial", "therabot")
    out = capsys.readouterr().out
    assert "sign in at /workspace/" in out
    line = next(line.split() for line in out.splitlines() if line.split()[:1] == ["coordinator"])
    password = line[line.index("password") + 1]
    client = Client()
    form = client.get("/admin/login/?next=/workspace/")
    assert 'name="next" value="/workspace/"' in form.content.decode()
    signed_in = client.post(
        "/admin/login/?next=/workspace/", {"username": "coordinator", "password": password, "next": "/workspace/"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/workspace/"
    landing = client.get("/workspace/", follow=True)
    assert landing.redirect_chain == [("/workspace/therabot/", 302)]
    assert landing.status_code == 200
    assert "Trial platform" in landing.content.decode()
    assert 'href="/workspace/therabot/messages/"' in landing.content.decode()
