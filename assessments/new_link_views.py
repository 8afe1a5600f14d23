""" "Send me a new link" (``/q/new-link/``): the form on the link problem pages, and its own page for a
participant who has no link at all. The answer is the same page whatever was typed, matched or not, and it
comes back before anything is looked up: the lookup and the queueing run once the response has gone
(assessments/services/new_link.py). Requests are limited per e-mail address or phone number and per client;
nothing is logged that holds what was typed. Plain HTML forms: no JavaScript needed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from assessments.services.new_link import contact_parse, new_link_request_quietly
from assessments.views import _page, problem
from trial import throttling
from trial.throttling import client_ip

DEFAULT_RATES = {"new_link_contact": "3/hour", "new_link_client": "10/hour"}
INPUT_ERRORS = {
    "empty": _("Enter the e-mail address or mobile phone number the study has for you."),
    "too_long": _("That is too long for an e-mail address or phone number."),
    "email": _("Enter an e-mail address like name@example.com."),
    "phone": _("Enter a phone number with its area code, like 555 123 4567, or an e-mail address."),
}


def _rate(name: str) -> throttling.Rate:
    return throttling.Rate.parse(settings.PARTICIPANT_PAGE_RATES.get(name, DEFAULT_RATES[name]))


def _form_page(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    response = _page(request, "new_link.html", context, visit=None, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def new_link(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _form_page(request, {})
    language = request.POST.get("language", "")
    if language in dict(settings.LANGUAGES):  # the language of the page the form was on
        translation.activate(language)
    typed = request.POST.get("contact", "")
    try:
        contact = contact_parse(typed)
    except ValueError as exc:
        error = INPUT_ERRORS[str(exc)]
        return _form_page(request, {"contact_error": error, "contact_value": typed[:254]}, status=400)
    # The client first: someone trying many addresses is stopped before any address is counted.
    wait = throttling.hit("new-link-client", client_ip(request), _rate("new_link_client"))
    wait = wait or throttling.hit("new-link-contact", contact.identity, _rate("new_link_contact"))
    if wait is not None:
        return problem(request, "too_many", retry_after=wait)
    response = _form_page(request, {"sent": True})
    # After the response has gone: the server closes it, which runs its closers (Django's own hook for file
    # responses) and then signals request_finished, which delivers what the lookup queued. The page and its
    # timing are the same whether or not the details matched.
    closers: list[Callable[[], None]] = response._resource_closers  # type: ignore[attr-defined]
    closers.append(partial(new_link_request_quietly, contact))
    return response
