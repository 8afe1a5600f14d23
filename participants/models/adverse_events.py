"""Adverse events: anything untoward that happened to a participant during the trial, whether or not it
is thought to be caused by the intervention, recorded by a safety clinician or investigator (from an alert
or on its own). A serious one (any seriousness criterion) is notified to the investigators at once."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from participants.models.core import Participant
from participants.models.safety import SafetyAlert
from trial import clock


class AESeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class AESeriousness(models.TextChoices):
    """ICH E2A seriousness criteria; an event meeting any of them is serious."""

    DEATH = "death", "Resulted in death"
    LIFE_THREATENING = "life_threatening", "Life-threatening"
    HOSPITALISATION = "hospitalisation", "Required or prolonged hospitalisation"
    DISABILITY = "disability", "Persistent or significant disability or incapacity"
    CONGENITAL_ANOMALY = "congenital_anomaly", "Congenital anomaly or birth defect"
    OTHER_IMPORTANT = "other_important", "Other important medical event"


class AERelatedness(models.TextChoices):
    NOT_RELATED = "not_related", "Not related"
    UNLIKELY = "unlikely", "Unlikely related"
    POSSIBLE = "possible", "Possibly related"
    PROBABLE = "probable", "Probably related"
    DEFINITE = "definite", "Definitely related"


class AEOutcome(models.TextChoices):
    RECOVERED = "recovered", "Recovered"
    RECOVERING = "recovering", "Recovering"
    NOT_RECOVERED = "not_recovered", "Not recovered"
    RECOVERED_WITH_SEQUELAE = "recovered_with_sequelae", "Recovered with sequelae"
    FATAL = "fatal", "Fatal"
    UNKNOWN = "unknown", "Unknown"


class AdverseEvent(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="adverse_events")
    alert = models.ForeignKey(
        SafetyAlert, on_delete=models.PROTECT, null=True, blank=True, related_name="adverse_events"
    )
    description = models.TextField()
    onset_date = models.DateField()
    severity = models.CharField(max_length=10, choices=AESeverity.choices)
    seriousness = models.JSONField(default=list, blank=True, help_text="AESeriousness codes; empty: not serious.")
    serious = models.BooleanField(default=False, help_text="Any seriousness criterion (kept for counting).")
    relatedness = models.CharField(max_length=12, choices=AERelatedness.choices)
    action_taken = models.TextField(blank=True)
    outcome = models.CharField(max_length=24, choices=AEOutcome.choices)
    resolved_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-onset_date", "-id"]
        indexes = [models.Index(fields=["participant", "onset_date"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolved_date__isnull=True) | models.Q(resolved_date__gte=models.F("onset_date")),
                name="ae_resolved_not_before_onset",
            )
        ]

    def __str__(self) -> str:
        return f"Adverse event {self.pk}: {self.participant}"

    @property
    def seriousness_labels(self) -> list[str]:
        labels = dict(AESeriousness.choices)
        return [str(labels.get(code, code)) for code in self.seriousness]
