"""Backup and restore as docs/operator.md describes them: pg_dump -Fc of a database holding a simulated
trial, pg_restore into a fresh database, and every export of the restored trial is the same as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SLUG = "backup-sim"

# Every dataset in every format, blinded and not, and the data dictionary, written to a directory.
EXPORT_ALL = """
import sys
from pathlib import Path

import django

django.setup()
from analysis import datasets
from analysis.formats import FORMATS, extension, write_dataset, write_dictionary
from trial.models import Trial

trial, out = Trial.objects.get(slug=sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True)
for blinded in (True, False):
    mode = "blinded" if blinded else "unblinded"
    for name in datasets.DATASETS:
        for fmt in FORMATS:
            dataset, chunks = datasets.build(trial, name, blinded=blinded)
            with (out / f"{name}-{mode}.{extension(fmt)}").open("wb") as handle:
                write_dataset(dataset, chunks, handle, fmt)
    for fmt in ("csv", "json"):
        with (out / f"dictionary-{mode}.{fmt}").open("wb") as handle:
            write_dictionary(datasets.describe(trial, blinded=blinded), handle, fmt)
"""


def _without_write_time(path: Path) -> bytes:
    """The file's bytes, less the time of writing that the Stata and SPSS headers carry."""
    data = path.read_bytes()
    if path.suffix == ".dta":
        start = data.index(b"<timestamp>") + len(b"<timestamp>")
        return data[:start] + data[start + 1 + data[start] :]
    if path.suffix == ".sav":
        return data[:92] + data[109:]  # creation date (9 bytes) and time (8) after the fixed header fields
    return data


def _server() -> dict[str, str]:
    db = connection.settings_dict
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": str(db["PORT"] or 5432),
        "user": db["USER"] or "postgres",
        "password": db["PASSWORD"] or "",
    }


def _url(server: dict[str, str], name: str) -> str:
    password = f":{server['password']}" if server["password"] else ""
    return f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"


def _run(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(args[:3])} failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.postgres
def test_a_restored_backup_gives_every_export_unchanged(tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.fail("pg_dump and pg_restore are needed (Debian: postgresql-client)")
    started = time.monotonic()
    server = _server()
    # Named after the configured (test) database, so parallel runs on one server do not collide.
    source, restored = (f"{connection.settings_dict['NAME']}_backup_{part}" for part in ("src", "restored"))
    admin = psycopg.connect(
        host=server["host"], port=server["port"], user=server["user"], password=server["password"] or None,
        dbname="postgres", autocommit=True,
    )  # fmt: skip
    pg_env = {**os.environ, "PGPASSWORD": server["password"]}
    try:
        for name in (source, restored):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TESTING"}}
        env |= {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path / "var")}
        src_env = env | {"DATABASE_URL": _url(server, source)}
        manage = [sys.executable, "manage.py"]
        _run(*manage, "migrate", "--noinput", env=src_env)
        _run(*manage, "simulate_trial", "--trial", SLUG, "--participants", "20", "--seed", "7", "--lock", env=src_env)
        _run(sys.executable, "-c", EXPORT_ALL, SLUG, str(tmp_path / "before"), env=src_env)

        dump = tmp_path / "trial.dump"
        connect = ["-h", server["host"], "-p", server["port"], "-U", server["user"]]
        _run("pg_dump", "-Fc", *connect, "-d", source, "-f", str(dump), env=pg_env)
        _run("pg_restore", "--no-owner", "--exit-on-error", *connect, "-d", restored, str(dump), env=pg_env)
        _run(
            sys.executable,
            "-c",
            EXPORT_ALL,
            SLUG,
            str(tmp_path / "after"),
            env=env | {"DATABASE_URL": _url(server, restored)},
        )
    finally:
        for name in (source, restored):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()

    before = sorted(p.name for p in (tmp_path / "before").iterdir())
    assert before == sorted(p.name for p in (tmp_path / "after").iterdir())
    assert len(before) == 2 * (5 * 4 + 2)  # blinded and not: five datasets in four formats, the dictionary twice
    assert (tmp_path / "before" / "long-unblinded.csv").stat().st_size > 10_000  # a trial, not empty files
    changed = [
        name
        for name in before
        if _without_write_time(tmp_path / "before" / name) != _without_write_time(tmp_path / "after" / name)
    ]
    assert changed == []
    assert time.monotonic() - started < 120
