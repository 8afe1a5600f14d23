"""What browsers ask every site for: ``/favicon.ico`` and the web app manifest (``/manifest.webmanifest``)
with its icons. The files live with the static files (trial/static/site/), so they ship in the wheel and
collectstatic copies them; these views answer at the addresses browsers try on their own, whatever serves
/static/. Every page's <head> links them (trial/templates/site/_icons.html): no page draws a 404."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

DAY = 24 * 3600


@cache
def _bundled(name: str) -> bytes:
    found = finders.find(f"site/{name}")
    if not found:
        raise Http404(name)
    return Path(str(found)).read_bytes()


@require_safe
@cache_control(public=True, max_age=DAY)
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_bundled("favicon.ico"), content_type="image/x-icon")


def manifest_data() -> dict[str, object]:
    return {
        "name": "Trial platform",
        "short_name": "Trial",
        "start_url": "/",
        "scope": "/",
        # A browser tab, not an installed app: participants come from a link in a message, each time.
        "display": "browser",
        "background_color": "#ffffff",
        "theme_color": "#1f4e8c",
        "icons": [
            {"src": static("site/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("site/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static("site/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
            {"src": static("site/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }


@require_safe
@cache_control(public=True, max_age=DAY)
def manifest(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps(manifest_data(), indent=2), content_type="application/manifest+json")
