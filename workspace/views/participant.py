"""The participant page: one timeline of everything that happened, and the actions that apply now.

Every action is a POST that calls one service and redirects back with a message (POST-redirect-GET). A
refused action records nothing and says why (the service's own message). Each form carries a one-time
key: the same form sent twice (a double click, a resent POST) is recognised and done once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path

from assessments.forms import QuestionnaireForm
from assessments.instruments import get_instrument
from assessments.models import Response
from assessments.services.invitations import invitation_resend
from assessments.services.submission import response_correct, response_enter_for_participant
from participants.models import Participant
from participants.services import (
    participant_complete,
    participant_mark_lost,
    participant_return,
    participant_unblind,
    participant_withdraw,
)
from trial.access import ArmView, Capability
from trial.errors import DomainError
from workspace.access import Desk, trial_page
from workspace.submissions import carry_out_once
from workspace.timeline import Story, participant_for_page, story_of

# --- One-time form keys ---------------------------------------------------------------------------------


def new_once() -> str:
    return secrets.token_urlsafe(16)


def once(request: HttpRequest, form: str, key: str, back: str, act: Callable[[], object]) -> bool:
    """Carry out ``act`` once for this form's key (workspace.submissions): False when the same form was
    sent before and nothing was done now. A refusal (DomainError) leaves the key unused."""

    def run() -> str:
        act()
        return back

    return not carry_out_once(user=request.user, form=form, key=key, act=run).replayed


def _already_done(request: HttpRequest, back: str) -> HttpResponse:
    messages.info(request, "That form was already sent; it was recorded once.")
    return HttpResponseRedirect(back)


# --- Reading ---------------------------------------------------------------------------------------------


def _participant(desk: Desk, pk: int) -> Participant:
    found = participant_for_page(desk, pk).first()
    if found is None:
        raise Http404("No such participant in this trial.")
    return found


def _page_of(desk: Desk, pk: int) -> str:
    return f"/workspace/{desk.trial.slug}/participants/{pk}/"


def _story(desk: Desk, pk: int) -> Story:
    return story_of(desk, _participant(desk, pk))


def _may_unblind(desk: Desk, story: Story) -> bool:
    return (
        desk.can(Capability.UNBLIND_PARTICIPANT)
        and desk.arm_view == ArmView.MASKED
        and not story.visible
        and hasattr(story.participant, "allocation")
    )


@trial_page()
def participant(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    story = _story(desk, pk)
    context = {
        "desk": desk,
        "p": story.participant,
        "story": story,
        "base": _page_of(desk, pk),
        "once": new_once(),
        "may_unblind": _may_unblind(desk, story),
        "may_see_contact": desk.can(Capability.VIEW_CONTACT),
        "language_name": dict(settings.LANGUAGES).get(story.participant.language, story.participant.language),
    }
    return render(request, "workspace/participant.html", context)


# --- Invitations and links ------------------------------------------------------------------------------


def _visit(story: Story, visit_id: UUID) -> Any:
    for visit in story.visits:
        if visit.assessment.public_id == visit_id:
            return visit
    raise Http404("No such visit.")  # or one the reader may not know of: the same answer


def _send_invitation(request: HttpRequest, desk: Desk, pk: int, visit_id: UUID, *, revoke: bool) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    story = _story(desk, pk)
    visit = _visit(story, visit_id)
    back = _page_of(desk, pk)
    key = request.POST.get("once", "")
    if revoke and request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm that the current link should stop working.")
        return HttpResponseRedirect(back)
    if not visit.open_now:
        # Said from the visit as this reader is shown it: a visit that reads as completed to a reader who
        # must not know the arm is refused alike in both arms, whatever its hidden questionnaire.
        name, state = visit.assessment.visit.name, visit.status_label.lower()
        messages.error(request, f"Nothing was sent: {name} is {state}; there is nothing to invite to.")
        return HttpResponseRedirect(back)

    def act() -> None:
        invitation_resend(assessment=visit.assessment, key=key, by=request.user, revoke=revoke)

    try:
        if not once(request, "invitation", key, back, act):
            return _already_done(request, back)
    except DomainError as refused:
        messages.error(request, f"Nothing was sent: {refused.message}")
        return HttpResponseRedirect(back)
    name = visit.assessment.visit.name
    if revoke:
        messages.success(
            request, f"The old link to {name} no longer works; a new invitation with a new link is queued."
        )
    else:
        messages.success(
            request, f"The {name} invitation is queued again, with a fresh link (it replaces the last one)."
        )
    return HttpResponseRedirect(back)


@trial_page(Capability.ENROLL)
def resend_invitation(request: HttpRequest, desk: Desk, pk: int, visit: UUID) -> HttpResponse:
    return _send_invitation(request, desk, pk, visit, revoke=False)


@trial_page(Capability.ENROLL)
def new_link(request: HttpRequest, desk: Desk, pk: int, visit: UUID) -> HttpResponse:
    return _send_invitation(request, desk, pk, visit, revoke=True)


# --- Answers entered by staff, and corrections -----------------------------------------------------------


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Why are you entering these answers?",
        help_text="For example: paper form returned by post; answers read out by phone.",
        max_length=500,
        error_messages={"required": "Say why you are entering the answers."},
    )
    once = forms.CharField(widget=forms.HiddenInput, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the correction",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        error_messages={"required": "Give the reason for the correction."},
    )
    once = forms.CharField(widget=forms.HiddenInput, required=False)


def _answers_page(
    request: HttpRequest,
    desk: Desk,
    story: Story,
    *,
    title: str,
    instrument_code: str,
    questionnaire: QuestionnaireForm,
    extra: forms.Form,
    errors: list[str],
    status: int = 200,
) -> HttpResponse:
    context = {
        "desk": desk,
        "p": story.participant,
        "base": _page_of(desk, story.participant.pk),
        "title": title,
        "instrument": get_instrument(instrument_code),
        "questions": questionnaire.questions(),
        "extra": extra,
        "errors": errors,
        "once": new_once(),
    }
    return render(request, "workspace/participant_answers.html", context, status=status)


def _form_errors(*forms_: forms.Form) -> list[str]:
    return [str(e) for f in forms_ for errors in f.errors.values() for e in errors]


@trial_page(Capability.ENROLL)
def enter_answers(request: HttpRequest, desk: Desk, pk: int, visit: UUID, code: str) -> HttpResponse:
    story = _story(desk, pk)
    shown = _visit(story, visit)
    answered = [q for q in shown.questionnaires if q.code == code and q.current is not None]
    if answered:  # a second click, a reload, a stale page: what is recorded is not entered again
        name = f"{answered[0].name} of {shown.assessment.visit.name}"
        messages.info(request, f"The answers to {name} are already recorded; to change them, correct them.")
        return HttpResponseRedirect(_page_of(desk, pk))
    if code not in [q.code for q in shown.to_enter]:
        raise Http404("That questionnaire is not waiting for answers.")
    instrument = get_instrument(code)
    title = f"Enter {instrument.short_name} answers for {shown.assessment.visit.name}"
    if request.method != "POST":
        return _answers_page(
            request, desk, story, title=title, instrument_code=code,
            questionnaire=QuestionnaireForm(instrument=instrument, staff=True), extra=NoteForm(), errors=[],
        )  # fmt: skip
    questionnaire = QuestionnaireForm(request.POST, instrument=instrument, staff=True)
    note = NoteForm(request.POST)
    back = _page_of(desk, pk)
    if not (questionnaire.is_valid() and note.is_valid()):
        return _answers_page(
            request, desk, story, title=title, instrument_code=code, questionnaire=questionnaire, extra=note,
            errors=_form_errors(note, questionnaire), status=400,
        )  # fmt: skip
    key = note.cleaned_data["once"]

    def act() -> None:
        response_enter_for_participant(
            assessment=shown.assessment,
            instrument_code=code,
            answers=questionnaire.answers(),
            note=note.cleaned_data["note"],
            by=request.user,
        )

    try:
        if not once(request, "paper-entry", key, back, act):
            return _already_done(request, back)
    except DomainError as refused:
        return _answers_page(
            request, desk, story, title=title, instrument_code=code, questionnaire=questionnaire, extra=note,
            errors=[f"Nothing was recorded: {refused.message}"], status=400,
        )  # fmt: skip
    messages.success(request, f"{instrument.short_name} answers for {shown.assessment.visit.name} recorded.")
    return HttpResponseRedirect(back)


class Superseded(Exception):
    def __init__(self, current: Response) -> None:
        self.current = current


def _current_response(story: Story, response_id: UUID) -> tuple[Any, Response]:
    for visit in story.visits:
        for q in visit.questionnaires:
            if q.current is not None and q.current.public_id == response_id:
                return visit, q.current
            if q.current is not None and any(r.public_id == response_id for r in q.earlier):
                raise Superseded(q.current)
    raise Http404("No such response.")


@trial_page(Capability.ENROLL)
def correct_answers(request: HttpRequest, desk: Desk, pk: int, response: UUID) -> HttpResponse:
    story = _story(desk, pk)
    try:
        visit, current = _current_response(story, response)
    except Superseded as newer:  # a second click, a reload: the correction is made once
        messages.info(request, f"That version was already corrected; version {newer.current.version} is current.")
        return HttpResponseRedirect(_page_of(desk, pk))
    instrument = get_instrument(current.instrument_code)
    title = f"Correct {instrument.short_name} answers of {visit.assessment.visit.name} (version {current.version})"
    if request.method != "POST":
        initial = QuestionnaireForm.initial_from(current.answers)
        return _answers_page(
            request, desk, story, title=title, instrument_code=current.instrument_code,
            questionnaire=QuestionnaireForm(instrument=instrument, initial=initial, staff=True),
            extra=ReasonForm(), errors=[],
        )  # fmt: skip
    questionnaire = QuestionnaireForm(request.POST, instrument=instrument, staff=True)
    reason = ReasonForm(request.POST)
    back = _page_of(desk, pk)
    if not (questionnaire.is_valid() and reason.is_valid()):
        return _answers_page(
            request, desk, story, title=title, instrument_code=current.instrument_code, questionnaire=questionnaire,
            extra=reason, errors=_form_errors(reason, questionnaire), status=400,
        )  # fmt: skip
    key = reason.cleaned_data["once"]

    def act() -> None:
        response_correct(
            response=current, answers=questionnaire.answers(), reason=reason.cleaned_data["reason"], by=request.user
        )

    try:
        if not once(request, "correction", key, back, act):
            return _already_done(request, back)
    except DomainError as refused:
        return _answers_page(
            request, desk, story, title=title, instrument_code=current.instrument_code, questionnaire=questionnaire,
            extra=reason, errors=[f"Nothing was recorded: {refused.message}"], status=400,
        )  # fmt: skip
    messages.success(request, f"{instrument.short_name} corrected: version {current.version + 1} is now current.")
    return HttpResponseRedirect(back)


# --- Follow-up status and emergency unblinding ------------------------------------------------------------

FOLLOW_UP = {
    "withdraw": ("Record withdrawal", "Withdrawn: pending questionnaires and messages are cancelled."),
    "lost": ("Record lost to follow-up", "Recorded as lost to follow-up; open questionnaires stay open."),
    "return": ("Record return to follow-up", "Back in follow-up."),
    "complete": ("Record completion", "Follow-up completed: pending questionnaires and messages are cancelled."),
}


FOLLOW_UP_NOTES = {
    "withdraw": "The reason is required; it is reported in the CONSORT flow.",
    "lost": "The reason is required; it is reported in the CONSORT flow.",
    "return": "Say how they came back into contact (recorded with the status change).",
    "complete": "Completion needs no reason.",
}


class FollowUpForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=1000, required=False)
    confirm = forms.BooleanField(label="I confirm this change", error_messages={"required": "Tick the box to confirm."})
    once = forms.CharField(widget=forms.HiddenInput, required=False)


def _action_page(
    request: HttpRequest, desk: Desk, story: Story, *, title: str, form: forms.Form, action: str, note: str,
    status: int = 200, errors: list[str] | None = None,
) -> HttpResponse:  # fmt: skip
    context = {
        "desk": desk,
        "p": story.participant,
        "base": _page_of(desk, story.participant.pk),
        "title": title,
        "form": form,
        "action": action,
        "note": note,
        "errors": errors or [],
        "once": new_once(),
    }
    return render(request, "workspace/participant_action.html", context, status=status)


@trial_page(Capability.ENROLL)
def follow_up(request: HttpRequest, desk: Desk, pk: int, step: str) -> HttpResponse:
    if step not in FOLLOW_UP:
        raise Http404("No such step.")
    story = _story(desk, pk)
    title, done = FOLLOW_UP[step]
    action = f"{_page_of(desk, pk)}follow-up/{step}/"
    note = FOLLOW_UP_NOTES[step]
    if request.method != "POST":
        return _action_page(request, desk, story, title=title, form=FollowUpForm(), action=action, note=note)
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        return _action_page(
            request, desk, story, title=title, form=form, action=action, note=note, status=400,
            errors=_form_errors(form),
        )  # fmt: skip
    key = form.cleaned_data["once"]
    p, reason, by = story.participant, form.cleaned_data["reason"], request.user

    def act() -> None:
        if step == "withdraw":
            participant_withdraw(participant=p, reason=reason, by=by)
        elif step == "lost":
            participant_mark_lost(participant=p, reason=reason, by=by)
        elif step == "return":
            participant_return(participant=p, reason=reason, by=by)
        else:
            participant_complete(participant=p, by=by)

    try:
        if not once(request, "follow-up", key, _page_of(desk, pk), act):
            return _already_done(request, _page_of(desk, pk))
    except DomainError as refused:
        return _action_page(
            request, desk, story, title=title, form=form, action=action, note=note, status=400,
            errors=[f"Nothing was recorded: {refused.message}"],
        )  # fmt: skip
    messages.success(request, done)
    return HttpResponseRedirect(_page_of(desk, pk))


class UnblindForm(forms.Form):
    reason = forms.CharField(
        label="Clinical reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        error_messages={"required": "Give the clinical reason for unblinding."},
    )
    confirm = forms.BooleanField(
        label=(
            "I understand that this is recorded and that the trial's investigators, safety clinicians and "
            "administrators are told"
        ),
        error_messages={"required": "Tick the box to confirm."},
    )
    once = forms.CharField(widget=forms.HiddenInput, required=False)


@trial_page(Capability.UNBLIND_PARTICIPANT)
def unblind(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    story = _story(desk, pk)
    title = "Emergency unblinding"
    action = f"{_page_of(desk, pk)}unblind/"
    note = "Only for a clinical emergency. The participant's arm is then shown to you."
    refusal = None
    if not _may_unblind(desk, story):
        refusal = (
            "You already see this participant's arm."
            if story.visible or desk.arm_view != ArmView.MASKED
            else f"Participant {story.participant} has not been randomized; there is nothing to unblind."
        )
    if request.method != "POST":
        if refusal:
            messages.error(request, refusal)
            return HttpResponseRedirect(_page_of(desk, pk))
        return _action_page(request, desk, story, title=title, form=UnblindForm(), action=action, note=note)
    form = UnblindForm(request.POST)
    if refusal or not form.is_valid():
        errors = [refusal] if refusal else _form_errors(form)
        return _action_page(
            request, desk, story, title=title, form=form, action=action, note=note, status=400, errors=errors
        )
    key = form.cleaned_data["once"]

    def act() -> None:
        participant_unblind(participant=story.participant, reason=form.cleaned_data["reason"], by=request.user)

    try:
        if not once(request, "unblind", key, _page_of(desk, pk), act):
            return _already_done(request, _page_of(desk, pk))
    except DomainError as refused:
        return _action_page(
            request, desk, story, title=title, form=form, action=action, note=note, status=400,
            errors=[f"Nothing was recorded: {refused.message}"],
        )  # fmt: skip
    messages.warning(request, f"Participant {story.participant} is unblinded for you; the act is recorded.")
    return HttpResponseRedirect(_page_of(desk, pk))


urls: list[URLPattern] = [
    path("participants/<int:pk>/", participant, name="participant"),
    path("participants/<int:pk>/visits/<uuid:visit>/resend/", resend_invitation, name="participant-resend"),
    path("participants/<int:pk>/visits/<uuid:visit>/new-link/", new_link, name="participant-new-link"),
    path("participants/<int:pk>/visits/<uuid:visit>/enter/<str:code>/", enter_answers, name="participant-enter"),
    path("participants/<int:pk>/responses/<uuid:response>/correct/", correct_answers, name="participant-correct"),
    path("participants/<int:pk>/follow-up/<str:step>/", follow_up, name="participant-follow-up"),
    path("participants/<int:pk>/unblind/", unblind, name="participant-unblind"),
]
