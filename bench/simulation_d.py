"""The simulated trial's Cohen's d against the published d, over several seeds (docs/simulation.md, "Cohen's d").

    DEBUG=1 .venv/bin/python bench/simulation_d.py [--seeds 1 2 3 4 5] [--participants 210] [--out FILE.json]

Each seed runs what ``make demo`` runs, in a scratch SQLite database of its own (a temporary VAR_DIR):
``simulate_trial --participants N --seed S --lock``, then ``analyze --unblinded --json``. Per condition's own
scale and visit it prints the mean and range over the seeds of d (MMRM difference / pooled baseline SD), the
MMRM difference, the pooled baseline SD and the within-arm mean changes, next to the published figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assessments.simulation.outcomes import CHATBOT, PUBLISHED_CHANGE, PUBLISHED_D, WAITLIST  # noqa: E402


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as err:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=err, stderr=err)


def one_seed(seed: int, participants: int, template_db: Path, work: Path) -> list[dict[str, Any]]:
    var = work / f"seed-{seed}"
    var.mkdir()
    shutil.copy(template_db, var / "db.sqlite3")
    env = {
        **os.environ,
        "DEBUG": "1",
        "VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    log = var / "log.txt"
    _run(["simulate_trial", "--participants", str(participants), "--seed", str(seed), "--lock"], env, log)
    out = var / "analysis.json"
    _run(["analyze", "--trial", "therabot-sim", "--unblinded", "--json", str(out)], env, log)
    analysis = json.loads(out.read_text(encoding="utf-8"))
    rows = []
    for outcome in analysis["outcomes"]:
        level = (outcome.get("subgroup") or {}).get("level")
        if not outcome.get("primary") or level not in PUBLISHED_CHANGE or outcome.get("error"):
            continue
        change = {(c["week"], c["arm"]): c["mean_change"] for c in outcome["within_arm_change"]}
        sizes = {s["week"]: s["cohens_d"] for s in outcome["effect_sizes"]}
        for visit in outcome["mmrm"]["visits"]:
            week = visit["week"]
            rows.append(
                {
                    "seed": seed,
                    "condition": level,
                    "scale": outcome["instrument"],
                    "week": week,
                    "d": sizes[week],
                    "difference": visit["estimate"],
                    "baseline_sd": outcome["baseline_sd_pooled"],
                    "change_chatbot": change[(week, CHATBOT)],
                    "change_waitlist": change[(week, WAITLIST)],
                }
            )
    return rows


def _cell(values: list[float], digits: int = 2) -> str:
    return f"{sum(values) / len(values):.{digits}f} ({min(values):.{digits}f} to {max(values):.{digits}f})"


def table(rows: list[dict[str, Any]]) -> list[str]:
    """A markdown table, one row per condition and visit."""
    lines = [
        "| condition | scale | week | simulated d | published d | MMRM difference | diff. of published changes "
        "| pooled baseline SD | change chatbot | change waitlist | published changes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(
        {(r["condition"], r["scale"], r["week"]) for r in rows},
        key=lambda k: (list(PUBLISHED_CHANGE).index(k[0]), k[2]),
    )
    for condition, scale, week in keys:
        group = [r for r in rows if (r["condition"], r["scale"], r["week"]) == (condition, scale, week)]
        index = 0 if week == 4 else 1
        chatbot, waitlist = PUBLISHED_CHANGE[condition][CHATBOT][index], PUBLISHED_CHANGE[condition][WAITLIST][index]
        lines.append(
            f"| {condition} | {scale} | {week} | {_cell([-r['d'] for r in group])} "
            f"| {PUBLISHED_D[condition][index]:.3f} "
            f"| {_cell([r['difference'] for r in group])} | {chatbot - waitlist:.2f} "
            f"| {_cell([r['baseline_sd'] for r in group])} | {_cell([r['change_chatbot'] for r in group])} "
            f"| {_cell([r['change_waitlist'] for r in group])} | {chatbot:.2f} / {waitlist:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--participants", type=int, default=210)
    parser.add_argument("--out", type=Path, help="Write the per-seed rows as JSON here too.")
    parser.add_argument("--rows", type=Path, help="Print the table of rows written by --out earlier; run nothing.")
    args = parser.parse_args()
    if args.rows:
        print("\n".join(table(json.loads(args.rows.read_text(encoding="utf-8")))))
        return
    with tempfile.TemporaryDirectory(prefix="simulation-d-") as tmp:
        work = Path(tmp)
        template = work / "template"
        template.mkdir()
        env = {
            **os.environ,
            "DEBUG": "1",
            "VAR_DIR": str(template),
            "DATABASE_URL": f"sqlite:///{template / 'db.sqlite3'}",
        }
        _run(["migrate", "--noinput"], env, template / "log.txt")
        rows: list[dict[str, Any]] = []
        for seed in args.seeds:
            rows += one_seed(seed, args.participants, template / "db.sqlite3", work)
            print(f"seed {seed} done", file=sys.stderr, flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(
        f"{len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}), {args.participants} randomized each; "
        "d signed so that positive favours the chatbot; mean (range) over the seeds."
    )
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
