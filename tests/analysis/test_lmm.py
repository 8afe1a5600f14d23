"""The random-intercept LMM (analysis.stats.lmm) against R lme4::lmer on the public nlme::Orthodont data set.

Reference numbers below were produced by ``Rscript tests/analysis/reference/orthodont_lmm_ancova.R`` (R 4.2.2,
lme4 1.1.31) on the committed ``orthodont_{complete,missing}.csv``. The R model is

    lmer(distance ~ base + Sex * t + (1 | Subject), data = d, REML = TRUE)   # and REML = FALSE

outcome = distance at ages 10, 12, 14; baseline = distance at age 8; "arm" = Sex, control = Female; weeks
continuous as t = age - 8 (2, 4, 6), so the last follow-up is t = 6. The treatment difference at the last
week is SexMale + 6 * SexMale:t with its SE from vcov(fit). No R is needed to run these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import lmm
from analysis.stats.lmm import fit_lmm

REFERENCE = Path(__file__).parent / "reference"

R_LMM_COMPLETE_REML = {
    "coef": [9.0989007076, 0.574730009512, -0.235433008531, 0.465909090909, 0.448153409091],
    "se": [2.88050194538, 0.131661541144, 0.962659818865, 0.13837458588, 0.179753859915],
    "loglik": -156.177311827,
    "var_subject": 1.78522954948,
    "var_residual": 1.68498228954,
    "estimate": 2.45348744601,
    "estimate_se": 0.734150206023,
    "n_obs": 81,
}
R_LMM_COMPLETE_ML = {
    "coef": [9.0989007076, 0.574730009513, -0.235433008531, 0.465909090909, 0.448153409091],
    "se": [2.71993807626, 0.124131687768, 0.928461499949, 0.135787918784, 0.176393680791],
    "loglik": -152.760344561,
    "var_subject": 1.54526607228,
    "var_residual": 1.62257558212,
    "estimate": 2.45348744601,
    "estimate_se": 0.699045055352,
    "n_obs": 81,
}
R_LMM_MISSING_REML = {
    "coef": [9.45163024782, 0.553729245669, 0.0856485251811, 0.504613668048, 0.387562220461],
    "se": [2.90862150589, 0.133618957595, 1.07020529766, 0.171585042877, 0.220347245319],
    "loglik": -136.025029203,
    "var_subject": 1.5609554709,
    "var_residual": 1.94058482809,
    "estimate": 2.41102184795,
    "estimate_se": 0.800096918507,
    "n_obs": 69,
}
R_LMM_MISSING_ML = {
    "coef": [9.4009737662, 0.556287655298, 0.0829585386793, 0.5038227336, 0.387103008228],
    "se": [2.73563087344, 0.125524343572, 1.03112571337, 0.167523384871, 0.215144897327],
    "loglik": -133.019691775,
    "var_subject": 1.31569096416,
    "var_residual": 1.85745906621,
    "estimate": 2.40557658805,
    "estimate_se": 0.761231371982,
    "n_obs": 69,
}
# R term order: (Intercept), base, SexMale, t, SexMale:t
TERMS = ["(Intercept)", "base", "Sex[Male]", "t", "Sex[Male]:t"]


def _load(name: str) -> pd.DataFrame:
    data = pd.read_csv(REFERENCE / f"orthodont_{name}.csv")
    data["t"] = data["age"] - 8
    return data


def _fit(data: pd.DataFrame, **kwargs: object) -> lmm.LMMResult:
    return fit_lmm(
        data, outcome="distance", subject="Subject", week="t", arm="Sex", control="Female", baseline="base", **kwargs
    )


@pytest.mark.parametrize(
    ("name", "method", "ref"),
    [
        ("complete", "REML", R_LMM_COMPLETE_REML),
        ("complete", "ML", R_LMM_COMPLETE_ML),
        ("missing", "REML", R_LMM_MISSING_REML),
        ("missing", "ML", R_LMM_MISSING_ML),
    ],
)
def test_matches_r_lme4(name: str, method: str, ref: dict[str, object]) -> None:
    res = _fit(_load(name), method=method)
    assert res.converged
    assert not res.boundary
    assert res.method == method
    assert res.n_observations == ref["n_obs"]
    assert res.n_subjects == 27
    assert res.last_week == 6
    assert (res.control, res.intervention) == ("Female", "Male")
    fe = res.fixed_effects.loc[TERMS]
    np.testing.assert_allclose(fe["estimate"].to_numpy(), ref["coef"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fe["se"].to_numpy(), ref["se"], rtol=1e-3)
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-4)
    assert res.var_subject == pytest.approx(ref["var_subject"], rel=1e-3)
    assert res.var_residual == pytest.approx(ref["var_residual"], rel=1e-3)
    assert res.estimate == pytest.approx(ref["estimate"], abs=1e-4)
    assert res.se == pytest.approx(ref["estimate_se"], rel=1e-3)
    assert res.slope_difference == pytest.approx(ref["coef"][4], abs=1e-4)  # type: ignore[index]
    assert res.slope_difference_se == pytest.approx(ref["se"][4], rel=1e-3)  # type: ignore[index]
    # Normal-based interval and p-value.
    assert res.ci_high - res.estimate == pytest.approx(1.959963984540054 * res.se)
    assert res.estimate - res.ci_low == pytest.approx(1.959963984540054 * res.se)
    assert res.p == pytest.approx(math.erfc(abs(res.estimate / res.se) / math.sqrt(2)))
    assert not res.messages


def _numeric_gradient(profile: lmm._Profile, gamma: float, h: float = 1e-4) -> float:
    """Second-order differences (error ~h^2 = 1e-8) with a step well above the rounding noise of the value
    (~1e-10: a step of 1e-6 turns it into 1e-4 of gradient, which broke this test on numpy 2.4): central
    inside, one-sided at the boundary gamma = 0."""

    def f(g: float) -> float:
        return float(profile.evaluate(g).value)

    if gamma == 0.0:
        return (-3 * f(0.0) + 4 * f(h) - f(2 * h)) / (2 * h)
    return (f(gamma + h) - f(gamma - h)) / (2 * h)


def test_analytic_gradient_matches_finite_differences() -> None:
    data = _load("missing")
    for reml in (True, False):
        _obs, _iv, _terms, x, y, groups = lmm._design(data, "distance", "Subject", "t", "Sex", "Female", "base", ())
        profile = lmm._Profile(x, y / 10, groups, reml=reml)
        for gamma in (0.0, 0.3, 2.0):
            assert profile.evaluate(gamma).grad == pytest.approx(_numeric_gradient(profile, gamma), rel=1e-5, abs=1e-6)


def test_rows_with_missing_outcome_equal_absent_rows_and_categorical_covariate() -> None:
    complete = _load("complete")
    dropped = _load("missing")
    with_nan = complete.copy()
    keep = with_nan.set_index(["Subject", "age"]).index.isin(dropped.set_index(["Subject", "age"]).index)
    with_nan.loc[~keep, "distance"] = np.nan
    a, b = _fit(with_nan), _fit(dropped)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-8)
    complete["site"] = np.where(complete["Subject"].str[-1].astype(int) % 2 == 0, "even", "odd")
    res = _fit(complete, covariates=["site"])
    assert res.converged
    assert "site[odd]" in res.fixed_effects.index


def _no_subject_effect() -> pd.DataFrame:
    """Within-participant residuals that sum to ~0: the REML estimate of the random-intercept variance is 0."""
    data = _load("complete")
    pattern = {2: 1.0, 4: -2.0, 6: 1.0}
    sign = np.where(data["Subject"].str[-1].astype(int) % 2 == 0, 1.0, -1.0)
    data["distance"] = 20 + 0.3 * data["base"] + 0.5 * data["t"] + sign * data["t"].map(pattern)
    data.loc[data["Sex"] == "Male", "distance"] += 1.0
    return data


def test_boundary_variance_is_flagged_and_equals_ols() -> None:
    data = _no_subject_effect()
    res = _fit(data)
    assert res.boundary
    assert res.converged
    assert res.var_subject == 0.0
    assert res.gradient >= 0
    assert any("boundary" in m for m in res.messages)
    # At sigma_u^2 = 0 the REML fit is OLS with s^2 = RSS / (N - p).
    x = np.column_stack(
        [
            np.ones(len(data)),
            data["base"],
            data["Sex"] == "Male",
            data["t"],
            (data["Sex"] == "Male") * data["t"],
        ]
    ).astype(float)
    y = data["distance"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    s2 = float(np.sum((y - x @ beta) ** 2)) / (len(y) - x.shape[1])
    cov = s2 * np.linalg.inv(x.T @ x)
    np.testing.assert_allclose(res.fixed_effects.loc[TERMS, "estimate"].to_numpy(), beta, atol=1e-10)
    np.testing.assert_allclose(res.fixed_effects.loc[TERMS, "se"].to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-10)
    assert res.var_residual == pytest.approx(s2)


@pytest.mark.parametrize(
    ("mutate", "kwargs", "message"),
    [
        (lambda d: d.drop(columns="base"), {}, "'base'"),
        (lambda d: d.drop(columns="t"), {}, "'t'"),
        (lambda d: d.assign(distance=d["distance"].astype(str)), {}, "'distance'"),
        (lambda d: d.assign(t=d["t"].astype(str)), {}, "'t'"),
        (lambda d: d.assign(base=d["base"].where(d.index != 3)), {}, "'base'"),
        (lambda d: d.assign(Subject=d["Subject"].where(d.index != 3)), {}, "'Subject'"),
        (lambda d: d.assign(Sex="Female"), {}, "exactly 2 arms"),
        (lambda d: d.assign(Sex=d["Sex"].replace({"Female": "F"})), {}, "control arm 'Female'"),
        (lambda d: pd.concat([d, d.head(1)]), {}, "more than one row"),
        (lambda d: d.assign(distance=d["distance"].where(d["t"] == 2)), {}, "'t'"),
        (lambda d: d.assign(base=d["base"] + d["t"]), {}, "'base' varies within"),
        (lambda d: d, {"covariates": ["stratum"]}, "'stratum'"),
        (lambda d: d, {"method": "GLS"}, "method"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(mutate, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _fit(mutate(_load("complete")), **kwargs)
