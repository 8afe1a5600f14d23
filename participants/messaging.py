"""Sending what the outbox holds, exactly once per row.

- ``outbox_enqueue`` writes a row inside the caller's transaction; its ``dedupe_key`` makes a second
  enqueue of the same message a no-op, so a retried sweep never queues twice.
- ``outbox_deliver`` claims one row with ``UPDATE ... WHERE status = 'pending'`` (or a ``sending`` row
  whose lease ran out: its worker died mid-send), so of two workers only one gets it. The message is
  rendered at that moment by the renderer registered for its kind, which may cancel it (the participant
  withdrew, the questionnaire closed): what is sent is never stale. After the send the row is marked
  sent, by the claimant only.
- A send that fails goes back to pending with back-off; after ``OUTBOX_MAX_ATTEMPTS`` it is failed,
  except for kinds registered with ``retry_forever`` (safety alerts and their escalations): those are
  retried every few minutes until they go, with an error in the log at each failure past the limit.
- A renderer that finds the message no longer wanted returns ``Skip(reason)`` (or None): the row is cancelled
  with that reason, which the staff's message log shows. ``outbox_cancel`` records its caller's reason too.
- A failed message can be put back in the queue by a member of the staff (``outbox_retry``, audited): its
  attempts start again from zero, so it gets the whole back-off schedule anew.
- A message its renderer can never render (``Undeliverable``: the recipient has no address, what it is
  about is gone) is failed at once, whatever its kind, with an error in the log: retrying changes nothing.
- An SMS is not sent to a participant who replied STOP (``ContactDetails.sms_stopped_at``), nor to a number
  any participant stopped: it is cancelled with the reason, which staff read, until they reply START. The
  provider's id for a sent SMS is stored (``provider_id``): its delivery reports update the log
  (participants.services.sms).
- A worker that dies between the send and the mark leaves a ``sending`` row that is sent again when its
  lease expires: nothing is dropped. Every attempt carries the same Message-ID, so mail systems can
  drop that rare duplicate.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q
from django.utils.module_loading import import_string

from participants.models import Channel, ContactDetails, MessageStatus, OutboxMessage
from trial import clock
from trial.audit import Actor, audit_record
from trial.errors import Conflict
from trial.models import Trial
from trial.redaction import mask_phone, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


@dataclass(frozen=True)
class Rendered:
    to: str
    subject: str
    body: str  # the plain-text part (the whole SMS)
    # Called when the send fails: undo what rendering did for this attempt (a participant's new link).
    on_failure: Callable[[], None] | None = None
    html: str | None = None  # e-mail only: an HTML alternative to ``body``
    attachments: tuple[Attachment, ...] = ()  # e-mail only: a calendar file, a signed consent's PDF


@dataclass(frozen=True)
class Skip:
    """What a renderer returns for a message that is no longer wanted: it is cancelled, with this reason
    (shown to staff in the message log: words, never a link or a contact detail)."""

    reason: str


NO_LONGER_WANTED = "No longer needed when it was due."


class Undeliverable(Exception):
    """Raised by a renderer for a message that can never be rendered, however often it is tried (its
    recipient has no address, what it is about no longer exists). Any other exception counts as passing."""


# kind -> renderer(message) -> Rendered, or Skip(reason) / None to cancel the message.
Renderer = Callable[[OutboxMessage], Rendered | Skip | None]
_renderers: dict[str, Renderer] = {}
_retried_forever: set[str] = set()
FOREVER_BACKOFF_CAP = timedelta(minutes=10)  # between attempts, for messages that are never given up
BACKOFF_CAP = timedelta(hours=1)


def register_renderer(kind: str, renderer: Renderer, *, retry_forever: bool = False) -> None:
    """``retry_forever``: a message of this kind is never given up (a mail server down for hours must
    not lose a safety alert)."""
    _renderers[kind] = renderer
    if retry_forever:
        _retried_forever.add(kind)
    else:
        _retried_forever.discard(kind)


def registered_kinds() -> list[str]:
    """The message kinds a renderer is registered for (the message log's filter)."""
    return sorted(_renderers)


def outbox_enqueue(
    *,
    kind: str,
    dedupe_key: str,
    channel: str = Channel.EMAIL,
    participant: Any = None,
    user: Any = None,
    context: dict[str, Any] | None = None,
    available_at: datetime | None = None,
) -> OutboxMessage | None:
    """Queue a message (inside the caller's transaction). Returns None if that key was queued before."""
    if kind not in _renderers:
        raise ValueError(f"No renderer is registered for message kind {kind!r}.")
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                kind=kind,
                dedupe_key=dedupe_key,
                channel=channel,
                participant=participant,
                user=user,
                context=context or {},
                available_at=available_at or clock.now(),
            )
    except IntegrityError:
        return None
    transaction.on_commit(_kick_delivery)
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message for ``outbox_enqueue_many``."""

    dedupe_key: str
    participant_id: int | None
    channel: str = Channel.EMAIL
    context: dict[str, Any] | None = None


def outbox_enqueue_many(*, kind: str, messages: list[Outgoing], available_at: datetime | None = None) -> None:
    """Queue many messages of one kind in one INSERT (inside the caller's transaction), as the sweep does:
    a key queued before is skipped (ON CONFLICT DO NOTHING on the unique dedupe key), as in
    ``outbox_enqueue``. Delivery is kicked once after commit even if every key was queued before (the
    insert does not say): a kick with nothing due delivers nothing."""
    if kind not in _renderers:
        raise ValueError(f"No renderer is registered for message kind {kind!r}.")
    if not messages:
        return
    created = clock.now()
    at = available_at or created
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind=kind,
                dedupe_key=m.dedupe_key,
                channel=m.channel,
                participant_id=m.participant_id,
                context=m.context or {},
                available_at=at,
                created_at=created,
            )
            for m in messages
        ],
        ignore_conflicts=True,
    )
    transaction.on_commit(_kick_delivery)


def _kick_delivery() -> None:
    """Ask a worker to deliver now. If the broker is down the request still succeeds: the sweep delivers.
    Without a broker (tasks run in-process) a web request never delivers itself: it leaves delivery for
    after its response (``deliver_after_response``)."""
    from participants.tasks import deliver_outbox

    if deliver_outbox.app.conf.task_always_eager and getattr(_request, "active", False):
        _request.delivery_due = True
        return
    try:
        deliver_outbox.delay()
    except Exception:  # the broker is down or unreachable; the next sweep sends it
        log.warning("Could not queue outbox delivery; the next sweep will send it.", exc_info=True)


# Without a broker, what a web request queued is delivered after its response has gone, in one background
# thread per process: a slow or hanging mail server (EMAIL_TIMEOUT bounds each attempt) must never hold a
# participant's page, such as the crisis resources shown after PHQ-9 item 9, nor the worker that serves it.
# What the thread does not send (the process ends, the send fails) stays in the outbox for the next sweep
# (``manage.py run_scheduled``), as with a broker.
_request = threading.local()
_background_lock = threading.Lock()
_background: threading.Thread | None = None
_background_again = False


def request_started(**kwargs: Any) -> None:
    _request.active, _request.delivery_due = True, False


def deliver_after_response(**kwargs: Any) -> None:
    """On ``request_finished``: the response is sent; deliver what the request queued."""
    global _background, _background_again
    due = getattr(_request, "delivery_due", False)
    _request.active, _request.delivery_due = False, False
    if not due:
        return
    with _background_lock:
        if _background is not None:  # the running thread delivers again before it stops
            _background_again = True
            return
        _background = threading.Thread(target=_deliver_in_background, name="outbox-delivery", daemon=True)
        _background.start()


def _deliver_in_background() -> None:
    global _background, _background_again
    try:
        while True:
            with _background_lock:
                _background_again = False
            try:
                outbox_deliver_due()
            except Exception:
                log.exception("Outbox delivery after a response failed; the next sweep will send what is due.")
            with _background_lock:
                if not _background_again:
                    _background = None
                    return
    finally:
        connections.close_all()


def wait_for_background_delivery(timeout: float) -> bool:
    """Wait until delivery started after a response has finished (tests, orderly shutdown). Returns
    whether it did in time."""
    with _background_lock:
        thread = _background
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "OUTBOX_LEASE_SECONDS", 300))


def _claimable(now: datetime) -> Q:
    return Q(status=MessageStatus.PENDING, available_at__lte=now) | Q(
        status=MessageStatus.SENDING, claimed_at__lt=now - _lease()
    )


def outbox_due_ids(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or clock.now()
    pending = OutboxMessage.objects.filter(status=MessageStatus.PENDING, available_at__lte=now)
    stale = OutboxMessage.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - _lease())
    ids = list(pending.order_by("available_at").values_list("id", flat=True)[:limit])
    ids += list(stale.order_by("claimed_at").values_list("id", flat=True)[: max(0, limit - len(ids))])
    return ids


def outbox_oldest_due(*, now: datetime | None = None) -> datetime | None:
    """Since when the longest-waiting message has been due and is still not sent (monitoring): a pending
    row whose time has come, or a ``sending`` row whose worker died (due again when its lease ended).
    Two queries on the partial indexes ``outbox_due`` and ``outbox_claimed``."""
    now = now or clock.now()
    pending = OutboxMessage.objects.filter(status=MessageStatus.PENDING, available_at__lte=now)
    stale = OutboxMessage.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - _lease())
    since = list(pending.order_by("available_at").values_list("available_at", flat=True)[:1])
    claimed = stale.order_by("claimed_at").values_list("claimed_at", flat=True).first()
    if claimed is not None:
        since.append(claimed + _lease())
    return min(since, default=None)


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str) -> str | None:
        """Send one SMS; return the provider's id for it (delivery callbacks name it), if it has one."""
        ...


class ConsoleSmsBackend:
    """Writes SMS to the log (the default: no SMS provider configured), without what a log must not hold:
    the number is cut to its last two digits and the participant's link token is taken out."""

    def send(self, *, to: str, body: str) -> str | None:
        log.info("SMS to %s: %s", mask_phone(to), redact(body))
        return None


class LocmemSmsBackend:
    """Keeps SMS in ``LocmemSmsBackend.outbox`` (tests)."""

    outbox: list[tuple[str, str]] = []

    def send(self, *, to: str, body: str) -> str | None:
        self.outbox.append((to, body))
        return None


# The outbox's id of the message being sent, while it is (a backend may name it, e.g. in a callback address).
sending_message_id: ContextVar[int | None] = ContextVar("sending_message_id", default=None)

SMS_STOPPED = "The participant replied STOP to an SMS: no SMS is sent to them until they reply START."


def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(getattr(settings, "SMS_BACKEND", "participants.messaging.ConsoleSmsBackend"))()
    return backend


def _send(message: OutboxMessage, rendered: Rendered) -> str | None:
    """Send one rendered message; return the provider's id for it (SMS), if any."""
    if message.channel == Channel.SMS:
        token = sending_message_id.set(message.pk)
        try:
            return sms_backend().send(to=rendered.to, body=rendered.body)
        finally:
            sending_message_id.reset(token)
    domain = getattr(settings, "OUTBOX_MESSAGE_ID_DOMAIN", "trialplatform.local")
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.body,
        to=[rendered.to],
        headers={"Message-ID": f"<outbox-{message.pk}@{domain}>"},
    )
    if rendered.html is not None:
        email.attach_alternative(rendered.html, "text/html")
    for attachment in rendered.attachments:
        email.attach(attachment.filename, attachment.content, attachment.mimetype)
    email.send(fail_silently=False)
    return None


def outbox_deliver(*, message_id: int, now: datetime | None = None) -> str:
    """Deliver one message if it is still to be sent. Returns what happened: sent, cancelled, retry,
    failed or skipped (someone else has it, or it is done)."""
    now = now or clock.now()
    claim = uuid.uuid4()
    claimed = OutboxMessage.objects.filter(_claimable(now), pk=message_id).update(
        status=MessageStatus.SENDING, claim_id=claim, claimed_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return "skipped"
    message = OutboxMessage.objects.select_related("participant", "user").get(pk=message_id)
    mine = OutboxMessage.objects.filter(pk=message_id, claim_id=claim)
    renderer = _renderers.get(message.kind)
    rendered: Rendered | None = None
    try:
        if renderer is None:
            raise LookupError(f"No renderer is registered for message kind {message.kind!r}.")
        if _sms_stopped(message, to=None):
            mine.update(status=MessageStatus.CANCELLED, claim_id=None, cancel_reason=SMS_STOPPED[:200])
            return "cancelled"
        outcome = renderer(message)
        if not isinstance(outcome, Rendered):
            reason = outcome.reason if isinstance(outcome, Skip) else NO_LONGER_WANTED
            mine.update(status=MessageStatus.CANCELLED, claim_id=None, cancel_reason=reason[:200])
            return "cancelled"
        rendered = outcome
        if _sms_stopped(message, to=rendered.to):
            if rendered.on_failure is not None:
                rendered.on_failure()
            mine.update(status=MessageStatus.CANCELLED, claim_id=None, cancel_reason=SMS_STOPPED[:200])
            return "cancelled"
        provider_id = _send(message, rendered)
    except Undeliverable as exc:
        if rendered is not None and rendered.on_failure is not None:
            rendered.on_failure()
        mine.update(status=MessageStatus.FAILED, claim_id=None, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        log.error("Outbox message %s (%s) can never be sent; failed: %s", message.pk, message.kind, exc)
        return "failed"
    except Exception as exc:
        if rendered is not None and rendered.on_failure is not None:
            rendered.on_failure()
        attempts = message.attempts
        forever = message.kind in _retried_forever
        past_limit = attempts >= getattr(settings, "OUTBOX_MAX_ATTEMPTS", 8)
        give_up = past_limit and not forever
        cap = FOREVER_BACKOFF_CAP if forever else BACKOFF_CAP
        backoff = min(cap, timedelta(seconds=30 * 2 ** min(attempts - 1, 20)))
        if forever and past_limit:
            log.error("Outbox message %s (%s) still not sent after %s attempts; retrying: %s",
                      message.pk, message.kind, attempts, exc)  # fmt: skip
        mine.update(
            status=MessageStatus.FAILED if give_up else MessageStatus.PENDING,
            available_at=now + backoff,
            claim_id=None,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        log.warning("Outbox message %s (%s) attempt %s failed: %s", message.pk, message.kind, attempts, exc)
        return "failed" if give_up else "retry"
    mine.update(
        status=MessageStatus.SENT,
        sent_at=clock.now(),
        recipient=rendered.to,
        claim_id=None,
        provider_id=(provider_id or "")[:64],
    )
    return "sent"


def _sms_stopped(message: OutboxMessage, *, to: str | None) -> bool:
    """Whether this SMS must not go: its participant replied STOP, or (once rendered) its number was stopped
    by anyone who has it."""
    if message.channel != Channel.SMS:
        return False
    stopped = ContactDetails.objects.filter(sms_stopped_at__isnull=False)
    if to is None:
        return message.participant_id is not None and stopped.filter(participant_id=message.participant_id).exists()
    return stopped.filter(phone=to).exists()


def outbox_cancel(*, participant_id: int, kinds: tuple[str, ...] | None = None, reason: str = "") -> int:
    """Cancel a participant's messages not yet sent (e.g. at withdrawal), with the reason staff will read."""
    pending = OutboxMessage.objects.filter(participant_id=participant_id, status=MessageStatus.PENDING)
    if kinds is not None:
        pending = pending.filter(kind__in=kinds)
    return pending.update(status=MessageStatus.CANCELLED, cancel_reason=(reason or "Cancelled.")[:200])


@transaction.atomic
def outbox_retry(*, message: OutboxMessage, by: Actor, trial: Trial | None = None) -> OutboxMessage:
    """Put a failed message back in the queue, due now, its attempts counted from zero again (so a message
    that failed for want of an address, since corrected, gets the whole back-off schedule). The last error
    stays until the next attempt replaces it. Only a failed message can be retried: for any other the
    answer is a Conflict saying what it is now, so a repeated request changes nothing. Audited, with the
    attempts and error it had."""
    row = OutboxMessage.objects.select_for_update(of=("self",)).select_related("participant__trial").get(pk=message.pk)
    if row.status != MessageStatus.FAILED:
        raise Conflict(
            f"Message {row.pk} is {row.get_status_display().lower()}, not failed: only a failed message can be "
            "retried.",
            code="not_failed",
        )
    before = row.attempts
    row.status, row.attempts, row.available_at, row.claim_id = MessageStatus.PENDING, 0, clock.now(), None
    row.save(update_fields=["status", "attempts", "available_at", "claim_id"])
    audit_record(
        actor=by,
        action="outbox.retry",
        obj=row,
        trial=row.participant.trial if row.participant is not None else trial,
        changes={
            "status": [MessageStatus.FAILED, MessageStatus.PENDING],
            "attempts": [before, 0],
            "last_error": [redact(row.last_error), None],
        },
    )
    transaction.on_commit(_kick_delivery)
    return row


def outbox_deliver_due(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for message_id in outbox_due_ids(now=now, limit=limit):
        outcome = outbox_deliver(message_id=message_id, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
