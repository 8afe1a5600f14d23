"""Scheduled questionnaires and their responses.

The protocol says which instruments each visit has (trial.VisitInstrument, for all arms or one). When a
participant is enrolled (baseline) or randomized (follow-ups), each visit becomes a ScheduledAssessment
with its window computed in the participant's timezone. Raw answers are kept as given in Response rows
that never change; a correction is a new version with a reason.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from participants.models import Participant
from trial import clock
from trial.errors import DomainError
from trial.models import VisitDefinition
from trial.models.immutable import ImmutableQuerySet

# Rows of one arm only (the alliance questionnaire) must leave no gap in what a blinded reader sees, so the
# API names visits and responses by a random UUID, never by the sequential primary key.
PUBLIC_ID_HELP = "The identifier the API shows and accepts: random, so it tells no order and leaves no gaps."


class AssessmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


PENDING = (AssessmentStatus.SCHEDULED, AssessmentStatus.OPEN)


class ScheduledAssessment(models.Model):
    """One visit of one participant: scheduled -> open -> completed | missed | cancelled."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="assessments")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text=PUBLIC_ID_HELP)
    visit = models.ForeignKey(VisitDefinition, on_delete=models.PROTECT, related_name="+")
    instruments = models.JSONField(help_text="Instrument codes due at this visit, in order.")
    status = models.CharField(max_length=10, choices=AssessmentStatus.choices, default=AssessmentStatus.SCHEDULED)
    due_at = models.DateTimeField()
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField(help_text="Exclusive: the window is [opens_at, closes_at).")
    opened_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was missed or cancelled.")
    ended_reason = models.TextField(blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    next_reminder_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["participant", "visit"], name="one_assessment_per_visit")]
        # The sweep's three questions, each answered from an index over only the rows in play.
        indexes = [
            models.Index(fields=["opens_at"], name="assess_to_open", condition=models.Q(status="scheduled")),
            models.Index(fields=["closes_at"], name="assess_to_close", condition=models.Q(status__in=PENDING)),
            models.Index(fields=["next_reminder_at"], name="assess_to_remind", condition=models.Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.visit.code}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING


class ResponseSource(models.TextChoices):
    SURVEY = "survey", "Participant survey page"
    API = "api", "API"
    IMPORT = "import", "Import"
    STAFF = "staff", "Entered by staff"


class Response(models.Model):
    """The answers to one instrument at one visit, as given, with the scores computed from them.

    Version 1 is what was submitted; a correction adds version n+1 with a reason. The highest version is
    the current one.
    """

    assessment = models.ForeignKey(ScheduledAssessment, on_delete=models.PROTECT, related_name="responses")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text=PUBLIC_ID_HELP)
    instrument_code = models.CharField(max_length=20)
    version = models.PositiveSmallIntegerField(default=1)
    answers = models.JSONField(help_text="Item key -> value, exactly as submitted (missing items absent).")
    total = models.FloatField(null=True, blank=True)
    subscales = models.JSONField(default=dict, blank=True)
    band = models.CharField(max_length=40, blank=True)
    flags = models.JSONField(default=list, blank=True)
    prorated = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=ResponseSource.choices)
    submitted_at = models.DateTimeField(default=clock.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    correction_reason = models.TextField(blank=True)
    entry_note = models.TextField(
        blank=True, help_text="Why staff entered the answers for the participant (e.g. paper form returned by post)."
    )

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["assessment_id", "instrument_code", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "instrument_code", "version"], name="response_version_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(version=1) | ~models.Q(correction_reason=""), name="correction_needs_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assessment} {self.instrument_code} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise DomainError("Responses are never changed; submit a correction.", code="immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise DomainError("Responses are never deleted.", code="immutable")


class DraftAnswers(models.Model):
    """Answers saved as a participant goes, so leaving halfway loses nothing. Deleted on submission."""

    assessment = models.ForeignKey(ScheduledAssessment, on_delete=models.CASCADE, related_name="drafts")
    instrument_code = models.CharField(max_length=20)
    answers = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "instrument_code"], name="one_draft_per_instrument")
        ]

    def __str__(self) -> str:
        return f"Draft {self.assessment} {self.instrument_code}"


class AccessLink(models.Model):
    """A participant's link to one questionnaire visit. Only the SHA-256 of the token is stored; the
    token itself exists only in the message that carried it. It expires when the window closes. A visit
    has one live link per channel: the link a new message carries replaces the earlier ones sent the same
    way (``replaced_at``)."""

    assessment = models.ForeignKey(ScheduledAssessment, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)  # to the minute (services.links)
    replaced_at = models.DateTimeField(null=True, blank=True)
    # Set when staff took the link away (links.links_revoke): a failed send never brings it back.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The channel of the message that carried it: a participant who gets e-mail and SMS has one live link in
    # each, so the SMS sent a moment after the e-mail does not take away the e-mail's link.
    channel = models.CharField(max_length=5, default="email")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "channel"],
                condition=models.Q(replaced_at__isnull=True),
                name="one_live_link_per_visit_channel",
            )
        ]

    def __str__(self) -> str:
        return f"Link to {self.assessment} (expires {self.expires_at:%Y-%m-%d})"
