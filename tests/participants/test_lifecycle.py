from __future__ import annotations

import pytest

from participants.models import TRANSITIONS, Status, StatusChange
from participants.services import participant_complete, participant_mark_lost, participant_return, participant_withdraw
from tests import helpers
from trial.errors import DomainError, InvalidTransition
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_every_status_has_its_transitions_declared():
    assert set(TRANSITIONS) == set(Status.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status.values)


def test_it_withdraws_with_a_reason_and_records_it_for_consort(trial, coordinator):
    participant = helpers.randomized(trial)
    participant_withdraw(participant=participant, reason="No longer wishes to take part", by=coordinator)
    participant.refresh_from_db()
    assert participant.status == Status.WITHDRAWN
    assert participant.ended_reason == "No longer wishes to take part"
    change = StatusChange.objects.filter(participant=participant).last()
    assert change is not None
    assert (change.from_status, change.to_status, change.by) == ("randomized", "withdrawn", coordinator)
    assert AuditEvent.objects.filter(action="participant.withdraw", reason="No longer wishes to take part").exists()


def test_it_requires_a_reason_to_withdraw(trial):
    participant = helpers.randomized(trial)
    with pytest.raises(DomainError) as caught:
        participant_withdraw(participant=participant, reason="  ", by=None)
    assert caught.value.field == "reason"
    participant.refresh_from_db()
    assert participant.status == Status.RANDOMIZED


def test_it_refuses_an_invalid_transition_with_a_clear_message(trial):
    participant = helpers.randomized(trial)
    participant_withdraw(participant=participant, reason="Moved away", by=None)
    with pytest.raises(InvalidTransition) as caught:
        participant_complete(participant=participant, by=None)
    assert "withdrawn and cannot become completed" in caught.value.message
    assert "final" in caught.value.message


def test_it_refuses_to_complete_someone_never_randomized(trial):
    with pytest.raises(InvalidTransition, match="enrolled and cannot become completed"):
        participant_complete(participant=helpers.enrolled(trial), by=None)


def test_someone_lost_to_follow_up_can_come_back_and_complete(trial):
    participant = helpers.randomized(trial)
    participant_mark_lost(participant=participant, reason="No reply to three reminders", by=None)
    participant.refresh_from_db()
    assert participant.status == Status.LOST_TO_FOLLOW_UP
    participant_return(participant=participant, reason="Replied by phone", by=None)
    participant_complete(participant=participant, by=None)
    participant.refresh_from_db()
    assert participant.status == Status.COMPLETED
    assert list(participant.status_changes.values_list("to_status", flat=True)) == [
        "screened",
        "eligible",
        "consented",
        "enrolled",
        "randomized",
        "lost_to_follow_up",
        "randomized",
        "completed",
    ]
