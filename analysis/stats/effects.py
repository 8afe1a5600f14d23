"""Effect sizes, responder definitions, adjusted binary outcomes and Holm's multiplicity adjustment.

Pure numpy/scipy/pandas/statsmodels (no Django, no ORM). See ``docs/statistics.md`` ("Effect sizes, responders
and multiplicity") and ``tests/analysis/test_effects.py`` (validated against R ``glm(family = binomial)``).

- :func:`cohens_d` / :func:`hedges_g`: standardized treatment effect = model-based adjusted difference (MMRM or
  ANCOVA) divided by the pooled baseline SD (:func:`pooled_sd`). The CI is the difference's CI divided by the
  SD: the SD is treated as a fixed, known constant, so its own sampling error is ignored (the interval is a
  little too narrow for small trials).
- :func:`within_arm_change`: descriptive within-arm change and percent reduction of the mean. Descriptive
  only: never a treatment-effect analysis (baseline is a covariate, never an outcome; % change is not analysed).
- :func:`response`, :func:`remission`, :func:`reliable_improvement`, :func:`responders`: binary outcome
  definitions (REFERENCE.md "Change definitions") with per-instrument thresholds in :data:`THRESHOLDS`.
- :func:`logistic_adjusted`: logistic regression ``outcome ~ arm + baseline (+ covariates)`` on complete cases,
  odds ratio plus the marginal risk difference and risk ratio by standardization (g-computation).
- :func:`holm`: Holm step-down adjusted p-values across the condition-specific primary outcomes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import statsmodels.api as sm  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray
from scipy import stats  # type: ignore[import-untyped]
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]
from statsmodels.tools.sm_exceptions import (  # type: ignore[import-untyped]
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from analysis.stats.design import add_covariates, full_rank_design

__all__ = [
    "THRESHOLDS",
    "BinaryEffect",
    "EffectSize",
    "cohens_d",
    "hedges_correction",
    "hedges_g",
    "holm",
    "logistic_adjusted",
    "pooled_sd",
    "reliable_improvement",
    "remission",
    "responders",
    "response",
    "within_arm_change",
]

FloatArray = NDArray[np.float64]

#: Per-instrument thresholds (REFERENCE.md "Change definitions"). ``remission``: follow-up score strictly below
#: this value (PHQ-9 < 5; GAD-7 < 5 by convention). ``reliable_improvement``: reduction of at least this many
#: points (NHS Talking Therapies: PHQ-9 >= 6, GAD-7 >= 4). ``minimal_important_change``: points (for reporting).
#: ``response_fraction``: response = reduction of at least this fraction of the baseline score.
THRESHOLDS: dict[str, dict[str, float]] = {
    "phq9": {"response_fraction": 0.5, "remission": 5.0, "reliable_improvement": 6.0, "minimal_important_change": 5.0},
    "gad7": {"response_fraction": 0.5, "remission": 5.0, "reliable_improvement": 4.0, "minimal_important_change": 4.0},
}

# Boundary tolerance for the responder definitions, so that prorated (non-integer) scores that sit exactly on a
# boundary up to floating-point rounding are classified as on the boundary (i.e. included).
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------- effect sizes


@dataclass(frozen=True)
class EffectSize:
    """A standardized mean difference (:func:`cohens_d` or :func:`hedges_g`) with its CI.

    ``estimate = correction * difference / sd``; ``ci_low``/``ci_high`` are the difference's CI (t with ``df``
    when given, else normal) divided by ``sd`` and multiplied by ``correction``. ``sd`` is treated as fixed."""

    measure: str  # "cohens_d" or "hedges_g"
    estimate: float
    ci_low: float
    ci_high: float
    difference: float
    se_difference: float
    sd: float  # pooled baseline SD (treated as a fixed constant)
    correction: float  # Hedges' J (1.0 for Cohen's d)
    df: float | None  # degrees of freedom of the difference's CI (None: normal quantile)
    alpha: float = 0.05


def _finite(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return out


def _check_alpha(alpha: float) -> float:
    alpha = _finite(alpha, "alpha")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    return alpha


def _standardized(
    measure: str,
    difference: float,
    se_difference: float,
    baseline_sd_pooled: float,
    df: float | None,
    alpha: float,
    correction: float,
) -> EffectSize:
    difference = _finite(difference, "difference")
    se_difference = _finite(se_difference, "se_difference")
    sd = _finite(baseline_sd_pooled, "baseline_sd_pooled")
    alpha = _check_alpha(alpha)
    if se_difference < 0:
        raise ValueError(f"se_difference must be >= 0 (got {se_difference})")
    if sd <= 0:
        raise ValueError(f"baseline_sd_pooled must be > 0 (got {sd})")
    if df is not None:
        df = _finite(df, "df")
        if df <= 0:
            raise ValueError(f"df must be > 0 (got {df})")
        q = float(stats.t.ppf(1 - alpha / 2, df))
    else:
        q = float(stats.norm.ppf(1 - alpha / 2))
    scale = correction / sd
    return EffectSize(
        measure=measure,
        estimate=difference * scale,
        ci_low=(difference - q * se_difference) * scale,
        ci_high=(difference + q * se_difference) * scale,
        difference=difference,
        se_difference=se_difference,
        sd=sd,
        correction=correction,
        df=df,
        alpha=alpha,
    )


def cohens_d(
    difference: float, se_difference: float, baseline_sd_pooled: float, df: float | None = None, *, alpha: float = 0.05
) -> EffectSize:
    """Cohen's d = model-based (adjusted) difference / pooled baseline SD, with a ``1 - alpha`` CI.

    The CI is the difference's CI, ``difference +/- q * se_difference`` with ``q`` the t quantile on ``df``
    degrees of freedom (the model's, e.g. ANCOVA residual df or MMRM Satterthwaite df) or the normal quantile
    when ``df`` is None, divided by the SD. The SD is treated as fixed (its sampling error is ignored)."""
    return _standardized("cohens_d", difference, se_difference, baseline_sd_pooled, df, alpha, 1.0)


def hedges_correction(n1: int, n2: int) -> float:
    """Hedges' small-sample correction J = 1 - 3 / (4 df - 1) with df = n1 + n2 - 2."""
    for name, n in (("n1", n1), ("n2", n2)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer (got {n!r})")
    dof = int(n1) + int(n2) - 2
    if dof < 1:
        raise ValueError(f"n1 + n2 - 2 must be >= 1 for Hedges' correction (got {dof})")
    return 1.0 - 3.0 / (4.0 * dof - 1.0)


def hedges_g(
    difference: float,
    se_difference: float,
    baseline_sd_pooled: float,
    n1: int,
    n2: int,
    df: float | None = None,
    *,
    alpha: float = 0.05,
) -> EffectSize:
    """Hedges' g = J x Cohen's d, J = 1 - 3 / (4 (n1 + n2 - 2) - 1); the CI of d is multiplied by J too.

    ``n1``, ``n2``: participants per arm (for J); ``df``: degrees of freedom of the difference's CI as in
    :func:`cohens_d` (None: normal quantile)."""
    return _standardized(
        "hedges_g",
        difference,
        se_difference,
        baseline_sd_pooled,
        df,
        alpha,
        hedges_correction(n1, n2),
    )


def _as_float_1d(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {arr.shape})")
    if arr.dtype == object:
        try:
            arr = pd.to_numeric(pd.Series(arr), errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric") from None
    elif not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric (got dtype {arr.dtype})")
    out = arr.astype(float)
    if np.isinf(out).any():
        raise ValueError(f"{name} has infinite values")
    return out


def pooled_sd(values_a: ArrayLike, values_b: ArrayLike) -> float:
    """Pooled SD sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)) of two arms' baseline scores.

    Missing values (NaN) are dropped; each arm needs at least 2 values."""
    a = _as_float_1d(values_a, "values_a")
    b = _as_float_1d(values_b, "values_b")
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    for name, x in (("values_a", a), ("values_b", b)):
        if x.size < 2:
            raise ValueError(f"{name} needs at least 2 non-missing values (got {x.size})")
    ss = (a.size - 1) * float(np.var(a, ddof=1)) + (b.size - 1) * float(np.var(b, ddof=1))
    sd = math.sqrt(ss / (a.size + b.size - 2))
    if sd == 0:
        raise ValueError("the pooled SD is 0 (all baseline values are equal)")
    return sd


# ------------------------------------------------------------------------------------- descriptive change


def _pair(baseline: ArrayLike, follow_up: ArrayLike) -> tuple[FloatArray, FloatArray]:
    b = _as_float_1d(baseline, "baseline")
    f = _as_float_1d(follow_up, "follow_up")
    if b.shape != f.shape:
        raise ValueError(f"baseline and follow_up must have the same length (got {b.size} and {f.size})")
    return b, f


def within_arm_change(baseline: ArrayLike, follow_up: ArrayLike, *, alpha: float = 0.05) -> dict[str, float]:
    """Descriptive within-arm change on participants with both scores. DESCRIPTIVE ONLY.

    Not a treatment-effect analysis: compare arms with the MMRM/ANCOVA (baseline as covariate). Returns
    ``n``, ``mean_baseline``, ``mean_follow_up``, ``mean_change`` (follow-up minus baseline, so a negative value
    is an improvement on PHQ-9/GAD-7), ``sd_change``, ``se_change``, ``ci_low``/``ci_high`` (t on n - 1 df)
    and ``percent_reduction`` = 100 x (mean baseline - mean follow-up) / mean baseline (NaN when the mean
    baseline is 0). Pairs with a missing baseline or follow-up are dropped."""
    alpha = _check_alpha(alpha)
    b, f = _pair(baseline, follow_up)
    keep = ~(np.isnan(b) | np.isnan(f))
    b, f = b[keep], f[keep]
    n = int(b.size)
    if n < 2:
        raise ValueError(f"within_arm_change needs at least 2 participants with both scores (got {n})")
    change = f - b
    mean_change = float(change.mean())
    sd_change = float(change.std(ddof=1))
    se = sd_change / math.sqrt(n)
    q = float(stats.t.ppf(1 - alpha / 2, n - 1))
    mean_b, mean_f = float(b.mean()), float(f.mean())
    pct = 100.0 * (mean_b - mean_f) / mean_b if mean_b != 0 else math.nan
    return {
        "n": n,
        "mean_baseline": mean_b,
        "mean_follow_up": mean_f,
        "mean_change": mean_change,
        "sd_change": sd_change,
        "se_change": se,
        "ci_low": mean_change - q * se,
        "ci_high": mean_change + q * se,
        "percent_reduction": pct,
    }


# ----------------------------------------------------------------------------------------------- responders


def _positive(value: float, name: str) -> float:
    value = _finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0 (got {value})")
    return value


def _indicator(condition: NDArray[np.bool_], missing: NDArray[np.bool_]) -> FloatArray:
    out = condition.astype(float)
    out[missing] = np.nan
    return out


def response(baseline: ArrayLike, follow_up: ArrayLike, fraction: float = 0.5) -> FloatArray:
    """Response: reduction from baseline of at least ``fraction`` of the baseline score (default 50%).

    Returns a float array of 1.0 (responder), 0.0 (not) and NaN where the follow-up or the baseline is missing
    or the baseline is <= 0 (a relative reduction is undefined). Exactly 50% counts as a response."""
    fraction = _positive(fraction, "fraction")
    if fraction > 1:
        raise ValueError(f"fraction must be <= 1 (got {fraction})")
    b, f = _pair(baseline, follow_up)
    missing = np.isnan(b) | np.isnan(f) | ~(b > 0)
    with np.errstate(invalid="ignore"):
        return _indicator(b - f >= fraction * b - _EPS, missing)


def remission(follow_up: ArrayLike, threshold: float = 5.0) -> FloatArray:
    """Remission: follow-up score strictly below ``threshold`` (PHQ-9 < 5; GAD-7 < 5 by convention).

    1.0 / 0.0, NaN where the follow-up is missing. A score of exactly ``threshold`` is not a remission."""
    threshold = _finite(threshold, "threshold")
    f = _as_float_1d(follow_up, "follow_up")
    with np.errstate(invalid="ignore"):
        return _indicator(f < threshold - _EPS, np.isnan(f))


def reliable_improvement(baseline: ArrayLike, follow_up: ArrayLike, threshold: float) -> FloatArray:
    """Reliable improvement: baseline - follow-up >= ``threshold`` points (PHQ-9 6, GAD-7 4; see THRESHOLDS).

    1.0 / 0.0, NaN where the baseline or follow-up is missing. A reduction of exactly ``threshold`` counts."""
    threshold = _positive(threshold, "threshold")
    b, f = _pair(baseline, follow_up)
    with np.errstate(invalid="ignore"):
        return _indicator(b - f >= threshold - _EPS, np.isnan(b) | np.isnan(f))


def responders(baseline: ArrayLike, follow_up: ArrayLike, instrument: str) -> dict[str, FloatArray]:
    """All three binary outcomes for ``instrument`` (a key of :data:`THRESHOLDS`, e.g. ``"phq9"``, ``"gad7"``):
    ``{"response": ..., "remission": ..., "reliable_improvement": ...}`` (1.0 / 0.0 / NaN arrays)."""
    if instrument not in THRESHOLDS:
        raise ValueError(f"unknown instrument {instrument!r} (known: {sorted(THRESHOLDS)})")
    t = THRESHOLDS[instrument]
    return {
        "response": response(baseline, follow_up, t["response_fraction"]),
        "remission": remission(follow_up, t["remission"]),
        "reliable_improvement": reliable_improvement(baseline, follow_up, t["reliable_improvement"]),
    }


# ------------------------------------------------------------------------------------ adjusted binary effect


@dataclass(frozen=True)
class BinaryEffect:
    """Result of :func:`logistic_adjusted` (intervention vs control, complete cases, Wald intervals).

    Odds ratio: conditional on baseline and covariates, exp(arm coefficient). Risk difference and risk ratio:
    marginal, by standardization over the complete cases (``risk_intervention`` / ``risk_control`` = mean
    predicted risk with everyone set to intervention / control), delta-method SEs conditional on the
    covariates (RR interval on the log scale)."""

    n: int
    odds_ratio: float
    or_ci_low: float
    or_ci_high: float
    p_or: float
    log_or: float
    se_log_or: float
    risk_intervention: float
    risk_control: float
    risk_difference: float
    se_rd: float
    rd_ci_low: float
    rd_ci_high: float
    p_rd: float
    risk_ratio: float
    se_log_rr: float
    rr_ci_low: float
    rr_ci_high: float
    p_rr: float
    coefficients: pd.DataFrame  # index: term; columns: estimate, se, z, p
    deviance: float
    n_by_arm: dict[Any, int] = field(default_factory=dict)
    events_by_arm: dict[Any, int] = field(default_factory=dict)
    n_excluded: int = 0
    control: Any = None
    intervention: Any = None
    alpha: float = 0.05


def _covariate_frame(covariates: pd.DataFrame | Mapping[str, ArrayLike] | None, n: int) -> pd.DataFrame:
    if covariates is None:
        return pd.DataFrame(index=range(n))
    if isinstance(covariates, pd.DataFrame):
        frame = covariates.reset_index(drop=True)
    elif isinstance(covariates, Mapping):
        frame = pd.DataFrame({str(k): np.asarray(v) for k, v in covariates.items()})
    else:
        raise ValueError("covariates must be a pandas DataFrame or a mapping of name -> array")
    if len(frame) != n:
        raise ValueError(f"covariates must have {n} rows like outcome (got {len(frame)})")
    for name in frame.columns:
        if name in ("(Intercept)", "baseline", "arm"):
            raise ValueError(f"covariate name {name!r} is reserved")
    return frame


def logistic_adjusted(
    outcome: ArrayLike,
    arm: ArrayLike,
    baseline: ArrayLike,
    control: Any,
    covariates: pd.DataFrame | Mapping[str, ArrayLike] | None = None,
    *,
    alpha: float = 0.05,
) -> BinaryEffect:
    """Logistic regression ``outcome ~ arm + baseline (+ covariates)`` on complete cases (maximum likelihood).

    ``outcome``: 0/1 (or bool), NaN = missing (e.g. the output of :func:`response`); ``arm``: exactly two levels
    among complete cases, one of them ``control`` (no missing values); ``baseline``: numeric; ``covariates``:
    a DataFrame or mapping of equal-length columns, numeric ones continuous, others dummy-coded (first sorted
    level = reference). Rows with a missing outcome, baseline or covariate are dropped.

    Reports the odds ratio (Wald CI and p as ``summary(glm(...))`` in R), and the marginal risk difference and
    risk ratio by standardization: p_a = mean_i expit(x_i(arm = a)' b). SEs by the delta method with the model
    covariance V: grad p_a = mean_i p_a,i (1 - p_a,i) x_i(arm = a); var RD = (g1 - g0)' V (g1 - g0); var log RR =
    (g1/p1 - g0/p0)' V (g1/p1 - g0/p0); the RR CI is exp(log RR +/- z se). These SEs treat the covariate
    distribution of the sample as fixed. Raises ``ValueError`` for bad input, an arm with no events or all
    events, (quasi-)perfect separation, or a fit that does not converge."""
    alpha = _check_alpha(alpha)
    y_all = _as_float_1d(outcome, "outcome")
    base_all = _as_float_1d(baseline, "baseline")
    arm_all = pd.Series(np.asarray(arm, dtype=object))
    n_all = y_all.size
    if base_all.size != n_all or len(arm_all) != n_all:
        raise ValueError(
            f"outcome, arm and baseline must have the same length (got {n_all}, {len(arm_all)}, {base_all.size})"
        )
    observed = y_all[~np.isnan(y_all)]
    if not np.isin(observed, (0.0, 1.0)).all():
        raise ValueError("outcome must be 0/1 (or boolean), with NaN for missing")
    if arm_all.isna().any():
        raise ValueError("arm has missing values")
    cov = _covariate_frame(covariates, n_all)
    keep = ~np.isnan(y_all) & ~np.isnan(base_all) & ~cov.isna().any(axis=1).to_numpy()
    y, base = y_all[keep], base_all[keep]
    arms_cc = arm_all[keep].reset_index(drop=True)
    cov = cov[keep].reset_index(drop=True)
    levels = sorted(arms_cc.unique().tolist(), key=str)
    if control not in levels:
        raise ValueError(f"control arm {control!r} not found among complete cases (arms: {levels})")
    if len(levels) != 2:
        raise ValueError(f"arm must have exactly 2 levels among complete cases (found {levels})")
    intervention = next(a for a in levels if a != control)
    is_int = (arms_cc == intervention).to_numpy()
    n_by_arm = {control: int((~is_int).sum()), intervention: int(is_int.sum())}
    events_by_arm = {control: int(y[~is_int].sum()), intervention: int(y[is_int].sum())}
    for a in (control, intervention):
        if events_by_arm[a] in (0, n_by_arm[a]):
            raise ValueError(
                f"perfect separation: arm {a!r} has {events_by_arm[a]} events out of {n_by_arm[a]} complete cases, "
                "so the odds ratio is not estimable (use an exact or penalized method)"
            )

    k_arm = f"arm[{intervention}]"
    cols: dict[str, FloatArray] = {"(Intercept)": np.ones(y.size), k_arm: is_int.astype(float), "baseline": base}
    add_covariates(cols, cov, cov.columns)
    n, p = y.size, len(cols)
    if n <= p:
        raise ValueError(f"too few complete cases ({n}) for {p} coefficients")
    terms, x = full_rank_design(cols)

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = sm.Logit(y, x).fit(method="newton", maxiter=100, tol=1e-12, disp=False)
        except (PerfectSeparationError, PerfectSeparationWarning):
            raise ValueError(
                "perfect separation: the outcome is perfectly predicted by the covariates; "
                "the odds ratio is not estimable (use an exact or penalized method)"
            ) from None
        except np.linalg.LinAlgError:
            raise ValueError("the logistic fit failed (singular information matrix; possible separation)") from None
    beta = np.asarray(fit.params, dtype=float)
    vcov = np.asarray(fit.cov_params(), dtype=float)
    eta = x @ beta
    fitted = 1.0 / (1.0 + np.exp(-eta))
    if not fit.mle_retvals.get("converged", False) or not np.all(np.isfinite(vcov)):
        raise ValueError("the logistic fit did not converge (possible quasi-complete separation)")
    if np.max(np.abs(eta)) > 30 or np.any(np.minimum(fitted, 1 - fitted) < 1e-12):
        raise ValueError(
            "quasi-complete separation: some fitted probabilities are 0 or 1; the odds ratio is not estimable "
            "(use an exact or penalized method)"
        )
    ses = np.sqrt(np.diag(vcov))
    zvals = beta / ses
    pvals = 2 * stats.norm.sf(np.abs(zvals))
    coefs = pd.DataFrame({"estimate": beta, "se": ses, "z": zvals, "p": pvals}, index=pd.Index(terms, name="term"))
    z = float(stats.norm.ppf(1 - alpha / 2))
    k = terms.index(k_arm)
    log_or, se_log_or = float(beta[k]), float(ses[k])

    x1, x0 = x.copy(), x.copy()
    x1[:, k], x0[:, k] = 1.0, 0.0
    pi1 = 1.0 / (1.0 + np.exp(-(x1 @ beta)))
    pi0 = 1.0 / (1.0 + np.exp(-(x0 @ beta)))
    p1, p0 = float(pi1.mean()), float(pi0.mean())
    g1 = (x1 * (pi1 * (1 - pi1))[:, None]).mean(axis=0)
    g0 = (x0 * (pi0 * (1 - pi0))[:, None]).mean(axis=0)
    rd = p1 - p0
    g_rd = g1 - g0
    se_rd = math.sqrt(float(g_rd @ vcov @ g_rd))
    log_rr = math.log(p1) - math.log(p0)
    g_rr = g1 / p1 - g0 / p0
    se_log_rr = math.sqrt(float(g_rr @ vcov @ g_rr))
    deviance = float(-2.0 * np.sum(y * np.log(fitted) + (1 - y) * np.log(1 - fitted)))
    return BinaryEffect(
        n=n,
        odds_ratio=math.exp(log_or),
        or_ci_low=math.exp(log_or - z * se_log_or),
        or_ci_high=math.exp(log_or + z * se_log_or),
        p_or=float(pvals[k]),
        log_or=log_or,
        se_log_or=se_log_or,
        risk_intervention=p1,
        risk_control=p0,
        risk_difference=rd,
        se_rd=se_rd,
        rd_ci_low=rd - z * se_rd,
        rd_ci_high=rd + z * se_rd,
        p_rd=float(2 * stats.norm.sf(abs(rd / se_rd))) if se_rd > 0 else math.nan,
        risk_ratio=math.exp(log_rr),
        se_log_rr=se_log_rr,
        rr_ci_low=math.exp(log_rr - z * se_log_rr),
        rr_ci_high=math.exp(log_rr + z * se_log_rr),
        p_rr=float(2 * stats.norm.sf(abs(log_rr / se_log_rr))) if se_log_rr > 0 else math.nan,
        coefficients=coefs,
        deviance=deviance,
        n_by_arm=n_by_arm,
        events_by_arm=events_by_arm,
        n_excluded=n_all - n,
        control=control,
        intervention=intervention,
        alpha=alpha,
    )


# ----------------------------------------------------------------------------------------------- multiplicity


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm step-down adjusted p-values (statsmodels ``multipletests(method="holm")``), keyed as the input.

    ``pvalues``: a non-empty mapping of outcome name -> p-value in [0, 1] (e.g. the three condition-specific
    primary outcomes). Reject the hypotheses whose adjusted p is <= alpha."""
    if not isinstance(pvalues, Mapping):
        raise ValueError("pvalues must be a mapping of outcome name -> p-value")
    if not pvalues:
        raise ValueError("pvalues is empty")
    names = list(pvalues)
    values = []
    for name in names:
        v = _finite(pvalues[name], f"p-value for {name!r}")
        if not 0 <= v <= 1:
            raise ValueError(f"p-value for {name!r} must be between 0 and 1 (got {v})")
        values.append(v)
    _, adjusted, _, _ = multipletests(np.asarray(values), method="holm")
    return {name: float(a) for name, a in zip(names, adjusted, strict=True)}
