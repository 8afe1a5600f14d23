"""Simulation study of the primary MMRM: type I error, CI coverage and bias, complete data and MAR dropout.

    .venv/bin/python bench/simulation_study.py [--reps 2000] [--n-per-arm 105 [20 ...]] [--seed 1] [--jobs 2]

Pure numpy/scipy/pandas (``analysis.stats.simulation_study``); needs no Django settings and no database. Prints
one table per trial size and writes JSON (default ``bench/results/simulation_study.json``). The design and the
measured figures are in ``docs/statistics.md`` ("Simulation study").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.stats.simulation_study import (  # noqa: E402
    ScenarioSummary,
    TrialDesign,
    default_scenarios,
    run_study,
    within_mc_band,
)

DEFAULT_OUT = ROOT / "bench" / "results" / "simulation_study.json"


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def _flag(rate: float, nominal: float, reps: int) -> str:
    return "" if within_mc_band(rate, nominal, reps) else " !"


def print_table(n_per_arm: int, scenarios: list[ScenarioSummary], alpha: float) -> None:
    print(f"\nn = {n_per_arm} per arm; rates with their Monte Carlo SE; '!' = outside 3.5 MC SE of nominal")
    head = (
        f"{'scenario':16s} {'week':>4s} {'truth':>6s} {'fails':>5s} {'obs C/I':>9s} {'bias (MC SE)':>16s} "
        f"{'emp SE':>7s} {'mod SE':>7s} {'reject (MC SE)':>16s} {'cover (MC SE)':>16s} {'df':>6s} "
        f"{'CC bias':>8s} {'CC rej':>7s} {'CC cov':>7s}"
    )
    print(head)
    print("-" * len(head))
    for sc in scenarios:
        fails = sc.mmrm_not_converged + sc.mmrm_errors
        for j, v in enumerate(sc.mmrm):
            cc = sc.complete_case[j] if sc.complete_case else None
            reject_flag = _flag(v.rejection_rate, alpha, v.n_used) if v.truth == 0 else ""
            cover_flag = _flag(v.coverage, 1 - alpha, v.n_used)
            obs = f"{sc.observed_control[j]:.2f}/{sc.observed_intervention[j]:.2f}"
            print(
                f"{sc.name:16s} {v.week:4d} {v.truth:6.2f} {fails:5d} {obs:>9s} "
                f"{_fmt(v.bias):>7s} ({_fmt(v.bias_mc_se)}) {_fmt(v.empirical_se):>7s} {_fmt(v.mean_se):>7s} "
                f"{_fmt(v.rejection_rate):>7s} ({_fmt(v.rejection_mc_se)}){reject_flag:2s}"
                f"{_fmt(v.coverage):>7s} ({_fmt(v.coverage_mc_se)}){cover_flag:2s}"
                f"{_fmt(v.mean_df, 1):>6s} "
                + (f"{_fmt(cc.bias):>8s} {_fmt(cc.rejection_rate):>7s} {_fmt(cc.coverage):>7s}" if cc else "")
            )
        for message in sc.failures[:5]:
            print(f"    failure: {message}")


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2000, help="replications per scenario (default 2000)")
    parser.add_argument(
        "--n-per-arm", type=int, nargs="+", default=[105], help="participants per arm; several sizes = several runs"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--no-mcar", action="store_true", help="leave out the effect + MCAR scenario")
    parser.add_argument("--no-complete-case", action="store_true", help="skip the complete-case ANCOVA comparison")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    for n in args.n_per_arm:
        design = TrialDesign(n_per_arm=n)
        result = run_study(
            reps=args.reps,
            seed=args.seed,
            design=design,
            scenarios=default_scenarios(design, mcar=not args.no_mcar),
            alpha=args.alpha,
            complete_case=not args.no_complete_case,
            jobs=args.jobs,
            progress=None if args.quiet else lambda msg: print(msg, file=sys.stderr, flush=True),
        )
        print_table(n, result.scenarios, args.alpha)
        print(f"({result.seconds:.0f} s with {args.jobs} worker process(es))")
        runs.append({"n_per_arm": n, **result.as_dict()})
    elapsed = time.perf_counter() - started

    out = {
        "command": "bench/simulation_study.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds_total": elapsed,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor(),
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_json_safe(out), indent=1, allow_nan=False) + "\n")
    print(f"\nwrote {args.out} in {elapsed:.0f} s")
    failures = sum(sc["mmrm_not_converged"] + sc["mmrm_errors"] for run in runs for sc in run["scenarios"])
    if failures:
        print(f"WARNING: {failures} MMRM fit(s) failed; see 'failures' in the JSON", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
