"""MMRM (analysis.stats.mmrm.fit_mmrm, REML, unstructured covariance) at 1,000 ... 100,000 participants x 2
post-baseline visits, on trials simulated by analysis.stats.simulation_study.simulate_trial (MAR dropout),
and on the long file exported from the bench database. Baseline: ordinary least squares of the same fixed
effects on the same rows (numpy lstsq), the simplest fit of that mean model.

``versus_r`` times the unstructured REML fit at 1,000 participants x 2 ... 15 post-baseline visits against R
mmrm's default fit (``mmrm(y ~ baseline + stratum + arm * visit + us(visit | participant_id))``) on the same
rows, measured in the same run when Rscript and the mmrm package are available:

    python -m bench.mmrm_bench --versus-r [--visits 2,5,10,15] [--participants 1000] [--repeats 3]
        [--intermittent 0.1]
"""

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


#: R mmrm 0.3.18 (TMB 1.9.2, R 4.2.2) default fit at 1,000 participants x 10 visits on this project's 2-core VM,
#: used when Rscript or mmrm is not available (bench/mmrm_bench.py --versus-r, 2026-12-05).
R_RECORDED_SECONDS = {10: 2.4}

_R_SCRIPT = r"""
suppressPackageStartupMessages(library(mmrm))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$visit <- factor(d$week, levels = sort(unique(d$week)))
d$participant_id <- factor(d$participant_id)
d$arm <- relevel(factor(d$arm), ref = args[2])
d$stratum <- factor(d$stratum)
best <- Inf
for (i in seq_len(as.integer(args[3]))) {
  t <- system.time(fit <- mmrm(y ~ baseline + stratum + arm * visit + us(visit | participant_id), data = d))
  best <- min(best, t[["elapsed"]])
}
cat(sprintf("%.6f %.9f %s\n", best, as.numeric(logLik(fit)), fit$opt_details$convergence == 0))
"""


def _simulate_visits(n_participants: int, n_visits: int, seed: int, intermittent: float = 0.0) -> tuple[Any, str]:
    """MAR monotone dropout (so about one missingness pattern per visit); with ``intermittent`` > 0 that
    fraction of the remaining post-baseline values is also dropped completely at random (non-monotone:
    many more patterns, the costly case for pattern grouping)."""
    from analysis.stats.simulation_study import CONTROL, Dropout, TrialDesign, simulate_trial

    design = TrialDesign(
        n_per_arm=n_participants // 2,
        weeks=tuple(range(1, n_visits + 1)),
        control_means=tuple(12.5 - 0.3 * i for i in range(n_visits)),
        residual_sds=tuple(4.5 + 0.1 * i for i in range(n_visits)),
    )
    frame = simulate_trial(
        design=design,
        effect=tuple(-0.2 * i for i in range(n_visits)),
        dropout=Dropout(mechanism="mar", hazard_control=(0.05,) * n_visits, hazard_intervention=(0.04,) * n_visits),
        rng=np.random.default_rng(seed),
    )
    observed = frame[frame["y"].notna()].reset_index(drop=True)
    if intermittent > 0:
        keep = np.random.default_rng(seed + 1).random(len(observed)) >= intermittent
        # Keep each participant's first value so nobody drops out of the analysis set.
        keep |= ~observed.duplicated("participant_id")
        observed = observed[keep].reset_index(drop=True)
    return observed, CONTROL


def _r_available() -> bool:
    import shutil
    import subprocess

    if shutil.which("Rscript") is None:
        return False
    done = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('mmrm', quietly = TRUE))"], capture_output=True, check=False
    )
    return done.returncode == 0


def _r_seconds(frame: Any, control: str, repeats: int) -> tuple[float, float, bool]:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "data.csv", Path(tmp) / "fit.R"
        frame[["participant_id", "arm", "stratum", "week", "baseline", "y"]].to_csv(data, index=False)
        script.write_text(_R_SCRIPT)
        out = subprocess.run(
            ["Rscript", str(script), str(data), control, str(repeats)], capture_output=True, text=True, check=True
        )
    seconds, loglik, converged = out.stdout.split()
    return float(seconds), float(loglik), converged == "TRUE"


def versus_r(
    visits: list[int], *, participants: int = 1000, repeats: int = 3, seed: int = 1, intermittent: float = 0.0
) -> list[dict[str, Any]]:
    """Ours (best of ``repeats`` fits, fit_mmrm as called, design building included; it runs on one BLAS
    thread, analysis.stats.blas) against R mmrm's default fit (best of ``repeats``, ``system.time`` of the
    ``mmrm()`` call, likewise including its model frame; TMB is single-threaded)."""
    with_r = _r_available()
    rows = []
    for t in visits:
        frame, control = _simulate_visits(participants, t, seed, intermittent)
        times, result = [], None
        for _ in range(repeats):
            seconds, result = fit(frame, control=control, covariates=["stratum"])
            times.append(seconds)
        assert result is not None
        row: dict[str, Any] = {
            "visits": t,
            "covariance_parameters": t * (t + 1) // 2,
            "observations": len(frame),
            "patterns": result.n_patterns,
            "seconds": min(times),
            "loglik": result.loglik,
            "newton_decrement": result.newton_decrement,
            "converged": result.converged,
        }
        if with_r:
            r_sec, r_loglik, r_conv = _r_seconds(frame, control, repeats)
            row.update(r_seconds=r_sec, r_loglik=r_loglik, r_converged=r_conv, r_source="measured")
        elif t in R_RECORDED_SECONDS:
            row.update(r_seconds=R_RECORDED_SECONDS[t], r_source="recorded")
        rows.append(row)
        r_text = f"R {row['r_seconds']:.2f} s ({row['r_source']})" if "r_seconds" in row else "R n/a"
        print(f"  {participants} x {t} visits: ours {row['seconds']:.2f} s, {r_text}", flush=True)
    return rows


def _table(rows: list[dict[str, Any]], participants: int, intermittent: float = 0.0) -> str:
    lines = [
        "| visits | cov. parameters | observations | patterns | ours (s) | R mmrm (s) | R / ours | "
        "-2 logLik ours - R |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        r_sec = r.get("r_seconds")
        r_text = "" if r_sec is None else f"{r_sec:.2f}" + (" (recorded)" if r.get("r_source") == "recorded" else "")
        ratio = "" if r_sec is None else f"{r_sec / r['seconds']:.1f}"
        diff = f"{-2 * (r['loglik'] - r['r_loglik']):.1e}" if "r_loglik" in r else ""
        lines.append(
            f"| {r['visits']} | {r['covariance_parameters']} | {r['observations']:,} | {r['patterns']} | "
            f"{r['seconds']:.2f} | {r_text} | {ratio} | {diff} |"
        )
    missing = "MAR monotone dropout" + (f" + {intermittent:.0%} intermittent MCAR" if intermittent else "")
    return f"{participants:,} participants, {missing}, unstructured covariance, REML\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versus-r", action="store_true", help="ours vs R mmrm, unstructured, by number of visits")
    parser.add_argument("--visits", default="2,3,4,5,6,8,10,12,15")
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--intermittent", type=float, default=0.0, help="also drop this fraction at random")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if not args.versus_r:
        parser.error("nothing to do: give --versus-r (the other MMRM benchmarks run from bench/run.py)")
    visits = [int(v) for v in args.visits.split(",")]
    rows = versus_r(visits, participants=args.participants, repeats=args.repeats, intermittent=args.intermittent)
    print()
    print(_table(rows, args.participants, args.intermittent))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
