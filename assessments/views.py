"""The participant's questionnaire pages, opened from the link in an invitation (``/q/<token>/``).

A link opens one visit of one participant. The overview lists the visit's questionnaires, each
questionnaire has its own page (``/q/<token>/<code>/``), and the visit ends on a thank-you page. Pages
are plain HTML forms (no JavaScript needed); answers are written only through the submission services,
which score them and raise safety alerts. Every page shows crisis resources, and once an answer raised a
suicidal-ideation flag the pages of the visit show them at the top, as an alert.

Pages are in the participant's language (``Participant.language``), the questionnaires too: a
questionnaire whose wording is not installed in that language is never shown with a placeholder; the
participant gets an apology (503) and the error is logged for the study team.

A participant never sees an error page: a bad, expired or closed link gets a friendly page with 404 or
410, a second, different submission a friendly 409, too many requests (per link, or unknown links per
address: trial/throttling.py) a friendly 429. Pages never show the arm, contact details or anybody
else's data. Answers that are not recorded (sent through a link that expired, to a visit that closed, on a
page with a question left out) still raise the alert a risk signal in them calls for.
"""

from __future__ import annotations

import logging
from collections.abc import KeysView
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from assessments.crisis import crisis_resources_for
from assessments.forms import QuestionnaireForm
from assessments.instruments import Instrument, UnknownInstrumentError, WordingNotInstalled, get_instrument
from assessments.models import (
    AccessLink,
    AssessmentStatus,
    DraftAnswers,
    Response,
    ResponseSource,
    ScheduledAssessment,
)
from assessments.schedule import visit_label, window_end
from assessments.services import links
from assessments.services.scheduling import participant_tz
from assessments.services.submission import draft_save, response_submit, unrecorded_signal_raise
from trial import throttling
from trial.errors import Conflict, DomainError
from trial.models import Trial
from trial.throttling import client_ip

logger = logging.getLogger(__name__)

# The flags after which the participant is shown crisis resources at once (PHQ-9 item 9 >= 1).
CRISIS_FLAGS = frozenset({"suicidal_ideation", "suicidal_ideation_severe"})


# --------------------------------------------------------------------------------------------------
# Friendly pages for links that cannot be used
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    status: int
    title: Any
    message: Any


PROBLEMS = {
    "invalid": Problem(
        404,
        _("This link does not work"),
        _(
            "Please check that you opened the whole link from your message. If it still does not work, "
            "contact the study team."
        ),
    ),
    "expired": Problem(
        410,
        _("This link has expired"),
        _(
            "The time for these questionnaires has ended, so the link no longer works. If you think this is "
            "a mistake, please contact the study team."
        ),
    ),
    "replaced": Problem(
        410,
        _("This link has been replaced"),
        _(
            "We have sent you a newer message about these questionnaires, with a new link: please open the "
            "link in the latest message. Your answers so far are kept. If you cannot find it, contact the "
            "study team for a new link."
        ),
    ),
    "closed": Problem(
        410,
        _("This questionnaire is closed"),
        _("These questionnaires can no longer be filled in. There is nothing more you need to do here."),
    ),
    "not_open": Problem(
        404,
        _("These questionnaires are not open yet"),
        _("We will send you a message when they open."),
    ),
    "not_found": Problem(
        404,
        _("Page not found"),
        _("This page is not part of your questionnaires."),
    ),
    "already_submitted": Problem(
        409,
        _("Already submitted"),
        _(
            "You have already sent your answers to this questionnaire, and we have kept them. They cannot be "
            "changed here; if something needs correcting, please contact the study team."
        ),
    ),
    "too_many": Problem(
        429,
        _("Too many attempts"),
        _("Please wait a minute and try again. If this keeps happening, please contact the study team."),
    ),
    "unavailable": Problem(
        503,
        _("This questionnaire cannot be shown right now"),
        _(
            "Something on our side is not ready, so we cannot show you these questions yet. The study team "
            "has been told and will put it right. Your answers so far are kept. Please try your link again "
            "later; there is nothing you need to do now."
        ),
    ),
    "csrf": Problem(
        403,
        _("Please try again"),
        _(
            "We could not accept this form. Please make sure cookies are allowed in your browser, reload the "
            "page and send your answers again."
        ),
    ),
}


# --------------------------------------------------------------------------------------------------
# The visit behind a link
# --------------------------------------------------------------------------------------------------


@dataclass
class Visit:
    """The visit behind a link. What is answered and what is started are read when first asked for (a
    submitted form needs neither before the service has run), and read again after a change."""

    token: str
    link: AccessLink
    _latest: dict[str, list[str]] | None = field(default=None, repr=False)
    _started: set[str] | None = field(default=None, repr=False)

    @property
    def assessment(self) -> ScheduledAssessment:
        return self.link.assessment

    @property
    def trial(self) -> Trial:
        return self.assessment.participant.trial

    @property
    def codes(self) -> list[str]:
        return [str(code) for code in self.assessment.instruments]

    @property
    def language(self) -> str:
        """The participant's language: the pages and the questionnaires' wording are in it."""
        return str(self.assessment.participant.language or "en")

    def _current_flags(self) -> dict[str, list[str]]:
        """Each answered questionnaire's flags, of its current version (a correction can clear a flag)."""
        if self._latest is None:
            rows = Response.objects.filter(assessment=self.assessment).order_by("instrument_code", "version")
            self._latest = {code: list(flags or []) for code, flags in rows.values_list("instrument_code", "flags")}
        return self._latest

    @property
    def done(self) -> KeysView[str]:
        return self._current_flags().keys()

    @property
    def flagged(self) -> bool:
        """Whether a current answer raised a crisis flag."""
        return any(CRISIS_FLAGS & set(flags) for flags in self._current_flags().values())

    @property
    def started(self) -> set[str]:
        if self._started is None:
            drafts = DraftAnswers.objects.filter(assessment=self.assessment)
            self._started = set(drafts.values_list("instrument_code", flat=True))
        return self._started

    def changed(self) -> None:
        """Answers were submitted or kept: what was read is out of date."""
        self._latest = self._started = None

    def next_code(self) -> str | None:
        return next((code for code in self.codes if code not in self.done), None)

    def overview_url(self) -> str:
        return reverse("assessments:overview", kwargs={"token": self.token})

    def page_url(self, code: str) -> str:
        return reverse("assessments:questionnaire", kwargs={"token": self.token, "code": code})

    def next_url(self) -> str:
        code = self.next_code()
        return self.page_url(code) if code else self.overview_url()


def _open_visit(request: HttpRequest, token: str, *, posted: str | None = None) -> Visit | HttpResponse:
    """The visit behind a link, or the friendly page saying why it cannot be used. ``posted`` names the
    questionnaire whose answers were sent: a visit that cannot take them records nothing, but a risk signal
    in them still reaches a clinician."""
    # Guessing links: an address that sent too many unknown ones is turned away, known links or not.
    address = client_ip(request)
    wait = throttling.exceeded("q-bad-link", address, _rate("bad_link"))
    wait = wait or throttling.hit("q-link", token, _rate("link"))
    if wait is not None:
        held = links.link_find(token=token) if posted is not None else None
        if held is not None:  # turned away, but a risk signal in the answers still reaches a clinician
            _unrecorded_signal(request, held.assessment, posted or "", "Refused: too many requests")
        return problem(request, "too_many", retry_after=wait)
    link = links.link_resolve(token=token)
    if link is None:
        found = links.link_find(token=token)
        if found is None:
            return _unknown_link(request, address)  # the token is nobody's: there is nobody to raise a signal for
        use_language(found.assessment.participant.language)  # the page saying why, in the participant's
        refusal = links.link_refusal(token=token)  # replaced by a newer message's link, or expired
        if posted is not None:
            _unrecorded_signal(request, found.assessment, posted, f"Refused: the link was {refusal}")
        return problem(request, refusal)
    visit = Visit(token=token, link=link)
    if visit.trial.simulated:  # a simulated trial's participants are fictional: its links open nothing
        return problem(request, "invalid")
    use_language(visit.assessment.participant.language)
    status = visit.assessment.status
    if status in (AssessmentStatus.MISSED, AssessmentStatus.CANCELLED, AssessmentStatus.SCHEDULED):
        if posted is not None:
            _unrecorded_signal(request, visit.assessment, posted, f"Refused: the visit is {status}")
        return problem(request, "not_open" if status == AssessmentStatus.SCHEDULED else "closed", visit=visit)
    return visit


def _unrecorded_signal(request: HttpRequest, assessment: ScheduledAssessment, code: str, why: str) -> None:
    """Answers sent on a page that is not recorded still raise the alert a risk signal in them calls for:
    a safety item answered with one of its options, whatever the rest of the page holds. A safety item left
    out raises nothing here: the page asks for it again."""
    instrument = _instrument(code) if code in assessment.instruments else None
    if instrument is None:
        return
    answers = QuestionnaireForm(request.POST, instrument=instrument).answers_given()
    unrecorded_signal_raise(assessment=assessment, instrument_code=code, answers=answers, why=why, answered_only=True)


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def use_language(language: str) -> None:
    """Pages, errors and crisis resources in the participant's language (``Participant.language``), for the
    rest of this request (LocaleMiddleware chooses again at the next one); a language the deployment does
    not ship leaves the one the browser asked for."""
    if language in dict(settings.LANGUAGES):
        translation.activate(language)


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, visit: Visit | None, status: int = 200
) -> HttpResponse:
    # The trial's title is not shown: a scientific title names the arms ("chatbot versus waitlist").
    trial = visit.trial if visit is not None else None
    if visit is not None:
        use_language(visit.assessment.participant.language)
    context = {
        "visit": visit,
        "crisis_resources": crisis_resources_for(trial),
        "crisis_alert": bool(visit and visit.flagged),
        **context,
    }
    with translation.override(visit.language if visit is not None else translation.get_language()):
        response = render(request, f"assessments/{template}", context, status=status)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def problem(
    request: HttpRequest, kind: str, *, visit: Visit | None = None, retry_after: int | None = None
) -> HttpResponse:
    info = PROBLEMS[kind]
    context = {"title": info.title, "message": info.message, "kind": kind}
    if visit is not None and kind in ("not_found", "already_submitted"):
        context["continue_url"] = visit.overview_url()
    response = _page(request, "problem.html", context, visit=visit, status=info.status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _rate(name: str) -> throttling.Rate:
    return throttling.Rate.parse(settings.PARTICIPANT_PAGE_RATES[name])


def _unknown_link(request: HttpRequest, address: str) -> HttpResponse:
    """The page for a link that does not exist, counted against the address that sent it."""
    wait = throttling.hit("q-bad-link", address, _rate("bad_link"))
    return problem(request, "too_many", retry_after=wait) if wait is not None else problem(request, "invalid")


def _last_day(assessment: ScheduledAssessment) -> tuple[date | None, datetime | None]:
    return window_end(assessment.closes_at, participant_tz(assessment.participant))


def _instrument(code: str) -> Instrument | None:
    try:
        return get_instrument(code)
    except UnknownInstrumentError:
        logger.error("A visit names instrument %r, which is not installed.", code)
        return None


def _unavailable(request: HttpRequest, visit: Visit, codes: list[str]) -> HttpResponse | None:
    """The apology page when a questionnaire of the visit still to be answered lacks wording in the
    participant's language (``codes``: those of the visit to check), else ``None``. Logged as an error for
    the study team, naming the visit by its numbers, never by the link."""
    missing = [
        code
        for code in codes
        if code not in visit.done
        and (instrument := _instrument(code)) is not None
        and not instrument.has_wording(visit.language)
    ]
    if not missing:
        return None
    assessment = visit.assessment
    logger.error(
        "Questionnaire wording missing: trial %s, participant %s, visit %s: %s not installed in %r. The "
        "participant was shown 'cannot be shown right now' (503). Install the wording (docs/instruments.md).",
        visit.trial.slug,
        assessment.participant.study_id or f"#{assessment.participant_id}",
        assessment.visit.code,
        ", ".join(missing),
        visit.language,
    )
    return problem(request, "unavailable", visit=visit)


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------


@never_cache
@require_safe
def visit_overview(request: HttpRequest, token: str) -> HttpResponse:
    visit = _open_visit(request, token)
    if isinstance(visit, HttpResponse):
        return visit
    if visit.assessment.status == AssessmentStatus.COMPLETED:
        return _page(request, "thanks.html", {}, visit=visit)
    unavailable = _unavailable(request, visit, visit.codes)
    if unavailable is not None:
        return unavailable
    questionnaires = []
    for code in visit.codes:
        instrument = _instrument(code)
        questionnaires.append(
            {
                "code": code,
                "name": instrument.short_name_in(visit.language) if instrument else code,
                "title": instrument.name_in(visit.language) if instrument else code,
                "done": code in visit.done,
                "started": code in visit.started,
                "url": visit.page_url(code),
            }
        )
    last_day, closes_at = _last_day(visit.assessment)
    context = {
        "questionnaires": questionnaires,
        "next_url": visit.next_url(),
        "any_started": bool(visit.done or visit.started),
        "saved": request.GET.get("saved") == "1",
        "last_day": last_day,
        "closes_at": closes_at,
        "visit_label": visit_label(visit.assessment.visit),
    }
    return _page(request, "overview.html", context, visit=visit)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def questionnaire(request: HttpRequest, token: str, code: str) -> HttpResponse:
    visit = _open_visit(request, token, posted=code if request.method == "POST" else None)
    if isinstance(visit, HttpResponse):
        return visit
    instrument = _instrument(code) if code in visit.codes else None
    if instrument is None:
        return problem(request, "not_found", visit=visit)
    if request.method == "POST":
        # Error messages are made as the form checks the answers: in the participant's language.
        with translation.override(visit.language):
            if request.POST.get("action") == "save":
                return _save_draft(request, visit, instrument)
            return _submit(request, visit, instrument)
    if visit.assessment.status == AssessmentStatus.COMPLETED or code in visit.done:
        return HttpResponseRedirect(visit.next_url())
    unavailable = _unavailable(request, visit, visit.codes)
    if unavailable is not None:
        return unavailable
    draft = DraftAnswers.objects.filter(assessment=visit.assessment, instrument_code=code).first()
    initial = QuestionnaireForm.initial_from(draft.answers) if draft else {}
    form = QuestionnaireForm(instrument=instrument, initial=initial, language=visit.language)
    return _questionnaire_page(request, visit, instrument, form)


INVALID_PAGE = "Refused: the page had a question left out or an answer not among its options"


def _submit(request: HttpRequest, visit: Visit, instrument: Instrument) -> HttpResponse:
    form = QuestionnaireForm(request.POST, instrument=instrument, language=visit.language)
    if not form.is_valid():
        _unrecorded_signal(request, visit.assessment, instrument.code, INVALID_PAGE)
        return _questionnaire_page(request, visit, instrument, form, status=400)
    try:
        # The service decides a repeat: the same answers again return the response already recorded.
        response_submit(
            assessment=visit.assessment,
            instrument_code=instrument.code,
            answers=form.answers(),
            source=ResponseSource.SURVEY,
        )
    except Conflict:
        return problem(request, "already_submitted", visit=visit)
    except DomainError as exc:
        if exc.code == "not_open":
            return problem(request, "closed", visit=visit)
        logger.warning("Survey submission of %s refused: %s", instrument.code, exc.message)
        form.add_error(None, _("Some answers could not be accepted. Please check them and send them again."))
        return _questionnaire_page(request, visit, instrument, form, status=400)
    visit.changed()
    return HttpResponseRedirect(visit.next_url())


def _save_draft(request: HttpRequest, visit: Visit, instrument: Instrument) -> HttpResponse:
    if instrument.code in visit.done:
        return HttpResponseRedirect(visit.overview_url())  # already kept in full; nothing to save
    form = QuestionnaireForm(request.POST, instrument=instrument, require_answers=False, language=visit.language)
    if not form.is_valid():
        _unrecorded_signal(request, visit.assessment, instrument.code, INVALID_PAGE)
        return _questionnaire_page(request, visit, instrument, form, status=400)
    try:
        draft_save(assessment=visit.assessment, instrument_code=instrument.code, answers=form.answers())
    except DomainError as exc:
        _unrecorded_signal(request, visit.assessment, instrument.code, f"Refused: {exc.message}")
        if exc.code == "not_open":
            return problem(request, "closed", visit=visit)
        logger.warning("Draft of %s refused: %s", instrument.code, exc.message)
        form.add_error(None, _("Some answers could not be saved. Please check them and try again."))
        return _questionnaire_page(request, visit, instrument, form, status=400)
    return HttpResponseRedirect(f"{visit.overview_url()}?saved=1")


def _questionnaire_page(
    request: HttpRequest, visit: Visit, instrument: Instrument, form: QuestionnaireForm, *, status: int = 200
) -> HttpResponse:
    try:
        with translation.override(visit.language):
            questions = form.questions()
            instructions = instrument.instructions_in(visit.language)
    except WordingNotInstalled:
        return _unavailable(request, visit, [instrument.code]) or problem(request, "unavailable", visit=visit)
    error_links = [(question.error, f"#{question.first_input_id}") for question in questions if question.error]
    context = {
        "instrument": instrument,
        "name": instrument.name_in(visit.language),
        "short_name": instrument.short_name_in(visit.language),
        "instructions": instructions,
        "wording_language": visit.language,
        "form": form,
        "questions": questions,
        "errors": [(str(message), "") for message in form.non_field_errors()] + error_links,
        "position": visit.codes.index(instrument.code) + 1,
        "count": len(visit.codes),
    }
    return _page(request, "questionnaire.html", context, visit=visit, status=status)


@never_cache
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other address under ``/q/``: the friendly page, not the site's bare 404. A link whose final
    slash got lost on the way (some SMS apps drop it) is sent on to the page it means."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        try:
            match = resolve(f"{request.path_info}/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            return HttpResponseRedirect(f"{request.path}/")
    return _unknown_link(request, client_ip(request))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF cookie (cookies blocked, a page left open for days): a friendly page.
    Meant for ``CSRF_FAILURE_VIEW``; it shows nothing of the visit, as the request proved nothing. The
    answers are not recorded, but a risk signal in them is raised: the link in the address names the
    participant as surely as on any other page (the cookie guards against other sites, which lack the link)."""
    if request.method == "POST":
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        if match is not None and match.func is questionnaire:
            link = links.link_find(token=match.kwargs["token"])
            if link is not None:
                why = "Refused: the form came without its cookie"
                _unrecorded_signal(request, link.assessment, match.kwargs["code"], why)
    return problem(request, "csrf")
