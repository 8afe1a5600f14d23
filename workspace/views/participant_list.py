"""The participant list of a trial."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from participants.models import Participant
from workspace.access import Desk, trial_page


@trial_page()
def participants(request: HttpRequest, desk: Desk) -> HttpResponse:
    rows = (
        Participant.objects.filter(trial=desk.trial)
        .select_related("site", "allocation__arm")
        .prefetch_related("unblindings")
        .order_by("-screened_at", "-id")
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "workspace/participants.html", {"desk": desk, "page": page})


urls: list[URLPattern] = [path("participants/", participants, name="participants")]
