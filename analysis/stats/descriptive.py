"""Descriptive summaries of a dataset in the long layout (DESIGN.md): pure pandas/numpy/scipy, no Django.

:func:`trajectories` gives the observed mean of one instrument and scale per arm and week (baseline, week 0,
included) with its standard deviation, standard error and a t-based 95% confidence interval: the numbers behind
the report's mean-trajectory plots. These are raw means of whoever answered at each visit (no model, no
imputation), so they describe the data; the treatment effect is the MMRM's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from scipy import stats  # type: ignore[import-untyped]

REQUIRED = ("participant_id", "arm", "week", "instrument", "scale", "value")


def _week(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def _summary(values: np.ndarray[Any, np.dtype[np.float64]], level: float) -> dict[str, Any]:
    n = int(values.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "se": None, "ci_low": None, "ci_high": None}
    mean = float(values.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "se": None, "ci_low": None, "ci_high": None}
    sd = float(values.std(ddof=1))
    se = sd / math.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci_low": mean - q * se, "ci_high": mean + q * se}


def trajectories(long: pd.DataFrame, *, instrument: str, scale: str = "total") -> list[dict[str, Any]]:
    """Observed mean of ``instrument`` / ``scale`` per arm and week, sorted by arm then week.

    Each row: ``arm`` (str), ``week`` (int when whole), ``n`` (participants with a value), ``mean``, ``sd``
    (n - 1 denominator), ``se`` = sd / sqrt(n), ``ci_low`` / ``ci_high`` = mean -/+ t(0.975, n - 1) * se.
    Every arm appears at every week found for the instrument, so an arm with no values at a week gets a row
    with ``n`` 0 and nulls; with one value the mean is given and sd, se and the CI are null. Rows without an
    arm (never randomized) are ignored; a participant with several values at one week counts once (the first
    non-missing, as the analysis takes the baseline). No NaN in the result: missing numbers are ``None``.
    Raises ``ValueError`` when a column of the long layout is missing; returns ``[]`` when the instrument and
    scale have no rows."""
    missing = [c for c in REQUIRED if c not in long.columns]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)} of the long layout")
    rows = long.loc[(long["instrument"] == instrument) & (long["scale"] == scale)]
    rows = rows.loc[rows["arm"].notna(), ["participant_id", "arm", "week", "value"]].copy()
    if rows.empty:
        return []
    rows["arm"] = rows["arm"].astype(str)
    rows["week"] = pd.to_numeric(rows["week"], errors="raise")
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    observed = rows.loc[rows["value"].notna() & np.isfinite(rows["value"])]
    first = observed.groupby(["arm", "week", "participant_id"], sort=False)["value"].first().reset_index()
    by_cell = {key: group["value"].to_numpy(dtype=float) for key, group in first.groupby(["arm", "week"])}
    empty = np.array([], dtype=float)
    result = []
    for arm in sorted(rows["arm"].unique()):
        for week in sorted(rows["week"].dropna().unique()):
            values = by_cell.get((arm, week), empty)
            result.append({"arm": arm, "week": _week(week), **_summary(values, 0.95)})
    return result
