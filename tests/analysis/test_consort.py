"""CONSORT counts come from what happened to each participant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis.consort import consort_counts
from assessments.models import ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants.models import Allocation
from participants.services import (
    participant_mark_lost,
    participant_screen,
    participant_withdraw,
)
from participants.services.chatbot import engagement_record
from tests import helpers

pytestmark = pytest.mark.django_db


def _answer_week(participant, code: str) -> None:
    visit = ScheduledAssessment.objects.get(participant=participant, visit__code=code)
    sweep(now=visit.opens_at, deliver=False)
    visit.refresh_from_db()
    for instrument in visit.instruments:
        response_submit(
            assessment=visit,
            instrument_code=instrument,
            answers=helpers.lowest_answers(instrument),
            source="api",
            now=visit.opens_at + timedelta(hours=1),
        )


def test_the_flow_is_counted_from_the_data(trial):
    participant_screen(trial=trial, answers=helpers.answers(age=16), by=None)
    participant_screen(trial=trial, answers=helpers.answers(age=16, bipolar=True), by=None)
    declined = helpers.consented(trial)
    participant_withdraw(participant=declined, reason="Did not want to wait", by=None)
    helpers.eligible(trial)  # still deciding
    randomized = [helpers.randomized(trial) for _ in range(8)]
    arm = {p.pk: Allocation.objects.get(participant=p).arm for p in randomized}
    completer, withdrawer, lost = randomized[:3]
    for p in randomized:
        if arm[p.pk].code == "chatbot":
            engagement_record(
                trial=trial, study_id=p.study_id, session_id="s1", started_at=p.randomized_at,
                ended_at=None, participant_messages=1, bot_messages=1,
            )  # fmt: skip
    participant_withdraw(participant=withdrawer, reason="Moved abroad", by=None)
    participant_mark_lost(participant=lost, reason="No reply to calls", by=None)
    _answer_week(completer, "week4")
    _answer_week(completer, "week8")  # by then everyone else's week 4 window has closed
    flow = consort_counts(trial, instrument="phq9")

    assert flow["assessed_for_eligibility"] == 12
    assert flow["excluded"]["not_meeting_inclusion_criteria"] == 2
    assert flow["excluded"]["reasons"] == {"Younger than 18": 2, "Bipolar I or II disorder": 1}
    assert flow["excluded"]["declined_reasons"] == {"Did not want to wait": 1}
    assert flow["excluded"]["not_yet_randomized"] == 1
    assert flow["randomized"] == 8
    assert sum(a["allocated"] for a in flow["allocation"].values()) == 8
    assert set(flow["allocation"]) <= {"A", "B"}
    # Blinded: only the chatbot arm can have "received" short of "allocated"; the count would unblind.
    assert all(a["received"] is None for a in flow["allocation"].values())
    week4 = next(v for v in flow["follow_up"] if v["visit"] == "week4")
    totals = {
        k: sum(arm[k] for arm in week4["arms"].values())
        for k in ("completed", "missed", "withdrawn", "lost_to_follow_up", "pending")
    }
    assert totals == {"completed": 1, "missed": 5, "withdrawn": 1, "lost_to_follow_up": 1, "pending": 0}
    reasons = _reasons(week4)
    assert reasons == {"Moved abroad": 1, "No reply to calls": 1}
    analysed = sum(a["analysed"] for a in flow["analysis"].values())
    assert analysed == 1  # only the completer has a post-baseline PHQ-9


def _reasons(visit_flow) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counts in visit_flow["arms"].values():
        for reason, n in counts["reasons"].items():
            merged[reason] = merged.get(reason, 0) + n
    return merged


def test_an_arm_without_chatbot_use_has_not_received_it(trial):
    for _ in range(6):
        helpers.randomized(trial)
    flow = consort_counts(trial, instrument="phq9", blinded=False)
    assert flow["allocation"]["waitlist"]["received"] == flow["allocation"]["waitlist"]["allocated"]
    assert flow["allocation"].get("chatbot", {"received": 0})["received"] == 0


def test_a_visit_that_only_one_arm_has_is_not_in_the_blinded_flow(db):
    from analysis.report.consort import consort_diagram
    from trial.templates import read_template

    visits = read_template("therabot")["visits"] + [
        {"code": "week6", "name": "Week 6 (chatbot arm)", "week": 6, "anchor": "randomization", "offset_days": 42,
         "window_before_days": 3, "window_after_days": 7, "instruments": [{"code": "waisr", "arm": "chatbot"}]},
    ]  # fmt: skip
    trial = helpers.open_reference_trial(slug="onearm", study_id_prefix="OA", visits=visits)
    people = [helpers.randomized(trial) for _ in range(6)]
    assert {p.allocation.arm.code for p in people} == {"chatbot", "waitlist"}
    # Only the chatbot arm is scheduled for week 6: its letter would show counts, the other's all zeros.
    flow = consort_counts(trial, instrument="phq9")
    assert [v["visit"] for v in flow["follow_up"]] == ["week4", "week8"]
    assert "Week 6" not in consort_diagram(flow)
    unblinded = consort_counts(trial, instrument="phq9", blinded=False)
    week6 = next(v for v in unblinded["follow_up"] if v["visit"] == "week6")
    chatbot = sum(p.allocation.arm.code == "chatbot" for p in people)
    assert (week6["arms"]["chatbot"]["pending"], week6["arms"]["waitlist"]["pending"]) == (chatbot, 0)
