"""Adverse events of a trial: the list, a form to record one (from an alert, ``?alert=<id>``, or on its
own) and each event's page with its follow-up form. Every write goes through
participants/services/adverse_events.py, which validates and audits; a serious event is notified from
there.

Who: the roles that handle safety (HANDLE_SAFETY: safety clinicians, investigators, administrators), for
reading and writing alike. An event's description and relatedness may tell the arm ("the chatbot
said…"), so the list is not shown to the other roles, blinded or not; they see adverse events only as
counts (the report) and the exports their role allows."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse

from participants.models import (
    AdverseEvent,
    AEOutcome,
    AERelatedness,
    AESeriousness,
    AESeverity,
    Participant,
    SafetyAlert,
)
from participants.services.adverse_events import adverse_event_record, adverse_event_update
from trial import clock
from trial.access import Capability
from trial.errors import DomainError
from workspace.access import Desk, trial_page
from workspace.submissions import carry_out_once


class AdverseEventForm(forms.Form):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What happened, as reported and as assessed.",
        error_messages={"required": "Describe the event."},
    )
    onset_date = forms.DateField(
        label="Onset date",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Give the onset date."},
    )
    severity = forms.ChoiceField(
        choices=AESeverity.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the severity."},
    )
    seriousness = forms.MultipleChoiceField(
        label="Seriousness criteria",
        choices=AESeriousness.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Tick every criterion the event meets; none ticked: not serious. A serious event is notified "
        "to the investigators at once.",
    )
    relatedness = forms.ChoiceField(
        label="Relatedness to the intervention",
        choices=[("", "Choose…"), *AERelatedness.choices],
        error_messages={"required": "Choose the relatedness to the intervention."},
    )
    action_taken = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}), required=False)
    outcome = forms.ChoiceField(
        choices=[("", "Choose…"), *AEOutcome.choices], error_messages={"required": "Choose the outcome."}
    )
    resolved_date = forms.DateField(
        label="Resolved date",
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
        help_text="When the event ended (for a fatal event, the date of death); empty while it lasts.",
    )


class NewAdverseEventForm(AdverseEventForm):
    study_id = forms.CharField(
        label="Participant (study ID)", max_length=32, error_messages={"required": "Give the participant's study ID."}
    )
    once = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages={"required": "This form is out of date: reload the page and send it again."},
    )

    field_order = ["study_id", "description", "onset_date", "severity", "seriousness", "relatedness",
                   "action_taken", "outcome", "resolved_date"]  # fmt: skip


class EditAdverseEventForm(AdverseEventForm):
    reason = forms.CharField(
        label="Reason for the change", required=False, help_text="e.g. follow-up call on …; kept in the audit trail."
    )


def _apply(form: forms.Form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


FIELDS = ("description", "onset_date", "severity", "seriousness", "relatedness", "action_taken", "outcome",
          "resolved_date")  # fmt: skip


def _service_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in FIELDS}


@trial_page(Capability.HANDLE_SAFETY)
def event_list(request: HttpRequest, desk: Desk) -> HttpResponse:
    events = (
        AdverseEvent.objects.filter(participant__trial=desk.trial)
        .select_related("participant", "recorded_by")
        .order_by("-onset_date", "-id")
    )
    serious_only = request.GET.get("serious") == "1"
    if serious_only:
        events = events.filter(serious=True)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "workspace/adverse_events.html", {"desk": desk, "page": page, "serious_only": serious_only})


def _alert_for(desk: Desk, raw: str | None) -> SafetyAlert | None:
    if not raw or not raw.isdigit():
        return None
    return SafetyAlert.objects.filter(pk=int(raw), participant__trial=desk.trial).select_related("participant").first()


def _same_event(
    participant: Participant, alert: SafetyAlert | None, request: HttpRequest, data: dict[str, Any]
) -> AdverseEvent | None:
    """The event this reader recorded in the last hour with exactly these values, if any: the same form
    sent twice, whatever its token (a page reloaded from the history gets a new one)."""
    recent = AdverseEvent.objects.filter(
        participant=participant,
        alert=alert,
        recorded_by_id=request.user.pk,
        recorded_at__gte=clock.now() - timedelta(hours=1),
        description=data["description"].strip(),
        onset_date=data["onset_date"],
        severity=data["severity"],
        relatedness=data["relatedness"],
        outcome=data["outcome"],
        resolved_date=data["resolved_date"],
        action_taken=data["action_taken"].strip(),
    )
    return next((e for e in recent if set(e.seriousness) == set(data["seriousness"])), None)


@trial_page(Capability.HANDLE_SAFETY)
def event_new(request: HttpRequest, desk: Desk) -> HttpResponse:
    alert = _alert_for(desk, request.POST.get("alert") if request.method == "POST" else request.GET.get("alert"))
    if request.method == "POST":
        form = NewAdverseEventForm(request.POST)
        if form.is_valid():
            participant = Participant.objects.filter(
                trial=desk.trial, study_id=form.cleaned_data["study_id"].strip()
            ).first()
            same = _same_event(participant, alert, request, form.cleaned_data) if participant else None
            if participant is None:
                form.add_error("study_id", "No participant of this trial has that study ID.")
            elif same is not None:  # the form sent again from the browser's history (a new token)
                messages.info(request, "This adverse event was already recorded.")
                return redirect("workspace:adverse-event", slug=desk.trial.slug, ae_id=same.pk)
            else:
                recorded: list[AdverseEvent] = []

                def act() -> str:
                    event = adverse_event_record(
                        participant=participant, by=request.user, alert=alert, **_service_fields(form.cleaned_data)
                    )
                    recorded.append(event)
                    return reverse("workspace:adverse-event", args=[desk.trial.slug, event.pk])

                try:
                    outcome = carry_out_once(
                        user=request.user, form="adverse-event", key=form.cleaned_data["once"], act=act
                    )
                except DomainError as exc:
                    _apply(form, exc)
                else:
                    if outcome.replayed:  # the same form sent twice: recorded once
                        messages.info(request, "This adverse event was already recorded.")
                    else:
                        note = " The investigators are being notified." if recorded[0].serious else ""
                        messages.success(request, f"Adverse event recorded.{note}")
                    return redirect(outcome.url)
        status = 400
    else:
        initial: dict[str, Any] = {"once": secrets.token_urlsafe(16)}
        if alert is not None:
            initial["study_id"] = alert.participant.study_id
            initial["onset_date"] = alert.raised_at.astimezone(desk.tz).date()
        form = NewAdverseEventForm(initial=initial)
        status = 200
    return render(
        request,
        "workspace/adverse_event_form.html",
        {"desk": desk, "form": form, "alert": alert, "event": None},
        status=status,
    )


@trial_page(Capability.HANDLE_SAFETY)
def event_detail(request: HttpRequest, desk: Desk, ae_id: int) -> HttpResponse:
    event = (
        AdverseEvent.objects.filter(pk=ae_id, participant__trial=desk.trial)
        .select_related("participant", "alert", "recorded_by")
        .first()
    )
    if event is None:
        raise Http404("No such adverse event in this trial.")
    status = 200
    if request.method == "POST":
        form = EditAdverseEventForm(request.POST)
        if form.is_valid():
            try:
                adverse_event_update(
                    event=event,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    **_service_fields(form.cleaned_data),
                )
            except DomainError as exc:
                _apply(form, exc)
            else:
                messages.success(request, "Adverse event updated.")
                return redirect("workspace:adverse-event", slug=desk.trial.slug, ae_id=event.pk)
        status = 400
    else:
        form = EditAdverseEventForm(initial={name: getattr(event, name) for name in FIELDS})
    return render(
        request,
        "workspace/adverse_event_form.html",
        {"desk": desk, "form": form, "alert": event.alert, "event": event},
        status=status,
    )


urls: list[URLPattern] = [
    path("adverse-events/", event_list, name="adverse-events"),
    path("adverse-events/new/", event_new, name="adverse-event-new"),
    path("adverse-events/<int:ae_id>/", event_detail, name="adverse-event"),
]
