"""Cumulative-link mixed model (CLMM) for an ordinal outcome, as R ``ordinal::clmm`` fits it.

Pure numpy/scipy/pandas (no Django, no ORM). Validated against R ``ordinal::clmm`` (ordinal 2022.11.16) on a
simulated trial and on ordinal's public ``wine`` data (see ``tests/analysis/test_clmm.py`` and
``docs/statistics.md``).

Model, for participant i at post-baseline visit t with outcome category Y_it in 1..K (the K distinct observed
values of the outcome, in order: as ``factor(y)`` in R, so unobserved scores are no categories):

    P(Y_it <= j | b_i) = logit^-1(theta_j - x_it' beta - b_i),   j = 1..K-1,   b_i ~ N(0, sd^2)

with flexible (unstructured, increasing) thresholds theta_j, no intercept in x (the thresholds are the
intercepts), and fixed effects baseline, covariates (factors as treatment-coded dummies), arm (control =
reference), visit (categorical, first visit = reference) and arm x visit. A positive beta shifts the
distribution towards higher categories. The treatment effect at a visit is arm + arm x visit: the log
cumulative odds ratio of a higher score, intervention vs control.

Likelihood: with u_i = b_i / sd ~ N(0, 1) and h_i(u) = -sum_t log P(Y_it | u) + u^2 / 2,

    -log L = sum_i -log( integral exp(-h_i(u)) du / sqrt(2 pi) )

approximated, as clmm does, either by the Laplace approximation (``method="laplace"``, clmm's nAGQ = 1):
h_i(u_i) + log(D_i) / 2 with u_i the mode of h_i and D_i = h_i''(u_i); or by adaptive Gauss-Hermite
quadrature with N nodes centred at u_i and scaled by sqrt(2 / D_i) (``method="agq<N>"``, clmm's nAGQ = N).
The parameters are (theta, beta, log sd), as in clmm.

Computation: the modes u_i of all participants are found together by a vectorised Newton iteration (h_i is
strictly convex: h_i'' >= 1), warm-started from the previous evaluation. The gradient of the approximate
objective is analytic: with the implicit-function derivative of the modes, it needs the derivatives of
log P up to third order, all explicit for the logistic distribution. The optimiser is BFGS on an
unconstrained parameterisation (first threshold, logs of the threshold increments), then Newton steps on the
natural parameters with the Hessian by central differences of the analytic gradient. That Hessian is also
the inverse covariance of the estimates (clmm's ``vcov``: the numeric Hessian of the same objective in
(theta, beta, log sd)). Convergence is declared only if the Newton decrement is tiny and the Hessian is
positive definite; otherwise ``converged=False`` with the reason (or :class:`CLMMConvergenceError`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import optimize, sparse, special, stats  # type: ignore[import-untyped]

from analysis.stats.design import add_covariates, full_rank_design, repeated_measures, require_numeric

__all__ = [
    "MAX_LEVELS",
    "CLMMConvergenceError",
    "CLMMResult",
    "CLMMVisitEffect",
    "check_ordinal_outcome",
    "fit_clmm",
    "fit_clmm_arrays",
    "parse_method",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: "Few levels": an outcome with more distinct observed values than this is not fitted as ordinal (each level
#: but the first costs a threshold parameter). An instrument total (PHQ-9 0..27, GAD-7 0..21) has at most 28.
MAX_LEVELS = 50
#: Convergence: Newton decrement g' H^-1 g of the objective -logLik must be below this, Hessian positive definite.
NEWTON_DECREMENT_TOL = 1e-10
HESSIAN_REL_EIG_TOL = 1e-10
#: The random-effect modes are iterated until max |h_i'(u_i)| is below this.
INNER_TOL = 1e-11
#: Random-effect SD below which the fit is on the boundary (no between-participant variation left).
SD_BOUNDARY = 1e-4


class CLMMConvergenceError(RuntimeError):
    """The optimisation did not reach a verified optimum."""


@dataclass(frozen=True)
class CLMMVisitEffect:
    """Log cumulative odds ratio of a higher score (``arm`` vs control) at one visit; ``ci_low``/``ci_high``
    are the Wald confidence limits of the odds ratio (``exp`` of those of the estimate)."""

    visit: Any
    arm: Any
    estimate: float
    se: float
    odds_ratio: float
    ci_low: float
    ci_high: float
    z: float
    p: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CLMMResult:
    """Result of :func:`fit_clmm` (``visits`` empty) or :func:`fit_clmm_arrays`."""

    method: str  # "laplace" or "agq<N>"
    thresholds: pd.DataFrame  # index "a|b" (R's names); columns estimate, se
    fixed_effects: pd.DataFrame  # index: term; columns estimate, se, z, p
    random_effect_sd: float
    log_sd_se: float
    vcov: pd.DataFrame  # thresholds, betas, "log(sd)": inverse Hessian of -logLik
    loglik: float
    converged: bool
    levels: list[Any]  # the observed outcome values = the ordered categories
    n_subjects: int
    n_observations: int
    gradient_max: float
    newton_decrement: float
    hessian_min_eigenvalue: float
    link: str = "logit"
    visits: list[CLMMVisitEffect] = field(default_factory=list)
    control: Any = None
    arms: list[Any] = field(default_factory=list)
    visit_levels: list[Any] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def n_thresholds(self) -> int:
        return len(self.levels) - 1


def parse_method(method: str) -> int:
    """Number of quadrature nodes: 1 for ``"laplace"``, N for ``"agq<N>"`` (N >= 2)."""
    if method == "laplace":
        return 1
    match = re.fullmatch(r"agq(\d+)", method)
    if not match or not 2 <= int(match.group(1)) <= 100:
        raise ValueError(f"method must be 'laplace' or 'agq<N>' with 2 <= N <= 100 (got {method!r})")
    return int(match.group(1))


def check_ordinal_outcome(values: Any, name: str = "outcome", max_levels: int = MAX_LEVELS) -> list[Any]:
    """The sorted distinct observed values of an outcome that can be analysed as ordered categories, or a
    ``ValueError`` saying why not (not numeric, not whole numbers, fewer than 2 or more than ``max_levels``
    distinct values). Missing values are ignored. Cheap: no model is fitted."""
    series = pd.Series(values)
    require_numeric(series, name)
    observed = series.dropna().to_numpy(dtype=float)
    if np.isinf(observed).any():
        raise ValueError(f"column {name!r} has infinite values")
    fractional = observed[observed != np.round(observed)]
    if fractional.size:
        raise ValueError(
            f"column {name!r} is not whole numbers (e.g. {fractional[0]:g}); the ordinal model needs ordered categories"
        )
    levels = sorted(set(observed.astype(np.int64).tolist()))
    if len(levels) < 2:
        raise ValueError(f"column {name!r} has {len(levels)} distinct observed value(s); the ordinal model needs 2")
    if len(levels) > max_levels:
        raise ValueError(
            f"column {name!r} has {len(levels)} distinct values, more than {max_levels}: too many levels for "
            "an ordinal model (it is for instrument totals)"
        )
    return levels


# --------------------------------------------------------------------------------------------------------------
# The logistic pieces. For an observation in category k, z1 = theta_k - s (upper, +inf for the last category),
# z0 = theta_{k-1} - s (lower, -inf for the first), s = x'beta + sd * u, p = F(z1) - F(z0) and l = log p.


def _log_p(z1: FloatArray, z0: FloatArray) -> FloatArray:
    # F(a) - F(b) = F(a) F(-b) (1 - exp(b - a)): no cancellation in either tail.
    with np.errstate(invalid="ignore", divide="ignore"):
        out = special.log_expit(z1) + special.log_expit(-z0) + np.log(-np.expm1(z0 - z1))
    return np.asarray(out, dtype=np.float64)


@dataclass
class _Pieces:
    log_p: FloatArray
    q1: FloatArray  # f(z1) / p
    q0: FloatArray  # f(z0) / p
    r1: FloatArray  # f'(z1) / p
    r0: FloatArray


def _pieces(z1: FloatArray, z0: FloatArray) -> _Pieces:
    log_p = _log_p(z1, z0)
    with np.errstate(over="ignore", invalid="ignore"):
        # f = F (1 - F) = exp(log F(z) + log F(-z)), divided by p in the log domain; 0 at an infinite bound.
        q1 = np.where(np.isfinite(z1), np.exp(special.log_expit(z1) + special.log_expit(-z1) - log_p), 0.0)
        q0 = np.where(np.isfinite(z0), np.exp(special.log_expit(z0) + special.log_expit(-z0) - log_p), 0.0)
    # f' = f (1 - 2F), and 1 - 2F(z) = tanh(-z / 2).
    return _Pieces(log_p=log_p, q1=q1, q0=q0, r1=q1 * np.tanh(-z1 / 2), r0=q0 * np.tanh(-z0 / 2))


class _Model:
    """The approximate marginal negative log-likelihood and its analytic gradient."""

    def __init__(self, y: IntArray, x: FloatArray, group: IntArray, n_levels: int, n_nodes: int) -> None:
        self.y = y
        self.x = x
        self.group = group
        self.n_groups = int(group.max()) + 1
        self.k = n_levels - 1  # thresholds
        self.p = x.shape[1]
        self.n_params = self.k + self.p + 1
        self.has_up = y < self.k  # has a finite upper threshold theta_y (0-based)
        self.has_lo = y > 0  # has a finite lower threshold theta_{y-1}
        self.up_idx = np.where(self.has_up, y, 0)
        self.lo_idx = np.where(self.has_lo, y - 1, 0)
        self.u = np.zeros(self.n_groups)
        n_obs = y.size
        self.sum_matrix = sparse.csr_matrix(
            (np.ones(n_obs), (group, np.arange(n_obs))), shape=(self.n_groups, n_obs)
        )  # row i sums participant i's observations
        if n_nodes == 1:
            nodes, weights = np.zeros(1), np.array([math.sqrt(math.pi)])
        else:
            nodes, weights = np.polynomial.hermite.hermgauss(n_nodes)
        self.nodes = nodes
        self.log_w = np.log(weights) + nodes**2
        self.n_evals = 0
        self.inner_failures = 0

    def _bounds(self, theta: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        upper = np.where(self.has_up, theta[self.up_idx], np.inf)
        lower = np.where(self.has_lo, theta[self.lo_idx], -np.inf)
        return upper - s, lower - s

    def _sum(self, values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(self.group, weights=values, minlength=self.n_groups), dtype=np.float64)

    def _sum_nodes(self, values: FloatArray) -> FloatArray:
        return np.asarray(self.sum_matrix @ values, dtype=np.float64)

    def _modes(self, theta: FloatArray, eta: FloatArray, sd: float) -> FloatArray:
        """Vectorised Newton for the modes of h_i, all participants at once, with step halving per participant."""
        u = self.u.copy()

        def state(u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            z1, z0 = self._bounds(theta, eta + sd * u[self.group])
            pc = _pieces(z1, z0)
            h = -self._sum(pc.log_p) + u**2 / 2
            l_s = pc.q0 - pc.q1
            l_ss = (pc.r1 - pc.r0) - (pc.q1 - pc.q0) ** 2
            grad = u - sd * self._sum(l_s)
            hess = 1.0 - sd**2 * self._sum(l_ss)
            return h, grad, hess

        h, grad, hess = state(u)
        for _ in range(100):
            if not np.all(np.isfinite(h)):
                raise FloatingPointError("non-finite likelihood")
            if float(np.abs(grad).max()) < INNER_TOL:
                break
            step = grad / hess
            t = np.ones_like(u)
            for _ in range(30):
                u_new = u - t * step
                h_new, g_new, hess_new = state(u_new)
                worse = ~(h_new <= h + 1e-12 * np.abs(h)) | ~np.isfinite(h_new)
                if not worse.any():
                    break
                t = np.where(worse, t / 2, t)
            else:
                self.inner_failures += 1
                break
            u, h, grad, hess = u_new, h_new, g_new, hess_new
        else:
            self.inner_failures += 1
        self.u = u
        return u

    def evaluate(self, par: FloatArray, *, gradient: bool = True) -> tuple[float, FloatArray]:
        self.n_evals += 1
        k, p = self.k, self.p
        theta, beta, rho = par[:k], par[k : k + p], float(par[-1])
        if np.any(np.diff(theta) <= 0) or not np.all(np.isfinite(par)) or rho > 20:
            return math.inf, np.zeros_like(par)
        sd = math.exp(rho)
        eta = self.x @ beta
        try:
            u_hat = self._modes(theta, eta, sd)
        except FloatingPointError:
            return math.inf, np.zeros_like(par)
        g = self.group

        # Third-order pieces at the modes.
        z1, z0 = self._bounds(theta, eta + sd * u_hat[g])
        pc = _pieces(z1, z0)
        q1, q0, r1, r0 = pc.q1, pc.q0, pc.r1, pc.r0
        f1, f0 = special.expit(z1), special.expit(z0)
        t1 = q1 * (1 - 6 * f1 * (1 - f1))
        t0 = q0 * (1 - 6 * f0 * (1 - f0))
        g11, g00, g10 = r1 - q1**2, -r0 - q0**2, q1 * q0
        g111 = t1 - 3 * q1 * r1 + 2 * q1**3
        g000 = -t0 - 3 * q0 * r0 - 2 * q0**3
        g110 = r1 * q0 - 2 * q1**2 * q0
        g100 = r0 * q1 + 2 * q0**2 * q1
        l_ss = g11 + 2 * g10 + g00
        l_sss = -(g111 + 3 * g110 + 3 * g100 + g000)
        l_sa, l_sc = -(g11 + g10), -(g10 + g00)
        l_ssa, l_ssc = g111 + 2 * g110 + g100, g110 + 2 * g100 + g000
        l_s = q0 - q1
        d = 1.0 - sd**2 * self._sum(l_ss)
        h3 = -(sd**3) * self._sum(l_sss)

        # The quadrature nodes (one node at the mode for Laplace).
        sigma = np.sqrt(2.0 / d)
        u_nodes = u_hat[:, None] + sigma[:, None] * self.nodes[None, :]  # (groups, nodes)
        s_nodes = eta[:, None] + sd * u_nodes[g]
        upper = np.where(self.has_up, theta[self.up_idx], np.inf)[:, None]
        lower = np.where(self.has_lo, theta[self.lo_idx], -np.inf)[:, None]
        pn = _pieces(upper - s_nodes, lower - s_nodes)
        h_nodes = -self._sum_nodes(pn.log_p) + u_nodes**2 / 2
        a = self.log_w[None, :] - h_nodes
        lse = special.logsumexp(a, axis=1)
        value_i = -lse + 0.5 * np.log(d) + 0.5 * math.log(math.pi)
        value = float(value_i.sum())
        if not math.isfinite(value):
            return math.inf, np.zeros_like(par)
        if not gradient:
            return value, np.zeros_like(par)

        pi = np.exp(a - lse[:, None])  # (groups, nodes), rows sum to 1
        ls_nodes = pn.q0 - pn.q1  # (obs, nodes)
        sum_ls_nodes = self._sum_nodes(ls_nodes)
        hprime_nodes = u_nodes - sd * sum_ls_nodes
        e_i = (pi * hprime_nodes).sum(axis=1)
        g_i = (pi * hprime_nodes * self.nodes[None, :]).sum(axis=1)
        c_i = (1.0 - g_i * sigma) / (2.0 * d)
        m_i = -(e_i + c_i * h3) / d

        pi_obs = pi[g]  # (obs, nodes)
        w_s = (pi_obs * ls_nodes).sum(axis=1)
        w_a = (pi_obs * pn.q1).sum(axis=1)  # l_A = q1
        w_c = -(pi_obs * pn.q0).sum(axis=1)  # l_C = -q0
        c_r, m_r = c_i[g], m_i[g]

        grad = np.zeros_like(par)
        # betas: d/d beta of h is -sum l_s x; of D is -sd^2 sum l_sss x; of h' is -sd sum l_ss x.
        grad[k : k + p] = self.x.T @ (-w_s - c_r * sd**2 * l_sss - m_r * sd * l_ss)
        # thresholds, through the upper and lower bounds.
        up_w = -w_a - c_r * sd**2 * l_ssa - m_r * sd * l_sa
        lo_w = -w_c - c_r * sd**2 * l_ssc - m_r * sd * l_sc
        grad[:k] = np.bincount(self.up_idx[self.has_up], weights=up_w[self.has_up], minlength=k) + np.bincount(
            self.lo_idx[self.has_lo], weights=lo_w[self.has_lo], minlength=k
        )
        # log sd: s = eta + sd u, so d s / d rho = sd u.
        sum_ls = self._sum(l_s)
        sum_lss = self._sum(l_ss)
        dh_rho_nodes = -sd * sum_ls_nodes * u_nodes  # -sum_r l_s(u_k) sd u_k
        d_d_rho = -2 * sd**2 * sum_lss - sd**3 * u_hat * self._sum(l_sss)
        dhp_rho = -sd * sum_ls - sd**2 * u_hat * sum_lss
        grad[-1] = float(((pi * dh_rho_nodes).sum(axis=1) + c_i * d_d_rho + m_i * dhp_rho).sum())
        return value, grad

    def hessian(self, par: FloatArray, step: float = 1e-5) -> FloatArray:
        n = par.size
        hess = np.zeros((n, n))
        u0 = self.u.copy()
        for j in range(n):
            e = np.zeros(n)
            e[j] = step
            self.u = u0.copy()
            plus = self.evaluate(par + e)[1]
            self.u = u0.copy()
            minus = self.evaluate(par - e)[1]
            hess[:, j] = (plus - minus) / (2 * step)
        self.u = u0
        return (hess + hess.T) / 2


# --------------------------------------------------------------------------------------------------------------
# Unconstrained parameterisation for BFGS: (theta_1, log(theta_j - theta_{j-1}) for j >= 2, beta, log sd).


def _to_free(par: FloatArray, k: int) -> FloatArray:
    theta = par[:k]
    return np.concatenate([theta[:1], np.log(np.diff(theta)), par[k:]])


def _from_free(free: FloatArray, k: int) -> FloatArray:
    theta = free[0] + np.concatenate([[0.0], np.cumsum(np.exp(free[1:k]))])
    return np.concatenate([theta, free[k:]])


def _free_grad(free: FloatArray, grad: FloatArray, k: int) -> FloatArray:
    out = grad.copy()
    # theta_j = free_0 + sum_{m<=j} exp(free_m): d/d free_0 = sum_j g_j, d/d free_m = exp(free_m) sum_{j>=m} g_j.
    tail = np.cumsum(grad[:k][::-1])[::-1]
    out[0] = tail[0]
    out[1:k] = np.exp(free[1:k]) * tail[1:k]
    return out


def _start(y: IntArray, k: int, p: int) -> FloatArray:
    counts = np.bincount(y, minlength=k + 1).astype(float)
    cum = np.cumsum(counts)[:-1] / counts.sum()
    theta = np.log(cum / (1 - cum))
    return np.concatenate([theta, np.zeros(p), [0.0]])


def fit_clmm_arrays(
    y: Any,
    x: FloatArray,
    group: Any,
    *,
    terms: Sequence[str] | None = None,
    method: str = "laplace",
    max_levels: int = MAX_LEVELS,
    raise_on_failure: bool = True,
) -> CLMMResult:
    """Fit a CLMM to an outcome ``y`` (whole numbers; its distinct values are the ordered categories), a
    fixed-effect matrix ``x`` WITHOUT an intercept column, and participant labels ``group`` (one random
    intercept each). Rows with a missing ``y`` are dropped. ``visits`` of the result is empty."""
    n_nodes = parse_method(method)
    y_series = pd.Series(np.asarray(y, dtype=float))
    levels = check_ordinal_outcome(y_series, "y", max_levels)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(y_series):
        raise ValueError("x must be a matrix with one row per outcome value")
    group_arr = np.asarray(group)
    if group_arr.shape[0] != len(y_series):
        raise ValueError("group must have one label per outcome value")
    keep = y_series.notna().to_numpy()
    x, group_arr = x[keep], group_arr[keep]
    yv = y_series[keep].to_numpy(dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("the fixed-effect matrix has missing or infinite values")
    names = list(terms) if terms is not None else [f"x{j + 1}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise ValueError("terms must name each column of x")
    if x.shape[1] and np.linalg.matrix_rank(np.column_stack([np.ones(len(yv)), x])) < x.shape[1] + 1:
        raise ValueError(
            f"the fixed-effect design is rank deficient (collinear terms among {names} and the thresholds)"
        )
    codes = np.searchsorted(np.asarray(levels, dtype=float), yv).astype(np.intp)
    group_codes, uniques = pd.factorize(group_arr)
    n_obs, n_params = len(yv), len(levels) - 1 + x.shape[1] + 1
    if n_obs <= n_params:
        raise ValueError(f"too few observations ({n_obs}) for {n_params} parameters")
    model = _Model(codes, x, np.asarray(group_codes, dtype=np.intp), len(levels), n_nodes)
    k = model.k

    def free_objective(free: FloatArray) -> tuple[float, FloatArray]:
        value, grad = model.evaluate(_from_free(free, k))
        if not math.isfinite(value):
            return 1e300, np.zeros_like(free)
        return value, _free_grad(free, grad, k)

    messages: list[str] = []
    par0 = _start(codes, k, x.shape[1])
    res = optimize.minimize(
        free_objective, _to_free(par0, k), jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 400}
    )
    par = _from_free(np.asarray(res.x, dtype=np.float64), k)
    value, grad = model.evaluate(par)

    # Newton polish on the natural parameters with the finite-difference Hessian of the analytic gradient; the
    # Hessian at the final point is also the inverse covariance, so usually one Hessian suffices.
    hess = model.hessian(par)
    for _ in range(20):
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not float(grad @ step) > NEWTON_DECREMENT_TOL / 100:
            break
        t, improved = 1.0, False
        while t > 1e-4:
            new_value, new_grad = model.evaluate(par - t * step)
            if new_value <= value + 1e-12 * max(1.0, abs(value)):
                par, value, grad, improved = par - t * step, new_value, new_grad, True
                break
            t /= 2
        if not improved:
            break
        hess = model.hessian(par)

    eig = np.linalg.eigvalsh(hess)
    hess_pd = bool(eig.min() > HESSIAN_REL_EIG_TOL * max(1.0, float(abs(eig).max())))
    try:
        decrement = float(grad @ np.linalg.solve(hess, grad))
    except np.linalg.LinAlgError:
        decrement = math.inf
    sd = math.exp(float(par[-1]))
    if not math.isfinite(value):
        messages.append("the likelihood is not finite at the estimates")
    if not hess_pd:
        messages.append(f"Hessian of -logLik is not positive definite (min eigenvalue {eig.min():.3g})")
    if not 0 <= decrement < NEWTON_DECREMENT_TOL:
        messages.append(f"gradient not small at the optimum (Newton decrement {decrement:.3g})")
    if sd < SD_BOUNDARY:
        messages.append(f"random-effect SD at the boundary ({sd:.3g}): no between-participant variation estimated")
    if model.inner_failures:
        messages.append(f"the random-effect modes did not converge in {model.inner_failures} evaluation(s)")
    converged = not messages
    if not converged and raise_on_failure:
        raise CLMMConvergenceError("; ".join(messages))

    if hess_pd:
        vcov = np.linalg.inv(hess)
        vcov = (vcov + vcov.T) / 2
    else:
        vcov = np.full_like(hess, np.nan)
    se = np.sqrt(np.where(np.diag(vcov) >= 0, np.diag(vcov), np.nan))
    level_names = [str(v) for v in levels]
    th_names = [f"{a}|{b}" for a, b in itertools.pairwise(level_names)]
    all_names = [*th_names, *names, "log(sd)"]
    beta, beta_se = par[k : k + x.shape[1]], se[k : k + x.shape[1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / beta_se
    fixed = pd.DataFrame(
        {"estimate": beta, "se": beta_se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
        index=pd.Index(names, name="term"),
    )
    thresholds = pd.DataFrame({"estimate": par[:k], "se": se[:k]}, index=pd.Index(th_names, name="threshold"))
    return CLMMResult(
        method=method,
        thresholds=thresholds,
        fixed_effects=fixed,
        random_effect_sd=sd,
        log_sd_se=float(se[-1]),
        vcov=pd.DataFrame(vcov, index=all_names, columns=all_names),
        loglik=-float(value),
        converged=converged,
        levels=levels,
        n_subjects=len(uniques),
        n_observations=n_obs,
        gradient_max=float(np.abs(grad).max()),
        newton_decrement=decrement,
        hessian_min_eigenvalue=float(eig.min()),
        messages=messages,
    )


# --------------------------------------------------------------------------------------------------------------


def _prepare(
    data: pd.DataFrame,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str | None,
    covariates: Sequence[str],
) -> tuple[pd.DataFrame, list[Any], list[Any], list[str], FloatArray]:
    checked = repeated_measures(
        data,
        outcome=outcome,
        subject=subject,
        visit=visit,
        arm=arm,
        control=control,
        baseline=baseline,
        covariates=covariates,
    )
    df, arms, visits, observed = checked.data, checked.arms, checked.visits, checked.observed

    obs = observed.reset_index(drop=True)
    cols: dict[str, FloatArray] = {"(Intercept)": np.ones(len(obs))}  # for the rank check; the thresholds absorb it
    if baseline:
        cols[baseline] = obs[baseline].to_numpy(dtype=float)
    add_covariates(cols, obs, covariates, levels_from=df)
    arm_cols = {a: (obs[arm] == a).to_numpy(dtype=float) for a in arms[1:]}
    visit_cols = {v: (obs[visit] == v).to_numpy(dtype=float) for v in visits[1:]}
    for a, col in arm_cols.items():
        cols[f"{arm}[{a}]"] = col
    for v, col in visit_cols.items():
        cols[f"{visit}[{v}]"] = col
    for a, acol in arm_cols.items():
        for v, vcol in visit_cols.items():
            cols[f"{arm}[{a}]:{visit}[{v}]"] = acol * vcol
    terms, x = full_rank_design(cols, what="fixed-effect design")
    return obs, arms, visits, terms[1:], x[:, 1:]


def fit_clmm(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str | None,
    covariates: Sequence[str] = (),
    method: str = "laplace",
    alpha: float = 0.05,
    max_levels: int = MAX_LEVELS,
    raise_on_failure: bool = True,
) -> CLMMResult:
    """Fit the trial CLMM: ``outcome`` (whole numbers, at most ``max_levels`` distinct observed values, which
    are the categories) ~ baseline + covariates + arm * visit (visit categorical) + (1 | subject), logit link,
    flexible thresholds. ``data`` has one row per participant x post-baseline visit (rows with a missing
    outcome are ignored). Numeric covariates enter as they are, others as factors (first sorted level =
    reference). ``method`` is ``"laplace"`` (clmm's default) or ``"agq<N>"``. Raises ``ValueError`` naming
    the problem for bad input and :class:`CLMMConvergenceError` when the optimum cannot be verified (or
    returns ``converged=False`` with the reasons in ``messages`` when ``raise_on_failure=False``)."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    parse_method(method)
    if isinstance(data, pd.DataFrame) and outcome in data.columns:
        check_ordinal_outcome(data[outcome], outcome, max_levels)
    obs, arms, visits, terms, x = _prepare(data, outcome, subject, visit, arm, control, baseline, covariates)
    fit = fit_clmm_arrays(
        obs[outcome].to_numpy(dtype=float),
        x,
        obs[subject].to_numpy(),
        terms=terms,
        method=method,
        max_levels=max_levels,
        raise_on_failure=raise_on_failure,
    )
    q = float(stats.norm.ppf(1 - alpha / 2))
    names = list(fit.vcov.index)
    index = {t: i for i, t in enumerate(names)}
    par = np.concatenate([fit.thresholds["estimate"].to_numpy(), fit.fixed_effects["estimate"].to_numpy(), [0.0]])
    cov = fit.vcov.to_numpy()
    effects = []
    for a in arms[1:]:
        for j, v in enumerate(visits):
            c = np.zeros(len(names))
            c[index[f"{arm}[{a}]"]] = 1.0
            if j > 0:
                c[index[f"{arm}[{a}]:{visit}[{v}]"]] = 1.0
            est = float(c @ par)
            var = float(c @ cov @ c)
            se = math.sqrt(var) if var >= 0 else math.nan
            z = est / se if se > 0 else math.nan
            effects.append(
                CLMMVisitEffect(
                    visit=v,
                    arm=a,
                    estimate=est,
                    se=se,
                    odds_ratio=math.exp(est),
                    ci_low=math.exp(est - q * se),
                    ci_high=math.exp(est + q * se),
                    z=z,
                    p=float(2 * stats.norm.sf(abs(z))),
                )
            )
    return CLMMResult(
        **{
            **{f: getattr(fit, f) for f in fit.__dataclass_fields__},
            "visits": effects,
            "control": control,
            "arms": arms,
            "visit_levels": visits,
        }
    )
