"""simulate_trial: a Therabot-like trial through the platform's own services under a simulated clock, and
its analysis recovers the simulated effects."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from assessments.models import Response
from assessments.simulation.outcomes import PUBLISHED_CHANGE
from participants.models import EngagementSession, OutboxMessage, Participant, SafetyAlert, Status
from trial.models import AuditEvent, Trial, TrialStatus

N = 60

# As in ``make demo``: only the wording that ships. The simulated trial schedules the licensed instruments
# of the reference template; it is marked simulated, so it opens without their wording.
pytestmark = pytest.mark.builtin_wording


@pytest.fixture
def simulated(db, tmp_path):
    summary, result = tmp_path / "simulation.json", tmp_path / "analysis.json"
    with summary.open("w") as out:
        call_command("simulate_trial", "--participants", str(N), "--seed", "7", "--lock", stdout=out)
    call_command(
        "analyze", "--trial", "therabot-sim", "--unblinded", "--json", str(result), "--html", str(tmp_path / "a.html")
    )
    call_command(
        "analyze", "--trial", "therabot-sim", "--json", str(tmp_path / "b.json"), "--html", str(tmp_path / "b.html")
    )
    return json.loads(summary.read_text()), json.loads(result.read_text()), tmp_path


def test_a_simulated_trial_goes_through_every_step_and_its_analysis_recovers_the_effects(simulated):
    report, analysis, _ = simulated
    trial = Trial.objects.get(slug="therabot-sim")
    assert trial.status == TrialStatus.LOCKED
    assert trial.simulated
    people = Participant.objects.filter(trial=trial)
    assert people.filter(allocation__isnull=False).count() == report["randomized"] == N
    assert report["screened"] == people.count() == report["ineligible"] + report["declined"] + report["enrolled"]
    assert people.filter(status=Status.INELIGIBLE).count() == report["ineligible"] > 0
    ended = {Status.COMPLETED, Status.WITHDRAWN, Status.LOST_TO_FOLLOW_UP, Status.INELIGIBLE}
    assert set(people.values_list("status", flat=True)) <= ended  # nobody is left half-way
    assert Response.objects.filter(assessment__participant__trial=trial).count() == report["responses"]
    assert report["messages_sent"] >= report["enrolled"]  # invitations (and reminders) went out
    assert OutboxMessage.objects.filter(participant__trial=trial, status="sent").count() == report["messages_sent"]
    # Chatbot use only in the chatbot arm; every alert was worked to the end by the clinician.
    arms = set(
        EngagementSession.objects.filter(participant__trial=trial).values_list(
            "participant__allocation__arm__code", flat=True
        )
    )
    assert arms == {"chatbot"}
    alerts = SafetyAlert.objects.filter(participant__trial=trial)
    assert alerts.exists() and not alerts.exclude(status="resolved").exists()
    # Escalation runs on the simulated clock as the beat runs it: urgent alerts wait longer than an hour
    # for the simulated clinician, routine ones less than a day.
    escalated = alerts.filter(escalated_at__isnull=False)
    assert escalated.count() == report["alerts_escalated"] > 0
    assert set(escalated.values_list("urgent", flat=True)) == {True}
    # The clock moved: the audit trail runs over weeks, in the past.
    times = AuditEvent.objects.filter(trial=trial, action="participant.randomize").values_list("at", flat=True)
    assert (max(times) - min(times)).days >= 20

    # The analysis recovers the simulated effects.
    outcomes = {o["code"]: o for o in analysis["outcomes"]}
    for code, condition in (("mdd_phq9", "MDD"), ("gad_gadq4", "GAD"), ("chrfed_wcs", "CHR-FED")):
        outcome = outcomes[code]
        assert outcome["error"] is None, outcome["error"]
        published = PUBLISHED_CHANGE[condition]
        for index, visit in enumerate(outcome["mmrm"]["visits"]):
            truth = published["chatbot"][index] - published["waitlist"][index]
            # 3.5 SE: a check that fails by chance about once in 2,000; clipping at the scale ends and the
            # screening cut-offs move the truth a little towards zero, well inside that
            assert abs(visit["estimate"] - truth) < 3.5 * visit["se"], (code, visit, truth)
    assert analysis["consort"]["randomized"] == N


SECTIONS = ("consort", "baseline", "effects", "outcome-1", "adherence", "safety", "methods", "provenance")


def test_the_dsmb_reports_have_every_section_and_the_open_one_names_no_arm(simulated):
    """As ``make demo`` writes them: the closed-session (unblinded) and open-session (blinded) reports."""
    _, analysis, folder = simulated
    closed, opened = (folder / "a.html").read_text(), (folder / "b.html").read_text()
    for page in (closed, opened):
        for anchor in SECTIONS:
            assert f'id="{anchor}"' in page, anchor
    assert "closed-session report" in closed and "open-session report" in opened
    trial = Trial.objects.get(slug="therabot-sim")
    words = {w.lower() for arm in trial.arms.all() for w in (arm.code, arm.name)}
    body = opened.split("</header>", 1)[1].lower()  # the trial's own title, above, is public
    assert [w for w in words if w in body] == []
    assert all(w in closed.lower() for w in (a.code for a in trial.arms.all()))
    # the safety section counts what the simulation raised: every alert, pooled in the open report
    alerts = SafetyAlert.objects.filter(participant__trial=trial).count()
    assert analysis["safety"]["counts"]["Total"]["alerts"] == alerts > 0
    assert sum(analysis["safety"]["counts"][a.code]["alerts"] for a in trial.arms.all()) == alerts
    assert analysis["baseline_characteristics"]["n"]["Overall"] == N
