"""Secrets out of text that is about to be written somewhere (logs): participant link tokens, API keys,
credentials. Pure; ``config.logs`` applies it to every log record.

A participant's link token (``secrets.token_urlsafe(32)``: 43 URL-safe characters, assessments/services/
links.py) is the participant's only credential, so it is taken out wherever it appears: as the segment after
``/q/`` in a path or link, and as any free-standing 43-character URL-safe word. Chatbot API keys
(``tpk_...``), ``Token``/``Bearer`` credentials and ``token=``/``key=``/``password=`` values go too. In logs
(``redact_for_log``) so do e-mail addresses (their domain kept) and E.164 phone numbers, which providers'
errors quote.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # The questionnaire pages' paths and links: /q/<token>/..., also percent-encoded (?next=%2Fq%2F...).
    (re.compile(r"(/q/)[^/\s?#&\"'<>]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(%2Fq%2F)(?:(?!%2F)[^\s?#&\"'<>])+", re.IGNORECASE), rf"\g<1>{REDACTED}"),
    # Chatbot API keys (participants/services/chatbot.py).
    (re.compile(r"\btpk_[A-Za-z0-9_-]+"), f"tpk_{REDACTED}"),
    # Credentials in headers and parameters.
    (re.compile(r"\b(Token|Bearer|Basic)(\s+)[^\s\"',;]+", re.IGNORECASE), rf"\g<1>\g<2>{REDACTED}"),
    (
        re.compile(r"\b((?:api_?)?(?:token|key)|password|secret)(=|:\s*)[^&\s\"',;]+", re.IGNORECASE),
        rf"\g<1>\g<2>{REDACTED}",
    ),
    # Any word shaped like a link token, wherever it stands.
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), REDACTED),
]


# Contact details in a provider's error ("recipient refused: <ann@example.org>", "+16035550100 is not a
# mobile number"): a log is no place for them (staff pages that show such an error to staff who may see
# contact details keep them). An address keeps its domain (enough to see a provider problem), a number
# nothing.
_CONTACT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})"), rf"{REDACTED}@\g<1>"),
    (re.compile(r"(?<![\w+])\+\d{8,15}\b"), REDACTED),
]


def redact_for_log(text: str) -> str:
    """``redact``, and e-mail addresses and phone numbers taken out too: what a log may hold."""
    text = redact(text)
    for pattern, replacement in _CONTACT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str) -> str:
    """The text with every link token, API key and credential replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_phone(number: str) -> str:
    """A phone number reduced to its last two digits (``…23``), enough to tell messages apart in a log."""
    digits = re.sub(r"\D", "", number)
    return f"…{digits[-2:]}" if len(digits) > 2 else "…"
