"""Template helpers of the workspace: times in a named zone, durations, arms as the reader may see them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from participants.api import allocation_for_reader
from participants.models import Participant
from trial.access import ArmView
from trial.redaction import redact

register = template.Library()

DASH = "\u2013"  # what an empty value shows


def local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


@register.filter
def when(value: datetime | None, zone: ZoneInfo) -> SafeString | str:
    """``Dec 4, 2026, 12:50 EST`` in the given zone, in a <time> element carrying the exact instant."""
    if value is None:
        return DASH
    shown = local(value, zone)
    text = f"{shown:%b} {shown.day}, {shown.year}, {shown:%H:%M} {shown.tzname()}"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), text)


@register.filter
def day(value: datetime | date | None, zone: ZoneInfo | None = None) -> str:
    """``Dec 4, 2026`` (in the zone, for a time)."""
    if value is None:
        return DASH
    if isinstance(value, datetime) and zone is not None:
        value = local(value, zone)
    return f"{value:%b} {value.day}, {value.year}"


@register.filter
def duration(value: timedelta | None) -> str:
    """``2 d 3 h``, ``45 min``, ``overdue 1 h 5 min`` for negative spans."""
    if value is None:
        return DASH
    prefix = "overdue " if value.total_seconds() < 0 else ""
    minutes = int(abs(value.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return prefix + text


@register.simple_tag
def arm_of(participant: Participant, view: ArmView) -> str:
    """The participant's arm as the reader may see it: its name, "Arm A", "Masked", or a dash before
    randomization."""
    shown = allocation_for_reader(participant, view)
    if shown is None:
        return DASH
    if shown["masked"]:
        return "Masked"
    return str(shown["arm_name"])


@register.filter
def tzname_now(zone: ZoneInfo) -> str:
    """The zone's current abbreviation (EST, EDT, CET)."""
    return datetime.now(zone).tzname() or str(zone)


@register.filter
def redacted(text: str) -> str:
    """Text from outside (a mail server's error) without any link token, key or password in it."""
    return redact(str(text or ""))
