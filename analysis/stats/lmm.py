"""Random-intercept linear mixed model (lme4 style), weeks continuous, fitted by REML (default) or ML.

Pure numpy/scipy/pandas (no Django, no ORM). Validated against R ``lme4::lmer`` on ``nlme::Orthodont`` (see
``tests/analysis/test_lmm.py`` and ``docs/statistics.md``).

Model, for participant i at post-baseline row j (only rows with an observed outcome enter):

    y_ij = b0 + b1 baseline_i + b2 arm_i + b3 week_ij + b4 arm_i week_ij + covariates_i' g + u_i + e_ij
    u_i ~ N(0, sigma_u^2),  e_ij ~ N(0, sigma_e^2)

so V_i = sigma_e^2 (I + gamma J) with gamma = sigma_u^2 / sigma_e^2 >= 0. The treatment effect reported is the
adjusted intervention-minus-control difference at the last follow-up week implied by the model,
``b2 + b4 * last_week``, and ``b4`` (difference in slopes per week).

Why a dedicated fit and not statsmodels ``MixedLM``: the model has only two variance parameters, and
sigma_e^2 profiles out in closed form, so the (RE)ML objective is a function of the single ratio gamma on
[0, inf). V_i^-1 = (I - gamma / (1 + n_i gamma) J) / sigma_e^2 is explicit, so every evaluation is exact and cheap
(per-participant column sums only), the derivative in gamma is analytic, and a one-dimensional problem can
be searched globally (a grid over gamma followed by a bounded Brent search and Newton polish). This makes
the convergence check honest: at an interior optimum the derivative with respect to log(gamma) must vanish and
the curvature be positive; when the derivative at gamma = 0 is non-negative the optimum is on the boundary
(sigma_u^2 = 0, lme4's "singular fit"), which is reported as ``boundary=True`` with a message rather than
hidden (MixedLM can report converged=True at a wrong optimum, statsmodels issue 10239).

Inference: the fixed-effect covariance is (X' V^-1 X)^-1 at the estimated variances (as ``vcov()`` in lme4);
p-values and confidence intervals use the normal distribution (Wald z), as lme4 prints t values without
degrees of freedom. With small samples this is anti-conservative; the MMRM (Satterthwaite df) is the
primary analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import optimize, stats  # type: ignore[import-untyped]

from analysis.stats.design import add_covariates, full_rank_design, require_numeric

__all__ = ["LMMResult", "fit_lmm"]

FloatArray = NDArray[np.float64]

#: Convergence: |d f / d log(gamma)| at an interior optimum must be below this (f = -2 logLik, so this is the
#: change in -2 logLik per unit change of log gamma).
GRADIENT_TOL = 1e-6
#: The search grid and the largest ratio sigma_u^2 / sigma_e^2 considered.
GAMMA_MAX = 1e8


@dataclass(frozen=True)
class LMMResult:
    """Result of :func:`fit_lmm`. ``estimate`` is the intervention-minus-control difference at ``last_week``."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    slope_difference: float  # arm x week coefficient: difference in change per week
    slope_difference_se: float
    method: str  # "REML" or "ML"
    var_subject: float  # random-intercept variance sigma_u^2
    var_residual: float  # residual variance sigma_e^2
    converged: bool
    boundary: bool  # sigma_u^2 estimated at 0 (singular fit)
    loglik: float  # (RE)ML log-likelihood, same constant as lme4's logLik()
    fixed_effects: pd.DataFrame  # index: term; columns: estimate, se, z, p
    fixed_effects_cov: pd.DataFrame  # (X' V^-1 X)^-1
    last_week: float
    n_subjects: int
    n_observations: int
    gradient: float  # d(-2 logLik) / d log(gamma) at the optimum (d / d gamma at a boundary optimum)
    control: Any = None
    intervention: Any = None
    p_method: str = "normal (Wald z)"
    messages: list[str] = field(default_factory=list)


def _design(
    data: pd.DataFrame,
    outcome: str,
    subject: str,
    week: str,
    arm: str,
    control: Any,
    baseline: str,
    covariates: Sequence[str],
) -> tuple[pd.DataFrame, Any, list[str], FloatArray, FloatArray, NDArray[np.intp]]:
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    needed = [outcome, subject, week, arm, baseline, *covariates]
    for name in needed:
        if name not in data.columns:
            raise ValueError(f"column {name!r} is missing from the data")
    if len(set(needed)) != len(needed):
        raise ValueError(f"the same column is used twice among {needed}")
    df = data[needed].copy()
    for name in (outcome, week, baseline):
        require_numeric(df[name], name)
    for name in (subject, week, arm, baseline, *covariates):
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values (NaN); impute or drop those participants")
    for name in (outcome, week, baseline):
        if np.isinf(df[name].to_numpy(dtype=float, na_value=np.nan)).any():
            raise ValueError(f"column {name!r} has infinite values")
    if df.duplicated([subject, week]).any():
        raise ValueError(f"more than one row per {subject!r} x {week!r}")
    for name in (arm, baseline, *covariates):
        if (df.groupby(subject)[name].nunique(dropna=False) > 1).any():
            raise ValueError(f"column {name!r} varies within a participant ({subject!r}); it must be constant")
    arms = sorted(df[arm].unique().tolist(), key=str)
    if control not in arms:
        raise ValueError(f"control arm {control!r} not found in column {arm!r} (arms: {arms})")
    if len(arms) != 2:
        raise ValueError(f"column {arm!r} must have exactly 2 arms, control and intervention (found {arms})")
    intervention = next(a for a in arms if a != control)

    obs = df[df[outcome].notna()].reset_index(drop=True)
    for a in arms:
        if not (obs[arm] == a).any():
            raise ValueError(f"arm {a!r} of column {arm!r} has no observed {outcome!r}")
    if obs[week].nunique() < 2:
        raise ValueError(f"column {week!r} needs at least 2 distinct weeks with an observed {outcome!r}")

    arm_col = (obs[arm] == intervention).to_numpy(dtype=float)
    week_col = obs[week].to_numpy(dtype=float)
    cols: dict[str, FloatArray] = {
        "(Intercept)": np.ones(len(obs)),
        baseline: obs[baseline].to_numpy(dtype=float),
        f"{arm}[{intervention}]": arm_col,
        week: week_col,
        f"{arm}[{intervention}]:{week}": arm_col * week_col,
    }
    add_covariates(cols, obs, covariates, levels_from=df)
    terms, x = full_rank_design(cols, what="fixed-effect design")
    y = obs[outcome].to_numpy(dtype=float)
    groups, _ = pd.factorize(obs[subject])
    return obs, intervention, terms, x, y, np.asarray(groups, dtype=np.intp)


@dataclass
class _Eval:
    value: float  # -2 logLik without the 2 pi constant, sigma_e^2 profiled out
    grad: float  # d value / d gamma
    beta: FloatArray
    a_inv: FloatArray  # (X' W X)^-1 with W = (I + gamma J)^-1, i.e. V = sigma_e^2 W^-1
    quad: float  # r' W r


class _Profile:
    """-2 (RE)ML logLik as a function of gamma = sigma_u^2 / sigma_e^2, sigma_e^2 profiled out."""

    def __init__(self, x: FloatArray, y: FloatArray, groups: NDArray[np.intp], reml: bool) -> None:
        n_groups = int(groups.max()) + 1
        self.reml = reml
        self.n_obs, self.p = x.shape
        self.n_i = np.bincount(groups, minlength=n_groups).astype(float)
        self.s_x = np.zeros((n_groups, self.p))  # per-participant column sums of X
        np.add.at(self.s_x, groups, x)
        self.s_y = np.bincount(groups, weights=y, minlength=n_groups)
        self.xtx = x.T @ x
        self.xty = x.T @ y
        self.yty = float(y @ y)

    def evaluate(self, gamma: float) -> _Eval:
        denom = 1.0 + self.n_i * gamma
        c = gamma / denom  # W_i = I - c_i J
        a = self.xtx - (self.s_x * c[:, None]).T @ self.s_x
        a = (a + a.T) / 2
        b = self.xty - self.s_x.T @ (c * self.s_y)
        chol_a = np.linalg.cholesky(a)
        a_inv = np.linalg.inv(a)
        a_inv = (a_inv + a_inv.T) / 2
        beta = a_inv @ b
        quad = self.yty - float(np.sum(c * self.s_y**2)) - float(b @ beta)
        dof = self.n_obs - self.p if self.reml else self.n_obs
        logdet_w = float(np.sum(np.log(denom)))  # log |I + gamma J| summed over participants
        value = logdet_w + dof * math.log(quad / dof) + dof
        # Derivatives: dW_i/dgamma = -J / denom_i^2; by the envelope theorem dQ = r' dW r.
        d = 1.0 / denom**2
        r_sum = self.s_y - self.s_x @ beta
        d_quad = -float(np.sum(d * r_sum**2))
        grad = float(np.sum(self.n_i / denom)) + dof * d_quad / quad
        if self.reml:
            value += 2.0 * float(np.sum(np.log(np.diag(chol_a))))
            d_a = -(self.s_x * d[:, None]).T @ self.s_x
            grad += float(np.sum(a_inv * d_a))
        return _Eval(value=value, grad=grad, beta=beta, a_inv=a_inv, quad=quad)


def _optimise(profile: _Profile) -> tuple[float, _Eval, bool, bool, list[str]]:
    """Global 1-D search over gamma in [0, GAMMA_MAX]: returns gamma, evaluation, converged, boundary, messages."""
    messages: list[str] = []
    at_zero = profile.evaluate(0.0)
    if at_zero.grad >= 0:
        # The objective increases from gamma = 0: check no interior point beats it (the profile need not be convex).
        grid = np.logspace(-8, math.log10(GAMMA_MAX), 81)
        values = [profile.evaluate(float(g)).value for g in grid]
        if min(values) >= at_zero.value - 1e-10:
            messages.append(
                "random-intercept variance estimated at the boundary (0): the fit equals a fixed-effects model"
            )
            return 0.0, at_zero, True, True, messages
    log_grid = np.linspace(-8.0, math.log10(GAMMA_MAX), 81)
    grid_values = np.array([profile.evaluate(10.0**lg).value for lg in log_grid])
    k = int(np.argmin(grid_values))
    if k == len(log_grid) - 1:
        messages.append("the random-intercept to residual variance ratio diverges (residual variance -> 0)")
        ev = profile.evaluate(10.0 ** log_grid[k])
        return float(10.0 ** log_grid[k]), ev, False, False, messages
    lo = log_grid[max(k - 1, 0)]
    hi = log_grid[min(k + 1, len(log_grid) - 1)]
    res = optimize.minimize_scalar(
        lambda lg: profile.evaluate(10.0**lg).value, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
    )
    log_gamma = float(res.x) * math.log(10.0)
    # Newton polish on log(gamma) with the analytic first derivative and a finite-difference second derivative.
    h = 1e-5

    def dlog(lg: float) -> float:
        g = math.exp(lg)
        return profile.evaluate(g).grad * g

    for _ in range(20):
        g1 = dlog(log_gamma)
        g2 = (dlog(log_gamma + h) - dlog(log_gamma - h)) / (2 * h)
        if abs(g1) < 1e-12 or g2 <= 0:
            break
        log_gamma -= g1 / g2
    gamma = math.exp(log_gamma)
    ev = profile.evaluate(gamma)
    grad_log = ev.grad * gamma
    curvature = (dlog(log_gamma + h) - dlog(log_gamma - h)) / (2 * h)
    converged = bool(np.isfinite(ev.value) and abs(grad_log) < GRADIENT_TOL and curvature > 0)
    if gamma < 1e-6:
        messages.append(f"random-intercept variance is near the boundary (ratio to residual variance {gamma:.3g})")
    if not abs(grad_log) < GRADIENT_TOL:
        messages.append(f"gradient not small at the optimum (d(-2 logLik)/d log gamma = {grad_log:.3g})")
    if not curvature > 0:
        messages.append(f"the objective is not convex at the optimum (curvature {curvature:.3g})")
    return gamma, ev, converged, False, messages


def fit_lmm(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    week: str,
    arm: str,
    control: Any,
    baseline: str,
    covariates: Sequence[str] = (),
    method: str = "REML",
    alpha: float = 0.05,
) -> LMMResult:
    """Fit ``outcome ~ baseline + arm + week + arm:week + covariates + (1 | subject)`` by REML or ML.

    ``data`` has one row per participant x post-baseline week (rows with a missing outcome are ignored);
    ``week`` is numeric and enters as a continuous term. ``arm`` must have exactly two levels, one of them
    ``control``. Numeric covariates enter as continuous terms, others (strings, categoricals, booleans) as
    factors (first sorted level = reference). Raises ``ValueError`` naming the problem for bad input; a fit
    whose optimum cannot be verified is returned with ``converged=False`` and ``messages``, a random-intercept
    variance at 0 with ``boundary=True``."""
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML' (got {method!r})")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    obs, intervention, terms, x, y, groups = _design(data, outcome, subject, week, arm, control, baseline, covariates)
    n_obs, p = x.shape
    n_subj = int(groups.max()) + 1
    if n_obs <= p:
        raise ValueError(f"too few observations ({n_obs}) for {p} fixed effects")

    # Work on the OLS residuals / scale: the fit is invariant to y -> (y - X b) / s up to beta -> (beta - b) / s.
    beta_ols, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta_ols
    scale = float(np.sqrt(np.sum(resid**2) / (n_obs - p)))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"column {outcome!r} is fitted exactly by the fixed effects (zero residual variance)")
    profile = _Profile(x, resid / scale, groups, reml=method == "REML")
    gamma, ev, converged, boundary, messages = _optimise(profile)

    dof = n_obs - p if method == "REML" else n_obs
    var_residual_scaled = ev.quad / dof
    beta = beta_ols + ev.beta * scale
    cov_beta = ev.a_inv * var_residual_scaled * scale**2
    var_residual = var_residual_scaled * scale**2
    loglik = -0.5 * (ev.value + dof * math.log(2 * math.pi)) - dof * math.log(scale)

    index = {t: i for i, t in enumerate(terms)}
    last_week = float(obs[week].max())
    c = np.zeros(p)
    c[index[f"{arm}[{intervention}]"]] = 1.0
    c[index[f"{arm}[{intervention}]:{week}"]] = last_week
    est = float(c @ beta)
    se = math.sqrt(float(c @ cov_beta @ c))
    q = float(stats.norm.ppf(1 - alpha / 2))
    slope_i = index[f"{arm}[{intervention}]:{week}"]
    ses = np.sqrt(np.diag(cov_beta))
    z = beta / ses
    fixed = pd.DataFrame(
        {"estimate": beta, "se": ses, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
        index=pd.Index(terms, name="term"),
    )
    return LMMResult(
        estimate=est,
        se=se,
        ci_low=est - q * se,
        ci_high=est + q * se,
        p=float(2 * stats.norm.sf(abs(est / se))),
        slope_difference=float(beta[slope_i]),
        slope_difference_se=float(ses[slope_i]),
        method=method,
        var_subject=float(gamma * var_residual),
        var_residual=float(var_residual),
        converged=converged,
        boundary=boundary,
        loglik=float(loglik),
        fixed_effects=fixed,
        fixed_effects_cov=pd.DataFrame(cov_beta, index=terms, columns=terms),
        last_week=last_week,
        n_subjects=n_subj,
        n_observations=n_obs,
        gradient=float(ev.grad if boundary else ev.grad * gamma),
        control=control,
        intervention=intervention,
        messages=messages,
    )
