"""Sensitivity analyses for missing data (ICH E9(R1)): multiple imputation under MAR, reference-based
imputation (jump to reference, copy reference) and a delta-adjusted tipping-point analysis.

Pure numpy/scipy/pandas (no Django, no ORM). The methods and their caveats are in ``docs/statistics.md``
("Sensitivity analyses for missing data"); the MAR imputation is validated against R ``mice`` (method
``norm``) in ``tests/analysis/test_sensitivity.py``.

Imputation model (the MMRM's assumptions, in the wide layout). Participant i has the post-baseline outcome
vector y_i (T visits), and the fully observed row x_i = (1, baseline, arm, covariates), exactly the design of
the ANCOVA that analyses each completed data set. The model is the multivariate normal regression

    y_i ~ N(B' x_i, Sigma)

with a separate coefficient for each visit (visit-specific intercept, baseline slope, arm effect and covariate
effects, so at least as rich as the analysis model) and one unstructured Sigma common to both arms, as in the
primary MMRM. Under the non-informative prior p(B, Sigma) ~ |Sigma|^-(T+1)/2 the parameters are drawn from
their posterior given the observed data by data augmentation (a Gibbs sampler that alternates
Sigma ~ inverse Wishart, B ~ matrix normal given the completed data, and the missing outcomes given the
observed ones and the parameters), after a burn-in and with thinning between the kept draws. With the
posterior draws (B_m, Sigma_m), m = 1..M, each missing value is drawn from the normal distribution of the
missing given the observed visits of the same participant, with a mean vector that depends on the method:

- ``mar``: the participant's own arm, mu_i = B_m' x_i (missing at random given arm, baseline, covariates and
  the observed outcomes);
- ``j2r`` (jump to reference, Carpenter, Roger & Kenward 2013): for intervention participants, the own-arm
  mean up to the last observed visit and the reference (control) arm's mean B_m' x_i(arm = control) after it,
  so the benefit disappears at dropout; the conditional distribution still uses Sigma_m and the observed
  values;
- ``cr`` (copy reference): intervention participants' whole mean profile is the reference arm's; their
  observed deviations from it (the benefit they had) carry forward through the correlation in Sigma_m, so the
  benefit decays rather than disappears.

Control participants are imputed under MAR by every method. Missing values before a participant's last
observed visit (intermittent) are imputed with the same mean vector (under J2R it is the own arm's there, i.e.
MAR). Each completed data set is analysed by the ANCOVA at each visit (``y_t ~ baseline + arm +
covariates``, :mod:`analysis.stats.ancova`'s design and OLS) and the M results are combined by Rubin's rules
with the Barnard-Rubin degrees of freedom (:func:`rubin`).

Tipping point (:func:`tipping_point`): delta is added to every imputed (MAR) value of the intervention arm at a
visit, the analysis repeated, over a grid of delta; the tipping point is the smallest |delta| at which the
conclusion (significant benefit / not significant / significant harm at ``alpha``) differs from that at
delta = 0, located exactly between grid points by bisection.

Rubin's variance is conservative for J2R and CR (it counts the uncertainty of the intervention arm's
post-dropout mean, which those methods do not use); :func:`bootstrap_se` gives a repeated-sampling SE by
bootstrapped MI (von Hippel & Bartlett 2021), optional because it costs seconds per method.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import stats  # type: ignore[import-untyped]

from analysis.stats.design import add_covariates, full_rank_design, require_numeric

__all__ = [
    "Imputations",
    "ParameterDraws",
    "PooledEstimate",
    "WideData",
    "analyse_imputations",
    "bootstrap_se",
    "draw_parameters",
    "impute",
    "reference_based",
    "rubin",
    "sensitivity_analysis",
    "sensitivity_or_error",
    "tipping_point",
    "wide_data",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Method = Literal["mar", "j2r", "cr"]
METHODS: tuple[Method, ...] = ("mar", "j2r", "cr")


# --------------------------------------------------------------------------------------------------------------
# Rubin's rules.


@dataclass(frozen=True)
class PooledEstimate:
    """Rubin's rules for one scalar: Q-bar, total SE sqrt(T), Barnard-Rubin df, t-based CI and p."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    df: float
    m: int
    within: float  # U-bar, mean within-imputation variance
    between: float  # B, between-imputation variance
    fmi: float  # lambda = (1 + 1/m) B / T, the proportion of the variance due to missing data

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p": self.p,
            "df": self.df,
        }


def rubin(
    estimates: Sequence[float] | FloatArray,
    variances: Sequence[float] | FloatArray,
    df_complete: float,
    *,
    alpha: float = 0.05,
) -> PooledEstimate:
    """Combine M point estimates and their squared SEs (Rubin 1987) with the small-sample degrees of freedom
    of Barnard & Rubin (1999), as R ``mice::pool``:

        Q = mean(q_m), U = mean(u_m), B = var(q_m), T = U + (1 + 1/M) B, lambda = (1 + 1/M) B / T,
        nu_old = (M - 1) / lambda^2, nu_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda),
        df = nu_old nu_obs / (nu_old + nu_obs)   (df = nu_com when B = 0).
    """
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(variances, dtype=np.float64)
    m = q.size
    if m < 2 or u.size != m:
        raise ValueError("Rubin's rules need at least 2 estimates, each with its variance")
    if not np.all(np.isfinite(q)) or not np.all(np.isfinite(u)) or np.any(u < 0):
        raise ValueError("estimates and variances must be finite (variances >= 0)")
    if not df_complete > 0:
        raise ValueError("df_complete must be positive")
    q_bar = float(q.mean())
    u_bar = float(u.mean())
    b = float(q.var(ddof=1))
    total = u_bar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / total if total > 0 else 0.0
    nu_com = float(df_complete)
    nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lam)
    if lam <= 0:
        df = nu_com
    else:
        nu_old = (m - 1) / lam**2
        df = nu_old * nu_obs / (nu_old + nu_obs)
    se = math.sqrt(total)
    qt = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(q_bar) / se, df)) if se > 0 else (0.0 if q_bar != 0 else 1.0)
    return PooledEstimate(q_bar, se, q_bar - qt * se, q_bar + qt * se, p, float(df), m, u_bar, b, float(lam))


# --------------------------------------------------------------------------------------------------------------
# Wide data and the shared design.


@dataclass(frozen=True)
class WideData:
    """One row per participant: outcomes ``y`` (n x T, NaN = missing), the design ``x`` (n x p: intercept,
    baseline, arm indicator, covariates; the ANCOVA's design), which column of ``x`` is the arm, who is in the
    intervention arm, and the visits (weeks)."""

    participant: NDArray[Any]
    weeks: tuple[Any, ...]
    y: FloatArray
    x: FloatArray
    terms: tuple[str, ...]
    arm_column: int
    treated: BoolArray
    control: Any
    intervention: Any

    @property
    def missing(self) -> BoolArray:
        return np.asarray(np.isnan(self.y))

    @property
    def last_observed(self) -> NDArray[np.intp]:
        """Index of each participant's last observed visit (-1 when none is observed)."""
        obs = ~self.missing
        t = self.y.shape[1]
        last = np.where(obs.any(axis=1), t - 1 - np.argmax(obs[:, ::-1], axis=1), -1)
        return np.asarray(last, dtype=np.intp)


def wide_data(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str,
    covariates: Sequence[str] = (),
) -> WideData:
    """From the long frame of :func:`analysis.stats.primary.model_frame` (one row per participant x
    post-baseline visit, missing outcomes as NaN or absent rows) to :class:`WideData`. Every participant with
    a row is kept (treatment-policy population); baseline, arm and covariates must be present."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    needed = [outcome, subject, visit, arm, baseline, *covariates]
    for name in needed:
        if name not in data.columns:
            raise ValueError(f"column {name!r} is missing from the data")
    if len(set(needed)) != len(needed):
        raise ValueError(f"the same column is used twice among {needed}")
    df = data[needed]
    require_numeric(df[outcome], outcome)
    require_numeric(df[baseline], baseline)
    for name in [subject, visit, arm, baseline, *covariates]:
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values")
    if df.duplicated([subject, visit]).any():
        raise ValueError(f"more than one row per {subject!r} x {visit!r}")
    for name in [arm, baseline, *covariates]:
        if (df.groupby(subject)[name].nunique() > 1).any():
            raise ValueError(f"column {name!r} varies within a participant ({subject!r}); it must be constant")
    weeks = tuple(sorted(df[visit].unique().tolist()))
    wide = df.pivot(index=subject, columns=visit, values=outcome).reindex(columns=list(weeks))
    people = df.drop_duplicates(subject).set_index(subject).loc[wide.index].reset_index()
    arms = sorted(people[arm].unique().tolist(), key=str)
    if control not in arms or len(arms) != 2:
        raise ValueError(f"column {arm!r} must have exactly 2 arms, one of them {control!r} (found {arms})")
    intervention = next(a for a in arms if a != control)
    treated = (people[arm] == intervention).to_numpy()
    cols: dict[str, FloatArray] = {
        "(Intercept)": np.ones(len(people)),
        baseline: people[baseline].to_numpy(dtype=float),
        f"{arm}[{intervention}]": treated.astype(float),
    }
    add_covariates(cols, people, covariates)
    terms, x = full_rank_design(cols)
    y = wide.to_numpy(dtype=float)
    if np.isinf(y).any():
        raise ValueError(f"column {outcome!r} has infinite values")
    n, p = x.shape
    obs = ~np.isnan(y)
    for j, w in enumerate(weeks):
        for label, rows in ((control, ~treated), (intervention, treated)):
            if not obs[rows, j].any():
                raise ValueError(f"visit {w!r} has no observed {outcome!r} in arm {label!r}")
    if n <= p + len(weeks):
        raise ValueError(f"too few participants ({n}) for the imputation model ({p} terms, {len(weeks)} visits)")
    return WideData(
        participant=wide.index.to_numpy(),
        weeks=weeks,
        y=y,
        x=x,
        terms=tuple(terms),
        arm_column=terms.index(f"{arm}[{intervention}]"),
        treated=np.asarray(treated, dtype=bool),
        control=control,
        intervention=intervention,
    )


# --------------------------------------------------------------------------------------------------------------
# Posterior draws of (B, Sigma) by data augmentation.


@dataclass(frozen=True)
class ParameterDraws:
    coef: FloatArray  # (M, p, T)
    sigma: FloatArray  # (M, T, T)
    burn_in: int
    thin: int
    seconds: float


def _patterns(missing: BoolArray) -> list[tuple[BoolArray, NDArray[np.intp]]]:
    """(missing mask, rows) for each distinct missingness pattern with at least one missing value."""
    out = []
    codes = missing.astype(np.int64) @ (1 << np.arange(missing.shape[1], dtype=np.int64))
    for code in np.unique(codes):
        if code == 0:
            continue
        rows = np.flatnonzero(codes == code)
        out.append((missing[rows[0]].copy(), rows))
    return out


def _draw_conditional(
    y_obs: FloatArray, mu: FloatArray, miss: BoolArray, sigma: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Draw the missing components (``miss``) of rows with mean ``mu`` given their observed components."""
    mis_idx = np.flatnonzero(miss)
    obs_idx = np.flatnonzero(~miss)
    s_mm = sigma[np.ix_(mis_idx, mis_idx)]
    if obs_idx.size:
        s_mo = sigma[np.ix_(mis_idx, obs_idx)]
        s_oo = sigma[np.ix_(obs_idx, obs_idx)]
        k = np.linalg.solve(s_oo, s_mo.T).T  # Sigma_mo Sigma_oo^-1
        mean = mu[:, mis_idx] + (y_obs[:, obs_idx] - mu[:, obs_idx]) @ k.T
        cov = s_mm - k @ s_mo.T
    else:
        mean = mu[:, mis_idx]
        cov = s_mm
    chol = np.linalg.cholesky((cov + cov.T) / 2)
    return np.asarray(mean + rng.standard_normal(mean.shape) @ chol.T, dtype=np.float64)


def _inverse_wishart(scale: FloatArray, df: int, rng: np.random.Generator) -> FloatArray:
    """Sigma ~ IW(df, scale) via the Bartlett decomposition of W = Sigma^-1 ~ Wishart(df, scale^-1)."""
    t = scale.shape[0]
    chol_inv = np.linalg.cholesky(np.linalg.inv(scale))
    a = np.zeros((t, t))
    a[np.diag_indices(t)] = np.sqrt(rng.chisquare(df - np.arange(t)))
    rows, cols = np.tril_indices(t, -1)
    a[rows, cols] = rng.standard_normal(rows.size)
    lw = chol_inv @ a
    w = lw @ lw.T
    sig = np.linalg.inv(w)
    return np.asarray((sig + sig.T) / 2, dtype=np.float64)


def draw_parameters(
    wide: WideData,
    *,
    m: int,
    rng: np.random.Generator,
    burn_in: int = 200,
    thin: int = 10,
) -> ParameterDraws:
    """``m`` draws of (B, Sigma) from the posterior of the multivariate normal regression given the observed
    data, by data augmentation: ``burn_in`` iterations, then one kept draw every ``thin`` iterations."""
    if m < 1 or burn_in < 0 or thin < 1:
        raise ValueError("m and thin must be at least 1, burn_in at least 0")
    started = time.perf_counter()
    x, y0 = wide.x, wide.y
    n, p = x.shape
    t = y0.shape[1]
    missing = wide.missing
    patterns = _patterns(missing)
    xtx_inv = np.linalg.inv(x.T @ x)
    chol_xtx_inv = np.linalg.cholesky((xtx_inv + xtx_inv.T) / 2)
    proj = xtx_inv @ x.T  # p x n
    df = n - p
    # Start: missing values at the observed visit mean.
    y = y0.copy()
    col_mean = np.nanmean(y0, axis=0)
    y[missing] = np.broadcast_to(col_mean, y.shape)[missing]
    coef = np.zeros((m, p, t))
    sig = np.zeros((m, t, t))
    kept = 0
    total = burn_in + m * thin
    for it in range(1, total + 1):
        b_hat = proj @ y
        resid = y - x @ b_hat
        s = resid.T @ resid
        sigma = _inverse_wishart(s, df, rng)
        b = b_hat + chol_xtx_inv @ rng.standard_normal((p, t)) @ np.linalg.cholesky(sigma).T
        mu = x @ b
        for miss, rows in patterns:
            y[np.ix_(rows, np.flatnonzero(miss))] = _draw_conditional(y[rows], mu[rows], miss, sigma, rng)
        if it > burn_in and (it - burn_in) % thin == 0:
            coef[kept], sig[kept] = b, sigma
            kept += 1
    return ParameterDraws(coef, sig, burn_in, thin, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------------------
# Imputation under MAR / J2R / CR.


@dataclass(frozen=True)
class Imputations:
    method: Method
    y: FloatArray  # (M, n, T) completed outcomes
    wide: WideData


def _mean_profiles(wide: WideData, coef: FloatArray, method: Method) -> FloatArray:
    """Each participant's mean vector (n x T) under ``method`` for one draw of B."""
    own = wide.x @ coef
    if method == "mar":
        return np.asarray(own, dtype=np.float64)
    x_ref = wide.x.copy()
    x_ref[:, wide.arm_column] = 0.0
    ref = x_ref @ coef
    t = wide.y.shape[1]
    if method == "cr":
        after = np.ones((len(own), t), dtype=bool)
    elif method == "j2r":
        after = np.arange(t)[None, :] > wide.last_observed[:, None]
    else:
        raise ValueError(f"unknown imputation method {method!r} (mar, j2r, cr)")
    # Only intervention participants who drop out (miss their last visit) change their reference.
    dropout = wide.missing[:, -1] & wide.treated
    use_ref = after & dropout[:, None]
    return np.asarray(np.where(use_ref, ref, own), dtype=np.float64)


def impute(wide: WideData, draws: ParameterDraws, method: Method, rng: np.random.Generator) -> Imputations:
    """One completed data set per parameter draw: the missing outcomes drawn under ``method``."""
    if method not in METHODS:
        raise ValueError(f"unknown imputation method {method!r} (mar, j2r, cr)")
    patterns = _patterns(wide.missing)
    m = draws.coef.shape[0]
    out = np.repeat(wide.y[None, :, :], m, axis=0)
    for k in range(m):
        mu = _mean_profiles(wide, draws.coef[k], method)
        for miss, rows in patterns:
            out[k][np.ix_(rows, np.flatnonzero(miss))] = _draw_conditional(
                wide.y[rows], mu[rows], miss, draws.sigma[k], rng
            )
    return Imputations(method, out, wide)


# --------------------------------------------------------------------------------------------------------------
# Analysis of the completed data sets: ANCOVA per visit, vectorised over imputations.


@dataclass(frozen=True)
class Analysed:
    estimates: FloatArray  # (M, T)
    variances: FloatArray  # (M, T)
    df_complete: int


def _ols_arm(x: FloatArray, arm_column: int, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Arm coefficient and its squared SE s^2 (X'X)^-1[k, k] for every column of ``y`` (n x K); as
    :func:`analysis.stats.ancova.fit_ancova` (same design, classical OLS covariance)."""
    n, p = x.shape
    q_mat, r_mat = np.linalg.qr(x)
    beta = np.linalg.solve(r_mat, q_mat.T @ y)
    resid = y - x @ beta
    s2 = np.sum(resid**2, axis=0) / (n - p)
    r_inv = np.linalg.inv(r_mat)
    v_kk = float((r_inv @ r_inv.T)[arm_column, arm_column])
    return np.asarray(beta[arm_column], dtype=np.float64), np.asarray(s2 * v_kk, dtype=np.float64)


def analyse_imputations(imp: Imputations, *, shift: FloatArray | None = None) -> Analysed:
    """ANCOVA ``y_t ~ baseline + arm + covariates`` at each visit of each completed data set. ``shift``
    (n x T) is added to every completed data set first (the tipping-point delta)."""
    wide = imp.wide
    m, n, t = imp.y.shape
    est = np.zeros((m, t))
    var = np.zeros((m, t))
    for j in range(t):
        yj = imp.y[:, :, j].T  # n x M
        if shift is not None:
            yj = yj + shift[:, j][:, None]
        est[:, j], var[:, j] = _ols_arm(wide.x, wide.arm_column, yj)
    return Analysed(est, var, n - wide.x.shape[1])


def pooled_visits(imp: Imputations, *, alpha: float = 0.05) -> list[dict[str, Any]]:
    res = analyse_imputations(imp)
    out = []
    for j, week in enumerate(imp.wide.weeks):
        pooled = rubin(res.estimates[:, j], res.variances[:, j], res.df_complete, alpha=alpha)
        out.append({"week": _plain(week), **pooled.as_dict(), "fmi": pooled.fmi})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        f = float(value)
        return int(f) if f.is_integer() else f
    return value


# --------------------------------------------------------------------------------------------------------------
# Tipping point.


def _conclusion(estimate: float, p: float, alpha: float) -> str:
    if p >= alpha:
        return "not significant"
    return "intervention higher" if estimate > 0 else "intervention lower"


def tipping_point(
    imp: Imputations,
    *,
    visit_index: int = -1,
    alpha: float = 0.05,
    points: int = 21,
) -> dict[str, Any]:
    """Delta-adjusted MAR analysis at one visit: delta added to every imputed value of the intervention arm
    at that visit, over a grid from 0 in the direction against the MAR estimate (toward and past no
    difference), with ``points`` grid points reaching beyond the delta at which the estimate's CI would
    be centred at -2 SE the other side. ``tipping_delta``: the smallest |delta| whose conclusion differs from
    delta = 0 (bisection between grid points; ``None`` if none on the grid)."""
    if imp.method != "mar":
        raise ValueError("the tipping-point analysis starts from the MAR imputations")
    wide = imp.wide
    t = wide.y.shape[1]
    j = visit_index % t
    target = wide.missing[:, j] & wide.treated

    def pooled(delta: float) -> PooledEstimate:
        shift = np.zeros_like(wide.y)
        shift[:, j] = np.where(target, delta, 0.0)
        res = analyse_imputations(imp, shift=shift)
        return rubin(res.estimates[:, j], res.variances[:, j], res.df_complete, alpha=alpha)

    base = pooled(0.0)
    direction = 1.0 if base.estimate <= 0 else -1.0
    # Shift of the ANCOVA coefficient per unit delta (the same in every completed data set).
    xtx_inv = np.linalg.inv(wide.x.T @ wide.x)
    per_unit = float((xtx_inv @ wide.x.T @ target.astype(float))[wide.arm_column])
    week = _plain(wide.weeks[j])
    result: dict[str, Any] = {
        "week": week,
        "direction": "higher scores in the intervention arm"
        if direction > 0
        else "lower scores in the intervention arm",
        "n_imputed_intervention": int(target.sum()),
        "conclusion_at_zero": _conclusion(base.estimate, base.p, alpha),
    }
    if target.sum() == 0 or abs(per_unit) < 1e-12:
        result.update(
            {
                "grid": [_grid_row(0.0, base)],
                "tipping_delta": None,
                "note": "no missing values in the intervention arm at this visit",
            }
        )
        return result
    reach = (abs(base.estimate) + 2 * stats.norm.ppf(1 - alpha / 2) * base.se) / abs(per_unit)
    step = _nice_step(reach / (points - 1))
    grid = [direction * step * i for i in range(points)]
    rows = [(d, pooled(d)) for d in grid]
    start = _conclusion(base.estimate, base.p, alpha)
    tipping: float | None = None

    def changed(d: float) -> bool:
        r = pooled(d)
        return _conclusion(r.estimate, r.p, alpha) != start

    for (d0, _), (d1, r1) in itertools.pairwise(rows):
        if _conclusion(r1.estimate, r1.p, alpha) != start:
            lo, hi = d0, d1  # bisection: the conclusion is unchanged at lo, changed at hi
            while abs(hi - lo) > 1e-4 * step:
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if changed(mid) else (mid, hi)
            tipping = float(hi)
            break
    result.update({"grid": [_grid_row(d, r) for d, r in rows], "tipping_delta": tipping})
    return result


def _grid_row(delta: float, r: PooledEstimate) -> dict[str, float]:
    return {"delta": float(delta), "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p}


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at least ``raw``."""
    if not raw > 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if mult * power >= raw * (1 - 1e-12):
            return mult * power
    return 10.0 * power


# --------------------------------------------------------------------------------------------------------------
# Bootstrapped multiple imputation: a repeated-sampling SE (for the reference-based methods).


def _resample(wide: WideData, rows: NDArray[np.intp]) -> WideData:
    return WideData(
        participant=wide.participant[rows],
        weeks=wide.weeks,
        y=wide.y[rows],
        x=wide.x[rows],
        terms=wide.terms,
        arm_column=wide.arm_column,
        treated=wide.treated[rows],
        control=wide.control,
        intervention=wide.intervention,
    )


def bootstrap_se(
    wide: WideData,
    method: Method,
    *,
    rng: np.random.Generator,
    boot: int = 200,
    m: int = 2,
    burn_in: int = 100,
    thin: int = 10,
) -> dict[str, Any]:
    """Bootstrapped MI (von Hippel & Bartlett 2021, as the ``bmlmi`` variance of R ``rbmi``): ``boot``
    resamples of the participants within arm, each imputed ``m`` times under ``method`` and analysed; with
    q_bk the estimate of imputation k in resample b, the repeated-sampling variance of the MI estimate is
    var_b(mean_k q_bk) - MSW / m, MSW the pooled within-resample variance (it removes the imputation noise of
    the small m). Unlike Rubin's rules it is not conservative for J2R / CR. Resamples whose design is rank
    deficient (a covariate level drawn out) are redrawn. Returns per visit the SE and the number of resamples."""
    if boot < 10 or m < 2:
        raise ValueError("bootstrap_se needs boot >= 10 and m >= 2")
    groups = [np.flatnonzero(~wide.treated), np.flatnonzero(wide.treated)]
    t = wide.y.shape[1]
    q = np.zeros((boot, m, t))
    b = 0
    redraws = 0
    while b < boot:
        rows = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        sample = _resample(wide, rows)
        obs = ~sample.missing
        if (
            np.linalg.matrix_rank(sample.x) < sample.x.shape[1]
            or not obs[sample.treated].any(axis=0).all()
            or not obs[~sample.treated].any(axis=0).all()
        ):
            redraws += 1
            if redraws > boot:
                raise ValueError("too many bootstrap resamples with a rank-deficient design")
            continue
        draws = draw_parameters(sample, m=m, rng=rng, burn_in=burn_in, thin=thin)
        q[b] = analyse_imputations(impute(sample, draws, method, rng)).estimates
        b += 1
    means = q.mean(axis=1)  # boot x T
    msw = q.var(axis=1, ddof=1).mean(axis=0)
    var = means.var(axis=0, ddof=1) - msw / m
    return {
        "method": "bootstrapped MI (von Hippel & Bartlett 2021)",
        "boot": boot,
        "m_per_resample": m,
        "visits": [
            {"week": _plain(w), "se": float(math.sqrt(v)) if v > 0 else None}
            for w, v in zip(wide.weeks, var, strict=True)
        ],
    }


# --------------------------------------------------------------------------------------------------------------
# Everything for one outcome (the ``sensitivity`` key of ``analyze``).


def reference_based(
    wide: WideData, draws: ParameterDraws, rng: np.random.Generator, *, alpha: float = 0.05
) -> dict[Method, Imputations]:
    """MAR, J2R and CR imputations from the same parameter draws."""
    return {method: impute(wide, draws, method, rng) for method in METHODS}


RUBIN_NOTE = "Rubin's rules (conservative for reference-based imputation; see 'bootstrap')"

ESTIMAND = (
    "Treatment policy: all randomized participants with a baseline value, difference in mean outcome "
    "(intervention minus control) at each visit whatever happened after dropout. 'mar_mi' assumes dropouts "
    "continue like similar participants of their own arm (missing at random); 'j2r' and 'cr' assume the "
    "intervention arm's dropouts lose the benefit (jump to reference) or follow the reference arm's profile "
    "from their observed values (copy reference); 'tipping_point' shifts the intervention arm's MAR-imputed "
    "values by delta."
)


def sensitivity_analysis(
    data: pd.DataFrame,
    *,
    control: Any,
    covariates: Sequence[str] = (),
    m: int = 50,
    seed: int = 20240,
    burn_in: int = 200,
    thin: int = 10,
    alpha: float = 0.05,
    outcome: str = "y",
    subject: str = "participant_id",
    visit: str = "week",
    arm: str = "arm",
    baseline: str = "baseline",
    bootstrap: int = 0,
) -> dict[str, Any]:
    """MAR multiple imputation, J2R, CR and the tipping point at the last visit for one outcome, in the
    layout of :func:`analysis.stats.primary.model_frame`, as the JSON of the ``sensitivity`` key. With
    ``bootstrap`` > 0, J2R and CR also get a bootstrapped-MI SE (:func:`bootstrap_se`, ``bootstrap``
    resamples; several seconds per method) with normal-theory CI and p; otherwise ``"bootstrap": null``."""
    if m < 2:
        raise ValueError("m must be at least 2")
    wide = wide_data(
        data,
        outcome=outcome,
        subject=subject,
        visit=visit,
        arm=arm,
        control=control,
        baseline=baseline,
        covariates=covariates,
    )
    rng = np.random.default_rng(seed)
    draws = draw_parameters(wide, m=m, rng=rng, burn_in=burn_in, thin=thin)
    imps = reference_based(wide, draws, rng, alpha=alpha)
    head = {"m": m, "seed": seed, "burn_in": burn_in, "thin": thin}
    missing = wide.missing
    out: dict[str, Any] = {
        "estimand": ESTIMAND,
        "n_participants": len(wide.y),
        "missing_by_week": [
            {
                "week": _plain(w),
                "control": int(missing[~wide.treated, j].sum()),
                "intervention": int(missing[wide.treated, j].sum()),
            }
            for j, w in enumerate(wide.weeks)
        ],
        "imputation_model": "multivariate normal regression of the visits on "
        + " + ".join(wide.terms[1:])
        + "; visit-specific coefficients, unstructured covariance common to both arms; "
        "posterior draws by data augmentation",
        "analysis_model": "ANCOVA at each visit (" + " + ".join(wide.terms[1:]) + "), Rubin's rules, Barnard-Rubin df",
        "mar_mi": {**head, "visits": pooled_visits(imps["mar"], alpha=alpha)},
        "j2r": {
            **head,
            "reference": control,
            "visits": pooled_visits(imps["j2r"], alpha=alpha),
            "variance": RUBIN_NOTE,
        },
        "cr": {**head, "reference": control, "visits": pooled_visits(imps["cr"], alpha=alpha), "variance": RUBIN_NOTE},
        "tipping_point": tipping_point(imps["mar"], alpha=alpha),
    }
    for method in ("j2r", "cr"):
        out[method]["bootstrap"] = (
            _with_bootstrap(out[method]["visits"], bootstrap_se(wide, method, rng=rng, boot=bootstrap), alpha)
            if bootstrap
            else None
        )
    return out


def _with_bootstrap(visits: list[dict[str, Any]], boot: dict[str, Any], alpha: float) -> dict[str, Any]:
    """The MI point estimates with the bootstrapped SE, normal-theory CI and p."""
    z = float(stats.norm.ppf(1 - alpha / 2))
    rows = []
    for v, b in zip(visits, boot["visits"], strict=True):
        se = b["se"]
        rows.append(
            {
                "week": v["week"],
                "estimate": v["estimate"],
                "se": se,
                "ci_low": v["estimate"] - z * se if se else None,
                "ci_high": v["estimate"] + z * se if se else None,
                "p": float(2 * stats.norm.sf(abs(v["estimate"]) / se)) if se else None,
            }
        )
    return {**{k: v for k, v in boot.items() if k != "visits"}, "visits": rows}


def sensitivity_or_error(
    data: pd.DataFrame, *, control: Any, covariates: Sequence[str] = (), **options: Any
) -> dict[str, Any]:
    """:func:`sensitivity_analysis`, or ``{"error": reason}`` when it cannot be done, so that a failure here
    never costs the other analyses of the outcome."""
    try:
        result = sensitivity_analysis(data, control=control, covariates=covariates, **options)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return dict(_finite(result))


def _finite(value: Any) -> Any:
    """NaN and infinities become None, so the JSON stays strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
