"""Settings, read from the environment and failing loudly.

Embedded default (nothing set): SQLite file under ``var/``, Celery tasks run in-process, local-memory
cache, e-mail written to the console. Production sets ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``
and the ``EMAIL_*`` variables. See docs/operator.md.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets typed code subscript Django generics at runtime (admin.ModelAdmin[Trial], QuerySet[Participant]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _number(name: str, raw: str, kind: type[int] | type[float], low: float | None, high: float | None) -> Any:
    try:
        value = kind(raw.strip())
        if not math.isfinite(value):
            raise ValueError(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a finite number"
        raise ImproperlyConfigured(f"{name}={raw!r} is not {noun}.") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ImproperlyConfigured(f"{name}={raw!r} is out of range: it must be {bounds}.")
    return value


def env_int(name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
    raw = os.environ.get(name, "")
    return default if raw.strip() == "" else int(_number(name, raw, int, low, high))


def env_float(name: str, default: float, *, low: float | None = None) -> float:
    raw = os.environ.get(name, "")
    return default if raw.strip() == "" else float(_number(name, raw, float, low, None))


def env_int_list(name: str, default: str, *, low: int | None = None) -> list[int]:
    return [int(_number(name, item, int, low, None)) for item in env_list(name, default)]


TESTING = "pytest" in sys.modules or env_bool("TESTING")
DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or set DEBUG=1 for local development."
        )
    # Debug and tests only: a fresh key per process, never one written in the code.
    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if (DEBUG or TESTING) else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A participant whose browser dropped the CSRF cookie gets a friendly "please try again" page.
CSRF_FAILURE_VIEW = "assessments.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "trial",
    "participants",
    "assessments",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} cannot be parsed: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock when a transaction starts, so two randomizations never read
        # the same sequence state on SQLite either; the timeout waits for the lock instead of failing.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
        config["CONN_MAX_AGE"] = 0
    config["ATOMIC_REQUESTS"] = False
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker when configured; otherwise tasks run in-process, so the embedded default needs
# no services. Tasks are queued on commit by the services (transaction.on_commit).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# E-mail: console by default; EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST,
# EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS for real delivery.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, low=1, high=65535)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trials@localhost")

if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Where links in messages point (participant questionnaire links, alert links for clinicians).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# Safety: unacknowledged alerts escalate after these many hours (urgent: PHQ-9 item 9 = 3, chatbot crisis).
SAFETY_ESCALATION_HOURS = env_float("SAFETY_ESCALATION_HOURS", 24, low=0)
SAFETY_ESCALATION_HOURS_URGENT = env_float("SAFETY_ESCALATION_HOURS_URGENT", 1, low=0)

# Crisis resources shown on every participant page, and at once after a risk answer (PHQ-9 item 9).
# US defaults; a trial elsewhere replaces them (Trial.crisis_resources; see assessments/crisis.py).
CRISIS_RESOURCES: list[dict[str, str]] = [
    {"name": "988 Suicide & Crisis Lifeline", "action": "Call or text 988", "href": "tel:988"},
    {"name": "Emergency services", "action": "Call 911", "href": "tel:911"},
]

# Questionnaires: invitations and reminders go out at this local hour of the participant; reminders on
# these days after a questionnaire opens, until it is completed or its window closes.
ASSESSMENT_SEND_HOUR = env_int("ASSESSMENT_SEND_HOUR", 9, low=0, high=23)
ASSESSMENT_REMINDER_DAYS = env_int_list("ASSESSMENT_REMINDER_DAYS", "2,5", low=1)

# Instruments: definitions beyond the built-in ones (fixtures/instruments), and the item wording of
# licensed instruments, which the repository does not ship (docs/instruments.md).
INSTRUMENT_DIRS = env_list("INSTRUMENT_DIRS")
INSTRUMENT_WORDING_FILES = env_list("INSTRUMENT_WORDING_FILES")

# Messages: SMS through a pluggable backend (console by default); the outbox retries with back-off.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "participants.messaging.ConsoleSmsBackend")
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8, low=1)
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300, low=1)

CELERY_BEAT_SCHEDULE = {
    "sweep-assessments": {"task": "assessments.tasks.sweep", "schedule": 60.0},
    "escalate-safety-alerts": {"task": "participants.tasks.escalate_safety_alerts", "schedule": 60.0},
    "deliver-outbox": {"task": "participants.tasks.deliver_outbox", "schedule": 60.0},
    "resume-jobs": {"task": "analysis.tasks.resume_jobs", "schedule": 300.0},
}

# Export and report files built by background jobs: where they are kept, for how long, and after how
# long a job whose worker died is run again.
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", VAR_DIR / "exports"))
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7, low=1)
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 5 * 3600, low=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "config.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trial platform API",
    "DESCRIPTION": "Enrollment, concealed randomization and follow-up of randomized controlled trials.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents its 4xx answers in the one error format (config/api.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.document_errors"],
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
