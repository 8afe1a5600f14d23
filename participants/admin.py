"""The admin for participants: a read-only register for system administration.

Nobody changes a participant here. Screening, consent, enrollment, randomization and the end of
participation are done in the study workspace (/workspace/<trial>/...), each through its service; the
register's pages link to the participant's workspace page. Arms are shown as the reader may see them
(participants.api.allocation_for_reader), contact details only to roles with VIEW_CONTACT, and the block
structure only to roles with VIEW_DESIGN_SECRETS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from participants.api import allocation_for_reader
from participants.models import Allocation, Consent, ContactDetails, Participant, Status, StatusChange
from participants.selectors import consent_required_document
from trial.access import ArmView, Capability
from trial.admin import (
    TrialScopedMixin,
    arm_view_for,
    can_anywhere,
    can_in,
    order_hidden_anywhere,
    order_hidden_for,
)

RECONSENTING = (Status.CONSENTED, Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)


def arm_label(participant: Participant, view: ArmView) -> str:
    """The participant's arm as the reader may see it: the arm's name, its letter, or "Masked"."""
    shown = allocation_for_reader(participant, view)
    if shown is None:
        return "-"
    if shown["masked"]:
        return "Masked"
    return str(shown["arm_name"])


def _answer(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _participant_url(participant_id: int, view: str = "change") -> str:
    return reverse(f"admin:participants_participant_{view}", args=[participant_id])


class StatusChangeInline(admin.TabularInline[StatusChange, Participant]):
    model = StatusChange
    verbose_name_plural = "status history"
    fields = ["at", "from_status", "to_status", "by", "reason"]
    readonly_fields = ["at", "from_status", "to_status", "by", "reason"]
    extra = 0

    def get_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        if obj is not None and order_hidden_for(request, obj.trial):
            return [name for name in self.fields if name != "at"]  # the randomization's time among them
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        return self.get_fields(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Participant | None = None) -> bool:
        if obj is None:
            return can_anywhere(request, Capability.VIEW_TRIAL)
        return can_in(request, obj.trial_id, Capability.VIEW_TRIAL)

    def has_add_permission(self, request: HttpRequest, obj: Participant | None) -> bool:  # type: ignore[override]
        return False

    def has_change_permission(self, request: HttpRequest, obj: Participant | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Participant | None = None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(TrialScopedMixin[Participant]):
    list_filter = [("trial", admin.RelatedOnlyFieldListFilter), "status", ("site", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["study_id"]
    fields = readonly_fields = (
        "study_id",
        "trial",
        "site",
        "status",
        "strata_shown",
        "answers_shown",
        "reasons_shown",
        "screened_at",
        "screened_by",
        "enrolled_at",
        "randomized_at",
        "ended_at",
        "ended_reason",
    )
    inlines = [StatusChangeInline]

    def get_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        # Where the trial conceals the order of allocations from the reader, the randomization's time is
        # not shown (nor the status history's times: StatusChangeInline).
        fields = super().get_fields(request, obj)
        if obj is not None and order_hidden_for(request, obj.trial):
            return [name for name in fields if name != "randomized_at"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        return self.get_fields(request, obj)

    # --- Register ---------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        first_consent = Consent.objects.filter(participant=OuterRef("pk")).order_by("signed_at").values("signed_at")[:1]
        return (
            super()
            .get_queryset(request)
            .select_related("trial", "site", "allocation__arm")
            .prefetch_related("unblindings")
            .annotate(consented_at=Subquery(first_consent))
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        @admin.display(description="Arm")
        def arm(participant: Participant) -> str:
            return arm_label(participant, arm_view_for(request, participant.trial))

        return ["label", "trial_slug", "status", "site", "strata_shown", "consented", "screened_at", arm]

    @admin.display(description="Study ID", ordering="study_id")
    def label(self, participant: Participant) -> str:
        return str(participant)

    @admin.display(description="Trial", ordering="trial__slug")
    def trial_slug(self, participant: Participant) -> str:
        return participant.trial.slug

    @admin.display(description="Strata")
    def strata_shown(self, participant: Participant) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(participant.strata.items())) or "-"

    @admin.display(description="Screening answers")
    def answers_shown(self, participant: Participant) -> str:
        return "; ".join(f"{k} = {_answer(v)}" for k, v in participant.screening_answers.items()) or "-"

    @admin.display(description="Ineligible because")
    def reasons_shown(self, participant: Participant) -> str:
        return "; ".join(str(r.get("reason", r)) for r in participant.ineligibility_reasons) or "-"

    @admin.display(description="Consented", ordering="consented_at")
    def consented(self, participant: Participant) -> Any:
        return getattr(participant, "consented_at", None) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # participants come from screening, never from a raw form

    def has_change_permission(self, request: HttpRequest, obj: Participant | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Participant | None = None) -> bool:
        return False

    # --- One participant --------------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        participant = self._require_object(request, object_id)
        context = {**(extra_context or {}), **self._detail_context(request, participant)}
        return super().change_view(request, object_id, form_url, context)

    def _detail_context(self, request: HttpRequest, participant: Participant) -> dict[str, Any]:
        contact_visible = can_in(request, participant.trial_id, Capability.VIEW_CONTACT)
        contact = ContactDetails.objects.filter(participant=participant).first() if contact_visible else None
        shown = allocation_for_reader(
            participant,
            arm_view_for(request, participant.trial),
            order_hidden=order_hidden_for(request, participant.trial),
        )
        return {
            "allocation_shown": shown,
            "arm_shown": arm_label(participant, arm_view_for(request, participant.trial)),
            "consents": list(Consent.objects.filter(participant=participant).select_related("document", "recorded_by")),
            "consent_due": consent_required_document(participant) if participant.status in RECONSENTING else None,
            "contact_visible": contact_visible,
            "contact": contact,
            # Screening, consent, enrollment, randomization and the end of participation are done in the
            # study workspace; the register links there.
            "workspace_url": workspace_participant_url(participant),
        }


def workspace_participant_url(participant: Participant) -> str:
    """The participant's page in the study workspace, where the actions on a participant are."""
    return f"/workspace/{participant.trial.slug}/participants/{participant.pk}/"


@admin.register(Allocation)
class AllocationAdmin(TrialScopedMixin[Allocation]):
    """Read-only: allocations are written once by the randomization service. The block structure and the
    position in the sequence are shown only to roles that may see the design's secrets."""

    list_display_links = None
    list_filter = [("trial", admin.RelatedOnlyFieldListFilter), "method"]
    search_fields = ["participant__study_id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Allocation]:
        return (
            super()
            .get_queryset(request)
            .select_related("participant", "trial", "arm", "allocated_by")
            .prefetch_related("participant__unblindings")
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        @admin.display(description="Arm")
        def arm(allocation: Allocation) -> str:
            return arm_label(allocation.participant, arm_view_for(request, allocation.trial))

        def secret(name: str, description: str) -> Callable[[Allocation], str]:
            @admin.display(description=description)
            def column(allocation: Allocation) -> str:
                if not can_in(request, allocation.trial_id, Capability.VIEW_DESIGN_SECRETS):
                    return "(hidden)"
                value = getattr(allocation, name)
                return "-" if value is None else str(value)

            column.__name__ = name
            return column

        @admin.display(description="Allocated at", ordering=None if order_hidden_anywhere(request) else "allocated_at")
        def allocated_at(allocation: Allocation) -> Any:
            return "(hidden)" if order_hidden_for(request, allocation.trial) else allocation.allocated_at

        columns: list[Any] = ["participant_link", "trial_slug", arm, "method", "stratum", allocated_at, "allocated_by"]
        if can_anywhere(request, Capability.VIEW_DESIGN_SECRETS):
            columns += [
                secret("sequence_number", "Position"),
                secret("block_index", "Block"),
                secret("block_size", "Block size"),
            ]
        return columns

    def get_ordering(self, request: HttpRequest) -> Any:
        # Allocations are numbered in the order they were made: a reader from whom a trial conceals that
        # order gets the list by study ID.
        return ["participant__study_id"] if order_hidden_anywhere(request) else ["id"]

    @admin.display(description="Participant", ordering="participant__study_id")
    def participant_link(self, allocation: Allocation) -> str:
        return format_html('<a href="{}">{}</a>', _participant_url(allocation.participant_id), allocation.participant)

    @admin.display(description="Trial", ordering="trial__slug")
    def trial_slug(self, allocation: Allocation) -> str:
        return allocation.trial.slug

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The participant's page shows the arm as the reader may see it; there is nothing more to show.
        allocation = self._require_object(request, object_id)
        return HttpResponseRedirect(_participant_url(allocation.participant_id))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Allocation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Allocation | None = None) -> bool:
        return False


# Safety alerts and adverse events are not in the admin: they are worked in the workspace
# (/workspace/<trial>/safety/, workspace/views/safety.py), where no internal field is editable.
