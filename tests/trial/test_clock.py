"""trial.clock: one clock for services, model defaults and sweeps, which a simulation can move."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from trial import clock
from trial.clock import SimulatedClock


def test_it_reads_the_real_time_by_default():
    before = timezone.now()
    assert before <= clock.now() <= timezone.now()


def test_a_simulated_clock_moves_only_forwards_and_only_when_told():
    start = datetime(2025, 3, 1, 9, tzinfo=UTC)
    simulated = SimulatedClock(start)
    with clock.use(simulated):
        assert clock.now() == start == clock.now()
        simulated.advance(timedelta(days=28))
        assert clock.now() == start + timedelta(days=28)
        with pytest.raises(ValueError, match="backwards"):
            simulated.set(start)
    assert clock.now() > start + timedelta(days=300)  # the real time again outside the block
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2025, 3, 1))


def test_another_thread_keeps_the_real_time():
    seen: list[datetime] = []
    with clock.use(SimulatedClock(datetime(2020, 1, 1, tzinfo=UTC))):
        worker = threading.Thread(target=lambda: seen.append(clock.now()))
        worker.start()
        worker.join()
        assert clock.now().year == 2020
    assert seen[0].year >= 2026


@pytest.mark.django_db
def test_services_and_model_defaults_stamp_the_simulated_time(trial):
    from participants.models import StatusChange
    from tests import helpers
    from trial.models import AuditEvent

    start = datetime(2025, 3, 1, 9, tzinfo=UTC)
    with clock.use(SimulatedClock(start)):
        participant = helpers.randomized(trial)
    participant.refresh_from_db()
    assert participant.enrolled_at == start
    assert participant.allocation.allocated_at == start
    assert set(StatusChange.objects.filter(participant=participant).values_list("at", flat=True)) == {start}
    assert AuditEvent.objects.filter(trial=trial, at=start).exists()  # a model default (AuditEvent.at)
    week4 = participant.assessments.get(visit__code="week4")
    assert week4.opens_at.date() == (start + timedelta(days=25)).date()
