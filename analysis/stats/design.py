"""Building fixed-effect design matrices, shared by the models: the repeated-measures input checks,
numeric checks, covariates (numeric ones as they are, others as treatment-coded dummies with the first
level, in sorted order, as reference) and a full-rank check that names the collinear terms."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def require_numeric(series: pd.Series, name: str) -> None:
    if not is_numeric(series):
        raise ValueError(f"column {name!r} must be numeric (got dtype {series.dtype})")


def add_covariates(
    cols: dict[str, FloatArray],
    frame: pd.DataFrame,
    covariates: Iterable[str],
    *,
    levels_from: pd.DataFrame | None = None,
) -> None:
    """Add each covariate's columns to ``cols``. Levels (and so the reference level) come from
    ``levels_from`` when given, so that dropping rows never changes the coding."""
    source = frame if levels_from is None else levels_from
    for name in covariates:
        series = frame[name]
        if is_numeric(series):
            values = series.to_numpy(dtype=float)
            if np.isinf(values).any():
                raise ValueError(f"covariate {name!r} has infinite values")
            cols[str(name)] = values
        else:
            for level in sorted(source[name].unique().tolist(), key=str)[1:]:
                cols[f"{name}[{level}]"] = (series == level).to_numpy(dtype=float)


def full_rank_design(cols: dict[str, FloatArray], *, what: str = "design") -> tuple[list[str], FloatArray]:
    """Stack the columns; refuse a design whose terms are collinear."""
    terms = list(cols)
    x = np.column_stack([cols[t] for t in terms])
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError(f"the {what} is rank deficient (collinear terms among {terms})")
    return terms, x


@dataclass(frozen=True)
class RepeatedMeasures:
    """Checked repeated-measures input: the columns used, the arms (control first), the visits in order,
    and the rows with an observed outcome."""

    data: pd.DataFrame
    arms: list[Any]
    visits: list[Any]
    observed: pd.DataFrame


def repeated_measures(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    control: Any,
    baseline: str | None,
    covariates: Sequence[str],
    check_outcome: Callable[[pd.Series], None] | None = None,
) -> RepeatedMeasures:
    """The input checks every repeated-measures model makes (MMRM, CLMM), each raising ``ValueError`` that
    names the problem: the columns exist and are distinct; subject, visit and arm are never missing; the
    baseline is numeric and, like the covariates, never missing and constant within a participant, as is
    the arm; one row per participant and visit; the control arm exists beside at least one other; every
    visit has an observed outcome in every arm. ``check_outcome`` checks the outcome column first."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    needed = [outcome, subject, visit, arm, *([baseline] if baseline else []), *covariates]
    for name in needed:
        if name not in data.columns:
            raise ValueError(f"column {name!r} is missing from the data")
    if len(set(needed)) != len(needed):
        raise ValueError(f"the same column is used twice among {needed}")
    df = data[needed].copy()
    if check_outcome is not None:
        check_outcome(df[outcome])
    for name in (subject, visit, arm):
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values")
    if baseline:
        require_numeric(df[baseline], baseline)
    for name in [*([baseline] if baseline else []), *covariates]:
        if df[name].isna().any():
            raise ValueError(f"column {name!r} has missing values (NaN); impute or drop those participants")
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
    if observed.empty:
        raise ValueError(f"no observed {outcome!r}")
    for v in visits:
        if not (observed[visit] == v).any():
            raise ValueError(f"visit {v!r} has no observed {outcome!r}")
        for a in arms:
            if not ((observed[visit] == v) & (observed[arm] == a)).any():
                raise ValueError(f"visit {v!r} has no observed {outcome!r} in arm {a!r} of column {arm!r}")
    return RepeatedMeasures(data=df, arms=arms, visits=visits, observed=observed)
