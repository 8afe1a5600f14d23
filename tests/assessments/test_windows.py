"""Visit windows and reminders in the participant's timezone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from assessments.schedule import next_reminder, visit_window

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_the_baseline_opens_at_enrollment_and_closes_at_local_midnight_after_its_window():
    enrolled = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 17:30 in New York
    window = visit_window(anchor_at=enrolled, tz=NY, offset_days=0, before_days=0, after_days=14, send_hour=9)
    assert window.opens_at == enrolled == window.due_at
    assert window.closes_at == datetime(2026, 3, 17, 0, 0, tzinfo=NY)


def test_week_four_is_due_at_the_local_send_hour_28_days_after_randomization():
    randomized = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    window = visit_window(anchor_at=randomized, tz=NY, offset_days=28, before_days=3, after_days=7, send_hour=9)
    assert window.due_at == datetime(2026, 3, 30, 9, 0, tzinfo=NY)
    assert window.opens_at == datetime(2026, 3, 27, 9, 0, tzinfo=NY)
    assert window.closes_at == datetime(2026, 4, 7, 0, 0, tzinfo=NY)
    # Daylight saving began on 8 March: 09:00 local is 13:00 UTC after it, 14:00 before.
    assert window.due_at.astimezone(UTC).hour == 13


def test_the_local_calendar_decides_the_day_not_utc():
    # 01:00 UTC on 3 March is still 2 March in New York but already 3 March in Tokyo (10:00).
    randomized = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    ny = visit_window(anchor_at=randomized, tz=NY, offset_days=28, before_days=0, after_days=7, send_hour=9)
    tokyo = visit_window(anchor_at=randomized, tz=TOKYO, offset_days=28, before_days=0, after_days=7, send_hour=9)
    assert ny.due_at.astimezone(NY).date().isoformat() == "2026-03-30"
    assert tokyo.due_at.astimezone(TOKYO).date().isoformat() == "2026-03-31"


def test_a_window_never_opens_before_its_anchor():
    randomized = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    window = visit_window(anchor_at=randomized, tz=NY, offset_days=1, before_days=5, after_days=2, send_hour=9)
    assert window.opens_at == randomized


def test_a_naive_anchor_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        visit_window(anchor_at=datetime(2026, 1, 1), tz=NY, offset_days=0, before_days=0, after_days=1, send_hour=9)


def test_reminders_follow_the_rhythm_at_the_local_send_hour_and_stop_at_the_window():
    opened = datetime(2026, 3, 27, 13, 0, tzinfo=UTC)  # 09:00 New York
    closes = datetime(2026, 4, 7, 0, 0, tzinfo=NY)
    first = next_reminder(opened_at=opened, closes_at=closes, tz=NY, reminder_days=[5, 2], sent=0, send_hour=9)
    second = next_reminder(opened_at=opened, closes_at=closes, tz=NY, reminder_days=[5, 2], sent=1, send_hour=9)
    assert first == datetime(2026, 3, 29, 9, 0, tzinfo=NY)
    assert second == datetime(2026, 4, 1, 9, 0, tzinfo=NY)
    assert next_reminder(opened_at=opened, closes_at=closes, tz=NY, reminder_days=[2, 5], sent=2, send_hour=9) is None
    short = datetime(2026, 3, 30, 0, 0, tzinfo=NY)
    assert next_reminder(opened_at=opened, closes_at=short, tz=NY, reminder_days=[2, 5], sent=1, send_hour=9) is None
