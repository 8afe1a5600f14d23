"""Screening, consent, enrollment and randomization: the forms that bring a person into the trial.

Each page needs Capability.ENROLL. Each POST goes through its participant service and then redirects
(POST-redirect-GET): screening to its result page, the others to the participant's page. A form carries a
one-time key, so a repeated submission (double click, back and resubmit, reload) is recognised and sent to
the first one's result with "already recorded", never recorded twice (workspace.submissions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from participants import services
from participants.api import allocation_for_reader
from participants.models import Consent, ContactDetails, Participant, Status
from participants.selectors import consent_required_document, current_consent_document
from trial import clock
from trial.access import Capability
from trial.errors import DomainError
from trial.models import ScreeningField, TrialStatus
from workspace.access import Desk, trial_page
from workspace.forms import ConfirmForm, ConsentForm, ContactForm, OnceForm, ScreeningForm, apply_domain_error
from workspace.submissions import carry_out_once

ALREADY = "This form was already submitted and recorded; nothing was recorded again."
CONSENTED_BEFORE = "Consent to version {version} was already recorded; nothing was recorded again."
RECONSENTING = (Status.CONSENTED, Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)


def participant_path(desk: Desk, pk: int) -> str:
    """The participant's page (workspace:participant)."""
    return f"/workspace/{desk.trial.slug}/participants/{pk}/"


def _participant(desk: Desk, pk: int) -> Participant:
    return get_object_or_404(Participant.objects.select_related("trial", "site"), trial=desk.trial, pk=pk)


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _submit(
    request: HttpRequest, form: OnceForm, name: str, act: Callable[[], str], success: Callable[[], str]
) -> HttpResponse | None:
    """Carry out a valid form once and redirect, with ``success()`` as the message (or "already recorded"
    for a repeat); None, with the service's refusal on the form, when refused."""
    try:
        outcome = carry_out_once(user=request.user, form=name, key=form.key(), act=act)
    except DomainError as exc:
        apply_domain_error(form, exc)
        return None
    if outcome.replayed:
        messages.info(request, ALREADY)
    else:
        messages.success(request, success())
    return HttpResponseRedirect(outcome.url)


# --- Screening ------------------------------------------------------------------------------------


@trial_page(Capability.ENROLL)
def screen(request: HttpRequest, desk: Desk) -> HttpResponse:
    if desk.trial.status != TrialStatus.RECRUITING:
        status = desk.trial.get_status_display().lower()
        closed = f"{desk.trial.slug} is {status}, not recruiting: nobody can be screened."
        return render(request, "workspace/screen.html", {"desk": desk, "form": None, "closed": closed})
    form = ScreeningForm(_posted(request), trial=desk.trial)
    if request.method == "POST" and form.is_valid():

        def act() -> str:
            participant = services.participant_screen(
                trial=desk.trial,
                answers=form.answers(),
                site_code=form.site_code(),
                language=form.language(),
                by=request.user,
            )
            return reverse("workspace:screening", args=[desk.trial.slug, participant.pk])

        done = _submit(request, form, "screen", act, lambda: "Screening recorded.")
        if done is not None:
            return done
    return render(request, "workspace/screen.html", {"desk": desk, "form": form})


@trial_page(Capability.ENROLL)
def screening(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    participant = _participant(desk, pk)
    labels = dict(ScreeningField.objects.filter(trial=desk.trial).values_list("code", "label"))
    answers = [(labels.get(code) or code, value) for code, value in participant.screening_answers.items()]
    return render(
        request,
        "workspace/screening.html",
        {
            "desk": desk,
            "participant": participant,
            "eligible": not participant.ineligibility_reasons,
            "consent_next": participant.status == Status.ELIGIBLE,
            "reasons": [r.get("reason", "") for r in participant.ineligibility_reasons],
            "answers": answers,
            "participant_url": participant_path(desk, participant.pk),
        },
    )


# --- Consent --------------------------------------------------------------------------------------


def _consent_due(participant: Participant) -> bool:
    if participant.status == Status.ELIGIBLE:
        return True
    return participant.status in RECONSENTING and consent_required_document(participant) is not None


@trial_page(Capability.ENROLL)
def consent(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    participant = _participant(desk, pk)
    back = participant_path(desk, participant.pk)
    document = current_consent_document(desk.trial)
    given = Consent.objects.filter(participant=participant, document=document).first() if document else None
    if request.method == "POST" and given is not None:
        # Consent is recorded once per document version: a repeat is a friendly redirect, not an error.
        messages.info(request, CONSENTED_BEFORE.format(version=given.document.version))
        return HttpResponseRedirect(back)
    form = None
    with timezone.override(desk.tz):  # the signing time is entered and shown in the trial's zone
        if document is not None and _consent_due(participant):
            form = ConsentForm(_posted(request), document=document, zone=desk.tz, now=clock.now())
            if request.method == "POST" and form.is_valid():
                data = form.cleaned_data

                def act() -> str:
                    services.participant_consent(
                        participant=participant,
                        signed_name=data["signed_name"],
                        version=data["version"],
                        signed_at=data["signed_at"],
                        by=request.user,
                    )
                    return back

                version = document.version
                done = _submit(
                    request, form, "consent", act, lambda: f"Consent to version {version} recorded for {participant}."
                )
                if done is not None:
                    return done
                if Consent.objects.filter(participant=participant, document=document).exists():
                    # Recorded meanwhile by a concurrent submission (the service's Conflict): not an error.
                    messages.info(
                        request, f"Consent to version {version} was already recorded; nothing was recorded again."
                    )
                    return HttpResponseRedirect(back)
        return render(
            request,
            "workspace/consent.html",
            {
                "desk": desk,
                "participant": participant,
                "document": document,
                "given": given,
                "form": form,
                "participant_url": back,
            },
        )


# --- Enrollment -----------------------------------------------------------------------------------


@trial_page(Capability.ENROLL)
def enroll(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    participant = _participant(desk, pk)
    back = participant_path(desk, participant.pk)
    if request.method == "POST" and participant.study_id:
        messages.info(request, f"{participant} is already enrolled; nothing was recorded again.")
        return HttpResponseRedirect(back)
    country = participant.site.country if participant.site else ""
    form = None
    if participant.status == Status.CONSENTED:
        form = ContactForm(_posted(request), country=country or None, trial_zone=desk.trial.timezone)
        if request.method == "POST" and form.is_valid():
            contact = services.ContactInput(**form.contact())

            def act() -> str:
                enrolled = services.participant_enroll(participant=participant, contact=contact, by=request.user)
                return participant_path(desk, enrolled.pk)

            def enrolled() -> str:
                participant.refresh_from_db()
                return f"Enrolled: study ID {participant.study_id}."

            done = _submit(request, form, "enroll", act, enrolled)
            if done is not None:
                return done
            participant.refresh_from_db()
            if participant.study_id:  # enrolled meanwhile by a concurrent submission: not an error
                messages.info(request, f"{participant} is already enrolled; nothing was recorded again.")
                return HttpResponseRedirect(back)
    return render(
        request,
        "workspace/enroll.html",
        {"desk": desk, "participant": participant, "form": form, "country": country, "participant_url": back},
    )


@trial_page(Capability.ENROLL)
def contact(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    """Change an enrolled participant's contact details (the same form and checks as at enrollment)."""
    if not desk.can(Capability.VIEW_CONTACT):
        raise PermissionDenied("Your role in this trial does not allow you to see contact details.")
    participant = _participant(desk, pk)
    back = participant_path(desk, participant.pk)
    details = ContactDetails.objects.filter(participant=participant).first()
    form = None
    if details is not None:
        initial = {name: getattr(details, name) for name in ("full_name", "email", "phone", "timezone", "channels")}
        country = participant.site.country if participant.site else ""
        form = ContactForm(_posted(request), initial=initial, country=country or None, trial_zone=desk.trial.timezone)
        if request.method == "POST" and form.is_valid():
            given = services.ContactInput(**form.contact())

            def act() -> str:
                services.contact_update(participant=participant, contact=given, by=request.user)
                return back

            done = _submit(request, form, "contact", act, lambda: f"Contact details of {participant} saved.")
            if done is not None:
                return done
    return render(
        request,
        "workspace/contact.html",
        {"desk": desk, "participant": participant, "form": form, "participant_url": back},
    )


# --- Randomization --------------------------------------------------------------------------------


def _arm_message(participant: Participant, desk: Desk) -> str:
    participant = (
        Participant.objects.select_related("allocation__arm").prefetch_related("unblindings").get(pk=participant.pk)
    )
    shown = allocation_for_reader(participant, desk.arm_view)
    if shown is None or shown["masked"]:
        return f"{participant} randomized. The arm is masked in this trial."
    return f"{participant} randomized: {shown['arm_name']}."


@trial_page(Capability.ENROLL)
def randomize(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    participant = _participant(desk, pk)
    back = participant_path(desk, participant.pk)
    if request.method == "POST" and participant.status == Status.RANDOMIZED:
        messages.info(request, f"{participant} is already randomized; nothing was recorded again.")
        return HttpResponseRedirect(back)
    refusal = services.randomization_refusal(participant)
    form = ConfirmForm(_posted(request)) if refusal is None else None
    if request.method == "POST" and form is not None and form.is_valid():

        def act() -> str:
            services.participant_randomize(participant=participant, by=request.user)
            return back

        try:
            outcome = carry_out_once(user=request.user, form="randomize", key=form.key(), act=act)
        except DomainError as exc:
            refusal = exc.message  # e.g. the trial closed meanwhile: said, not shown as a form error
            form = None
        else:
            if outcome.replayed:
                messages.info(request, ALREADY)
            else:
                messages.success(request, _arm_message(participant, desk))
            return HttpResponseRedirect(outcome.url)
    return render(
        request,
        "workspace/randomize.html",
        {"desk": desk, "participant": participant, "refusal": refusal, "form": form, "participant_url": back},
    )


urls: list[URLPattern] = [
    path("screen/", screen, name="screen"),
    path("screenings/<int:pk>/", screening, name="screening"),
    path("participants/<int:pk>/consent/", consent, name="consent"),
    path("participants/<int:pk>/enroll/", enroll, name="enroll"),
    path("participants/<int:pk>/randomize/", randomize, name="randomize"),
    path("participants/<int:pk>/contact/", contact, name="contact"),
]
