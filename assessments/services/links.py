"""Unguessable links for participants: 256 random bits, stored hashed.

A visit has one live link per channel (e-mail, SMS). A stored hash cannot be sent again, so every message
(invitation, reminder, a resend) mints a new link and the earlier ones sent the same way are replaced:
opening an older message then shows a page saying to use the latest one, where the answers kept so far
are waiting.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from assessments.models import AccessLink, ScheduledAssessment
from trial import clock

# When a link was last used is kept to the minute: the pages of one sitting (a form per questionnaire)
# then write it once, not on every page.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lock(assessment_id: int) -> None:
    ScheduledAssessment.objects.select_for_update().only("pk").get(pk=assessment_id)


@transaction.atomic
def link_create(*, assessment: ScheduledAssessment, channel: str = "email") -> str:
    """A new link to the assessment, valid until its window closes; the visit's earlier links sent by the
    same channel (e-mail or SMS) are replaced. Returns the full URL. The visit's row is locked first, so two
    messages minted at once (the reminder sweep and a resend) leave one live link per channel: the later
    one's (a constraint holds it too)."""
    _lock(assessment.pk)
    now = clock.now()
    AccessLink.objects.filter(assessment=assessment, channel=channel, replaced_at__isnull=True).update(replaced_at=now)
    token = secrets.token_urlsafe(32)
    AccessLink.objects.create(
        assessment=assessment,
        token_hash=_digest(token),
        created_at=now,
        expires_at=assessment.closes_at,
        channel=channel,
    )
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


@transaction.atomic
def link_retract(*, url: str) -> None:
    """Undo ``link_create`` for a message that could not be sent: its link is deleted (nobody has it) and,
    if it was the live one, the link it replaced works again, so a failed reminder does not take away
    the link the participant already has."""
    token = url.rstrip("/").rsplit("/", 1)[-1]
    link = AccessLink.objects.filter(token_hash=_digest(token)).first()
    if link is None:
        return
    _lock(link.assessment_id)
    link = AccessLink.objects.filter(pk=link.pk).first()
    if link is None:
        return
    was_live = link.replaced_at is None
    link.delete()
    if was_live:
        previous = (
            AccessLink.objects.filter(assessment_id=link.assessment_id, channel=link.channel)
            .order_by("-created_at", "-pk")
            .first()
        )
        if previous is not None and previous.revoked_at is None:
            AccessLink.objects.filter(pk=previous.pk).update(replaced_at=None)


@transaction.atomic
def links_revoke(*, assessment: ScheduledAssessment) -> int:
    """Stop every link to the visit at once (staff issue a new one: the old one was forwarded, or lost). A
    revoked link opens the page saying a newer message carries the link, and a send that fails afterwards
    never brings it back (``link_retract``). Returns how many links were still live."""
    _lock(assessment.pk)
    now = clock.now()
    links = AccessLink.objects.filter(assessment=assessment, revoked_at__isnull=True)
    live = links.filter(replaced_at__isnull=True).update(replaced_at=now, revoked_at=now)
    links.update(revoked_at=now)
    return live


def link_refusal(*, token: str) -> str:
    """Why a token opens nothing: ``invalid`` (no such link), ``replaced`` (a newer message carries the
    visit's link) or ``expired`` (the window has closed)."""
    if not token or len(token) > 100:
        return "invalid"
    link = AccessLink.objects.filter(token_hash=_digest(token)).only("replaced_at", "expires_at").first()
    if link is None:
        return "invalid"
    if link.replaced_at is not None and link.expires_at > clock.now():
        return "replaced"
    return "expired"


def link_resolve(*, token: str) -> AccessLink | None:
    """The link behind a token, or None if the token is unknown, replaced or expired."""
    if not token or len(token) > 100:
        return None
    link = (
        AccessLink.objects.select_related("assessment__participant__trial", "assessment__visit")
        .filter(token_hash=_digest(token))
        .first()
    )
    now = clock.now()
    if link is None or link.replaced_at is not None or link.expires_at <= now:
        return None
    if link.last_used_at is None or now - link.last_used_at >= LAST_USED_PRECISION:
        AccessLink.objects.filter(pk=link.pk).update(last_used_at=now)
        link.last_used_at = now
    return link
