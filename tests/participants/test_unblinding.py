from __future__ import annotations

import pytest
from django.core import mail

from participants.models import EmergencyUnblinding
from participants.services import participant_unblind
from tests import helpers
from trial.errors import DomainError
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def masked_trial(db):
    return helpers.open_reference_trial(slug="masked", open_label=False, study_id_prefix="MK")


def test_it_reveals_the_arm_logs_and_notifies(masked_trial, django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    from trial.models import Role

    users = get_user_model().objects
    clinician = users.create_user("dr-who", email="clinician@example.org")
    investigator = users.create_user("pi", email="pi@example.org")
    coordinator = users.create_user("coord", email="coord@example.org")
    helpers.grant(masked_trial, clinician, Role.SAFETY_CLINICIAN)
    helpers.grant(masked_trial, investigator, Role.INVESTIGATOR)
    helpers.grant(masked_trial, coordinator, Role.COORDINATOR)
    participant = helpers.randomized(masked_trial)

    with django_capture_on_commit_callbacks(execute=True):
        allocation = participant_unblind(
            participant=participant, reason="Serious adverse event, ER visit", by=clinician
        )

    assert allocation.arm.code in {"chatbot", "waitlist"}
    record = EmergencyUnblinding.objects.get(participant=participant)
    assert (record.by, record.reason) == (clinician, "Serious adverse event, ER visit")
    event = AuditEvent.objects.get(action="participant.emergency_unblind")
    assert event.actor == clinician and event.reason == "Serious adverse event, ER visit"
    notices = [m for m in mail.outbox if "Emergency unblinding" in m.subject]
    assert sorted(m.to[0] for m in notices) == ["clinician@example.org", "pi@example.org"]  # not the coordinator
    message = notices[0]
    assert participant.study_id in message.subject
    assert "Serious adverse event" in message.body
    assert allocation.arm.name not in message.body  # the arm is never in the e-mail


def test_it_requires_a_reason(masked_trial):
    participant = helpers.randomized(masked_trial)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("dr-x")
    with pytest.raises(DomainError) as caught:
        participant_unblind(participant=participant, reason="", by=user)
    assert caught.value.field == "reason"
    assert not EmergencyUnblinding.objects.exists()


def test_it_refuses_in_an_open_label_trial_and_before_randomization(trial, clinician):
    with pytest.raises(DomainError, match="open label"):
        participant_unblind(participant=helpers.randomized(trial), reason="Emergency", by=clinician)
    with pytest.raises(DomainError, match="not been randomized"):
        participant_unblind(participant=helpers.enrolled(trial), reason="Emergency", by=clinician)


def test_a_notice_to_a_member_without_an_address_fails_at_once(masked_trial):
    from django.contrib.auth import get_user_model

    from participants.messaging import outbox_deliver
    from participants.models import OutboxMessage
    from trial.models import Role

    investigator = get_user_model().objects.create_user("pi", email="pi@example.org")
    helpers.grant(masked_trial, investigator, Role.INVESTIGATOR)
    participant_unblind(participant=helpers.randomized(masked_trial), reason="Serious adverse event", by=investigator)
    notice = OutboxMessage.objects.get(kind="unblinding_notice")
    investigator.email = ""
    investigator.save()
    assert outbox_deliver(message_id=notice.pk) == "failed"  # not tried again and again: it can never go
