"""The workspace's own bookkeeping: which form submissions have been carried out."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trial import clock


class FormSubmission(models.Model):
    """One carried-out submission of a workspace form, by its one-time key (a hidden field of the form).

    A second POST with the same key (a double click, back and resubmit, a reload of a POST) finds this row
    and is sent to the page the first one produced, instead of recording the act again. The row is written
    in the same transaction as the act, so an act that is refused leaves no row and the form can be sent
    again.
    """

    key = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    form = models.CharField(max_length=40)
    result_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="workspace_submission_once")]
        indexes = [models.Index(fields=["created_at"], name="workspace_submission_age")]

    def __str__(self) -> str:
        return f"{self.form} {self.key}"
