"""/workspace/: the study team's pages. Trial pages live under /workspace/<trial-slug>/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from workspace.views import dashboard, enrollment, home, participant_list

app_name = "workspace"

trial_urls: list[URLPattern | URLResolver] = [
    *dashboard.urls,
    *participant_list.urls,
    *enrollment.urls,
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home.index, name="index"),
    path("<slug:slug>/", include(trial_urls)),
]
