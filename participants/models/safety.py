"""Safety alerts: every risk signal (PHQ-9 item 9, a missing item 9, a chatbot crisis flag) becomes an
alert that reaches the trial's safety clinicians at once and escalates if nobody acknowledges it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from participants.models.core import Participant
from trial import clock


class AlertSource(models.TextChoices):
    QUESTIONNAIRE = "questionnaire", "Questionnaire answer"
    CHATBOT = "chatbot", "Chatbot crisis flag"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class RiskLevel(models.TextChoices):
    NONE = "none", "No current risk"
    LOW = "low", "Low"
    MODERATE = "moderate", "Moderate"
    HIGH = "high", "High"
    IMMINENT = "imminent", "Imminent"


class SafetyAlert(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="safety_alerts")
    source = models.CharField(max_length=15, choices=AlertSource.choices)
    flag = models.CharField(max_length=40, help_text="e.g. suicidal_ideation, safety_item_missing, crisis_language")
    urgent = models.BooleanField(default=False, help_text="Escalates sooner (e.g. PHQ-9 item 9 = 3).")
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=120, unique=True, help_text="One alert per signal.")
    status = models.CharField(max_length=13, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    raised_at = models.DateTimeField(default=clock.now)
    escalate_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    contacted_at = models.DateTimeField(null=True, blank=True)
    contact_notes = models.TextField(blank=True)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, blank=True)
    risk_notes = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-urgent", "raised_at", "id"]
        indexes = [
            models.Index(
                fields=["escalate_at"], name="alert_to_escalate", condition=models.Q(status="open", escalated_at=None)
            ),
            models.Index(fields=["participant", "status"]),
            # The health check's oldest unacknowledged urgent alert (config/health.py).
            models.Index(
                fields=["raised_at"], name="alert_open_urgent", condition=models.Q(status="open", urgent=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Safety alert {self.pk}: {self.participant} {self.flag}"

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self.acknowledged_at - self.raised_at if self.acknowledged_at else None
