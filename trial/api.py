"""API for trials: list, detail, status, trial unblinding (two people), consent documents, audit trail.

Every trial-scoped view resolves the trial from the URL among the caller's memberships (404 for anyone
else) and checks the view's capability (403 when the caller's roles lack it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trial import access, clock, services
from trial.access import Capability
from trial.models import AuditEvent, FactorLevel, ScreeningField, Trial, TrialUnblindingRequest, UnblindingStatus


class TrialScopedMixin:
    """Resolve ``self.trial`` and ``self.roles`` from the ``slug`` URL argument, then check capability."""

    capability: ClassVar[Capability] = Capability.VIEW_TRIAL
    trial: Trial
    roles: frozenset[str]
    kwargs: dict[str, Any]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        membership = access.membership_in(request.user, str(self.kwargs.get("slug")))
        if membership is None:
            raise Http404("No such trial.")
        trial, self.roles = membership
        self.trial = trial
        needed = self.required_capability(request)
        if not access.can(self.roles, needed):
            raise PermissionDenied(f"Your roles in {trial.slug} do not allow this ({needed.value}).")

    def required_capability(self, request: Request) -> Capability:
        return self.capability


class ArmOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    ratio = serializers.IntegerField()
    is_control = serializers.BooleanField()


class LevelOut(serializers.ModelSerializer[FactorLevel]):
    class Meta:
        model = FactorLevel
        fields = ["code", "label"]


class FactorOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    levels = LevelOut(many=True, source="levels.all")


class SiteOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    active = serializers.BooleanField()


class VisitOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    week = serializers.IntegerField()
    anchor = serializers.CharField()
    offset_days = serializers.IntegerField()
    window_before_days = serializers.IntegerField()
    window_after_days = serializers.IntegerField()


class ScreeningFieldOut(serializers.ModelSerializer[ScreeningField]):
    choices = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = ScreeningField
        fields = ["code", "label", "kind", "choices", "required"]


class TrialOut(serializers.Serializer[Any]):
    slug = serializers.SlugField()
    title = serializers.CharField()
    registry_id = serializers.CharField()
    status = serializers.CharField()
    randomization_method = serializers.CharField()
    open_label = serializers.BooleanField()
    conceal_allocation_order = serializers.BooleanField()
    unblinded_at = serializers.DateTimeField(allow_null=True)


class TrialDetailOut(TrialOut):
    arms = serializers.SerializerMethodField()
    sites = SiteOut(many=True, source="sites.all")
    factors = FactorOut(many=True, source="factors.all")
    visits = VisitOut(many=True, source="visits.all")
    screening_fields = ScreeningFieldOut(many=True, source="screening_fields.all")
    my_roles = serializers.SerializerMethodField()
    # Only for roles allowed to see the design's secrets: enrolling staff never learn block sizes.
    block_sizes = serializers.SerializerMethodField()

    def get_arms(self, trial: Trial) -> list[dict[str, Any]]:
        view = access.arm_view(self.context["roles"], trial)
        if view == access.ArmView.BLINDED:
            return [
                {"code": a.blinded_label, "name": f"Arm {a.blinded_label}", "ratio": a.ratio, "is_control": None}
                for a in sorted(trial.arms.all(), key=lambda a: a.blinded_label)
            ]
        return list(ArmOut(trial.arms.all(), many=True).data)

    def get_my_roles(self, trial: Trial) -> list[str]:
        return sorted(self.context["roles"])

    def get_block_sizes(self, trial: Trial) -> list[int] | None:
        if access.can(self.context["roles"], Capability.VIEW_DESIGN_SECRETS):
            return list(trial.block_sizes)
        return None


class TrialListView(generics.ListAPIView[Trial]):
    serializer_class = TrialOut

    def get_queryset(self) -> Any:
        return access.trials_for(self.request.user).order_by("slug")


class TrialDetailView(TrialScopedMixin, APIView):
    @extend_schema(responses=TrialDetailOut)
    def get(self, request: Request, slug: str) -> Response:
        return Response(TrialDetailOut(self.trial, context={"roles": self.roles}).data)


class TrialStatusView(TrialScopedMixin, APIView):
    capability = Capability.MANAGE_TRIAL

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "TrialStatusIn"

        status = serializers.ChoiceField(choices=["recruiting", "closed", "locked"])
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=TrialOut)
    def post(self, request: Request, slug: str) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        trial = services.trial_set_status(
            trial=self.trial,
            status=data.validated_data["status"],
            by=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(TrialOut(trial).data)


class UnblindingRequestOut(serializers.ModelSerializer[TrialUnblindingRequest]):
    requested_by = serializers.CharField(source="requested_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    status = serializers.SerializerMethodField()

    class Meta:
        model = TrialUnblindingRequest
        fields = [
            "id",
            "status",
            "reason",
            "emergency_reason",
            "trial_status",
            "requested_by",
            "requested_at",
            "expires_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]

    def get_status(self, request: TrialUnblindingRequest) -> str:
        # A pending request past its time is expired, even before the next write marks it so.
        if request.status == UnblindingStatus.PENDING and request.expires_at <= clock.now():
            return str(UnblindingStatus.EXPIRED)
        return request.status


class TrialUnblindView(TrialScopedMixin, APIView):
    """Unblinding the whole trial takes two people: ``POST`` asks, a second person confirms or rejects."""

    capability = Capability.MANAGE_TRIAL

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "TrialUnblindIn"

        reason = serializers.CharField()
        emergency_reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=UnblindingRequestOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        requests = self.trial.unblinding_requests.select_related("requested_by", "decided_by")
        return Response(UnblindingRequestOut(requests, many=True).data)

    @extend_schema(request=Input, responses={202: UnblindingRequestOut})
    def post(self, request: Request, slug: str) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.trial_unblinding_request(trial=self.trial, by=request.user, **data.validated_data)
        return Response(UnblindingRequestOut(made).data, status=202)


class TrialUnblindDecisionView(TrialScopedMixin, APIView):
    """``…/unblind/{id}/confirm/`` (the trial is unblinded) or ``…/unblind/{id}/reject/``."""

    capability = Capability.MANAGE_TRIAL
    decision: ClassVar[str] = "confirm"

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "TrialUnblindDecisionIn"

        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=UnblindingRequestOut)
    def post(self, request: Request, slug: str, request_id: int) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        pending = self.trial.unblinding_requests.filter(pk=request_id).first()
        if pending is None:
            raise Http404("No such unblinding request.")
        decide = services.trial_unblinding_confirm if self.decision == "confirm" else services.trial_unblinding_reject
        decided = decide(request=pending, by=request.user, note=data.validated_data["note"])
        return Response(UnblindingRequestOut(decided).data)


class ConsentDocumentOut(serializers.Serializer[Any]):
    version = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    requires_reconsent = serializers.BooleanField()
    published_at = serializers.DateTimeField()


class ConsentDocumentsView(TrialScopedMixin, APIView):
    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ConsentDocumentIn"

        version = serializers.CharField(max_length=40)
        title = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        text = serializers.CharField()
        requires_reconsent = serializers.BooleanField(default=False)

    def required_capability(self, request: Request) -> Capability:
        return Capability.MANAGE_TRIAL if request.method == "POST" else Capability.VIEW_TRIAL

    @extend_schema(responses=ConsentDocumentOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        return Response(ConsentDocumentOut(self.trial.consent_documents.all(), many=True).data)

    @extend_schema(request=Input, responses={201: ConsentDocumentOut})
    def post(self, request: Request, slug: str) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.consent_document_publish(trial=self.trial, by=request.user, **data.validated_data)
        return Response(ConsentDocumentOut(document).data, status=201)


class AuditEventOut(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_label", "action", "object_type", "object_id", "object_label", "changes", "reason"]


class AuditTrailView(TrialScopedMixin, generics.ListAPIView[AuditEvent]):
    capability = Capability.VIEW_AUDIT
    serializer_class = AuditEventOut
    filterset_fields = ["action", "object_type", "object_id"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return AuditEvent.objects.filter(trial=self.trial).order_by("-at", "-id")
