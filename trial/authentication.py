"""``Authorization: Token <key>``: people's API tokens, stored hashed and expiring (trial.services.api_token_*).

A client that keeps sending keys that do not work is throttled by address (``API_THROTTLE_RATES["bad_token"]``,
shared with the chatbot's Api-Key): past that many in a window it gets 429 until the window ends,
whatever key it sends. This module is
imported while DRF sets itself up, so it imports no views.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from trial import services, throttling
from trial.models import ApiToken


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0] != self.keyword:
            return None
        throttling.refuse_if_guessing(request)
        token = services.api_token_resolve(header[1]) if len(header) == 2 else None
        if token is None:
            throttling.count_bad_key(request)
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("Send the header as: Authorization: Token <key>.")
            raise exceptions.AuthenticationFailed("Unknown, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class AnonymousRate(authentication.BaseAuthentication):
    """Last in the list: a request that no token or session identified counts against the anonymous rate per
    address (``API_THROTTLE_RATES["anon"]``), then goes on as anonymous (and gets 401 from the view)."""

    def authenticate(self, request: Request) -> None:
        throttling.count_anonymous(request)
        return None
