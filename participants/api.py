"""API for participants: list and detail, screening, consent, enrollment, randomization, follow-up
status, emergency unblinding, contact details. Views validate, call one service, serialize."""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import api
from participants import selectors, services
from participants.models import Allocation, ContactChannels, ContactDetails, Participant, Status
from trial import access
from trial.access import ArmView, Capability
from trial.api import TrialScopedMixin
from trial.models import ConsentDocument, Trial
from trial.throttling import ScreeningThrottle

# --- Output -------------------------------------------------------------------------------------------


def arm_visible(participant: Participant, view: ArmView) -> bool:
    """Whether this reader may know the participant's arm: they see arms as they are, or the trial is
    masked to them and this participant was emergency-unblinded."""
    return view == ArmView.REAL or (view == ArmView.MASKED and bool(participant.unblindings.all()))


def reader_context(roles: frozenset[str], trial: Trial) -> dict[str, Any]:
    """How a reader sees allocations: the arm view, and whether allocation times are hidden from them."""
    return {"arm_view": access.arm_view(roles, trial), "order_hidden": access.allocation_order_hidden(roles, trial)}


def allocation_for_reader(
    participant: Participant, view: ArmView, *, order_hidden: bool = False
) -> dict[str, Any] | None:
    """The allocation as this reader may see it: the arm, its blinded letter, or masked; without its time
    when the trial conceals the order of allocations from this reader."""
    try:
        allocation: Allocation = participant.allocation
    except Allocation.DoesNotExist:
        return None
    arm = allocation.arm
    if arm_visible(participant, view):
        view = ArmView.REAL
    if view == ArmView.REAL:
        shown: dict[str, Any] = {"arm": arm.code, "arm_name": arm.name}
    elif view == ArmView.BLINDED:
        shown = {"arm": arm.blinded_label, "arm_name": f"Arm {arm.blinded_label}"}
    else:
        shown = {"arm": None, "arm_name": None}
    allocated_at = None if order_hidden else allocation.allocated_at
    return {**shown, "masked": view == ArmView.MASKED, "allocated_at": allocated_at}


class AllocationOut(serializers.Serializer[Any]):
    arm = serializers.CharField(allow_null=True)
    arm_name = serializers.CharField(allow_null=True)
    masked = serializers.BooleanField()
    allocated_at = serializers.DateTimeField(allow_null=True)


class ParticipantOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    study_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    site = serializers.CharField(source="site.code", read_only=True, allow_null=True)
    strata = serializers.DictField(child=serializers.CharField())
    screened_at = serializers.DateTimeField()
    enrolled_at = serializers.DateTimeField(allow_null=True)
    randomized_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    ended_reason = serializers.CharField()
    ineligibility_reasons = serializers.ListField(child=serializers.DictField())
    language = serializers.CharField()
    allocation = serializers.SerializerMethodField()

    @extend_schema(exclude=True)
    def get_allocation(self, participant: Participant) -> dict[str, Any] | None:
        return allocation_for_reader(
            participant, self.context["arm_view"], order_hidden=self.context.get("order_hidden", False)
        )

    def to_representation(self, instance: Participant) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if self.context.get("order_hidden"):
            data["randomized_at"] = None  # the allocation's time, by another name
        return data


class ParticipantDetailOut(ParticipantOut):
    screening_answers = serializers.DictField()
    consent_current = serializers.SerializerMethodField()
    consent_required_version = serializers.SerializerMethodField()

    def _required_document(self, participant: Participant) -> ConsentDocument | None:
        # Both consent fields need the same lookup: do it once per participant and response.
        memo = participant.__dict__
        if "_consent_required" not in memo:
            memo["_consent_required"] = selectors.consent_required_document(participant)
        return cast(ConsentDocument | None, memo["_consent_required"])

    def get_consent_current(self, participant: Participant) -> bool:
        return self._required_document(participant) is None

    def get_consent_required_version(self, participant: Participant) -> str | None:
        document = self._required_document(participant)
        return document.version if document else None


class ContactOut(serializers.ModelSerializer[ContactDetails]):
    class Meta:
        model = ContactDetails
        fields = ["full_name", "email", "phone", "timezone", "channels", "sms_stopped_at", "updated_at"]
        read_only_fields = ["sms_stopped_at"]


class ContactIn(serializers.Serializer[Any]):
    full_name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    channels = serializers.ChoiceField(
        choices=[*ContactChannels.values, ""],
        required=False,
        default="",
        help_text="How invitations and reminders go: email, sms or both. Left out: as they were, if the "
        "addresses still allow it; otherwise e-mail if there is an address, else SMS.",
    )


# --- Views --------------------------------------------------------------------------------------------


class ParticipantScopedMixin(TrialScopedMixin):
    def participant(self) -> Participant:
        return get_object_or_404(selectors.participant_list(trial=self.trial), pk=self.kwargs["pk"])

    def detail(self, participant: Participant, status_code: int = 200) -> Response:
        participant = get_object_or_404(selectors.participant_list(trial=self.trial), pk=participant.pk)
        context = reader_context(self.roles, self.trial)
        return Response(ParticipantDetailOut(participant, context=context).data, status=status_code)


class ParticipantFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    site = django_filters.CharFilter(field_name="site__code")
    study_id = django_filters.CharFilter(field_name="study_id")
    enrolled = django_filters.BooleanFilter(field_name="study_id", lookup_expr="isnull", exclude=True)
    screened_after = api.IsoDateTimeFilter(field_name="screened_at", lookup_expr="gte")
    screened_before = api.IsoDateTimeFilter(field_name="screened_at", lookup_expr="lt")

    class Meta:
        model = Participant
        fields = ["status", "site", "study_id", "enrolled"]


class ParticipantListView(TrialScopedMixin, generics.ListAPIView[Participant]):
    serializer_class = ParticipantOut
    filterset_class = ParticipantFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Participant.objects.none()
        participants = selectors.participant_list(trial=self.trial)
        if access.allocation_order_hidden(self.roles, self.trial):
            # By study ID (the order of enrollment), never by when each was allocated.
            participants = participants.order_by(F("study_id").asc(nulls_last=True), "id")
        return participants

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if hasattr(self, "trial"):
            context.update(reader_context(self.roles, self.trial))
        return context


class ParticipantDetailView(ParticipantScopedMixin, APIView):
    @extend_schema(responses=ParticipantDetailOut)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return self.detail(self.participant())


class ScreeningView(TrialScopedMixin, APIView):
    capability = Capability.ENROLL
    throttle_classes = [*APIView.throttle_classes, ScreeningThrottle]

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ScreeningIn"

        site = serializers.CharField(required=False, allow_blank=True, default="")
        answers = serializers.DictField()
        # One of the trial's languages (its first when left out): the participant's pages and messages.
        language = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses={201: ParticipantDetailOut})
    def post(self, request: Request, slug: str) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_screen(
            trial=self.trial,
            answers=data.validated_data["answers"],
            site_code=data.validated_data["site"] or None,
            language=data.validated_data["language"],
            by=request.user,
        )
        context = reader_context(self.roles, self.trial)
        return Response(ParticipantDetailOut(participant, context=context).data, status=201)


class ConsentView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ConsentIn"

        signed_name = serializers.CharField(max_length=200)
        version = serializers.CharField(max_length=40, required=False)
        signed_at = serializers.DateTimeField(required=False)

    @extend_schema(request=Input, responses={201: ParticipantDetailOut})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        services.participant_consent(participant=participant, by=request.user, **data.validated_data)
        return self.detail(participant, 201)


class EnrollView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    class Input(serializers.Serializer[Any]):
        class Meta:
            ref_name = "EnrollIn"

        contact = ContactIn()

    @extend_schema(request=Input, responses={200: ParticipantDetailOut})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        contact = services.ContactInput(**data.validated_data["contact"])
        services.participant_enroll(participant=participant, contact=contact, by=request.user)
        return self.detail(participant)


class RandomizeView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=None, responses={201: ParticipantDetailOut})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        services.participant_randomize(participant=participant, by=request.user)
        return self.detail(participant, 201)


class ReasonIn(serializers.Serializer[Any]):
    reason = serializers.CharField()


class WithdrawView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=ReasonIn, responses=ParticipantDetailOut)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.participant_withdraw(participant=participant, reason=data.validated_data["reason"], by=request.user)
        return self.detail(participant)


class LostToFollowUpView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=ReasonIn, responses=ParticipantDetailOut)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.participant_mark_lost(participant=participant, reason=data.validated_data["reason"], by=request.user)
        return self.detail(participant)


class ReturnView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=ReasonIn, responses=ParticipantDetailOut)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.participant_return(participant=participant, reason=data.validated_data["reason"], by=request.user)
        return self.detail(participant)


class CompleteView(ParticipantScopedMixin, APIView):
    capability = Capability.ENROLL

    @extend_schema(request=None, responses=ParticipantDetailOut)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        services.participant_complete(participant=participant, by=request.user)
        return self.detail(participant)


class UnblindView(ParticipantScopedMixin, APIView):
    capability = Capability.UNBLIND_PARTICIPANT

    class Output(serializers.Serializer[Any]):
        study_id = serializers.CharField()
        arm = serializers.CharField()
        arm_name = serializers.CharField()

    @extend_schema(request=ReasonIn, responses=Output)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        allocation = services.participant_unblind(
            participant=participant, reason=data.validated_data["reason"], by=request.user
        )
        return Response({"study_id": participant.study_id, "arm": allocation.arm.code, "arm_name": allocation.arm.name})


class ContactView(ParticipantScopedMixin, APIView):
    capability = Capability.VIEW_CONTACT

    def required_capability(self, request: Request) -> Capability:
        return Capability.ENROLL if request.method == "PUT" else Capability.VIEW_CONTACT

    def _details(self) -> ContactDetails:
        return get_object_or_404(ContactDetails, participant=self.participant())

    @extend_schema(responses=ContactOut)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(ContactOut(self._details()).data)

    @extend_schema(request=ContactIn, responses=ContactOut)
    def put(self, request: Request, slug: str, pk: int) -> Response:
        participant = self.participant()
        data = ContactIn(data=request.data)
        data.is_valid(raise_exception=True)
        details = services.contact_update(
            participant=participant, contact=services.ContactInput(**data.validated_data), by=request.user
        )
        return Response(ContactOut(details).data)
