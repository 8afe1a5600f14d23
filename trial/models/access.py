"""Who may do what in a trial: membership is per trial, with one or more roles."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trial import clock
from trial.models.protocol import Trial


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Coordinator"
    INVESTIGATOR = "investigator", "Investigator"
    BLINDED_STATISTICIAN = "blinded_statistician", "Blinded statistician"
    UNBLINDED_STATISTICIAN = "unblinded_statistician", "Unblinded statistician"
    SAFETY_CLINICIAN = "safety_clinician", "Safety clinician"
    ADMINISTRATOR = "administrator", "Administrator"


class TrialMembership(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trial_memberships")
    role = models.CharField(max_length=30, choices=Role.choices)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "user", "role"], name="membership_unique_role"),
        ]
        indexes = [models.Index(fields=["user", "trial"])]

    def __str__(self) -> str:
        return f"{self.user} as {self.get_role_display()} in {self.trial.slug}"
