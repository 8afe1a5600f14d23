"""Where a report came from: the software that made it (name, version, source commit) and when, so that a
number in a DSMB report or a paper can be traced to the code and the input file (the input's SHA-256 is
recorded beside it by the caller).

The commit is ``SOURCE_COMMIT`` from the environment when set (a container image built from a commit has no
``.git``), else asked of git in the source tree; ``-dirty`` marks a tree with uncommitted changes, and
``unknown`` is said plainly when neither is available.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

from trial import clock

DISTRIBUTION = "trialplatform"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None or not (SOURCE_ROOT / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, "-C", str(SOURCE_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


@lru_cache(maxsize=1)
def commit() -> str:
    """The source commit (``SOURCE_COMMIT`` or git), with ``-dirty`` for uncommitted changes, or ``unknown``."""
    given = os.environ.get("SOURCE_COMMIT", "").strip()
    if given:
        return given
    head = _git("rev-parse", "HEAD")
    if not head:
        return "unknown"
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changes else head


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def software() -> dict[str, str]:
    return {"name": DISTRIBUTION, "version": version(), "commit": commit()}


def generated_at(timezone: str | None = None) -> str:
    """Now, to the second, in ``timezone`` (the trial's) or the server's, as ISO 8601 with its UTC offset."""
    zone = ZoneInfo(timezone or settings.TIME_ZONE)
    now: datetime = clock.now().astimezone(zone).replace(microsecond=0)
    return now.isoformat()
