"""Export of the long file (analysis.exports.long_csv, the code behind /api/v1/.../exports/long.csv and
manage.py export_long), against PostgreSQL COPY (query) TO STDOUT of the same rows. Each run is a fresh
process; its peak RSS is its VmHWM.

The two are timed in pairs, one of each, the order alternating from pair to pair (project first, then COPY
first, ...), and the ratio is of the medians: a drift of the machine's speed during the runs (this VM's
drifts by tens of percent over minutes) then falls on both sides instead of on whichever ran first."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench import common


def _child(mode: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [common.PYTHON, str(common.ROOT / "bench" / "export_child.py"), mode, str(out)],
        env=common.bench_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
        cwd=common.ROOT,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(*, workdir: Path, repeat: int = 3, keep: Path | None = None) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    project_out, copy_out = workdir / "long_project.csv", workdir / "long_copy.csv"
    outs = {"project": project_out, "copy": copy_out}
    runs: dict[str, list[dict[str, Any]]] = {"project": [], "copy": []}
    for i in range(repeat):
        for mode in ("project", "copy") if i % 2 == 0 else ("copy", "project"):
            runs[mode].append(_child(mode, outs[mode]))
    project, copy = runs["project"], runs["copy"]
    p_s = statistics.median(r["seconds"] for r in project)
    c_s = statistics.median(r["seconds"] for r in copy)
    pair_ratios = [p["seconds"] / c["seconds"] for p, c in zip(project, copy, strict=True)]
    result = {
        "rows": project[-1]["lines"] - 1,
        "copy_rows": copy[-1]["lines"] - 1,
        "bytes": project[-1]["bytes"],
        "copy_bytes": copy[-1]["bytes"],
        "project_seconds_median": p_s,
        "project_runs": project,
        "copy_seconds_median": c_s,
        "copy_runs": copy,
        "project_rows_per_second": (project[-1]["lines"] - 1) / p_s,
        "ratio": p_s / c_s,
        "pair_ratios": pair_ratios,
        "project_peak_rss_mib": max(r["peak_rss_mib"] for r in project),
        "copy_peak_rss_mib": max(r["peak_rss_mib"] for r in copy),
    }
    if keep is not None:
        project_out.replace(keep)
    copy_out.unlink(missing_ok=True)
    project_out.unlink(missing_ok=True)
    return result
