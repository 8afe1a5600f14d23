"""/workspace/: the study team's pages. Trial pages live under /workspace/<trial-slug>/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from workspace.views import (
    adverse_events,
    dashboard,
    enrollment,
    home,
    messages,
    participant,
    participant_list,
    recruitment,
    safety,
)

app_name = "workspace"

trial_urls: list[URLPattern | URLResolver] = [
    *dashboard.urls,
    *participant_list.urls,
    *participant.urls,
    *messages.urls,
    *safety.urls,
    *adverse_events.urls,
    *enrollment.urls,
    *recruitment.urls,
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home.index, name="index"),
    path("safety/", safety.all_trials_queue, name="safety-queue"),
    path("<slug:slug>/", include(trial_urls)),
]
