"""Sensitivity analyses for missing data (analysis.stats.sensitivity): Rubin's rules by hand, MAR multiple
imputation against R mice, J2R / CR on constructions with a known answer, the tipping point.

The mice reference numbers below were produced by ``Rscript tests/analysis/reference/mice_mar.R`` (R 4.2.2,
mice 3.15.0, Debian bookworm), which also wrote ``mice_mar.csv`` (200 participants, 2 arms, baseline, weeks
4/8/12, MAR monotone dropout plus 8 intermittent misses: 18.5%, 29.5%, 31% missing). mice imputed each visit by
"norm" (Bayesian linear regression on baseline, arm and the other visits; m = 1000, maxit = 20); each completed
data set was analysed by lm(y_t ~ baseline + arm) and pooled by mice::pool (Barnard-Rubin df). No R is needed
to run these tests.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import sensitivity as sens
from analysis.stats.ancova import fit_ancova

REFERENCE = Path(__file__).parent / "reference"

R_MICE = {
    "version": "R 4.2.2 / mice 3.15.0",
    "m": 1000,
    "estimate": [-0.547947885832, -1.88249484196, -4.03005134561],
    "se": [0.680831351178, 0.902054917663, 1.03140041707],
    "df": [155.621102927, 142.225373184, 134.724073698],
    "between": [0.0913182141288, 0.21417406414, 0.319547214775],
    "complete_case_estimate": [-0.548972569772, -1.65799893226, -3.802226227],
    "complete_case_se": [0.67328665155, 0.892896005388, 0.976458237855],
}


def _long(frame: pd.DataFrame, weeks: dict[str, int]) -> pd.DataFrame:
    long = frame.melt(
        id_vars=[c for c in frame.columns if c not in weeks], value_vars=list(weeks), var_name="v", value_name="y"
    )
    long["week"] = long["v"].map(weeks)
    return long.drop(columns="v")


def _mice_data() -> sens.WideData:
    data = pd.read_csv(REFERENCE / "mice_mar.csv")
    long = _long(data, {"y1": 4, "y2": 8, "y3": 12})
    return sens.wide_data(long, outcome="y", subject="id", visit="week", arm="arm", control=0, baseline="baseline")


# --------------------------------------------------------------------------------------------------------------
# Rubin's rules.


def test_rubins_rules_by_hand():
    # q = 1.0, 1.2, 0.8, 1.4; u = 0.04, 0.05, 0.045, 0.055; nu_com = 50.
    # Q = 1.1; U = 0.0475; B = (0.01 + 0.01 + 0.09 + 0.09) / 3 = 0.2 / 3; T = U + 1.25 B = 0.130833...;
    # lambda = 1.25 B / T = 0.0833333 / 0.1308333 = 0.6369427 (= 100 / 157); nu_old = 3 / lambda^2 = 7.3947;
    # nu_obs = 51 / 53 * 50 * (1 - lambda) = 17.4678524; df = nu_old nu_obs / (nu_old + nu_obs) = 5.1953446.
    r = sens.rubin([1.0, 1.2, 0.8, 1.4], [0.04, 0.05, 0.045, 0.055], 50)
    assert r.estimate == pytest.approx(1.1)
    assert r.within == pytest.approx(0.0475)
    assert r.between == pytest.approx(0.2 / 3)
    assert r.se == pytest.approx(math.sqrt(0.0475 + 1.25 * 0.2 / 3))
    assert r.fmi == pytest.approx(100 / 157)
    assert r.df == pytest.approx(5.1953446, abs=1e-6)
    from scipy import stats

    q = stats.t.ppf(0.975, r.df)
    assert r.ci_low == pytest.approx(1.1 - q * r.se) and r.ci_high == pytest.approx(1.1 + q * r.se)
    assert r.p == pytest.approx(2 * stats.t.sf(1.1 / r.se, r.df))


def test_rubins_rules_without_between_variance_is_the_complete_data_analysis():
    r = sens.rubin([0.5, 0.5, 0.5], [0.04, 0.04, 0.04], 97)
    assert r.between == 0 and r.df == 97 and r.se == pytest.approx(0.2)


def test_rubins_rules_refuse_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        sens.rubin([1.0], [0.1], 10)
    with pytest.raises(ValueError, match="finite"):
        sens.rubin([1.0, math.nan], [0.1, 0.1], 10)


# --------------------------------------------------------------------------------------------------------------
# Data with a known answer.


def _trial(
    n_per_arm: int,
    *,
    effect: tuple[float, float] = (-2.0, -3.0),
    sigma: tuple[tuple[float, float], tuple[float, float]] = ((16.0, 12.0), (12.0, 25.0)),
    completers_intervention: float = 1.0,
    seed: int = 1,
    strata: bool = True,
) -> pd.DataFrame:
    """Two visits (weeks 4, 8). Intervention participants miss week 8 with probability 1 -
    ``completers_intervention`` (MCAR within the arm); nobody else misses anything."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    treated = np.repeat([0.0, 1.0], n_per_arm)
    baseline = rng.normal(15, 4, n)
    stratum = rng.choice(["a", "b", "c"], n)
    shift = np.select([stratum == "b", stratum == "c"], [1.5, -1.5], 0.0)
    e = rng.standard_normal((n, 2)) @ np.linalg.cholesky(np.array(sigma)).T
    y = np.array([12.0, 11.0]) + treated[:, None] * np.array(effect) + 0.6 * (baseline - 15)[:, None] + e
    if strata:
        y = y + shift[:, None]
    drop = (treated == 1) & (rng.random(n) >= completers_intervention)
    y[drop, 1] = np.nan
    frame = pd.DataFrame(
        {"pid": [f"P{i:05d}" for i in range(n)], "arm": np.where(treated == 1, "app", "control"), "baseline": baseline}
    )
    frame["stratum"] = stratum
    frame["y4"], frame["y8"] = y[:, 0], y[:, 1]
    return _long(frame, {"y4": 4, "y8": 8})


def _wide(long: pd.DataFrame, covariates: tuple[str, ...] = ("stratum",)) -> sens.WideData:
    return sens.wide_data(
        long,
        outcome="y",
        subject="pid",
        visit="week",
        arm="arm",
        control="control",
        baseline="baseline",
        covariates=covariates,
    )


def _pooled(wide: sens.WideData, method: sens.Method, m: int = 20, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    draws = sens.draw_parameters(wide, m=m, rng=rng, burn_in=50, thin=5)
    return sens.pooled_visits(sens.impute(wide, draws, method, rng))


def test_the_completed_data_analysis_is_the_projects_ancova():
    long = _trial(40, completers_intervention=0.6)
    wide = _wide(long)
    rng = np.random.default_rng(5)
    draws = sens.draw_parameters(wide, m=2, rng=rng, burn_in=10, thin=2)
    imp = sens.impute(wide, draws, "j2r", rng)
    res = sens.analyse_imputations(imp)
    completed = long.sort_values(["pid", "week"]).copy()
    completed["y"] = imp.y[1].ravel()  # wide rows are participants in sorted order, columns weeks 4, 8
    for j, week in enumerate((4, 8)):
        fit = fit_ancova(
            completed[completed["week"] == week],
            outcome="y",
            arm="arm",
            control="control",
            baseline="baseline",
            covariates=["stratum"],
        )
        assert res.estimates[1, j] == pytest.approx(fit.estimate, rel=1e-10)
        assert math.sqrt(res.variances[1, j]) == pytest.approx(fit.se, rel=1e-10)
        assert res.df_complete == fit.df


@pytest.mark.parametrize("method", sens.METHODS)
def test_without_missing_data_every_method_is_the_complete_data_ancova(method):
    long = _trial(30)
    pooled = _pooled(_wide(long), method, m=3)
    for row in pooled:
        fit = fit_ancova(
            long[long["week"] == row["week"]],
            outcome="y",
            arm="arm",
            control="control",
            baseline="baseline",
            covariates=["stratum"],
        )
        assert row["estimate"] == pytest.approx(fit.estimate, rel=1e-10)
        assert row["se"] == pytest.approx(fit.se, rel=1e-10)
        assert row["df"] == fit.df and row["p"] == pytest.approx(fit.p, rel=1e-8)


def test_reference_based_imputation_gives_the_answers_its_assumptions_imply():
    """Intervention participants drop out after week 4 with probability 0.7 (MCAR within the arm), controls
    complete. Effects -2 (week 4) and -3 (week 8); Sigma = [[16, 12], [12, 25]], so beta = Sigma_21 / Sigma_11
    = 0.75. Expected week-8 differences: MAR -3; J2R 0.3 * -3 + 0.7 * 0 = -0.9 (dropouts' mean jumps to the
    control mean, their residual at week 4 being centred on their own arm's mean); CR 0.3 * -3 + 0.7 * 0.75 *
    -2 = -1.95 (the whole profile is the control arm's, so the week-4 benefit carries forward by beta)."""
    wide = _wide(_trial(1500, completers_intervention=0.3, seed=11))
    expected = {"mar": -3.0, "j2r": -0.9, "cr": -1.95}
    got = {}
    for method, truth in expected.items():
        week4, week8 = _pooled(wide, method)
        assert abs(week8["estimate"] - truth) < 3.5 * week8["se"], (method, week8)
        assert abs(week4["estimate"] - -2.0) < 3.5 * week4["se"]  # nobody misses week 4
        got[method] = week8
    # Ordering for a beneficial effect: J2R shrinks most, then CR, then MAR (estimates well apart).
    assert got["mar"]["estimate"] < got["cr"]["estimate"] < got["j2r"]["estimate"] < 0
    # Reference-based imputation: Rubin's variance is at least the MAR one here (it is conservative).
    assert got["j2r"]["se"] > 0.9 * got["mar"]["se"]


def test_j2r_and_cr_leave_the_control_arm_and_completers_alone():
    wide = _wide(_trial(40, completers_intervention=0.5, seed=2))
    rng = np.random.default_rng(1)
    draws = sens.draw_parameters(wide, m=4, rng=rng, burn_in=20, thin=2)
    for method in sens.METHODS:
        imp = sens.impute(wide, draws, method, np.random.default_rng(9))
        observed = ~wide.missing
        assert np.array_equal(imp.y[:, observed], np.broadcast_to(wide.y[observed], (4, int(observed.sum()))))
        assert not np.isnan(imp.y).any()
    mar = sens.impute(wide, draws, "mar", np.random.default_rng(9))
    j2r = sens.impute(wide, draws, "j2r", np.random.default_rng(9))
    control = ~wide.treated
    # Controls have no missing data here, intervention dropouts differ between MAR and J2R.
    assert np.array_equal(mar.y[:, control], j2r.y[:, control])
    dropouts = wide.treated & wide.missing[:, 1]
    assert (j2r.y[:, dropouts, 1].mean() - mar.y[:, dropouts, 1].mean()) > 1.0  # about 3 points worse


def test_bootstrapped_mi_is_not_conservative_for_j2r_and_agrees_with_rubin_under_mar():
    """Rubin's variance overstates the repeated-sampling variance of J2R (it counts the uncertainty of the
    intervention arm's post-dropout mean, which J2R does not use); the bootstrapped MI does not. Under MAR
    both estimate the same variance. 60% of the intervention arm drops out after week 4."""
    wide = _wide(_trial(80, completers_intervention=0.4, seed=12))
    rng = np.random.default_rng(8)
    draws = sens.draw_parameters(wide, m=40, rng=rng)
    rubin_se = {method: sens.pooled_visits(sens.impute(wide, draws, method, rng))[1]["se"] for method in ("mar", "j2r")}
    boot = {method: sens.bootstrap_se(wide, method, rng=rng, boot=100)["visits"][1]["se"] for method in ("mar", "j2r")}
    assert boot["mar"] == pytest.approx(rubin_se["mar"], rel=0.25)
    assert boot["j2r"] < 0.8 * rubin_se["j2r"]


def test_the_bootstrap_is_optional_in_the_json():
    long = _trial(30, completers_intervention=0.7, seed=8).rename(columns={"pid": "participant_id"})
    off = sens.sensitivity_analysis(long, control="control", covariates=["stratum"], m=5)
    assert off["j2r"]["bootstrap"] is None and off["cr"]["bootstrap"] is None
    on = sens.sensitivity_analysis(long, control="control", covariates=["stratum"], m=5, bootstrap=10)
    for method in ("j2r", "cr"):
        b = on[method]["bootstrap"]
        assert b["boot"] == 10 and [v["week"] for v in b["visits"]] == [4, 8]
        for row, pooled in zip(b["visits"], on[method]["visits"], strict=True):
            assert row["estimate"] == pooled["estimate"]
            assert row["se"] is None or row["ci_low"] < row["estimate"] < row["ci_high"]


# --------------------------------------------------------------------------------------------------------------
# Tipping point.


def test_tipping_point_is_where_the_conclusion_changes():
    wide = _wide(_trial(100, completers_intervention=0.7, seed=4))
    rng = np.random.default_rng(2)
    draws = sens.draw_parameters(wide, m=20, rng=rng, burn_in=50, thin=5)
    imp = sens.impute(wide, draws, "mar", rng)
    tp = sens.tipping_point(imp)
    assert tp["week"] == 8 and tp["conclusion_at_zero"] == "intervention lower"
    grid = tp["grid"]
    deltas = [g["delta"] for g in grid]
    estimates = [g["estimate"] for g in grid]
    assert deltas[0] == 0 and all(b > a for a, b in itertools.pairwise(deltas))  # worse = higher
    assert all(b > a for a, b in itertools.pairwise(estimates))  # monotone in delta
    tip = tp["tipping_delta"]
    assert tip is not None and 0 < tip < deltas[-1]
    # On the grid: significant below the tipping point, not at the first grid point above it.
    assert all(g["p"] < 0.05 for g in grid if g["delta"] < tip)
    assert next(g for g in grid if g["delta"] >= tip)["p"] >= 0.05
    # Exactly: just below, p < 0.05; just above, p >= 0.05; the CI's upper limit crosses 0 there.
    below = sens.rubin(*_at(imp, tip * 0.999))
    above = sens.rubin(*_at(imp, tip * 1.001))
    assert below.p < 0.05 <= above.p and below.ci_high < 0 <= above.ci_high


def _at(imp: sens.Imputations, delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    wide = imp.wide
    shift = np.zeros_like(wide.y)
    shift[:, 1] = np.where(wide.missing[:, 1] & wide.treated, delta, 0.0)
    res = sens.analyse_imputations(imp, shift=shift)
    return res.estimates[:, 1], res.variances[:, 1], res.df_complete


def test_no_tipping_point_without_missing_intervention_values():
    wide = _wide(_trial(30, seed=6))
    rng = np.random.default_rng(2)
    draws = sens.draw_parameters(wide, m=3, rng=rng, burn_in=5, thin=1)
    tp = sens.tipping_point(sens.impute(wide, draws, "mar", rng))
    assert tp["tipping_delta"] is None and len(tp["grid"]) == 1


# --------------------------------------------------------------------------------------------------------------
# The whole analysis: reproducible, bad input named.


def test_sensitivity_analysis_is_reproducible_and_complete():
    long = _trial(50, completers_intervention=0.7, seed=8).rename(columns={"pid": "participant_id"})
    one = sens.sensitivity_analysis(long, control="control", covariates=["stratum"], m=10, seed=3)
    two = sens.sensitivity_analysis(long, control="control", covariates=["stratum"], m=10, seed=3)
    assert "seconds" not in one  # the JSON is the same on every run: no timings in it
    assert one == two
    for key in ("mar_mi", "j2r", "cr"):
        assert one[key]["m"] == 10 and one[key]["seed"] == 3
        assert [v["week"] for v in one[key]["visits"]] == [4, 8]
        for v in one[key]["visits"]:
            assert set(v) >= {"week", "estimate", "se", "ci_low", "ci_high", "p", "df"}
    assert one["tipping_point"]["week"] == 8 and "grid" in one["tipping_point"]
    three = sens.sensitivity_analysis(long, control="control", covariates=["stratum"], m=10, seed=4)
    assert three["mar_mi"]["visits"][1]["estimate"] != one["mar_mi"]["visits"][1]["estimate"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(baseline=np.nan), "'baseline' has missing values"),
        (lambda f: f.assign(arm="control"), "exactly 2 arms"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "more than one row"),
        (lambda f: f.assign(y=np.where(f["arm"] == "app", np.nan, f["y"])), "no observed 'y' in arm 'app'"),
    ],
)
def test_bad_input_is_named(mutate, message):
    with pytest.raises(ValueError, match=message):
        _wide(mutate(_trial(10)))


# --------------------------------------------------------------------------------------------------------------
# Against R mice.


def test_mar_imputation_agrees_with_r_mice():
    """Our MAR MI with M = 1000 against mice's pooled result with m = 1000, at each visit.

    Tolerances from the Monte Carlo error. The pooled estimate is a mean of M draws, so its MC SE is
    sqrt(B / M) (B = between-imputation variance; our draws are thinned, so nearly independent); the difference
    of two independent runs has MC SE sqrt(B_R / 1000 + B_ours / 1000) (0.013-0.025 here): we require less than
    3 of those. The pooled SE sqrt(U + (1 + 1/M) B) moves with B's MC error (relative SE sqrt(2 / (M - 1)) =
    4.5% per run); B is up to 30% of the total variance, so each run's SE has a relative MC SE of about
    0.5 * 0.30 * 4.5% = 0.67% and the difference of two runs about 0.95%: we require 3% (3 MC SE; the two
    methods' priors also differ slightly: one joint inverse-Wishart posterior vs mice's per-visit regressions).
    The Barnard-Rubin df is a steep function of lambda: 15% relative. Measured (seed 2024): estimates within
    0.75 MC SE, SEs 0.3-1.8% below mice's, df 0.3-3% above. Negative controls: the complete-case analysis
    and a single imputation (one completed data set analysed as if complete) fall outside these tolerances."""
    wide = _mice_data()
    draws = sens.draw_parameters(wide, m=1000, rng=np.random.default_rng(2024), burn_in=200, thin=5)
    imp = sens.impute(wide, draws, "mar", np.random.default_rng(7))
    pooled = sens.pooled_visits(imp)
    res = sens.analyse_imputations(imp)
    ours_b = res.estimates.var(axis=0, ddof=1)
    for j, row in enumerate(pooled):
        mc_se = math.sqrt(R_MICE["between"][j] / R_MICE["m"] + ours_b[j] / 1000)
        assert abs(row["estimate"] - R_MICE["estimate"][j]) < 3 * mc_se, (row, mc_se)
        assert row["se"] == pytest.approx(R_MICE["se"][j], rel=0.03)
        assert row["df"] == pytest.approx(R_MICE["df"][j], rel=0.15)
    # Negative controls at week 12 (the visit with most missing data and most selection):
    j = 2
    mc_se = math.sqrt(R_MICE["between"][j] / R_MICE["m"] + ours_b[j] / 1000)
    assert abs(R_MICE["complete_case_estimate"][j] - R_MICE["estimate"][j]) > 3 * mc_se
    single_se = math.sqrt(res.variances[0, j])
    assert single_se < (1 - 0.03) * R_MICE["se"][j]


def test_the_simulation_studys_treatment_policy_truths():
    """bench/sensitivity_study.py's truths under MCAR dropout in the intervention arm only, where they are
    known in closed form: with q1 = P(still in at week 4) and q2 = P(still in at week 8), J2R gives
    (q1 delta_4, q2 delta_8) and CR adds, for those who leave between weeks 4 and 8, Sigma_21 / Sigma_11
    delta_4 at week 8."""
    from analysis.stats.simulation_study import Dropout, TrialDesign
    from bench.sensitivity_study import true_effects

    design = TrialDesign()
    dropout = Dropout(mechanism="mcar", hazard_control=(0.0, 0.0), hazard_intervention=(0.2, 0.3))
    effect = (-2.0, -3.0)
    truth = true_effects(design, effect, dropout, n_per_arm=100_000, seed=5)
    q1, q2 = 0.8, 0.8 * 0.7
    sigma = design.covariance
    beta = sigma[1, 0] / sigma[0, 0]
    assert truth["mar"] == [-2.0, -3.0]
    assert truth["j2r"] == pytest.approx([q1 * -2.0, q2 * -3.0], abs=0.01)
    assert truth["cr"] == pytest.approx([q1 * -2.0, q2 * -3.0 + (q1 - q2) * beta * -2.0], abs=0.01)
    assert true_effects(design, (0.0, 0.0), dropout, n_per_arm=1000, seed=5) == {m: [0.0, 0.0] for m in truth}


def test_the_json_wrapper_names_errors_and_keeps_json_strict(monkeypatch):
    long = _trial(20, completers_intervention=0.7).rename(columns={"pid": "participant_id"})
    assert sens.sensitivity_or_error(long.assign(baseline=np.nan), control="control") == {
        "error": "ValueError: column 'baseline' has missing values"
    }
    monkeypatch.setattr(sens, "sensitivity_analysis", lambda *a, **k: {"x": [math.nan, 1.0], "y": {"z": math.inf}})
    assert sens.sensitivity_or_error(long, control="control") == {"x": [None, 1.0], "y": {"z": None}}
