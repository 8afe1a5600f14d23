"""Export and report endpoints.

- ``GET exports/<dataset>.csv``: the dataset as CSV, streamed (memory stays flat however large the trial).
- ``GET exports/dictionary.<csv|json>``: the data dictionary of every dataset.
- ``POST exports/``: any dataset in any format as a background job; ``POST reports/``: the analysis report.
- ``GET jobs/``, ``GET jobs/<id>/`` (status, progress), ``GET jobs/<id>/download/`` when done.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import datasets
from analysis.exports import dataset_csv, export_permission
from analysis.formats import FORMATS, content_type, write_dictionary
from analysis.models import Job, JobKind
from analysis.report import policy_for
from analysis.services import DICTIONARY_FORMATS, job_file, job_request, stream_file, visible_jobs
from trial import clock
from trial.access import Capability
from trial.api import TrialScopedMixin
from trial.audit import audit_record
from trial.errors import DomainError

#: The report's <style> comes within its first characters (the header of the file); read no more than this.
REPORT_HEAD = 1 << 16

UNBLINDED = OpenApiParameter("unblinded", OpenApiTypes.BOOL, description="Real arm codes instead of A/B.")


def _unblinded(request: Request) -> bool:
    return request.query_params.get("unblinded", "").lower() in {"1", "true", "yes"}


class DatasetCsvView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(parameters=[UNBLINDED], responses={(200, "text/csv"): OpenApiTypes.BINARY}, tags=["exports"])
    def get(self, request: Request, slug: str, dataset: str) -> StreamingHttpResponse:
        if dataset not in datasets.DATASETS:
            raise DomainError(f"No dataset {dataset!r} (datasets: {', '.join(datasets.DATASETS)}).", field="dataset")
        blinded = not _unblinded(request)
        export_permission(trial=self.trial, roles=self.roles, blinded=blinded)
        name = f"{self.trial.slug}-{dataset}-{'blinded' if blinded else 'unblinded'}-{clock.now():%Y%m%d}.csv"
        response = StreamingHttpResponse(
            dataset_csv(trial=self.trial, name=dataset, blinded=blinded, by=request.user), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class LongExportView(DatasetCsvView):
    """``exports/long.csv`` (DESIGN.md contract)."""

    @extend_schema(parameters=[UNBLINDED], responses={(200, "text/csv"): OpenApiTypes.BINARY}, tags=["exports"])
    def get(self, request: Request, slug: str, dataset: str = "long") -> StreamingHttpResponse:
        return super().get(request, slug, "long")


class DictionaryView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(
        parameters=[UNBLINDED],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, "application/json"): OpenApiTypes.OBJECT},
        tags=["exports"],
    )
    def get(self, request: Request, slug: str, fmt: str) -> HttpResponse:
        if fmt not in DICTIONARY_FORMATS:
            raise DomainError(f"The dictionary comes as {' or '.join(DICTIONARY_FORMATS)}.", field="format")
        blinded = not _unblinded(request)
        export_permission(trial=self.trial, roles=self.roles, blinded=blinded)
        buffer = io.BytesIO()
        described = datasets.describe(self.trial, blinded=blinded)
        write_dictionary(described, buffer, fmt)  # type: ignore[arg-type]
        audit_record(
            actor=request.user,
            action="export.dictionary",
            obj=self.trial,
            trial=self.trial,
            changes={
                "format": [None, fmt],
                "blinded": [None, blinded],
                "rows": [None, sum(len(dataset.variables) for dataset in described)],  # one per variable
                "sha256": [None, hashlib.sha256(buffer.getvalue()).hexdigest()],
            },
        )
        response = HttpResponse(buffer.getvalue(), content_type="text/csv" if fmt == "csv" else "application/json")
        mode = "blinded" if blinded else "unblinded"
        response["Content-Disposition"] = f'attachment; filename="{self.trial.slug}-dictionary-{mode}.{fmt}"'
        return response


class JobOut(serializers.ModelSerializer[Job]):
    progress = serializers.FloatField(allow_null=True, read_only=True)
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "dataset",
            "format",
            "blinded",
            "status",
            "progress",
            "rows_done",
            "rows_total",
            "file_name",
            "bytes",
            "sha256",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "url",
            "download_url",
        ]

    def _reverse(self, job: Job, name: str) -> str:
        return reverse(name, kwargs={"slug": job.trial.slug, "job_id": job.pk}, request=self.context.get("request"))

    def get_url(self, job: Job) -> str:
        return self._reverse(job, "job-detail")

    def get_download_url(self, job: Job) -> str | None:
        return self._reverse(job, "job-download") if job.status == "done" and job.path else None


class ExportJobIn(serializers.Serializer[Any]):
    dataset = serializers.ChoiceField(choices=[*datasets.DATASETS, "dictionary"])
    format = serializers.ChoiceField(choices=list(dict.fromkeys([*FORMATS, *DICTIONARY_FORMATS])))
    unblinded = serializers.BooleanField(default=False)


class ReportJobIn(serializers.Serializer[Any]):
    unblinded = serializers.BooleanField(default=False)
    control = serializers.CharField(required=False, allow_blank=True, help_text="Blinded: the reference letter (A).")
    covariates = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Default: the stratification factors."
    )


class ExportJobsView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(request=ExportJobIn, responses={202: JobOut}, tags=["exports"])
    def post(self, request: Request, slug: str) -> Response:
        data = ExportJobIn(data=request.data)
        data.is_valid(raise_exception=True)
        dictionary = data.validated_data["dataset"] == "dictionary"
        job = job_request(
            trial=self.trial,
            roles=self.roles,
            by=request.user,  # type: ignore[arg-type]
            kind=JobKind.DICTIONARY if dictionary else JobKind.EXPORT,
            dataset="" if dictionary else data.validated_data["dataset"],
            fmt=data.validated_data["format"],
            blinded=not data.validated_data["unblinded"],
        )
        return Response(JobOut(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ReportJobsView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(request=ReportJobIn, responses={202: JobOut}, tags=["reports"])
    def post(self, request: Request, slug: str) -> Response:
        data = ReportJobIn(data=request.data)
        data.is_valid(raise_exception=True)
        options: dict[str, Any] = {"control": data.validated_data.get("control") or None}
        if "covariates" in data.validated_data:
            options["covariates"] = data.validated_data["covariates"]
        job = job_request(
            trial=self.trial,
            roles=self.roles,
            by=request.user,  # type: ignore[arg-type]
            kind=JobKind.REPORT,
            fmt="html",
            blinded=not data.validated_data["unblinded"],
            options=options,
        )
        return Response(JobOut(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class JobListView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(responses={200: JobOut(many=True)}, tags=["exports"])
    def get(self, request: Request, slug: str) -> Response:
        jobs = list(visible_jobs(self.trial, request.user)[:100])  # type: ignore[arg-type]
        return Response(JobOut(jobs, many=True, context={"request": request}).data)


class JobMixin(TrialScopedMixin):
    capability = Capability.EXPORT

    def job(self, request: Request, job_id: Any) -> Job:
        try:
            job = visible_jobs(self.trial, request.user).filter(pk=job_id).first()  # type: ignore[arg-type]
        except (ValueError, ValidationError):  # not a UUID
            job = None
        if job is None:
            raise Http404("No such job.")
        return job


class JobDetailView(JobMixin, APIView):
    @extend_schema(responses={200: JobOut}, tags=["exports"])
    def get(self, request: Request, slug: str, job_id: str) -> Response:
        return Response(JobOut(self.job(request, job_id), context={"request": request}).data)


class JobDownloadView(JobMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("as", str, description="Reports: json for the analysis JSON instead of HTML.")],
        responses={
            (200, kind): OpenApiTypes.BINARY
            for kind in (
                "text/csv",
                "application/json",
                "text/html",
                "application/vnd.apache.parquet",
                "application/x-stata-dta",
                "application/x-spss-sav",
            )
        },
        tags=["exports"],
    )
    def get(self, request: Request, slug: str, job_id: str) -> StreamingHttpResponse | Response:
        job = self.job(request, job_id)
        path = job_file(job)
        if job.kind == JobKind.REPORT and request.query_params.get("as") == "json":
            return Response(job.result)
        if job.kind == JobKind.EXPORT:
            kind = content_type(job.format)
        elif job.kind == JobKind.REPORT:
            kind = "text/html; charset=utf-8"
        else:
            kind = "text/csv" if job.format == "csv" else "application/json"
        response = StreamingHttpResponse(stream_file(path), content_type=kind)
        response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
        response["Content-Length"] = str(path.stat().st_size)
        response["X-Content-SHA256"] = job.sha256
        if job.kind == JobKind.REPORT:
            # In place of the site's policy, which has no hash: the style sheet the file itself carries.
            with path.open(encoding="utf-8", errors="replace") as handle:
                response["Content-Security-Policy"] = policy_for(handle.read(REPORT_HEAD))
        return response
