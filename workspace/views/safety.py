"""The safety queue: every alert of a trial (and, at /workspace/safety/, of every trial where the reader
handles safety), the open urgent ones first; the alert page with the participant's phone and e-mail and the
steps (acknowledge, record contact and risk assessment, resolve) as forms that call
participants/services/safety.py. Each step is POST-redirect-GET; a replayed POST changes nothing twice.

Alerts show their source (a chatbot crisis flag exists only for the chatbot arm): the roles that handle
safety see it in the API too (participants/api_safety.py). No arm is named here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone as dj_tz
from django.views.decorators.http import require_POST

from participants.models import AlertStatus, ContactDetails, RiskLevel, SafetyAlert
from participants.services import safety
from trial import access, clock
from trial.access import Capability
from trial.errors import Conflict, DomainError
from trial.models import TrialMembership, VisitDefinition
from workspace.access import Desk, trial_page
from workspace.alert_text import describe

PAGE_SIZE = 50
STATUS_FILTERS = {"open": [AlertStatus.OPEN], "active": [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]}


def queue_order(alerts: QuerySet[SafetyAlert]) -> QuerySet[SafetyAlert]:
    """Open urgent alerts first, then open, acknowledged, resolved; newest first within each."""
    rank = Case(
        When(status=AlertStatus.OPEN, urgent=True, then=Value(0)),
        When(status=AlertStatus.OPEN, then=Value(1)),
        When(status=AlertStatus.ACKNOWLEDGED, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return alerts.annotate(queue_rank=rank).order_by("queue_rank", "-raised_at", "-id")


def _visit_names(trial_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    names: dict[int, dict[str, str]] = {}
    for trial_id, code, name in VisitDefinition.objects.filter(trial_id__in=list(trial_ids)).values_list(
        "trial_id", "code", "name"
    ):
        names.setdefault(trial_id, {})[code] = name
    return names


def _rows(alerts: Iterable[SafetyAlert], now: datetime) -> list[dict[str, Any]]:
    alerts = list(alerts)
    names = _visit_names({a.participant.trial_id for a in alerts})
    return [
        {
            "alert": a,
            "trigger": describe(a, names.get(a.participant.trial_id, {})),
            "left": a.escalate_at - now if a.status == AlertStatus.OPEN and a.escalated_at is None else None,
            "tz": ZoneInfo(a.participant.trial.timezone),
        }
        for a in alerts
    ]


def _status_filter(request: HttpRequest, alerts: QuerySet[SafetyAlert]) -> tuple[QuerySet[SafetyAlert], str]:
    chosen = request.GET.get("status", "")
    if chosen in STATUS_FILTERS:
        return alerts.filter(status__in=STATUS_FILTERS[chosen]), chosen
    if chosen in AlertStatus.values:
        return alerts.filter(status=chosen), chosen
    return alerts, ""


STATUS_CHOICES = [("", "All"), ("active", "Open or acknowledged"), *AlertStatus.choices]


@trial_page(Capability.HANDLE_SAFETY)
def queue(request: HttpRequest, desk: Desk) -> HttpResponse:
    alerts = SafetyAlert.objects.filter(participant__trial=desk.trial).select_related("participant__trial")
    alerts, chosen = _status_filter(request, alerts)
    page = Paginator(queue_order(alerts), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "workspace/safety_queue.html",
        {
            "desk": desk,
            "page": page,
            "rows": _rows(page, clock.now()),
            "status": chosen,
            "status_choices": STATUS_CHOICES,
            "cross_trial": False,
        },
    )


@login_required
def all_trials_queue(request: HttpRequest) -> HttpResponse:
    """Every trial where the reader handles safety, in one queue, with a trial column and filter."""
    user_id = request.user.pk
    assert user_id is not None  # signed in
    memberships = TrialMembership.objects.filter(user_id=user_id).select_related("trial")
    roles: dict[int, set[str]] = {}
    trials = {}
    for m in memberships:
        roles.setdefault(m.trial_id, set()).add(m.role)
        trials[m.trial_id] = m.trial
    handled = sorted(
        (trials[t] for t, r in roles.items() if access.can(frozenset(r), Capability.HANDLE_SAFETY)),
        key=lambda t: t.slug,
    )
    if not handled:
        raise Http404("You handle safety in no trial.")
    alerts = SafetyAlert.objects.filter(participant__trial__in=handled).select_related("participant__trial")
    chosen_trial = request.GET.get("trial", "")
    if chosen_trial in {t.slug for t in handled}:
        alerts = alerts.filter(participant__trial__slug=chosen_trial)
    else:
        chosen_trial = ""
    alerts, chosen = _status_filter(request, alerts)
    page = Paginator(queue_order(alerts), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "workspace/safety_queue.html",
        {
            "page": page,
            "rows": _rows(page, clock.now()),
            "status": chosen,
            "status_choices": STATUS_CHOICES,
            "cross_trial": True,
            "trials": handled,
            "chosen_trial": chosen_trial,
        },
    )


class ContactForm(forms.Form):
    contacted_at = forms.DateTimeField(
        required=False,
        label="Contacted at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    notes = forms.CharField(
        label="Contact notes",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="How you reached the participant, with whom you spoke, what was agreed.",
        error_messages={"required": "Describe the contact (how, with whom, what was agreed)."},
    )
    risk_level = forms.ChoiceField(
        label="Risk level",
        choices=[("", "Choose the risk level…"), *RiskLevel.choices],
        help_text="Your clinical risk assessment (e.g. after a C-SSRS interview). There is no default.",
        error_messages={"required": "Choose the risk level from your assessment."},
    )
    risk_notes = forms.CharField(label="Risk notes", widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, tz: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        self.fields["contacted_at"].help_text = f"In {tz.key}; leave empty for now."

    def clean_contacted_at(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("contacted_at")
        if value is None:
            return None
        naive = value.replace(tzinfo=None) if dj_tz.is_aware(value) else value
        return naive.replace(tzinfo=self.tz)


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label="Resolution",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How the alert was resolved (what was done, what follows).",
        error_messages={"required": "Say how the alert was resolved."},
    )


def _alert_in(desk: Desk, alert_id: int) -> SafetyAlert:
    alert = (
        SafetyAlert.objects.filter(pk=alert_id, participant__trial=desk.trial)
        .select_related("participant__trial", "participant__site", "acknowledged_by", "resolved_by")
        .first()
    )
    if alert is None:
        raise Http404("No such alert in this trial.")
    return alert


def _phone(number: str) -> str:
    """``+16035550100`` as ``+1 603-555-0100`` (numbers are stored as E.164); as stored if unreadable."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _apply(form: forms.Form, exc: DomainError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def _alert_page(
    request: HttpRequest,
    desk: Desk,
    alert: SafetyAlert,
    *,
    contact_form: ContactForm | None = None,
    resolve_form: ResolveForm | None = None,
    status: int = 200,
) -> HttpResponse:
    contact: ContactDetails | None = None
    local_now = None
    if desk.can(Capability.VIEW_CONTACT):
        contact = ContactDetails.objects.filter(participant=alert.participant).first()
        if contact is not None:
            try:
                local_now = clock.now().astimezone(ZoneInfo(contact.timezone))
            except (ZoneInfoNotFoundError, ValueError):
                local_now = None
    names = _visit_names([desk.trial.pk]).get(desk.trial.pk, {})
    now = clock.now()
    events = list(alert.adverse_events.order_by("-onset_date", "-id"))
    return render(
        request,
        "workspace/safety_alert.html",
        {
            "desk": desk,
            "alert": alert,
            "trigger": describe(alert, names),
            "left": alert.escalate_at - now
            if alert.status == AlertStatus.OPEN and alert.escalated_at is None
            else None,
            "contact": contact,
            "phone_display": _phone(contact.phone) if contact is not None else "",
            "local_now": local_now,
            "contact_form": contact_form or ContactForm(tz=desk.tz),
            "resolve_form": resolve_form or ResolveForm(),
            "adverse_events": events,
            "participant_url": f"/workspace/{desk.trial.slug}/participants/{alert.participant.pk}/",
        },
        status=status,
    )


@trial_page(Capability.HANDLE_SAFETY)
def alert_detail(request: HttpRequest, desk: Desk, alert_id: int) -> HttpResponse:
    return _alert_page(request, desk, _alert_in(desk, alert_id))


@require_POST
@trial_page(Capability.HANDLE_SAFETY)
def acknowledge(request: HttpRequest, desk: Desk, alert_id: int) -> HttpResponse:
    alert = _alert_in(desk, alert_id)
    try:
        safety.safety_alert_acknowledge(alert=alert, by=request.user)
    except Conflict:
        alert.refresh_from_db()
        who = alert.acknowledged_by.get_username() if alert.acknowledged_by else "someone"
        messages.info(request, f"This alert was already acknowledged (by {who}); nothing was changed.")
    else:
        messages.success(request, "Alert acknowledged.")
    return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)


@require_POST
@trial_page(Capability.HANDLE_SAFETY)
def record_contact(request: HttpRequest, desk: Desk, alert_id: int) -> HttpResponse:
    alert = _alert_in(desk, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        messages.info(request, "This alert is resolved; nothing was changed.")
        return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)
    form = ContactForm(request.POST, tz=desk.tz)
    if form.is_valid():
        data = form.cleaned_data
        replay = (
            alert.contacted_at is not None
            and alert.contact_notes == data["notes"].strip()
            and alert.risk_level == data["risk_level"]
            and alert.risk_notes == data["risk_notes"].strip()
        )
        if replay:  # the same form sent again (a reload, a double click): recorded once
            messages.info(request, "This contact and risk assessment were already recorded.")
            return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)
        try:
            safety.safety_alert_record_contact(alert=alert, by=request.user, **data)
        except DomainError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Contact and risk assessment recorded.")
            return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)
    return _alert_page(request, desk, alert, contact_form=form, status=400)


@require_POST
@trial_page(Capability.HANDLE_SAFETY)
def resolve(request: HttpRequest, desk: Desk, alert_id: int) -> HttpResponse:
    alert = _alert_in(desk, alert_id)
    form = ResolveForm(request.POST)
    if form.is_valid():
        if alert.status == AlertStatus.RESOLVED:
            messages.info(request, "This alert was already resolved; nothing was changed.")
            return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)
        try:
            safety.safety_alert_resolve(alert=alert, by=request.user, **form.cleaned_data)
        except DomainError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Alert resolved.")
            return redirect("workspace:alert", slug=desk.trial.slug, alert_id=alert.pk)
    return _alert_page(request, desk, alert, resolve_form=form, status=400)


urls: list[URLPattern] = [
    path("safety/", queue, name="safety"),
    path("safety/<int:alert_id>/", alert_detail, name="alert"),
    path("safety/<int:alert_id>/acknowledge/", acknowledge, name="alert-acknowledge"),
    path("safety/<int:alert_id>/contact/", record_contact, name="alert-contact"),
    path("safety/<int:alert_id>/resolve/", resolve, name="alert-resolve"),
]
