"""Building fixed-effect design matrices, shared by the models: numeric checks, covariates (numeric ones
as they are, others as treatment-coded dummies with the first level, in sorted order, as reference) and
a full-rank check that names the collinear terms."""

from __future__ import annotations

from collections.abc import Iterable

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
