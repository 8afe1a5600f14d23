"""Staff sessions end after SESSION_COOKIE_AGE whatever happens (default 8 hours), and sooner when idle for
SESSION_IDLE_MINUTES (default 30). Participants have no session login (they use links), so this concerns
the people who log in at /admin/ or /api-auth/login/.

Django's own expiry restarts whenever the session is saved, so the two limits are kept here, from times
in the session: when it was signed in (``mark_signed_in``, on Django's ``user_logged_in``), and when it
was last used (written at most once a minute).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from trial import clock

SIGNED_IN = "trial_signed_in_at"
LAST_SEEN = "trial_last_seen_at"


def mark_signed_in(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = clock.now().timestamp()
        request.session[SIGNED_IN] = request.session[LAST_SEEN] = now


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and hasattr(request, "session"):
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = clock.now().timestamp()
        session = request.session
        signed_in = session.setdefault(SIGNED_IN, now)
        last_seen = session.get(LAST_SEEN, now)
        idle = settings.SESSION_IDLE_MINUTES * 60
        if now - signed_in > settings.SESSION_COOKIE_AGE or (idle and now - last_seen > idle):
            logout(request)  # the request goes on signed out: the admin asks for a login, the API says 401/403
            return
        if LAST_SEEN not in session or now - last_seen >= 60:
            session[LAST_SEEN] = now
