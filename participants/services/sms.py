"""What SMS providers tell us: delivery reports for messages sent, and participants' STOP and START replies.

- A delivery report names the provider's id for a message (``OutboxMessage.provider_id``, stored when it
  was sent). Reports can arrive out of order (a "sent" after the "delivered"): a status is only ever
  replaced by a later one, never by an earlier one, in one conditional UPDATE, so two reports racing each
  other cannot undo each other either.
- STOP (and the other opt-out words) from a number marks every participant with that number as having
  stopped SMS (``ContactDetails.sms_stopped_at``): their SMS not yet sent are cancelled, and the outbox
  sends them none until they reply START (participants.messaging). Audited, without the number.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from participants.messaging import SMS_STOPPED
from participants.models import Channel, ContactDetails, MessageStatus, OutboxMessage
from trial import clock
from trial.audit import audit_record
from trial.redaction import mask_phone

log = logging.getLogger(__name__)

# The opt-out and opt-in words carriers and Twilio recognise, and the Spanish ones participants use. A reply
# counts when it is the word alone (any case, spaces and end punctuation aside), as carriers count it.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ALTO", "PARAR"})
START_WORDS = frozenset({"START", "UNSTOP"})

# A report's status, in the order a message goes through them: a report never moves a message back.
DELIVERY_ORDER = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
DELIVERY_FAILED = frozenset({"undelivered", "failed"})

# Twilio's error codes staff are most likely to meet, in words (https://www.twilio.com/docs/api/errors).
ERROR_WORDS = {
    "20003": "the account's credentials were refused",
    "21211": "the number is not a valid phone number",
    "21408": "SMS to this region is not enabled on the account",
    "21606": "the sender number cannot send SMS",
    "21610": "the number replied STOP to this sender",
    "21612": "the number cannot be reached by SMS from this sender",
    "21614": "the number is not a mobile number",
    "30001": "the provider's queue overflowed",
    "30002": "the account is suspended",
    "30003": "the phone is unreachable (off or out of coverage)",
    "30004": "the message was blocked (the recipient or their carrier blocks it)",
    "30005": "the number is unknown or no longer in service",
    "30006": "the number is a landline or its carrier is unreachable",
    "30007": "the carrier filtered the message",
    "30008": "the carrier reported an unknown error",
    "30034": "the sender number is not registered for A2P 10DLC",
}


def error_in_words(code: str | int | None) -> str:
    code = str(code or "").strip()
    if not code:
        return ""
    return f"error {code}: {ERROR_WORDS.get(code, 'see the provider error reference')}"


def keyword_of(body: str) -> str:
    """The reply as a keyword: upper case, accents, spaces and end punctuation taken off."""
    text = unicodedata.normalize("NFKD", body.strip()).encode("ascii", "ignore").decode()
    return text.strip(" \t\r\n.!?¡¿,;:\"'").upper()


def delivery_record(
    *, provider_id: str, status: str, error_code: str = "", message_id: int | None = None, now: datetime | None = None
) -> bool:
    """Record a delivery report for the message the provider calls ``provider_id``. ``message_id`` (from the
    callback address) finds a message whose id the outbox has not stored yet (a report faster than the
    send's bookkeeping). Returns whether the log changed: False for an unknown message or a report older
    than what the log has."""
    status = status.strip().lower()
    rank = DELIVERY_ORDER.get(status)
    if rank is None or not provider_id:
        log.info("Delivery report with an unknown status %r ignored.", status[:20])
        return False
    earlier = [s for s, r in DELIVERY_ORDER.items() if r < rank] + [""]
    rows = OutboxMessage.objects.filter(channel=Channel.SMS, delivery_status__in=earlier)
    if message_id is not None:
        rows = rows.filter(Q(provider_id=provider_id) | Q(pk=message_id, provider_id=""))
    else:
        rows = rows.filter(provider_id=provider_id)
    error = error_in_words(error_code) if status in DELIVERY_FAILED or error_code else ""
    changed = rows.update(
        provider_id=provider_id,
        delivery_status=status,
        delivery_error=error[:200],
        delivery_updated_at=now or clock.now(),
    )
    return changed > 0


def _contacts(number: str) -> list[ContactDetails]:
    return list(
        ContactDetails.objects.select_for_update(of=("self",))
        .select_related("participant__trial")
        .filter(phone=number)
        .order_by("pk")
    )


@transaction.atomic
def sms_stop(*, number: str, reason: str = "The participant replied STOP to an SMS.") -> int:
    """The holder of ``number`` wants no more SMS: mark every participant with it, cancel their SMS not yet
    sent. Returns how many participants were newly stopped."""
    now = clock.now()
    stopped = 0
    for contact in _contacts(number):
        if contact.sms_stopped_at is not None:
            continue
        contact.sms_stopped_at = now
        contact.save(update_fields=["sms_stopped_at"])
        OutboxMessage.objects.filter(
            participant_id=contact.participant_id, channel=Channel.SMS, status=MessageStatus.PENDING
        ).update(status=MessageStatus.CANCELLED, cancel_reason=SMS_STOPPED[:200])
        audit_record(
            actor=None,
            action="participant.sms_stop",
            obj=contact.participant,
            trial=contact.participant.trial,
            changes={"sms_stopped_at": [None, now]},
            reason=reason,
        )
        stopped += 1
    if not stopped:
        log.info("SMS opt-out from %s: no participant newly stopped.", mask_phone(number))
    return stopped


@transaction.atomic
def sms_start(*, number: str) -> int:
    """The holder of ``number`` replied START: SMS to every participant with it may go again. Returns how
    many participants were resumed."""
    started = 0
    for contact in _contacts(number):
        if contact.sms_stopped_at is None:
            continue
        before = contact.sms_stopped_at
        contact.sms_stopped_at = None
        contact.save(update_fields=["sms_stopped_at"])
        audit_record(
            actor=None,
            action="participant.sms_start",
            obj=contact.participant,
            trial=contact.participant.trial,
            changes={"sms_stopped_at": [before, None]},
            reason="The participant replied START to an SMS.",
        )
        started += 1
    return started


def sms_inbound(*, number: str, body: str, opt_out_type: str = "") -> str:
    """A participant's reply: STOP or START acted on; anything else is not read (the number is not
    staffed, docs/operator.md). ``opt_out_type`` is what Twilio's Advanced Opt-Out made of it (STOP, START,
    HELP), which also knows keywords configured in Twilio's console. Returns "stop", "start" or "other"."""
    word = keyword_of(body)
    told = opt_out_type.strip().upper()
    if word in STOP_WORDS or told == "STOP":
        sms_stop(number=number)
        return "stop"
    if word in START_WORDS or told == "START":
        sms_start(number=number)
        return "start"
    log.info("SMS reply from %s that is not STOP or START: not acted on.", mask_phone(number))
    return "other"
