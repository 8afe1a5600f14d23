"""The trial dashboard: every member sees it, figures are exact, arms stay hidden from those who must not
know them, and its cost does not grow with the number of participants."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants import services
from participants.models import OutboxMessage, SafetyAlert
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
ARM_WORDS = ("chatbot", "waitlist", "therapy chatbot", "waitlist control", "waisr", "alliance")


def page(client: Any, slug: str, at: datetime, query: str = "") -> str:
    with clock.use(clock.SimulatedClock(at)):
        response = client.get(f"/workspace/{slug}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def numbers(html: str, heading: str) -> list[str]:
    """The cells of the table row whose header cell is ``heading``."""
    row = re.search(rf"<th scope=\"row\">{re.escape(heading)}</th>(.*?)</tr>", html, re.S)
    assert row, heading
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def answer(visit: ScheduledAssessment, codes: list[str]) -> None:
    for code in codes:
        response_submit(assessment=visit, instrument_code=code, answers=helpers.lowest_answers(code), source="api")


@pytest.mark.parametrize(
    "role",
    ["coordinator", "investigator", "blinded_statistician", "unblinded_statistician", "clinician", "administrator"],
)
def test_every_member_sees_the_dashboard(web: Any, trial: Any, role: str, request: Any) -> None:
    user = request.getfixturevalue(role)
    response = web(user).get(f"/workspace/{trial.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert trial.title in html and "Accrual" in html and "Visits and questionnaires" in html


def test_outsiders_get_404_and_anonymous_readers_sign_in(web: Any, trial: Any, outsider: Any) -> None:
    assert web(outsider).get(f"/workspace/{trial.slug}/").status_code == 404
    anonymous = web(None).get(f"/workspace/{trial.slug}/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.fixture
def small_trial(trial: Any) -> dict[str, Any]:
    """Seven people screened on Monday 2 March 2026: two ineligible (one for two reasons), one eligible, one
    enrolled, three randomized of whom one withdrew the same day."""
    with clock.use(clock.SimulatedClock(T0)):
        services.participant_screen(trial=trial, answers=helpers.answers(age=16, us_resident=False), by=None)
        services.participant_screen(trial=trial, answers=helpers.answers(age=16), by=None)
        helpers.eligible(trial)
        enrolled = helpers.enrolled(trial, condition="GAD")
        first, second, third = (helpers.randomized(trial) for _ in range(3))
        services.participant_withdraw(participant=third, reason="Moved abroad", by=None)
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=29))):
        sweep(deliver=False)  # the baseline window of the one enrolled has closed: missed
        week4 = ScheduledAssessment.objects.get(participant=first, visit__code="week4")
        answer(week4, week4.instruments)  # every questionnaire of their arm
    return {"enrolled": enrolled, "randomized": [first, second, third]}


def test_the_figures_of_a_small_trial_are_exact(web: Any, trial: Any, administrator: Any, small_trial: Any) -> None:
    html = page(web(administrator), trial.slug, T0 + timedelta(days=30))  # Wednesday 1 April
    for step, n in (("Screened", "7"), ("Eligible", "5"), ("Consented", "4"), ("Enrolled", "4"), ("Randomized", "3")):
        assert numbers(html, step) == [n], step
    assert numbers(html, "Ineligible at screening") == ["2"]
    assert numbers(html, "Withdrawn") == ["1"]
    assert '<td>Younger than 18</td><td class="num">2</td>' in html
    assert '<td>Not resident in the US</td><td class="num">1</td>' in html
    # Accrual: three randomized in March, of a target of 210; per arm for this reader.
    assert numbers(html, "Mar 1, 2026")[:3] == ["3", "3", "1%"]
    assert "randomized of a target of 210 (1%)" in html
    assert '<title id="accrual-chart-title">' in html and "<caption>Randomized per month</caption>" in html
    # Strata and site: screened, enrolled, randomized.
    assert numbers(html, "Major depressive disorder")[:3] == ["6", "3", "3"]
    assert numbers(html, "Generalized anxiety disorder")[:3] == ["1", "1", "0"]
    assert numbers(html, "National online recruitment")[:3] == ["7", "4", "3"]
    # Visits: due today, overdue, missed, completed, due so far, completion.
    assert numbers(html, "Baseline") == ["0", "0", "1", "3", "4", "75%"]
    assert numbers(html, "Week 4 (end of treatment)") == ["0", "1", "0", "1", "2", "50%"]
    assert numbers(html, "Week 8 (follow-up)") == ["0", "0", "0", "0", "0", "\u2013"]


def test_per_arm_figures_only_for_readers_who_see_arms(
    web: Any, trial: Any, administrator: Any, blinded_statistician: Any, small_trial: Any
) -> None:
    arms = [a.name for a in trial.arms.all()]
    seen = page(web(administrator), trial.slug, T0 + timedelta(days=30))
    assert all(f'<th scope="col" class="num">{name}</th>' in seen for name in arms)
    blind = page(web(blinded_statistician), trial.slug, T0 + timedelta(days=30)).lower()
    assert not [
        word for word in (*ARM_WORDS, *(n.lower() for n in arms)) if word in blind.replace(trial.title.lower(), "")
    ]
    assert "figures are pooled over all arms" in blind


def test_visits_due_today_follow_the_trials_day(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        helpers.randomized(trial)
    due = ScheduledAssessment.objects.get(visit__code="week4").due_at  # 09:00 in New York
    assert numbers(page(web(coordinator), trial.slug, due - timedelta(hours=8)), "Week 4 (end of treatment)")[:2] == [
        "1",
        "0",
    ]
    assert numbers(page(web(coordinator), trial.slug, due + timedelta(hours=16)), "Week 4 (end of treatment)")[:2] == [
        "0",
        "1",
    ]


def test_failing_messages_are_counted_and_lead_to_the_log(web: Any, trial: Any, coordinator: Any) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        person = helpers.enrolled(trial)
    messages = OutboxMessage.objects.filter(participant=person)
    assert messages.exists()
    messages.update(status="failed", last_error="no route")
    OutboxMessage.objects.create(kind="x", participant=person, dedupe_key="retry-1", status="pending", attempts=2)
    html = page(web(coordinator), trial.slug, T0 + timedelta(hours=1))
    assert f"{messages.filter(status='failed').count()} failed</span>" in html
    assert "1 failed once, retrying" in html
    assert f'href="/workspace/{trial.slug}/messages/"' in html


def test_open_alerts_only_for_those_who_handle_safety(
    web: Any, trial: Any, clinician: Any, coordinator: Any, blinded_statistician: Any
) -> None:
    with clock.use(clock.SimulatedClock(T0)):
        person = helpers.enrolled(trial)
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="baseline")
        response_submit(
            assessment=visit,
            instrument_code="phq9",
            answers={**helpers.lowest_answers("phq9"), "phq9_9": 3},
            source="api",
        )
    alert = SafetyAlert.objects.get(participant=person)
    late = alert.escalate_at + timedelta(minutes=5)
    html = page(web(clinician), trial.slug, late)
    assert "Open safety alerts" in html
    assert f'href="/workspace/{trial.slug}/safety/{alert.pk}/"' in html
    assert "past their escalation time" in html and '<span class="error-text">1</span>' in html
    for other in (coordinator, blinded_statistician):
        assert "safety alert" not in page(web(other), trial.slug, late).lower()


@pytest.fixture
def masked() -> dict[str, Any]:
    """A masked trial (staff do not see arms), six randomized in both arms, each of whom answered the
    questionnaires every arm fills at week 4, and nothing more."""
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial")
    with clock.use(clock.SimulatedClock(T0)):
        people = [helpers.randomized(trial) for _ in range(6)]
    assert {p.allocation.arm.code for p in people} == {"chatbot", "waitlist"}
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=27))):
        sweep(deliver=False)
        for person in people:
            visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
            answer(visit, ["phq9", "gad7", "gadq4", "wcs"])
    readers = {}
    for username, role in (
        ("bea", Role.BLINDED_STATISTICIAN),
        ("mick", Role.COORDINATOR),
        ("ines", Role.INVESTIGATOR),
        ("cleo", Role.SAFETY_CLINICIAN),
        ("ada", Role.ADMINISTRATOR),
    ):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, user, role)
        readers[role] = user
    return {"trial": trial, "people": people, "readers": readers}


def _without_token(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_one_arms_questionnaire_leaves_a_blind_readers_dashboard_unchanged(web: Any, masked: Any) -> None:
    trial, people, readers = masked["trial"], masked["people"], masked["readers"]
    chatbot = [p for p in people if p.allocation.arm.code == "chatbot"]
    at = T0 + timedelta(days=29)
    blind_roles = (Role.BLINDED_STATISTICIAN, Role.COORDINATOR, Role.INVESTIGATOR, Role.SAFETY_CLINICIAN)
    before = {role: _without_token(page(web(readers[role]), trial.slug, at)) for role in blind_roles}
    for role, html in before.items():
        assert numbers(html, "Week 4 (end of treatment)")[3] == "6", role
        assert not [w for w in ARM_WORDS if w in html.lower()], role
    # The administrator sees arms: the chatbot arm's visits wait for the alliance questionnaire.
    admin = page(web(readers[Role.ADMINISTRATOR]), trial.slug, at)
    assert numbers(admin, "Week 4 (end of treatment)")[3] == str(6 - len(chatbot))
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=28))):
        for person in chatbot:
            answer(ScheduledAssessment.objects.get(participant=person, visit__code="week4"), ["waisr"])
    for role in blind_roles:
        assert _without_token(page(web(readers[role]), trial.slug, at)) == before[role], role
    # After the window closes, nobody's week 4 is missed for a blind reader (stored: the chatbot arm's are not).
    later = T0 + timedelta(days=40)
    with clock.use(clock.SimulatedClock(later)):
        sweep(deliver=False)
    for role in blind_roles:
        assert numbers(page(web(readers[role]), trial.slug, later), "Week 4 (end of treatment)")[2:4] == ["0", "6"]


def test_a_blind_reader_sees_the_same_missed_visits_whatever_the_arm(web: Any, masked: Any) -> None:
    """Stored, a chatbot participant who skipped only the alliance questionnaire missed week 4; a blind
    reader sees it completed, exactly like a waitlist participant."""
    trial, people, readers = masked["trial"], masked["people"], masked["readers"]
    chatbot = [p for p in people if p.allocation.arm.code == "chatbot"]
    later = T0 + timedelta(days=40)
    with clock.use(clock.SimulatedClock(later)):
        sweep(deliver=False)
    assert ScheduledAssessment.objects.filter(visit__code="week4", status="missed").count() == len(chatbot)
    admin = page(web(readers[Role.ADMINISTRATOR]), trial.slug, later)
    assert numbers(admin, "Week 4 (end of treatment)")[2:4] == [str(len(chatbot)), str(6 - len(chatbot))]
    blind = page(web(readers[Role.BLINDED_STATISTICIAN]), trial.slug, later)
    assert numbers(blind, "Week 4 (end of treatment)")[2:4] == ["0", "6"]


def _queries(client: Any, slug: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        page(client, slug, T0 + timedelta(days=30))
    return len(captured)


@pytest.mark.parametrize("role", ["administrator", "blinded_statistician", "clinician"])
def test_the_dashboard_costs_the_same_for_3_and_12_participants(web: Any, trial: Any, role: str, request: Any) -> None:
    client = web(request.getfixturevalue(role))
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(3):
            helpers.randomized(trial)
    few = _queries(client, trial.slug)
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=3))):
        for _ in range(9):
            helpers.randomized(trial)
        helpers.eligible(trial)
    assert _queries(client, trial.slug) == few
    assert few <= 20


def test_accrual_per_week_fills_the_weeks_without_randomization(web: Any, trial: Any, coordinator: Any) -> None:
    for days in (0, 15):  # Monday 2 March, then Tuesday 17 March
        with clock.use(clock.SimulatedClock(T0 + timedelta(days=days))):
            helpers.randomized(trial)
    html = page(web(coordinator), trial.slug, T0 + timedelta(days=20), "?by=week")
    assert "<caption>Randomized per week</caption>" in html
    assert numbers(html, "Mar 2, 2026")[:3] == ["1", "1", "0%"]
    assert numbers(html, "Mar 9, 2026")[:2] == ["0", "1"]
    assert numbers(html, "Mar 16, 2026")[:2] == ["1", "2"]


def test_a_visit_only_one_arm_has_is_left_out_for_blind_readers(web: Any) -> None:
    from trial.templates import read_template

    visits = read_template("therabot")["visits"]
    check_in = {
        "code": "week2",
        "name": "Week 2 alliance check-in",
        "week": 2,
        "anchor": "randomization",
        "offset_days": 14,
        "window_before_days": 0,
        "window_after_days": 7,
        "instruments": [{"code": "waisr", "arm": "chatbot"}],
    }
    trial = helpers.open_reference_trial(
        slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial", visits=[*visits, check_in]
    )
    with clock.use(clock.SimulatedClock(T0)):
        for _ in range(4):
            helpers.randomized(trial)
    assert ScheduledAssessment.objects.filter(visit__code="week2").exists()
    readers = {}
    for username, role in (("bea", Role.BLINDED_STATISTICIAN), ("mick", Role.COORDINATOR), ("ada", Role.ADMINISTRATOR)):
        readers[role] = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, readers[role], role)
    at = T0 + timedelta(days=16)
    assert "Week 2 alliance check-in" in page(web(readers[Role.ADMINISTRATOR]), trial.slug, at)
    for role in (Role.BLINDED_STATISTICIAN, Role.COORDINATOR):
        html = page(web(readers[role]), trial.slug, at)
        assert "Week 2" not in html and "alliance" not in html.lower(), role
        listed = page(web(readers[role]), trial.slug, T0 + timedelta(days=1), "participants/")
        assert "Week 2" not in listed and "alliance" not in listed.lower(), role
        assert listed.count("Next due Mar 30, 2026") == 4, role  # week 4 next for all, whichever the arm


def test_a_masked_clinician_sees_alerts_without_their_source(web: Any) -> None:
    from participants.services.safety import safety_alert_raise

    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False, title="A masked trial")
    clinician = get_user_model().objects.create_user(username="cleo", email="cleo@example.org")
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    with clock.use(clock.SimulatedClock(T0)):
        person = helpers.randomized(trial)
        alert = safety_alert_raise(
            participant=person, source="chatbot", flag="crisis_language", dedupe_key="t:1", urgent=True
        )
    assert alert is not None
    html = page(web(clinician), trial.slug, T0 + timedelta(minutes=10))
    assert f"/safety/{alert.pk}/" in html and "Urgent" in html
    assert "chatbot" not in html.lower() and "crisis_language" not in html and "Signal" not in html
