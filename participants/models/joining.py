"""People joining a trial online (``/join/<slug>/``): what they answered, signed and gave as contact, kept
until their e-mail address is verified, and what became of it.

A screening is recorded (``participant_screen``) for an ineligible person at once, and for an eligible one
only once the e-mail address is verified: a person who screened before with the same verified address is
recognised by the hash of the normalized address and not counted again. The contact details here are kept
apart from research data like ``ContactDetails`` (never exported); the link's token is stored hashed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from participants.models.core import Participant
from trial.models import ConsentDocument, Trial


class JoinStatus(models.TextChoices):
    PENDING = "pending", "Waiting for e-mail verification"
    REVIEW = "review", "Verified, waiting for review"
    ENROLLED = "enrolled", "Enrolled"
    DECLINED = "declined", "Declined by the study team"
    DUPLICATE = "duplicate", "Already screened with this e-mail address"
    INELIGIBLE = "ineligible", "Ineligible when verified"
    CHANGED = "changed", "The consent document changed before verification"


# Applications whose e-mail address was verified and that stand for a person already screened.
VERIFIED = (JoinStatus.REVIEW, JoinStatus.ENROLLED, JoinStatus.DECLINED, JoinStatus.INELIGIBLE)


class JoinApplication(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="join_applications")
    status = models.CharField(max_length=12, choices=JoinStatus.choices, default=JoinStatus.PENDING)
    language = models.CharField(max_length=16, default="en")
    screening_answers = models.JSONField(default=dict)
    screened_at = models.DateTimeField()
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="+")
    # {statement code: true/false}, as confirmed on the consent page.
    statement_answers = models.JSONField(default=dict)
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    # SHA-256 of the canonical signed record (participants.services.joining.signed_record): printed in
    # the PDF copy, so staff can tell a copy shown to them is the one recorded.
    record_hash = models.CharField(max_length=64, db_index=True)
    full_name = models.CharField(max_length=200)
    email = models.EmailField()
    email_hash = models.CharField(max_length=64)
    phone = models.CharField(max_length=32, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=tz.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="join_application"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One verified application per person (e-mail address) and trial, even when two verify at once.
            models.UniqueConstraint(
                fields=["trial", "email_hash"],
                condition=models.Q(status__in=["review", "enrolled", "declined", "ineligible"]),
                name="one_verified_join_per_email",
            ),
        ]
        indexes = [models.Index(fields=["trial", "status"], name="join_trial_status")]

    def __str__(self) -> str:
        return f"Online application #{self.pk}"
