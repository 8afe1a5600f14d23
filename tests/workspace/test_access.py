"""Who reaches the workspace: signed-in members of a trial; nobody else learns that the trial exists."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_anonymous_readers_are_sent_to_sign_in(web: Any, trial: Any) -> None:
    response = web(None).get(f"/workspace/{trial.slug}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/workspace/")


def test_outsiders_get_the_same_404_as_for_a_trial_that_does_not_exist(web: Any, trial: Any, outsider: Any) -> None:
    client = web(outsider)
    for path in (f"/workspace/{trial.slug}/", f"/workspace/{trial.slug}/participants/"):
        hidden = client.get(path)
        missing = client.get(path.replace(trial.slug, "no-such-trial"))
        assert hidden.status_code == missing.status_code == 404
        assert trial.title not in hidden.content.decode()


def test_a_member_with_one_trial_lands_on_its_dashboard(web: Any, trial: Any, coordinator: Any) -> None:
    response = web(coordinator).get("/workspace/")
    assert response.status_code == 302
    assert response["Location"] == f"/workspace/{trial.slug}/"
    page = web(coordinator).get(response["Location"])
    assert page.status_code == 200
    assert trial.title in page.content.decode()


def test_a_member_of_several_trials_chooses_one(web: Any, trial: Any, other_trial: Any, coordinator: Any) -> None:
    from tests.helpers import grant

    grant(other_trial, coordinator, "coordinator")
    page = web(coordinator).get("/workspace/").content.decode()
    assert f'href="/workspace/{trial.slug}/"' in page
    assert f'href="/workspace/{other_trial.slug}/"' in page


def test_the_site_root_opens_the_workspace(web: Any) -> None:
    response = web(None).get("/")
    assert response.status_code == 302 and response["Location"] == "/workspace/"


def test_htmx_is_served_from_this_site_and_no_cdn(web: Any, trial: Any, coordinator: Any) -> None:
    page = web(coordinator).get(f"/workspace/{trial.slug}/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js"' in page
    assert "unpkg" not in page and "cdn" not in page.lower()
    assert finders.find("django_htmx/htmx-2.min.js")
    assert "django_htmx" in settings.INSTALLED_APPS


def test_every_time_names_its_zone(web: Any, trial: Any, coordinator: Any) -> None:
    """The reference trial keeps New York time; the footer says so and the zone's abbreviation."""
    page = web(coordinator).get(f"/workspace/{trial.slug}/").content.decode()
    assert "America/New_York (E" in page  # EST or EDT
