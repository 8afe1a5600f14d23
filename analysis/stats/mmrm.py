"""Mixed model for repeated measures (MMRM) fitted by REML, with an unstructured or structured visit covariance.

Pure numpy/scipy/pandas (no Django, no ORM). Validated against the R ``mmrm`` package (every covariance
structure, Satterthwaite and Kenward-Roger) and R ``nlme::gls(corSymm + varIdent, REML)`` on ``nlme::Orthodont``
and mmrm's ``fev_data`` (see ``tests/analysis/test_mmrm*.py`` and ``docs/statistics.md``).

Model, for participant i at post-baseline visit t (only observed visits enter; missing at random):

    y_it = x_it' beta + e_it,    e_i ~ N(0, Sigma[O_i, O_i])

with fixed effects intercept, baseline, arm (control = reference), visit (categorical, first visit =
reference), arm x visit and optional covariates. Sigma is unstructured (any positive-definite T x T matrix) or
Toeplitz, AR(1) or compound symmetry, each homogeneous or heterogeneous, in R mmrm's unconstrained
parameterisation (:data:`COVARIANCE_STRUCTURES`); a sequence of structures is a pre-specified fallback order
(:data:`FALLBACK_ORDER`).

Participants are grouped by missingness pattern O. For each pattern the sufficient statistics
sum_i X_i[t]X_i[s]', sum_i X_i[t] y_i[s] and sum_i y_i[t] y_i[s] are accumulated once, so each evaluation of
the REML objective with its exact gradient and Hessian costs one inverse per pattern, whatever the number of
participants. The optimiser is a trust-region Newton method on the exact Hessian; an optimum is accepted only
with a Newton decrement below NEWTON_DECREMENT_TOL and a positive-definite Hessian.

Degrees of freedom: Satterthwaite (as SAS ``ddfm=satterthwaite`` and R mmrm), from the exact Hessian and the
analytic derivative of (X'V^-1X)^-1; Kenward-Roger (as R mmrm ``method = "Kenward-Roger"``; the linear variant
as SAS ``ddfm=kr``) with the adjusted covariance of beta, reported beside Satterthwaite.
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

from analysis.stats.blas import on_one_blas_thread
from analysis.stats.design import add_covariates, full_rank_design, repeated_measures, require_numeric

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
    #: Kenward-Roger (``MMRMResult.kr_method``): adjusted SE, KR df, CI and p, beside the Satterthwaite ones.
    se_kr: float = math.nan
    df_kr: float = math.nan
    ci_low_kr: float = math.nan
    ci_high_kr: float = math.nan
    p_kr: float = math.nan

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
    #: The covariance structure actually used (a name of COVARIANCE_STRUCTURES) and its R mmrm code.
    covariance_structure: str = "unstructured"
    covariance_code: str = "us"
    #: Every structure tried, in order: {"structure", "converged", "reason"} (reason None when it converged).
    covariance_attempts: list[dict[str, Any]] = field(default_factory=list)
    #: theta at the optimum in R mmrm's parameterisation, on the scale of the OLS residual SD.
    covariance_parameters: list[float] = field(default_factory=list)
    kr_method: str = "Kenward-Roger-Linear"
    fixed_effects_cov_kr: pd.DataFrame | None = None  # Kenward-Roger adjusted covariance of beta


# --------------------------------------------------------------------------------------------------------------
# Covariance structures. Sigma = S C S with S = diag(s), s = exp(M theta_sd) (M: visit x sd-parameter, the identity
# for heterogeneous structures and a column of ones for homogeneous ones) and C(phi) from the correlation
# parameters phi, exactly as the R package mmrm parameterises them (so that the Kenward-Roger adjustment, which
# depends on the parameterisation through the second derivatives of Sigma, is the same):
#   us    C = Lt Lt', Lt unit lower triangular with phi below the diagonal (row by row): Sigma = L L', L = S Lt
#   toep  C[a, b] = rho_|a-b|, rho_d = phi_d / sqrt(1 + phi_d^2), one phi per lag
#   ar1   C[a, b] = rho^|a-b|, rho = phi / sqrt(1 + phi^2) (visits as equally spaced ordered categories)
#   cs    C[a, b] = rho (a != b), rho = expit(phi) (1 + 1/(T-1)) - 1/(T-1)
# theta = (theta_sd, phi). Every structure gives Sigma and its first and second derivatives analytically.

#: Canonical names (as reported) -> R mmrm codes. R codes are accepted as input too.
COVARIANCE_STRUCTURES: dict[str, str] = {
    "unstructured": "us",
    "heterogeneous Toeplitz": "toeph",
    "heterogeneous AR(1)": "ar1h",
    "heterogeneous compound symmetry": "csh",
    "Toeplitz": "toep",
    "AR(1)": "ar1",
    "compound symmetry": "cs",
}
_NAMES = {code: name for name, code in COVARIANCE_STRUCTURES.items()}

#: The pre-specified fallback order (docs/statistics.md): from the most to the least flexible structure,
#: heterogeneous variances before homogeneous ones.
FALLBACK_ORDER: tuple[str, ...] = tuple(COVARIANCE_STRUCTURES)


def covariance_name(structure: str) -> str:
    """The canonical name of a covariance structure given by name or R mmrm code; ``ValueError`` otherwise."""
    if structure in COVARIANCE_STRUCTURES:
        return structure
    if structure in _NAMES:
        return _NAMES[structure]
    lowered = {k.lower(): k for k in COVARIANCE_STRUCTURES}
    if isinstance(structure, str) and structure.lower() in lowered:
        return lowered[structure.lower()]
    raise ValueError(
        f"unknown covariance structure {structure!r}; use one of {list(COVARIANCE_STRUCTURES)} "
        f"or the R mmrm codes {list(_NAMES)}"
    )


def _to_cor(phi: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """rho = phi / sqrt(1 + phi^2) and its first two derivatives."""
    q = 1.0 + phi**2
    return phi / np.sqrt(q), q**-1.5, -3.0 * phi * q**-2.5


class _Structure:
    def __init__(self, structure: str, n_visits: int) -> None:
        self.name = covariance_name(structure)
        self.code = COVARIANCE_STRUCTURES[self.name]
        t = self.n_visits = n_visits
        base = self.code.rstrip("h")
        self.base = base
        heterogeneous = self.code.endswith("h") or base == "us"
        self.m = np.eye(t) if heterogeneous else np.ones((t, 1))
        self.n_sd = self.m.shape[1]
        self.n_phi = {"us": t * (t - 1) // 2, "toep": t - 1, "ar1": 1, "cs": 1}[base]
        self.n_theta = self.n_sd + self.n_phi
        self.lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
        #: Unstructured: each dSigma/dtheta_i is a "cross" e_r u' + u e_r' (row and column r only), r given here;
        #: this lets X' W dSigma_i W X be formed in O(T p^2) per parameter instead of O(T^2 p^2).
        self.cross_rows: NDArray[np.intp] | None = (
            np.concatenate([np.arange(t), np.tril_indices(t, -1)[0]]).astype(np.intp) if base == "us" else None
        )

    def correlation(self, phi: FloatArray, order: int) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """C, dC (k, T, T) and, with order 2, d2C (k, k, T, T)."""
        t, k, lag = self.n_visits, self.n_phi, self.lag
        d2c: FloatArray | None = np.zeros((k, k, t, t)) if order >= 2 else None
        if self.base == "us":
            rows, cols = np.tril_indices(t, -1)
            lt = np.eye(t)
            lt[rows, cols] = phi
            e = np.zeros((k, t, t))
            e[np.arange(k), rows, cols] = 1.0
            c = lt @ lt.T
            el = e @ lt.T
            dc = el + el.transpose(0, 2, 1)
            if d2c is not None:
                ee = np.einsum("iab,jcb->ijac", e, e)
                d2c = ee + ee.transpose(1, 0, 2, 3)
            return c, dc, d2c
        if self.base == "toep":
            rho, d1, d2 = _to_cor(phi)
            full = np.concatenate([[1.0], rho])
            c = full[lag]
            dc = np.zeros((k, t, t))
            for d in range(1, t):
                dc[d - 1][lag == d] = d1[d - 1]
                if d2c is not None:
                    d2c[d - 1, d - 1][lag == d] = d2[d - 1]
            return c, dc, d2c
        if self.base == "ar1":
            rho_a, d1_a, d2_a = _to_cor(phi)
            r1, r1_d1, r1_d2 = float(rho_a[0]), float(d1_a[0]), float(d2_a[0])
            lagf = lag.astype(float)
            c = r1**lagf
            pow1 = np.where(lag >= 1, r1 ** np.maximum(lagf - 1, 0), 0.0)
            pow2 = np.where(lag >= 2, r1 ** np.maximum(lagf - 2, 0), 0.0)
            dc = (lagf * pow1 * r1_d1)[None]
            if d2c is not None:
                d2c[0, 0] = lagf * (lagf - 1) * pow2 * r1_d1**2 + lagf * pow1 * r1_d2
            return c, dc, d2c
        # cs
        a = 1.0 / (t - 1) if t > 1 else 1.0
        ex = 1.0 / (1.0 + math.exp(-float(phi[0])))
        cs_rho = ex * (1 + a) - a
        cs_d1 = (1 + a) * ex * (1 - ex)
        off = lag > 0
        c = np.where(off, cs_rho, 1.0)
        dc = np.where(off, cs_d1, 0.0)[None]
        if d2c is not None:
            d2c[0, 0] = np.where(off, cs_d1 * (1 - 2 * ex), 0.0)
        return c, dc, d2c

    def sigma(self, theta: FloatArray) -> FloatArray:
        return self.derivatives(theta, 0)[0]

    def derivatives(self, theta: FloatArray, order: int) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Sigma (T, T), dSigma/dtheta (k, T, T) and, with order 2, d2Sigma/dtheta2 (k, k, T, T)."""
        theta = np.asarray(theta, dtype=np.float64)
        t, n_sd, k = self.n_visits, self.n_sd, self.n_theta
        s = np.exp(self.m @ theta[:n_sd])
        c, dc, d2c = self.correlation(theta[n_sd:], order)
        ss = np.outer(s, s)
        sigma = ss * c
        if order == 0:
            return sigma, np.zeros((0, t, t)), None
        msum = self.m[:, None, :] + self.m[None, :, :]  # (T, T, n_sd): M[a, m] + M[b, m]
        msum = msum.transpose(2, 0, 1)  # (n_sd, T, T)
        dsig = np.empty((k, t, t))
        dsig[:n_sd] = sigma[None] * msum
        dsig[n_sd:] = ss[None] * dc
        d2sig: FloatArray | None = None
        if order >= 2:
            assert d2c is not None
            d2sig = np.zeros((k, k, t, t))
            d2sig[:n_sd, :n_sd] = sigma[None, None] * msum[:, None] * msum[None, :]
            cross = msum[:, None] * (ss[None] * dc)[None, :]
            d2sig[:n_sd, n_sd:] = cross
            d2sig[n_sd:, :n_sd] = cross.transpose(1, 0, 2, 3)
            d2sig[n_sd:, n_sd:] = ss[None, None] * d2c
        return sigma, dsig, d2sig

    def contract_second(self, theta: FloatArray, g: FloatArray) -> FloatArray:
        """<g, d2Sigma/dtheta_i dtheta_j> (k, k) without forming the (k, k, T, T) array of second derivatives."""
        theta = np.asarray(theta, dtype=np.float64)
        n_sd, m = self.n_sd, self.m
        s = np.exp(m @ theta[:n_sd])
        phi = theta[n_sd:]
        c, dc, _ = self.correlation(phi, 1)
        ss = np.outer(s, s)
        g = (g + g.T) / 2
        hm = g * ss * c
        f = g * ss
        out = np.empty((self.n_theta, self.n_theta))
        out[:n_sd, :n_sd] = m.T @ (2 * np.diag(hm.sum(axis=1)) + 2 * hm) @ m
        fd = f[None] * dc
        cross = m.T @ (fd.sum(axis=2) + fd.sum(axis=1)).T
        out[:n_sd, n_sd:] = cross
        out[n_sd:, :n_sd] = cross.T
        if self.base == "us":
            rows, cols = np.tril_indices(self.n_visits, -1)
            same = cols[:, None] == cols[None, :]
            out[n_sd:, n_sd:] = np.where(same, 2 * f[rows[:, None], rows[None, :]], 0.0)
        else:
            d2c = self.correlation(phi, 2)[2]
            assert d2c is not None
            out[n_sd:, n_sd:] = np.einsum("ab,klab->kl", f, d2c)
        return out

    def weighted_second(self, theta: FloatArray, w: FloatArray) -> FloatArray:
        """sum_ij w_ij d2Sigma/dtheta_i dtheta_j (T, T), w symmetric, without the (k, k, T, T) array."""
        theta = np.asarray(theta, dtype=np.float64)
        n_sd, m = self.n_sd, self.m
        s = np.exp(m @ theta[:n_sd])
        phi = theta[n_sd:]
        c, dc, _ = self.correlation(phi, 1)
        ss = np.outer(s, s)
        w = (w + w.T) / 2
        wh = m @ w[:n_sd, :n_sd] @ m.T
        dh = np.diag(wh)
        out = ss * c * (dh[:, None] + dh[None, :] + wh + wh.T)
        v = m @ w[:n_sd, n_sd:]  # (T, k_phi)
        out += 2 * ss * np.einsum("kab,akb->ab", dc, v[:, :, None] + v.T[None, :, :])
        w_pp = w[n_sd:, n_sd:]
        if self.base == "us":
            rows, cols = np.tril_indices(self.n_visits, -1)
            ki, li = np.nonzero(cols[:, None] == cols[None, :])
            z = np.zeros((self.n_visits, self.n_visits))
            np.add.at(z, (rows[ki], rows[li]), w_pp[ki, li])
            out += ss * (z + z.T)
        else:
            d2c = self.correlation(phi, 2)[2]
            assert d2c is not None
            out += ss * np.einsum("kl,klab->ab", w_pp, d2c)
        return np.asarray(out, dtype=np.float64)

    def start(self, sigma0: FloatArray) -> FloatArray:
        """Parameters of this structure roughly matching a positive-definite moment estimate ``sigma0``."""
        t = self.n_visits
        sd = np.sqrt(np.diag(sigma0))
        theta_sd = np.log(sd) if self.n_sd == t else np.array([float(np.log(sd).mean())])
        cor = sigma0 / np.outer(sd, sd)
        if self.base == "us":
            lt = np.linalg.cholesky(cor)
            lt = lt / np.diag(lt)[:, None]
            rows, cols = np.tril_indices(t, -1)
            phi = lt[rows, cols]
        elif self.base == "toep":
            rho = np.array([np.diagonal(cor, d).mean() for d in range(1, t)])
            for shrink in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0):
                r = np.clip(rho * shrink, -0.9, 0.9)
                if np.linalg.eigvalsh(np.concatenate([[1.0], r])[self.lag]).min() > 1e-3:
                    break
            phi = r / np.sqrt(1 - r**2)
        elif self.base == "ar1":
            r_ar = float(np.clip(np.diagonal(cor, 1).mean() if t > 1 else 0.0, -0.9, 0.9))
            phi = np.array([r_ar / math.sqrt(1 - r_ar**2)])
        else:
            a = 1.0 / (t - 1) if t > 1 else 1.0
            r_cs = float(cor[np.triu_indices(t, 1)].mean()) if t > 1 else 0.0
            u = float(np.clip((r_cs + a) / (1 + a), 0.02, 0.98))
            phi = np.array([math.log(u / (1 - u))])
        return np.concatenate([theta_sd, np.asarray(phi, dtype=np.float64)])


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


@dataclass
class _Derivs:
    value: float
    beta: FloatArray
    a_inv: FloatArray
    grad: FloatArray  # d value / d theta
    hess: FloatArray | None  # d2 value / d theta2 (exact, observed)
    q: FloatArray | None  # (k, p, p): X' V^-1 dV/dtheta_i V^-1 X, so dA^-1/dtheta_i = A^-1 Q_i A^-1


class _REML:
    """The REML objective f(theta) = -2 logLik_R (up to a constant) on pattern sufficient statistics, with its
    exact gradient and Hessian with respect to the covariance parameters theta of ``structure``."""

    def __init__(self, patterns: list[_Pattern], n_visits: int, n_params: int, structure: str = "us") -> None:
        self.patterns = patterns
        self.n_visits = n_visits
        self.p = n_params
        self.structure = _Structure(structure, n_visits)
        self._cache: tuple[bytes, _Derivs] | None = None

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
            t = pat.index.size
            a += (w.reshape(1, t * t) @ pat.sxx.reshape(t * t, p * p)).reshape(p, p)
            b += w.reshape(t * t) @ pat.sxy.reshape(t * t, p)
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
                m, r = self._m_r(pat, a_inv, beta)
                g = pat.n * w - w @ (m + r) @ w
                grad[np.ix_(pat.index, pat.index)] += g
            result.grad_sigma = (grad + grad.T) / 2
        return result

    def _m_r(self, pat: _Pattern, a_inv: FloatArray, beta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """m[a, b] = sum_i X_i[a] A^-1 X_i[b]' and the residual cross-products r[a, b] = sum_i r_i[a] r_i[b]."""
        t, p = pat.index.size, self.p
        m = (pat.sxx.reshape(t * t, p * p) @ a_inv.reshape(p * p)).reshape(t, t)
        xb = (pat.sxy.reshape(t * t, p) @ beta).reshape(t, t)
        bxxb = (pat.sxx.reshape(t * t, p * p) @ np.outer(beta, beta).reshape(p * p)).reshape(t, t)
        return m, pat.syy - xb - xb.T + bxxb

    def derivatives(self, theta: FloatArray, *, hessian: bool = True) -> _Derivs:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if self._cache is not None and self._cache[0] == key and (self._cache[1].hess is not None or not hessian):
            return self._cache[1]
        sigma, dsig, _ = self.structure.derivatives(theta, 1)
        ev = self.evaluate(sigma, gradient=True)
        assert ev.grad_sigma is not None
        k, p = dsig.shape[0], self.p
        grad = dsig.reshape(k, -1) @ ev.grad_sigma.reshape(-1)
        hess = q = None
        if hessian:
            beta, a_inv = ev.beta, ev.a_inv
            h_trace = np.zeros((k, k))
            h_quad = np.zeros((k, k))
            q = np.zeros((k, p, p))
            u = np.zeros((k, p))
            for pat in self.patterns:
                idx, t = pat.index, pat.index.size
                w = np.linalg.inv(sigma[np.ix_(idx, idx)])
                w = (w + w.T) / 2
                vi = dsig[:, idx[:, None], idx[None, :]]
                uu = w @ vi  # W V_i
                uw = uu @ w  # W V_i W
                uu_t = uu.transpose(0, 2, 1).reshape(k, t * t)
                m, r = self._m_r(pat, a_inv, beta)
                # tr(P V_i P V_j) = sum n tr(W V_i W V_j) - 2 tr(A^-1 X'W V_i W V_j W X) + tr(A^-1 Q_i A^-1 Q_j)
                h_trace += pat.n * (uu.reshape(k, t * t) @ uu_t.T)
                h_trace -= 2.0 * ((uu @ (w @ m)).reshape(k, t * t) @ uu_t.T)
                # y'P V_i P V_j P y = sum tr(W V_i W V_j W R) - u_i' A^-1 u_j
                h_quad += (uu @ (w @ r)).reshape(k, t * t) @ uu_t.T
                q += self._q_pattern(pat, w, uw, dsig)
                sxr = pat.sxy - pat.sxx @ beta  # (t, t, p): sum_i X_i[a] r_i[b]
                u += uw.reshape(k, t * t) @ sxr.reshape(t * t, p)
            kq = a_inv @ q
            h_trace += kq.reshape(k, p * p) @ kq.transpose(0, 2, 1).reshape(k, p * p).T  # tr(K_i K_j)
            h_quad -= u @ a_inv @ u.T
            hess = self.structure.contract_second(theta, ev.grad_sigma) - h_trace + 2.0 * h_quad
            hess = (hess + hess.T) / 2
        out = _Derivs(value=ev.value, beta=ev.beta, a_inv=ev.a_inv, grad=grad, hess=hess, q=q)
        self._cache = (key, out)
        return out

    def _q_pattern(self, pat: _Pattern, w: FloatArray, uw: FloatArray, dsig: FloatArray) -> FloatArray:
        """This pattern's Q_i = sum_subjects X' W dSigma_i W X (k, p, p)."""
        idx, t, p = pat.index, pat.index.size, self.p
        k = dsig.shape[0]
        cross = self.structure.cross_rows
        if cross is None:
            return np.asarray((uw.reshape(k, t * t) @ pat.sxx.reshape(t * t, p * p)).reshape(k, p, p))
        # dSigma_i[O, O] = e_rho u' + u e_rho' (rho = local index of row r_i; zero if r_i is not observed), so
        # Q_i = sum_b (W u)[b] S[rho, b] + its transpose, with S[rho, b] = sum_a W[rho, a] sxx[a, b].
        pos = np.full(self.n_visits, -1, dtype=np.intp)
        pos[idx] = np.arange(t)
        loc = pos[cross]
        on = np.nonzero(loc >= 0)[0]
        rho = loc[on]
        vecs = dsig[on, cross[on]][:, idx]  # u_i on O (row r_i of dSigma_i), diagonal entry counted twice
        vecs[np.arange(on.size), rho] /= 2
        wu = vecs @ w  # (n_on, t)
        ws = (w @ pat.sxx.reshape(t, t * p * p)).reshape(t, t, p * p)  # S[rho, b]
        half = (wu[:, None, :] @ ws[rho]).reshape(on.size, p, p)
        q = np.zeros((k, p, p))
        q[on] = half + half.transpose(0, 2, 1)
        return q

    def objective(self, theta: FloatArray) -> tuple[float, FloatArray]:
        try:
            d = self.derivatives(theta, hessian=False)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros_like(theta)
        if not np.isfinite(d.value):
            return math.inf, np.zeros_like(theta)
        return d.value, d.grad

    def hessian(self, theta: FloatArray) -> FloatArray:
        h = self.derivatives(theta, hessian=True).hess
        assert h is not None
        return h


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
    def numeric_and_finite(values: pd.Series) -> None:
        require_numeric(values, outcome)
        if np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).any():
            raise ValueError(f"column {outcome!r} has infinite values")

    checked = repeated_measures(
        data,
        outcome=outcome,
        subject=subject,
        visit=visit,
        arm=arm,
        control=control,
        baseline=baseline,
        covariates=covariates,
        check_outcome=numeric_and_finite,
    )
    df, arms, visits, observed = checked.data, checked.arms, checked.visits, checked.observed

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
                sxx=np.ascontiguousarray(np.einsum("itp,isq->tspq", xk, xk)),
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


@dataclass
class _StructureFit:
    structure: _Structure
    theta: FloatArray
    derivs: _Derivs
    hess: FloatArray
    converged: bool
    decrement: float
    min_eig: float
    messages: list[str]


def _optimise(reml: _REML, starts: list[FloatArray]) -> _StructureFit:
    """Trust-region Newton (exact gradient and Hessian) from each start in turn until one reaches a verified
    optimum: Newton decrement below NEWTON_DECREMENT_TOL and a positive-definite Hessian."""
    best: _StructureFit | None = None
    errors: list[str] = []
    for theta0 in starts:
        messages: list[str] = []
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                res = optimize.minimize(
                    reml.objective,
                    theta0,
                    jac=True,
                    hess=reml.hessian,
                    method="trust-exact",
                    options={"gtol": 1e-9, "maxiter": 500},
                )
            theta = np.asarray(res.x, dtype=np.float64)
            d = reml.derivatives(theta)
            # Newton polish on the exact Hessian.
            for _ in range(10):
                assert d.hess is not None
                step = np.linalg.solve(d.hess, d.grad)
                if not float(d.grad @ step) > 1e-14:
                    break
                t = 1.0
                while t > 1e-4:
                    value, _ = reml.objective(theta - t * step)
                    if value <= d.value + 1e-12:
                        break
                    t /= 2
                else:
                    break
                theta = theta - t * step
                d = reml.derivatives(theta)
            assert d.hess is not None
            hess = d.hess
            eig = np.linalg.eigvalsh(hess)
            hess_pd = bool(eig.min() > HESSIAN_REL_EIG_TOL * max(1.0, float(abs(eig).max())))
            try:
                decrement = float(d.grad @ np.linalg.solve(hess, d.grad))
            except np.linalg.LinAlgError:
                decrement = math.inf
            min_eig = float(eig.min())
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        converged = bool(hess_pd and np.isfinite(d.value) and 0 <= decrement < NEWTON_DECREMENT_TOL)
        if not hess_pd:
            messages.append(f"Hessian of the REML objective is not positive definite (min eigenvalue {min_eig:.3g})")
        if not decrement < NEWTON_DECREMENT_TOL:
            messages.append(f"gradient not small at the optimum (Newton decrement {decrement:.3g})")
        fit = _StructureFit(reml.structure, theta, d, hess, converged, decrement, min_eig, messages)
        if converged:
            return fit
        if best is None or (np.isfinite(d.value) and d.value < best.derivs.value):
            best = fit
    if best is None:
        raise MMRMConvergenceError(f"optimisation failed from every start value ({'; '.join(sorted(set(errors)))})")
    return best


def _kenward_roger(reml: _REML, fit: _StructureFit, *, linear: bool) -> FloatArray:
    """Kenward-Roger adjusted covariance of beta (scaled units), as R mmrm: Phi_A = Phi + 2 Phi [sum_ij W_ij
    (Q_ij - P_i Phi P_j - R_ij / 4)] Phi with W = inverse observed Hessian of -logLik; ``linear`` drops R_ij."""
    structure, theta, d = fit.structure, fit.theta, fit.derivs
    sigma, dsig, _ = structure.derivatives(theta, 1)
    assert d.q is not None
    p = reml.p
    w_kr = np.asarray(2.0 * np.linalg.inv(fit.hess), dtype=np.float64)
    phi = d.a_inv
    total = np.zeros((p, p))
    d2w = structure.weighted_second(theta, w_kr)
    for pat in reml.patterns:
        idx, t = pat.index, pat.index.size
        w = np.linalg.inv(sigma[np.ix_(idx, idx)])
        w = (w + w.T) / 2
        uu = w @ dsig[:, idx[:, None], idx[None, :]]  # W V_i
        yy = np.tensordot(w_kr, uu, axes=(1, 0))  # sum_j W_ij W V_j
        b = uu.transpose(1, 0, 2).reshape(t, -1) @ yy.reshape(-1, t) @ w  # sum_ij W_ij W V_i W V_j W
        if not linear:
            b = b - 0.25 * (w @ d2w[np.ix_(idx, idx)] @ w)
        total += (b.reshape(t * t) @ pat.sxx.reshape(t * t, p * p)).reshape(p, p)
    q = d.q
    yq = np.tensordot(w_kr, q, axes=(1, 0))
    total -= (q.transpose(1, 0, 2) @ phi).reshape(p, -1) @ yq.reshape(-1, p)  # sum_ij W_ij Q_i Phi Q_j
    adj = phi + 2.0 * phi @ total @ phi
    return np.asarray((adj + adj.T) / 2, dtype=np.float64)


def _kr_df_1d(df_satterthwaite: float) -> float:
    """Kenward-Roger df of a single contrast (R mmrm h_kr_df with one row): A1 = A2 = 2 / df_Satterthwaite."""
    nl = 1.0
    a1 = a2 = 2.0 / df_satterthwaite
    b = (a1 + 6 * a2) / (2 * nl)
    e_star = 1 / (1 - a2 / nl)
    g = ((nl + 1) * a1 - (nl + 4) * a2) / ((nl + 2) * a2)
    denom = 3 * nl + 2 - 2 * g
    c1, c2, c3 = g / denom, (nl - g) / denom, (nl + 2 - g) / denom
    v_star = 2 / nl * (1 + c1 * b) / (1 - c2 * b) ** 2 / (1 - c3 * b)
    rho = v_star / (2 * e_star**2)
    return float(4 + (nl + 2) / (nl * rho - 1))


DF_METHODS = ("Satterthwaite", "Kenward-Roger", "Kenward-Roger-Linear")


@on_one_blas_thread
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
    covariance: str | Sequence[str] = "unstructured",
    df_method: str = "Satterthwaite",
    kr_method: str = "Kenward-Roger-Linear",
) -> MMRMResult:
    """Fit an MMRM by REML. ``data`` has one row per participant x post-baseline visit (rows with a missing
    outcome are allowed and ignored; participants contribute the visits they have). Numeric covariates
    enter as continuous terms, others (strings, categoricals, booleans) as factors (first sorted level =
    reference). Raises ``ValueError`` naming the problem for bad input and :class:`MMRMConvergenceError`
    when the optimum cannot be verified (or returns ``converged=False`` with ``raise_on_failure=False``).

    ``covariance`` is one structure (a name of :data:`COVARIANCE_STRUCTURES` or its R mmrm code) or a
    pre-specified order of structures (e.g. :data:`FALLBACK_ORDER`): each is tried in turn until one reaches a
    verified optimum; the result names the structure used and why the earlier ones failed.

    ``df_method`` sets the SE/df/CI/p of each visit effect: "Satterthwaite" (model-based SE), or
    "Kenward-Roger" / "Kenward-Roger-Linear" (adjusted SE and KR df, as R mmrm; the linear variant drops the
    second derivatives of Sigma and matches SAS ``ddfm=kr``). The ``*_kr`` fields always hold ``kr_method``'s
    (or a KR ``df_method``'s) numbers, so Satterthwaite and Kenward-Roger are reported side by side."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if df_method not in DF_METHODS:
        raise ValueError(f"df_method must be one of {list(DF_METHODS)}, not {df_method!r}")
    if kr_method not in DF_METHODS[1:]:
        raise ValueError(f"kr_method must be one of {list(DF_METHODS[1:])}, not {kr_method!r}")
    if df_method != "Satterthwaite":
        kr_method = df_method
    order = [covariance] if isinstance(covariance, str) else list(covariance)
    if not order:
        raise ValueError("covariance: give at least one covariance structure")
    order = [covariance_name(c) for c in order]
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
    sigma0 = _start_values(obs, subject, visit, visits, resid / scale)
    mean_var = float(np.diag(sigma0).mean())
    start_sigmas = [sigma0, np.diag(np.diag(sigma0)), mean_var * (0.5 * np.eye(n_visits) + 0.5)]

    attempts: list[dict[str, Any]] = []
    fit: _StructureFit | None = None
    reml: _REML | None = None
    for name in order:
        reml_k = _REML(patterns, n_visits, p, name)
        if n_visits < 2 and reml_k.structure.n_phi > 0:
            reason = "a correlation structure needs at least 2 visits (its correlation is not identified)"
            attempts.append({"structure": name, "converged": False, "reason": reason})
            continue
        try:
            fit_k = _optimise(reml_k, [reml_k.structure.start(sg) for sg in start_sigmas])
        except MMRMConvergenceError as exc:
            attempts.append({"structure": name, "converged": False, "reason": str(exc)})
            continue
        attempts.append(
            {
                "structure": name,
                "converged": fit_k.converged,
                "reason": None if fit_k.converged else "; ".join(fit_k.messages),
            }
        )
        if fit is None or fit_k.converged:
            fit, reml = fit_k, reml_k
        if fit_k.converged:
            break
    failed = [a for a in attempts if not a["converged"]]
    messages = [f"covariance {a['structure']} failed: {a['reason']}" for a in failed]
    if fit is not None and fit.converged and failed:
        messages.append(f"covariance structure used: {fit.structure.name} (pre-specified fallback)")
    if (fit is None or not fit.converged) and (raise_on_failure or fit is None):
        raise MMRMConvergenceError("; ".join(messages) or "REML optimisation failed")
    assert fit is not None
    assert reml is not None
    converged = fit.converged

    theta, d, hess = fit.theta, fit.derivs, fit.hess
    sigma_scaled = fit.structure.sigma(theta)
    beta = beta_ols + d.beta * scale
    cov_beta = d.a_inv * scale**2
    sigma = sigma_scaled * scale**2
    value = d.value
    loglik = -0.5 * (value + (n_obs - p) * math.log(2 * math.pi)) - (n_obs - p) * math.log(scale)

    # Satterthwaite df for each contrast c: df = v^2 / (dv' H^-1 dv), v = c' A(theta)^-1 c, H = Hessian of -2 logLik,
    # dv_i = c' A^-1 Q_i A^-1 c analytically.
    try:
        hess_inv = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        hess_inv = np.full_like(hess, np.nan)
    try:
        cov_kr_scaled = _kenward_roger(reml, fit, linear=kr_method == "Kenward-Roger-Linear")
    except np.linalg.LinAlgError:
        cov_kr_scaled = np.full_like(d.a_inv, np.nan)
    assert d.q is not None
    aq = d.a_inv @ d.q @ d.a_inv  # (k, p, p): dA^-1 / dtheta_i

    index = {t: i for i, t in enumerate(terms)}
    effects: list[VisitEffect] = []
    for a in arms[1:]:
        for j, v in enumerate(visits):
            c = np.zeros(p)
            c[index[f"{arm}[{a}]"]] = 1.0
            if j > 0:
                c[index[f"{arm}[{a}]:{visit}[{v}]"]] = 1.0
            var_scaled = float(c @ d.a_inv @ c)
            dv = aq @ c @ c
            denom = float(dv @ hess_inv @ dv)
            df = var_scaled**2 / denom if denom > 0 else float(n_obs - p)
            est = float(c @ beta)
            se = math.sqrt(var_scaled) * scale
            q = float(stats.t.ppf(1 - alpha / 2, df))
            pval = float(2 * stats.t.sf(abs(est / se), df))
            var_kr = float(c @ cov_kr_scaled @ c)
            df_kr = _kr_df_1d(df) if denom > 0 else float(n_obs - p)
            se_kr = math.sqrt(var_kr) * scale if var_kr > 0 else math.nan
            q_kr = float(stats.t.ppf(1 - alpha / 2, df_kr))
            p_kr = float(2 * stats.t.sf(abs(est / se_kr), df_kr))
            kr = {
                "se_kr": se_kr,
                "df_kr": float(df_kr),
                "ci_low_kr": est - q_kr * se_kr,
                "ci_high_kr": est + q_kr * se_kr,
                "p_kr": p_kr,
            }
            if df_method == "Satterthwaite":
                effects.append(VisitEffect(v, a, est, se, est - q * se, est + q * se, pval, float(df), **kr))
            else:
                effects.append(
                    VisitEffect(v, a, est, se_kr, kr["ci_low_kr"], kr["ci_high_kr"], p_kr, float(df_kr), **kr)
                )

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
        gradient_max=float(np.abs(d.grad).max()),
        newton_decrement=fit.decrement,
        hessian_min_eigenvalue=fit.min_eig,
        df_method=df_method,
        control=control,
        arms=arms,
        visit_levels=visits,
        messages=messages + ([] if converged else fit.messages),
        covariance_structure=fit.structure.name,
        covariance_code=fit.structure.code,
        covariance_attempts=attempts,
        covariance_parameters=[float(t) for t in theta],
        kr_method=kr_method,
        fixed_effects_cov_kr=pd.DataFrame(cov_kr_scaled * scale**2, index=terms, columns=terms),
    )
