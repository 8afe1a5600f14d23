"""Rate limits: who the client is, and how often it may come.

``client_ip`` is the one answer to "which address is this" for the login lockout (django-axes), the API
throttles and the participant pages: ``REMOTE_ADDR``, or, behind ``TRUSTED_PROXY_COUNT`` reverse proxies
that append to ``X-Forwarded-For``, the address the outermost trusted proxy saw (a client can put anything
in that header, but not past the proxies).

``hit`` and ``exceeded`` count requests in fixed windows in the cache (Redis in production, local memory
embedded). Identities are hashed before they become cache keys, so a link token or an API key is never
stored in clear, not even in the cache. The API throttles are DRF classes whose rates come from
``settings.API_THROTTLE_RATES`` when a request is checked (so tests and deployments can change them).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions, throttling
from rest_framework.request import Request

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_ip(request: HttpRequest | Request) -> str:
    remote = str(request.META.get("REMOTE_ADDR") or "")  # none only in tests; the lockout stores it as null
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        forwarded = [part.strip() for part in header.split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return remote


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds``, written as DRF writes rates: ``30/minute``, ``300/hour``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, rate: str) -> Rate:
        count, _, period = rate.partition("/")
        seconds = PERIODS.get(period.strip()[:1])
        if not count.strip().isdigit() or int(count) < 1 or seconds is None:
            raise ValueError(f"{rate!r} is not a rate such as 30/minute (per second, minute, hour or day)")
        return cls(int(count), seconds)


def _key(scope: str, ident: str, rate: Rate, now: float) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}:{rate.seconds}:{int(now) // rate.seconds}"


def _retry_after(rate: Rate, now: float) -> int:
    return max(1, rate.seconds - int(now) % rate.seconds)


def exceeded(scope: str, ident: str, rate: Rate) -> int | None:
    """Seconds until ``ident`` may come again if it is over the rate in this window, else None."""
    now = time.time()
    count = cache.get(_key(scope, ident, rate, now), 0)
    return _retry_after(rate, now) if count >= rate.count else None


def hit(scope: str, ident: str, rate: Rate) -> int | None:
    """Count one request of ``ident``; the seconds to wait if it went over the rate, else None."""
    now = time.time()
    key = _key(scope, ident, rate, now)
    cache.add(key, 0, timeout=rate.seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=rate.seconds + 1)
        count = 1
    return _retry_after(rate, now) if count > rate.count else None


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What a locked-out login gets (``AXES_LOCKOUT_CALLABLE``): 429 with ``Retry-After``, a page for a
    browser, the API's error body for a client that asks for JSON."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response: HttpResponse
    if "json" in request.headers.get("Accept", "") or request.headers.get("X-Requested-With") == "XMLHttpRequest":
        detail = "Too many failed logins for this account from this address; try again later."
        response = JsonResponse({"detail": detail, "code": "locked_out"}, status=429)
    else:
        context = {"minutes": max(1, seconds // 60)}
        response = render(request, "registration/locked_out.html", context, status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


# --------------------------------------------------------------------------------------------------
# The API's throttles (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"])
# --------------------------------------------------------------------------------------------------


class _SettingsRate:
    """Reads the rate from ``settings.API_THROTTLE_RATES`` when asked, not when the class is imported, and
    knows the client by ``client_ip``."""

    scope: str

    def get_rate(self) -> str:
        return str(settings.API_THROTTLE_RATES[self.scope])

    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class _PerClient(_SettingsRate):
    """Signed-in callers by user; the chatbot service (no user row) by its key; others by address."""

    cache_format: str

    def get_cache_key(self, request: Request, view: Any) -> str:
        client = request.user
        if client is not None and client.is_authenticated:
            ident = str(getattr(client, "pk", None) or client.get_username())
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserThrottle(_PerClient, throttling.UserRateThrottle):
    """Signed-in callers (token or session), per user; the chatbot service per key."""

    scope = "user"


class ChatbotThrottle(_PerClient, throttling.UserRateThrottle):
    """The chatbot service, per key: it reports for every participant, so it has its own, higher rate."""

    scope = "chatbot"


class ScreeningThrottle(_PerClient, throttling.UserRateThrottle):
    """Screenings, per user: each one is a record kept for CONSORT, so a runaway script is stopped early."""

    scope = "screening"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST":
            return True
        return bool(super().allow_request(request, view))


def count_anonymous(request: Request) -> None:
    """A request that no token or session identified, per address. Counted while authenticating, since every
    API view needs a signed-in caller: DRF checks permissions (401) before throttles, so a throttle class
    would never see an anonymous request."""
    wait = hit("api-anon", client_ip(request), Rate.parse(settings.API_THROTTLE_RATES["anon"]))
    if wait is not None:
        raise exceptions.Throttled(wait)


def refuse_if_guessing(request: Request) -> None:
    """Before an API key or token is looked up: 429 for an address that sent too many that did not work."""
    wait = exceeded("bad-key", client_ip(request), Rate.parse(settings.API_THROTTLE_RATES["bad_token"]))
    if wait is not None:
        raise exceptions.Throttled(wait)


def count_bad_key(request: Request) -> None:
    """A key or token that did not work: counted for its address; 429 once that is too many."""
    wait = hit("bad-key", client_ip(request), Rate.parse(settings.API_THROTTLE_RATES["bad_token"]))
    if wait is not None:
        raise exceptions.Throttled(wait)
