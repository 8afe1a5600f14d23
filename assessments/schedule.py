"""Visit windows and reminder times, computed in the participant's timezone. Pure: no database.

A visit is due ``offset_days`` after its anchor (enrollment or randomization), counted in the
participant's local calendar. Its window opens at the send hour, local time, ``window_before_days``
before the due date (never before the anchor itself) and closes at local midnight after
``window_after_days`` past the due date. A visit due on the anchor day with no window before it (the
baseline) opens at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils.translation import pgettext

if TYPE_CHECKING:
    from trial.models import VisitDefinition


@dataclass(frozen=True)
class Window:
    due_at: datetime
    opens_at: datetime
    closes_at: datetime  # exclusive


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # zoneinfo resolves times that do not exist (spring forward) or exist twice (fall back) by fold=0.
    return datetime.combine(day, at, tzinfo=tz)


def visit_window(
    *,
    anchor_at: datetime,
    tz: ZoneInfo,
    offset_days: int,
    before_days: int,
    after_days: int,
    send_hour: int,
) -> Window:
    if anchor_at.tzinfo is None:
        raise ValueError("anchor_at must be timezone-aware")
    anchor_day = anchor_at.astimezone(tz).date()
    due_day = anchor_day + timedelta(days=offset_days)
    send = time(hour=send_hour)
    if offset_days == 0 and before_days == 0:
        opens_at = anchor_at
        due_at = anchor_at
    else:
        opens_at = max(anchor_at, _local(due_day - timedelta(days=before_days), send, tz))
        due_at = max(anchor_at, _local(due_day, send, tz))
    closes_at = _local(due_day + timedelta(days=after_days + 1), time(0), tz)
    return Window(due_at=due_at, opens_at=opens_at, closes_at=closes_at)


def next_reminder(
    *, opened_at: datetime, closes_at: datetime, tz: ZoneInfo, reminder_days: Sequence[int], sent: int, send_hour: int
) -> datetime | None:
    """When the next reminder is due: the (sent+1)-th of ``reminder_days`` after opening, at the send
    hour local time; None when there is no further reminder inside the window."""
    days = sorted(set(reminder_days))
    if sent >= len(days):
        return None
    opened_day = opened_at.astimezone(tz).date()
    at = _local(opened_day + timedelta(days=days[sent]), time(hour=send_hour), tz)
    return at if at < closes_at else None


def window_end(closes_at: datetime, tz: ZoneInfo) -> tuple[date | None, datetime | None]:
    """How a window's end is told to its participant, in their timezone: the last whole day when it
    closes at local midnight (the usual case: "until the end of Dec 18", not "until Dec 19"), else the
    local date and time it closes. The participant's page and every message use this one answer.
    Naive values, so templates show them as they are."""
    closes = closes_at.astimezone(tz)
    if closes.time() == time(0, 0):
        return (closes - timedelta(days=1)).date(), None
    return None, closes.replace(tzinfo=None)


def visit_label(visit: VisitDefinition) -> str:
    """The visit's name as participants read it (page and messages), in the active language: "Baseline" or
    "Week N". Not the protocol's name, which may say what the visit means to one arm: "Week 4 (end of
    treatment)" is the end of nothing to the waitlist."""
    if visit.week == 0:
        return pgettext("visit", "Baseline")
    return pgettext("visit", "Week %(week)s") % {"week": visit.week}
