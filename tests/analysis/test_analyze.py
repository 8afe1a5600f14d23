"""``analyze --from-csv`` on a file in the long layout: the JSON contract, effects recovered, clear
errors. The data are simulated with a fixed seed and known effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

TRUE_EFFECT = {4: -3.0, 8: -4.0}  # intervention minus control, by week


def _simulate(path, n: int = 240, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "chatbot" if i % 2 else "waitlist"
        condition = ["MDD", "GAD", "CHR-FED"][i % 3]
        base = rng.normal(15, 4)
        person = rng.normal(0, 2.5)
        rows.append((f"P{i:04d}", arm, condition, "baseline", 0, base))
        for week in (4, 8):
            change = -2.0 - 0.2 * week + (TRUE_EFFECT[week] if arm == "chatbot" else 0.0)
            value = 0.6 * base + 6 + change + person + rng.normal(0, 2.0)
            if rng.random() < 0.15 * week / 8:  # dropout, more by week 8
                value = None
            rows.append((f"P{i:04d}", arm, condition, f"week{week}", week, value))
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "condition", "visit", "week", "value"])
    frame["instrument"] = "phq9"
    frame["scale"] = "total"
    frame["completed_at"] = ""
    frame.to_csv(path, index=False)


def test_it_writes_the_contract_and_recovers_the_effects(tmp_path):
    data, out = tmp_path / "long.csv", tmp_path / "result.json"
    _simulate(data)
    call_command(
        "analyze", "--from-csv", str(data), "--instrument", "phq9", "--covariates", "condition", "--json", str(out)
    )
    result = json.loads(out.read_text())

    assert result["control"] == "waitlist" and result["intervention"] == "chatbot"
    assert result["mmrm"]["method"] == "REML"
    assert [v["week"] for v in result["mmrm"]["visits"]] == [4, 8]
    for visit in result["mmrm"]["visits"]:
        assert set(visit) >= {"week", "estimate", "se", "ci_low", "ci_high", "p"}
        assert abs(visit["estimate"] - TRUE_EFFECT[visit["week"]]) < 3 * visit["se"]
        assert visit["ci_low"] < visit["estimate"] < visit["ci_high"] and visit["p"] < 0.001
        # Kenward-Roger beside the Satterthwaite keys of the contract.
        assert visit["se_kr"] >= visit["se"] and visit["df_kr"] == pytest.approx(visit["df"], rel=1e-6)
        assert visit["ci_low_kr"] <= visit["ci_low"] and visit["ci_high"] <= visit["ci_high_kr"]
        assert visit["p_kr"] < 0.001
    assert result["mmrm"]["df_method"] == "Satterthwaite"
    assert result["mmrm"]["kr_method"] == "Kenward-Roger-Linear"
    assert result["mmrm"]["covariance_structure"] == "unstructured"
    assert result["mmrm"]["covariance_fallback"] == [{"structure": "unstructured", "converged": True, "reason": None}]
    assert set(result["lmm"]) >= {"estimate", "se", "method"}
    assert result["lmm"]["method"] in {"REML", "ML"}
    assert abs(result["lmm"]["estimate"] - TRUE_EFFECT[8]) < 3 * result["lmm"]["se"]
    assert [a["week"] for a in result["ancova"]] == [4, 8]
    for row in result["ancova"]:
        assert set(row) >= {"week", "n", "estimate", "se", "p"}
        assert row["n"] < 240  # complete cases only
        assert abs(row["estimate"] - TRUE_EFFECT[row["week"]]) < 3 * row["se"]
    assert len(result["input"]["sha256"]) == 64

    # The ordinal model: the simulated values are not whole numbers, so it is not fitted, and says why.
    assert result["clmm"]["method"] is None and result["clmm"]["visits"] == []
    assert "not whole numbers" in result["clmm"]["reason"]

    # Effect sizes: the MMRM difference over the pooled baseline SD (about 4 in the simulation).
    assert 3.0 < result["baseline_sd_pooled"] < 5.0
    for size, visit in zip(result["effect_sizes"], result["mmrm"]["visits"], strict=True):
        assert size["week"] == visit["week"]
        assert size["cohens_d"] == pytest.approx(visit["estimate"] / result["baseline_sd_pooled"])
        assert abs(size["hedges_g"]) < abs(size["cohens_d"])  # the small-sample correction shrinks it
        assert size["d_ci_low"] < size["cohens_d"] < size["d_ci_high"]
    change = {(c["week"], c["arm"]): c for c in result["within_arm_change"]}
    assert change[(8, "chatbot")]["mean_change"] < change[(8, "waitlist")]["mean_change"] < 0
    week8 = next(r for r in result["responders"] if r["week"] == 8)
    assert set(week8) == {"week", "response", "remission", "reliable_improvement"}
    assert week8["reliable_improvement"]["estimable"] is True
    assert week8["reliable_improvement"]["risk_difference"] > 0  # the chatbot arm improves more

    # Sensitivity analyses for missing data (dropout here is MCAR, so MAR MI agrees with the MMRM).
    sens = result["sensitivity"]
    assert sens["estimand"].startswith("Treatment policy")
    mmrm8 = result["mmrm"]["visits"][1]
    by_method = {}
    for key in ("mar_mi", "j2r", "cr"):
        assert sens[key]["m"] == 50 and isinstance(sens[key]["seed"], int)
        assert [v["week"] for v in sens[key]["visits"]] == [4, 8]
        for v in sens[key]["visits"]:
            assert set(v) >= {"week", "estimate", "se", "ci_low", "ci_high", "p", "df"}
            assert v["ci_low"] < v["estimate"] < v["ci_high"]
        by_method[key] = sens[key]["visits"][1]
    assert abs(by_method["mar_mi"]["estimate"] - mmrm8["estimate"]) < 0.5 * mmrm8["se"]
    # Reference-based imputation removes (J2R) or decays (CR) the dropouts' benefit: smaller effects.
    assert by_method["mar_mi"]["estimate"] < by_method["cr"]["estimate"] < by_method["j2r"]["estimate"] < 0
    tipping = sens["tipping_point"]
    assert tipping["week"] == 8 and tipping["conclusion_at_zero"] == "intervention lower"
    assert tipping["grid"][0]["delta"] == 0 and tipping["tipping_delta"] > 0
    assert {"delta", "estimate", "ci_low", "ci_high", "p"} <= set(tipping["grid"][1])


def test_a_failing_sensitivity_analysis_leaves_the_other_models_alone(tmp_path, monkeypatch):
    from analysis.stats import sensitivity

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(sensitivity, "sensitivity_analysis", broken)
    data, out = tmp_path / "long.csv", tmp_path / "result.json"
    _simulate(data, n=80)
    call_command("analyze", "--from-csv", str(data), "--instrument", "phq9", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["sensitivity"] == {"error": "LinAlgError: Matrix is not positive definite"}
    assert [v["week"] for v in result["mmrm"]["visits"]] == [4, 8]


def test_the_clmm_of_whole_number_totals(tmp_path):
    """Rounded to whole numbers (a PHQ-9 total), the outcome gets the cumulative-link mixed model."""
    data, out = tmp_path / "long.csv", tmp_path / "result.json"
    _simulate(data)
    frame = pd.read_csv(data)
    frame["value"] = frame["value"].round().clip(0, 27)
    frame.to_csv(data, index=False)
    call_command("analyze", "--from-csv", str(data), "--instrument", "phq9", "--json", str(out))
    result = json.loads(out.read_text())
    clmm = result["clmm"]
    assert set(clmm) == {
        "method", "link", "converged", "loglik", "n_thresholds", "random_effect_sd", "visits", "reason",
    }  # fmt: skip
    assert clmm["method"] == "laplace" and clmm["link"] == "logit" and clmm["converged"] is True
    assert clmm["reason"] is None and clmm["random_effect_sd"] > 0 and clmm["loglik"] < 0
    observed = frame[(frame["week"] > 0) & frame["value"].notna()]
    assert clmm["n_thresholds"] == observed["value"].nunique() - 1
    assert [v["week"] for v in clmm["visits"]] == [4, 8]
    for visit in clmm["visits"]:
        assert set(visit) == {"week", "estimate", "se", "odds_ratio", "ci_low", "ci_high", "p"}
        # Lower scores in the intervention arm: a log cumulative odds ratio of a higher score below 0.
        assert visit["estimate"] < 0 and visit["p"] < 0.001
        assert visit["odds_ratio"] == pytest.approx(np.exp(visit["estimate"]))
        assert visit["ci_low"] < visit["odds_ratio"] < visit["ci_high"] < 1  # the CI is the odds ratio's
    assert result["mmrm"]["visits"][0]["estimate"] < 0  # the other models are all there


def test_a_failing_clmm_costs_the_other_models_nothing(tmp_path, monkeypatch):
    from analysis.stats import primary

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(primary, "fit_clmm", broken)
    data, out = tmp_path / "long.csv", tmp_path / "result.json"
    _simulate(data, n=60)
    frame = pd.read_csv(data)
    frame["value"] = frame["value"].round()
    frame.to_csv(data, index=False)
    call_command("analyze", "--from-csv", str(data), "--instrument", "phq9", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["clmm"]["method"] is None and result["clmm"]["reason"] == "failed: RuntimeError: boom"
    assert [v["week"] for v in result["mmrm"]["visits"]] == [4, 8]


def test_a_clmm_that_does_not_converge_says_so(tmp_path):
    from analysis.stats.primary import clmm_json, model_frame

    rows = []
    for i in range(40):  # complete separation: every intervention score above every control score
        arm = "chatbot" if i % 2 else "waitlist"
        rows.append((f"P{i:03d}", arm, "baseline", 0, 10 + i % 5))
        for week in (4, 8):
            rows.append((f"P{i:03d}", arm, f"week{week}", week, (12 if i % 2 else 2) + (i + week) % 3))
    long = pd.DataFrame(rows, columns=["participant_id", "arm", "visit", "week", "value"])
    long["instrument"], long["scale"] = "phq9", "total"
    frame = model_frame(long, instrument="phq9")
    result = clmm_json(frame, frame.data[frame.data["y"].notna()])
    assert result["converged"] is False and result["reason"].startswith("did not converge: ")
    assert result["method"] == "laplace"


def test_a_blinded_file_needs_the_control_named(tmp_path):
    data = tmp_path / "long.csv"
    _simulate(data, n=60)
    frame = pd.read_csv(data)
    frame["arm"] = frame["arm"].map({"chatbot": "B", "waitlist": "A"})
    frame.to_csv(data, index=False)
    with pytest.raises(CommandError, match=r"--control \(arms: A, B\)"):
        call_command("analyze", "--from-csv", str(data), "--instrument", "phq9")
    with pytest.raises(CommandError, match="'C' is not an arm"):
        call_command("analyze", "--from-csv", str(data), "--instrument", "phq9", "--control", "C")


@pytest.mark.parametrize(
    ("mutate", "args", "message"),
    [
        (lambda f: f.drop(columns=["week"]), [], "missing column.s. week"),
        (lambda f: f, ["--instrument", "gad7"], "No rows for instrument 'gad7'"),
        (lambda f: f, ["--covariates", "site"], "Covariate 'site' is not a column"),
    ],
)
def test_bad_input_is_named(tmp_path, mutate, args, message):
    data = tmp_path / "long.csv"
    _simulate(data, n=40)
    mutate(pd.read_csv(data)).to_csv(data, index=False)
    arguments = ["analyze", "--from-csv", str(data), "--instrument", "phq9", *args]
    if "--instrument" in args:
        arguments = ["analyze", "--from-csv", str(data), *args]
    with pytest.raises(CommandError, match=message):
        call_command(*arguments)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("analyze", "--from-csv", str(tmp_path / "nope.csv"), "--instrument", "phq9")


@pytest.mark.django_db
def test_a_trial_without_follow_up_yet_gets_a_plain_answer(trial):
    from tests import helpers

    for _ in range(4):
        helpers.randomized(trial)
    with pytest.raises(CommandError, match=r"No post-baseline phq9 total values in arm 'A' yet \(4 participants"):
        call_command("analyze", "--trial", "therabot", "--instrument", "phq9", "--control", "A")


@pytest.mark.django_db
def test_the_platforms_own_data_flows_into_the_analysis(trial, tmp_path):
    """Enroll, baseline, randomize, let the sweep open weeks 4 and 8, answer, then analyze --trial."""
    from datetime import timedelta

    from assessments.models import ScheduledAssessment
    from assessments.services.submission import response_submit
    from assessments.services.sweep import sweep
    from participants.services import participant_randomize
    from tests import helpers

    rng = np.random.default_rng(3)

    def phq9() -> dict[str, int]:
        return {f"phq9_{n}": int(rng.integers(0, 4)) for n in range(1, 9)} | {"phq9_9": 0}

    for _ in range(24):
        participant = helpers.enrolled(trial)
        baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
        for code in baseline.instruments:
            answers = phq9() if code == "phq9" else helpers.lowest_answers(code)
            response_submit(assessment=baseline, instrument_code=code, answers=answers, source="api")
        participant_randomize(participant=participant, by=None)
        for code in ("week4", "week8"):
            visit = ScheduledAssessment.objects.get(participant=participant, visit__code=code)
            sweep(now=visit.opens_at, deliver=False)
            visit.refresh_from_db()
            response_submit(
                assessment=visit,
                instrument_code="phq9",
                answers=phq9(),
                source="api",
                now=visit.opens_at + timedelta(hours=1),
            )
    out = tmp_path / "result.json"
    call_command("analyze", "--trial", "therabot", "--instrument", "phq9", "--control", "A", "--json", str(out))
    result = json.loads(out.read_text())
    assert [v["week"] for v in result["mmrm"]["visits"]] == [4, 8]
    assert result["n_participants"] == 24 and result["mmrm"]["method"] == "REML"
    assert [a["n"] for a in result["ancova"]] == [24, 24]
    assert result["consort"]["randomized"] == 24
    assert sum(arm["analysed"] for arm in result["consort"]["analysis"].values()) == 24
    # Without --instrument: the trial's analysis plan (three condition-specific primary outcomes and two
    # over everyone), the JSON and the HTML report. Everyone here screened for MDD.
    plan, html = tmp_path / "plan.json", tmp_path / "report.html"
    call_command("analyze", "--trial", "therabot", "--json", str(plan), "--html", str(html))
    result = json.loads(plan.read_text())
    assert result["blinded"] is True and result["contrast"] == "B minus A"
    outcomes = {o["code"]: o for o in result["outcomes"]}
    assert list(outcomes) == ["mdd_phq9", "gad_gadq4", "chrfed_wcs", "all_phq9", "all_gad7"]
    assert outcomes["mdd_phq9"]["error"] is None and outcomes["mdd_phq9"]["n_participants"] == 24
    assert outcomes["mdd_phq9"]["mmrm"]["visits"][0]["estimate"] == pytest.approx(
        outcomes["all_phq9"]["mmrm"]["visits"][0]["estimate"]
    )  # everyone is MDD: the subgroup is everyone (condition is constant, so it is no covariate either)
    assert "No rows" in outcomes["gad_gadq4"]["error"] or "No post-baseline" in outcomes["gad_gadq4"]["error"]
    assert "Not estimable" in result["multiplicity"]["family"]
    assert result["consort"]["randomized"] == 24
    assert result["alliance"] is None and result["engagement"] is None  # blinded: they would unblind
    page = html.read_text()
    assert "<svg" in page and "Depression (PHQ-9) in participants screened for MDD" in page


def test_several_outcomes_from_a_file_with_holm_and_a_report(tmp_path):
    data, out, html = tmp_path / "long.csv", tmp_path / "result.json", tmp_path / "report.html"
    _simulate(data)
    call_command(
        "analyze", "--from-csv", str(data), "--outcomes", "phq9@condition=MDD,phq9@condition=GAD",
        "--json", str(out), "--html", str(html),
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert [o["subgroup"]["level"] for o in result["outcomes"]] == ["MDD", "GAD"]
    for outcome in result["outcomes"]:
        assert outcome["n_participants"] == 80
        for visit in outcome["mmrm"]["visits"]:
            assert abs(visit["estimate"] - TRUE_EFFECT[visit["week"]]) < 3 * visit["se"]
    week8 = next(w for w in result["multiplicity"]["by_week"] if w["week"] == 8)
    assert all(r["p_adjusted"] >= r["p"] for r in week8["outcomes"])
    assert "phq9 total in condition=MDD" in html.read_text()


def test_the_outcome_must_be_named_for_a_file(tmp_path):
    data = tmp_path / "long.csv"
    _simulate(data, n=40)
    with pytest.raises(CommandError, match="Name the outcome"):
        call_command("analyze", "--from-csv", str(data))
    with pytest.raises(CommandError, match="not instrument"):
        call_command("analyze", "--from-csv", str(data), "--outcomes", "phq9@")
