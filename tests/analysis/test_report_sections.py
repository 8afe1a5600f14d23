"""The report's trial-level sections, from the platform's own records: Table 1 (baseline characteristics by
arm and overall), safety (alerts and how fast they were handled, against the protocol), adherence
(questionnaires completed of those due), and the provenance footer. Blinded, safety is pooled and nothing
names an arm."""

from __future__ import annotations

import re
import statistics
from datetime import timedelta
from typing import Any

import pytest

from analysis import provenance
from analysis.baseline import OVERALL, baseline_characteristics, categorical, continuous
from analysis.consort import adherence
from analysis.report import policy_for, render_report, stylesheet
from analysis.safety import safety_summary
from participants import services
from participants.models import SafetyAlert
from participants.services.safety import safety_alert_raise
from tests import helpers
from trial import clock

pytestmark = pytest.mark.django_db

ARM_WORDS = ("chatbot", "waitlist")
AGES = {"MDD": [20, 31, 45], "GAD": [52, 28]}


def _randomized(trial: Any, condition: str, age: int) -> Any:
    participant = services.participant_screen(trial=trial, answers=helpers.answers(condition, age=age), by=None)
    services.participant_consent(participant=participant, signed_name="Jamie Doe", by=None)
    participant.refresh_from_db()
    contact = services.ContactInput(full_name="Jamie Doe", email="j@example.org", timezone="America/New_York")
    participant = services.participant_enroll(participant=participant, contact=contact, by=None)
    helpers.complete_baseline(participant)
    services.participant_randomize(participant=participant, by=None)
    participant.refresh_from_db()
    return participant


@pytest.fixture
def people(trial: Any) -> list[Any]:
    randomized = [_randomized(trial, condition, age) for condition, ages in AGES.items() for age in ages]
    helpers.enrolled(trial)  # enrolled, never randomized: not in Table 1
    return randomized


def _arm(participant: Any, blinded: bool) -> str:
    arm = participant.allocation.arm
    return str(arm.blinded_label if blinded else arm.code)


def test_summaries_match_hand_computation() -> None:
    s = continuous([4.0, 1.0, None, 3.0, 2.0])
    assert s["n"] == 4 and s["mean"] == 2.5 and s["sd"] == pytest.approx(statistics.stdev([1, 2, 3, 4]))
    assert (s["q1"], s["median"], s["q3"], s["min"], s["max"]) == (1.75, 2.5, 3.25, 1.0, 4.0)  # R quantile type 7
    assert continuous([None])["mean"] is None and continuous([7.0])["sd"] is None
    c = categorical(["a", "b", "a", None, ""], [("a", "A"), ("b", "B"), ("c", "C")])
    assert c["n"] == 3 and c["missing"] == 2
    assert c["levels"]["a"] == {"n": 2, "percent": pytest.approx(200 / 3)} and c["levels"]["c"]["n"] == 0


@pytest.mark.parametrize("blinded", [False, True])
def test_table_one_counts_the_randomized_by_arm_and_overall(trial: Any, people: list[Any], blinded: bool) -> None:
    table = baseline_characteristics(trial, blinded=blinded)
    arms = sorted({_arm(p, blinded) for p in people}) if blinded else [a.code for a in trial.arms.all()]
    assert table["columns"] == [*(sorted(arms) if blinded else arms), OVERALL]
    assert table["n"][OVERALL] == len(people) == 5
    rows = {r["label"]: r for r in table["rows"]}
    age = rows["Age in years"]["stats"]
    ages = [a for group in AGES.values() for a in group]
    assert age[OVERALL]["n"] == 5 and age[OVERALL]["mean"] == pytest.approx(statistics.mean(ages))
    assert age[OVERALL]["sd"] == pytest.approx(statistics.stdev(ages)) and age[OVERALL]["median"] == 31
    for column in table["columns"][:-1]:
        mine = [p for p in people if _arm(p, blinded) == column]
        assert age[column]["n"] == table["n"][column] == len(mine)
        expected = [p.screening_answers["age"] for p in mine]
        if expected:
            assert age[column]["mean"] == pytest.approx(statistics.mean(expected))
    condition = next(r for r in table["rows"] if r["source"] == "stratification factor")
    overall = condition["stats"][OVERALL]["levels"]
    assert overall["MDD"] == {"n": 3, "percent": pytest.approx(60.0)} and overall["GAD"]["n"] == 2
    assert overall["CHR-FED"]["n"] == 0
    assert next(iter(rows)) == "Age in years"  # age first, as journals lay Table 1 out
    # Eligibility answers everyone shares (lives in the US; not in treatment for suicidality) say nothing.
    assert "Lives in the United States" not in rows
    assert not any(k == "p" or "p_value" in k for r in table["rows"] for k in r)


def test_table_one_has_the_baseline_scores_from_the_long_file(trial: Any, people: list[Any]) -> None:
    import pandas as pd

    long = pd.DataFrame(
        [
            {"participant_id": p.study_id, "arm": _arm(p, False), "week": 0, "instrument": "phq9", "scale": "total"}
            | {"value": float(10 + i)}
            for i, p in enumerate(people)
        ]
        + [
            {"participant_id": people[0].study_id, "arm": "x", "week": 4, "instrument": "phq9", "scale": "total"}
            | {"value": 99.0}
        ]
    )
    table = baseline_characteristics(trial, blinded=False, long=long, instruments=["phq9", "phq9", "gad7"])
    scores = [r for r in table["rows"] if r["source"] == "baseline score"]
    assert [r["instrument"] for r in scores] == ["phq9"]  # once; gad7 has no rows
    assert scores[0]["stats"][OVERALL]["mean"] == pytest.approx(12.0)  # week 4's 99 is not baseline


def _alert(participant: Any, key: str, *, urgent: bool, ack_after: float | None, contact_after: float | None) -> None:
    raised = clock.now() - timedelta(days=3)
    alert = safety_alert_raise(
        participant=participant,
        source="questionnaire",
        flag="suicidal_ideation",
        dedupe_key=key,
        urgent=urgent,
        now=raised,
    )
    assert alert is not None
    SafetyAlert.objects.filter(pk=alert.pk).update(
        acknowledged_at=None if ack_after is None else raised + timedelta(hours=ack_after),
        status="open" if ack_after is None else "acknowledged",
        contacted_at=None if contact_after is None else raised + timedelta(hours=contact_after),
        escalated_at=raised + timedelta(hours=2) if ack_after is None or (ack_after > 1 and urgent) else None,
    )


def test_safety_counts_alerts_and_times_against_the_protocol(trial: Any, people: list[Any], settings: Any) -> None:
    settings.SAFETY_ESCALATION_HOURS, settings.SAFETY_ESCALATION_HOURS_URGENT = 24, 1
    a, b = people[0], people[3]
    _alert(a, "1", urgent=True, ack_after=0.5, contact_after=2)  # in time; contact after the urgent hour
    _alert(a, "2", urgent=True, ack_after=3, contact_after=4)  # late: escalated
    _alert(b, "3", urgent=False, ack_after=10, contact_after=20)  # routine, in time
    _alert(b, "4", urgent=False, ack_after=None, contact_after=None)  # never acknowledged
    unblinded = safety_summary(trial, blinded=False)
    assert unblinded["columns"] == [*(arm.code for arm in trial.arms.all()), "Total"]
    total = unblinded["counts"]["Total"]
    assert (total["alerts"], total["participants_with_alert"], total["urgent"]) == (4, 2, 2)
    assert (total["acknowledged"], total["acknowledged_within_protocol"], total["not_acknowledged"]) == (3, 2, 1)
    assert (total["contacted"], total["contacted_within_protocol"], total["escalated"]) == (3, 1, 2)
    assert total["hours_to_acknowledge"]["median"] == pytest.approx(3.0)
    assert total["hours_to_acknowledge"]["max"] == pytest.approx(10.0)
    assert total["by_source"] == {"questionnaire": 4, "chatbot": 0} and total["by_flag"] == {"suicidal_ideation": 4}
    by_arm = [unblinded["counts"][c]["alerts"] for c in unblinded["columns"][:-1]]
    assert sum(by_arm) == 4 and unblinded["counts"][a.allocation.arm.code]["participants_with_alert"] >= 1
    blinded = safety_summary(trial, blinded=True)
    assert blinded["pooled"] and blinded["columns"] == ["Total"] and blinded["counts"]["Total"] == total


def test_adherence_follows_the_consort_counts() -> None:
    consort = {
        "follow_up": [
            {
                "visit": "week4",
                "week": 4,
                "arms": {
                    "A": {"completed": 8, "missed": 1, "withdrawn": 1, "lost_to_follow_up": 0, "pending": 2},
                    "B": {"completed": 0, "missed": 0, "withdrawn": 0, "lost_to_follow_up": 0, "pending": 3},
                },
            }
        ]
    }
    (row,) = adherence(consort)
    assert row["arms"]["A"] == {"completed": 8, "due": 10, "pending": 2, "percent": 80.0}
    assert row["arms"]["B"]["percent"] is None  # nothing due yet: no rate, not 0%
    assert row["total"] == {"completed": 8, "due": 10, "pending": 5, "percent": 80.0}


def test_provenance_is_to_the_second_with_an_offset_and_names_the_commit(monkeypatch: Any) -> None:
    stamp = provenance.generated_at("America/New_York")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp), stamp
    provenance.commit.cache_clear()
    monkeypatch.setenv("SOURCE_COMMIT", "0123abc")
    try:
        assert provenance.software() == {"name": "trialplatform", "version": provenance.version(), "commit": "0123abc"}
    finally:
        provenance.commit.cache_clear()
    assert provenance.version() != "unknown"  # installed (make venv), so its version is known


def _report(trial: Any, *, blinded: bool) -> dict[str, Any]:
    from analysis.adverse_events import adverse_event_counts

    consort = {
        "follow_up": [
            {
                "visit": "week4",
                "week": 4,
                "arms": {
                    label: {"completed": 1, "missed": 1, "withdrawn": 0, "lost_to_follow_up": 0, "pending": 0}
                    for label in (["A", "B"] if blinded else [a.code for a in trial.arms.all()])
                },
            }
        ]
    }
    return {
        "title": "Reference trial: analysis",
        "trial": trial.slug,
        "blinded": blinded,
        "generated_at": provenance.generated_at(),
        "software": {"name": "trialplatform", "version": "9.9", "commit": "feedbeef"},
        "input": {"file": "long.csv", "sha256": "ab" * 32},
        "outcomes": [],
        "baseline_characteristics": baseline_characteristics(trial, blinded=blinded),
        "safety": safety_summary(trial, blinded=blinded),
        "adverse_events": adverse_event_counts(trial, blinded=blinded),
        "adherence": adherence(consort),
    }


def test_the_open_session_report_names_no_arm_and_the_closed_one_does(trial: Any, people: list[Any]) -> None:
    _alert(people[0], "1", urgent=True, ack_after=0.5, contact_after=0.8)
    open_html = render_report(_report(trial, blinded=True))
    closed_html = render_report(_report(trial, blinded=False))
    for html in (open_html, closed_html):
        for anchor in ("baseline", "adherence", "safety", "methods", "provenance"):
            assert f'id="{anchor}"' in html, anchor
        assert "Table 1. Baseline characteristics" in html and "Age in years" in html
        assert "feedbeef" in html and "ab" * 32 in html and "trialplatform 9.9" in html
    assert "open-session report" in open_html and "pooled over arms" in open_html
    words = [*ARM_WORDS, *(a.code for a in trial.arms.all()), *(a.name for a in trial.arms.all())]
    assert [w for w in words if w.lower() in open_html.lower()] == []
    assert "closed-session report" in closed_html and "chatbot" in closed_html


def test_the_download_policy_is_the_hash_of_the_style_sheet_in_the_file(trial: Any) -> None:
    html = render_report({"title": "t", "outcomes": []})
    policy = policy_for(html[:65536])
    assert "style-src 'sha256-" in policy and "default-src 'none'" in policy
    changed = html.replace(stylesheet(), stylesheet() + "h1{color:red}")
    assert policy_for(changed) != policy  # a rebranded style sheet gets its own hash


def _outcome_with_every_model() -> dict[str, Any]:
    visit = {"week": 8, "estimate": -3.25, "se": 0.9, "ci_low": -5.03, "ci_high": -1.47, "p": 0.0004, "df": 150.0}
    return {
        "code": "mdd_phq9",
        "name": "Depression",
        "instrument": "phq9",
        "scale": "total",
        "primary": True,
        "error": None,
        "control": "waitlist",
        "intervention": "chatbot",
        "mmrm": {
            "method": "REML",
            "covariance_structure": "heterogeneous Toeplitz",
            "covariance_fallback": [
                {"structure": "unstructured", "converged": False, "reason": "Hessian not positive definite"},
                {"structure": "heterogeneous Toeplitz", "converged": True, "reason": None},
            ],
            "df_method": "Satterthwaite",
            "kr_method": "Kenward-Roger-Linear",
            "converged": True,
            "visits": [
                visit | {"se_kr": 0.93, "df_kr": 150.0, "ci_low_kr": -5.09, "ci_high_kr": -1.41, "p_kr": 0.0006}
            ],
        },
        "clmm": {
            "method": "agq10",
            "converged": True,
            "visits": [
                {
                    "week": 8,
                    "estimate": -1.2,
                    "se": 0.31,
                    "odds_ratio": 0.3012,
                    "ci_low": 0.16,
                    "ci_high": 0.55,
                    "p": 0.0001,
                }
            ],
        },
        "sensitivity": {
            "mar_mi": {"m": 50, "visits": [visit | {"estimate": -3.11}]},
            "j2r": {"m": 50, "visits": [visit | {"estimate": -2.41}]},
            "cr": {"m": 50, "visits": [visit | {"estimate": -2.67}]},
            "tipping_point": {
                "week": 8,
                "n_imputed_intervention": 17,
                "grid": [
                    {"delta": 0.0, "estimate": -3.11, "ci_low": -4.9, "ci_high": -1.3, "p": 0.001},
                    {"delta": 8.0, "estimate": -1.2, "ci_low": -3.0, "ci_high": 0.6, "p": 0.19},
                ],
                "tipping_delta": 6.37,
            },
        },
    }


def test_the_outcome_shows_kenward_roger_the_ordinal_model_and_the_sensitivity_analyses() -> None:
    html = render_report({"title": "t", "blinded": False, "outcomes": [_outcome_with_every_model()]})
    assert 'class="kr"' in html and "0.93" in html  # KR SE beside the Satterthwaite table
    assert "adaptive Gauss-Hermite quadrature, 10 nodes" in html and "0.30" in html and "[0.16, 0.55]" in html
    for method, value in (
        ("Multiple imputation, MAR", "-3.11"),
        ("Jump to reference", "-2.41"),
        ("Copy reference", "-2.67"),
    ):
        assert method in html and value in html
    assert "the conclusion changes at delta = 6.37" in html and "17 missing outcomes" in html
    assert "The fallback was used for Depression (heterogeneous Toeplitz)" in html
    assert "cumulative-link mixed model" in html and "Rubin&#x27;s rules" in html


def test_a_failed_ordinal_or_sensitivity_analysis_says_why() -> None:
    outcome = _outcome_with_every_model()
    outcome["clmm"] = {"method": None, "visits": [], "reason": "not fitted: values are not whole numbers"}
    outcome["sensitivity"] = {"error": "ValueError: too few participants"}
    html = render_report({"title": "t", "blinded": False, "outcomes": [outcome]})
    assert "not fitted: values are not whole numbers" in html
    assert "could not be run: ValueError: too few participants" in html


@pytest.mark.browser
@pytest.mark.parametrize("size", ["laptop", "phone"])
@pytest.mark.parametrize("blinded", [True, False])
def test_the_dsmb_reports_are_accessible_and_fit(
    browser: Any, trial: Any, people: list[Any], size: str, blinded: bool
) -> None:
    """Both DSMB reports in Chromium at laptop and phone sizes: axe-core's WCAG 2.1 AA checks pass and the
    page needs no sideways scrolling (wide tables and figures scroll in their own box, keyboard-reachable)."""
    from tests.browser import assert_accessible, fits_width, new_page, screenshot

    _alert(people[0], "1", urgent=True, ack_after=0.5, contact_after=0.8)
    report = _report(trial, blinded=blinded)
    outcome = _outcome_with_every_model()
    if blinded:
        outcome.update(control="A", intervention="B")
    report["outcomes"] = [outcome]
    html = render_report(report)
    page = new_page(browser, size)
    page.context.route(
        "http://report.test/report.html", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    page.goto("http://report.test/report.html")
    where = f"{'open' if blinded else 'closed'}-session report, {size}"
    assert_accessible(page, where)
    assert fits_width(page), where
    for anchor in ("baseline", "outcome-1", "adherence", "safety", "provenance"):
        assert page.locator(f"#{anchor}").is_visible(), anchor
    screenshot(page, f"report-{'open' if blinded else 'closed'}-{size}")
    page.context.close()
