"""Logs never hold a participant's link token, an API key or a full phone number, whichever logger writes
them (Django's request and server loggers, Celery's, ours), in plain or JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from config.logs import RedactSecrets
from participants import services
from participants.messaging import outbox_deliver
from participants.models import OutboxMessage
from tests import helpers
from trial.redaction import redact, redact_for_log

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the configured log handlers write, instead of the console."""
    out = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if h.name in django_settings.LOGGING["handlers"]]
    assert handlers
    previous = [h.setStream(out) for h in handlers if isinstance(h, logging.StreamHandler)]
    yield out
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)  # type: ignore[union-attr]


@pytest.fixture
def page(trial) -> tuple[str, str]:
    """A real link's questionnaire page, and its token."""
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    path = urlsplit(link_create(assessment=baseline)).path
    return f"{path}phq9/", path.split("/")[2]


@pytest.mark.django_db
def test_a_bad_request_on_a_questionnaire_page_writes_no_token_to_the_request_log(client: Client, page, written):
    url, token = page
    assert client.post(url, {"phq9_1": "7"}).status_code == 400
    assert client.get(f"{url[: -len('phq9/')]}nosuch/").status_code == 404
    log = written.getvalue()
    assert "Bad Request: /q/[redacted]/phq9/" in log
    assert "Not Found: /q/[redacted]/nosuch/" in log
    assert token not in log


@pytest.mark.django_db
def test_the_console_sms_backend_logs_neither_the_number_nor_the_link(trial, settings, written):
    settings.SMS_BACKEND = "participants.messaging.ConsoleSmsBackend"
    participant = helpers.consented(trial)
    contact = services.ContactInput(full_name="Sam Lee", phone="+1 603 555 0123")
    services.participant_enroll(participant=participant, contact=contact, by=None)
    message = OutboxMessage.objects.get(participant=participant, channel="sms")
    assert outbox_deliver(message_id=message.pk) == "sent"
    (line,) = [line for line in written.getvalue().splitlines() if line.startswith("SMS to")]
    assert line.startswith("SMS to …23: ")
    assert "/q/[redacted]/" in line
    for secret in ("555", "0123", "6035550123"):
        assert secret not in line
    assert not [word for word in line.split() if len(word) >= 43 and "redacted" not in word]


def test_every_logger_writes_through_the_redacting_filter():
    """Django's request and server loggers, Celery's and ours reach only handlers that redact (the test
    run's own capturing handlers aside)."""

    def ours(handler: logging.Handler) -> bool:
        return type(handler).__module__.startswith(("_pytest", "tests."))

    for name in ("django.request", "django.server", "django.security.csrf", "celery.app.trace", "celery.worker",
                 "participants.messaging", "assessments.views", "py.warnings"):  # fmt: skip
        logger: logging.Logger | None = logging.getLogger(name)
        handlers: list[logging.Handler] = []
        while logger is not None:
            handlers += [h for h in logger.handlers if not isinstance(h, logging.NullHandler) and not ours(h)]
            logger = logger.parent if logger.propagate else None
        assert handlers, name
        for handler in handlers:
            assert any(isinstance(f, RedactSecrets) for f in handler.filters), (name, handler)


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("x", logging.WARNING, __file__, 1, msg, args or None, exc_info)


def test_the_filter_takes_tokens_and_keys_out_of_messages_arguments_and_tracebacks():
    token = "Zx9_-" + "a1B2c3" * 6 + "Qq"  # 43 URL-safe characters, as links.link_create makes them
    assert len(token) == 43
    try:
        raise ValueError(f"no link {token}")
    except ValueError as caught:
        exc = caught
    records = [
        _record("Bad Request: %s", f"/q/{token}/phq9/"),
        _record("GET https://trials.example.org/q/%s/ 200", token),
        _record("next=%s", f"%2Fq%2F{token}%2Fphq9%2F"),
        _record("headers %s", {"Authorization": f"Token {token[:40]}", "X": f"Bearer {token}"}),
        _record("chatbot key %s used", f"tpk_{token}"),
        _record("called with token=%s&x=1 and password=hunter22", token[:20]),
        _record("failed", exc=exc),
    ]
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactSecrets())
    for record in records:
        handler.handle(record)
    log = handler.stream.getvalue()  # type: ignore[attr-defined]
    for secret in (token, token[:40], token[:20], "hunter22"):
        assert secret not in log
    assert "Bad Request: /q/[redacted]/phq9/" in log
    assert "%2Fq%2F[redacted]%2Fphq9%2F" in log
    assert "tpk_[redacted] used" in log
    assert "ValueError: no link [redacted]" in log


def test_contact_details_quoted_by_a_provider_error_are_taken_out():
    smtp = "SMTPRecipientsRefused: {'ann.lee+study@example.org': (550, b'5.1.1 user unknown')}"
    assert redact(smtp) == smtp  # staff pages keep it (for those who may see contact details)
    assert redact_for_log(smtp) == "SMTPRecipientsRefused: {'[redacted]@example.org': (550, b'5.1.1 user unknown')}"
    twilio = "HTTP 400 error: Unable to create record: The 'To' number +16035550100 is not a valid phone number."
    assert "+1603" not in redact_for_log(twilio) and "The 'To' number [redacted] is not" in redact_for_log(twilio)


def test_redaction_leaves_ordinary_text_alone():
    for text in ("Outbox message 12 (assessment_invitation) attempt 2 failed: timed out",
                 "GET /api/v1/trials/therabot/participants/3/ 200", "sha256 " + "ab" * 32):  # fmt: skip
        assert redact(text) == text


def _process(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "LOG_FORMAT"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1", VAR_DIR=str(ROOT / "var" / "test-logs"))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


JSON_PROBE = """
import logging, django
django.setup()
from config.celery import app
app.log.setup(loglevel="INFO")  # as a worker starts: Celery must keep the redacting handlers
token = "Q" * 43
logging.getLogger("django.request").warning("Bad Request: %s", "/q/%s/phq9/" % token)
logging.getLogger("celery.app.trace").info("Task %s succeeded", "x")
try:
    raise RuntimeError("link " + token)
except RuntimeError:
    logging.getLogger("participants.messaging").exception("failed\\nover two lines")
"""


def test_json_logs_are_one_object_per_line_and_redacted():
    result = _process(JSON_PROBE, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(e["level"], e["logger"]) for e in lines] == [
        ("WARNING", "django.request"),
        ("INFO", "celery.app.trace"),
        ("ERROR", "participants.messaging"),
    ]
    assert lines[0]["message"] == "Bad Request: /q/[redacted]/phq9/"
    assert lines[2]["message"] == "failed\nover two lines"
    assert "RuntimeError: link [redacted]" in lines[2]["exception"]
    assert all(e["time"].endswith("+00:00") for e in lines)
    assert "Q" * 43 not in result.stderr


def test_plain_logs_are_the_default_and_an_unknown_format_stops_the_start():
    plain = _process(JSON_PROBE)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.startswith("Bad Request: /q/[redacted]/phq9/\n")
    assert "Q" * 43 not in plain.stderr
    bad = _process("import django; django.setup()", LOG_FORMAT="xml")
    assert bad.returncode != 0
    assert "LOG_FORMAT='xml' is not a log format; use plain or json." in bad.stderr
