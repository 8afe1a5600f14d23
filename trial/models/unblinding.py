"""Unblinding a whole trial takes two people: one asks, a different one confirms (or rejects)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from trial import clock
from trial.models.protocol import Trial


class UnblindingStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a second person"
    CONFIRMED = "confirmed", "Confirmed: the trial is unblinded"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired unconfirmed"


class TrialUnblindingRequest(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="unblinding_requests")
    status = models.CharField(max_length=12, choices=UnblindingStatus.choices, default=UnblindingStatus.PENDING)
    reason = models.TextField()
    emergency_reason = models.TextField(
        blank=True, help_text="Required while the trial is recruiting: why it cannot wait for the database lock."
    )
    trial_status = models.CharField(max_length=12, help_text="The trial's status when the request was made.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial"], condition=Q(status="pending"), name="unblinding_one_pending_request_per_trial"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(status="expired") | ~Q(decided_by=models.F("requested_by")),
                name="unblinding_decided_by_a_second_person",
            ),
        ]

    def __str__(self) -> str:
        return f"Unblinding request {self.pk} for {self.trial.slug}"
