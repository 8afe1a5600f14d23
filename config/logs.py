"""Logging for every process (web, worker, beat, management commands), configured in settings.LOGGING.

- ``RedactSecrets`` sits on every handler: a record's message, its arguments, its traceback and stack are
  merged and passed through ``trial.redaction.redact_for_log`` before anything is written, so a
  participant's link token (``Bad Request: /q/<token>/phq9/``), an API key, a credential, an e-mail
  address or a phone number never reaches a log.
- ``JsonFormatter`` (``LOG_FORMAT=json``) writes each record as one JSON object on one line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from trial.redaction import redact_for_log


class RedactSecrets(logging.Filter):
    """Rewrites the record in place (every later handler sees the redacted text) and never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact_for_log(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_for_log(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_for_log(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and exception when any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
