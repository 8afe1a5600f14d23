"""ANCOVA at one visit (analysis.stats.ancova) against R lm on the public nlme::Orthodont data set.

Reference numbers below were produced by ``Rscript tests/analysis/reference/orthodont_lmm_ancova.R`` (R 4.2.2)
on the committed ``orthodont_{complete,missing}.csv``: at each age 10, 12, 14,

    lm(distance ~ base + Sex, data = d[d$age == a, ])

outcome = distance; baseline = distance at age 8; "arm" = Sex, control = Female. The estimate, SE and p are
the SexMale row of summary(fit); df is fit$df.residual. No R is needed to run these tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.stats.ancova import fit_ancova

REFERENCE = Path(__file__).parent / "reference"

R_ANCOVA_COMPLETE = {
    10: {"n": 27, "estimate": 0.735794023838, "se": 0.716358787032, "p": 0.314600419638, "df": 24},
    12: {"n": 27, "estimate": 1.40527950311, "se": 0.812758855687, "p": 0.0966495254625, "df": 24},
    14: {"n": 27, "estimate": 2.53046835656, "se": 0.812424675698, "p": 0.00471789302879, "df": 24},
}
R_ANCOVA_MISSING = {
    10: {"n": 24, "estimate": 1.03309471366, "se": 0.733742061368, "p": 0.173768835839, "df": 21},
    12: {"n": 24, "estimate": 0.388065826733, "se": 0.818546629069, "p": 0.640327010576, "df": 21},
    14: {"n": 21, "estimate": 2.68785377358, "se": 0.952114595081, "p": 0.0112660875345, "df": 18},
}


def _load(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"orthodont_{name}.csv")


def _fit(data: pd.DataFrame, **kwargs: object):  # type: ignore[no-untyped-def]
    return fit_ancova(data, outcome="distance", arm="Sex", control="Female", baseline="base", **kwargs)


@pytest.mark.parametrize(
    ("name", "age", "ref"),
    [("complete", a, r) for a, r in R_ANCOVA_COMPLETE.items()]
    + [("missing", a, r) for a, r in R_ANCOVA_MISSING.items()],
)
def test_matches_r_lm(name: str, age: int, ref: dict[str, float]) -> None:
    data = _load(name)
    res = _fit(data[data["age"] == age])
    assert res.n == ref["n"]
    assert res.df == ref["df"]
    assert res.estimate == pytest.approx(ref["estimate"], abs=1e-6)
    assert res.se == pytest.approx(ref["se"], abs=1e-6)
    assert res.p == pytest.approx(ref["p"], abs=1e-6)
    assert (res.control, res.intervention) == ("Female", "Male")
    q = stats.t.ppf(0.975, ref["df"])
    assert res.ci_low == pytest.approx(res.estimate - q * res.se)
    assert res.ci_high == pytest.approx(res.estimate + q * res.se)
    assert sum(res.n_by_arm.values()) == res.n


def test_missing_outcome_rows_are_dropped_as_complete_cases() -> None:
    complete = _load("complete")
    dropped = _load("missing")
    with_nan = complete.copy()
    keep = with_nan.set_index(["Subject", "age"]).index.isin(dropped.set_index(["Subject", "age"]).index)
    with_nan.loc[~keep, "distance"] = np.nan
    res = _fit(with_nan[with_nan["age"] == 14])
    assert res.n == R_ANCOVA_MISSING[14]["n"]
    assert res.n_excluded == 6
    assert res.estimate == pytest.approx(R_ANCOVA_MISSING[14]["estimate"], abs=1e-6)


def test_categorical_covariate_enters_as_dummies() -> None:
    data = _load("complete")
    data = data[data["age"] == 14].copy()
    data["site"] = np.where(data["Subject"].str[-1].astype(int) % 3 == 0, "a", "b")
    data["site"] = np.where(data["Subject"].str[-1].astype(int) % 3 == 1, "c", data["site"])
    res = _fit(data, covariates=["site"])
    assert list(res.fixed_effects.index) == ["(Intercept)", "base", "Sex[Male]", "site[b]", "site[c]"]
    assert res.df == res.n - 5
    # Same as OLS by hand with the dummies.
    x = np.column_stack(
        [np.ones(len(data)), data["base"], data["Sex"] == "Male", data["site"] == "b", data["site"] == "c"]
    ).astype(float)
    beta, *_ = np.linalg.lstsq(x, data["distance"].to_numpy(), rcond=None)
    np.testing.assert_allclose(res.fixed_effects["estimate"].to_numpy(), beta, atol=1e-10)
    # A missing covariate value drops that row.
    data.loc[data.index[0], "site"] = None
    assert _fit(data, covariates=["site"]).n == res.n - 1


@pytest.mark.parametrize(
    ("mutate", "kwargs", "message"),
    [
        (lambda d: d.drop(columns="base"), {}, "'base'"),
        (lambda d: d.drop(columns="distance"), {}, "'distance'"),
        (lambda d: d.assign(distance=d["distance"].astype(str)), {}, "'distance'"),
        (lambda d: d.assign(base=d["base"].astype(str)), {}, "'base'"),
        (lambda d: d.assign(Sex=d["Sex"].where(d.index != d.index[0])), {}, "'Sex'"),
        (lambda d: d.assign(Sex="Female"), {}, "exactly 2 arms"),
        (lambda d: d.assign(Sex=d["Sex"].replace({"Female": "F"})), {}, "control arm 'Female'"),
        (lambda d: pd.concat([d.head(2), d.tail(1)]), {}, "too few complete cases"),
        (lambda d: d, {"covariates": ["stratum"]}, "'stratum'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(mutate, kwargs: dict[str, object], message: str) -> None:
    data = _load("complete")
    with pytest.raises(ValueError, match=message):
        _fit(mutate(data[data["age"] == 10]), **kwargs)
