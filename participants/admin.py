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
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from participants import message_templates
from participants.api import allocation_for_reader
from participants.models import (
    Allocation,
    Consent,
    ContactDetails,
    MessageTemplate,
    Participant,
    Status,
    StatusChange,
)
from participants.selectors import consent_required_document
from trial.access import ArmView, Capability
from trial.admin import (
    TrialScopedMixin,
    arm_view_for,
    can_anywhere,
    can_in,
    order_hidden_anywhere,
    order_hidden_for,
    trial_ids_with,
)
from trial.errors import DomainError
from trial.models import Trial

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


# ------------------------------------------------------------------------------------------------
# Message templates: a trial's own wording, one version at a time
# ------------------------------------------------------------------------------------------------


class MessageTemplateForm(forms.ModelForm[MessageTemplate]):
    """A new version. The check the service runs on save (``message_template_check``) runs here too, so a
    template that would fail to render is refused on the form, naming the part at fault."""

    kind = forms.ChoiceField(choices=())
    language = forms.ChoiceField(choices=())

    class Meta:
        model = MessageTemplate
        fields = ["trial", "kind", "language", "subject", "text", "html", "sms", "reason"]
        widgets = {
            "subject": forms.TextInput(attrs={"size": 100}),
            "text": forms.Textarea(attrs={"rows": 16, "cols": 100}),
            "html": forms.Textarea(attrs={"rows": 16, "cols": 100}),
            "sms": forms.Textarea(attrs={"rows": 3, "cols": 100}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind_field = self.fields["kind"]
        language_field = self.fields["language"]
        assert isinstance(kind_field, forms.ChoiceField)
        assert isinstance(language_field, forms.ChoiceField)
        kind_field.choices = [(k.kind, f"{k.kind}: {k.description}") for k in message_templates.template_kinds()]
        language_field.choices = list(settings.LANGUAGES)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        trial = data.get("trial")
        if trial is None or self.errors:
            return data
        try:
            message_templates.message_template_check(
                trial=trial,
                kind=data.get("kind", ""),
                language=data.get("language", ""),
                subject=data.get("subject", ""),
                text=data.get("text", ""),
                html=data.get("html", ""),
                sms=data.get("sms", "") or "",
            )
        except DomainError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TrialScopedMixin[MessageTemplate]):
    """Versions of a trial's message wording. A version is never edited or deleted: a change is a new
    version (which becomes the one sent), added here from the current wording and checked on save. Each
    version's page previews it, and the wording currently sent in every language of the trial, with a
    sample participant."""

    form = MessageTemplateForm
    list_display = ["trial_slug", "kind", "language", "version", "reason", "created_by", "created_at", "preview"]
    list_filter = [("trial", admin.RelatedOnlyFieldListFilter), "kind", "language"]
    list_select_related = ["trial", "created_by"]
    readonly_fields = ["preview"]

    def get_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> Any:
        fields = ["trial", "kind", "language", "subject", "text", "html", "sms", "reason"]
        return fields if obj is None else ["version", "created_by", "created_at", "preview", *fields]

    def get_readonly_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> Any:
        return ["preview"] if obj is None else self.get_fields(request, obj)

    def get_form(
        self, request: HttpRequest, obj: MessageTemplate | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:  # a saved version is shown, never edited: the model's own fields
            kwargs["form"] = forms.ModelForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "trial" in form.base_fields:
            ids = trial_ids_with(request, self.change_capability)
            trials = Trial.objects.all() if ids is None else Trial.objects.filter(pk__in=ids)
            form.base_fields["trial"].queryset = trials  # type: ignore[attr-defined]
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new version starts from the wording sent now (the trial's newest version, else the defaults)
        for the trial, kind and language in the address (``?trial=<id>&kind=<kind>&language=<code>``)."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        trial = Trial.objects.filter(pk=request.GET.get("trial") or 0).first()
        kind = request.GET.get("kind", "")
        language = request.GET.get("language", "")
        if trial is None or not can_in(request, trial.pk, self.change_capability):
            return initial
        known = {k.kind for k in message_templates.template_kinds()}
        if kind in known:
            sources = message_templates.current_sources(trial=trial, kind=kind, language=language)
            initial.update(subject=sources.subject.strip(), text=sources.text, html=sources.html, sms=sources.sms)
        return initial

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: Any, change: bool) -> None:
        if change:
            raise PermissionDenied("A version is never changed: add a new one.")
        data = form.cleaned_data
        row = message_templates.message_template_save(
            trial=data["trial"],
            kind=data["kind"],
            language=data["language"],
            subject=data["subject"],
            text=data["text"],
            html=data["html"],
            sms=data.get("sms") or "",
            reason=data.get("reason") or "",
            by=request.user,
        )
        obj.pk, obj.version, obj.created_by, obj.created_at = row.pk, row.version, row.created_by, row.created_at

    def has_change_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False  # versions are kept as saved

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_anywhere(request, self.change_capability)

    def has_delete_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return self._allowed(request, obj, self.change_capability)

    def trial_slug(self, row: MessageTemplate) -> str:
        return row.trial.slug

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        ids = trial_ids_with(request, self.change_capability)
        trials = Trial.objects.all() if ids is None else Trial.objects.filter(pk__in=ids)
        rows = [
            {
                "trial": trial,
                "kind": kind,
                "languages": message_templates.kind_languages(kind.kind, trial),
                "url": reverse("admin:participants_messagetemplate_current", args=[trial.pk, kind.kind]),
            }
            for trial in trials.order_by("slug")
            for kind in message_templates.template_kinds()
        ]
        return super().changelist_view(request, {**(extra_context or {}), "message_kinds": rows})

    @admin.display(description="preview")
    def preview(self, row: MessageTemplate | None) -> str:
        if row is None or row.pk is None:
            return "Saved versions can be previewed."
        return format_html(
            '<a href="{}">This version</a> · <a href="{}">What is sent now, in every language</a>',
            reverse("admin:participants_messagetemplate_preview", args=[row.pk]),
            reverse("admin:participants_messagetemplate_current", args=[row.trial_id, row.kind]),
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_version), name="participants_messagetemplate_preview"),
            path(
                "current/<int:trial_id>/<str:kind>/",
                view(self.preview_current),
                name="participants_messagetemplate_current",
            ),
            path(
                "current/<int:trial_id>/<str:kind>/<str:language>.html",
                view(self.preview_html),
                name="participants_messagetemplate_html",
            ),
            *super().get_urls(),
        ]

    def _trial(self, request: HttpRequest, trial_id: int) -> Trial:
        trial = Trial.objects.filter(pk=trial_id).first()
        if trial is None or not can_in(request, trial.pk, self.change_capability):
            raise Http404("No such trial.")
        return trial

    def _kind(self, kind: str) -> str:
        if kind not in {k.kind for k in message_templates.template_kinds()}:
            raise Http404("No such kind of message.")
        return kind

    def _page(self, request: HttpRequest, title: str, previews: list[dict[str, Any]], **extra: Any) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "title": title, "previews": previews, "opts": self.opts}
        return TemplateResponse(request, "admin/participants/messagetemplate/preview.html", {**context, **extra})

    def preview_version(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = self.get_queryset(request).filter(pk=pk).select_related("trial").first()
        if row is None or not self.has_view_permission(request, row):
            raise Http404("No such version.")
        sources = message_templates.Sources(subject=row.subject, text=row.text, html=row.html, sms=row.sms)
        parts = message_templates.render_sample(row.kind, trial=row.trial, language=row.language, sources=sources)
        previews = [{"language": row.language, "parts": parts, "version": row.version, "html_url": None}]
        return self._page(request, f"Preview: {row}", previews, trial=row.trial, kind=row.kind)

    def preview_current(self, request: HttpRequest, trial_id: int, kind: str) -> HttpResponse:
        trial, kind = self._trial(request, trial_id), self._kind(kind)
        previews = []
        for language in message_templates.kind_languages(kind, trial):
            row = message_templates.current_template(trial=trial, kind=kind, language=language)
            previews.append(
                {
                    "language": language,
                    "parts": message_templates.render_sample(kind, trial=trial, language=language),
                    "version": row.version if row else None,
                    "html_url": reverse("admin:participants_messagetemplate_html", args=[trial.pk, kind, language]),
                    "add_url": f"{reverse('admin:participants_messagetemplate_add')}?"
                    + urlencode({"trial": trial.pk, "kind": kind, "language": language}),
                }
            )
        return self._page(request, f"{kind} for {trial.slug}: what is sent now", previews, trial=trial, kind=kind)

    def preview_html(self, request: HttpRequest, trial_id: int, kind: str, language: str) -> HttpResponse:
        """The HTML part alone, as a mail client shows it; nothing in it may run."""
        trial, kind = self._trial(request, trial_id), self._kind(kind)
        if language not in message_templates.kind_languages(kind, trial):
            raise Http404("Not a language of this trial.")
        parts = message_templates.render_sample(kind, trial=trial, language=language)
        response = HttpResponse(parts.html, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'"
        )
        return response
