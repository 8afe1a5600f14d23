"""Export of the long file (analysis.exports.long_csv, the code behind /api/v1/.../exports/long.csv and
manage.py export_long), against PostgreSQL COPY (query) TO STDOUT of the same rows. Each run is a fresh
process; its peak RSS is read from getrusage."""

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


def run(*, workdir: Path, repeat: int = 2, keep: Path | None = None) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    project_out, copy_out = workdir / "long_project.csv", workdir / "long_copy.csv"
    project = [_child("project", project_out) for _ in range(repeat)]
    copy = [_child("copy", copy_out) for _ in range(repeat)]
    p_s = statistics.median(r["seconds"] for r in project)
    c_s = statistics.median(r["seconds"] for r in copy)
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
        "project_peak_rss_mib": max(r["peak_rss_mib"] for r in project),
        "copy_peak_rss_mib": max(r["peak_rss_mib"] for r in copy),
    }
    if keep is not None:
        project_out.replace(keep)
    copy_out.unlink(missing_ok=True)
    project_out.unlink(missing_ok=True)
    return result
