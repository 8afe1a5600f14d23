"""Observed means by arm and week (analysis.stats.descriptive.trajectories), against hand computation and
scipy.stats.t on a small frame in the long layout."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from scipy import stats  # type: ignore[import-untyped]

from analysis.stats.descriptive import trajectories


def _long() -> pd.DataFrame:
    rows: list[tuple[Any, ...]] = [
        # arm A: baseline 10, 12, 14, missing; week 4: 6, 9 (two missing); week 8: only P1 answered
        ("P1", "A", "baseline", 0, 10.0),
        ("P2", "A", "baseline", 0, 12.0),
        ("P3", "A", "baseline", 0, 14.0),
        ("P4", "A", "baseline", 0, None),
        ("P1", "A", "week4", 4, 6.0),
        ("P2", "A", "week4", 4, 9.0),
        ("P3", "A", "week4", 4, None),
        ("P4", "A", "week4", 4, None),
        ("P1", "A", "week8", 8, 5.0),
        ("P2", "A", "week8", 8, None),
        # arm B: baseline 11, 15; week 4 nobody answered; B has no week-8 rows at all
        ("P5", "B", "baseline", 0, 11.0),
        ("P6", "B", "baseline", 0, 15.0),
        ("P5", "B", "week4", 4, None),
        ("P6", "B", "week4", 4, None),
        # a screened, never randomized person (no arm) and another instrument / scale: ignored
        ("P7", None, "baseline", 0, 27.0),
    ]
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "visit", "week", "value"])
    frame["instrument"] = "phq9"
    frame["scale"] = "total"
    other = frame.assign(instrument="gad7", value=100.0)
    sub = frame.assign(scale="somatic", value=-50.0)
    return pd.concat([frame, other, sub], ignore_index=True)


def _row(result: list[dict[str, Any]], arm: str, week: int) -> dict[str, Any]:
    (row,) = [r for r in result if r["arm"] == arm and r["week"] == week]
    return row


def test_means_sds_and_t_intervals_match_hand_computation() -> None:
    result = trajectories(_long(), instrument="phq9")

    row = _row(result, "A", 0)  # 10, 12, 14: mean 12, sd 2, se 2/sqrt(3), t(0.975, 2) = 4.302653
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(12.0)
    assert row["sd"] == pytest.approx(2.0)
    assert row["se"] == pytest.approx(2.0 / math.sqrt(3))
    half = 4.302652729911275 * 2.0 / math.sqrt(3)
    assert row["ci_low"] == pytest.approx(12.0 - half)
    assert row["ci_high"] == pytest.approx(12.0 + half)

    row = _row(result, "A", 4)  # 6, 9: mean 7.5, sd sqrt(4.5), t(0.975, 1) = 12.7062
    sd = math.sqrt(4.5)
    assert (row["n"], row["mean"], row["sd"]) == (2, pytest.approx(7.5), pytest.approx(sd))
    q = stats.t.ppf(0.975, 1)
    assert q == pytest.approx(12.706204736)
    assert row["ci_low"] == pytest.approx(7.5 - q * sd / math.sqrt(2))
    assert row["ci_high"] == pytest.approx(7.5 + q * sd / math.sqrt(2))

    row = _row(result, "B", 0)  # 11, 15
    assert row["mean"] == pytest.approx(13.0) and row["sd"] == pytest.approx(math.sqrt(8.0))


def test_one_value_gives_a_mean_without_interval_and_none_gives_n_zero() -> None:
    result = trajectories(_long(), instrument="phq9")
    assert _row(result, "A", 8) == {"arm": "A", "week": 8, "n": 1, "mean": 5.0, "sd": None, "se": None,
                                    "ci_low": None, "ci_high": None}  # fmt: skip
    empty = {"n": 0, "mean": None, "sd": None, "se": None, "ci_low": None, "ci_high": None}
    assert _row(result, "B", 4) == {"arm": "B", "week": 4, **empty}  # rows present, all missing
    assert _row(result, "B", 8) == {"arm": "B", "week": 8, **empty}  # no rows at all for B at week 8


def test_sorted_by_arm_then_week_json_safe_and_scale_selected() -> None:
    result = trajectories(_long(), instrument="phq9")
    assert [(r["arm"], r["week"]) for r in result] == [("A", 0), ("A", 4), ("A", 8), ("B", 0), ("B", 4), ("B", 8)]
    assert all(isinstance(r["week"], int) and isinstance(r["n"], int) for r in result)
    text = json.dumps(result, allow_nan=False)  # raises on NaN / inf
    assert json.loads(text) == result

    sub = trajectories(_long(), instrument="phq9", scale="somatic")
    assert _row(sub, "A", 0)["mean"] == pytest.approx(-50.0)
    assert (
        sum(r["n"] for r in trajectories(_long(), instrument="gad7")) == 14
    )  # every row has a value; the arm-less one is ignored


def test_a_participant_counts_once_per_week_and_strings_are_coerced() -> None:
    frame = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P3"],
            "arm": ["A", "A", "A", "A"],
            "visit": ["baseline", "baseline-repeat", "baseline", "baseline"],
            "week": ["0", "0", "0", "0"],
            "instrument": "phq9",
            "scale": "total",
            "value": ["4", "100", "6", "not a number"],
        }
    )
    (row,) = trajectories(frame, instrument="phq9")
    assert row["week"] == 0 and row["n"] == 2 and row["mean"] == pytest.approx(5.0)


def test_agrees_with_a_large_random_frame() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(10, 3, size=200)
    frame = pd.DataFrame(
        {
            "participant_id": [f"P{i}" for i in range(200)],
            "arm": ["x" if i % 2 else "y" for i in range(200)],
            "week": 4,
            "instrument": "gad7",
            "scale": "total",
            "value": values,
        }
    )
    result = trajectories(frame, instrument="gad7")
    for row, chunk in zip(result, (values[1::2], values[0::2]), strict=True):
        low, high = stats.t.interval(0.95, len(chunk) - 1, loc=chunk.mean(), scale=stats.sem(chunk))
        assert row["n"] == 100
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)


def test_missing_columns_and_unknown_instrument() -> None:
    with pytest.raises(ValueError, match="week"):
        trajectories(_long().drop(columns=["week"]), instrument="phq9")
    assert trajectories(_long(), instrument="wcs") == []
