"""Single sign-on for staff over OpenID Connect (mozilla-django-oidc), on when ``OIDC_RP_CLIENT_ID`` is set.

The identity provider vouches for an e-mail address; it maps to the one existing, active account with
that address (case-insensitive), and only when the provider says the address is verified. Signing in
never grants a role in a trial, and never creates an account unless ``OIDC_CREATE_USER`` says so (the new
account then has no staff status and no trial). A refusal shows a page saying why
(docs/operator.md, "Single sign-on").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

logger = logging.getLogger(__name__)

REFUSED_SESSION_KEY = "oidc_refused"
REFUSALS = {
    "unverified": "{provider} has not verified your e-mail address, so it cannot be matched to an account "
    "here. Verify it with {provider}, then try again.",
    "unknown": "No account here has the e-mail address {provider} gave. An administrator must create your "
    "account with that address first: signing in does not create one.",
    "ambiguous": "More than one account here has the e-mail address {provider} gave, so it is not clear "
    "which is yours. Ask an administrator to give each account its own address.",
    "inactive": "Your account here is deactivated. Ask an administrator.",
    "failed": "Signing in with {provider} did not succeed. Please try again.",
}


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """Maps a verified e-mail from the identity provider to one existing, active user."""

    def verify_token(self, token: str, **kwargs: Any) -> Any:
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        if self.OIDC_RP_CLIENT_ID not in (audience if isinstance(audience, list) else [audience]):
            raise SuspiciousOperation("The ID token was issued to another client.")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        if not claims.get("sub") or claims.get("sub") != payload.get("sub"):
            return self._refuse("failed", "the user info is about another subject than the ID token")
        if claims.get("email_verified") is not True:
            return self._refuse("unverified", "the provider did not verify the e-mail address")
        email = str(claims.get("email") or "").strip()
        users = list(get_user_model().objects.filter(email__iexact=email)[:2]) if email else []
        if len(users) > 1:
            return self._refuse("ambiguous", "several accounts have the e-mail address")
        if users and not users[0].is_active:
            return self._refuse("inactive", f"account {users[0].pk} is deactivated")
        if users:
            return users[0]
        if settings.OIDC_CREATE_USER:
            return self.create_user(claims)
        return self._refuse("unknown", "no account has the e-mail address")

    def _refuse(self, reason: str, why: str) -> None:
        logger.warning("Single sign-on refused: %s.", why)
        self.request.session[REFUSED_SESSION_KEY] = reason
        return None


def _when_enabled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return view(request, *args, **kwargs)

    return wrapped


authenticate = _when_enabled(OIDCAuthenticationRequestView.as_view())
callback = _when_enabled(OIDCAuthenticationCallbackView.as_view())


@_when_enabled
def refused(request: HttpRequest) -> HttpResponse:
    """Where a refused or failed sign-in lands (LOGIN_REDIRECT_URL_FAILURE)."""
    reason = request.session.pop(REFUSED_SESSION_KEY, "failed")
    message = REFUSALS.get(reason, REFUSALS["failed"]).format(provider=settings.OIDC_PROVIDER_NAME)
    context = {**admin.site.each_context(request), "title": "Sign-in refused", "message": message}
    return TemplateResponse(request, "admin/oidc_refused.html", context, status=403)


def single_sign_on(request: HttpRequest) -> dict[str, str]:
    """Template context: the provider's name when single sign-on is on (the admin login page links to it)."""
    return {"single_sign_on": settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else ""}
