""" "Send me a new link": a participant whose link expired or got lost asks for a fresh one with the e-mail
address or phone number on record (the form on the link problem page, ``/q/new-link/``).

What the page says never depends on whether the details matched: the lookup and the queueing run after
the response has gone (``new_link_request``, called by the view once the page is sent), so neither the
words nor the time taken tell anyone whether an address belongs to a participant. A match queues one
``new_link`` message per open visit, on the channel the details name (e-mail or SMS); the renderer
(assessments/new_link_message.py) mints the link when it sends. Each request that matched is audited on
the visit, without the contact detail; nothing here logs an address, a number or a link.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from assessments.models import AssessmentStatus, ScheduledAssessment
from participants.messaging import outbox_enqueue
from participants.models import Channel, ContactDetails, Status
from trial import clock
from trial.audit import audit_record
from trial.models import TrialStatus

logger = logging.getLogger(__name__)

NEW_LINK_KIND = "new_link"
ACTIVE = (Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)
# A second request for the same visit within this many minutes queues nothing more (a double tap).
SAME_REQUEST_MINUTES = 10
PHONE_CHARACTERS = re.compile(r"[\s().\-/]")
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15


@dataclass(frozen=True)
class Contact:
    """What the participant typed, normalised: an e-mail address (lower case) or a phone number's digits."""

    channel: str  # Channel.EMAIL or Channel.SMS
    value: str

    @property
    def identity(self) -> str:
        """The rate limit's key (hashed by trial/throttling.py before it becomes a cache key)."""
        return f"{self.channel}:{self.value}"


def contact_parse(text: str) -> Contact:
    """The e-mail address or phone number in ``text``; ``ValueError`` with a message for the participant's
    form when it is neither (whether it is on record is never said)."""
    text = (text or "").strip()
    if not text:
        raise ValueError("empty")
    if len(text) > 254:
        raise ValueError("too_long")
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise ValueError("email") from None
        return Contact(Channel.EMAIL, text.lower())
    compact = PHONE_CHARACTERS.sub("", text)
    digits = compact.removeprefix("+")
    if not digits.isdigit() or not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise ValueError("phone")
    return Contact(Channel.SMS, digits)


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _same_phone(on_record: str, typed: str) -> bool:
    """The same number, with or without its country code (a US participant types 10 digits, the record
    has +1 and 11): equal digits, or equal last ten when both have at least ten."""
    stored = _digits(on_record)
    if not stored:
        return False
    if stored == typed:
        return True
    return len(stored) >= 10 and len(typed) >= 10 and stored[-10:] == typed[-10:]


def _matching_contacts(contact: Contact) -> list[ContactDetails]:
    # Not a simulated trial's fictional people, nor a locked trial's (its data are final).
    rows = (
        ContactDetails.objects.select_related("participant__trial")
        .filter(participant__status__in=ACTIVE, participant__trial__simulated=False)
        .exclude(participant__trial__status=TrialStatus.LOCKED)
    )
    if contact.channel == Channel.EMAIL:
        return list(rows.filter(email__iexact=contact.value))
    # Stored numbers keep the participant's own formatting: narrow by the last four digits, compare in full.
    candidates = rows.exclude(phone="").filter(phone__endswith=contact.value[-4:])
    return [row for row in candidates if _same_phone(row.phone, contact.value)]


def _open_visits(contact_row: ContactDetails) -> list[ScheduledAssessment]:
    now = clock.now()
    return list(
        ScheduledAssessment.objects.select_related("participant__trial")
        .filter(
            participant=contact_row.participant,
            status=AssessmentStatus.OPEN,
            opens_at__lte=now,
            closes_at__gt=now,
        )
        .order_by("closes_at", "pk")
    )


def _channel_for(row: ContactDetails, contact: Contact) -> str | None:
    """The channel the new link goes by: the one the participant typed, except that a participant who
    replied STOP gets no SMS (the outbox would cancel it): their e-mail on record instead, if any."""
    if contact.channel == Channel.SMS and row.sms_stopped_at is not None:
        return Channel.EMAIL if row.email else None
    return contact.channel


def new_link_request(*, contact: Contact) -> int:
    """Queue a fresh link for every open visit of the participants whose details are ``contact``.
    Returns how many messages were queued (for tests: the participant is never told)."""
    queued = 0
    bucket = int(clock.now().timestamp()) // (SAME_REQUEST_MINUTES * 60)
    for row in _matching_contacts(contact):
        channel = _channel_for(row, contact)
        if channel is None:
            continue
        for assessment in _open_visits(row):
            with transaction.atomic():
                message = outbox_enqueue(
                    kind=NEW_LINK_KIND,
                    dedupe_key=f"{NEW_LINK_KIND}:{assessment.pk}:{channel}:{bucket}",
                    channel=channel,
                    participant=row.participant,
                    context={"assessment": assessment.pk},
                )
                if message is None:
                    continue  # asked again within minutes: the link on its way will do
                audit_record(
                    actor=None,
                    action="assessment.new_link_requested",
                    obj=assessment,
                    trial=row.participant.trial,
                    changes={"channel": channel},
                    reason="The participant asked for a new link on the link problem page.",
                )
                queued += 1
    return queued


def new_link_request_quietly(contact: Contact) -> None:
    """``new_link_request`` after the response: a failure is logged without the contact detail, and the
    participant, who has already been told what happens next, may simply ask again."""
    try:
        new_link_request(contact=contact)
    except Exception as exc:  # logged by its type only: a message could quote the address
        logger.error("A request for a new link failed: %s", type(exc).__name__)
