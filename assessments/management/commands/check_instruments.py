from __future__ import annotations

import tempfile
from pathlib import Path
from shutil import copy
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.instruments import InstrumentDefinitionError, load_registry


class Command(BaseCommand):
    help = (
        "Validate instrument definitions: the built-in ones, INSTRUMENT_DIRS and INSTRUMENT_WORDING_FILES, "
        "plus any definition files or directories given. Prints each instrument, or the file and field at fault."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", help="Definition files (.json) or directories to check as well.")
        parser.add_argument("--wording", action="append", default=[], help="A wording file to check as well.")

    def handle(self, *args: Any, **options: Any) -> None:
        dirs = [Path(d) for d in settings.INSTRUMENT_DIRS]
        with tempfile.TemporaryDirectory() as loose:
            for raw in options["paths"]:
                path = Path(raw)
                if path.is_dir():
                    dirs.append(path)
                elif path.is_file():
                    copy(path, Path(loose) / path.name)
                else:
                    raise CommandError(f"{raw}: no such file or directory.")
            wording = [*settings.INSTRUMENT_WORDING_FILES, *options["wording"]]
            try:
                registry = load_registry([*dirs, loose], wording_files=wording)
            except InstrumentDefinitionError as exc:
                raise CommandError(str(exc)) from exc
        for instrument in registry.all():
            languages = instrument.wording_languages()
            wording_state = f"wording installed ({', '.join(languages)})" if languages else "wording NOT installed"
            self.stdout.write(
                f"{instrument.code:<8} {len(instrument.items):>3} items  {wording_state:<30} {instrument.name}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(registry.codes())} instruments valid."))
