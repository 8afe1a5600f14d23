"""Settings come from the environment and fail loudly; Celery and the cache use Redis when it is set."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core import mail

from config.celery import app as celery_app
from tests import helpers

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import django; django.setup(); from django.conf import settings as s; print({})"


def _settings(expression: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TESTING"}
    }
    clean.update(
        env, DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=env.get("VAR_DIR", str(ROOT / "var" / "test-settings"))
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(expression)],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_secret_key_is_required_outside_debug():
    result = _settings("s.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_without_a_secret_key_gets_a_random_one_each_start():
    first, second = _settings("s.SECRET_KEY", DEBUG="1"), _settings("s.SECRET_KEY", DEBUG="1")
    assert first.returncode == 0 and second.returncode == 0
    assert len(first.stdout.strip()) >= 50
    assert first.stdout != second.stdout


def test_the_embedded_default_needs_no_services(tmp_path):
    result = _settings(
        "(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'])",
        SECRET_KEY="k" * 50,
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout and "True" in result.stdout and "LocMemCache" in result.stdout


def test_database_and_redis_urls_configure_postgres_celery_and_the_cache():
    result = _settings(
        "(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL, "
        "s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'])",
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://u@db.example:5432/trials",
        REDIS_URL="redis://cache.example:6379/2",
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout and "'trials'" in result.stdout
    assert "redis://cache.example:6379/2" in result.stdout
    assert "False" in result.stdout and "RedisCache" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "1", "DATABASE_URL": "nosuch://x"}, "DATABASE_URL"),
        ({"DEBUG": "1", "OUTBOX_MAX_ATTEMPTS": "x"}, "OUTBOX_MAX_ATTEMPTS='x' is not a whole number."),
        ({"DEBUG": "1", "SAFETY_ESCALATION_HOURS": "1h"}, "SAFETY_ESCALATION_HOURS='1h' is not a finite number."),
        (
            {"DEBUG": "1", "SAFETY_ESCALATION_HOURS_URGENT": "nan"},
            "SAFETY_ESCALATION_HOURS_URGENT='nan' is not a finite",
        ),
        ({"DEBUG": "1", "SAFETY_ESCALATION_HOURS": "inf"}, "SAFETY_ESCALATION_HOURS='inf' is not a finite number."),
        (
            {"DEBUG": "1", "ASSESSMENT_SEND_HOUR": "24"},
            "ASSESSMENT_SEND_HOUR='24' is out of range: it must be from 0 to 23.",
        ),
        (
            {"DEBUG": "1", "ASSESSMENT_REMINDER_DAYS": "2,five"},
            "ASSESSMENT_REMINDER_DAYS='five' is not a whole number.",
        ),
        (
            {"DEBUG": "1", "EXPORT_RETENTION_DAYS": "0"},
            "EXPORT_RETENTION_DAYS='0' is out of range: it must be at least 1.",
        ),
        (
            {"DEBUG": "1", "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""},
            "SMS_BACKEND is Twilio, so it needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
            "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID too.",
        ),
        (
            {
                "DEBUG": "1",
                "SMS_BACKEND": "participants.sms.TwilioSmsBackend",
                "TWILIO_ACCOUNT_SID": "AC1",
                "TWILIO_AUTH_TOKEN": "t",
                "TWILIO_FROM_NUMBER": "",
                "TWILIO_MESSAGING_SERVICE_SID": "",
            },
            "it needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID too.",
        ),
        ({"DEBUG": "1", "TWILIO_API_BASE": "api.twilio.com"}, "TWILIO_API_BASE='api.twilio.com' is not an http(s)"),
    ],
)
def test_bad_settings_are_named(env, message):
    result = _settings("1", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_twilio_is_configured_from_the_environment():
    env = {"DEBUG": "1", "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    result = _settings(
        "(s.SMS_BACKEND, s.TWILIO_MESSAGING_SERVICE_SID, s.TWILIO_API_BASE, s.TWILIO_TIMEOUT)",
        **env,
        TWILIO_MESSAGING_SERVICE_SID="MG1",
        TWILIO_FROM_NUMBER="",
        TWILIO_TIMEOUT="4",
        TWILIO_API_BASE="",
    )
    assert result.stdout.strip() == "('participants.sms.TwilioSmsBackend', 'MG1', 'https://api.twilio.com', 4.0)"


def test_numeric_settings_are_read_from_the_environment():
    result = _settings(
        "(s.ASSESSMENT_SEND_HOUR, s.ASSESSMENT_REMINDER_DAYS, s.SAFETY_ESCALATION_HOURS_URGENT, s.EMAIL_PORT)",
        DEBUG="1",
        ASSESSMENT_SEND_HOUR=" 7 ",
        ASSESSMENT_REMINDER_DAYS="1, 3,6",
        SAFETY_ESCALATION_HOURS_URGENT="0.5",
        EMAIL_PORT="",  # empty is the default, as for every setting
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(7, [1, 3, 6], 0.5, 25)"


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_unblinding_notice_travels_through_redis_to_a_real_worker(db, settings):
    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth import get_user_model

    from participants.services import participant_unblind

    trial = helpers.open_reference_trial(slug="masked", open_label=False)
    clinician = get_user_model().objects.create_user("dr-redis", email="dr-redis@example.org")
    helpers.grant(trial, clinician, "safety_clinician")
    participant = helpers.randomized(trial)
    mail.outbox.clear()  # the enrollment's invitation; only the unblinding notice matters here
    celery_app.conf.task_always_eager = False
    assert celery_app.conf.broker_url.startswith("redis://")

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        participant_unblind(participant=participant, reason="Emergency department call", by=clinician)
        deadline = time.monotonic() + 20
        while not mail.outbox and time.monotonic() < deadline:
            time.sleep(0.1)

    assert [m.to for m in mail.outbox] == [["dr-redis@example.org"]]
    assert "Emergency department call" in mail.outbox[0].body


@pytest.mark.redis
def test_the_cache_is_redis_when_configured(settings):
    from django.core.cache import cache

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("trialplatform-test-key", {"n": 1}, timeout=5)
    assert cache.get("trialplatform-test-key") == {"n": 1}


PRODUCTION = {"SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "0", "ALLOWED_HOSTS": "trials.example.org,testserver"}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    """A subprocess without TESTING, as production starts: HSTS, the HTTPS redirect and secure cookies on."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "TESTING", "REDIS_URL"}}
    clean.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_https_is_enforced_outside_debug_except_for_health_checks(tmp_path):
    script = (
        "import django; django.setup(); from django.test import Client; c = Client(); "
        "print(c.get('/admin/login/').status_code, c.get('/admin/login/').get('Location'), "
        "c.get('/health/').status_code, c.get('/admin/login/', secure=True).get('Strict-Transport-Security'), sep='|')"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "TESTING"}}
    clean.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    status, location, health, hsts = result.stdout.strip().splitlines()[-1].split("|")
    assert (status, location) == ("301", "https://testserver/admin/login/")
    assert health != "301"  # load balancers probe /health/ over plain HTTP
    assert hsts == "max-age=31536000; includeSubDomains"


def test_debug_serves_plain_http_without_hsts():
    result = _settings("(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE)", DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(False, 0, False)"


def test_https_settings_are_read_from_the_environment():
    result = _settings(
        "(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER, "
        "s.SECURE_REFERRER_POLICY, s.X_FRAME_OPTIONS)",
        **PRODUCTION,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_PRELOAD="1",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO",
        SECURE_REFERRER_POLICY="no-referrer",
        X_FRAME_OPTIONS="SAMEORIGIN",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "(False, 3600, True, ('HTTP_X_FORWARDED_PROTO', 'https'), 'no-referrer', 'SAMEORIGIN')"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER='X-Forwarded-Proto' is not"),
        ({"SECURE_REFERRER_POLICY": "unsafe-url"}, "SECURE_REFERRER_POLICY='unsafe-url' is not one of"),
        ({"X_FRAME_OPTIONS": "ALLOW"}, "X_FRAME_OPTIONS='ALLOW' is not one of DENY, SAMEORIGIN."),
        ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS='-1' is out of range"),
    ],
)
def test_bad_https_settings_are_named(env, message):
    result = _settings("1", **PRODUCTION, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
