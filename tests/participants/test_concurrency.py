"""Randomization under real concurrency on PostgreSQL: many threads, one stratum, row locks."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from participants import services
from participants.models import Allocation, Participant, RandomizationSequence
from participants.services import participant_randomize
from tests import helpers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


def _randomize_all(participants: list[Participant]) -> list[BaseException]:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    chunks = [participants[i::THREADS] for i in range(THREADS)]

    def work(chunk: list[Participant]) -> None:
        try:
            barrier.wait()
            for participant in chunk:
                participant_randomize(participant=participant, by=None)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(work, chunks))
    return errors


def _assert_sound_sequences(trial, expected_per_stratum: dict[str, int]) -> None:
    for stratum, expected in expected_per_stratum.items():
        rows = list(
            Allocation.objects.filter(trial=trial, stratum=stratum).order_by("sequence_number").select_related("arm")
        )
        # No duplicate and no gap: positions are exactly 1..n, and the sequence row agrees (no lost update).
        assert [a.sequence_number for a in rows] == list(range(1, expected + 1))
        assert RandomizationSequence.objects.get(trial=trial, stratum=stratum).allocated == expected
        blocks: dict[int, list[Allocation]] = {}
        for a in rows:
            blocks.setdefault(a.block_index, []).append(a)
        assert sorted(blocks) == list(range(1, len(blocks) + 1))
        for index, block in blocks.items():
            size = block[0].block_size
            assert all(a.block_size == size for a in block)
            if index < len(blocks):
                assert len(block) == size, f"block {index} of {stratum} is not complete"
            if len(block) == size:
                assert Counter(a.arm.code for a in block) == {"chatbot": size // 2, "waitlist": size // 2}


def test_hundreds_of_simultaneous_randomizations_never_break_a_block(db):
    trial = helpers.open_reference_trial()
    conditions = ["MDD"] * 240 + ["GAD"] * 30 + ["CHR-FED"] * 30
    participants = [helpers.ready_to_randomize(trial, condition=c) for c in conditions]

    errors = _randomize_all(participants)

    assert errors == []
    assert Allocation.objects.filter(trial=trial).count() == 300
    assert Participant.objects.filter(trial=trial, status="randomized").count() == 300
    _assert_sound_sequences(trial, {"condition=MDD": 240, "condition=GAD": 30, "condition=CHR-FED": 30})


def test_racing_to_randomize_one_participant_allocates_once(db):
    trial = helpers.open_reference_trial()
    participant = helpers.ready_to_randomize(trial)

    errors = _randomize_all([participant] * THREADS)

    assert Allocation.objects.filter(participant=participant).count() == 1
    assert len(errors) == THREADS - 1
    assert all("already randomized" in str(e) for e in errors)


def test_concurrent_minimization_loses_no_update(db):
    trial = helpers.open_reference_trial(slug="minimized", randomization_method="minimization")
    conditions = ["MDD", "GAD", "CHR-FED"] * 40
    participants = [helpers.ready_to_randomize(trial, condition=c) for c in conditions]

    assert _randomize_all(participants) == []

    sequence = RandomizationSequence.objects.get(trial=trial, stratum="")
    assert sequence.allocated == 120
    for level in ("MDD", "GAD", "CHR-FED"):
        actual = Counter(
            Allocation.objects.filter(trial=trial, participant__strata__condition=level).values_list(
                "arm__code", flat=True
            )
        )
        assert sequence.state["marginals"][f"condition={level}"] == dict(actual)


def test_simultaneous_enrollments_get_unique_gapless_study_ids(db):
    trial = helpers.open_reference_trial()
    participants = [helpers.consented(trial) for _ in range(64)]
    contact = services.ContactInput(full_name="Jamie Doe", email="jamie@example.org")
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(chunk: list[Participant]) -> None:
        try:
            barrier.wait()
            for participant in chunk:
                services.participant_enroll(participant=participant, contact=contact, by=None)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(work, [participants[i::THREADS] for i in range(THREADS)]))

    assert errors == []
    ids = sorted(Participant.objects.filter(trial=trial).values_list("study_id", flat=True))
    assert ids == [f"TB-{n:04d}" for n in range(1, 65)]
