"""Fixtures for the whole suite: a recruiting reference trial, one user per role (the personas),
outsiders, API clients, and the guard that makes service-dependent tests fail under CI rather than skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests import helpers
from trial.models import Role, Trial

STRICT = os.environ.get("CI", "").lower() in {"1", "true", "yes"} and not os.environ.get("TEST_EMBEDDED_ONLY")


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest, settings: Any) -> None:
    """``@pytest.mark.postgres`` / ``@pytest.mark.redis`` tests skip without the service, and fail under CI
    (CI=true), where skipping them would hide that the concurrency and broker tests never ran."""
    needs: list[str] = []
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        needs.append("PostgreSQL (set DATABASE_URL=postgres://...)")
    if request.node.get_closest_marker("redis") and not settings.REDIS_URL:
        needs.append("Redis (set REDIS_URL=redis://...)")
    if needs:
        message = "needs " + " and ".join(needs)
        if STRICT:
            pytest.fail(f"{message}; CI=true requires it (set TEST_EMBEDDED_ONLY=1 for an embedded-only run)")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters (the API throttles, the participant pages) start from zero in every test."""
    cache.clear()


@pytest.fixture(autouse=True)
def _email_in_memory(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _tasks_in_process() -> Iterator[None]:
    """Tasks run in-process unless a test asks for the real broker (the ``celery_worker`` fixture)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def trial(db: None) -> Trial:
    return helpers.open_reference_trial()


@pytest.fixture
def other_trial(db: None) -> Trial:
    return helpers.open_reference_trial(slug="other-trial", study_id_prefix="OT")


def _member(trial: Trial, username: str, *roles: str) -> Any:
    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org", password="x")
    for role in roles:
        helpers.grant(trial, user, role)
    return user


@pytest.fixture
def coordinator(trial: Trial) -> Any:
    return _member(trial, "carol", Role.COORDINATOR)


@pytest.fixture
def investigator(trial: Trial) -> Any:
    return _member(trial, "ivan", Role.INVESTIGATOR)


@pytest.fixture
def blinded_statistician(trial: Trial) -> Any:
    return _member(trial, "bella", Role.BLINDED_STATISTICIAN)


@pytest.fixture
def unblinded_statistician(trial: Trial) -> Any:
    return _member(trial, "ulla", Role.UNBLINDED_STATISTICIAN)


@pytest.fixture
def clinician(trial: Trial) -> Any:
    return _member(trial, "clara", Role.SAFETY_CLINICIAN)


@pytest.fixture
def administrator(trial: Trial) -> Any:
    return _member(trial, "ada", Role.ADMINISTRATOR)


@pytest.fixture
def outsider(other_trial: Trial) -> Any:
    """Coordinator and administrator of another trial, nothing in ``trial``."""
    return _member(other_trial, "oscar", Role.COORDINATOR, Role.ADMINISTRATOR)


@pytest.fixture
def api() -> Callable[[Any], APIClient]:
    def client_for(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
