"""A small version of the MMRM simulation study (``bench/simulation_study.py``; docs/statistics.md, "Simulation
study"). Pure: no database.

One scenario, chosen so that a single run checks both claims under missing-at-random dropout: 250 replications
(seed 20240611) of a trial with 50 participants per arm, a true difference of -2.5 at week 4 and NONE at week 8
(so week 8 measures the type I error and both weeks the CI coverage), and strong, arm-differential MAR dropout:
the odds of leaving before week 8 rise 4.5-fold per SD of the observed week-4 score (and 1.6-fold per SD of
baseline), with base hazards 40% (control) and 10% (intervention), so that about 45% of the control arm and
about 17% of the intervention arm miss week 8. Completers are then a selected sample, and the negative controls
show the checks can fail: a complete-case ANCOVA is biased, and intervals with half the SE are too narrow.

Monte Carlo band. A rate estimated from R independent replications has binomial SE sqrt(p (1 - p) / R); at the
nominal p = 0.05 (or 0.95) and R = 250 that is 0.0138. A check passes when |rate - nominal| <= 3.5 SE (0.048):
a calibrated method fails one such check with probability about 5e-4 (normal approximation), so the handful of
checks below fail by chance well under 1% of the time for any seed, while a type I error of 10% or more, or a
coverage of 90% or less, is flagged. Bias is checked the same way against its own Monte Carlo SE,
SD(estimates) / sqrt(R).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from analysis.stats.mmrm import fit_mmrm
from analysis.stats.simulation_study import (
    CONTROL,
    INTERVENTION,
    Dropout,
    MethodRecords,
    Scenario,
    StudyResult,
    TrialDesign,
    VisitSummary,
    binomial_mc_se,
    default_scenarios,
    run_study,
    simulate_trial,
    summarize_method,
    wald_intervals,
    within_mc_band,
)

REPS = 250
N_PER_ARM = 50
SEED = 20240611
K = 3.5  # Monte Carlo SEs allowed; see the module docstring
ALPHA = 0.05

STRONG_MAR = Dropout(
    mechanism="mar",
    hazard_control=(0.05, 0.40),
    hazard_intervention=(0.05, 0.10),
    previous_coef=1.5,
    baseline_coef=0.5,
)
SCENARIO = Scenario("effect_w4_null_w8_mar", (-2.5, 0.0), STRONG_MAR, "effect at week 4, none at week 8, MAR")
DESIGN = TrialDesign(n_per_arm=N_PER_ARM)


@pytest.fixture(scope="module")
def study() -> StudyResult:
    return run_study(reps=REPS, seed=SEED, design=DESIGN, scenarios=[SCENARIO], alpha=ALPHA)


def _bias_ok(v: VisitSummary) -> bool:
    return abs(v.bias) <= K * v.bias_mc_se


# --------------------------------------------------------------------------------------------------------------
# The MMRM passes.


def test_every_fit_converged(study: StudyResult) -> None:
    (sc,) = study.scenarios
    assert sc.reps == REPS
    assert sc.mmrm_not_converged == 0, sc.failures
    assert sc.mmrm_errors == 0, sc.failures
    assert sc.complete_case_errors == 0, sc.failures
    assert [v.n_used for v in sc.mmrm] == [REPS, REPS]


def test_dropout_is_strong_and_differential(study: StudyResult) -> None:
    (sc,) = study.scenarios
    assert sc.observed_control[1] < 0.65
    assert sc.observed_intervention[1] > 0.75
    assert min(sc.observed_control[0], sc.observed_intervention[0]) > 0.85


def test_type_i_error_is_nominal_under_mar(study: StudyResult) -> None:
    week8 = study.scenarios[0].mmrm[1]
    assert week8.truth == 0.0
    assert within_mc_band(week8.rejection_rate, ALPHA, REPS, k=K), week8


def test_ci_coverage_is_nominal_under_mar(study: StudyResult) -> None:
    for v in study.scenarios[0].mmrm:
        assert within_mc_band(v.coverage, 1 - ALPHA, REPS, k=K), v


def test_mmrm_is_unbiased_and_its_se_is_right_under_mar(study: StudyResult) -> None:
    for v in study.scenarios[0].mmrm:
        assert _bias_ok(v), v
        # Model SE vs the SD of the estimates: a 15% band is about 3.5 times the Monte Carlo error of an SD
        # from 250 replications (SE of an SD ~ SD / sqrt(2 R) = 4.5%).
        assert v.mean_se == pytest.approx(v.empirical_se, rel=0.15), v
    week4 = study.scenarios[0].mmrm[0]
    assert week4.rejection_rate > 0.5  # the effect at week 4 is detected (power)


def test_recorded_intervals_are_the_satterthwaite_t_intervals(study: StudyResult) -> None:
    """The negative control below rebuilds intervals with ``wald_intervals``; on the MMRM's own SE and df it
    reproduces what fit_mmrm reported, so only the deliberate error differs."""
    mm = study.records[0].mmrm
    lo, hi, p = wald_intervals(mm.estimate, mm.se, mm.df, alpha=ALPHA)
    np.testing.assert_allclose(lo, mm.ci_low, rtol=1e-10)
    np.testing.assert_allclose(hi, mm.ci_high, rtol=1e-10)
    np.testing.assert_allclose(p, mm.p, rtol=1e-8, atol=1e-14)
    assert np.all(mm.df > 30)


# --------------------------------------------------------------------------------------------------------------
# Negative controls: the same checks catch wrong analyses.


def test_checks_catch_intervals_with_half_the_se(study: StudyResult) -> None:
    mm = study.records[0].mmrm
    half = mm.se / 2
    lo, hi, p = wald_intervals(mm.estimate, half, None, alpha=ALPHA)
    wrong = MethodRecords(mm.estimate, half, np.full_like(half, math.inf), lo, hi, p)
    summary = summarize_method(wrong, truth=SCENARIO.effect, weeks=DESIGN.weeks, alpha=ALPHA)
    for v in summary:
        assert not within_mc_band(v.coverage, 1 - ALPHA, REPS, k=K), v
        # +-1.96 half-SEs is +-0.98 true SEs: about 67% coverage if the SE is right (allowing for the model SE's
        # own spread and Monte Carlo error, well under 85%).
        assert v.coverage < 0.85, v
    assert not within_mc_band(summary[1].rejection_rate, ALPHA, REPS, k=K)


def test_checks_catch_complete_case_bias_under_mar(study: StudyResult) -> None:
    (sc,) = study.scenarios
    assert sc.complete_case is not None
    cc8 = sc.complete_case[1]
    assert not _bias_ok(cc8), cc8
    assert cc8.bias > 0.5  # completers in the control arm are the ones who felt better at week 4
    # At week 4 dropout depends on baseline only (in the model): the complete-case ANCOVA is fine there.
    assert _bias_ok(sc.complete_case[0])


def test_band_arithmetic() -> None:
    assert binomial_mc_se(0.05, 250) == pytest.approx(0.013784, abs=1e-6)
    assert within_mc_band(0.05 + 0.048, 0.05, 250)
    assert not within_mc_band(0.05 + 0.049, 0.05, 250)
    assert not within_mc_band(0.95 - 0.049, 0.95, 250)


# --------------------------------------------------------------------------------------------------------------
# The data generator and the runner.


def test_simulated_trial_is_what_fit_mmrm_takes() -> None:
    design = TrialDesign(n_per_arm=30)
    frame = simulate_trial(design=design, effect=(-2.0, -3.0), dropout=STRONG_MAR, rng=np.random.default_rng(5))
    assert list(frame.columns) == ["participant_id", "arm", "visit", "week", "y", "baseline", "stratum"]
    assert len(frame) == 60 * 2
    assert frame.groupby("arm")["participant_id"].nunique().to_dict() == {CONTROL: 30, INTERVENTION: 30}
    assert set(frame["week"]) == {4, 8}
    assert set(frame["stratum"]) <= {"site_a", "site_b", "site_c"}
    wide = frame.pivot(index="participant_id", columns="week", values="y")
    assert not (wide[4].isna() & wide[8].notna()).any()  # monotone
    again = simulate_trial(design=design, effect=(-2.0, -3.0), dropout=STRONG_MAR, rng=np.random.default_rng(5))
    pd.testing.assert_frame_equal(frame, again)
    fit = fit_mmrm(
        frame[frame["y"].notna()],
        outcome="y",
        subject="participant_id",
        visit="week",
        arm="arm",
        control=CONTROL,
        baseline="baseline",
        covariates=["stratum"],
    )
    assert fit.converged
    assert [v.visit for v in fit.visits] == [4, 8]


def test_generator_truth_covariance_and_dropout_mechanisms() -> None:
    design = TrialDesign(n_per_arm=20000, strata=())
    effect = (-2.0, -3.0)
    full = simulate_trial(design=design, effect=effect, dropout=Dropout(), rng=np.random.default_rng(1))
    assert "stratum" not in full.columns
    assert full["y"].notna().all()
    wide = full.pivot(index="participant_id", columns="week", values="y")
    info = full.drop_duplicates("participant_id").set_index("participant_id").loc[wide.index]
    treated = (info["arm"] == INTERVENTION).to_numpy()
    base = info["baseline"].to_numpy()
    resid = wide.to_numpy() - np.asarray(design.control_means) - np.outer(treated, effect)
    resid -= design.baseline_slope * (base - design.baseline_mean)[:, None]
    np.testing.assert_allclose(resid.mean(axis=0), 0, atol=0.1)
    np.testing.assert_allclose(np.cov(resid.T), design.covariance, rtol=0.05)
    assert design.covariance[0, 0] != design.covariance[1, 1]  # heteroscedastic, not compound symmetric

    for dropout in (Dropout(mechanism="mar", previous_coef=1.5), Dropout(mechanism="mcar")):
        frame = simulate_trial(design=design, effect=effect, dropout=dropout, rng=np.random.default_rng(2))
        wide = frame.pivot(index="participant_id", columns="week", values="y")
        info = frame.drop_duplicates("participant_id").set_index("participant_id").loc[wide.index]
        # Within an arm (the hazards differ between arms, and the arms differ in their week-4 scores): MAR
        # dropout before week 8 follows the observed week-4 score, MCAR dropout does not. About 8,000 per half
        # of an arm: the SE of a difference of two ~20% rates is about 0.006.
        for arm in (CONTROL, INTERVENTION):
            at4 = wide[wide[4].notna() & (info["arm"] == arm).to_numpy()]
            high = at4[4] > at4[4].median()
            miss_high, miss_low = at4.loc[high, 8].isna().mean(), at4.loc[~high, 8].isna().mean()
            if dropout.mechanism == "mar":
                assert miss_high > miss_low + 0.1, (arm, miss_high, miss_low)
            else:
                assert abs(miss_high - miss_low) < 0.025, (arm, miss_high, miss_low)
        by_arm = wide[8].isna().groupby(info["arm"]).mean()
        assert by_arm[CONTROL] > by_arm[INTERVENTION]  # arm-differential hazards


def test_results_do_not_depend_on_how_replications_are_split() -> None:
    design = TrialDesign(n_per_arm=20)
    (sc,) = default_scenarios(design)[1:2]
    a = run_study(reps=4, seed=3, design=design, scenarios=[sc], block=4, complete_case=False)
    b = run_study(reps=4, seed=3, design=design, scenarios=[sc], block=1, complete_case=False)
    np.testing.assert_array_equal(a.records[0].mmrm.estimate, b.records[0].mmrm.estimate)
    assert a.scenarios[0].complete_case is None
    assert a.as_dict()["scenarios"][0]["name"] == "null_mar"


def test_bad_generator_input_is_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="effect needs one value per visit"):
        simulate_trial(design=DESIGN, effect=(1.0,), dropout=Dropout(), rng=rng)
    short = Dropout(mechanism="mar", hazard_control=(0.1,), hazard_intervention=(0.1,))
    with pytest.raises(ValueError, match="hazards need one value per visit"):
        simulate_trial(design=DESIGN, effect=(0.0, 0.0), dropout=short, rng=rng)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="mechanism"):
        Dropout(mechanism="mnar")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one value per visit"):
        TrialDesign(weeks=(4, 8, 12))
    with pytest.raises(ValueError, match="reps"):
        run_study(reps=0, seed=1)
