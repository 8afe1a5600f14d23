"""Middleware of the whole site."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """No browser or proxy keeps a copy of any page or API response: most carry personal data (contact
    details, answers, exports, the audit trail), and a shared phone's browser or a proxy's cache must not
    keep them. A response that set its own ``Cache-Control`` keeps it. Static files are served before
    Django's middleware (runserver's handler, or the web server in production) and stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        if "no-store" in response["Cache-Control"]:
            response.headers.setdefault("Pragma", "no-cache")  # HTTP/1.0 caches
        return response
