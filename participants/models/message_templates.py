"""A trial's own wording for one kind of message in one language (ethics committees approve the exact
text). Versions are never edited: a change is a new version, and the newest is the one sent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from trial import clock
from trial.errors import Conflict
from trial.models import Trial


class MessageTemplate(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="message_templates")
    kind = models.CharField(max_length=64, help_text="The kind of message (participants.message_templates).")
    language = models.CharField(max_length=16)
    version = models.PositiveIntegerField()
    subject = models.TextField(help_text="Django template; renders to one line.")
    text = models.TextField(help_text="The plain-text part (Django template).")
    html = models.TextField(help_text="The HTML part (Django template; no scripts).")
    sms = models.TextField(blank=True, help_text="The SMS text, for kinds sent by SMS (Django template).")
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why this version: e.g. the ethics approval it carries."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["trial", "kind", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "kind", "language", "version"], name="message_template_version_unique"
            ),
        ]
        indexes = [models.Index(fields=["trial", "kind", "language", "-version"], name="message_template_current")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language}) v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise Conflict("A message template version is kept as saved: add a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise Conflict("A message template version is kept as saved: add a new version instead.")
