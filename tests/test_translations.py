"""Every shipped language is complete, and its catalogue is the code's: the documented procedure (`make
messages`, docs/operator.md "Adding a language") run on a copy of the project changes no msgid, and no
entry of a language in settings.LANGUAGES (English is the source) is empty or fuzzy. A string a change adds
to a page, a message or an error without its translation fails here."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = shutil.ignore_patterns(".*", "var", "build", "dist", "*.egg-info", "__pycache__", "node_modules", "*.mo")
SOURCE_LANGUAGE = "en"
MAKE = shutil.which("make") or "/usr/bin/make"
MSGFMT = shutil.which("msgfmt") or "/usr/bin/msgfmt"  # gettext: .ci/run installs it


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete ``#~`` entries left out; the header is the entry with msgid "")."""
    entries: list[Entry] = []
    entry, part = Entry(), ""

    def finish() -> None:
        nonlocal entry, part
        if part:
            entries.append(entry)
        entry, part = Entry(), ""

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#,"):
            if part:
                finish()
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            if part and not line.startswith("#~"):
                finish()
        elif line.startswith('"'):
            text = ast.literal_eval(line)
            if part == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + text
            elif part == "msgid":
                entry.msgid += text
            elif part == "msgid_plural":
                entry.msgid_plural = (entry.msgid_plural or "") + text
            else:
                entry.msgstr[-1] += text
        else:
            keyword, _, value = line.partition(" ")
            if keyword in ("msgctxt", "msgid") and part.startswith("msgstr"):
                finish()
            text = ast.literal_eval(value)
            if keyword == "msgctxt":
                entry.msgctxt = text
            elif keyword == "msgid":
                entry.msgid = text
            elif keyword == "msgid_plural":
                entry.msgid_plural = text
            else:
                entry.msgstr.append(text)
                keyword = "msgstr"
            part = keyword
    finish()
    return entries


def catalogue(language: str, root: Path = ROOT) -> Path:
    locale = Path(settings.LOCALE_PATHS[0]).relative_to(ROOT)
    return root / locale / language / "LC_MESSAGES" / "django.po"


SHIPPED = [code for code, _ in settings.LANGUAGES if code != SOURCE_LANGUAGE]


def test_english_is_the_source_and_another_language_ships():
    assert settings.LANGUAGE_CODE == SOURCE_LANGUAGE
    assert SHIPPED, "settings.LANGUAGES ships no language but English"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_string_of_a_shipped_language_is_translated(language: str):
    path = catalogue(language)
    assert path.is_file(), f"{language} is in settings.LANGUAGES but has no catalogue ({path}): run make messages"
    entries = [e for e in read_po(path) if e.msgid]
    assert len(entries) > 50, f"{path} holds only {len(entries)} strings"
    header = next(e for e in read_po(path) if not e.msgid)
    assert f"Language: {language}" in header.msgstr[0]
    problems = [
        f"{'fuzzy' if 'fuzzy' in e.flags else 'empty'}: {e.msgid[:70]!r}"
        for e in entries
        if "fuzzy" in e.flags or not e.msgstr or any(not text.strip() for text in e.msgstr)
    ]
    assert problems == [], f"{path}: translate these (docs/operator.md, Adding a language)"
    # Placeholders survive translation (msgfmt --check refuses a catalogue that drops or misspells one).
    subprocess.run([MSGFMT, "--check", "-o", "/dev/null", str(path)], check=True, capture_output=True)


def test_the_catalogues_are_the_codes(tmp_path: Path):
    """`make messages` on a copy of the project: every msgid of the code is in each catalogue and no
    catalogue keeps one the code no longer has."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=LEFT_OUT)
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".installed"
    result = subprocess.run(
        [MAKE, "-o", str(stamp), "messages", f"VENV={venv}", f"MESSAGE_LANGUAGES={' '.join(SHIPPED)}"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"make messages failed:\n{result.stdout}\n{result.stderr}"
    for language in SHIPPED:
        shipped = {e.key for e in read_po(catalogue(language)) if e.msgid}
        from_code = {e.key for e in read_po(catalogue(language, copy)) if e.msgid}
        assert sorted(from_code - shipped, key=str) == [], f"{language}: strings not in the catalogue (make messages)"
        assert sorted(shipped - from_code, key=str) == [], f"{language}: strings the code no longer has (make messages)"
        assert (catalogue(language, copy).with_suffix(".mo")).is_file(), "make messages compiles the catalogue"


@pytest.mark.parametrize("language", SHIPPED)
def test_the_compiled_catalogue_is_the_one_pages_use(language: str):
    with translation.override(language):
        assert translation.gettext("Skip to content") != "Skip to content"
