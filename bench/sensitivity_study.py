"""Simulation study of the missing-data sensitivity analyses: type I error, coverage and bias of MAR multiple
imputation, jump to reference (J2R) and copy reference (CR).

    .venv/bin/python bench/sensitivity_study.py [--reps 500] [--m 30] [--n-per-arm 105] [--seed 1]

Pure numpy/scipy/pandas; needs no Django settings and no database. Data come from the data-generating model of
``analysis.stats.simulation_study`` (PHQ-9-like baseline, weeks 4 and 8, unstructured residual covariance,
three strata, monotone MAR dropout whose odds rise with the last observed score, arm-differential hazards).

One set of replications serves the three methods, each judged against its own estimand. The observed data
are the same whatever the dropouts' unobserved outcomes are (dropout depends on observed values only); what
differs is the assumption about those outcomes, hence the true treatment-policy effect:

- MAR: dropouts' outcomes follow their own arm's model; the truth is the simulated effect delta_t.
- J2R: an intervention participant's outcomes after dropout have the control arm's mean and the same residual
  (y_t - delta_t for t after dropout), i.e. (y_obs, y_post) ~ N((mu_active,obs, mu_ref,post), Sigma).
- CR: after dropout y_post = y_post - delta_post + Sigma_po Sigma_oo^-1 delta_obs, i.e. the whole profile is
  the control arm's, conditional on the observed values.

The true treatment-policy effect under J2R / CR is the ANCOVA coefficient (y_t ~ baseline + arm + stratum) in
the counterfactual complete data, computed by one large simulation (``--truth-n`` participants per arm).
Under no effect all three truths are 0. Writes JSON (default ``bench/results/sensitivity_study.json``); the
design and the measured figures are in ``docs/statistics.md`` ("Sensitivity analyses for missing data").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.stats import sensitivity as sens  # noqa: E402
from analysis.stats.simulation_study import (  # noqa: E402
    CONTROL,
    INTERVENTION,
    Dropout,
    MethodRecords,
    TrialDesign,
    VisitSummary,
    simulate_trial,
    summarize_method,
    wald_intervals,
    within_mc_band,
)

DEFAULT_OUT = ROOT / "bench" / "results" / "sensitivity_study.json"
METHODS = {"mar": "MAR MI", "j2r": "J2R", "cr": "CR"}
LABELS = {**METHODS, "j2r_boot": "J2R bt", "cr_boot": "CR bt"}


def counterfactual(frame: Any, design: TrialDesign, effect: tuple[float, ...], method: str) -> np.ndarray:
    """The complete outcomes (n x T) under ``method``'s assumption about the intervention arm's dropouts, from a
    frame of :func:`simulate_trial` whose ``y`` is NaN after dropout. The full-data outcomes are rebuilt from
    the frame's ``y_full`` column."""
    t = len(design.weeks)
    y = frame["y_full"].to_numpy().reshape(-1, t).copy()
    missing = frame["y"].isna().to_numpy().reshape(-1, t)
    treated = (frame["arm"].to_numpy() == INTERVENTION).reshape(-1, t)[:, 0]
    delta = np.asarray(effect, dtype=np.float64)
    if method == "mar":
        return y
    sigma = design.covariance
    for pattern in {tuple(row) for row in missing[treated]}:
        miss = np.array(pattern, dtype=bool)
        if not miss.any():
            continue
        rows = treated & (missing == miss).all(axis=1)
        post = np.flatnonzero(miss)
        obs = np.flatnonzero(~miss)
        shift = -delta[post]
        if method == "cr" and obs.size:
            k = sigma[np.ix_(post, obs)] @ np.linalg.inv(sigma[np.ix_(obs, obs)])
            shift = shift + k @ delta[obs]
        y[np.ix_(np.flatnonzero(rows), post)] += shift
    return y


def _simulate(design: TrialDesign, effect: tuple[float, ...], dropout: Dropout, rng: np.random.Generator) -> Any:
    """:func:`simulate_trial` plus the full-data outcome (the same draws with dropout switched off)."""
    state = rng.bit_generator.state
    full = simulate_trial(design=design, effect=effect, dropout=Dropout(), rng=rng)
    rng.bit_generator.state = state
    frame = simulate_trial(design=design, effect=effect, dropout=dropout, rng=rng)
    frame["y_full"] = full["y"].to_numpy()
    return frame


def true_effects(
    design: TrialDesign, effect: tuple[float, ...], dropout: Dropout, *, n_per_arm: int, seed: int
) -> dict[str, list[float]]:
    """Treatment-policy truths per method: the ANCOVA arm coefficient at each visit in one very large trial's
    counterfactual complete data (exactly delta under MAR, exactly 0 under no effect)."""
    big = TrialDesign(**{**asdict(design), "n_per_arm": n_per_arm})
    frame = _simulate(big, effect, dropout, np.random.default_rng(seed))
    t = len(design.weeks)
    first = frame.iloc[::t]
    x = [np.ones(len(first)), first["baseline"].to_numpy(), (first["arm"] == INTERVENTION).to_numpy(float)]
    if design.strata:
        for name, _ in design.strata[1:]:
            x.append((first["stratum"] == name).to_numpy(float))
    xm = np.column_stack(x)
    # truth = delta + the arm coefficient of the counterfactual shift (zero except for intervention dropouts),
    # which has far less simulation noise than the coefficient of the outcomes themselves.
    y_full = frame["y_full"].to_numpy().reshape(-1, t)
    out = {}
    for method in METHODS:
        shift = counterfactual(frame, big, effect, method) - y_full
        beta = np.linalg.lstsq(xm, shift, rcond=None)[0]
        out[method] = [float(e + b) for e, b in zip(effect, beta[2], strict=True)]
    return out


def run(
    *,
    reps: int,
    m: int,
    seed: int,
    design: TrialDesign,
    effect: tuple[float, ...],
    dropout: Dropout,
    bootstrap: int = 0,
    bootstrap_reps: int = 0,
) -> tuple[dict[str, MethodRecords], float]:
    """MAR MI, J2R and CR (Rubin's rules) in each replication; with ``bootstrap`` > 0 also J2R and CR with the
    bootstrapped-MI SE (normal CI) in the first ``bootstrap_reps`` replications (keys ``j2r_boot``, ``cr_boot``)."""
    t = len(design.weeks)
    records = {k: MethodRecords.empty(reps, t) for k in METHODS}
    if bootstrap:
        for k in ("j2r", "cr"):
            records[f"{k}_boot"] = MethodRecords.empty(min(reps, bootstrap_reps), t)
    started = time.perf_counter()
    for r in range(reps):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r,)))
        frame = simulate_trial(design=design, effect=effect, dropout=dropout, rng=rng)
        wide = sens.wide_data(
            frame,
            outcome="y",
            subject="participant_id",
            visit="week",
            arm="arm",
            control=CONTROL,
            baseline="baseline",
            covariates=["stratum"] if design.strata else [],
        )
        draws = sens.draw_parameters(wide, m=m, rng=rng)
        for method in METHODS:
            rec = records[method]
            for j, v in enumerate(sens.pooled_visits(sens.impute(wide, draws, method, rng))):  # type: ignore[arg-type]
                rec.estimate[r, j], rec.se[r, j], rec.df[r, j] = v["estimate"], v["se"], v["df"]
                rec.ci_low[r, j], rec.ci_high[r, j], rec.p[r, j] = v["ci_low"], v["ci_high"], v["p"]
        if bootstrap and r < bootstrap_reps:
            for method in ("j2r", "cr"):
                rec, ref = records[f"{method}_boot"], records[method]
                boot = sens.bootstrap_se(wide, method, rng=rng, boot=bootstrap)  # type: ignore[arg-type]
                for j, v in enumerate(boot["visits"]):
                    se = v["se"] if v["se"] is not None else math.nan
                    rec.estimate[r, j], rec.se[r, j], rec.df[r, j] = ref.estimate[r, j], se, math.inf
                    rec.ci_low[r, j], rec.ci_high[r, j], rec.p[r, j] = wald_intervals(
                        np.array(ref.estimate[r, j]), np.array(se), None
                    )
    return records, time.perf_counter() - started


def _json_safe(value: Any) -> Any:
    """NaN and infinities (the normal-theory df of the bootstrap rows) become null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--m", type=int, default=30, help="imputations per replication")
    parser.add_argument("--n-per-arm", type=int, default=105)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--truth-n", type=int, default=400_000, help="participants per arm for the true effects")
    parser.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples for J2R/CR SEs (0 = off)")
    parser.add_argument("--bootstrap-reps", type=int, default=100, help="replications that also get the bootstrap")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    design = TrialDesign(n_per_arm=args.n_per_arm)
    dropout = Dropout(mechanism="mar")
    scenarios = {"null": (0.0, 0.0), "effect": (-2.0, -3.0)}
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    print(f"n = {args.n_per_arm} per arm, {args.reps} replications, M = {args.m}; '!' = outside 3.5 MC SE of nominal")
    head = (
        f"{'scenario':8s} {'method':7s} {'week':>4s} {'truth':>7s} {'bias (MC SE)':>16s} {'emp SE':>7s} "
        f"{'mean SE':>7s} {'reject':>7s} {'cover (MC SE)':>16s}"
    )
    print(head)
    print("-" * len(head))
    for s, (name, effect) in enumerate(scenarios.items()):
        truth = true_effects(design, effect, dropout, n_per_arm=args.truth_n, seed=args.seed + 1000 + s)
        records, seconds = run(
            reps=args.reps,
            m=args.m,
            seed=args.seed * 100 + s,
            design=design,
            effect=effect,
            dropout=dropout,
            bootstrap=args.bootstrap,
            bootstrap_reps=args.bootstrap_reps,
        )
        scenario: dict[str, Any] = {"scenario": name, "effect": list(effect), "seconds": seconds, "methods": {}}
        for method, rec in records.items():
            label = LABELS[method]
            summary: list[VisitSummary] = summarize_method(
                rec, truth=truth[method.removesuffix("_boot")], weeks=design.weeks
            )
            scenario["methods"][method] = [v.as_dict() for v in summary]
            for v in summary:
                flag = "" if within_mc_band(v.coverage, 0.95, v.n_used) else " !"
                print(
                    f"{name:8s} {label:7s} {v.week:4d} {v.truth:7.3f} {_fmt(v.bias):>7s} ({_fmt(v.bias_mc_se)}) "
                    f"{_fmt(v.empirical_se):>7s} {_fmt(v.mean_se):>7s} {_fmt(v.rejection_rate):>7s} "
                    f"{_fmt(v.coverage):>7s} ({_fmt(v.coverage_mc_se)}){flag}"
                )
        print(f"  ({seconds:.0f} s for {args.reps} replications)")
        results.append(scenario)
    elapsed = time.perf_counter() - started
    out = {
        "command": "bench/sensitivity_study.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds_total": elapsed,
        "settings": {
            "reps": args.reps,
            "m": args.m,
            "seed": args.seed,
            "truth_n_per_arm": args.truth_n,
            "bootstrap": args.bootstrap,
            "bootstrap_reps": min(args.bootstrap_reps, args.reps) if args.bootstrap else 0,
            "design": {**asdict(design), "covariance": design.covariance.tolist()},
            "dropout": asdict(dropout),
        },
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "scenarios": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_json_safe(out), indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.out} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
