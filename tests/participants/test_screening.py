from __future__ import annotations

import pytest

from participants.models import Participant, Status, StatusChange
from participants.services import participant_screen
from participants.services.enrollment import ScreeningInvalid
from tests import helpers
from trial.errors import DomainError
from trial.models import AuditEvent
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db


def test_it_marks_an_eligible_person_eligible_without_a_study_id(trial, coordinator):
    participant = participant_screen(trial=trial, answers=helpers.answers("GAD"), by=coordinator)
    assert participant.status == Status.ELIGIBLE
    assert participant.study_id is None
    assert participant.strata == {"condition": "GAD"}
    assert participant.ineligibility_reasons == []
    assert list(participant.status_changes.values_list("to_status", flat=True)) == ["screened", "eligible"]


def test_it_records_every_reason_an_ineligible_person_fails(trial, coordinator):
    answers = helpers.answers("MDD", age=17, phq9_total=6, suicidality_treatment=True)
    participant = participant_screen(trial=trial, answers=answers, by=coordinator)
    assert participant.status == Status.INELIGIBLE
    assert participant.study_id is None
    assert [r["rule"] for r in participant.ineligibility_reasons] == [
        "adult",
        "mdd_severity",
        "no_suicidality_treatment",
    ]
    assert "Younger than 18" in StatusChange.objects.get(participant=participant, to_status="ineligible").reason


def test_it_applies_condition_thresholds_only_to_that_condition(trial):
    # A GAD screen needs no PHQ-9 at all; the PHQ-9 rule applies to MDD only.
    gad = participant_screen(trial=trial, answers=helpers.answers("GAD", gadq4_score=5.7), by=None)
    assert gad.status == Status.ELIGIBLE
    low_gad = participant_screen(trial=trial, answers=helpers.answers("GAD", gadq4_score=5.6), by=None)
    assert [r["rule"] for r in low_gad.ineligibility_reasons] == ["gad_severity"]


def test_it_refuses_bad_answers_naming_each_field_and_writes_nothing(trial):
    answers = {**helpers.answers("MDD", age="old", favourite_colour="blue"), "condition": "PTSD"}
    del answers["bipolar"]
    with pytest.raises(ScreeningInvalid) as caught:
        participant_screen(trial=trial, answers=answers, by=None)
    assert set(caught.value.errors) == {
        "answers.age",
        "answers.condition",
        "answers.favourite_colour",
        "answers.bipolar",
    }
    assert "one of MDD, GAD, CHR-FED" in caught.value.errors["answers.condition"]
    assert not Participant.objects.exists()
    assert not AuditEvent.objects.filter(action="participant.screen").exists()


def test_it_refuses_a_boolean_where_a_number_is_due(trial):
    with pytest.raises(ScreeningInvalid) as caught:
        participant_screen(trial=trial, answers=helpers.answers("MDD", age=True), by=None)
    assert "answers.age" in caught.value.errors


def test_it_refuses_an_unknown_site(trial):
    with pytest.raises(DomainError) as caught:
        participant_screen(trial=trial, answers=helpers.answers(), site_code="mars", by=None)
    assert caught.value.field == "site"


def test_it_refuses_to_screen_when_the_trial_is_not_recruiting(trial):
    trial_set_status(trial=trial, status="closed", by=None)
    trial.refresh_from_db()
    with pytest.raises(DomainError, match="not recruiting"):
        participant_screen(trial=trial, answers=helpers.answers(), by=None)


def test_it_audits_the_screening(trial, coordinator):
    participant = participant_screen(trial=trial, answers=helpers.answers(), by=coordinator)
    event = AuditEvent.objects.get(action="participant.screen", object_id=str(participant.pk))
    assert event.actor == coordinator
    assert event.trial == trial
    assert event.changes["status"] == [None, "eligible"]


def test_it_asks_for_a_value_a_rule_needs_instead_of_recording_the_rule_failed(trial):
    """PHQ-9 is optional (a GAD screen has none), but the MDD severity rule reads it: left blank for an MDD
    screen it is required, named, and nothing is recorded."""
    answers = helpers.answers("MDD")
    del answers["phq9_total"]
    with pytest.raises(ScreeningInvalid) as caught:
        participant_screen(trial=trial, answers=answers, by=None)
    assert set(caught.value.errors) == {"answers.phq9_total"}
    assert "required to decide eligibility" in caught.value.errors["answers.phq9_total"]
    assert "rule 'mdd_severity' reads it when condition is MDD" in caught.value.errors["answers.phq9_total"]
    assert not Participant.objects.exists()


def test_a_rule_that_does_not_apply_needs_no_value(trial):
    participant = participant_screen(trial=trial, answers=helpers.answers("GAD"), by=None)
    assert "phq9_total" not in participant.screening_answers
    assert participant.status == Status.ELIGIBLE
