"""What the chatbot service reports: its sessions with each participant, and the API keys it uses."""

from __future__ import annotations

from django.db import models

from participants.models.core import Participant
from trial import clock
from trial.models import Trial


class ChatbotApiKey(models.Model):
    """A machine client's key for one trial. Only its SHA-256 is stored; the key is shown once."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="chatbot_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="First characters of the key, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class EngagementSession(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="engagement_sessions")
    session_id = models.CharField(max_length=100, help_text="The chatbot service's own session identifier.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    participant_messages = models.PositiveIntegerField(default=0)
    bot_messages = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "session_id"], name="engagement_session_unique"),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="session_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"Chatbot session {self.session_id} of {self.participant}"
