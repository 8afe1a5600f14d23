"""Two-factor login for staff (django-otp, TOTP), as ``STAFF_2FA`` says:

- ``required``: whoever holds, in any trial, a role that sees contact details or can unblind
  (access.needs_two_factor: coordinator, investigator, safety clinician, administrator; superusers)
  enrolls an authenticator app and enters its code after the password, before anything else;
- ``optional``: whoever enrolled a device enters its code; nobody has to enroll;
- ``off``: no second factor.

The middleware sends a signed-in, unverified session that needs the second factor to ``/account/2fa/``
(the API answers 403 ``two_factor_required``, except to a browser, which is redirected too). That page
shows a new device's QR code (SVG, made here) and key until its first code confirms it, and asks for a
code after that. A wrong code counts as a
failed login for the lockout (django-axes), as a wrong password does; django-otp also slows down
repeated failures on a device. API tokens are not asked for a code: one is created from a session that
passed the second factor, so it carries it (docs/operator.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from trial import access, throttling

MODES = ("required", "optional", "off")
# Pages a signed-in, unverified user may still open: the second-factor page itself and logging out.
OIDC_BACKEND = "trial.oidc.StaffOIDCBackend"
OPEN_PATHS = ("/account/2fa/", "/admin/logout/", "/api-auth/logout/", "/static/")


def must_verify(request: HttpRequest) -> bool:
    """Whether this session must pass the second factor before it goes on."""
    user: Any = request.user  # with is_verified() from django-otp's middleware
    mode = settings.STAFF_2FA
    if mode == "off" or not user.is_authenticated or user.is_verified():
        return False
    if settings.OIDC_SATISFIES_2FA and request.session.get(BACKEND_SESSION_KEY) == OIDC_BACKEND:
        return False  # the identity provider's multi-factor policy stands in for ours (docs/operator.md)
    if TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists():
        return True
    return mode == "required" and access.needs_two_factor(user)


class TwoFactorMiddleware:
    """After django-otp's OTPMiddleware, which tells whether the session passed the second factor."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        # An API request with a token or key is authenticated by that alone (DRF refuses a bad one rather
        # than fall back to the session); participant pages have no login.
        keyword = request.headers.get("Authorization", "").split(" ")[0]
        by_key = path.startswith("/api/") and keyword in ("Token", "Api-Key")
        if not (by_key or path.startswith(OPEN_PATHS) or path.startswith("/q/")) and must_verify(request):
            if path.startswith("/api/") and "text/html" not in request.headers.get("Accept", ""):
                detail = "Your roles need a second factor: enter your authenticator's code at /account/2fa/."
                return JsonResponse({"detail": detail, "code": "two_factor_required"}, status=403)
            return redirect_to_login(request.get_full_path(), login_url=reverse("two-factor"))
        return self.get_response(request)


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/admin/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return "/admin/"
    return target


def _qr_svg(device: TOTPDevice) -> str:
    return str(segno.make(device.config_url, error="m").svg_inline(scale=4, title="Authenticator QR code"))


@never_cache
@login_required(login_url="/admin/login/")
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enroll an authenticator app (first time) or enter its code (every login)."""
    user: Any = request.user
    confirmed = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()
    if user.is_verified():
        return HttpResponseRedirect(_next(request))
    device = confirmed or TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    credentials = {"username": user.get_username()}  # what the lockout counts by, with the address
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return throttling.lockout_response(request)
    error = ""
    if request.method == "POST":
        code = request.POST.get("code", "").strip().replace(" ", "")
        if code.isdigit() and device.verify_token(code):
            if not device.confirmed:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return HttpResponseRedirect(_next(request))
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return throttling.lockout_response(request)
        error = "That code is not right (or came too soon after a wrong one). Enter the current code."
    context = {
        "enrolling": not device.confirmed,
        "qr_svg": mark_safe(_qr_svg(device)) if not device.confirmed else "",  # noqa: S308  # segno's own SVG
        "secret": device.config_url.split("secret=")[1].split("&")[0] if not device.confirmed else "",
        "next": _next(request),
        "error": error,
        "title": "Two-factor authentication",
    }
    return render(request, "registration/two_factor.html", context, status=400 if error else 200)
