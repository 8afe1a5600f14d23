"""Participant questionnaire pages, mounted at ``/q/`` (config/urls.py)."""

from django.urls import path

from assessments import new_link_views, views

app_name = "assessments"

urlpatterns = [
    # Before the links: a link's token is 43 characters, never this.
    path("new-link/", new_link_views.new_link, name="new-link"),
    path("<str:token>/", views.visit_overview, name="overview"),
    path("<str:token>/<slug:code>/", views.questionnaire, name="questionnaire"),
    path("", views.not_found),
    path("<path:rest>", views.not_found),
]
