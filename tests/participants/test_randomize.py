from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from participants.models import Allocation, Participant, RandomizationSequence, Status
from participants.services import participant_randomize
from tests import helpers
from trial.errors import Conflict, DomainError, InvalidTransition
from trial.models import AuditEvent, Trial
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db


def test_it_allocates_an_enrolled_participant_and_records_how(trial, coordinator):
    participant = helpers.ready_to_randomize(trial)
    allocation = participant_randomize(participant=participant, by=coordinator)
    participant.refresh_from_db()
    assert participant.status == Status.RANDOMIZED
    assert participant.randomized_at == allocation.allocated_at
    assert allocation.arm.code in {"chatbot", "waitlist"}
    assert allocation.allocated_by == coordinator
    assert allocation.method == "stratified_block"
    assert allocation.stratum == "condition=MDD"
    assert allocation.sequence_number == 1
    assert allocation.block_size in {2, 4, 6}


def test_it_refuses_a_second_allocation(trial):
    participant = helpers.randomized(trial)
    with pytest.raises(Conflict, match="already randomized"):
        participant_randomize(participant=participant, by=None)
    assert Allocation.objects.count() == 1


def test_the_database_refuses_a_second_allocation_for_one_participant(trial):
    allocation = Allocation.objects.get(participant=helpers.randomized(trial))
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.bulk_create(
            [
                Allocation(
                    participant=allocation.participant,
                    trial=trial,
                    arm=allocation.arm,
                    method="simple",
                    stratum="x",
                    sequence_number=1,
                )
            ]
        )


def test_it_refuses_to_randomize_someone_not_enrolled(trial):
    participant = helpers.consented(trial)
    with pytest.raises(InvalidTransition, match="consented and cannot become randomized"):
        participant_randomize(participant=participant, by=None)
    assert not Allocation.objects.exists()
    assert not RandomizationSequence.objects.exists()


def test_it_refuses_to_randomize_when_recruitment_is_closed(trial):
    participant = helpers.enrolled(trial)
    trial_set_status(trial=trial, status="closed", by=None)
    with pytest.raises(DomainError, match="not recruiting"):
        participant_randomize(participant=participant, by=None)
    participant.refresh_from_db()
    assert participant.status == Status.ENROLLED


def test_allocations_can_be_neither_changed_nor_deleted_through_the_orm(trial):
    allocation = Allocation.objects.get(participant=helpers.randomized(trial))
    other_arm = trial.arms.exclude(pk=allocation.arm_id).get()
    allocation.arm = other_arm
    with pytest.raises(DomainError, match="never changed"):
        allocation.save()
    with pytest.raises(DomainError, match="never deleted"):
        allocation.delete()
    with pytest.raises(DomainError):
        Allocation.objects.filter(pk=allocation.pk).update(arm=other_arm)
    with pytest.raises(DomainError):
        Allocation.objects.filter(pk=allocation.pk).delete()
    assert Allocation.objects.get(pk=allocation.pk).arm_id != other_arm.pk


def test_the_database_refuses_to_change_an_allocation_even_in_raw_sql(trial):
    allocation = Allocation.objects.get(participant=helpers.randomized(trial))
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE participants_allocation SET sequence_number = 99 WHERE id = %s", [allocation.pk])
    assert Allocation.objects.get(pk=allocation.pk).sequence_number == 1


@pytest.mark.postgres
def test_postgres_refuses_to_delete_an_allocation_in_raw_sql(trial):
    allocation = Allocation.objects.get(participant=helpers.randomized(trial))
    with (
        pytest.raises(DatabaseError, match="never changed or deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM participants_allocation WHERE id = %s", [allocation.pk])
    assert Allocation.objects.filter(pk=allocation.pk).exists()


def test_the_audit_trail_records_the_randomization_but_not_the_arm(trial, coordinator):
    participant = helpers.ready_to_randomize(trial)
    allocation = participant_randomize(participant=participant, by=coordinator)
    event = AuditEvent.objects.get(action="participant.randomize")
    assert event.actor == coordinator
    assert event.changes["allocation_id"] == [None, allocation.pk]
    assert allocation.arm.code not in str(event.changes)


def _arm_counts(trial: Trial) -> Counter[str]:
    return Counter(Allocation.objects.filter(trial=trial).values_list("arm__code", flat=True))


def test_stratified_blocks_balance_each_stratum_in_every_completed_block(trial):
    for i in range(60):
        helpers.randomized(trial, condition=["MDD", "GAD", "CHR-FED"][i % 3])
    for stratum in ("condition=MDD", "condition=GAD", "condition=CHR-FED"):
        rows = list(Allocation.objects.filter(trial=trial, stratum=stratum).order_by("sequence_number"))
        assert [a.sequence_number for a in rows] == list(range(1, 21))
        blocks: dict[int, list[str]] = {}
        for a in rows:
            blocks.setdefault(a.block_index, []).append(a.arm.code)
        for index, arms in blocks.items():
            size = next(a.block_size for a in rows if a.block_index == index)
            if len(arms) == size:
                assert Counter(arms) == {"chatbot": size // 2, "waitlist": size // 2}
        assert RandomizationSequence.objects.get(trial=trial, stratum=stratum).allocated == 20


def test_blocks_respect_an_unequal_ratio(db):
    trial = helpers.open_reference_trial(
        slug="two-to-one",
        block_sizes=[3, 6],
        arms=[
            {"code": "chatbot", "name": "Chatbot", "ratio": 2},
            {"code": "waitlist", "name": "Waitlist", "ratio": 1, "is_control": True},
        ],
    )
    for _ in range(30):
        helpers.randomized(trial)
    rows = list(Allocation.objects.filter(trial=trial).order_by("sequence_number"))
    for index in {a.block_index for a in rows}:
        block = [a for a in rows if a.block_index == index]
        if len(block) == block[0].block_size:
            assert Counter(a.arm.code for a in block) == {"chatbot": 2 * len(block) // 3, "waitlist": len(block) // 3}


def test_minimization_keeps_each_condition_balanced(db):
    trial = helpers.open_reference_trial(
        slug="minimized", randomization_method="minimization", minimization_probability=1.0
    )
    rng = random.Random(7)
    for i in range(45):
        participant = helpers.ready_to_randomize(trial, condition=["MDD", "GAD", "CHR-FED"][i % 3])
        participant_randomize(participant=participant, by=None, rng=rng)
    for level in ("MDD", "GAD", "CHR-FED"):
        counts = Counter(
            Allocation.objects.filter(trial=trial, participant__strata__condition=level).values_list(
                "arm__code", flat=True
            )
        )
        assert abs(counts["chatbot"] - counts["waitlist"]) <= 1
    sequence = RandomizationSequence.objects.get(trial=trial, stratum="")
    assert sequence.allocated == 45
    assert sum(sequence.state["marginals"]["condition=MDD"].values()) == 15


def test_simple_randomization_uses_one_trial_wide_sequence(db):
    trial = helpers.open_reference_trial(slug="simple", randomization_method="simple", block_sizes=[])
    for i in range(12):
        helpers.randomized(trial, condition=["MDD", "GAD"][i % 2])
    assert list(
        Allocation.objects.filter(trial=trial).values_list("sequence_number", flat=True).order_by("sequence_number")
    ) == list(range(1, 13))
    assert set(Allocation.objects.filter(trial=trial).values_list("stratum", flat=True)) == {""}
    assert sum(_arm_counts(trial).values()) == 12


def test_a_withdrawn_participant_cannot_be_randomized(trial):
    participant = helpers.enrolled(trial)
    helpers.services.participant_withdraw(participant=participant, reason="Changed their mind", by=None)
    with pytest.raises(InvalidTransition, match="withdrawn"):
        participant_randomize(participant=Participant.objects.get(pk=participant.pk), by=None)


def test_little_happens_while_the_stratum_is_locked(trial, coordinator):
    """Concurrent randomizations in a stratum queue on its sequence row until commit, so everything that
    does not depend on the draw is read before the lock: after it come only the draw's own writes, the
    status, the audit event and the follow-up visits, a few statements each."""
    from django.test.utils import CaptureQueriesContext

    from assessments.models import ScheduledAssessment

    helpers.randomized(trial)  # the stratum's sequence row exists
    participant = helpers.ready_to_randomize(trial)
    with CaptureQueriesContext(connection) as captured:
        participant_randomize(participant=participant, by=coordinator)
    statements = [q["sql"] for q in captured.captured_queries]
    locked_at = next(i for i, sql in enumerate(statements) if 'FROM "participants_randomizationsequence"' in sql)
    after_lock = [sql for sql in statements[locked_at + 1 :] if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert not any('FROM "trial_arm"' in sql for sql in after_lock)
    assert len(after_lock) <= 10, after_lock
    assert ScheduledAssessment.objects.filter(participant=participant).count() == 3
