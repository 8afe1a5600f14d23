"""The outbox: every message to a participant or to staff is a row first, sent later by a worker.

Writing the row is part of the business transaction, so a message exists exactly when the change that
caused it committed, whether or not Redis is up. Delivery claims a row with a conditional UPDATE that
can touch it only once (participants.messaging), so two workers or a retried task never both send it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from participants.models.core import Participant
from trial import clock


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class OutboxMessage(models.Model):
    kind = models.CharField(max_length=40, help_text="Names the renderer that writes the message at send time.")
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.EMAIL)
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    dedupe_key = models.CharField(max_length=120, unique=True, help_text="One message per key, ever.")
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    available_at = models.DateTimeField(default=clock.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipient = models.CharField(max_length=254, blank=True, help_text="Where it went (filled when sent).")
    last_error = models.TextField(blank=True)
    cancel_reason = models.CharField(
        max_length=200, blank=True, help_text="Why it was not sent (set when it is cancelled), in words for staff."
    )
    # SMS: the provider's id for the message (Twilio's SID), and what its delivery status callbacks said.
    provider_id = models.CharField(max_length=64, blank=True, help_text="The SMS provider's id for it (when sent).")
    delivery_status = models.CharField(
        max_length=20, blank=True, help_text="The provider's last word on delivery (e.g. delivered, undelivered)."
    )
    delivery_error = models.CharField(max_length=200, blank=True, help_text="The provider's delivery error, in words.")
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["available_at", "id"]
        indexes = [
            models.Index(fields=["available_at"], name="outbox_due", condition=models.Q(status="pending")),
            models.Index(fields=["claimed_at"], name="outbox_claimed", condition=models.Q(status="sending")),
            # The staff's message log, newest first (workspace): read backwards, filtered as it goes.
            models.Index(fields=["-created_at", "-id"], name="outbox_newest"),
            # Delivery status callbacks name the provider's id.
            models.Index(fields=["provider_id"], name="outbox_provider", condition=~models.Q(provider_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
