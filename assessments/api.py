"""API for questionnaires: a participant's visits and responses; submitting answers (staff entering a
paper form, or a script importing); corrections. Every write goes through assessments.services.submission,
the same code as the participant's pages, so scoring and safety alerts never differ by path."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from assessments.blinding import ArmSpecific, arm_specific
from assessments.models import AssessmentStatus, Response, ResponseSource, ScheduledAssessment
from assessments.services import submission
from participants import selectors
from participants.api import ParticipantScopedMixin, arm_visible
from trial import access
from trial.access import ArmView, Capability
from trial.api import TrialScopedMixin
from trial.errors import DomainError


class ResponseOut(serializers.ModelSerializer[Response]):
    # The random public id, never the sequential key: one arm's extra questionnaire would leave gaps.
    id = serializers.UUIDField(source="public_id", read_only=True)
    instrument = serializers.CharField(source="instrument_code")

    class Meta:
        model = Response
        fields = [
            "id", "instrument", "version", "answers", "total", "subscales", "band", "flags", "prorated", "source",
            "submitted_at", "correction_reason",
        ]  # fmt: skip


class AssessmentOut(serializers.ModelSerializer[ScheduledAssessment]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    visit = serializers.CharField(source="visit.code")
    week = serializers.IntegerField(source="visit.week")
    instruments = serializers.SerializerMethodField()
    responses = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledAssessment
        fields = [
            "id", "visit", "week", "status", "instruments", "due_at", "opens_at", "closes_at", "opened_at",
            "completed_at", "ended_reason", "reminders_sent", "responses",
        ]  # fmt: skip
        extra_kwargs = {"reminders_sent": {"allow_null": True}}  # null for readers who must not know the arm

    def _shown(self, code: str) -> bool:
        return code not in self.context["hidden_codes"]

    def get_instruments(self, assessment: ScheduledAssessment) -> list[str]:
        return [code for code in assessment.instruments if self._shown(code)]

    def to_representation(self, assessment: ScheduledAssessment) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(assessment)
        specific: ArmSpecific | None = self.context.get("arm_specific")
        if specific is None or assessment.visit_id not in specific.visits:
            return data
        # Shown as every arm's questionnaires make it (assessments.blinding): status, completion, reminders.
        first: dict[str, Any] = {}
        for response in assessment.responses.all():
            if self._shown(response.instrument_code):
                first.setdefault(response.instrument_code, response.submitted_at)
        status = specific.shared_status(assessment.visit_id, assessment.status, first)
        data["status"] = status
        if status == AssessmentStatus.COMPLETED:
            data["completed_at"] = serializers.DateTimeField().to_representation(max(first.values()))
            data["ended_reason"] = ""
        data["reminders_sent"] = None  # the extra questionnaire's reminders would count in one arm only
        return data

    def get_responses(self, assessment: ScheduledAssessment) -> list[dict[str, Any]]:
        latest: dict[str, Response] = {}
        for response in assessment.responses.all():
            if self._shown(response.instrument_code):
                latest[response.instrument_code] = response  # ordered by version: the last is current
        return list(ResponseOut(list(latest.values()), many=True).data)


class AssessmentListView(ParticipantScopedMixin, APIView):
    @extend_schema(responses=AssessmentOut(many=True), tags=["assessments"])
    def get(self, request: Request, slug: str, pk: int) -> ApiResponse:
        participant = self.participant()
        rows = (
            ScheduledAssessment.objects.filter(participant=participant)
            .select_related("visit")
            .prefetch_related("responses")
            .order_by("due_at")
        )
        visible = arm_visible(participant, access.arm_view(self.roles, self.trial))
        specific = None if visible else arm_specific(self.trial)
        hidden = set() if specific is None else set(specific.codes)
        # A visit with one arm's questionnaires only is scheduled for that arm only: its presence tells the arm.
        shown = [row for row in rows if not hidden or any(code not in hidden for code in row.instruments)]
        context = {"hidden_codes": hidden, "arm_specific": specific}
        return ApiResponse(AssessmentOut(shown, many=True, context=context).data)


def public_id(value: str) -> uuid.UUID | None:
    """A visit's or response's id from the URL; anything that is not one finds nothing, as an unknown id."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class SubmitIn(serializers.Serializer[Any]):
    instrument = serializers.CharField(max_length=20)
    answers = serializers.DictField(help_text='Item key -> numeric value, e.g. {"phq9_1": 2}; omit unanswered items.')
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named like Field.source
        choices=[ResponseSource.API, ResponseSource.IMPORT, ResponseSource.STAFF], default=ResponseSource.API
    )


class ArmSpecificMixin(TrialScopedMixin):
    def _may_see(self, code: str, participant_id: int) -> bool:
        """Whether this reader may see the participant's answers to ``code``: always, unless the
        questionnaire is one arm's only and the reader does not see this participant's arm."""
        view = access.arm_view(self.roles, self.trial)
        if view == ArmView.REAL or code not in arm_specific(self.trial).codes:
            return True
        participant = get_object_or_404(selectors.participant_list(trial=self.trial), pk=participant_id)
        return arm_visible(participant, view)


class SubmitView(ArmSpecificMixin, ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=SubmitIn, responses={201: ResponseOut}, tags=["assessments"])
    def post(self, request: Request, slug: str, pk: int, assessment_id: str) -> ApiResponse:
        # One scoped look-up (the participant in this trial, the visit of that participant); the service
        # then locks the visit and reads it afresh.
        assessment = get_object_or_404(
            ScheduledAssessment.objects.only("pk"),
            public_id=public_id(assessment_id),
            participant_id=pk,
            participant__trial=self.trial,
        )
        data = SubmitIn(data=request.data)
        if not data.is_valid():
            # Refused for its body, the request may still carry answers: a risk signal in them is raised.
            body = request.data if isinstance(request.data, Mapping) else {}
            code, answers = body.get("instrument"), body.get("answers")
            if isinstance(code, str) and isinstance(answers, Mapping):
                why = f"Refused: {', '.join(data.errors)} not valid"
                submission.unrecorded_signal_raise(
                    assessment=assessment, instrument_code=code, answers=answers, why=why
                )
            raise serializers.ValidationError(data.errors)
        code = data.validated_data["instrument"]
        if not self._may_see(code, pk):  # as if the visit had no such questionnaire, whichever the arm
            visit = ScheduledAssessment.objects.select_related("visit").get(pk=assessment.pk).visit
            raise DomainError(f"{visit.name} has no {code!r} questionnaire.", field="instrument")
        response = submission.response_submit(
            assessment=assessment,
            instrument_code=data.validated_data["instrument"],
            answers=data.validated_data["answers"],
            source=data.validated_data["source"],
            by=request.user,
        )
        return ApiResponse(ResponseOut(response).data, status=201)


class CorrectIn(serializers.Serializer[Any]):
    answers = serializers.DictField()
    # Required, but checked by the service, which still raises a risk signal in answers it refuses.
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Why the answers change (required)."
    )


class CorrectView(ArmSpecificMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=CorrectIn, responses={201: ResponseOut}, tags=["assessments"])
    def post(self, request: Request, slug: str, response_id: str) -> ApiResponse:
        response = get_object_or_404(
            Response.objects.select_related("assessment"),
            public_id=public_id(response_id),
            assessment__participant__trial=self.trial,
        )
        if not self._may_see(response.instrument_code, response.assessment.participant_id):
            raise Http404("No Response matches the given query.")  # as for an id that does not exist
        data = CorrectIn(data=request.data)
        data.is_valid(raise_exception=True)
        corrected = submission.response_correct(response=response, by=request.user, **data.validated_data)
        return ApiResponse(ResponseOut(corrected).data, status=201)
