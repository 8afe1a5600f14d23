"""ANCOVA at one visit on complete cases: OLS ``outcome ~ baseline + arm + covariates``.

Pure numpy/scipy/pandas (no Django, no ORM). Validated against R ``lm(distance ~ base + Sex)`` on
``nlme::Orthodont`` (see ``tests/analysis/test_ancova.py`` and ``docs/statistics.md``).

``data`` holds one row per participant for a single post-baseline visit. Complete cases: rows with the
outcome, the baseline and every covariate present (the arm must always be present). The treatment effect is
the arm coefficient (intervention minus control, control = reference); its SE is from the classical OLS
covariance s^2 (X'X)^-1, and the p-value and confidence interval use the t distribution with the residual
degrees of freedom n - p, exactly as ``summary(lm(...))`` in R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import stats  # type: ignore[import-untyped]

from analysis.stats.design import add_covariates, full_rank_design, require_numeric

__all__ = ["AncovaResult", "fit_ancova"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class AncovaResult:
    """Result of :func:`fit_ancova`: the adjusted intervention-minus-control difference at one visit."""

    n: int  # complete cases used
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    df: int  # residual degrees of freedom n - p
    residual_sd: float
    fixed_effects: pd.DataFrame  # index: term; columns: estimate, se, t, p
    n_by_arm: dict[Any, int] = field(default_factory=dict)
    n_excluded: int = 0  # rows dropped because the outcome, baseline or a covariate was missing
    control: Any = None
    intervention: Any = None


def fit_ancova(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    control: Any,
    baseline: str,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
) -> AncovaResult:
    """OLS of ``outcome`` on ``baseline`` + ``arm`` + ``covariates`` for one visit, complete cases.

    ``arm`` must have exactly two levels among the complete cases, one of them ``control``. Numeric
    covariates enter as continuous terms, others (strings, categoricals, booleans) as dummies (first sorted
    level = reference). Raises ``ValueError`` naming the problem for bad input."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    needed = [outcome, arm, baseline, *covariates]
    for name in needed:
        if name not in data.columns:
            raise ValueError(f"column {name!r} is missing from the data")
    if len(set(needed)) != len(needed):
        raise ValueError(f"the same column is used twice among {needed}")
    df = data[needed]
    for name in (outcome, baseline):
        require_numeric(df[name], name)
        if np.isinf(df[name].to_numpy(dtype=float, na_value=np.nan)).any():
            raise ValueError(f"column {name!r} has infinite values")
    if df[arm].isna().any():
        raise ValueError(f"column {arm!r} has missing values")
    complete = df.dropna(subset=[outcome, baseline, *covariates]).reset_index(drop=True)
    arms = sorted(complete[arm].unique().tolist(), key=str)
    if control not in arms:
        raise ValueError(f"control arm {control!r} not found among complete cases in column {arm!r} (arms: {arms})")
    if len(arms) != 2:
        raise ValueError(f"column {arm!r} must have exactly 2 arms among complete cases (found {arms})")
    intervention = next(a for a in arms if a != control)

    cols: dict[str, FloatArray] = {
        "(Intercept)": np.ones(len(complete)),
        baseline: complete[baseline].to_numpy(dtype=float),
        f"{arm}[{intervention}]": (complete[arm] == intervention).to_numpy(dtype=float),
    }
    add_covariates(cols, complete, covariates)
    n, p = len(complete), len(cols)
    if n <= p:
        raise ValueError(f"too few complete cases ({n}) for {p} coefficients in column {outcome!r}")
    terms, x = full_rank_design(cols)
    y = complete[outcome].to_numpy(dtype=float)

    q_mat, r_mat = np.linalg.qr(x)
    beta = np.linalg.solve(r_mat, q_mat.T @ y)
    resid = y - x @ beta
    df_resid = n - p
    sigma2 = float(resid @ resid) / df_resid
    r_inv = np.linalg.inv(r_mat)
    cov = sigma2 * (r_inv @ r_inv.T)
    ses = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_vals = beta / ses
    p_vals = 2 * stats.t.sf(np.abs(t_vals), df_resid)
    fixed = pd.DataFrame({"estimate": beta, "se": ses, "t": t_vals, "p": p_vals}, index=pd.Index(terms, name="term"))
    k = terms.index(f"{arm}[{intervention}]")
    est, se = float(beta[k]), float(ses[k])
    q = float(stats.t.ppf(1 - alpha / 2, df_resid))
    return AncovaResult(
        n=n,
        estimate=est,
        se=se,
        ci_low=est - q * se,
        ci_high=est + q * se,
        p=float(p_vals[k]),
        df=df_resid,
        residual_sd=math.sqrt(sigma2),
        fixed_effects=fixed,
        n_by_arm={a: int((complete[arm] == a).sum()) for a in arms},
        n_excluded=len(df) - n,
        control=control,
        intervention=intervention,
    )
