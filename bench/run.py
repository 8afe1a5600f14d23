"""Run the whole benchmark suite (``make bench``) and write bench/results/bench.json.

    .venv/bin/python bench/run.py --sizes 10000,30000,100000

Creates (drops and recreates) the PostgreSQL database ``trial_bench`` and uses Redis db 15; never touches
the test databases. For each size in ``--sizes`` the trial is grown to that many randomized participants
(bench/load.py) and the sweep and export benchmarks run; at the largest size the live benchmarks
(submission, randomization) and the MMRM on the exported file run too. The MMRM's growth is measured on
simulated trials of ``--mmrm-sizes`` participants. Every load loop is bounded in requests and seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints, default=_ints("10000,30000,100000"), help="participants, ascending")
    parser.add_argument("--mmrm-sizes", type=_ints, default=_ints("1000,3000,10000,30000,100000"))
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the live benchmarks")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--requests", type=int, default=6000, help="most requests per submission run")
    parser.add_argument("--allocations", type=int, default=1500, help="most allocations per randomization run")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest time of one load run")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "bench.json")
    parser.add_argument("--keep-db", action="store_true", help="grow the existing bench database, do not reset")
    args = parser.parse_args()
    sizes = sorted(args.sizes)

    from bench import load

    started = time.perf_counter()
    if not args.keep_db:
        load.reset_database()
    common.setup_django()
    from bench import export_bench, live_bench, mmrm_bench, sweep_bench

    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": common.machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"}
        | {"database": common.BENCH_DB, "redis": common.REDIS_URL},
        "sizes": [],
    }
    results["settings"]["sizes"] = sizes

    def save() -> None:
        results["total_seconds"] = time.perf_counter() - started
        common.write_json(args.out, results)

    with tempfile.TemporaryDirectory(prefix="trial_bench_") as tmp:
        workdir = Path(tmp)
        long_file = workdir / "long_largest.csv"
        for n in sizes:
            print(f"== {n} participants: loading", flush=True)
            entry: dict[str, Any] = {"participants": n, "load": load.grow(n)}
            entry["counts"] = load.table_counts()
            print(f"   {entry['counts']}", flush=True)
            print("   sweep", flush=True)
            entry["sweep"] = sweep_bench.run(repeat=3)
            print(
                f"   sweep {entry['sweep']['sweep_seconds_median']:.3f} s, ratio {entry['sweep']['ratio']:.0f}",
                flush=True,
            )
            print("   export", flush=True)
            largest = n == sizes[-1]
            entry["export"] = export_bench.run(workdir=workdir, repeat=3, keep=long_file if largest else None)
            print(
                f"   export ratio {entry['export']['ratio']:.2f} "
                f"(pairs {', '.join(f'{r:.2f}' for r in entry['export']['pair_ratios'])}), "
                f"peak {entry['export']['project_peak_rss_mib']:.0f} MiB",
                flush=True,
            )
            results["sizes"].append(entry)
            save()

        print("== MMRM on the exported long file", flush=True)
        results["mmrm_on_export"] = mmrm_bench.on_export(long_file)
        save()

    print("== pools for the live benchmarks", flush=True)
    # Open baselines for the submission runs: one set each through the API, the survey pages and the
    # pages' SQL floor.
    results["pools"] = load.add_pools(
        open_baselines=3 * (args.requests // 4 + args.clients), enrolled=2 * args.allocations
    )
    print("== survey submission", flush=True)
    results["submission"] = live_bench.submission(
        clients=args.clients, workers=args.workers, max_requests=args.requests, seconds=args.seconds
    )
    save()
    print(
        f"   ratio {results['submission']['ratio_rps']:.2f} (API), "
        f"{results['submission']['ratio_survey_rps']:.2f} (survey page; its SQL floor "
        f"{results['submission']['ratio_page_floor']:.2f})",
        flush=True,
    )
    print("== randomization", flush=True)
    results["randomization"] = live_bench.randomization(
        clients=args.clients, max_allocations=args.allocations, seconds=args.seconds, api_workers=args.workers
    )
    save()
    print("== MMRM scaling (simulated trials)", flush=True)
    results["mmrm_scaling"] = mmrm_bench.scaling(args.mmrm_sizes)
    results["finished_at"] = datetime.now(UTC).isoformat()
    save()
    print(f"wrote {args.out} in {results['total_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
