"""The participant list: only the trial's own participants, newest screened first, searched and filtered
as the reader's role allows, paginated with the filters kept, and arms hidden from those who must not know."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import ScheduledAssessment
from assessments.services.sweep import sweep
from participants import services
from tests import helpers
from tests.workspace.test_dashboard import ARM_WORDS, T0, answer
from trial import clock
from trial.models import Role, Site

pytestmark = pytest.mark.django_db


def listing(client: Any, slug: str, query: str = "", at: datetime | None = None, **headers: Any) -> str:
    with clock.use(clock.SimulatedClock(at or T0 + timedelta(days=1))):
        response = client.get(f"/workspace/{slug}/participants/{query}", **headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def study_ids(html: str) -> list[str]:
    return re.findall(r'<td class="plist-id"><a href="/workspace/[^/]+/participants/\d+/">([^<]+)</a>', html)


@pytest.mark.parametrize(
    "role",
    ["coordinator", "investigator", "blinded_statistician", "unblinded_statistician", "clinician", "administrator"],
)
def test_every_member_sees_the_list(web: Any, trial: Any, role: str, request: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        helpers.randomized(trial)
    html = listing(web(request.getfixturevalue(role)), trial.slug)
    [shown] = study_ids(html)
    assert shown.startswith(trial.study_id_prefix)
    assert trial.slug in html and "1 participant in" in html


def test_outsiders_get_404_and_anonymous_readers_sign_in(web: Any, trial: Any, outsider: Any) -> None:
    assert web(outsider).get(f"/workspace/{trial.slug}/participants/").status_code == 404
    anonymous = web(None).get(f"/workspace/{trial.slug}/participants/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_only_this_trials_participants_newest_first(web: Any, trial: Any, other_trial: Any, coordinator: Any) -> None:
    for days in range(3):
        with clock.use(clock.SimulatedClock(T0 + timedelta(days=days))):
            helpers.enrolled(trial)
            helpers.enrolled(other_trial)
    html = listing(web(coordinator), trial.slug, at=T0 + timedelta(days=5))
    ids = study_ids(html)
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)
    assert all(i.startswith(trial.study_id_prefix) for i in ids)
    assert "3 participants in therabot" in html


def test_names_are_shown_and_searched_only_with_contact_rights(
    web: Any, trial: Any, coordinator: Any, blinded_statistician: Any
) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        jamie = helpers.enrolled(trial)
        other = helpers.consented(trial)
        services.participant_enroll(
            participant=other,
            contact=services.ContactInput(
                full_name="Robin Hale", email="robin@example.net", timezone="America/Chicago"
            ),
            by=None,
        )
    html = listing(web(coordinator), trial.slug, "?q=robin")
    assert "Robin Hale" in html and len(study_ids(html)) == 1
    assert len(study_ids(listing(web(coordinator), trial.slug, "?q=example.net"))) == 1
    assert study_ids(listing(web(coordinator), trial.slug, f"?q={jamie.study_id}")) == [jamie.study_id]
    blind = listing(web(blinded_statistician), trial.slug, "?q=robin")
    assert study_ids(blind) == [] and "Robin" not in blind.replace('value="robin"', "")
    assert "Study ID only" in blind and "Jamie Doe" not in listing(web(blinded_statistician), trial.slug)
    assert study_ids(listing(web(blinded_statistician), trial.slug, f"?q={jamie.study_id.lower()}")) == [jamie.study_id]


def test_filters_by_status_site_and_stratum(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        gad = helpers.enrolled(trial, condition="GAD")
        mdd = helpers.randomized(trial)
        helpers.eligible(trial)
        second_site = Site.objects.create(trial=trial, code="clinic", name="City clinic", country="US")
        at_clinic = services.participant_screen(trial=trial, answers=helpers.answers(), by=None, site_code="clinic")
    client = web(coordinator)
    assert study_ids(listing(client, trial.slug, "?status=randomized")) == [mdd.study_id]
    assert study_ids(listing(client, trial.slug, "?stratum=condition:GAD")) == [gad.study_id]
    assert len(study_ids(listing(client, trial.slug, "?stratum=condition:MDD"))) == 3
    clinic = listing(client, trial.slug, f"?site={second_site.pk}")
    assert re.findall(r"participants/(\d+)/", clinic) == [str(at_clinic.pk)]
    # Each of the trial's own sites is offered once, and no other trial's.
    html = listing(client, trial.slug)
    assert html.count(">City clinic</option>") == 1 and html.count(">National online recruitment</option>") == 1
    assert "other-trial" not in html
    # A value that is not one of this trial's is refused, not applied.
    refused = listing(client, trial.slug, "?site=999999&stratum=condition:GAD")
    assert "Select a valid choice" in refused and study_ids(refused) == [gad.study_id]  # the valid filter holds


def test_filters_by_visit_state(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        behind = helpers.enrolled(trial)  # baseline due at once, never answered
        done = helpers.ready_to_randomize(trial)  # baseline complete
        randomized = helpers.randomized(trial)  # baseline complete, week 4 and 8 to come
    client = web(coordinator)
    at = T0 + timedelta(days=3)
    assert study_ids(listing(client, trial.slug, "?visits=overdue", at=at)) == [behind.study_id]
    assert study_ids(listing(client, trial.slug, "?visits=complete", at=at)) == [done.study_id]
    assert study_ids(listing(client, trial.slug, "?visits=missed", at=at)) == []
    assert "Overdue</span> since Mar 2, 2026" in listing(client, trial.slug, at=at)
    later = T0 + timedelta(days=20)
    with clock.use(clock.SimulatedClock(later)):
        sweep(deliver=False)
    assert study_ids(listing(client, trial.slug, "?visits=missed", at=later)) == [behind.study_id]
    week4 = ScheduledAssessment.objects.get(participant=randomized, visit__code="week4")
    assert study_ids(listing(client, trial.slug, "?visits=due_today", at=week4.due_at)) == [randomized.study_id]
    html = listing(client, trial.slug, at=later)
    assert "Missed</span>" in html and "Next due Mar 30, 2026" in html


def test_pages_of_fifty_keep_the_filters(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(52):
            helpers.eligible(trial)
        helpers.eligible(trial, condition="GAD")
    client = web(coordinator)
    first = listing(client, trial.slug, "?stratum=condition:MDD")
    assert len(re.findall(r'<td class="plist-id">', first)) == 50
    assert "Page 1 of 2" in first and 'href="?stratum=condition%3AMDD&amp;page=2"' in first
    second = listing(client, trial.slug, "?stratum=condition:MDD&page=2")
    assert len(re.findall(r'<td class="plist-id">', second)) == 2 and "Page 2 of 2" in second
    assert "52 participants in therabot match the filters" in second


def test_htmx_gets_only_the_table(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        helpers.enrolled(trial)
    partial = listing(web(coordinator), trial.slug, "?status=enrolled", HTTP_HX_REQUEST="true")
    assert "<html" not in partial and '<table class="plist">' in partial
    full = listing(web(coordinator), trial.slug, "?status=enrolled")
    assert "<html" in full and 'hx-target="#participant-table"' in full and 'method="get"' in full


def test_no_arm_name_or_code_for_blind_readers(web: Any) -> None:
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial")
    with clock.use(clock.SimulatedClock(T0)):
        people = [helpers.randomized(trial) for _ in range(6)]
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=27))):
        sweep(deliver=False)
        for person in people:  # the shared questionnaires only: the chatbot arm's visit stays open
            answer(
                ScheduledAssessment.objects.get(participant=person, visit__code="week4"),
                ["phq9", "gad7", "gadq4", "wcs"],
            )
    assert {p.allocation.arm.code for p in people} == {"chatbot", "waitlist"}
    at = T0 + timedelta(days=33)
    for username, role in (
        ("bea", Role.BLINDED_STATISTICIAN),
        ("mick", Role.COORDINATOR),
        ("ines", Role.INVESTIGATOR),
        ("cleo", Role.SAFETY_CLINICIAN),
    ):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, user, role)
        html = listing(web(user), trial.slug, at=at)
        assert not [w for w in ARM_WORDS if w in html.lower()], role
        # Every row's visit column reads alike: week 4 done for all, week 8 next.
        cells = re.findall(r"Next due [A-Z][a-z]{2} \d+, \d{4}", html)
        assert len(cells) == 6 and "Overdue" not in html, role
        assert study_ids(listing(web(user), trial.slug, "?visits=overdue", at=at)) == [], role
    admin = get_user_model().objects.create_user(username="ada", email="ada@example.org")
    helpers.grant(trial, admin, Role.ADMINISTRATOR)
    seen = listing(web(admin), trial.slug, at=at)
    assert "Therapy chatbot" in seen and "Waitlist control" in seen


def test_no_randomization_times_where_the_order_is_concealed(web: Any) -> None:
    trial = helpers.open_reference_trial(slug="concealed", study_id_prefix="CC", conceal_allocation_order=True)
    user = get_user_model().objects.create_user(username="mick", email="mick@example.org")
    helpers.grant(trial, user, Role.COORDINATOR)
    with clock.use(clock.SimulatedClock(T0)):
        first = helpers.enrolled(trial)
        second = helpers.enrolled(trial)
    with clock.use(clock.SimulatedClock(T0 + timedelta(hours=3))):
        helpers.complete_baseline(second)
        services.participant_randomize(participant=second, by=None)
        helpers.complete_baseline(first)
        services.participant_randomize(participant=first, by=None)
    html = listing(web(user), trial.slug, at=T0 + timedelta(days=1))
    assert study_ids(html) == [second.study_id, first.study_id]  # screening order, not allocation order
    assert "Mar 2, 2026, 13:" not in html  # no allocation time (13:00 New York)


def _queries(client: Any, slug: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        listing(client, slug, "?q=T")
    return len(captured)


@pytest.mark.parametrize("role", ["coordinator", "blinded_statistician"])
def test_the_list_costs_the_same_for_3_and_12_participants(web: Any, trial: Any, role: str, request: Any) -> None:
    client = web(request.getfixturevalue(role))
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(3):
            helpers.randomized(trial)
    few = _queries(client, trial.slug)
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(9):
            helpers.randomized(trial)
    assert _queries(client, trial.slug) == few
    assert few <= 15


def test_a_masked_trial_list_costs_the_same_for_3_and_12_participants(web: Any) -> None:
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial")
    user = get_user_model().objects.create_user(username="mick", email="mick@example.org")
    helpers.grant(trial, user, Role.COORDINATOR)
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(3):
            helpers.randomized(trial)
    few = _queries(web(user), trial.slug)
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(9):
            helpers.randomized(trial)
    assert _queries(web(user), trial.slug) == few


def test_the_screened_date_is_in_the_trials_zone(web: Any, trial: Any, coordinator: Any) -> None:
    late = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)  # 22:30 on March 2 in New York
    with clock.use(clock.SimulatedClock(late)):
        helpers.eligible(trial)
    assert "Mar 2, 2026" in listing(web(coordinator), trial.slug, at=late)


def test_an_emergency_unblinded_participant_shows_their_arm_to_masked_staff(web: Any) -> None:
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial")
    clinician = get_user_model().objects.create_user(username="cleo", email="cleo@example.org")
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    with clock.use(clock.SimulatedClock(T0)):
        first, second = helpers.randomized(trial), helpers.randomized(trial)
        services.participant_unblind(participant=first, reason="Emergency admission", by=clinician)
    html = listing(web(clinician), trial.slug)
    rows = dict(re.findall(r">(MK-?\d+)</a>.*?<td>(Masked|Therapy chatbot|Waitlist control)</td>", html, re.S))
    assert rows == {first.study_id: first.allocation.arm.name, second.study_id: "Masked"}
