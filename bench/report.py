"""Print the figures of a bench run (bench/results/bench.json) as the Markdown tables of docs/PERFORMANCE.md.

.venv/bin/python bench/report.py [bench/results/bench.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "results" / "bench.json"


def f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def main() -> None:
    data = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else DEFAULT).read_text())
    m = data["machine"]
    print(
        f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"Python {m['python']}, {m['postgresql']}, PostgreSQL settings {m['postgresql_settings']}, "
        f"Redis {m['redis']}, {m['gunicorn']}"
    )
    print(f"command: {data['command']}; total {data.get('total_seconds', 0):.0f} s\n")

    print("| participants | load (s) | scheduled visits | responses | item answers | database |")
    print("|---:|---:|---:|---:|---:|---:|")
    for s in data["sizes"]:
        c = s["counts"]
        print(
            f"| {f(s['participants'])} | {f(s['load']['seconds'], 1)} | {f(c['assessments_scheduledassessment'])} "
            f"| {f(c['assessments_response'])} | {f(c['item_answers'])} | {c['database_bytes'] / 2**20:,.0f} MiB |"
        )
    print()

    print(
        "| participants | visits due | sweep (ms, median of 3) | ms per due row | idle sweep (ms) "
        "| index-only select (ms) | ratio | same work in one SQL statement (ms) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in data["sizes"]:
        w = s["sweep"]
        same = w.get("same_work_seconds_median")
        print(
            f"| {f(s['participants'])} | {f(w['due'])} ({100 * w['due_fraction']:.2f}%) "
            f"| {f(1000 * w['sweep_seconds_median'], 1)} | {f(w['sweep_ms_per_due_row'], 3)} "
            f"| {f(1000 * w['idle_sweep_seconds_median'], 1)} | {f(1000 * w['baseline_seconds_median'], 2)} "
            f"| {f(w['ratio'], 1)} | {f(None if same is None else 1000 * same, 1)} "
            f"| {f(w.get('ratio_same_work'), 1)} |"
        )
    print()

    print(
        "| participants | rows | project (s) | rows/s | COPY (s) | ratio | pairs "
        "| project peak RSS (MiB) | COPY peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in data["sizes"]:
        e = s["export"]
        pairs = e.get("pair_ratios")
        spread = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "-"
        print(
            f"| {f(s['participants'])} | {f(e['rows'])} | {f(e['project_seconds_median'], 1)} "
            f"| {f(e['project_rows_per_second'], 0)} | {f(e['copy_seconds_median'], 2)} | {f(e['ratio'], 2)} "
            f"| {spread} | {f(e['project_peak_rss_mib'], 0)} | {f(e['copy_peak_rss_mib'], 0)} |"
        )
    print()

    if "submission" in data:
        sub = data["submission"]
        print("| submission | clients | requests | succeeded | rps | p50 (ms) | p90 (ms) | p99 (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in ("project", "survey_page", "page_floor", "drf_floor", "baseline"):
            if name not in sub:
                continue
            r = sub[name]
            print(
                f"| {name} | {r['clients']} | {f(r['requests'])} | {f(r['ok'])} | {f(r['rps'], 1)} "
                f"| {f(r['p50_ms'], 1)} | {f(r['p90_ms'], 1)} | {f(r['p99_ms'], 1)} |"
            )
        print(
            f"\nratio {sub['ratio_rps']:.3f} (API), {f(sub.get('ratio_survey_rps'), 3)} (survey page) "
            f"(DRF floor / bare {f(sub.get('ratio_drf_floor'), 3)}, "
            f"project / DRF floor {f(sub.get('ratio_to_drf_floor'), 3)}; "
            f"page floor / bare {f(sub.get('ratio_page_floor'), 3)}, "
            f"survey page / page floor {f(sub.get('ratio_survey_to_floor'), 3)}); "
            f"responses written {sub['responses_written']}, "
            f"visits completed {sub['visits_completed']} (API), {sub.get('survey_visits_completed', '-')} "
            f"(survey page), {sub.get('floor_visits_completed', '-')} (page floor); {sub['gunicorn']}\n"
        )

    if "randomization" in data:
        r = data["randomization"]
        print("| randomization | clients | attempts | outcomes | per second | p50 (ms) | p99 (ms) |")
        print("|---|---:|---:|---|---:|---:|---:|")
        for name, key, rate in (
            ("project service", "project_service", "per_second"),
            ("project API (gunicorn)", "project_api", "rps"),
            ("raw lock-and-insert", "baseline_raw", "per_second"),
        ):
            x = r[key]
            outcomes = x.get("outcomes") or x.get("statuses")
            print(
                f"| {name} | {x['clients']} | {f(x.get('attempts', x.get('requests')))} | {outcomes} "
                f"| {f(x[rate], 1)} | {f(x['p50_ms'], 1)} | {f(x['p99_ms'], 1)} |"
            )
        print(
            f"\nratio {r['ratio']:.3f} (API {r['ratio_api']:.3f}); anomalies {r['anomalies']}; "
            f"raw {r['baseline_raw']['anomalies']}\n"
        )

    if "mmrm_scaling" in data:
        print("| participants | observations | MMRM (s) | OLS (s) | ratio | converged |")
        print("|---:|---:|---:|---:|---:|---|")
        for row in data["mmrm_scaling"]["sizes"]:
            print(
                f"| {f(row['participants'])} | {f(row['observations'])} | {f(row['seconds'], 2)} "
                f"| {f(row['ols_seconds'], 3)} | {f(row['ratio_to_ols'], 0)} | {row['converged']} |"
            )
        print(f"\nlog-log slope {data['mmrm_scaling']['log_log_slope']:.2f}")
    if "mmrm_on_export" in data:
        print(f"on export: {data['mmrm_on_export']}")


if __name__ == "__main__":
    main()
