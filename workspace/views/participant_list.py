"""The participant list of a trial: search, filters, newest screened first, 50 a page.

Only the trial's participants; filters offer the trial's own sites and strata. Name and e-mail are shown
and searched only for roles that may see contact details; everyone else searches by study ID, and the
page says so. With htmx the table refreshes in place (the filter form is an ordinary GET form without it).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.cache import patch_vary_headers

from participants.models import Status
from trial import clock
from trial.access import Capability
from trial.models import FactorLevel, Site
from workspace import selectors
from workspace.access import Desk, trial_page

PAGE_SIZE = 50


class ParticipantFilter(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices])
    site = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    stratum = forms.ChoiceField(required=False)
    visits = forms.ChoiceField(required=False, choices=[("", "Any"), *selectors.VisitState.choices])

    def __init__(self, *args: Any, desk: Desk, sites: list[Site], levels: list[FactorLevel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget = forms.TextInput(attrs={"type": "search", "aria-describedby": "q-help"})
        self.fields["q"].help_text = (
            "Study ID, name or e-mail."
            if desk.can(Capability.VIEW_CONTACT)
            else "Study ID only (your role does not see names or e-mail addresses)."
        )
        cast(forms.ChoiceField, self.fields["site"]).choices = [
            ("", "Any site"),
            *((site.pk, site.name) for site in sites),
        ]
        several = len({level.factor_id for level in levels}) > 1
        cast(forms.ChoiceField, self.fields["stratum"]).choices = [
            ("", "Any stratum"),
            *(
                (f"{level.factor.code}:{level.code}", f"{level.factor.name}: {level.label}" if several else level.label)
                for level in levels
            ),
        ]


@trial_page()
def participants(request: HttpRequest, desk: Desk) -> HttpResponse:
    sites = list(Site.objects.filter(trial=desk.trial).order_by("code"))
    levels = list(
        FactorLevel.objects.filter(factor__trial=desk.trial)
        .select_related("factor")
        .order_by("factor__order", "factor__id", "order", "id")
    )
    form = ParticipantFilter(request.GET or None, desk=desk, sites=sites, levels=levels)
    form.is_valid()  # a value that is not one of this trial's is shown as an error and ignored, alone
    chosen: dict[str, Any] = getattr(form, "cleaned_data", {})
    stratum = chosen.get("stratum") or ""
    rows = selectors.participant_rows(
        desk,
        now=clock.now(),
        search=(chosen.get("q") or "").strip(),
        status=chosen.get("status") or "",
        site=chosen.get("site"),
        stratum=(stratum.split(":", 1)[0], stratum.split(":", 1)[-1]) if stratum else None,
        visit_state=chosen.get("visits") or "",
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = {(level.factor.code, level.code): level.code for level in levels}
    for participant in page:
        participant.stratum_text = ", ".join(  # type: ignore[attr-defined]
            labels.get((factor, level), level) for factor, level in sorted((participant.strata or {}).items())
        )
    context = {
        "desk": desk,
        "form": form,
        "page": page,
        "filtered": any(chosen.get(name) for name in ("q", "status", "site", "stratum", "visits")),
        "sees_contact": desk.can(Capability.VIEW_CONTACT),
    }
    partial = request.htmx and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    template = "workspace/_participant_table.html" if partial else "workspace/participants.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


urls: list[URLPattern] = [path("participants/", participants, name="participants")]
