"""Fixtures for the whole suite: a recruiting reference trial, one user per role (the personas),
outsiders, API clients, the guard that makes service-dependent tests fail under CI rather than skip, and
the watch that fails the run if any link token or API key issued in it was written to a log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from assessments import instruments
from assessments.services import links
from config.celery import app as celery_app
from participants import messaging
from participants.services import chatbot, joining
from tests import helpers
from trial.models import Role, Trial

STRICT = os.environ.get("CI", "").lower() in {"1", "true", "yes"} and not os.environ.get("TEST_EMBEDDED_ONLY")


class _IssuedSecrets:
    """Stands in for the ``secrets`` module where link tokens and chatbot keys are made, and keeps each one."""

    def __init__(self) -> None:
        self.issued: set[str] = set()

    def token_urlsafe(self, nbytes: int | None = None) -> str:
        token = secrets.token_urlsafe(nbytes)
        self.issued.add(token)
        return token


class _WrittenLog(logging.Handler):
    """On the root logger: for every record, what the configured handlers write (their filters and
    formatter applied, as settings.LOGGING set them up), indexed by every 43-character URL-safe stretch in
    it (a token is 43 such characters, so a token written anywhere is one of them)."""

    WORD = re.compile(r"[A-Za-z0-9_-]{43,}")

    def __init__(self, written_by: list[logging.Handler]) -> None:
        super().__init__()
        self.written_by = written_by
        self.seen: dict[str, str] = {}
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        for handler in self.written_by:
            if record.levelno < handler.level or not handler.filter(record):
                continue
            text = handler.format(record)
            self.lines += 1
            for word in self.WORD.findall(text):
                for start in range(len(word) - 42):
                    self.seen.setdefault(word[start : start + 43], text[:500])


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations() -> None:
    """The catalogues compiled, as ``make translations`` does (the .mo files are built, never committed);
    a catalogue already compiled and unchanged is left as it is."""
    from pathlib import Path

    from django.core.management import call_command

    with contextlib.chdir(Path(__file__).resolve().parent.parent):
        call_command("compilemessages", ignore_patterns=[".venv/*", "var/*", "build/*"], verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log() -> Iterator[None]:
    """Every link token and chatbot key issued during the session is looked for in every log line the
    session's participant flows, pages, API calls and jobs wrote; one found fails the run."""
    from django.conf import settings

    root = logging.getLogger()
    configured = [h for h in root.handlers if h.name in settings.LOGGING["handlers"]]
    assert configured, "settings.LOGGING configured no handler on the root logger"
    written = _WrittenLog(configured)
    recorder = _IssuedSecrets()
    root.addHandler(written)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(links, "secrets", recorder)
        patch.setattr(chatbot, "secrets", recorder)
        patch.setattr(joining, "secrets", recorder)
        yield
    root.removeHandler(written)
    leaked = sorted(recorder.issued & written.seen.keys())
    assert not leaked, f"{len(leaked)} issued secret(s) written to the log, e.g. {written.seen[leaked[0]]!r}"


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


TEST_WORDING = sorted((helpers.ROOT / "tests" / "wording").glob("*.json"))


@pytest.fixture(scope="session")
def _registries() -> dict[str, instruments.Registry]:
    return {
        "builtin": instruments.load_registry(),
        "test": instruments.load_registry(wording_files=TEST_WORDING),
    }


@pytest.fixture(autouse=True)
def _test_wording(request: pytest.FixtureRequest, _registries: dict[str, instruments.Registry]) -> Iterator[None]:
    """The licensed instruments' wording is not in the repository: tests see invented, plainly fake wording
    for them in English and Spanish (tests/wording/*.json, "Test item gadq4_1"). Tests marked
    ``builtin_wording`` see only what ships."""
    builtin = request.node.get_closest_marker("builtin_wording") is not None
    instruments.install_registry(_registries["builtin" if builtin else "test"])
    yield
    instruments.install_registry(None)


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


@pytest.fixture(autouse=True)
def _no_delivery_left_running() -> Iterator[None]:
    """Delivery started after a response (no broker, a committed transaction) ends within its test."""
    yield
    assert messaging.wait_for_background_delivery(timeout=60), "outbox delivery after a response still runs"


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


@pytest.fixture
def browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's headless Chromium (tests/browser.py); skips without it, fails under CI=true."""
    from tests.browser import chromium

    with chromium(monkeypatch) as launched:
        yield launched
