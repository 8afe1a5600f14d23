"""The analysis plan: condition-specific outcomes in their subgroups, Holm across the primary ones,
alliance and engagement summaries. Data simulated with a fixed seed and known effects per condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats.plan import (
    OutcomeSpec,
    alliance_summary,
    analyze_plan,
    engagement_summary,
    holm_by_visit,
    parse_outcomes,
)
from analysis.stats.primary import AnalysisInputError

# Intervention minus control at weeks 4 and 8, per condition's own outcome (REFERENCE.md's Therabot table,
# as differences of the mean changes).
TRUE = {
    ("MDD", "phq9"): {4: -3.5, 8: -3.7},
    ("GAD", "gadq4"): {4: -2.2, 8: -2.1},
    ("CHR-FED", "wcs"): {4: -8.2, 8: -6.5},
}
SD = {"phq9": 4.0, "gadq4": 2.5, "wcs": 12.0}
BASE = {"phq9": 15.0, "gadq4": 8.0, "wcs": 55.0}
PLAN = [
    OutcomeSpec("mdd_phq9", "PHQ-9 in MDD", "phq9", primary=True, subgroup_factor="condition", subgroup_level="MDD"),
    OutcomeSpec(
        "gad_gadq4", "GAD-Q-IV in GAD", "gadq4", primary=True, subgroup_factor="condition", subgroup_level="GAD"
    ),
    OutcomeSpec(
        "chr_wcs", "WCS in CHR-FED", "wcs", primary=True, subgroup_factor="condition", subgroup_level="CHR-FED"
    ),
    OutcomeSpec("all_phq9", "PHQ-9, everyone", "phq9"),
]


def simulate(n: int = 420, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pid = f"P{i:04d}"
        arm = "chatbot" if i % 2 else "waitlist"
        condition = ["MDD", "GAD", "CHR-FED"][(i // 2) % 3]
        for code in ("phq9", "gadq4", "wcs"):
            sd = SD[code]
            base = rng.normal(BASE[code], sd)
            person = rng.normal(0, 0.6 * sd)
            rows.append((pid, arm, condition, "baseline", 0, code, "total", base))
            for week in (4, 8):
                effect = TRUE.get((condition, code), {4: 0.0, 8: 0.0})[week] if arm == "chatbot" else 0.0
                y = 0.5 * base + 0.5 * BASE[code] - 0.1 * sd * week / 4 + effect + person + rng.normal(0, 0.5 * sd)
                if rng.random() < 0.1 * week / 4:
                    y = np.nan
                rows.append((pid, arm, condition, f"week{week}", week, code, "total", y))
        if arm == "chatbot":
            for week in (4, 8):
                mean = rng.normal(3.6, 0.5)
                rows.append((pid, arm, condition, f"week{week}", week, "waisr", "item_mean", mean))
                rows.append((pid, arm, condition, f"week{week}", week, "waisr", "total", mean * 12))
    return pd.DataFrame(
        rows, columns=["participant_id", "arm", "condition", "visit", "week", "instrument", "scale", "value"]
    )


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def result(long) -> dict:
    return analyze_plan(long, PLAN, control="waitlist", covariates=["condition"])


def test_each_condition_is_analysed_in_its_own_subgroup(result, long):
    outcomes = {o["code"]: o for o in result["outcomes"]}
    for spec in PLAN[:3]:
        outcome = outcomes[spec.code]
        assert outcome["error"] is None
        # Only that condition's participants: a third of the 420.
        assert outcome["n_participants"] == long[long["condition"] == spec.subgroup_level]["participant_id"].nunique()
        # The subgroup's own factor is constant there, so it is not a covariate.
        assert outcome["covariates"] == []
        assert outcome["subgroup"] == {"factor": "condition", "level": spec.subgroup_level}
        for visit in outcome["mmrm"]["visits"]:
            truth = TRUE[(spec.subgroup_level, spec.instrument)][visit["week"]]
            assert abs(visit["estimate"] - truth) < 3 * visit["se"], (spec.code, visit)
    everyone = outcomes["all_phq9"]
    assert everyone["n_participants"] == 420 and everyone["covariates"] == ["condition"]
    assert everyone["primary"] is False and "holm" not in everyone


def test_trajectories_come_with_each_outcome(result):
    mdd = next(o for o in result["outcomes"] if o["code"] == "mdd_phq9")
    arms_weeks = {(t["arm"], t["week"]) for t in mdd["trajectories"]}
    assert arms_weeks == {(a, w) for a in ("chatbot", "waitlist") for w in (0, 4, 8)}


def _holm(p: list[float]) -> list[float]:
    """Holm by its definition, independently of statsmodels."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted = [0.0] * len(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_holm_covers_the_primary_outcomes_at_each_visit(result):
    primary = [o for o in result["outcomes"] if o["primary"]]
    table = result["multiplicity"]
    assert table["method"] == "Holm"
    for week_row in table["by_week"]:
        week = week_row["week"]
        raw = [next(v["p"] for v in o["mmrm"]["visits"] if v["week"] == week) for o in primary]
        expected = _holm(raw)
        got = [row["p_adjusted"] for row in week_row["outcomes"]]
        assert got == pytest.approx(expected, rel=1e-12)
        assert [row["code"] for row in week_row["outcomes"]] == [o["code"] for o in primary]
        assert [row["reject"] for row in week_row["outcomes"]] == [a <= 0.05 for a in expected]
        for outcome, adj in zip(primary, expected, strict=True):
            assert next(h for h in outcome["holm"] if h["week"] == week)["p_adjusted"] == pytest.approx(adj)


def test_holm_by_hand_on_a_known_family():
    outcomes = [
        {"code": c, "name": c, "primary": True, "error": None, "mmrm": {"visits": [{"week": 4, "p": p}]}}
        for c, p in (("a", 0.01), ("b", 0.04), ("c", 0.03))
    ]
    table = holm_by_visit(outcomes)
    rows = {r["code"]: r for r in table["by_week"][0]["outcomes"]}
    assert rows["a"]["p_adjusted"] == pytest.approx(0.03)
    assert rows["c"]["p_adjusted"] == pytest.approx(0.06)
    assert rows["b"]["p_adjusted"] == pytest.approx(0.06)
    assert [rows[c]["reject"] for c in "abc"] == [True, False, False]


def test_an_outcome_that_cannot_be_analysed_is_named_and_left_out_of_holm(long):
    no_chr = long[~((long["condition"] == "CHR-FED") & (long["instrument"] == "wcs") & (long["week"] > 0))]
    result = analyze_plan(no_chr, PLAN[:3], control="waitlist", covariates=["condition"])
    chr_fed = next(o for o in result["outcomes"] if o["code"] == "chr_wcs")
    assert "No post-baseline wcs total values" in chr_fed["error"]
    assert "Not estimable" in result["multiplicity"]["family"] and "WCS in CHR-FED" in result["multiplicity"]["family"]
    week4 = result["multiplicity"]["by_week"][0]["outcomes"]
    assert next(r for r in week4 if r["code"] == "chr_wcs")["p_adjusted"] is None
    others = [r for r in week4 if r["code"] != "chr_wcs"]
    assert all(r["p_adjusted"] is not None for r in others)  # a family of two


def test_alliance_is_summarised_in_the_arm_that_has_it(result, long):
    alliance = result["alliance"]
    assert alliance["arm"] == "chatbot" and alliance["headline_scale"] == "item_mean"
    rows = long[(long["instrument"] == "waisr") & (long["scale"] == "item_mean") & (long["week"] == 4)]
    week4 = alliance["by_week"][0]
    assert week4["week"] == 4 and week4["n"] == len(rows)
    assert week4["mean"] == pytest.approx(rows["value"].mean())
    assert week4["sd"] == pytest.approx(rows["value"].std(ddof=1))
    assert week4["scales"]["total"]["mean"] == pytest.approx(12 * rows["value"].mean())
    assert alliance_summary(long[long["instrument"] != "waisr"]) is None  # a blinded file has none


def test_engagement_counts_everyone_allocated_zeros_included():
    participants = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4", "P5"],
            "arm": ["chatbot", "chatbot", "chatbot", "chatbot", "waitlist"],
            "sessions": [10, 0, 4, 6, 0],
            "participant_messages": [200, 0, 50, 90, 0],
            "hours": [5.0, 0.0, 1.5, 2.5, 0.0],
            "active_days": [20, 0, 4, 8, 0],
        }
    )
    summary = engagement_summary(participants, arm="chatbot")
    assert summary["n_allocated"] == 4 and summary["n_used"] == 3 and summary["percent_used"] == 75.0
    assert summary["summary"]["participant_messages"]["mean"] == pytest.approx(85.0)
    assert summary["summary"]["sessions"]["median"] == pytest.approx(5.0)
    assert summary["summary"]["hours"]["q1"] == pytest.approx(np.percentile([5.0, 0.0, 1.5, 2.5], 25))
    assert engagement_summary(participants.drop(columns=["sessions"]), arm="chatbot") is None


def test_outcome_specs_from_the_command_line():
    specs = parse_outcomes("phq9@condition=MDD, gadq4@condition=GAD,waisr.item_mean")
    assert [(s.instrument, s.scale, s.subgroup_factor, s.subgroup_level) for s in specs] == [
        ("phq9", "total", "condition", "MDD"),
        ("gadq4", "total", "condition", "GAD"),
        ("waisr", "item_mean", None, None),
    ]
    assert all(s.primary for s in specs)
    with pytest.raises(AnalysisInputError, match="'PHQ9!' is not instrument"):
        parse_outcomes("PHQ9!")
    with pytest.raises(AnalysisInputError, match="same outcome twice"):
        parse_outcomes("phq9,phq9")


def test_a_subgroup_column_that_is_not_there_is_named(long):
    spec = OutcomeSpec("x", "x", "phq9", subgroup_factor="site", subgroup_level="a")
    result = analyze_plan(long, [spec], control="waitlist")
    assert result["outcomes"][0]["error"] == "Subgroup factor 'site' is not a column of the data."
