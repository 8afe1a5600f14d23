"""Sweeps running at once on PostgreSQL share the due visits (SKIP LOCKED): each visit is opened, and
invited, by exactly one of them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections, transaction

from assessments.models import ScheduledAssessment
from assessments.services import sweep as sweep_module
from participants.models import OutboxMessage
from tests import helpers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SWEEPS = 4


def test_concurrent_sweeps_open_each_due_visit_once(trial, monkeypatch):
    monkeypatch.setattr(sweep_module, "BATCH", 3)  # many small batches, so the sweeps interleave
    people = [helpers.randomized(trial) for _ in range(24)]
    week4 = ScheduledAssessment.objects.filter(participant__in=people, visit__code="week4")
    when = max(a.opens_at for a in week4)
    barrier = threading.Barrier(SWEEPS)

    def one_sweep(_: int) -> int:
        try:
            barrier.wait()
            return int(sweep_module.sweep(now=when, deliver=False)["opened"])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=SWEEPS) as pool:
        opened = list(pool.map(one_sweep, range(SWEEPS)))

    assert sum(opened) == len(people)
    assert set(week4.values_list("status", flat=True)) == {"open"}
    for person in people:  # the baseline invitation from enrollment and one for week 4
        assert OutboxMessage.objects.filter(kind="assessment_invitation", participant=person).count() == 2


def test_a_sweep_skips_a_visit_another_transaction_holds_instead_of_waiting_for_it(trial):
    people = [helpers.randomized(trial) for _ in range(4)]
    week4 = ScheduledAssessment.objects.filter(participant__in=people, visit__code="week4")
    when = max(a.opens_at for a in week4)
    held = week4.order_by("id").first()
    assert held is not None
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:  # another sweep, say, in the middle of its batch
        try:
            with transaction.atomic():
                ScheduledAssessment.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    result: dict[str, object] = {}

    def sweep_now() -> None:
        try:
            result.update(sweep_module.sweep(now=when, deliver=False))
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    sweeper = threading.Thread(target=sweep_now)
    sweeper.start()
    sweeper.join(10)
    finished = not sweeper.is_alive()
    release.set()
    holder.join()
    sweeper.join()
    assert finished, "the sweep waited for a visit another transaction holds"
    assert result["opened"] == len(people) - 1
    assert ScheduledAssessment.objects.get(pk=held.pk).status == "scheduled"
    assert sweep_module.sweep(now=when, deliver=False)["opened"] == 1  # the next sweep takes it
