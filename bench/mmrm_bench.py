"""MMRM (analysis.stats.mmrm.fit_mmrm, REML, unstructured covariance) at 1,000 ... 100,000 participants x 2
post-baseline visits, on trials simulated by analysis.stats.simulation_study.simulate_trial (MAR dropout),
and on the long file exported from the bench database. Baseline: ordinary least squares of the same fixed
effects on the same rows (numpy lstsq), the simplest fit of that mean model."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np


def _ols_seconds(frame: Any) -> float:
    import pandas as pd

    start = time.perf_counter()
    x = pd.get_dummies(
        frame[["arm", "visit", "stratum"]].astype(str) if "stratum" in frame else frame[["arm", "visit"]].astype(str),
        drop_first=True,
        dtype=float,
    )
    inter = x.filter(like="arm_").to_numpy()[:, :1] * x.filter(like="visit_").to_numpy()
    design = np.column_stack([np.ones(len(frame)), frame["baseline"].to_numpy(float), x.to_numpy(), inter])
    np.linalg.lstsq(design, frame["y"].to_numpy(float), rcond=None)
    return time.perf_counter() - start


def fit(frame: Any, *, control: str, covariates: list[str]) -> tuple[float, Any]:
    from analysis.stats.mmrm import fit_mmrm

    start = time.perf_counter()
    result = fit_mmrm(
        frame,
        outcome="y",
        subject="participant_id",
        visit="week",
        arm="arm",
        control=control,
        baseline="baseline",
        covariates=covariates,
    )
    return time.perf_counter() - start, result


def scaling(sizes: list[int], *, seed: int = 1) -> dict[str, Any]:
    from analysis.stats.simulation_study import CONTROL, Dropout, TrialDesign, simulate_trial

    rows = []
    for n in sizes:
        frame = simulate_trial(
            design=TrialDesign(n_per_arm=n // 2),
            effect=(-1.0, -2.0),
            dropout=Dropout(mechanism="mar"),
            rng=np.random.default_rng(seed),
        )
        observed = frame[frame["y"].notna()].reset_index(drop=True)
        seconds, result = fit(observed, control=CONTROL, covariates=["stratum"])
        ols = min(_ols_seconds(observed) for _ in range(3))
        rows.append(
            {
                "participants": n,
                "observations": len(observed),
                "seconds": seconds,
                "ols_seconds": ols,
                "ratio_to_ols": seconds / ols,
                "converged": result.converged,
                "estimates": [v.estimate for v in result.visits],
            }
        )
        print(f"  mmrm n={n}: {seconds:.2f} s ({len(observed)} obs)", flush=True)
    # Growth exponent: slope of log(time) on log(n), over the whole range and over the top half.
    logs = [(math.log(r["participants"]), math.log(r["seconds"])) for r in rows]
    slope = float(np.polyfit([a for a, _ in logs], [b for _, b in logs], 1)[0]) if len(logs) > 1 else None
    return {"sizes": rows, "log_log_slope": slope}


def on_export(path: Path) -> dict[str, Any]:
    """The analysis path of ``manage.py analyze --from-csv``: read the long file, build the PHQ-9 model frame,
    fit the MMRM."""
    from analysis.stats.primary import model_frame, read_long_csv

    start = time.perf_counter()
    long = read_long_csv(path)
    frame = model_frame(long, instrument="phq9", control="A", covariates=["condition"])
    prep = time.perf_counter() - start
    observed = frame.data[frame.data["y"].notna()].reset_index(drop=True)
    seconds, result = fit(observed, control=frame.control, covariates=["condition"])
    return {
        "participants": frame.n_participants,
        "observations": len(observed),
        "read_and_frame_seconds": prep,
        "mmrm_seconds": seconds,
        "converged": result.converged,
    }
