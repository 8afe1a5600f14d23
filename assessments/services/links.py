"""Unguessable links for participants: 256 random bits, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings

from assessments.models import AccessLink, ScheduledAssessment
from trial import clock

# When a link was last used is kept to the minute: the pages of one sitting (a form per questionnaire)
# then write it once, not on every page.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_create(*, assessment: ScheduledAssessment) -> str:
    """A new link to the assessment, valid until its window closes. Returns the full URL."""
    token = secrets.token_urlsafe(32)
    AccessLink.objects.create(assessment=assessment, token_hash=_digest(token), expires_at=assessment.closes_at)
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/q/{token}/"


def link_find(*, token: str) -> AccessLink | None:
    """The link behind a token, expired or not: answers sent through a link that expired are not recorded,
    but it still says whose they are, so a risk signal in them can reach a clinician."""
    if not token or len(token) > 100:
        return None
    return (
        AccessLink.objects.select_related("assessment__participant", "assessment__visit")
        .filter(token_hash=_digest(token))
        .first()
    )


def link_resolve(*, token: str) -> AccessLink | None:
    """The link behind a token, or None if the token is unknown or expired."""
    if not token or len(token) > 100:
        return None
    link = (
        AccessLink.objects.select_related("assessment__participant__trial", "assessment__visit")
        .filter(token_hash=_digest(token))
        .first()
    )
    now = clock.now()
    if link is None or link.expires_at <= now:
        return None
    if link.last_used_at is None or now - link.last_used_at >= LAST_USED_PRECISION:
        AccessLink.objects.filter(pk=link.pk).update(last_used_at=now)
        link.last_used_at = now
    return link
