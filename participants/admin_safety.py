"""The safety clinicians' queue in the admin: open alerts first (urgent at the top), and pages to
acknowledge, record the contact and risk assessment, and resolve, through the same services as the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from participants.admin_forms import apply_domain_error
from participants.models import AlertStatus, RiskLevel, SafetyAlert
from participants.services import safety
from trial import clock
from trial.access import Capability
from trial.admin import TrialScopedMixin, can_in, require_in
from trial.errors import DomainError


class ContactForm(forms.Form):
    contacted_at = forms.DateTimeField(
        required=False, help_text="When you reached the participant (leave empty for now); YYYY-MM-DD HH:MM."
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), help_text="How, with whom, what was agreed.")
    risk_level = forms.ChoiceField(choices=RiskLevel.choices, help_text="Your clinical risk assessment.")
    risk_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ResolveForm(forms.Form):
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="How the alert was resolved.")


class ConfirmForm(forms.Form):
    pass


def _alert_url(alert_id: int) -> str:
    return reverse("admin:participants_safetyalert_change", args=[alert_id])


@admin.register(SafetyAlert)
class SafetyAlertAdmin(TrialScopedMixin[SafetyAlert]):
    trial_path = "participant__trial"
    view_capability = Capability.HANDLE_SAFETY
    change_capability = Capability.HANDLE_SAFETY
    list_display = ["raised_at", "participant", "flag_label", "urgent", "status", "escalate_at", "acknowledged_in"]
    list_filter = ["status", "urgent", "flag", "source"]
    search_fields = ["participant__study_id"]
    ordering = ["status", "-urgent", "raised_at"]
    readonly_fields = [
        "participant", "source", "flag", "urgent", "details", "status", "raised_at", "escalate_at", "escalated_at",
        "acknowledged_at", "acknowledged_by", "contacted_at", "contact_notes", "risk_level", "risk_notes",
        "resolved_at", "resolved_by", "resolution",
    ]  # fmt: skip
    change_form_template = "admin/participants/safetyalert/change_form.html"

    @admin.display(description="signal")
    def flag_label(self, alert: SafetyAlert) -> str:
        return alert.flag.replace("_", " ")

    @admin.display(description="acknowledged after")
    def acknowledged_in(self, alert: SafetyAlert) -> str:
        elapsed = alert.time_to_acknowledge
        if elapsed is None:
            overdue = alert.status == AlertStatus.OPEN and alert.escalate_at <= clock.now()
            return format_html("<strong>{}</strong>", "overdue") if overdue else "-"
        return f"{elapsed.total_seconds() / 60:.0f} min"

    # The queue is worked through the pages below, never by editing fields.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SafetyAlert | None = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        alert = self._require_object(request, object_id)
        actions: list[tuple[str, str]] = []
        if can_in(request, alert.participant.trial_id, Capability.HANDLE_SAFETY):
            if alert.status == AlertStatus.OPEN:
                actions.append(("Acknowledge", "acknowledge"))
            if alert.status != AlertStatus.RESOLVED:
                actions.append(("Record contact and risk", "contact"))
            if alert.status != AlertStatus.RESOLVED and alert.contacted_at is not None:
                actions.append(("Resolve", "resolve"))
        links = [(label, reverse(f"admin:participants_safetyalert_{view}", args=[alert.pk])) for label, view in actions]
        context = {**(extra_context or {}), "alert_actions": links, "show_save": False}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/acknowledge/", wrap(self.acknowledge_view), name="participants_safetyalert_acknowledge"),
            path("<int:pk>/contact/", wrap(self.contact_view), name="participants_safetyalert_contact"),
            path("<int:pk>/resolve/", wrap(self.resolve_view), name="participants_safetyalert_resolve"),
            *super().get_urls(),
        ]

    def _handled_alert(self, request: HttpRequest, pk: int) -> SafetyAlert:
        alert = self.get_queryset(request).select_related("participant__trial").filter(pk=pk).first()
        if alert is None:
            raise Http404("No such alert.")
        require_in(request, alert.participant.trial_id, Capability.HANDLE_SAFETY)
        return alert

    def _action(
        self,
        request: HttpRequest,
        alert: SafetyAlert,
        form: forms.Form,
        *,
        title: str,
        submit_label: str,
        perform: Callable[[forms.Form], object],
        success: str,
    ) -> HttpResponse:
        if request.method == "POST" and form.is_valid():
            try:
                perform(form)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                self.message_user(request, success, messages.SUCCESS)
                return HttpResponseRedirect(_alert_url(alert.pk))
        return TemplateResponse(
            request,
            "admin/participants/participant/action_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "trial": alert.participant.trial,
                "participant": alert.participant,
                "note": f"Alert {alert.pk}: {alert.flag.replace('_', ' ')}, "
                f"raised {alert.raised_at:%Y-%m-%d %H:%M %Z}.",
                "form": form,
                "media": self.media + form.media,
                "submit_label": submit_label,
                "cancel_url": _alert_url(alert.pk),
            },
        )

    def acknowledge_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._handled_alert(request, pk)
        return self._action(
            request,
            alert,
            ConfirmForm(request.POST if request.method == "POST" else None),
            title=f"Acknowledge alert {alert.pk}",
            submit_label="Acknowledge",
            perform=lambda form: safety.safety_alert_acknowledge(alert=alert, by=request.user),
            success=f"Alert {alert.pk} acknowledged.",
        )

    def contact_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._handled_alert(request, pk)
        form = ContactForm(request.POST if request.method == "POST" else None)
        return self._action(
            request,
            alert,
            form,
            title=f"Record contact for alert {alert.pk}",
            submit_label="Save contact and risk assessment",
            perform=lambda form: safety.safety_alert_record_contact(alert=alert, by=request.user, **form.cleaned_data),
            success=f"Contact recorded for alert {alert.pk}.",
        )

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = self._handled_alert(request, pk)
        form = ResolveForm(request.POST if request.method == "POST" else None)
        return self._action(
            request,
            alert,
            form,
            title=f"Resolve alert {alert.pk}",
            submit_label="Resolve",
            perform=lambda form: safety.safety_alert_resolve(alert=alert, by=request.user, **form.cleaned_data),
            success=f"Alert {alert.pk} resolved.",
        )
