"""The platform's clock: every service, model default and sweep reads the time here.

In production it is ``django.utils.timezone.now``. A simulation (``simulate_trial``) or a test runs code
under :func:`use` with a :class:`SimulatedClock`, so eight weeks of a trial pass in seconds through the
very same services: visit windows, reminders, escalations and audit times all follow the simulated time.
The override is a context variable, so it is local to the thread (and task) that set it: a web request
served at the same time still sees the real time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.utils import timezone

_source: ContextVar[Callable[[], datetime] | None] = ContextVar("trial_clock", default=None)


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    source = _source.get()
    return timezone.now() if source is None else source()


class SimulatedClock:
    """A clock that stands still until moved. Time never runs backwards."""

    def __init__(self, start: datetime) -> None:
        if timezone.is_naive(start):
            raise ValueError("A simulated clock needs a timezone-aware start.")
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("A clock does not run backwards.")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        return self.advance(when - self._now)


@contextmanager
def use(source: Callable[[], datetime]) -> Iterator[Callable[[], datetime]]:
    """Read the time from ``source`` inside the block (this thread only)."""
    token = _source.set(source)
    try:
        yield source
    finally:
        _source.reset(token)
