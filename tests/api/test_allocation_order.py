"""In an open-label trial with permuted blocks, knowing the order of past allocations helps guess the next
one. A trial that conceals that order (``conceal_allocation_order``) shows the roles that enroll no
allocation times, and lists their allocations by study ID, in the API and the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from participants import services
from tests import helpers
from tests.admin import login
from trial import clock
from trial.models import Trial

BASE = "/api/v1/trials/therabot"


@pytest.fixture
def allocated_out_of_order(trial: Trial) -> list[str]:
    """Three participants randomized in the reverse order of their study IDs, a day apart."""
    people = [helpers.ready_to_randomize(trial) for _ in range(3)]
    start = clock.now()
    for day, participant in enumerate(reversed(people)):
        with clock.use(clock.SimulatedClock(start + timedelta(days=day))):
            services.participant_randomize(participant=participant, by=None)
    return [p.study_id for p in people]


def _conceal(trial: Trial) -> None:
    Trial.objects.filter(pk=trial.pk).update(conceal_allocation_order=True)


def test_a_coordinator_of_a_concealing_trial_gets_no_allocation_times_and_study_id_order(
    api, trial, coordinator, allocated_out_of_order
):
    shown = api(coordinator).get(f"{BASE}/participants/").json()["results"]
    assert all(row["allocation"]["allocated_at"] is not None for row in shown)  # without the option

    _conceal(trial)
    listed = api(coordinator).get(f"{BASE}/participants/").json()["results"]
    assert [row["study_id"] for row in listed] == sorted(allocated_out_of_order)
    assert all(row["allocation"]["allocated_at"] is None and row["randomized_at"] is None for row in listed)
    assert all(row["allocation"]["arm"] in {"chatbot", "waitlist"} for row in listed)  # still open label
    detail = api(coordinator).get(f"{BASE}/participants/{listed[0]['id']}/").json()
    assert detail["allocation"]["allocated_at"] is None and detail["randomized_at"] is None
    assert api(coordinator).get(f"{BASE}/").json()["conceal_allocation_order"] is True


def test_roles_that_do_not_enroll_still_see_the_times(api, trial, administrator, allocated_out_of_order):
    _conceal(trial)
    listed = api(administrator).get(f"{BASE}/participants/").json()["results"]
    assert all(row["allocation"]["allocated_at"] is not None for row in listed)


def test_the_admin_allocation_list_hides_the_order_from_a_coordinator(
    client: Client, trial, coordinator, allocated_out_of_order
):
    login(client, coordinator)
    url = reverse("admin:participants_allocation_changelist")
    _conceal(trial)
    page = client.get(url)
    rows = list(page.context["cl"].result_list)
    assert [a.participant.study_id for a in rows] == sorted(allocated_out_of_order)
    cells = re.findall(r'<td class="field-allocated_at">(.*?)</td>', page.content.decode())
    assert cells == ["(hidden)"] * 3
    assert client.get(url, {"o": "6"}).status_code == 200  # no column sorts by allocation time
    sorted_rows = [a.participant.study_id for a in client.get(url, {"o": "6"}).context["cl"].result_list]
    assert sorted_rows == sorted(allocated_out_of_order)

    detail = client.get(reverse("admin:participants_participant_change", args=[rows[0].participant_id]))
    page = detail.content.decode()
    assert detail.status_code == 200 and ("Therapy chatbot" in page or "Waitlist control" in page)
    assert "Allocated at:" not in page and "Randomized at" not in page
    assert 'class="field-at"' not in page  # the status history's times, the randomization's among them
