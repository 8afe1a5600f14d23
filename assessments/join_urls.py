"""The pages of joining a trial online, mounted at ``/join/`` (config/urls.py)."""

from django.urls import path

from assessments import join

app_name = "join"

urlpatterns = [
    path("<slug:slug>/", join.start, name="start"),
    path("<slug:slug>/questions/", join.questions, name="questions"),
    path("<slug:slug>/consent/", join.consent, name="consent"),
    path("<slug:slug>/contact/", join.contact, name="contact"),
    path("<slug:slug>/check-email/", join.check_email, name="check-email"),
    path("<slug:slug>/verify/<str:token>/", join.verify, name="verify"),
    path("<slug:slug>/copy/", join.copy, name="copy"),
    path("", join.not_found),
    path("<path:rest>", join.not_found),
]
