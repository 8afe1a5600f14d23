"""The workspace's front door: the trials the reader belongs to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from trial import access


@login_required
def index(request: HttpRequest) -> HttpResponse:
    trials = list(access.trials_for(request.user).order_by("title"))
    if len(trials) == 1:
        return redirect("workspace:dashboard", slug=trials[0].slug)
    return render(request, "workspace/index.html", {"trials": trials})
