"""The REML MMRM (analysis.stats.mmrm) against R nlme::gls on the public nlme::Orthodont data set.

Reference numbers below were produced by ``Rscript tests/analysis/reference/orthodont_mmrm.R`` (R 4.2.2,
nlme 3.1-162), which also wrote the two CSVs read here. The R model is

    gls(distance ~ base + Sex * factor(age), data = d,
        correlation = corSymm(form = ~ visitindex | Subject),
        weights = varIdent(form = ~ 1 | factor(age)), method = "REML",
        control = glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 1000, maxIter = 500))

outcome = distance at ages 10, 12, 14; baseline = distance at age 8; "arm" = Sex, control = Female;
visitindex = 1..3. Coefficient SEs are sqrt(diag(vcov(fit))); the covariance is getVarCov(fit, individual =
"M01"); the treatment differences are SexMale (+ SexMale:factor(age)a) with SEs from vcov(fit). The
missing-data set drops 12 listed post-baseline rows (14.8%). No R is needed to run these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import mmrm
from analysis.stats.mmrm import fit_mmrm

REFERENCE = Path(__file__).parent / "reference"

R_COMPLETE = {
    "coef": [
        9.70380719251,
        0.591236570311,
        0.584156261633,
        0.863636363636,
        1.86363636364,
        1.04261363636,
        1.79261363636,
    ],
    "se": [
        2.71643872667,
        0.125891036553,
        0.705801062404,
        0.65962675037,
        0.480170283588,
        0.856880284254,
        0.623759495594,
    ],
    "loglik": -150.127326132,
    "covariance": [
        [2.95106033227, 0.987868625435, 2.08734456217],
        [0.987868625435, 3.81085886643, 2.19534578689],
        [2.08734456217, 2.19534578689, 3.75982730572],
    ],
    "diff_estimate": [0.584156261633, 1.626769898, 2.376769898],
    "diff_se": [0.705801062404, 0.793760701459, 0.788813885428],
    "n_obs": 81,
}
R_MISSING = {
    "coef": [9.18280528674, 0.614652324023, 0.76691919625, 0.980410407514, 1.97378948905, 0.74022080637, 1.47159559343],
    "se": [
        2.67114192357,
        0.124358051842,
        0.708543415524,
        0.722144286525,
        0.607351096778,
        0.94431808553,
        0.778356769187,
    ],
    "loglik": -130.152378311,
    "covariance": [
        [2.73891802942, 0.596403999822, 1.9724153563],
        [0.596403999822, 3.65040068911, 1.87255439693],
        [1.9724153563, 1.87255439693, 4.13079416592],
    ],
    "diff_estimate": [0.76691919625, 1.50714000262, 2.23851478968],
    "diff_se": [0.708543415524, 0.831082431149, 0.890186659453],
    "n_obs": 69,
}
# R term order: (Intercept), base, SexMale, factor(age)12, factor(age)14, SexMale:factor(age)12, SexMale:factor(age)14
TERMS = ["(Intercept)", "base", "Sex[Male]", "age[12]", "age[14]", "Sex[Male]:age[12]", "Sex[Male]:age[14]"]


def _load(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"orthodont_{name}.csv")


def _fit(data: pd.DataFrame, **kwargs: object) -> mmrm.MMRMResult:
    return fit_mmrm(
        data, outcome="distance", subject="Subject", visit="age", arm="Sex", control="Female", baseline="base", **kwargs
    )


@pytest.mark.parametrize(("name", "ref"), [("complete", R_COMPLETE), ("missing", R_MISSING)])
def test_matches_r_nlme_gls(name: str, ref: dict[str, object]) -> None:
    data = _load(name)
    res = _fit(data)
    assert res.converged
    assert res.method == "REML"
    assert res.n_observations == ref["n_obs"]
    fe = res.fixed_effects.loc[TERMS]
    np.testing.assert_allclose(fe["estimate"].to_numpy(), ref["coef"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fe["se"].to_numpy(), ref["se"], rtol=1e-3)
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-4)
    np.testing.assert_allclose(res.covariance.to_numpy(), ref["covariance"], rtol=1e-3)
    assert [v.visit for v in res.visits] == [10, 12, 14]
    assert all(v.arm == "Male" for v in res.visits)
    np.testing.assert_allclose([v.estimate for v in res.visits], ref["diff_estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose([v.se for v in res.visits], ref["diff_se"], rtol=1e-3)
    for v in res.visits:
        assert v.ci_low < v.estimate < v.ci_high
        assert 0 < v.p < 1
        assert 1 <= v.df <= res.n_observations - len(TERMS)
        half = v.estimate - v.ci_low
        assert v.ci_high - v.estimate == pytest.approx(half)


def _naive_minus2_reml(data: pd.DataFrame, x: np.ndarray, y: np.ndarray, sigma: np.ndarray, visits: list) -> float:
    """-2 REML logLik (without constant), one participant at a time: no pattern grouping."""
    p = x.shape[1]
    a = np.zeros((p, p))
    b = np.zeros(p)
    c = 0.0
    logdet = 0.0
    for _, rows in data.groupby("Subject").indices.items():
        idx = [visits.index(v) for v in data["age"].to_numpy()[rows]]
        v = sigma[np.ix_(idx, idx)]
        w = np.linalg.inv(v)
        logdet += math.log(np.linalg.det(v))
        a += x[rows].T @ w @ x[rows]
        b += x[rows].T @ w @ y[rows]
        c += y[rows] @ w @ y[rows]
    beta = np.linalg.solve(a, b)
    return logdet + math.log(np.linalg.det(a)) + c - b @ beta


def test_pattern_grouping_equals_per_participant_computation() -> None:
    data = _load("missing")
    obs, _arms, visits, _terms, x, y, _ = mmrm._prepare(data, "distance", "Subject", "age", "Sex", "Female", "base", ())
    patterns, n_subj = mmrm._patterns(obs, "Subject", "age", visits, x, y)
    assert n_subj == 27
    assert len(patterns) > 1
    reml = mmrm._REML(patterns, len(visits), x.shape[1])
    rng = np.random.default_rng(1)
    for _ in range(3):
        m = rng.normal(size=(3, 3))
        sigma = m @ m.T + np.eye(3)
        grouped = reml.evaluate(sigma).value
        assert grouped == pytest.approx(_naive_minus2_reml(obs, x, y, sigma, visits), rel=1e-10)


def test_analytic_gradient_matches_finite_differences() -> None:
    data = _load("missing")
    obs, _arms, visits, _terms, x, y, _ = mmrm._prepare(data, "distance", "Subject", "age", "Sex", "Female", "base", ())
    patterns, _ = mmrm._patterns(obs, "Subject", "age", visits, x, y / 10)
    reml = mmrm._REML(patterns, len(visits), x.shape[1])
    theta = np.array([0.5, 0.3, 0.7, 0.9, -0.2, 0.6])
    _, grad = reml.objective(theta)
    h = 1e-4
    numeric = [
        (reml.objective(theta + h * e)[0] - reml.objective(theta - h * e)[0]) / (2 * h) for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_categorical_covariate_and_rows_with_missing_outcome() -> None:
    data = _load("complete")
    data["site"] = np.where(data["Subject"].str[-1].astype(int) % 2 == 0, "even", "odd")
    res = _fit(data, covariates=["site"])
    assert "site[odd]" in res.fixed_effects.index
    # A row with a missing outcome is the same as an absent row.
    dropped = _load("missing")
    with_nan = data.drop(columns="site").copy()
    keep = with_nan.set_index(["Subject", "age"]).index.isin(dropped.set_index(["Subject", "age"]).index)
    with_nan.loc[~keep, "distance"] = np.nan
    a = _fit(with_nan)
    b = _fit(dropped)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    assert a.visits[2].estimate == pytest.approx(b.visits[2].estimate, abs=1e-8)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns="base"), "'base'"),
        (lambda d: d.assign(distance=d["distance"].astype(str)), "'distance'"),
        (lambda d: d.assign(base=d["base"].where(d.index != 3)), "'base'"),
        (lambda d: d.assign(Sex="Female"), "at least 2 arms"),
        (lambda d: d.assign(distance=d["distance"].where(d["age"] != 14)), "visit 14"),
        (lambda d: d.assign(Sex=d["Sex"].replace({"Female": "F"})), "control arm 'Female'"),
        (lambda d: pd.concat([d, d.head(1)]), "more than one row"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(mutate, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _fit(mutate(_load("complete")))


def test_missing_covariate_column_is_named() -> None:
    with pytest.raises(ValueError, match="'stratum'"):
        _fit(_load("complete"), covariates=["stratum"])


def test_non_convergence_is_raised_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mmrm, "NEWTON_DECREMENT_TOL", -1.0)
    with pytest.raises(mmrm.MMRMConvergenceError):
        _fit(_load("complete"))
    res = _fit(_load("complete"), raise_on_failure=False)
    assert not res.converged
    assert res.messages
