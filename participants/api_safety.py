"""The safety clinicians' queue: alerts to acknowledge, contacts and risk assessments to record,
alerts to resolve; and each participant's chatbot engagement."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from participants.api import ParticipantScopedMixin, arm_visible
from participants.models import AlertStatus, RiskLevel, SafetyAlert
from participants.services import safety
from participants.services.chatbot import engagement_summary
from trial import access
from trial.access import Capability
from trial.api import TrialScopedMixin


class AlertOut(serializers.ModelSerializer[SafetyAlert]):
    participant = serializers.CharField(source="participant.study_id")
    participant_id = serializers.IntegerField()
    minutes_to_acknowledge = serializers.SerializerMethodField()
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)

    class Meta:
        model = SafetyAlert
        fields = [
            "id", "participant", "participant_id", "source", "flag", "urgent", "details", "status", "raised_at",
            "escalate_at", "escalated_at", "acknowledged_at", "acknowledged_by", "minutes_to_acknowledge",
            "contacted_at", "contact_notes", "risk_level", "risk_notes", "resolved_at", "resolved_by", "resolution",
        ]  # fmt: skip

    def get_minutes_to_acknowledge(self, alert: SafetyAlert) -> float | None:
        elapsed = alert.time_to_acknowledge
        return round(elapsed.total_seconds() / 60, 1) if elapsed else None


class AlertFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AlertStatus.choices)

    class Meta:
        model = SafetyAlert
        fields = ["status", "urgent", "flag", "source"]


class SafetyAlertListView(TrialScopedMixin, generics.ListAPIView[SafetyAlert]):
    """Urgent first, then oldest first."""

    capability = Capability.HANDLE_SAFETY
    serializer_class = AlertOut
    filterset_class = AlertFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return SafetyAlert.objects.none()
        return SafetyAlert.objects.filter(participant__trial=self.trial).select_related(
            "participant", "acknowledged_by", "resolved_by"
        )


class AlertActionView(TrialScopedMixin, APIView):
    capability = Capability.HANDLE_SAFETY

    def alert(self) -> SafetyAlert:
        return get_object_or_404(SafetyAlert, pk=self.kwargs["alert_id"], participant__trial=self.trial)

    def done(self, alert: SafetyAlert) -> Response:
        fresh = SafetyAlert.objects.select_related("participant", "acknowledged_by", "resolved_by").get(pk=alert.pk)
        return Response(AlertOut(fresh).data)


class AcknowledgeView(AlertActionView):
    @extend_schema(request=None, responses=AlertOut, tags=["safety"])
    def post(self, request: Request, slug: str, alert_id: int) -> Response:
        return self.done(safety.safety_alert_acknowledge(alert=self.alert(), by=request.user))


class AlertContactIn(serializers.Serializer[Any]):
    notes = serializers.CharField()
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices)
    risk_notes = serializers.CharField(required=False, allow_blank=True, default="")
    contacted_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AlertContactView(AlertActionView):
    @extend_schema(request=AlertContactIn, responses=AlertOut, tags=["safety"])
    def post(self, request: Request, slug: str, alert_id: int) -> Response:
        alert = self.alert()
        data = AlertContactIn(data=request.data)
        data.is_valid(raise_exception=True)
        return self.done(safety.safety_alert_record_contact(alert=alert, by=request.user, **data.validated_data))


class ResolveIn(serializers.Serializer[Any]):
    resolution = serializers.CharField()


class ResolveView(AlertActionView):
    @extend_schema(request=ResolveIn, responses=AlertOut, tags=["safety"])
    def post(self, request: Request, slug: str, alert_id: int) -> Response:
        alert = self.alert()
        data = ResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        return self.done(safety.safety_alert_resolve(alert=alert, by=request.user, **data.validated_data))


class EngagementOut(serializers.Serializer[Any]):
    sessions = serializers.IntegerField()
    hours = serializers.FloatField()
    participant_messages = serializers.IntegerField()
    bot_messages = serializers.IntegerField()
    active_days = serializers.IntegerField()
    first_session_at = serializers.DateTimeField(allow_null=True)
    last_session_at = serializers.DateTimeField(allow_null=True)


class EngagementView(ParticipantScopedMixin, APIView):
    """Only the intervention arm uses the chatbot, so a participant's engagement tells their arm: it is
    shown to those who may see that participant's arm, and to nobody blinded or masked to it."""

    @extend_schema(responses=EngagementOut)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        if not arm_visible(participant, access.arm_view(self.roles, self.trial)):
            raise PermissionDenied(
                f"Your roles in {self.trial.slug} do not allow this: chatbot engagement tells which arm a "
                "participant is in, and they see the arms blinded or masked."
            )
        return Response(EngagementOut(asdict(engagement_summary(participant))).data)
