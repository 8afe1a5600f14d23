"""Participants: screening, consent, enrollment, contact details, status, allocation and unblinding.

Contact details live in their own table so exports, which read Participant, never touch them.
Allocations are written once by the randomization service and never change: the model refuses updates
and deletes, and database triggers (migration 0002) refuse them for raw SQL too.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from trial.errors import DomainError
from trial.models import Arm, ConsentDocument, Site, Trial
from trial.models.immutable import ImmutableQuerySet


class Status(models.TextChoices):
    SCREENED = "screened", "Screened"
    INELIGIBLE = "ineligible", "Ineligible"
    ELIGIBLE = "eligible", "Eligible"
    CONSENTED = "consented", "Consented"
    ENROLLED = "enrolled", "Enrolled"
    RANDOMIZED = "randomized", "Randomized"
    COMPLETED = "completed", "Completed"
    WITHDRAWN = "withdrawn", "Withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", "Lost to follow-up"


# The lifecycle. Anything not listed is refused with a message naming what is allowed.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCREENED: frozenset({Status.ELIGIBLE, Status.INELIGIBLE}),
    Status.INELIGIBLE: frozenset(),
    Status.ELIGIBLE: frozenset({Status.CONSENTED, Status.WITHDRAWN}),
    Status.CONSENTED: frozenset({Status.ENROLLED, Status.WITHDRAWN}),
    Status.ENROLLED: frozenset({Status.RANDOMIZED, Status.WITHDRAWN}),
    Status.RANDOMIZED: frozenset({Status.COMPLETED, Status.WITHDRAWN, Status.LOST_TO_FOLLOW_UP}),
    # Someone lost to follow-up may come back (and then complete or withdraw).
    Status.LOST_TO_FOLLOW_UP: frozenset({Status.RANDOMIZED, Status.WITHDRAWN}),
    Status.COMPLETED: frozenset(),
    Status.WITHDRAWN: frozenset(),
}


class Participant(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="participants")
    study_id = models.CharField(max_length=32, null=True, blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCREENED, editable=False)
    screening_answers = models.JSONField(default=dict, editable=False)
    ineligibility_reasons = models.JSONField(default=list, blank=True, editable=False)
    strata = models.JSONField(default=dict, blank=True, editable=False, help_text="Factor code -> level code.")
    screened_at = models.DateTimeField(default=tz.now, editable=False)
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    enrolled_at = models.DateTimeField(null=True, blank=True, editable=False)
    randomized_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_reason = models.TextField(blank=True, editable=False)
    # The language the person chose at screening (one of the trial's languages): every page and message
    # they get is in it.
    language = models.CharField(max_length=16, default="en")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "study_id"],
                condition=models.Q(study_id__isnull=False),
                name="study_id_unique_in_trial",
            ),
            models.CheckConstraint(
                condition=models.Q(study_id__isnull=True)
                | ~models.Q(status__in=[Status.SCREENED, Status.INELIGIBLE, Status.ELIGIBLE, Status.CONSENTED]),
                name="study_id_only_once_enrolled",
            ),
        ]
        indexes = [
            models.Index(fields=["trial", "status"]),
            # The workspace lists a trial's participants newest first, fifty at a time.
            models.Index(fields=["trial", "-screened_at", "-id"], name="participant_newest"),
        ]

    def __str__(self) -> str:
        return self.study_id or f"screening #{self.pk}"


class StudyIdCounter(models.Model):
    """Last study-ID number issued in a trial; locked while issuing the next one."""

    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, related_name="+")
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Study IDs issued in trial {self.trial_id}: {self.last_number}"


class ContactChannels(models.TextChoices):
    """How a participant hears from the study (their choice): each value names outbox channels."""

    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    BOTH = "both", "E-mail and SMS"


CHANNELS_OF: dict[str, tuple[str, ...]] = {"email": ("email",), "sms": ("sms",), "both": ("email", "sms")}


class ContactDetails(models.Model):
    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="contact")
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    channels = models.CharField(
        max_length=5,
        choices=ContactChannels.choices,
        default=ContactChannels.EMAIL,
        help_text="How invitations and reminders reach the participant: e-mail, SMS or both.",
    )
    sms_stopped_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the participant replied STOP to an SMS: no SMS is sent to them until they reply START.",
    )
    updated_at = models.DateTimeField(default=tz.now)

    class Meta:
        verbose_name_plural = "contact details"

    def __str__(self) -> str:
        return f"Contact details of {self.participant}"


class Consent(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="consents")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="consents")
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "document"], name="one_consent_per_document"),
        ]

    def __str__(self) -> str:
        return f"{self.participant} consented to v{self.document.version}"


class StatusChange(models.Model):
    """Every move through the lifecycle, with its reason: CONSORT counts come from here."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    at = models.DateTimeField(default=tz.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["participant", "at"])]

    def __str__(self) -> str:
        return f"{self.participant}: {self.from_status or '-'} -> {self.to_status}"


class Allocation(models.Model):
    """The arm a participant was randomized to. One per participant (unique), written once."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="allocation")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="allocations")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="allocations")
    method = models.CharField(max_length=20)
    stratum = models.CharField(max_length=200, blank=True)
    sequence_number = models.PositiveIntegerField(help_text="Position in the stratum's sequence, from 1.")
    # Block structure, kept for verification by unblinded roles; never shown to enrolling staff.
    block_index = models.PositiveIntegerField(null=True, blank=True)
    block_size = models.PositiveSmallIntegerField(null=True, blank=True)
    allocated_at = models.DateTimeField(default=tz.now)
    allocated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "stratum", "sequence_number"], name="allocation_position_unique"),
        ]

    def __str__(self) -> str:
        return f"Allocation of {self.participant}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self._state.adding:
            raise DomainError("Allocations are never changed.", code="immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise DomainError("Allocations are never deleted.", code="immutable")


class RandomizationSequence(models.Model):
    """State of one randomization sequence (a stratum's blocks, or the trial's minimization marginals).

    The row is locked (SELECT ... FOR UPDATE) for each allocation, so concurrent randomizations in one
    sequence run one after another. Concealed: no API, admin page or log shows it.
    """

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(max_length=200, blank=True)
    allocated = models.PositiveIntegerField(default=0)
    state = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trial", "stratum"], name="sequence_unique_per_stratum")]

    def __str__(self) -> str:
        # Deliberately says nothing about the state: it is concealed.
        return f"Randomization sequence {self.stratum or '(trial-wide)'}"


class EmergencyUnblinding(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="unblindings")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=tz.now)
    reason = models.TextField()

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"Emergency unblinding of {self.participant}"
