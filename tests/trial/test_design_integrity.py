from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests import helpers
from trial.errors import DomainError, Forbidden, IntegrityLocked, InvalidTransition
from trial.models import Arm, AuditEvent, ConsentDocument, FactorLevel, Site, StratificationFactor, Trial
from trial.services import (
    consent_document_publish,
    trial_set_status,
    trial_unblinding_confirm,
    trial_unblinding_request,
)
from trial.templates import read_template, trial_create_from_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft() -> Trial:
    return trial_create_from_template(data=read_template("therabot"), by=None)


def test_a_draft_trial_can_change_its_design(draft):
    arm = draft.arms.get(code="chatbot")
    arm.ratio = 2
    arm.save()
    draft.block_sizes = [3, 6]
    draft.save()
    assert Trial.objects.get(pk=draft.pk).block_sizes == [3, 6]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("randomization_method", "simple"),
        ("block_sizes", [2]),
        ("minimization_probability", 0.9),
        ("open_label", False),
    ],
)
def test_a_recruiting_trial_refuses_to_change_its_randomization(trial, field, value):
    setattr(trial, field, value)
    with pytest.raises(IntegrityLocked, match=field):
        trial.save()
    with pytest.raises(ValidationError):
        trial.clean()
    trial.refresh_from_db()
    assert getattr(trial, field) != value


def test_a_recruiting_trial_may_still_change_its_title(trial):
    trial.title = "Renamed"
    trial.save()
    assert Trial.objects.get(pk=trial.pk).title == "Renamed"


def test_arms_factors_and_levels_freeze_when_recruiting_starts(trial):
    arm = trial.arms.get(code="chatbot")
    arm.ratio = 2
    with pytest.raises(IntegrityLocked, match="cannot be changed"):
        arm.save()
    with pytest.raises(IntegrityLocked, match="cannot be deleted"):
        arm.delete()
    with pytest.raises(IntegrityLocked):
        Arm.objects.create(trial=trial, code="third", name="Third arm")
    with pytest.raises(IntegrityLocked):
        StratificationFactor.objects.create(trial=trial, code="sex", name="Sex")
    factor = trial.factors.get()
    with pytest.raises(IntegrityLocked):
        FactorLevel.objects.create(factor=factor, code="PTSD", label="PTSD")
    assert trial.arms.get(code="chatbot").ratio == 1
    assert trial.arms.count() == 2


def test_the_screening_question_behind_a_factor_freezes_with_the_design(trial):
    source = trial.screening_fields.get(code="condition")
    source.choices = ["MDD", "GAD"]
    with pytest.raises(IntegrityLocked, match="sets a stratification factor"):
        source.save()
    with pytest.raises(IntegrityLocked):
        source.delete()
    other = trial.screening_fields.get(code="age")
    other.label = "Age (years)"
    other.save()  # other questions may be amended
    assert trial.screening_fields.get(code="condition").choices == ["MDD", "GAD", "CHR-FED"]


def test_a_published_consent_document_keeps_its_reconsent_requirement(trial):
    document = ConsentDocument.objects.get(trial=trial)
    document.requires_reconsent = True
    with pytest.raises(IntegrityLocked):
        document.save()


def test_the_audit_trail_never_holds_the_design_secrets(trial):
    from trial.audit import audit_record

    event = audit_record(
        actor=None,
        action="test",
        obj=trial,
        trial=trial,
        changes={"block_sizes": [[2, 4], [4, 6]], "title": ["a", "b"]},
    )
    assert event.changes == {"block_sizes": ["(hidden)", "(hidden)"], "title": ["a", "b"]}


def test_sites_can_join_a_recruiting_trial(trial):
    Site.objects.create(trial=trial, code="clinic-b", name="Clinic B")
    assert trial.sites.count() == 2


def test_a_trial_cannot_open_with_an_incomplete_design(draft):
    draft.block_sizes = [3]
    draft.save()
    draft.consent_documents.all().delete()
    with pytest.raises(DomainError) as caught:
        trial_set_status(trial=draft, status="recruiting", by=None)
    assert "block sizes are not all positive multiples of 2" in caught.value.message
    assert "3" not in caught.value.message  # the sizes are a secret from most roles
    assert "consent document" in caught.value.message
    assert Trial.objects.get(pk=draft.pk).status == "draft"


def test_a_factor_must_come_from_a_matching_screening_question(draft):
    draft.screening_fields.filter(code="condition").update(choices=["MDD", "GAD"])
    with pytest.raises(DomainError, match="Stratification factor 'condition' needs a required choice screening field"):
        trial_set_status(trial=draft, status="recruiting", by=None)


def test_opening_draws_blinded_labels_for_the_arms(draft):
    assert set(draft.arms.values_list("blinded_label", flat=True)) == {""}
    trial_set_status(trial=draft, status="recruiting", by=None)
    assert sorted(draft.arms.values_list("blinded_label", flat=True)) == ["A", "B"]


def test_blinded_labels_are_not_tied_to_arm_order():
    seen = set()
    for i in range(24):
        trial = trial_create_from_template(data=read_template("therabot"), by=None, slug=f"t{i}")
        trial_set_status(trial=trial, status="recruiting", by=None)
        seen.add(trial.arms.get(code="chatbot").blinded_label)
        if seen == {"A", "B"}:
            break
    assert seen == {"A", "B"}  # fails with probability 2**-23 if the draw were fair


def test_trial_status_moves_only_forward_with_reopening_allowed(trial):
    with pytest.raises(InvalidTransition, match="recruiting to locked"):
        trial_set_status(trial=trial, status="locked", by=None)
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="recruiting", by=None, reason="Extension approved")
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    with pytest.raises(InvalidTransition, match="allowed: none"):
        trial_set_status(trial=trial, status="recruiting", by=None)
    assert AuditEvent.objects.filter(trial=trial, action="trial.status").count() == 5  # opening + four moves


def test_a_recruiting_trial_cannot_be_deleted(trial):
    with pytest.raises(IntegrityLocked):
        trial.delete()


def test_published_consent_documents_never_change(trial):
    document = ConsentDocument.objects.get(trial=trial)
    document.text = "Something else"
    with pytest.raises(IntegrityLocked, match="publish a new version"):
        document.save()
    with pytest.raises(DomainError, match="already exists"):
        consent_document_publish(trial=trial, version="1.0", title="", text="x", requires_reconsent=False, by=None)


def test_trial_unblinding_needs_a_reason_two_people_and_happens_once(trial, investigator, administrator):
    trial_set_status(trial=trial, status="closed", by=None)
    with pytest.raises(DomainError) as caught:
        trial_unblinding_request(trial=trial, by=investigator, reason=" ")
    assert caught.value.field == "reason"
    request = trial_unblinding_request(trial=trial, by=investigator, reason="Database locked 2026-11-01")
    trial.refresh_from_db()
    assert trial.unblinded_at is None
    with pytest.raises(Forbidden, match="second, different person"):
        trial_unblinding_confirm(request=request, by=investigator)
    with pytest.raises(Forbidden):
        trial_unblinding_confirm(request=request, by=None)  # the system is nobody
    trial_unblinding_confirm(request=request, by=administrator)
    trial.refresh_from_db()
    assert trial.unblinded_at is not None
    assert AuditEvent.objects.get(action="trial.unblind").reason == "Database locked 2026-11-01"
    with pytest.raises(DomainError, match="already unblinded"):
        trial_unblinding_request(trial=trial, by=investigator, reason="again")


def test_the_audit_trail_cannot_be_rewritten(trial):
    event = AuditEvent.objects.filter(trial=trial).first()
    assert event is not None
    event.reason = "rewritten"
    with pytest.raises(DomainError):
        event.save()
    with pytest.raises(DomainError):
        AuditEvent.objects.filter(trial=trial).delete()
    with pytest.raises(DomainError):
        AuditEvent.objects.filter(trial=trial).update(reason="x")
    with pytest.raises(DomainError):
        event.delete()


def test_helpers_build_a_second_trial_with_its_own_ids(trial, other_trial):
    assert helpers.enrolled(other_trial).study_id == "OT-0001"
    assert helpers.enrolled(trial).study_id == "TB-0001"
