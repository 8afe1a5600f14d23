"""Export endpoints. The file streams: memory stays flat however large the trial."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from analysis.exports import export_permission, long_csv
from trial.access import Capability
from trial.api import TrialScopedMixin


class LongExportView(TrialScopedMixin, APIView):
    capability = Capability.EXPORT

    @extend_schema(
        parameters=[OpenApiParameter("unblinded", OpenApiTypes.BOOL, description="Real arm codes instead of A/B.")],
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
        tags=["exports"],
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        blinded = request.query_params.get("unblinded", "").lower() not in {"1", "true", "yes"}
        export_permission(trial=self.trial, roles=self.roles, blinded=blinded)
        name = f"{self.trial.slug}-long-{'blinded' if blinded else 'unblinded'}-{timezone.now():%Y%m%d}.csv"
        response = StreamingHttpResponse(
            long_csv(trial=self.trial, blinded=blinded, by=request.user), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
