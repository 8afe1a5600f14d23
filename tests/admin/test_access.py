"""Who sees what in the admin: membership scopes every page, roles decide the rest."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from participants.models import Allocation, Participant
from tests import helpers
from tests.admin import login
from trial.models import StratificationFactor, Trial

ENROLLING_VIEWS = ["consent", "enroll", "randomize", "withdraw", "lost", "return", "complete", "contact"]
ARM_NAMES = ("Therapy chatbot", "Waitlist control")


def url(view: str, participant: Participant) -> str:
    return reverse(f"admin:participants_participant_{view}", args=[participant.pk])


def changelist(model: str) -> str:
    return reverse(f"admin:{model}_changelist")


def arm_column(response: Any) -> list[str]:
    return re.findall(r'<td class="field-arm">(.*?)</td>', response.content.decode())


@pytest.fixture
def randomized_pair(trial: Trial) -> list[Participant]:
    return [helpers.randomized(trial), helpers.randomized(trial, condition="GAD")]


def test_a_user_who_is_not_staff_cannot_use_the_admin(client: Client, coordinator: Any) -> None:
    client.force_login(coordinator)
    response = client.get(changelist("participants_participant"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_admin_has_no_participant_actions_they_are_in_the_workspace(
    client: Client, trial: Trial, investigator: Any
) -> None:
    """Screening, consent, enrollment, randomization and the end of participation moved to the workspace
    (tests/workspace/test_enrollment_forms.py); the register links there and does nothing itself."""
    login(client, investigator)
    enrolled = helpers.ready_to_randomize(trial)
    for view in [*ENROLLING_VIEWS, "screen"]:
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:participants_participant_{view}", args=[enrolled.pk])
    base = reverse("admin:participants_participant_changelist")
    for path in [f"{base}screen/{trial.slug}/", *(f"{base}{enrolled.pk}/{view}/" for view in ENROLLING_VIEWS)]:
        assert client.get(path).status_code != 200, path
        assert client.post(path, {"reason": "x"}).status_code != 200, path
    enrolled.refresh_from_db()
    assert enrolled.status == "enrolled"
    assert not Allocation.objects.exists()
    detail = client.get(url("change", enrolled)).content.decode()
    assert f'href="/workspace/{trial.slug}/participants/{enrolled.pk}/"' in detail


def test_a_blinded_statistician_sees_arms_only_as_letters(
    client: Client, trial: Trial, blinded_statistician: Any, randomized_pair: list[Participant]
) -> None:
    login(client, blinded_statistician)
    response = client.get(changelist("participants_participant"))
    assert response.status_code == 200
    assert set(arm_column(response)) <= {"Arm A", "Arm B"}
    assert len(arm_column(response)) == 2
    body = response.content.decode()
    assert not any(name in body for name in ARM_NAMES)

    detail = client.get(url("change", randomized_pair[0])).content.decode()
    assert re.search(r'id="allocation-arm">\s*Arm [AB]\s*<', detail)
    assert not any(name in detail for name in ARM_NAMES)
    # No contact details either: not the name, not the e-mail, not the signature.
    assert "Jamie Doe" not in detail
    assert "jamie@example.org" not in detail
    assert "/screen/" not in body  # no screening link

    allocations = client.get(changelist("participants_allocation"))
    assert set(arm_column(allocations)) <= {"Arm A", "Arm B"}
    assert not any(name in allocations.content.decode() for name in ARM_NAMES)


def test_a_coordinator_sees_the_real_arm_in_an_open_label_trial(
    client: Client, trial: Trial, coordinator: Any, randomized_pair: list[Participant]
) -> None:
    login(client, coordinator)
    response = client.get(changelist("participants_participant"))
    assert set(arm_column(response)) <= set(ARM_NAMES)


def test_a_coordinator_sees_masked_arms_in_a_blinded_trial(client: Client, db: None) -> None:
    masked = helpers.open_reference_trial(slug="masked", open_label=False, study_id_prefix="MK")
    user = get_user_model().objects.create_user(username="mia", password="x")
    helpers.grant(masked, user, "coordinator")
    helpers.randomized(masked)
    login(client, user)
    assert arm_column(client.get(changelist("participants_participant"))) == ["Masked"]


def test_an_outsider_sees_nothing_of_another_trial(
    client: Client, trial: Trial, other_trial: Trial, outsider: Any, randomized_pair: list[Participant]
) -> None:
    own = helpers.eligible(other_trial)
    login(client, outsider)
    participant = randomized_pair[0]

    listing = client.get(changelist("participants_participant"))
    assert [p.pk for p in listing.context["cl"].result_list] == [own.pk]
    assert client.get(url("change", participant)).status_code == 404

    trials = client.get(changelist("trial_trial"))
    assert [t.pk for t in trials.context["cl"].result_list] == [other_trial.pk]
    assert client.get(reverse("admin:trial_trial_change", args=[trial.pk])).status_code == 404
    assert client.get(reverse("admin:trial_trial_history", args=[trial.pk])).status_code == 404
    factor = StratificationFactor.objects.get(trial=trial)
    assert client.get(reverse("admin:trial_stratificationfactor_change", args=[factor.pk])).status_code == 404

    audit = client.get(changelist("trial_auditevent"))
    assert all(event.trial_id == other_trial.pk for event in audit.context["cl"].result_list)
    assert f"trial__id__exact={trial.pk}" not in audit.content.decode()  # not even among the filters

    allocations = client.get(changelist("participants_allocation"))
    assert list(allocations.context["cl"].result_list) == []
    allocation = Allocation.objects.get(participant=participant)
    assert client.get(reverse("admin:participants_allocation_change", args=[allocation.pk])).status_code == 404


def test_the_coordinators_pages_never_show_the_block_sizes(
    client: Client, trial: Trial, coordinator: Any, randomized_pair: list[Participant]
) -> None:
    login(client, coordinator)
    pages = [
        client.get(reverse("admin:trial_trial_change", args=[trial.pk])),
        client.get(changelist("trial_trial")),
        client.get(changelist("participants_participant")),
        client.get(url("change", randomized_pair[0])),
        client.get(changelist("participants_allocation")),
    ]  # the randomization pages are the workspace's: tests/workspace/test_enrollment_forms.py
    for page in pages:
        assert page.status_code == 200
        # (The method's name, "permuted blocks (random block sizes)", says nothing about the sizes.)
        body = page.content.decode()
        assert "Block" not in body
        assert "block_size" not in body
        assert "[2, 4, 6]" not in body
        assert "Minimization probability" not in body
    assert "block_sizes" not in pages[0].context["adminform"].form.fields


def test_those_who_may_see_the_design_secrets_do(
    client: Client, trial: Trial, administrator: Any, randomized_pair: list[Participant]
) -> None:
    login(client, administrator)
    body = client.get(reverse("admin:trial_trial_change", args=[trial.pk])).content.decode()
    assert "Block sizes" in body
    assert "[2, 4, 6]" in body
    allocations = client.get(changelist("participants_allocation")).content.decode()
    assert "Block size" in allocations


def test_a_superuser_sees_every_trial_but_enrolls_only_with_an_enrolling_role(
    client: Client, trial: Trial, other_trial: Trial
) -> None:
    root = get_user_model().objects.create_superuser(username="root", password="x")
    login(client, root)
    trials = client.get(changelist("trial_trial"))
    assert {t.pk for t in trials.context["cl"].result_list} == {trial.pk, other_trial.pk}
    assert client.get(f"/workspace/{trial.slug}/screen/").status_code == 404  # no role: not a member


def test_the_audit_trail_is_for_roles_that_may_read_it(
    client: Client, trial: Trial, coordinator: Any, investigator: Any
) -> None:
    helpers.eligible(trial, by=coordinator)
    login(client, coordinator)
    assert client.get(changelist("trial_auditevent")).status_code == 403
    client.logout()
    login(client, investigator)
    response = client.get(changelist("trial_auditevent") + "?action=participant.screen")
    assert response.status_code == 200
    assert [e.action for e in response.context["cl"].result_list] == ["participant.screen"]
    event = response.context["cl"].result_list[0]
    assert client.get(reverse("admin:trial_auditevent_change", args=[event.pk])).status_code == 200
    assert client.post(reverse("admin:trial_auditevent_delete", args=[event.pk])).status_code == 403


def test_the_participant_list_costs_the_same_queries_for_more_rows(
    client: Client, trial: Trial, coordinator: Any
) -> None:
    login(client, coordinator)
    helpers.randomized(trial)
    helpers.enrolled(trial)
    with CaptureQueriesContext(connection) as few:
        assert client.get(changelist("participants_participant")).status_code == 200
    for _ in range(4):
        helpers.randomized(trial, condition="GAD")
    with CaptureQueriesContext(connection) as more:
        assert client.get(changelist("participants_participant")).status_code == 200
    assert len(more) == len(few)


def test_the_lists_take_only_the_filters_they_offer(
    client: Client, trial: Trial, blinded_statistician: Any, coordinator: Any, randomized_pair: list[Participant]
) -> None:
    # Django would filter on any field named in the address: a blinded reader could split the list by arm,
    # an enroller by block size. Only the offered filters work; anything else is refused (400).
    arm = randomized_pair[0].allocation.arm
    login(client, blinded_statistician)
    allocations = changelist("participants_allocation")
    assert client.get(allocations, {"arm": arm.pk}).status_code == 400
    assert client.get(allocations, {"arm__code": arm.code}).status_code == 400
    assert client.get(changelist("participants_participant"), {"allocation__arm": arm.pk}).status_code == 400
    offered = client.get(allocations, {"method__exact": arm.trial.randomization_method})
    assert offered.status_code == 200 and len(arm_column(offered)) == 2
    client.logout()
    login(client, coordinator)
    assert client.get(allocations, {"block_size": 2}).status_code == 400
    assert client.get(changelist("participants_participant"), {"status__exact": "randomized"}).status_code == 200
