"""The message catalogues compiled for a test (the .mo files are build output, not in the repository):
``spanish_catalogue`` points LOCALE_PATHS at a fresh compilation of config/locale, so a test sees the Spanish that
the .po file holds now."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

LOCALE_DIR = Path(__file__).resolve().parent.parent / "config" / "locale"


@pytest.fixture(scope="session")
def compiled_locale(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("locale")
    for po in LOCALE_DIR.glob("*/LC_MESSAGES/*.po"):
        mo = out / po.relative_to(LOCALE_DIR).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["msgfmt", "--check", "-o", str(mo), str(po)], check=True)  # noqa: S607
    return out


@pytest.fixture
def spanish_catalogue(settings: Any, compiled_locale: Path) -> None:
    settings.LOCALE_PATHS = [compiled_locale]  # Django's test signal clears the loaded translations
