"""The admin for participants: a read-only register, and pages that screen, record consent, enroll,
randomize and end participation, each through its service.

Nobody edits a participant's fields here: every change is a service call, audited there. The enrollment
pages need Capability.ENROLL in the participant's trial (403 otherwise; 404 outside one's trials). Arms
are shown as the reader may see them (participants.api.allocation_for_reader), contact details only to
roles with VIEW_CONTACT, and the block structure only to roles with VIEW_DESIGN_SECRETS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from participants import services
from participants.admin_forms import (
    ConfirmForm,
    ConsentForm,
    ContactForm,
    ReasonForm,
    ScreeningForm,
    apply_domain_error,
)
from participants.api import allocation_for_reader
from participants.models import Allocation, Consent, ContactDetails, Participant, Status, StatusChange
from participants.selectors import consent_required_document, current_consent_document
from trial.access import ArmView, Capability
from trial.admin import (
    TrialScopedMixin,
    arm_view_for,
    can_anywhere,
    can_in,
    order_hidden_anywhere,
    order_hidden_for,
    require_in,
    trial_ids_with,
)
from trial.errors import DomainError
from trial.models import Trial, TrialStatus

ACTIVE = (Status.ELIGIBLE, Status.CONSENTED, Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)
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


def _posted(request: HttpRequest) -> Any:
    """The POST data, or None for a GET (an empty POST still binds the form, so it is validated)."""
    return request.POST if request.method == "POST" else None


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

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        ids = trial_ids_with(request, Capability.ENROLL) or set()
        trials = Trial.objects.filter(pk__in=ids, status=TrialStatus.RECRUITING).order_by("slug")
        links = [(trial, reverse("admin:participants_participant_screen", args=[trial.slug])) for trial in trials]
        return super().changelist_view(request, {**(extra_context or {}), "screen_links": links})

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
            "participant_actions": self._actions(request, participant, has_contact=contact is not None),
        }

    def _actions(self, request: HttpRequest, participant: Participant, *, has_contact: bool) -> list[tuple[str, str]]:
        if not can_in(request, participant.trial_id, Capability.ENROLL):
            return []
        status = participant.status
        actions: list[tuple[str, str]] = []
        if status == Status.ELIGIBLE or (status in RECONSENTING and consent_required_document(participant) is not None):
            actions.append(("Record consent", "consent"))
        if status == Status.CONSENTED:
            actions.append(("Enroll", "enroll"))
        if status == Status.ENROLLED:
            actions.append(("Randomize", "randomize"))
        if status == Status.RANDOMIZED:
            actions += [("Complete", "complete"), ("Lost to follow-up", "lost")]
        if status == Status.LOST_TO_FOLLOW_UP:
            actions.append(("Back in follow-up", "return"))
        if status in ACTIVE:
            actions.append(("Withdraw", "withdraw"))
        if has_contact and status in ACTIVE:
            actions.append(("Edit contact details", "contact"))
        return [(label, _participant_url(participant.pk, view)) for label, view in actions]

    # --- Enrollment pages -------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = "participants_participant_"
        urls = [
            path("screen/<slug:slug>/", wrap(self.screen_view), name=f"{name}screen"),
            path("<int:pk>/consent/", wrap(self.consent_view), name=f"{name}consent"),
            path("<int:pk>/enroll/", wrap(self.enroll_view), name=f"{name}enroll"),
            path("<int:pk>/randomize/", wrap(self.randomize_view), name=f"{name}randomize"),
            path("<int:pk>/withdraw/", wrap(self.withdraw_view), name=f"{name}withdraw"),
            path("<int:pk>/lost/", wrap(self.lost_view), name=f"{name}lost"),
            path("<int:pk>/return/", wrap(self.return_view), name=f"{name}return"),
            path("<int:pk>/complete/", wrap(self.complete_view), name=f"{name}complete"),
            path("<int:pk>/contact/", wrap(self.contact_view), name=f"{name}contact"),
        ]
        return urls + super().get_urls()

    def _enrolling_trial(self, request: HttpRequest, slug: str) -> Trial:
        trials = Trial.objects.filter(slug=slug)
        visible = trial_ids_with(request, Capability.VIEW_TRIAL)
        if visible is not None:
            trials = trials.filter(pk__in=visible)
        trial = trials.first()
        if trial is None:
            raise Http404("No such trial.")
        require_in(request, trial.pk, Capability.ENROLL)
        return trial

    def _enrolling_participant(self, request: HttpRequest, pk: int, *also: Capability) -> Participant:
        participant = self.get_queryset(request).filter(pk=pk).first()
        if participant is None:
            raise Http404("No such participant.")
        for capability in (Capability.ENROLL, *also):
            require_in(request, participant.trial_id, capability)
        return participant

    def _page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        form = context.get("form")
        return TemplateResponse(
            request,
            f"admin/participants/participant/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "media": self.media + (form.media if form is not None else forms.Media()),
                **context,
            },
        )

    def screen_view(self, request: HttpRequest, slug: str) -> HttpResponse:
        trial = self._enrolling_trial(request, slug)
        form = ScreeningForm(_posted(request), trial=trial)
        if request.method == "POST" and form.is_valid():
            try:
                participant = services.participant_screen(
                    trial=trial, answers=form.answers(), site_code=form.site_code(), by=request.user
                )
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                return self._page(
                    request,
                    "screen_result.html",
                    title=f"Screening result: {participant}",
                    trial=trial,
                    participant=participant,
                    eligible=participant.status == Status.ELIGIBLE,
                    reasons=[r.get("reason", "") for r in participant.ineligibility_reasons],
                    participant_url=_participant_url(participant.pk),
                    consent_url=_participant_url(participant.pk, "consent"),
                )
        return self._page(
            request,
            "action_form.html",
            title=f"Screen a participant for {trial.slug}",
            trial=trial,
            form=form,
            submit_label="Screen",
            cancel_url=reverse("admin:participants_participant_changelist"),
        )

    def _form_page(
        self,
        request: HttpRequest,
        participant: Participant,
        form: forms.Form,
        *,
        title: str,
        submit_label: str,
        perform: Callable[[forms.Form], object],
        success: str,
        **context: Any,
    ) -> HttpResponse:
        """Show the form; on a valid POST call the service, then go back to the participant's page."""
        if request.method == "POST" and form.is_valid():
            try:
                perform(form)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                participant.refresh_from_db()
                self.message_user(request, success.format(participant=participant), messages.SUCCESS)
                return HttpResponseRedirect(_participant_url(participant.pk))
        return self._page(
            request,
            "action_form.html",
            title=title,
            trial=participant.trial,
            participant=participant,
            form=form,
            submit_label=submit_label,
            cancel_url=_participant_url(participant.pk),
            **context,
        )

    def consent_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        participant = self._enrolling_participant(request, pk)
        document = current_consent_document(participant.trial)
        if document is None:
            self.message_user(request, f"Trial {participant.trial.slug} has no consent document.", messages.ERROR)
            return HttpResponseRedirect(_participant_url(participant.pk))
        form = ConsentForm(_posted(request), document=document)

        def perform(form: forms.Form) -> object:
            data = form.cleaned_data
            return services.participant_consent(
                participant=participant,
                signed_name=data["signed_name"],
                version=data["version"],
                signed_at=data["signed_at"] or None,
                by=request.user,
            )

        return self._form_page(
            request,
            participant,
            form,
            title=f"Record consent of {participant}",
            submit_label="Record consent",
            perform=perform,
            success=f"Consent to version {document.version} recorded for {{participant}}.",
            document=document,
        )

    def enroll_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        participant = self._enrolling_participant(request, pk)
        form = ContactForm(_posted(request))

        def perform(form: forms.Form) -> object:
            contact = services.ContactInput(**form.cleaned_data)
            return services.participant_enroll(participant=participant, contact=contact, by=request.user)

        return self._form_page(
            request,
            participant,
            form,
            title=f"Enroll {participant}",
            submit_label="Enroll",
            perform=perform,
            success="Enrolled: study ID {participant.study_id}.",
            note="Contact details are kept apart from the research data and never exported.",
        )

    def contact_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        participant = self._enrolling_participant(request, pk, Capability.VIEW_CONTACT)
        details = ContactDetails.objects.filter(participant=participant).first()
        if details is None:
            self.message_user(request, f"{participant} has no contact details; enroll them first.", messages.ERROR)
            return HttpResponseRedirect(_participant_url(participant.pk))
        initial = {name: getattr(details, name) for name in ("full_name", "email", "phone", "timezone")}
        form = ContactForm(_posted(request), initial=initial)

        def perform(form: forms.Form) -> object:
            contact = services.ContactInput(**form.cleaned_data)
            return services.contact_update(participant=participant, contact=contact, by=request.user)

        return self._form_page(
            request,
            participant,
            form,
            title=f"Contact details of {participant}",
            submit_label="Save contact details",
            perform=perform,
            success="Contact details of {participant} saved.",
        )

    def randomize_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        participant = self._enrolling_participant(request, pk)
        form = ConfirmForm(_posted(request))
        if request.method == "POST" and form.is_valid():
            try:
                allocation = services.participant_randomize(participant=participant, by=request.user)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                participant = self.get_queryset(request).get(pk=participant.pk)
                shown = allocation_for_reader(
                    participant,
                    arm_view_for(request, participant.trial),
                    order_hidden=order_hidden_for(request, participant.trial),
                )
                return self._page(
                    request,
                    "randomize_result.html",
                    title=f"{participant} randomized",
                    trial=participant.trial,
                    participant=participant,
                    arm_shown=arm_label(participant, arm_view_for(request, participant.trial)),
                    masked=bool(shown and shown["masked"]),
                    allocated_at=allocation.allocated_at,
                    participant_url=_participant_url(participant.pk),
                )
        return self._page(
            request,
            "action_form.html",
            title=f"Randomize {participant}",
            trial=participant.trial,
            participant=participant,
            form=form,
            submit_label="Randomize now",
            cancel_url=_participant_url(participant.pk),
            note="The arm is drawn once and can never be changed or drawn again.",
        )

    def _ending_view(
        self, request: HttpRequest, pk: int, *, service: Callable[..., Participant], title: str, success: str
    ) -> HttpResponse:
        participant = self._enrolling_participant(request, pk)
        form = ReasonForm(_posted(request))

        def perform(form: forms.Form) -> object:
            return service(participant=participant, reason=form.cleaned_data["reason"], by=request.user)

        return self._form_page(
            request,
            participant,
            form,
            title=f"{title}: {participant}",
            submit_label=title,
            perform=perform,
            success=success,
        )

    def withdraw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._ending_view(
            request, pk, service=services.participant_withdraw, title="Withdraw", success="{participant} withdrawn."
        )

    def lost_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._ending_view(
            request,
            pk,
            service=services.participant_mark_lost,
            title="Lost to follow-up",
            success="{participant} marked lost to follow-up.",
        )

    def return_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._ending_view(
            request,
            pk,
            service=services.participant_return,
            title="Back in follow-up",
            success="{participant} is back in follow-up.",
        )

    def complete_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        participant = self._enrolling_participant(request, pk)

        def perform(form: forms.Form) -> object:
            return services.participant_complete(participant=participant, by=request.user)

        return self._form_page(
            request,
            participant,
            ConfirmForm(_posted(request)),
            title=f"Complete {participant}",
            submit_label="Mark completed",
            perform=perform,
            success="{participant} completed the trial.",
            note="Marks the end of the participant's follow-up.",
        )


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
