"""Joining a trial online, at ``/join/<slug>/`` (participants.services.joining decides and writes).

study information -> language -> screening questions -> (eligible) consent: each statement confirmed,
a typed name -> contact details -> "check your e-mail" -> the verification link -> enrolled, or waiting
for review. An ineligible person gets a kind page with resources and is counted with the reasons.

Plain HTML forms, no JavaScript needed. Participants have no session: what was given on the earlier pages
travels with the form, signed (django.core.signing) so it cannot be altered, and expires. Bots are held off
by rate limits per client address and per e-mail address (trial/throttling.py, ``JOIN_RATES``) and a
honeypot field; a robot that fills it in is shown the page a person would see, and nothing is recorded.
Only a trial that is recruiting, takes people online and has participant wording for every question and
the consent document in its languages opens these pages; any other address gets a kind 404.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from assessments.crisis import crisis_resources_for
from assessments.join_forms import ConsentForm, ContactForm, ScreeningForm
from participants.consent_pdf import consent_copy_filename, consent_copy_pdf
from participants.models import JoinApplication
from participants.services import joining
from participants.services.enrollment import ContactInput, ScreeningInvalid, participant_screen, screening_assess
from trial import clock, throttling
from trial.errors import DomainError
from trial.models import Trial
from trial.models.protocol import check_online_wording
from trial.throttling import client_ip

logger = logging.getLogger(__name__)

STATE_MAX_AGE = 6 * 3600  # seconds a person may take from the questions to the contact page
COPY_MAX_AGE = 7 * 86400  # the confirmation page's PDF button works this long

US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
]


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _trial(slug: str) -> Trial | None:
    """The trial, if people may join it online now and its wording is complete."""
    trial = Trial.objects.filter(slug=slug).first()
    if trial is None or not joining.joining_open(trial):
        return None
    problems = check_online_wording(trial)
    if problems:
        logger.error("Online joining of trial %s is closed until its wording is complete: %s", slug, problems[0])
        return None
    return trial


def _language(request: HttpRequest, trial: Trial, chosen: str | None = None) -> str:
    languages = trial.languages or ["en"]
    for candidate in (chosen, request.POST.get("lang"), request.GET.get("lang")):
        if candidate in languages:
            return str(candidate)
    preferred = translation.get_language_from_request(request)
    return preferred if preferred in languages else languages[0]


def _page(
    request: HttpRequest, trial: Trial | None, language: str, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    with translation.override(language):
        public = trial.public_text(language) if trial is not None else {"name": "", "summary": ""}
        full = {
            "trial": trial,
            "language": language,
            "study_name": public["name"],
            "study_summary": public["summary"],
            "crisis_resources": crisis_resources_for(trial),
            **context,
        }
        response = render(request, f"join/{template}", full, status=status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Content-Language"] = language
    return response


def _unavailable(request: HttpRequest) -> HttpResponse:
    return _page(request, None, _language_only(request), "unavailable.html", {}, status=404)


def _language_only(request: HttpRequest) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    chosen = request.GET.get("lang") or request.POST.get("lang")
    if chosen in codes:
        return str(chosen)
    preferred = translation.get_language_from_request(request)
    return preferred if preferred in codes else settings.LANGUAGE_CODE


def _too_many(request: HttpRequest, trial: Trial | None, language: str, wait: int) -> HttpResponse:
    response = _page(request, trial, language, "too_many.html", {}, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def _count_client(request: HttpRequest) -> int | None:
    return throttling.hit("join-client", client_ip(request), throttling.Rate.parse(settings.JOIN_RATES["client"]))


def _salt(trial: Trial) -> str:
    return f"join:{trial.slug}"


def _state(request: HttpRequest, trial: Trial) -> dict[str, Any] | None:
    try:
        state = signing.loads(request.POST.get("state", ""), salt=_salt(trial), max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        return None
    return state if isinstance(state, dict) else None


def _dump(trial: Trial, state: dict[str, Any]) -> str:
    return signing.dumps(state, salt=_salt(trial), compress=True)


def _zones(trial: Trial) -> list[str]:
    zones = [trial.timezone]
    if trial.sites.filter(active=True, country="US").exists():
        zones += US_ZONES
    return list(dict.fromkeys(zones))


def _expired_form(request: HttpRequest, trial: Trial) -> HttpResponse:
    """A form whose carried answers are missing, altered or too old: start again, kindly."""
    language = _language(request, trial)
    return _page(request, trial, language, "start_again.html", {}, status=400)


# --------------------------------------------------------------------------------------------------
# The pages
# --------------------------------------------------------------------------------------------------


@never_cache
@require_safe
def start(request: HttpRequest, slug: str) -> HttpResponse:
    trial = _trial(slug)
    if trial is None:
        return _unavailable(request)
    language = _language(request, trial)
    names = dict(settings.LANGUAGES)
    languages = [{"code": code, "name": names.get(code, code)} for code in trial.languages or ["en"]]
    return _page(request, trial, language, "start.html", {"languages": languages})


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def questions(request: HttpRequest, slug: str) -> HttpResponse:
    trial = _trial(slug)
    if trial is None:
        return _unavailable(request)
    language = _language(request, trial)
    with translation.override(language):
        if request.method != "POST":
            form = ScreeningForm(trial=trial, language=language)
            return _page(request, trial, language, "questions.html", {"form": form})
        form = ScreeningForm(request.POST, trial=trial, language=language)
    wait = _count_client(request)
    if wait is not None:
        return _too_many(request, trial, language, wait)
    if form.is_robot():
        return _page(request, trial, language, "ineligible.html", {})
    with translation.override(language):
        valid = form.is_valid()
        failures = None
        if valid:
            try:
                _, _, failures = screening_assess(trial=trial, answers=form.answers())
            except ScreeningInvalid as exc:
                form.add_engine_errors(exc.errors)
                valid = False
    if not valid or failures is None:
        return _page(request, trial, language, "questions.html", {"form": form}, status=400)
    if failures:
        # Counted now, with its reasons, as a staff screening is: no e-mail address is asked of them.
        participant_screen(trial=trial, answers=form.answers(), by=None, site_code=_site(trial), language=language)
        return _page(request, trial, language, "ineligible.html", {})
    state = {"lang": language, "answers": form.answers(), "screened_at": clock.now().isoformat()}
    return _consent_page(request, trial, language, state, None)


def _site(trial: Trial) -> str | None:
    sites = trial.sites.filter(active=True)
    return "online" if sites.count() > 1 and sites.filter(code="online").exists() else None


def _consent_page(
    request: HttpRequest,
    trial: Trial,
    language: str,
    state: dict[str, Any],
    form: ConsentForm | None,
    status: int = 200,
) -> HttpResponse:
    document = joining.current_document(trial)
    wording = document.in_language(language) if document is not None else None
    if document is None or wording is None:
        return _unavailable(request)
    state = {**state, "version": document.version}
    with translation.override(language):
        form = form or ConsentForm(statements=wording["statements"])
    context = {"wording": wording, "version": document.version, "form": form, "state": _dump(trial, state)}
    return _page(request, trial, language, "consent.html", context, status=status)


@never_cache
@require_POST
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    trial = _trial(slug)
    if trial is None:
        return _unavailable(request)
    state = _state(request, trial)
    if state is None or "answers" not in state:
        return _expired_form(request, trial)
    language = _language(request, trial, state.get("lang"))
    wait = _count_client(request)
    if wait is not None:
        return _too_many(request, trial, language, wait)
    document = joining.current_document(trial)
    wording = document.in_language(language) if document is not None else None
    if document is None or wording is None or document.version != state.get("version"):
        return _consent_page(request, trial, language, state, None, status=409)
    with translation.override(language):
        form = ConsentForm(request.POST, statements=wording["statements"])
        valid = form.is_valid()
    if form.is_robot():
        return _page(request, trial, language, "check_email.html", {})
    if not valid:
        return _consent_page(request, trial, language, state, form, status=400)
    signed = {
        **state,
        "statements": form.answers(),
        "signed_name": " ".join(form.cleaned_data["signed_name"].split()),
        "signed_at": clock.now().isoformat(),
    }
    return _contact_page(request, trial, language, signed, None)


def _contact_page(
    request: HttpRequest,
    trial: Trial,
    language: str,
    state: dict[str, Any],
    form: ContactForm | None,
    status: int = 200,
) -> HttpResponse:
    with translation.override(language):
        form = form or ContactForm(zones=_zones(trial), initial={"timezone": trial.timezone})
    context = {"form": form, "state": _dump(trial, state)}
    return _page(request, trial, language, "contact.html", context, status=status)


@never_cache
@require_POST
def contact(request: HttpRequest, slug: str) -> HttpResponse:
    trial = _trial(slug)
    if trial is None:
        return _unavailable(request)
    state = _state(request, trial)
    if state is None or "signed_name" not in state:
        return _expired_form(request, trial)
    language = _language(request, trial, state.get("lang"))
    wait = _count_client(request)
    if wait is not None:
        return _too_many(request, trial, language, wait)
    with translation.override(language):
        form = ContactForm(request.POST, zones=_zones(trial))
        valid = form.is_valid()
    done = HttpResponseRedirect(f"{reverse('join:check-email', kwargs={'slug': trial.slug})}?lang={language}")
    if form.is_robot():
        return done
    if not valid:
        return _contact_page(request, trial, language, state, form, status=400)
    email = form.cleaned_data["email"]
    wait = throttling.hit("join-email", joining.email_hash(email), throttling.Rate.parse(settings.JOIN_RATES["email"]))
    if wait is not None:
        return _too_many(request, trial, language, wait)
    data = joining.JoinInput(
        language=language,
        answers=state["answers"],
        screened_at=datetime.fromisoformat(state["screened_at"]),
        document_version=state["version"],
        statements=state["statements"],
        signed_name=state["signed_name"],
        signed_at=datetime.fromisoformat(state["signed_at"]),
        contact=ContactInput(
            full_name=state["signed_name"],
            email=email,
            phone=form.cleaned_data["phone"],
            timezone=form.cleaned_data["timezone"],
        ),
    )
    try:
        joining.join_apply(trial=trial, data=data)
    except DomainError as exc:
        if exc.field == "contact.phone":
            with translation.override(language):
                form.add_error("phone", _("Please check this phone number, or leave it empty."))
            return _contact_page(request, trial, language, state, form, status=400)
        if exc.code == "changed":
            return _consent_page(request, trial, language, state, None, status=409)
        logger.warning("An online application to trial %s was refused: %s", trial.slug, exc.code)
        return _expired_form(request, trial)
    return done


@never_cache
@require_safe
def check_email(request: HttpRequest, slug: str) -> HttpResponse:
    trial = _trial(slug)
    if trial is None:
        return _unavailable(request)
    context = {"hours": settings.JOIN_VERIFY_HOURS}
    return _page(request, trial, _language(request, trial), "check_email.html", context)


OUTCOME_STATUS = {"invalid": 404, "used": 410, "expired": 410, "closed": 410, "changed": 409}


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    trial = Trial.objects.filter(slug=slug).first()
    if trial is None:
        return _unavailable(request)
    address = client_ip(request)
    rate = throttling.Rate.parse(settings.JOIN_RATES["verify"])
    wait = throttling.exceeded("join-verify", address, rate)
    found = joining.verification_find(trial=trial, token=token)
    language = _language(request, trial, found.application.language if found.application else None)
    if wait is not None:
        return _too_many(request, trial, language, wait)
    if found.outcome == "invalid":
        throttling.hit("join-verify", address, rate)
    if request.method != "POST" or found.outcome != "pending":
        # A link opened shows a button: mail scanners that open links do not use it up.
        status = OUTCOME_STATUS.get(found.outcome, 200)
        return _page(request, trial, language, "verify.html", {"outcome": found.outcome}, status=status)
    result = joining.join_verify(trial=trial, token=token)
    context: dict[str, Any] = {"outcome": result.outcome}
    if result.application is not None and result.outcome in ("enrolled", "review"):
        context["copy"] = signing.dumps(result.application.pk, salt=f"join-copy:{trial.slug}")
    return _page(request, trial, language, "verified.html", context, status=OUTCOME_STATUS.get(result.outcome, 200))


@never_cache
@require_POST
def copy(request: HttpRequest, slug: str) -> HttpResponse:
    """The PDF of the signed consent, from the button on the confirmation page."""
    trial = Trial.objects.filter(slug=slug).first()
    if trial is None:
        return _unavailable(request)
    try:
        pk = signing.loads(request.POST.get("copy", ""), salt=f"join-copy:{trial.slug}", max_age=COPY_MAX_AGE)
    except signing.BadSignature:
        return _expired_form(request, trial)
    application = JoinApplication.objects.select_related("trial", "document").filter(pk=pk, trial=trial).first()
    if application is None:
        return _expired_form(request, trial)
    response = HttpResponse(consent_copy_pdf(application), content_type="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{consent_copy_filename(application)}"'
    return response


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return _unavailable(request)
