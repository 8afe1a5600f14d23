"""Participant questionnaire pages, mounted at ``/q/`` (config/urls.py)."""

from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("<str:token>/", views.visit_overview, name="overview"),
    path("<str:token>/<slug:code>/", views.questionnaire, name="questionnaire"),
    path("", views.not_found),
    path("<path:rest>", views.not_found),
]
