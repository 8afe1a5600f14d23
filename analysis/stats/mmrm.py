"""Mixed model for repeated measures (MMRM) fitted by REML, with an unstructured visit covariance.

Pure numpy/scipy/pandas (no Django, no ORM). Validated against R ``nlme::gls(corSymm + varIdent, REML)``
on ``nlme::Orthodont`` (see ``tests/analysis/test_mmrm.py`` and ``docs/statistics.md``).

Model, for participant i at post-baseline visit t (only observed visits enter; missing at random):

    y_it = x_it' beta + e_it,    e_i ~ N(0, Sigma[O_i, O_i])

with fixed effects intercept, baseline, arm (control = reference), visit (categorical, first visit =
reference), arm x visit and optional covariates, and Sigma an arbitrary positive-definite T x T matrix
parameterised by its Cholesky factor L (log of the diagonal), so the optimisation is unconstrained.

Participants are grouped by missingness pattern O. For each pattern the sufficient statistics
sum_i X_i[t]X_i[s]', sum_i X_i[t] y_i[s] and sum_i y_i[t] y_i[s] are accumulated once, so each evaluation of
the REML objective and its analytic gradient costs one Cholesky per pattern and O(T^2 p^2) work, whatever
the number of participants.

Degrees of freedom: Satterthwaite (as in SAS ``ddfm=satterthwaite`` and the R ``mmrm`` package), from the
Hessian of the REML objective with respect to the covariance parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import optimize, stats  # type: ignore[import-untyped]

from analysis.stats.design import add_covariates, full_rank_design, require_numeric

__all__ = ["MMRMConvergenceError", "MMRMResult", "VisitEffect", "fit_mmrm"]

FloatArray = NDArray[np.float64]

#: Convergence: Newton decrement g' H^-1 g of the objective -2 logLik (an estimate of twice the remaining
#: gap in -2 logLik) must be below this, and the Hessian must be positive definite.
NEWTON_DECREMENT_TOL = 1e-8
HESSIAN_REL_EIG_TOL = 1e-10


class MMRMConvergenceError(RuntimeError):
    """The REML optimisation did not reach a verified optimum."""


@dataclass(frozen=True)
class VisitEffect:
    """Adjusted treatment difference (``arm`` minus control) at one visit."""

    visit: Any
    arm: Any
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    df: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MMRMResult:
    """Result of :func:`fit_mmrm`. ``visits`` holds one :class:`VisitEffect` per (non-control arm, visit)."""

    visits: list[VisitEffect]
    fixed_effects: pd.DataFrame  # index: term; columns: estimate, se
    fixed_effects_cov: pd.DataFrame  # (X' V^-1 X)^-1, model-based
    covariance: pd.DataFrame  # estimated visit x visit covariance matrix
    loglik: float  # REML log-likelihood (same constant as R nlme)
    converged: bool
    n_subjects: int
    n_observations: int
    n_patterns: int
    gradient_max: float
    newton_decrement: float
    hessian_min_eigenvalue: float
    method: str = "REML"
    df_method: str = "Satterthwaite"
    control: Any = None
    arms: list[Any] = field(default_factory=list)
    visit_levels: list[Any] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Covariance parameterisation: theta = lower triangle of L row by row, log on the diagonal; Sigma = L L'.


def _theta_to_chol(theta: FloatArray, n_visits: int) -> FloatArray:
    chol = np.zeros((n_visits, n_visits))
    rows, cols = np.tril_indices(n_visits)
    chol[rows, cols] = theta
    diag = np.arange(n_visits)
    chol[diag, diag] = np.exp(chol[diag, diag])
    return chol


def _sigma_to_theta(sigma: FloatArray) -> FloatArray:
    chol = np.linalg.cholesky(sigma)
    diag = np.arange(sigma.shape[0])
    chol[diag, diag] = np.log(chol[diag, diag])
    rows, cols = np.tril_indices(sigma.shape[0])
    return np.asarray(chol[rows, cols], dtype=np.float64)


@dataclass(frozen=True)
class _Pattern:
    index: NDArray[np.intp]  # observed visit indices
    n: int  # participants with this pattern
    sxx: FloatArray  # (t, t, p, p): sum_i X_i[t, :] outer X_i[s, :]
    sxy: FloatArray  # (t, t, p): sum_i X_i[t, :] y_i[s]
    syy: FloatArray  # (t, t): sum_i y_i[t] y_i[s]


@dataclass
class _Eval:
    value: float  # -2 REML logLik without the (N - p) log(2 pi) constant
    beta: FloatArray
    a_inv: FloatArray
    grad_sigma: FloatArray | None = None


class _REML:
    """The REML objective f(theta) = -2 logLik_R (up to a constant) on pattern sufficient statistics."""

    def __init__(self, patterns: list[_Pattern], n_visits: int, n_params: int) -> None:
        self.patterns = patterns
        self.n_visits = n_visits
        self.p = n_params

    def evaluate(self, sigma: FloatArray, *, gradient: bool = False) -> _Eval:
        p = self.p
        a = np.zeros((p, p))
        b = np.zeros(p)
        c = 0.0
        logdet_v = 0.0
        inverses = []
        for pat in self.patterns:
            v = sigma[np.ix_(pat.index, pat.index)]
            chol_v = np.linalg.cholesky(v)
            w = np.linalg.inv(v)
            w = (w + w.T) / 2
            inverses.append(w)
            logdet_v += pat.n * 2.0 * float(np.sum(np.log(np.diag(chol_v))))
            a += np.einsum("ts,tspq->pq", w, pat.sxx)
            b += np.einsum("ts,tsp->p", w, pat.sxy)
            c += float(np.sum(w * pat.syy))
        a = (a + a.T) / 2
        chol_a = np.linalg.cholesky(a)
        a_inv = np.linalg.inv(a)
        a_inv = (a_inv + a_inv.T) / 2
        beta = a_inv @ b
        quad = c - float(b @ beta)
        value = logdet_v + 2.0 * float(np.sum(np.log(np.diag(chol_a)))) + quad
        result = _Eval(value=value, beta=beta, a_inv=a_inv)
        if gradient:
            grad = np.zeros((self.n_visits, self.n_visits))
            for pat, w in zip(self.patterns, inverses, strict=True):
                m = np.einsum("tspq,pq->ts", pat.sxx, a_inv)
                xb = np.einsum("tsp,p->ts", pat.sxy, beta)
                r = pat.syy - xb - xb.T + np.einsum("tspq,p,q->ts", pat.sxx, beta, beta)
                g = pat.n * w - w @ (m + r) @ w
                grad[np.ix_(pat.index, pat.index)] += g
            result.grad_sigma = (grad + grad.T) / 2
        return result

    def objective(self, theta: FloatArray) -> tuple[float, FloatArray]:
        chol = _theta_to_chol(theta, self.n_visits)
        try:
            ev = self.evaluate(chol @ chol.T, gradient=True)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros_like(theta)
        assert ev.grad_sigma is not None
        d_chol = 2.0 * ev.grad_sigma @ chol
        diag = np.arange(self.n_visits)
        d_chol[diag, diag] *= chol[diag, diag]
        rows, cols = np.tril_indices(self.n_visits)
        return ev.value, np.asarray(d_chol[rows, cols], dtype=np.float64)

    def hessian(self, theta: FloatArray, step: float = 1e-5) -> FloatArray:
        k = theta.size
        hess = np.zeros((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = step
            hess[:, j] = (self.objective(theta + e)[1] - self.objective(theta - e)[1]) / (2 * step)
        return (hess + hess.T) / 2


# --------------------------------------------------------------------------------------------------------------
# Input checking and design matrix.


def _prepare(
    data: pd.DataFrame,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str | None,
    covariates: Sequence[str],
) -> tuple[pd.DataFrame, list[Any], list[Any], list[str], FloatArray, FloatArray, list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    needed = [outcome, subject, visit, arm, *([baseline] if baseline else []), *covariates]
    for name in needed:
        if name not in data.columns:
            raise ValueError(f"column {name!r} is missing from the data")
    if len(set(needed)) != len(needed):
        raise ValueError(f"the same column is used twice among {needed}")
    df = data[needed].copy()
    require_numeric(df[outcome], outcome)
    for name in (subject, visit, arm):
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values")
    if baseline:
        require_numeric(df[baseline], baseline)
    for name in [*([baseline] if baseline else []), *covariates]:
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values (NaN); impute or drop those participants")
    if np.isinf(df[outcome].to_numpy(dtype=float, na_value=np.nan)).any():
        raise ValueError(f"column {outcome!r} has infinite values")
    if df.duplicated([subject, visit]).any():
        raise ValueError(f"more than one row per {subject!r} x {visit!r}")
    for name in [arm, *([baseline] if baseline else []), *covariates]:
        if (df.groupby(subject)[name].nunique(dropna=False) > 1).any():
            raise ValueError(f"column {name!r} varies within a participant ({subject!r}); it must be constant")

    arms = sorted(df[arm].unique().tolist(), key=str)
    if control not in arms:
        raise ValueError(f"control arm {control!r} not found in column {arm!r} (arms: {arms})")
    if len(arms) < 2:
        raise ValueError(f"column {arm!r} needs at least 2 arms (found {arms})")
    arms = [control] + [a for a in arms if a != control]
    if isinstance(df[visit].dtype, pd.CategoricalDtype) and df[visit].cat.ordered:
        visits = [v for v in df[visit].cat.categories if v in set(df[visit])]
    else:
        visits = sorted(df[visit].unique().tolist())
    if len(visits) < 1:
        raise ValueError("no visits in the data")

    observed = df[df[outcome].notna()]
    for v in visits:
        if not (observed[visit] == v).any():
            raise ValueError(f"visit {v!r} has no observed {outcome!r}")
        for a in arms:
            if not ((observed[visit] == v) & (observed[arm] == a)).any():
                raise ValueError(f"visit {v!r} has no observed {outcome!r} in arm {a!r} of column {arm!r}")

    # Fixed-effect design.
    obs = observed.reset_index(drop=True)
    cols: dict[str, FloatArray] = {"(Intercept)": np.ones(len(obs))}
    if baseline:
        cols[baseline] = obs[baseline].to_numpy(dtype=float)
    arm_cols = {a: (obs[arm] == a).to_numpy(dtype=float) for a in arms[1:]}
    visit_cols = {v: (obs[visit] == v).to_numpy(dtype=float) for v in visits[1:]}
    for a, col in arm_cols.items():
        cols[f"{arm}[{a}]"] = col
    for v, col in visit_cols.items():
        cols[f"{visit}[{v}]"] = col
    for a, acol in arm_cols.items():
        for v, vcol in visit_cols.items():
            cols[f"{arm}[{a}]:{visit}[{v}]"] = acol * vcol
    add_covariates(cols, obs, covariates, levels_from=df)
    terms, x = full_rank_design(cols, what="fixed-effect design")
    y = obs[outcome].to_numpy(dtype=float)
    return obs, arms, visits, terms, x, y, [subject, visit]


def _patterns(
    obs: pd.DataFrame, subject: str, visit: str, visits: list[Any], x: FloatArray, y: FloatArray
) -> tuple[list[_Pattern], int]:
    visit_idx = obs[visit].map({v: i for i, v in enumerate(visits)}).to_numpy(dtype=np.intp)
    subj_codes, _ = pd.factorize(obs[subject])
    order = np.lexsort((visit_idx, subj_codes))
    visit_idx, subj_codes, x, y = visit_idx[order], subj_codes[order], x[order], y[order]
    n_subj = int(subj_codes.max()) + 1
    bits = np.zeros(n_subj, dtype=np.int64)
    np.add.at(bits, subj_codes, np.left_shift(np.int64(1), visit_idx.astype(np.int64)))
    row_pattern = bits[subj_codes]
    patterns = []
    for code in np.unique(bits):
        index = np.array([i for i in range(len(visits)) if (int(code) >> i) & 1], dtype=np.intp)
        rows = row_pattern == code
        t = index.size
        xk = x[rows].reshape(-1, t, x.shape[1])
        yk = y[rows].reshape(-1, t)
        patterns.append(
            _Pattern(
                index=index,
                n=xk.shape[0],
                sxx=np.einsum("itp,isq->tspq", xk, xk),
                sxy=np.einsum("itp,is->tsp", xk, yk),
                syy=np.einsum("it,is->ts", yk, yk),
            )
        )
    return patterns, n_subj


def _start_values(obs: pd.DataFrame, subject: str, visit: str, visits: list[Any], resid: FloatArray) -> FloatArray:
    wide = pd.DataFrame({"s": obs[subject].to_numpy(), "v": obs[visit].to_numpy(), "r": resid}).pivot(
        index="s", columns="v", values="r"
    )
    wide = wide.reindex(columns=visits)
    cov = wide.cov(min_periods=2).to_numpy(dtype=float)
    var = wide.var().to_numpy(dtype=float)
    fallback = float(np.nanvar(resid)) or 1.0
    var = np.where(np.isfinite(var) & (var > 0), var, fallback)
    cov = np.where(np.isfinite(cov), cov, 0.0)
    np.fill_diagonal(cov, var)
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, 0.05 * float(var.min()))
    return np.asarray(vecs @ np.diag(vals) @ vecs.T, dtype=np.float64)


# --------------------------------------------------------------------------------------------------------------


def fit_mmrm(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str | None,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    raise_on_failure: bool = True,
) -> MMRMResult:
    """Fit an MMRM by REML. ``data`` has one row per participant x post-baseline visit (rows with a missing
    outcome are allowed and ignored; participants contribute the visits they have). Numeric covariates
    enter as continuous terms, others (strings, categoricals, booleans) as factors (first sorted level =
    reference). Raises ``ValueError`` naming the problem for bad input and :class:`MMRMConvergenceError`
    when the optimum cannot be verified (or returns ``converged=False`` with ``raise_on_failure=False``)."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    obs, arms, visits, terms, x, y, _ = _prepare(data, outcome, subject, visit, arm, control, baseline, covariates)
    n_obs, p = x.shape
    if n_obs <= p:
        raise ValueError(f"too few observations ({n_obs}) for {p} fixed effects")
    n_visits = len(visits)

    # Work on the OLS residuals / scale: REML is invariant to y -> (y - X b) / s up to beta -> (beta - b) / s and
    # a constant in logLik, and this avoids cancellation in y'V^-1y - b'A^-1b and makes tolerances unit-free.
    beta_ols, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta_ols
    scale = float(np.sqrt(np.sum(resid**2) / (n_obs - p)))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"column {outcome!r} is fitted exactly by the fixed effects (zero residual variance)")
    patterns, n_subj = _patterns(obs, subject, visit, visits, x, resid / scale)
    reml = _REML(patterns, n_visits, p)

    sigma0 = _start_values(obs, subject, visit, visits, resid / scale)
    starts = [
        _sigma_to_theta(sigma0),
        _sigma_to_theta(np.diag(np.diag(sigma0))),
        _sigma_to_theta(0.5 * np.eye(n_visits) * np.diag(sigma0).mean() + 0.5 * np.diag(sigma0).mean()),
    ]
    best: Any = None
    messages: list[str] = []
    for theta0 in starts:
        res = optimize.minimize(
            reml.objective, theta0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000}
        )
        if best is None or res.fun < best.fun:
            best = res
    theta = np.asarray(best.x, dtype=np.float64)
    value, grad = reml.objective(theta)

    # Newton polish with the finite-difference Hessian of the analytic gradient.
    hess = reml.hessian(theta)
    for _ in range(20):
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if float(grad @ step) < 1e-14:
            break
        t = 1.0
        improved = False
        while t > 1e-4:
            new_value, new_grad = reml.objective(theta - t * step)
            if new_value <= value + 1e-12:
                theta, value, grad, improved = theta - t * step, new_value, new_grad, True
                break
            t /= 2
        if not improved:
            break
        hess = reml.hessian(theta)

    eig = np.linalg.eigvalsh(hess)
    hess_pd = bool(eig.min() > HESSIAN_REL_EIG_TOL * max(1.0, float(abs(eig).max())))
    try:
        decrement = float(grad @ np.linalg.solve(hess, grad))
    except np.linalg.LinAlgError:
        decrement = math.inf
    converged = bool(hess_pd and np.isfinite(value) and 0 <= decrement < NEWTON_DECREMENT_TOL)
    if not hess_pd:
        messages.append(f"Hessian of the REML objective is not positive definite (min eigenvalue {eig.min():.3g})")
    if not decrement < NEWTON_DECREMENT_TOL:
        messages.append(f"gradient not small at the optimum (Newton decrement {decrement:.3g})")
    if not converged and raise_on_failure:
        raise MMRMConvergenceError("; ".join(messages) or "REML optimisation failed")

    chol = _theta_to_chol(theta, n_visits)
    sigma_scaled = chol @ chol.T
    ev = reml.evaluate(sigma_scaled)
    beta = beta_ols + ev.beta * scale
    cov_beta = ev.a_inv * scale**2
    sigma = sigma_scaled * scale**2
    loglik = -0.5 * (value + (n_obs - p) * math.log(2 * math.pi)) - (n_obs - p) * math.log(scale)

    # Satterthwaite df for each contrast c: df = v^2 / (dv' H^-1 dv), v = c' A(theta)^-1 c, H = Hessian of -2 logLik.
    try:
        hess_inv = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        hess_inv = np.full_like(hess, np.nan)

    def contrast_var(th: FloatArray, c: FloatArray) -> float:
        ch = _theta_to_chol(th, n_visits)
        return float(c @ reml.evaluate(ch @ ch.T).a_inv @ c)

    index = {t: i for i, t in enumerate(terms)}
    effects: list[VisitEffect] = []
    for a in arms[1:]:
        for j, v in enumerate(visits):
            c = np.zeros(p)
            c[index[f"{arm}[{a}]"]] = 1.0
            if j > 0:
                c[index[f"{arm}[{a}]:{visit}[{v}]"]] = 1.0
            var_scaled = contrast_var(theta, c)
            dv = np.zeros(theta.size)
            h = 1e-5
            for k in range(theta.size):
                e = np.zeros(theta.size)
                e[k] = h
                dv[k] = (contrast_var(theta + e, c) - contrast_var(theta - e, c)) / (2 * h)
            denom = float(dv @ hess_inv @ dv)
            df = var_scaled**2 / denom if denom > 0 else float(n_obs - p)
            est = float(c @ beta)
            se = math.sqrt(var_scaled) * scale
            q = float(stats.t.ppf(1 - alpha / 2, df))
            pval = float(2 * stats.t.sf(abs(est / se), df))
            effects.append(VisitEffect(v, a, est, se, est - q * se, est + q * se, pval, float(df)))

    fixed = pd.DataFrame({"estimate": beta, "se": np.sqrt(np.diag(cov_beta))}, index=pd.Index(terms, name="term"))
    return MMRMResult(
        visits=effects,
        fixed_effects=fixed,
        fixed_effects_cov=pd.DataFrame(cov_beta, index=terms, columns=terms),
        covariance=pd.DataFrame(sigma, index=visits, columns=visits),
        loglik=float(loglik),
        converged=converged,
        n_subjects=n_subj,
        n_observations=n_obs,
        n_patterns=len(patterns),
        gradient_max=float(np.abs(grad).max()),
        newton_decrement=decrement,
        hessian_min_eigenvalue=float(eig.min()),
        control=control,
        arms=arms,
        visit_levels=visits,
        messages=messages,
    )
