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
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Lets typed code subscript Django generics at runtime (admin.ModelAdmin[Trial], QuerySet[Participant]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
# What the platform ships with (instrument definitions, the reference trial template, translations) is in
# this package, so an installed wheel carries it as well as a checkout does.
BUNDLED_DIR = Path(__file__).resolve().parent
# Files the platform writes: next to manage.py in a checkout; in the working directory for an installed
# copy (site-packages is no place for them), unless VAR_DIR says where.
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var" if (BASE_DIR / "manage.py").exists() else Path.cwd() / "var"))


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


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF writes it: ``30/minute`` (per second, minute, hour or day)."""
    raw = os.environ.get(name, "").strip() or default
    count, _, period = raw.partition("/")
    if not (count.isdigit() and int(count) >= 1 and period and period[0] in "smhd"):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate such as 30/minute (per second, minute, hour or day).")
    return raw


def env_int_list(name: str, default: str, *, low: int | None = None) -> list[int]:
    return [int(_number(name, item, int, low, None)) for item in env_list(name, default)]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    if raw.strip() not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not one of {', '.join(choices)}.")
    return raw.strip()


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
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "mozilla_django_oidc",
    "django_htmx",
    "trial",
    "participants",
    "assessments",
    "analysis",
    "workspace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trial.middleware.SessionTimeoutMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "trial.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers a locked-out login with trial.throttling.lockout_response (AXES_LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trial.oidc.single_sign_on",
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

# Single sign-on for staff over OpenID Connect (trial/oidc.py; docs/operator.md, "Single sign-on"): on when
# OIDC_RP_CLIENT_ID is set, and then the secret and the provider's endpoints (from its
# /.well-known/openid-configuration) are required. It signs in existing, active users whose e-mail the
# provider has verified; it never grants a trial role, and creates no account unless OIDC_CREATE_USER=1.
# Axes first: it refuses a locked-out login before any backend checks the password (section below).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "").strip()
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "").strip() or "single sign-on"
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "").strip()
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "").strip()
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "").strip()
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "").strip()
OIDC_RP_SIGN_ALGO = env_choice("OIDC_RP_SIGN_ALGO", "RS256", ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"))
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", default=True)
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", default=False)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10, low=1)
# For the two-factor check for staff: whether a sign-on counts as the second factor (the provider's own
# multi-factor policy then stands in for it). Off: single sign-on users still give this site's second factor.
OIDC_SATISFIES_2FA = env_bool("OIDC_SATISFIES_2FA", default=False)
# Staff sign in on the admin's login page (two-factor, lockouts and single sign-on are wired there) and land
# in the workspace.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/workspace/"
LOGIN_REDIRECT_URL_FAILURE = "/oidc/refused/"
if OIDC_ENABLED:
    _needed = ["OIDC_RP_CLIENT_SECRET", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT"]
    _needed += ["OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT"]
    _missing = [name for name in _needed if not os.environ.get(name, "").strip()]
    if _missing:
        raise ImproperlyConfigured(f"OIDC_RP_CLIENT_ID is set, so single sign-on needs {', '.join(_missing)} too.")
    AUTHENTICATION_BACKENDS.append("trial.oidc.StaffOIDCBackend")

LANGUAGE_CODE = "en"
# The languages participants can be addressed in (a trial lists the ones it uses: Trial.languages).
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BUNDLED_DIR / "locale"]

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
# Seconds an SMTP connection may wait for the server (connecting, and each reply) before the attempt fails
# and the outbox retries it later. Web requests never wait for it (participants/messaging.py).
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10, low=1)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trials@localhost")

if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# HTTPS (docs/operator.md, "Hardening"): outside debug, plain-HTTP requests are redirected to HTTPS and
# browsers are told to use nothing but HTTPS for a year (HSTS); `make demo` (DEBUG=1, plain http) gets
# neither. Behind a proxy that ends TLS, SECURE_PROXY_SSL_HEADER names the header the proxy sets (and
# must strip from what clients send): without it every request looks like plain HTTP and redirects forever.
HTTPS_ONLY = not (DEBUG or TESTING)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
# Load balancers check health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS_ONLY else 0, low=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Preloading puts the domain on the browsers' built-in HTTPS-only list, hard to undo: the operator's
    # decision (SECURE_HSTS_PRELOAD=1), not a default, so `check --deploy` need not ask for it.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header:
    if not _proxy_header.startswith("HTTP_") or not _proxy_header.replace("_", "").isalnum():
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={_proxy_header!r} is not a request header as Django names it "
            "(e.g. HTTP_X_FORWARDED_PROTO for X-Forwarded-Proto)."
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_header.upper(), "https")
SECURE_REFERRER_POLICY = env_choice(
    "SECURE_REFERRER_POLICY",
    "same-origin",
    ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"),
)
X_FRAME_OPTIONS = env_choice("X_FRAME_OPTIONS", "DENY", ("DENY", "SAMEORIGIN"))

# Content-Security-Policy (django-csp): scripts, styles, images and fonts from this site only (and data:
# images); the few inline styles that remain carry the request's nonce ({{ request.csp_nonce }}). No inline
# script runs. Per-view changes: the ReDoc page (config/urls.py) and report downloads (analysis/api.py).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if os.environ.get("CSP_REPORT_URI", "").strip():
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [os.environ["CSP_REPORT_URI"].strip()]

# Where links in messages point (participant questionnaire links, alert links for clinicians).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# The study team's address participants' messages name, for trials whose public info gives none
# (participants.message_templates: ``contact_email``). Empty: messages name no address.
STUDY_CONTACT_EMAIL = os.environ.get("STUDY_CONTACT_EMAIL", "").strip()

# Safety: unacknowledged alerts escalate after these many hours (urgent: PHQ-9 item 9 = 3, chatbot crisis).
SAFETY_ESCALATION_HOURS = env_float("SAFETY_ESCALATION_HOURS", 24, low=0)
SAFETY_ESCALATION_HOURS_URGENT = env_float("SAFETY_ESCALATION_HOURS_URGENT", 1, low=0)

# Unblinding the whole trial: a request waits this many days for a second person's confirmation.
UNBLINDING_REQUEST_DAYS = env_int("UNBLINDING_REQUEST_DAYS", 7, low=1)

# Crisis resources shown on every participant page, and at once after a risk answer (PHQ-9 item 9).
# US defaults; a trial elsewhere replaces them (Trial.crisis_resources; see assessments/crisis.py).
CRISIS_RESOURCES: list[dict[str, str]] = [
    {"name": "988 Suicide & Crisis Lifeline", "action": "Call or text 988", "href": "tel:988", "sms": "sms:988"},
    {"name": "Emergency services", "action": "Call 911", "href": "tel:911"},
]

# Health (GET /health/, config/health.py): the outbox's oldest due message may wait this long before the
# status says "warn"; HEALTH_TOKEN, when set, lets monitoring read the checks (Authorization: Bearer ...).
HEALTH_OUTBOX_LAG_MINUTES = env_int("HEALTH_OUTBOX_LAG_MINUTES", 15, low=1)
HEALTH_TOKEN = os.environ.get("HEALTH_TOKEN", "")

# Questionnaires: invitations and reminders go out at this local hour of the participant; reminders on
# these days after a questionnaire opens, until it is completed or its window closes.
ASSESSMENT_SEND_HOUR = env_int("ASSESSMENT_SEND_HOUR", 9, low=0, high=23)
ASSESSMENT_REMINDER_DAYS = env_int_list("ASSESSMENT_REMINDER_DAYS", "2,5", low=1)

# Instruments: definitions beyond the built-in ones (fixtures/instruments), and the item wording of
# licensed instruments, which the repository does not ship (docs/instruments.md).
INSTRUMENT_DIRS = env_list("INSTRUMENT_DIRS")
INSTRUMENT_WORDING_FILES = env_list("INSTRUMENT_WORDING_FILES")

# Messages: SMS through a pluggable backend (console by default); the outbox retries with back-off.
# SMS_BACKEND=twilio (or its dotted path) sends through Twilio (participants/sms.py; docs/operator.md,
# "SMS with Twilio"), which then needs the account, its auth token, and a sender: a number or a
# messaging service. Twilio's delivery callbacks and participants' replies come to /sms/status/ and
# /sms/inbound/ at PUBLIC_BASE_URL, signed with the auth token.
SMS_BACKENDS = {
    "console": "participants.messaging.ConsoleSmsBackend",
    "twilio": "participants.sms.TwilioSmsBackend",
}
SMS_BACKEND = os.environ.get("SMS_BACKEND", "").strip() or "console"
SMS_BACKEND = SMS_BACKENDS.get(SMS_BACKEND, SMS_BACKEND)
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "").strip()
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "").strip()
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "").strip()
TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "").strip()
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "").strip() or "https://api.twilio.com"
TWILIO_TIMEOUT = env_float("TWILIO_TIMEOUT", 10, low=1)
if not TWILIO_API_BASE.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"TWILIO_API_BASE={TWILIO_API_BASE!r} is not an http(s) address.")
if SMS_BACKENDS["twilio"] == SMS_BACKEND:
    _missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not os.environ.get(name, "").strip()]
    if not (TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID):
        _missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
    if _missing:
        raise ImproperlyConfigured(f"SMS_BACKEND is Twilio, so it needs {', '.join(_missing)} too.")
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8, low=1)
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300, low=1)

CELERY_BEAT_SCHEDULE = {
    "sweep-assessments": {"task": "assessments.tasks.sweep", "schedule": 60.0},
    "escalate-safety-alerts": {"task": "participants.tasks.escalate_safety_alerts", "schedule": 60.0},
    "deliver-outbox": {"task": "participants.tasks.deliver_outbox", "schedule": 60.0},
    "resume-jobs": {"task": "analysis.tasks.resume_jobs", "schedule": 300.0},
    "forget-form-submissions": {"task": "workspace.tasks.forget_form_submissions", "schedule": 3600.0},
}

# Export and report files built by background jobs: where they are kept, for how long, and after how
# long a job whose worker died is run again.
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", VAR_DIR / "exports"))
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7, low=1)
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 5 * 3600, low=1)

# Throttling and accounts (docs/operator.md, "Logins, throttling and tokens").
# The client's address: REMOTE_ADDR, or behind this many reverse proxies that append to X-Forwarded-For,
# the address the outermost of them saw. 0 (the default) trusts no proxy header.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, low=0, high=10)
# Login lockout (django-axes) on every login form: after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair cannot log in, right password or not, for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, low=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, low=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "trial.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "trial.throttling.lockout_response"
AXES_VERBOSE = False
# API throttles: per signed-in user, per anonymous address, screenings per user, the chatbot service per
# key; API tokens and keys that do not work, per address.
API_THROTTLE_RATES = {
    "anon": env_rate("API_THROTTLE_ANON", "60/minute"),
    "user": env_rate("API_THROTTLE_USER", "600/minute"),
    "screening": env_rate("API_THROTTLE_SCREENING", "300/hour"),
    "bad_token": env_rate("API_THROTTLE_BAD_TOKEN", "20/hour"),
    "chatbot": env_rate("API_THROTTLE_CHATBOT", "3000/minute"),
}
# Staff sessions (participants have none): they end SESSION_HOURS after login, or after
# SESSION_IDLE_MINUTES without a request (0: no idle limit); trial/middleware.py.
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 8, low=1, high=24 * 30) * 3600
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, low=0)
# Second factor (TOTP) for staff whose roles see contact details or unblind: required, optional or off
# (trial/two_factor.py). Off by default in debug (make demo) and tests; required otherwise.
STAFF_2FA = os.environ.get("STAFF_2FA", "").strip().lower() or ("off" if DEBUG or TESTING else "required")
if STAFF_2FA not in {"required", "optional", "off"}:
    raise ImproperlyConfigured(f"STAFF_2FA={STAFF_2FA!r}: use required, optional or off.")
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Trial platform")
# API tokens: stored hashed, shown once; a new token lasts this many days (its owner may ask for fewer).
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90, low=1, high=3650)

# Participant pages (/q/): requests per link, and unknown links per address (guessing); "Send me a new link"
# requests per e-mail address or phone number, and per address the requests come from; docs/operator.md.
PARTICIPANT_PAGE_RATES = {
    "link": env_rate("PARTICIPANT_RATE_PER_LINK", "300/hour"),
    "bad_link": env_rate("PARTICIPANT_RATE_BAD_LINKS", "30/hour"),
    "new_link_contact": env_rate("PARTICIPANT_RATE_PER_CONTACT", "3/hour"),
    "new_link_client": env_rate("PARTICIPANT_RATE_NEW_LINK_PER_CLIENT", "10/hour"),
}

# Joining online (/join/<slug>/, docs/researcher.md): how long the e-mail verification link works, and the
# rate limits that hold off bots: form submissions per client address, verification e-mails per address
# given, verification attempts per client address.
JOIN_VERIFY_HOURS = env_int("JOIN_VERIFY_HOURS", 48, low=1, high=24 * 14)
JOIN_RATES = {
    "client": env_rate("JOIN_RATE_PER_CLIENT", "60/hour"),
    "email": env_rate("JOIN_RATE_PER_EMAIL", "3/hour"),
    "verify": env_rate("JOIN_RATE_VERIFY", "30/hour"),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trial.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "trial.authentication.AnonymousRate",
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
    "DEFAULT_THROTTLE_CLASSES": ["trial.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": API_THROTTLE_RATES,
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trial platform API",
    "DESCRIPTION": "Enrollment, concealed randomization and follow-up of randomized controlled trials.",
    "VERSION": "1",
    # The ways in, as the schema documents them (trial.authentication.AnonymousRate only counts requests).
    "AUTHENTICATION_WHITELIST": [
        "trial.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "participants.api_chatbot.ApiKeyAuthentication",
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for staff only (config/urls.py); the docs come from this server.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents its 4xx answers in the one error format (config/api.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.document_errors"],
}

# Logs: every handler redacts link tokens, API keys and credentials (config/logs.py); LOG_FORMAT=json writes
# one JSON object per line. Django's own loggers are routed to the root, whose handler has the filter
# (Django's defaults give django.server a handler of its own). Celery workers keep this configuration too
# (config/celery.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or "plain"
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not a log format; use plain or json.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "config.logs.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(message)s"}, "json": {"()": "config.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        # WeasyPrint logs each step of every consent PDF at INFO; its warnings (a missing font) still show.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
