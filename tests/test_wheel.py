"""The built wheel is the whole platform: installed into a fresh virtualenv, away from any checkout, it
passes Django's checks, migrates, and loads the bundled reference trial; its templates, static files,
instrument definitions and translations came along."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = shutil.ignore_patterns(".*", "var", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench")

# Run with the installed package: where each bundled file is found.
FOUND = """
from pathlib import Path

import django

django.setup()
import config
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template

from assessments.instruments import BUILTIN_DIR
from trial.templates import TEMPLATE_DIR

for name in (
    "assessments/overview.html",
    "admin/participants/participant/change_form.html",
    "admin/login_sso.html",
    "registration/two_factor.html",
    "api/redoc.html",
    "messages/assessment_invitation/subject.txt",
    "messages/safety_alert/body.txt",
):
    print(get_template(name).origin.name)
print(finders.find("assessments/participant.css"))
print(finders.find("api/redoc-init.js"))
for icon in ("favicon.ico", "icon-192.png", "icon-512.png", "icon.svg"):
    print(finders.find(f"site/{icon}"))
print(get_template("messages/new_link/body.txt").origin.name)
print(Path(settings.LOCALE_PATHS[0]) / "es" / "LC_MESSAGES" / "django.mo")
print(BUILTIN_DIR / "phq9.json", TEMPLATE_DIR / "therabot.json", sep="\\n")
print(Path(settings.LOCALE_PATHS[0]) / "es" / "LC_MESSAGES" / "django.po")
print(Path(config.__file__).parent)
"""


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"{' '.join(map(str, args[:4]))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_wheel_installed_in_a_fresh_virtualenv_runs_the_platform(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("about two minutes, and independent of the services: run once, in the embedded pass")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=LEFT_OUT)  # build from a copy: nothing of this checkout leaks in
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("trialplatform-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=tmp_path)

    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    keep = {"PATH", "HOME", "LANG", "PIP_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "VAR_DIR": str(tmp_path / "var")}
    _run(python, "-m", "django", "check", "--fail-level", "WARNING", cwd=elsewhere, env=env)
    _run(venv / "bin" / "django-admin", "migrate", "--noinput", cwd=elsewhere, env=env)
    loaded = _run(venv / "bin" / "django-admin", "load_trial_template", "therabot", cwd=elsewhere, env=env)
    assert "therabot" in loaded
    assert (tmp_path / "var" / "db.sqlite3").exists()

    found = [Path(line) for line in _run(python, "-c", FOUND, cwd=elsewhere, env=env).splitlines()]
    package = found[-1]
    assert package.is_relative_to(venv), package  # the installed copy, not the checkout
    for path in found[:-1]:
        assert path.is_relative_to(venv) and path.is_file(), path
