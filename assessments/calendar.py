"""The calendar file (.ics) an invitation carries: the visit's window as an event the participant can add
to their calendar. It holds no link and no token (a calendar syncs to places an e-mail does not), only the
study's public name, the visit and the dates; its UID is the assessment's, so a second invitation for
the same visit updates the event instead of adding another."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.formats import date_format
from django.utils.translation import gettext
from icalendar import Calendar, Event

from assessments.schedule import window_end

MIMETYPE = "text/calendar"


def window_ics(
    *,
    uid: str,
    study_name: str,
    visit_name: str,
    opens_at: datetime,
    closes_at: datetime,
    tz: ZoneInfo,
    stamp: datetime,
) -> bytes:
    """An all-day event from the day the window opens to its last day when it closes at local midnight
    (the usual case); otherwise a timed event from opening to closing. Call with the language active."""
    last_day, _ = window_end(closes_at, tz)
    calendar = Calendar()
    calendar.add("prodid", "-//Trial platform//Questionnaire windows//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    domain = getattr(settings, "OUTBOX_MESSAGE_ID_DOMAIN", "trialplatform.local")
    event.add("uid", f"assessment-{uid}@{domain}")
    event.add("dtstamp", stamp)
    event.add("summary", f"{study_name}: {visit_name}")
    if last_day is not None:
        first_day: date = opens_at.astimezone(tz).date()
        event.add("dtstart", first_day)
        event.add("dtend", last_day + timedelta(days=1))  # exclusive
        until = date_format(last_day, "DATE_FORMAT")
        description = gettext(
            "Your questionnaires are open until the end of %(day)s. Open them with the personal link in the "
            "e-mail from the study."
        ) % {"day": until}
    else:
        event.add("dtstart", opens_at.astimezone(ZoneInfo("UTC")))
        event.add("dtend", closes_at.astimezone(ZoneInfo("UTC")))
        description = gettext("Open your questionnaires with the personal link in the e-mail from the study.")
    event.add("description", description)
    event.add("transp", "TRANSPARENT")  # a window to fill in, not time taken
    calendar.add_component(event)
    return bytes(calendar.to_ical())
