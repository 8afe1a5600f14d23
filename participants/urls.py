"""Twilio's callbacks (participants.views), mounted at /sms/."""

from django.urls import URLPattern, path

from participants import views

app_name = "sms"

urlpatterns: list[URLPattern] = [
    path("status/", views.status, name="status"),
    path("inbound/", views.inbound, name="inbound"),
]
