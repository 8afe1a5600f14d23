"""The trial dashboard: accrual against target, the screening-to-randomization funnel, visits due, overdue
and missed, questionnaire completion, failing messages and, for those who handle them, open safety alerts.

Every member of the trial sees it. Figures per arm appear only for readers who see arms by name; for
everyone else no query groups by arm, so their page is the same whatever the arms (workspace.selectors).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from trial import clock
from workspace import selectors
from workspace.access import Desk, trial_page
from workspace.charts import accrual_chart


@trial_page()
def dashboard(request: HttpRequest, desk: Desk) -> HttpResponse:
    now = clock.now()
    unit = "week" if request.GET.get("by") == "week" else "month"
    arms = selectors.trial_arms(desk)
    accrual = selectors.accrual(desk, unit=unit, arms=arms)
    strata, sites = selectors.strata_and_sites(desk, arms)
    context = {
        "desk": desk,
        "now": now,
        "arms": arms,
        "accrual": accrual,
        "chart": accrual_chart(accrual),
        "strata": strata,
        "sites": sites,
        "funnel": selectors.funnel(desk),
        "visits": selectors.visit_figures(desk, now),
        "messages_failing": selectors.failing_messages(desk),
        "alerts": selectors.open_alerts(desk, now),
    }
    return render(request, "workspace/dashboard.html", context)


urls: list[URLPattern] = [path("", dashboard, name="dashboard")]
