"""`make serve-prod`: the Procfile's production processes (gunicorn, Celery worker and beat) run by honcho
on one machine, with the settings from the environment."""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from config.celery import app as celery_app
from tests import helpers
from trial.models import Role
from trial.services import trial_set_status, trial_unblinding_request

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")
MAKE = shutil.which("make") or "make"


def _make(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    # -o: never rebuild the virtualenv from inside a test.
    return subprocess.Popen(
        [MAKE, "-o", ".venv/.installed", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {*SERVICE_VARS, "DEBUG", "TESTING", "CI"}}
    env["VAR_DIR"] = str(tmp_path / "var")
    return env


def test_serve_prod_names_the_settings_it_lacks(tmp_path):
    process = _make("serve-prod", env=_base_env(tmp_path))
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "set SECRET_KEY DATABASE_URL REDIS_URL in the environment" in output
    assert not (tmp_path / "var").exists()  # stopped before migrate


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict  # the test database pytest-django made from DATABASE_URL
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_serve_prod_starts_web_worker_and_beat_and_stops_cleanly(tmp_path, settings):
    port = _free_port()
    mail_dir = tmp_path / "mail"
    env = _base_env(tmp_path) | {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WORKER_CONCURRENCY": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    started = time.monotonic()
    process = _make("serve-prod", f"PORT={port}", env=env)
    try:
        # /health/ answers over plain HTTP (load balancers probe it so); everything else is sent to HTTPS.
        while _status(port, "/health/") != 200:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() - started < 60, "the web process did not answer"
            time.sleep(0.3)
        assert _status(port, "/admin/login/") == 301

        # A task through Redis to the worker: the notice of an unblinding request, sent by its e-mail.
        trial = helpers.open_reference_trial()
        investigator = get_user_model().objects.create_user("pi-prod", email="pi-prod@example.org")
        helpers.grant(trial, investigator, Role.INVESTIGATOR)
        trial_set_status(trial=trial, status="closed", by=None)
        celery_app.conf.task_always_eager = False  # the delivery task goes to the broker
        trial_unblinding_request(trial=trial, by=investigator, reason="Final analysis")
        while not (mail_dir.exists() and any(mail_dir.iterdir())):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() - started < 75, "the worker did not deliver the message"
            time.sleep(0.3)
        sent = "".join(path.read_text() for path in mail_dir.iterdir())
        assert "Request to unblind the trial" in sent and "pi-prod@example.org" in sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"serve-prod did not stop within 20 s of SIGTERM:\n{output}")
    assert "web.1" in output and "worker.1" in output and "beat.1" in output, output
    assert "beat: Starting" in output, output
    assert _status(port, "/health/") is None
    assert time.monotonic() - started < 60
