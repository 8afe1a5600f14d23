"""Setting trials up in the admin: audited edits, the frozen design, recruitment actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tests import helpers
from tests.admin import change_form_data, login
from trial.models import Arm, AuditEvent, ConsentDocument, Site, StratificationFactor, Trial, TrialStatus
from trial.templates import read_template, trial_create_from_template

FROZEN = ["randomization_method", "block_sizes", "minimization_probability", "open_label", "study_id_prefix"]


def change_url(trial: Trial) -> str:
    return reverse("admin:trial_trial_change", args=[trial.pk])


def draft(slug: str = "draft", **overrides: Any) -> Trial:
    data = {**read_template("therabot"), "study_id_prefix": "DR", **overrides}
    return trial_create_from_template(data=data, by=None, slug=slug)


@pytest.fixture
def ada(client: Client, administrator: Any) -> Client:
    return login(client, administrator)


def test_an_admin_edit_of_the_title_is_audited_with_the_diff(ada: Client, trial: Trial, administrator: Any) -> None:
    page = ada.get(change_url(trial))
    old_title = trial.title
    response = ada.post(change_url(trial), {**change_form_data(page), "title": "Chatbot versus waitlist"})
    assert response.status_code == 302
    trial.refresh_from_db()
    assert trial.title == "Chatbot versus waitlist"
    event = AuditEvent.objects.get(action="admin.change")
    assert event.trial_id == trial.pk
    assert event.actor_id == administrator.pk
    assert (event.object_type, event.object_id) == ("trial.trial", str(trial.pk))
    assert event.changes == {"title": [old_title, "Chatbot versus waitlist"]}


def test_an_unchanged_save_writes_no_audit_event(ada: Client, trial: Trial) -> None:
    page = ada.get(change_url(trial))
    assert ada.post(change_url(trial), change_form_data(page)).status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_the_frozen_design_is_read_only_once_recruiting(ada: Client, trial: Trial) -> None:
    page = ada.get(change_url(trial))
    form = page.context["adminform"].form
    assert not set(FROZEN) & set(form.fields)
    assert {"title", "registry_id"} <= set(form.fields)
    inlines = {inline.opts.model: inline for inline in page.context["inline_admin_formsets"]}
    assert not inlines[Arm].has_change_permission
    assert not inlines[Arm].has_add_permission
    assert not inlines[Arm].has_delete_permission
    assert not inlines[StratificationFactor].has_change_permission

    # A tampered POST cannot change them either.
    data = {**change_form_data(page), "randomization_method": "simple", "study_id_prefix": "XX", "title": "New"}
    data.update({"arms-0-DELETE": "on", "factors-0-DELETE": "on", "arms-0-ratio": "3"})
    assert ada.post(change_url(trial), data).status_code == 302
    trial.refresh_from_db()
    assert (trial.randomization_method, trial.study_id_prefix, trial.title) == ("stratified_block", "TB", "New")
    assert sorted(Arm.objects.filter(trial=trial).values_list("ratio", flat=True)) == [1, 1]
    assert StratificationFactor.objects.filter(trial=trial).exists()


def test_a_frozen_factor_and_its_levels_cannot_be_changed_or_deleted(ada: Client, trial: Trial) -> None:
    factor = StratificationFactor.objects.get(trial=trial)
    page = ada.get(reverse("admin:trial_stratificationfactor_change", args=[factor.pk]))
    assert page.status_code == 200
    assert not page.context["adminform"].form.fields
    assert not page.context["inline_admin_formsets"][0].has_change_permission
    assert (
        ada.post(reverse("admin:trial_stratificationfactor_delete", args=[factor.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert StratificationFactor.objects.filter(pk=factor.pk).exists()


def test_a_draft_design_is_editable_and_each_change_is_audited(ada: Client, administrator: Any) -> None:
    trial = draft()
    helpers.grant(trial, administrator, "administrator")
    page = ada.get(change_url(trial))
    form = page.context["adminform"].form
    assert set(FROZEN) <= set(form.fields)
    data = change_form_data(page)
    arm = Arm.objects.get(trial=trial, code="chatbot")
    prefix = next(k for k, v in data.items() if k.endswith("-id") and v == str(arm.pk)).removesuffix("-id")
    data[f"{prefix}-name"] = "Therabot"
    data["block_sizes"] = "[2, 4]"
    response = ada.post(change_url(trial), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    arm.refresh_from_db()
    assert arm.name == "Therabot"
    arm_event = AuditEvent.objects.get(action="admin.change", object_type="trial.arm")
    assert arm_event.changes == {"name": ["Therapy chatbot", "Therabot"]}
    trial_event = AuditEvent.objects.get(action="admin.change", object_type="trial.trial")
    # The audit trail is read by investigators: the block sizes' values are not written to it.
    assert trial_event.changes == {"block_sizes": ["(hidden)", "(hidden)"]}


def test_the_investigator_manages_the_trial_without_seeing_the_block_sizes(
    client: Client, trial: Trial, investigator: Any
) -> None:
    login(client, investigator)
    page = client.get(change_url(trial))
    assert page.status_code == 200
    assert {"block_sizes", "minimization_probability"}.isdisjoint(page.context["adminform"].form.fields)
    assert "[2, 4, 6]" not in page.content.decode()
    response = client.post(change_url(trial), {**change_form_data(page), "block_sizes": "[8]", "title": "T"})
    assert response.status_code == 302
    trial.refresh_from_db()
    assert (trial.block_sizes, trial.title) == ([2, 4, 6], "T")


def test_a_coordinator_may_read_the_trial_but_not_change_it(client: Client, trial: Trial, coordinator: Any) -> None:
    login(client, coordinator)
    page = client.get(change_url(trial))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    response = client.post(change_url(trial), {**change_form_data(page), "title": "Mine"})
    assert response.status_code == 403
    trial.refresh_from_db()
    assert trial.title != "Mine"


def run_action(client: Client, action: str, *trials: Trial) -> Any:
    return client.post(
        reverse("admin:trial_trial_changelist"),
        {"action": action, "_selected_action": [str(t.pk) for t in trials]},
        follow=True,
    )


def test_open_recruitment_opens_a_ready_draft(ada: Client, administrator: Any) -> None:
    trial = draft()
    helpers.grant(trial, administrator, "administrator")
    response = run_action(ada, "open_recruitment", trial)
    assert response.status_code == 200
    trial.refresh_from_db()
    assert trial.status == TrialStatus.RECRUITING
    assert sorted(Arm.objects.filter(trial=trial).values_list("blinded_label", flat=True)) == ["A", "B"]
    assert AuditEvent.objects.filter(trial=trial, action="trial.status").exists()


def test_a_refused_status_change_is_a_message_not_an_error(ada: Client, trial: Trial) -> None:
    response = run_action(ada, "open_recruitment", trial)  # already recruiting
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("cannot go from recruiting to recruiting" in t for t in texts)
    response = run_action(ada, "close_recruitment", trial)
    trial.refresh_from_db()
    assert trial.status == TrialStatus.CLOSED


def test_a_design_problem_is_reported_with_the_block_sizes_masked_for_those_who_may_not_see_them(
    client: Client, db: None
) -> None:
    trial = draft(block_sizes=[3])
    investigator = get_user_model().objects.create_user(username="ivy", password="x")
    helpers.grant(trial, investigator, "investigator")
    login(client, investigator)
    response = run_action(client, "open_recruitment", trial)
    texts = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "The block sizes are not valid" in texts
    assert "Block size 3" not in texts
    trial.refresh_from_db()
    assert trial.status == TrialStatus.DRAFT


def test_the_coordinator_cannot_open_or_close_recruitment(client: Client, trial: Trial, coordinator: Any) -> None:
    login(client, coordinator)
    assert client.get(reverse("admin:trial_trial_changelist")).context["action_form"] is None  # no actions offered
    run_action(client, "close_recruitment", trial)
    trial.refresh_from_db()
    assert trial.status == TrialStatus.RECRUITING


def test_a_new_consent_version_is_published_through_the_service(ada: Client, trial: Trial) -> None:
    page = ada.get(change_url(trial))
    data = change_form_data(page)
    prefix = "consent_documents"
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{prefix}-{total}-version": "2.0",
            f"{prefix}-{total}-title": "Consent, amended",
            f"{prefix}-{total}-text": "Amended text.",
            f"{prefix}-{total}-requires_reconsent": "on",
        }
    )
    response = ada.post(change_url(trial), data)
    assert response.status_code == 302
    document = ConsentDocument.objects.get(trial=trial, version="2.0")
    assert document.requires_reconsent
    assert AuditEvent.objects.filter(action="consent_document.publish", object_id=str(document.pk)).exists()


def test_a_bad_eligibility_rule_in_a_draft_is_a_form_error(ada: Client, administrator: Any) -> None:
    trial = draft()
    helpers.grant(trial, administrator, "administrator")
    data = change_form_data(ada.get(change_url(trial)))
    prefix = "eligibility_rules"
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{prefix}-{total}-code": "height",
            f"{prefix}-{total}-field": "height_cm",
            f"{prefix}-{total}-operator": ">=",
            f"{prefix}-{total}-value": "150",
            f"{prefix}-{total}-applies_if_values": "[]",
            f"{prefix}-{total}-reason": "Too short",
            f"{prefix}-{total}-order": "9",
        }
    )
    response = ada.post(change_url(trial), data)
    assert response.status_code == 200
    assert "is not a screening field" in response.content.decode()
    assert not trial.eligibility_rules.filter(code="height").exists()


def test_a_deletion_in_the_admin_is_audited(ada: Client, administrator: Any) -> None:
    trial = draft()
    helpers.grant(trial, administrator, "administrator")
    clinic = Site.objects.create(trial=trial, code="clinic", name="Clinic")
    data = change_form_data(ada.get(change_url(trial)))
    prefix = next(k for k, v in data.items() if k.startswith("sites-") and k.endswith("-id") and v == str(clinic.pk))
    data[prefix.removesuffix("-id") + "-DELETE"] = "on"
    assert ada.post(change_url(trial), data).status_code == 302
    assert not Site.objects.filter(pk=clinic.pk).exists()
    event = AuditEvent.objects.get(action="admin.delete")
    assert (event.trial_id, event.object_type, event.object_id) == (trial.pk, "trial.site", str(clinic.pk))
    assert event.changes["code"] == ["clinic", None]
