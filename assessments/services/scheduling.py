"""Putting a participant's visits on the calendar, and taking them off.

Called through the participant events (assessments.apps): enrollment schedules the visits anchored at
enrollment (the baseline); randomization schedules the follow-ups, with the instruments of the arm; a
withdrawal or completion cancels whatever is pending, at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from assessments.models import PENDING, AssessmentStatus, ScheduledAssessment
from assessments.schedule import next_reminder, visit_window
from participants.messaging import Outgoing, outbox_cancel, outbox_enqueue_many
from participants.models import CHANNELS_OF, ContactDetails, Participant
from trial import clock
from trial.errors import DomainError
from trial.models import Arm, VisitDefinition, VisitInstrument
from trial.models.protocol import VisitAnchor

INVITATION_KIND = "assessment_invitation"
REMINDER_KIND = "assessment_reminder"


def participant_tz(participant: Participant) -> ZoneInfo:
    return contacts_of([participant.pk])[participant.pk].tz


def instruments_for(visit: VisitDefinition, arm: Arm | None) -> list[str]:
    """The instruments due at a visit for one arm, in order (uses ``visit.instruments`` if prefetched)."""
    rows = visit.instruments.all()  # VisitInstrument's ordering: order, id
    return [r.instrument_code for r in rows if r.arm_id is None or (arm is not None and r.arm_id == arm.pk)]


@dataclass(frozen=True)
class Reach:
    """Where a participant's messages go: their timezone (for send hours) and the channels they chose
    (``ContactDetails.channels``: e-mail, SMS or both; each message goes once by each)."""

    tz: ZoneInfo
    channels: tuple[str, ...]

    @property
    def channel(self) -> str:
        """The first of the participant's channels."""
        return self.channels[0]

    def outgoing(self, *, dedupe_key: str, participant_id: int, context: dict[str, Any]) -> list[Outgoing]:
        """One message by each channel: the first keeps ``dedupe_key``, the others add their channel to it."""
        return [
            Outgoing(
                dedupe_key=dedupe_key if i == 0 else f"{dedupe_key}:{channel}"[:120],
                participant_id=participant_id,
                channel=channel,
                context=context,
            )
            for i, channel in enumerate(self.channels)
        ]


NO_CONTACT = Reach(tz=ZoneInfo("UTC"), channels=("email",))


def contacts_of(participant_ids: Iterable[int]) -> defaultdict[int, Reach]:
    """Timezone and channels of many participants in one query (no contact details: UTC, e-mail)."""
    zones: dict[str, ZoneInfo] = {}
    reach: defaultdict[int, Reach] = defaultdict(lambda: NO_CONTACT)
    rows = ContactDetails.objects.filter(participant_id__in=set(participant_ids)).values_list(
        "participant_id", "timezone", "channels", "email", "phone"
    )
    for participant_id, zone, channels, email, phone in rows:
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone or "UTC"))
        reach[participant_id] = Reach(tz=tz, channels=usable_channels(channels, email=email, phone=phone))
    return reach


def usable_channels(channels: str, *, email: str, phone: str) -> tuple[str, ...]:
    """The chosen channels that have an address; if none has, the one that does (e-mail first), as before
    participants chose: a message is never queued to a channel without an address when another has one."""
    have = {"email": bool(email), "sms": bool(phone)}
    chosen = CHANNELS_OF.get(channels, ("email",))
    usable = tuple(c for c in chosen if have[c])
    if usable:
        return usable
    fallback = tuple(c for c in ("email", "sms") if have[c])[:1]
    return fallback or chosen


def assessment_open(*, assessment: ScheduledAssessment, now: datetime) -> None:
    """Open a visit (already locked or just created) and queue its invitation."""
    assessments_open([assessment], now=now)


def assessments_open(assessments: list[ScheduledAssessment], *, now: datetime) -> None:
    """Open visits (already locked or just created) and queue their invitations, in a few statements
    whatever their number: one UPDATE per distinct first-reminder time, one INSERT into the outbox."""
    reach = contacts_of(a.participant_id for a in assessments)
    by_reminder: defaultdict[datetime | None, list[int]] = defaultdict(list)
    for assessment in assessments:
        assessment.status = AssessmentStatus.OPEN
        assessment.opened_at = now
        assessment.next_reminder_at = next_reminder(
            opened_at=now,
            closes_at=assessment.closes_at,
            tz=reach[assessment.participant_id].tz,
            reminder_days=settings.ASSESSMENT_REMINDER_DAYS,
            sent=0,
            send_hour=settings.ASSESSMENT_SEND_HOUR,
        )
        by_reminder[assessment.next_reminder_at].append(assessment.pk)
    for reminder_at, ids in by_reminder.items():
        ScheduledAssessment.objects.filter(pk__in=ids).update(
            status=AssessmentStatus.OPEN, opened_at=now, next_reminder_at=reminder_at
        )
    outbox_enqueue_many(
        kind=INVITATION_KIND,
        messages=[
            message
            for a in assessments
            for message in reach[a.participant_id].outgoing(
                dedupe_key=f"assessment:{a.pk}:invite", participant_id=a.participant_id, context={"assessment": a.pk}
            )
        ],
    )


def _schedule(participant: Participant, anchor: str, anchor_at: datetime, arm: Arm | None) -> list[ScheduledAssessment]:
    """Put the visits with this anchor on the participant's calendar (the caller holds the participant's
    lock), opening at once those whose window has come. A few statements whatever the number of visits:
    randomization runs this while it holds its stratum's lock."""
    tz = contacts_of([participant.pk])[participant.pk].tz
    now = clock.now()
    visits = list(
        VisitDefinition.objects.filter(trial_id=participant.trial_id, anchor=anchor)
        .prefetch_related("instruments")
        .order_by("order", "week")
    )
    existing = {a.visit_id: a for a in ScheduledAssessment.objects.filter(participant=participant, visit__in=visits)}
    planned, new = [], []
    for visit in visits:
        codes = instruments_for(visit, arm)
        if not codes:
            continue
        if visit.pk in existing:
            planned.append(existing[visit.pk])
            continue
        window = visit_window(
            anchor_at=anchor_at,
            tz=tz,
            offset_days=visit.offset_days,
            before_days=visit.window_before_days,
            after_days=visit.window_after_days,
            send_hour=settings.ASSESSMENT_SEND_HOUR,
        )
        assessment = ScheduledAssessment(
            participant=participant,
            visit=visit,
            instruments=codes,
            due_at=window.due_at,
            opens_at=window.opens_at,
            closes_at=window.closes_at,
        )
        planned.append(assessment)
        new.append(assessment)
    if new:
        ScheduledAssessment.objects.bulk_create(new)  # PostgreSQL and SQLite >= 3.35 set the new keys
        if any(a.pk is None for a in new):  # an older SQLite (Django accepts 3.31): read them back
            keys = dict(
                ScheduledAssessment.objects.filter(participant=participant, visit__in=visits).values_list(
                    "visit_id", "pk"
                )
            )
            for a in new:
                a.pk = keys[a.visit_id]
        due = [a for a in new if a.opens_at <= now]
        if due:
            assessments_open(due, now=now)
    return planned


def schedule_baseline(*, participant: Participant, **_: Any) -> list[ScheduledAssessment]:
    """At enrollment: the visits anchored at enrollment (the baseline), open at once."""
    assert participant.enrolled_at is not None
    return _schedule(participant, VisitAnchor.ENROLLMENT, participant.enrolled_at, arm=None)


def schedule_follow_up(*, participant: Participant, allocation: Any, **_: Any) -> list[ScheduledAssessment]:
    """At randomization: the follow-up visits, with the instruments of the allocated arm."""
    return _schedule(participant, VisitAnchor.RANDOMIZATION, allocation.allocated_at, arm=allocation.arm)


def require_completed_baseline(*, participant: Participant, **_: Any) -> None:
    """Randomization precondition: every visit anchored at enrollment is completed."""
    baseline = ScheduledAssessment.objects.filter(participant=participant, visit__anchor=VisitAnchor.ENROLLMENT)
    incomplete = [a for a in baseline.select_related("visit") if a.status != AssessmentStatus.COMPLETED]
    if incomplete:
        names = ", ".join(f"{a.visit.name} ({a.status})" for a in incomplete)
        raise DomainError(
            f"Participant {participant} cannot be randomized before the baseline questionnaires are completed: "
            f"{names}.",
            code="baseline_incomplete",
        )


def assessments_cancel_pending(*, participant: Participant, status: str, reason: str = "", **_: Any) -> int:
    """Withdrawal or completion: cancel every pending visit and unsent message, at once."""
    if status not in ("withdrawn", "completed"):
        return 0  # lost to follow-up: the windows stay open in case they come back
    now = clock.now()
    with transaction.atomic():
        cancelled = ScheduledAssessment.objects.filter(participant=participant, status__in=PENDING).update(
            status=AssessmentStatus.CANCELLED, ended_at=now, ended_reason=reason or status, next_reminder_at=None
        )
        outbox_cancel(
            participant_id=participant.pk,
            kinds=(INVITATION_KIND, REMINDER_KIND),
            reason="The participant withdrew." if status == "withdrawn" else "The participant completed the trial.",
        )
    return cancelled


def check_visit_instruments(trial: Any) -> list[str]:
    """Design check (run whenever a trial opens or reopens to recruitment): every instrument a visit names
    is installed and, for each of the trial's languages, has its whole wording in that language: a
    questionnaire a participant could be sent is never shown with a placeholder. A simulated trial skips
    the wording (its participants are fictional and its links open no page)."""
    from assessments.instruments import default_registry

    registry = default_registry()
    known = set(registry.codes())
    rows = (
        VisitInstrument.objects.filter(visit__trial=trial)
        .select_related("visit", "arm")
        .order_by("visit__order", "order")
    )
    problems: list[str] = []
    languages = [str(language) for language in (trial.languages or ["en"])]
    visits_of: dict[str, list[str]] = {}
    for row in rows:
        code = row.instrument_code
        if code not in known:
            problems.append(
                f"Visit {row.visit.code!r} names instrument {code!r}, which is not installed "
                f"(installed: {', '.join(sorted(known))})."
            )
        elif row.visit.code not in visits_of.setdefault(code, []):
            visits_of[code].append(row.visit.code)
    if trial.simulated:
        return problems
    for code, visits in visits_of.items():
        instrument = registry.get(code)
        for language in languages:
            if not instrument.has_wording(language):
                where = ", ".join(repr(visit) for visit in visits)
                problems.append(
                    f"{instrument.short_name} ({code}), scheduled at visit{'s' if len(visits) > 1 else ''} {where}, "
                    f"has no wording installed in {language!r}, one of the trial's languages: install it (a "
                    "wording file, docs/instruments.md), schedule an instrument that has it, or drop the language."
                )
    return problems
