"""What every benchmark script shares: the dedicated database and Redis db, Django set-up, the machine's
description, timing helpers."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")

BENCH_DB = os.environ.get("BENCH_DB", "trial_bench")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TRIAL_SLUG = "therabot"

if BENCH_DB in {"test", "test_test", "postgres"}:
    raise SystemExit(f"BENCH_DB={BENCH_DB!r} is the test suite's or the server's database; pick another.")


def bench_env() -> dict[str, str]:
    """Environment for the bench's child processes (gunicorn, subprocess benchmarks)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=env.get("BENCH_SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789"),
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",  # plain HTTP on the loopback
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(ROOT),
    )
    # The benchmarks measure the platform, not its throttles: one bench user sends thousands a minute.
    env.setdefault("API_THROTTLE_USER", "1000000/minute")
    env.setdefault("API_THROTTLE_SCREENING", "1000000/minute")
    env.setdefault("API_THROTTLE_CHATBOT", "1000000/minute")
    env.pop("TESTING", None)
    return env


def setup_django() -> None:
    os.environ.update(bench_env())
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    import psycopg

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    with psycopg.connect(DATABASE_URL) as conn:
        pg_version = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
        pg_settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections")
        }
    import redis

    redis_version = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "postgresql_settings": pg_settings,
        "redis": redis_version,
        "gunicorn": _cmd([str(ROOT / ".venv" / "bin" / "gunicorn"), "--version"]),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Run ``fn`` ``repeat`` times; the fastest time, all times, the last result."""
    times = []
    result = None
    for _ in range(repeat):
        elapsed, result = timed(fn)
        times.append(elapsed)
    return min(times), times, result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
