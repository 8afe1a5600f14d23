"""Jobs that build a file in the background (a Celery task): a dataset export in one of the formats, or
the analysis report. The requester follows the progress and downloads the file when it is done."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from trial import clock
from trial.models import Trial


class JobKind(models.TextChoices):
    EXPORT = "export", "Dataset export"
    DICTIONARY = "dictionary", "Data dictionary"
    REPORT = "report", "Analysis report"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    kind = models.CharField(max_length=12, choices=JobKind.choices)
    dataset = models.CharField(max_length=20, blank=True, help_text="long, wide or participants (exports).")
    format = models.CharField(max_length=10)
    blinded = models.BooleanField(default=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    rows_total = models.PositiveBigIntegerField(null=True, blank=True)
    rows_done = models.PositiveBigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True, help_text="The name the download gets.")
    path = models.CharField(max_length=500, blank=True, help_text="Where the finished file is stored.")
    bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="The analysis JSON, for reports.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["trial", "requested_by", "-created_at"], name="job_by_requester")]

    def __str__(self) -> str:
        what = self.dataset or self.kind
        return f"{self.trial.slug} {what} ({self.format}, {'blinded' if self.blinded else 'unblinded'})"

    @property
    def progress(self) -> float | None:
        """Fraction done, 0-1 (None while the size is not known)."""
        if self.status == JobStatus.DONE:
            return 1.0
        if not self.rows_total:
            return None
        return min(1.0, self.rows_done / self.rows_total)
