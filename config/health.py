"""``GET /health/``: whether this instance can serve, for load balancers and monitoring (docs/operator.md).

- 503 when the database does not answer, or the broker when ``REDIS_URL`` is set: the instance cannot
  serve, take it out.
- 200 with ``"status": "warn"`` when the platform as a whole is behind: the outbox's oldest due message
  has waited longer than ``HEALTH_OUTBOX_LAG_MINUTES``, or an urgent safety alert has gone unacknowledged
  longer than ``SAFETY_ESCALATION_HOURS_URGENT``. Every instance sees the same, so a load balancer must not
  act on it (it would take them all out, and the crisis resources with them); monitoring should page.
- Anyone gets the status alone. The checks (ages in seconds; no participant, trial or message, nothing
  personal) go to a platform administrator's session or to ``Authorization: Bearer <HEALTH_TOKEN>``.

Each check is one cheap query on an index (or a ping), so the endpoint can be polled every few seconds.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from participants.messaging import outbox_oldest_due
from participants.selectors import oldest_unacknowledged_urgent_alert
from trial import clock

BROKER_TIMEOUT_SECONDS = 2


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return {"status": "fail", "error": type(exc).__name__}
    return {"status": "ok"}


def _broker() -> dict[str, Any]:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except Exception as exc:
        return {"status": "fail", "error": type(exc).__name__}
    finally:
        client.close()
    return {"status": "ok"}


def _age(since: datetime | None, now: datetime, limit_seconds: float, field: str) -> dict[str, Any]:
    age = max(0, round((now - since).total_seconds())) if since is not None else None
    late = age is not None and age > limit_seconds
    return {"status": "warn" if late else "ok", field: age, "limit_seconds": round(limit_seconds)}


def _backlog() -> dict[str, dict[str, Any]]:
    now = clock.now()
    try:
        outbox_since, alert_since = outbox_oldest_due(now=now), oldest_unacknowledged_urgent_alert()
    except Exception as exc:
        failed = {"status": "fail", "error": type(exc).__name__}
        return {"outbox": failed, "urgent_safety_alerts": failed}
    return {
        "outbox": _age(outbox_since, now, settings.HEALTH_OUTBOX_LAG_MINUTES * 60, "lag_seconds"),
        "urgent_safety_alerts": _age(
            alert_since, now, settings.SAFETY_ESCALATION_HOURS_URGENT * 3600, "oldest_unacknowledged_seconds"
        ),
    }


def _may_see_details(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_superuser:
        return True
    token = settings.HEALTH_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, Any]] = {"database": _database()}
    if settings.REDIS_URL:
        checks["broker"] = _broker()
    if checks["database"]["status"] == "ok":
        checks.update(_backlog())
    statuses = {check["status"] for check in checks.values()}
    down = checks["database"]["status"] == "fail" or checks.get("broker", {}).get("status") == "fail"
    status = "fail" if down else "warn" if statuses - {"ok"} else "ok"
    body: dict[str, Any] = {"status": status}
    if _may_see_details(request):
        body["checks"] = checks
    return JsonResponse(body, status=503 if down else 200)
