"""The chatbot service as a client: keys, engagement sessions, crisis flags."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from participants.models import (
    AlertSource,
    ChatbotApiKey,
    ContactDetails,
    EngagementSession,
    Participant,
    SafetyAlert,
    Status,
)
from participants.services.safety import safety_alert_raise
from trial import clock
from trial.audit import Actor, audit_record
from trial.errors import DomainError
from trial.models import Trial

KEY_PREFIX = "tpk_"
REPORTABLE = (Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP, Status.COMPLETED)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def chatbot_key_create(*, trial: Trial, name: str, by: Actor) -> tuple[ChatbotApiKey, str]:
    """A new key for the trial's chatbot service. The key is returned once and stored only hashed."""
    if not name.strip():
        raise DomainError("Name the key (e.g. the service that will use it).", field="name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ChatbotApiKey.objects.create(trial=trial, name=name.strip(), prefix=key[:8], key_hash=_digest(key))
    audit_record(actor=by, action="chatbot_key.create", obj=record, trial=trial)
    return record, key


def chatbot_key_resolve(key: str) -> ChatbotApiKey | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    return ChatbotApiKey.objects.select_related("trial").filter(key_hash=_digest(key), revoked_at=None).first()


def _reportable(trial: Trial, study_id: str) -> Participant:
    participant = Participant.objects.filter(trial=trial, study_id=study_id).first()
    if participant is None:
        raise DomainError(f"No participant {study_id!r} in trial {trial.slug}.", field="participant")
    if participant.status not in REPORTABLE:
        raise DomainError(
            f"Participant {study_id} is {participant.status}; engagement is recorded for randomized participants.",
            field="participant",
        )
    return participant


@transaction.atomic
def engagement_record(
    *,
    trial: Trial,
    study_id: str,
    session_id: str,
    started_at: datetime,
    ended_at: datetime | None,
    participant_messages: int,
    bot_messages: int,
) -> EngagementSession:
    """Create or update a session (the service reports at start, during and at the end; the same
    session_id is the same session)."""
    participant = _reportable(trial, study_id)
    if ended_at is not None and ended_at < started_at:
        raise DomainError("A session cannot end before it starts.", field="ended_at")
    if started_at > clock.now() + timedelta(minutes=5):
        raise DomainError("started_at is in the future.", field="started_at")
    session, _ = EngagementSession.objects.select_for_update().update_or_create(
        participant=participant,
        session_id=session_id,
        defaults={
            "started_at": started_at,
            "ended_at": ended_at,
            "participant_messages": participant_messages,
            "bot_messages": bot_messages,
            "updated_at": clock.now(),
        },
    )
    return session


@transaction.atomic
def crisis_flag_record(
    *, trial: Trial, study_id: str, event_id: str, detected_at: datetime, severity: str, summary: str
) -> tuple[SafetyAlert | None, Participant]:
    """A crisis flag from the chatbot takes the same safety path as PHQ-9 item 9: an urgent alert to the
    trial's clinicians. The same event_id raises one alert however often it is posted."""
    participant = Participant.objects.filter(trial=trial, study_id=study_id).first()
    if participant is None:
        raise DomainError(f"No participant {study_id!r} in trial {trial.slug}.", field="participant")
    alert = safety_alert_raise(
        participant=participant,
        source=AlertSource.CHATBOT,
        flag="crisis_language",
        urgent=True,
        dedupe_key=f"chatbot:{trial.pk}:{event_id}",
        details={
            "event_id": event_id,
            "detected_at": detected_at.isoformat(),
            "severity": severity,
            "summary": summary,
        },
    )
    return alert, participant


@transaction.atomic
def crisis_flag_refused(*, trial: Trial, body: Mapping[str, Any], why: str) -> SafetyAlert | None:
    """A crisis flag refused for its body (a time that is not one, an unknown severity) is a crisis all the
    same: when the body names a participant of the trial, the urgent alert is raised, not recorded as sent,
    with the fields as given. The same event (its event_id, else the same body) raises one alert. A body
    that names nobody raises nothing."""
    study_id = body.get("participant")
    participant = (
        Participant.objects.filter(trial=trial, study_id=study_id.strip()).first()
        if isinstance(study_id, str)
        else None
    )
    if participant is None:
        return None
    event_id = body.get("event_id")
    if isinstance(event_id, str) and 0 < len(event_id.strip()) <= 100:
        event = event_id.strip()
    else:
        event = "body:" + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    given = {name: str(body.get(name, ""))[:1000] for name in ("event_id", "detected_at", "severity", "summary")}
    return safety_alert_raise(
        participant=participant,
        source=AlertSource.CHATBOT,
        flag="crisis_language",
        urgent=True,
        dedupe_key=f"chatbot:{trial.pk}:{event}",
        details={**given, "recorded": False, "why": why},
    )


@dataclass(frozen=True)
class EngagementSummary:
    sessions: int
    hours: float
    participant_messages: int
    bot_messages: int
    active_days: int
    first_session_at: datetime | None
    last_session_at: datetime | None


def engagement_summary(participant: Participant) -> EngagementSummary:
    """Hours (ended sessions), messages, and active days counted in the participant's own calendar."""
    sessions = list(EngagementSession.objects.filter(participant=participant).order_by("started_at"))
    tz = ZoneInfo(
        ContactDetails.objects.filter(participant=participant).values_list("timezone", flat=True).first() or "UTC"
    )
    seconds = sum((s.ended_at - s.started_at).total_seconds() for s in sessions if s.ended_at)
    return EngagementSummary(
        sessions=len(sessions),
        hours=round(seconds / 3600, 2),
        participant_messages=sum(s.participant_messages for s in sessions),
        bot_messages=sum(s.bot_messages for s in sessions),
        active_days=len({s.started_at.astimezone(tz).date() for s in sessions}),
        first_session_at=sessions[0].started_at if sessions else None,
        last_session_at=sessions[-1].started_at if sessions else None,
    )
