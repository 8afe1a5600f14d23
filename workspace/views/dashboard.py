"""The trial dashboard."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from participants.models import Participant, Status
from workspace.access import Desk, trial_page


@trial_page()
def dashboard(request: HttpRequest, desk: Desk) -> HttpResponse:
    counts = dict(Participant.objects.filter(trial=desk.trial).values_list("status").annotate(n=Count("id")).order_by())
    by_status = [(label, counts.get(value, 0)) for value, label in Status.choices]
    return render(request, "workspace/dashboard.html", {"desk": desk, "by_status": by_status})


urls: list[URLPattern] = [path("", dashboard, name="dashboard")]
