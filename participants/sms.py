"""SMS through Twilio (``SMS_BACKEND=twilio``; docs/operator.md, "SMS with Twilio").

``TwilioSmsBackend.send`` creates one Message through Twilio's REST API (the ``twilio`` package) and returns
its SID, which the outbox stores so Twilio's delivery status callbacks (participants.views) can update the
message log. Each message asks Twilio to report to ``PUBLIC_BASE_URL/sms/status/``.

What a refusal becomes: Twilio refusing the recipient itself (an invalid or landline number, a number that
replied STOP) is ``Undeliverable``, failed at once, since retrying changes nothing; anything else (Twilio
unreachable, a server error, a refused credential) is an ordinary failure the outbox retries with back-off.
Either way the error says what Twilio said, with every phone number cut to its last two digits. Nothing
here logs the auth token, a number or a message's text (its link).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from participants.messaging import Undeliverable, sending_message_id
from participants.services.sms import error_in_words, sms_stop
from trial.redaction import mask_phone, redact

TWILIO_API = "https://api.twilio.com"
STATUS_PATH = "/sms/status/"
INBOUND_PATH = "/sms/inbound/"

# Twilio refuses the recipient: the same message to the same number would be refused again.
RECIPIENT_REFUSED = frozenset({21211, 21408, 21610, 21612, 21614})
OPTED_OUT = 21610

_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d")

# The twilio package logs each request's address and headers at INFO: kept out of the platform's log.
_http_log = logging.getLogger("participants.sms.http")
_http_log.setLevel(logging.WARNING)


class SmsSendError(Exception):
    """Twilio did not take the message; it may on a later attempt."""


class SmsRecipientRefused(Undeliverable):
    """Twilio refuses this recipient: retrying changes nothing."""


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str
    messaging_service_sid: str
    api_base: str
    timeout: float


def twilio_config() -> TwilioConfig:
    """Twilio's settings, checked: a missing one is named (ImproperlyConfigured)."""
    values = {
        name: str(getattr(settings, name, "") or "").strip()
        for name in (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_FROM_NUMBER",
            "TWILIO_MESSAGING_SERVICE_SID",
            "TWILIO_API_BASE",
        )
    }
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not values[name]]
    if not (values["TWILIO_FROM_NUMBER"] or values["TWILIO_MESSAGING_SERVICE_SID"]):
        missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
    if missing:
        raise ImproperlyConfigured(f"SMS through Twilio needs {', '.join(missing)}.")
    base = (values["TWILIO_API_BASE"] or TWILIO_API).rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ImproperlyConfigured(f"TWILIO_API_BASE={base!r} is not an http(s) address.")
    return TwilioConfig(
        account_sid=values["TWILIO_ACCOUNT_SID"],
        auth_token=values["TWILIO_AUTH_TOKEN"],
        from_number=values["TWILIO_FROM_NUMBER"],
        messaging_service_sid=values["TWILIO_MESSAGING_SERVICE_SID"],
        api_base=base,
        timeout=float(getattr(settings, "TWILIO_TIMEOUT", 10)),
    )


def public_url(path: str) -> str:
    """An address on this site as Twilio reaches it (and signs it): PUBLIC_BASE_URL and the path."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def masked(text: str) -> str:
    """Text from Twilio as it may be stored and logged: numbers cut to their last two digits, no link."""
    return _NUMBER.sub(lambda m: mask_phone(m.group(0)), redact(text))


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending to ``api_base`` instead of Twilio's address when told to (tests point it
    at a fake server on 127.0.0.1), with a timeout, and without logging at INFO."""

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_http_log)
        self.api_base = api_base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API) and self.api_base != TWILIO_API:
            url = self.api_base + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


@lru_cache(maxsize=4)
def _client(config: TwilioConfig) -> Client:
    # One client (and its pool of connections) per process and configuration.
    return Client(
        config.account_sid,
        config.auth_token,
        http_client=_HttpClient(config.api_base, config.timeout),
        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},  # nothing from the environment re-routes it
    )


class TwilioSmsBackend:
    """Sends SMS through Twilio; returns the message's SID."""

    def __init__(self) -> None:
        self.config = twilio_config()

    def status_callback(self) -> str:
        url = public_url(STATUS_PATH)
        message_id = sending_message_id.get()
        # The outbox's id for the message finds it even if Twilio reports before its SID is stored.
        return f"{url}?m={message_id}" if message_id is not None else url

    def send(self, *, to: str, body: str) -> str | None:
        arguments: dict[str, Any] = {"to": to, "body": body, "status_callback": self.status_callback()}
        if self.config.messaging_service_sid:
            arguments["messaging_service_sid"] = self.config.messaging_service_sid
        if self.config.from_number:
            arguments["from_"] = self.config.from_number
        try:
            message = _client(self.config).messages.create(**arguments)
        except TwilioRestException as exc:
            code = exc.code if isinstance(exc.code, int) else None
            said = masked(str(exc.msg or "no message"))
            words = error_in_words(code)
            text = f"Twilio refused the SMS (HTTP {exc.status}{', ' + words if words else ''}): {said}"
            if code == OPTED_OUT:
                sms_stop(number=to, reason="Twilio refused an SMS: the number replied STOP to this sender.")
            if code in RECIPIENT_REFUSED:
                raise SmsRecipientRefused(text) from None
            raise SmsSendError(text) from None
        except Exception as exc:  # the connection: refused, reset, timed out
            raise SmsSendError(f"Twilio could not be reached: {type(exc).__name__}: {masked(str(exc))}"[:500]) from None
        return str(message.sid) if message.sid else None
