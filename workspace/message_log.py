"""The message log as a reader may see it: which messages, described in words, and who may retry which.

- Every member sees the messages to the trial's participants. Those who receive the staff's notifications
  (holders of HANDLE_SAFETY or MANAGE_TRIAL: investigators, safety clinicians, administrators) also see
  those e-mails (safety alerts, escalations, unblinding notices).
- Where a message went (an e-mail address, a phone number) is shown only with VIEW_CONTACT; an error is
  always shown through trial.redaction (no link token, key or password), and without VIEW_CONTACT also
  without the addresses and numbers a mail server may quote.
- A reader who does not see arms by name gets the log without what would tell the arms apart
  (assessments.blinding.messages_shown_blinded): even for a participant emergency-unblinded to them, so
  that the log never depends on who was unblinded.
- Retrying a participant's message needs ENROLL; retrying a staff notification needs HANDLE_SAFETY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from assessments.blinding import messages_shown_blinded
from assessments.models import ScheduledAssessment
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND
from participants.models import Channel, MessageStatus, OutboxMessage, Participant
from participants.selectors import trial_messages
from participants.services.safety import ALERT_KIND, ESCALATION_KIND
from participants.services.unblinding import NOTICE_KIND, TRIAL_NOTICE_KIND
from trial.access import Capability
from trial.redaction import redact
from workspace.access import Desk

KIND_WORDS = {
    INVITATION_KIND: "Questionnaire invitation",
    REMINDER_KIND: "Questionnaire reminder",
    ALERT_KIND: "Safety alert e-mail",
    ESCALATION_KIND: "Safety alert escalation",
    NOTICE_KIND: "Emergency unblinding notice",
    TRIAL_NOTICE_KIND: "Trial unblinding notice",
}
STAFF_KINDS = frozenset({ALERT_KIND, ESCALATION_KIND, NOTICE_KIND, TRIAL_NOTICE_KIND})

STATE_WORDS = {
    MessageStatus.PENDING: ("Queued", "badge-muted"),
    MessageStatus.SENDING: ("Sending", "badge-warn"),
    MessageStatus.SENT: ("Sent", "badge-ok"),
    MessageStatus.FAILED: ("Failed", "badge-danger"),
    MessageStatus.CANCELLED: ("Cancelled", "badge-muted"),
}

# What an SMS provider's delivery reports say (participants.services.sms), in words, with a badge. The
# reports are about one message's journey to one phone: nothing in them depends on the arm.
DELIVERY_WORDS = {
    "accepted": ("Accepted by the provider", "badge-muted"),
    "scheduled": ("Scheduled by the provider", "badge-muted"),
    "queued": ("Queued at the provider", "badge-muted"),
    "sending": ("Sending to the carrier", "badge-muted"),
    "sent": ("Handed to the carrier", "badge-muted"),
    "delivered": ("Delivered", "badge-ok"),
    "read": ("Read", "badge-ok"),
    "undelivered": ("Not delivered", "badge-danger"),
    "failed": ("Not delivered", "badge-danger"),
    "canceled": ("Cancelled by the provider", "badge-muted"),
}


@dataclass(frozen=True)
class Delivery:
    words: str
    badge: str
    error: str


def delivery_in_words(message: OutboxMessage, *, contact: bool) -> Delivery | None:
    """An SMS's delivery as its provider reported it; None where there is nothing to say (an e-mail, an
    SMS not sent, or sent by a backend that gives no id)."""
    if message.channel != Channel.SMS or message.status != MessageStatus.SENT or not message.provider_id:
        return None
    if not message.delivery_status:
        return Delivery("No delivery report yet", "badge-muted", "")
    words, badge = DELIVERY_WORDS.get(message.delivery_status, (message.delivery_status.capitalize(), "badge-muted"))
    return Delivery(words, badge, error_in_words(message.delivery_error, contact=contact))


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")


def kind_in_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())


def sees_staff_notifications(desk: Desk) -> bool:
    return desk.can(Capability.HANDLE_SAFETY) or desk.can(Capability.MANAGE_TRIAL)


def retry_capability(kind: str) -> Capability:
    return Capability.HANDLE_SAFETY if kind in STAFF_KINDS else Capability.ENROLL


def may_retry(desk: Desk, message: OutboxMessage) -> bool:
    return message.status == MessageStatus.FAILED and desk.can(retry_capability(message.kind))


def messages_visible(desk: Desk) -> QuerySet[OutboxMessage]:
    """Every message of the trial this reader may see, unordered; rows carry ``subject_id``."""
    rows = trial_messages(trial=desk.trial, staff_notifications=sees_staff_notifications(desk))
    if not desk.sees_arms:
        rows = messages_shown_blinded(rows, desk.trial)
    return rows


def messages_about(desk: Desk, participant: Participant) -> QuerySet[OutboxMessage]:
    """One participant's messages (and the staff's about them, for those who get those) as this reader may
    see them, newest first: for the participant's page (describe them with ``rows_for``)."""
    return (
        messages_visible(desk)
        .filter(Q(subject_id=participant.pk))
        .select_related("user")
        .order_by("-created_at", "-id")
    )


def error_in_words(text: str, *, contact: bool) -> str:
    """An error as staff may read it: never a secret; addresses and numbers only for those who see contacts."""
    text = redact(text)
    if not contact:
        text = _PHONE.sub("[number]", _EMAIL.sub("[address]", text))
    return text


@dataclass(frozen=True)
class Row:
    message: OutboxMessage
    kind: str
    about: str  # the visit an invitation or reminder is for, or ""
    subject: Participant | None
    state: str
    badge: str
    error: str
    recipient: str
    retry: bool
    delivery: Delivery | None = None


def rows_for(desk: Desk, messages: list[OutboxMessage]) -> list[Row]:
    """The page's messages described, in two queries whatever their number (visits, participants)."""
    assessment_ids = {m.context.get("assessment") for m in messages if m.kind in (INVITATION_KIND, REMINDER_KIND)} - {
        None
    }
    visits = dict(
        ScheduledAssessment.objects.filter(pk__in=assessment_ids, participant__trial=desk.trial).values_list(
            "pk", "visit__name"
        )
        if assessment_ids
        else []
    )
    subject_ids = {n for n in (getattr(m, "subject_id", m.participant_id) for m in messages) if n is not None}
    subjects = Participant.objects.filter(pk__in=subject_ids, trial=desk.trial).in_bulk() if subject_ids else {}
    contact = desk.can(Capability.VIEW_CONTACT)
    out = []
    for m in messages:
        state, badge = STATE_WORDS.get(MessageStatus(m.status), (m.status, "badge-muted"))
        error = ""
        if m.last_error and m.status in (MessageStatus.FAILED, MessageStatus.PENDING, MessageStatus.SENDING):
            error = error_in_words(m.last_error, contact=contact)
        if m.user_id is not None:
            recipient = (m.user.get_full_name() or m.user.get_username()) if m.user else ""
        else:
            recipient = m.recipient if contact else ""
        subject_id = getattr(m, "subject_id", m.participant_id)
        out.append(
            Row(
                message=m,
                kind=kind_in_words(m.kind),
                about=visits.get(m.context.get("assessment"), "") if m.kind in (INVITATION_KIND, REMINDER_KIND) else "",
                subject=subjects.get(subject_id) if subject_id is not None else None,
                state=state,
                badge=badge,
                error=error,
                recipient=recipient,
                retry=may_retry(desk, m),
                delivery=delivery_in_words(m, contact=contact),
            )
        )
    return out
