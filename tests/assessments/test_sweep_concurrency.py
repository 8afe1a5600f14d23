"""Sweeps running at once on PostgreSQL share the due visits (SKIP LOCKED): each visit is opened, and
invited, by exactly one of them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

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
    invites = OutboxMessage.objects.filter(kind="assessment_invitation", participant__in=people)
    # Each participant: the baseline invitation from enrollment and one week-4 invitation, not two.
    assert invites.filter(dedupe_key__in=[f"assessment:{a.pk}:invite" for a in week4]).count() == len(people)
