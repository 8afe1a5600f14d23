"""The audit trail: who changed what, when and why. Rows are written by trial.audit and never change."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from trial import clock
from trial.errors import DomainError
from trial.models.immutable import ImmutableQuerySet
from trial.models.protocol import Trial


class AuditEvent(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, or 'system' for automated changes.")
    at = models.DateTimeField(default=clock.now, db_index=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    object_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["trial", "-at"]), models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            raise DomainError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise DomainError("Audit events cannot be deleted.")
