from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.exports import long_csv
from trial.models import Trial, TrialStatus


class Command(BaseCommand):
    help = "Write a trial's long dataset (CSV, arms as A/B unless --unblinded) to a file or standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", required=True)
        parser.add_argument("--out", help="File to write (default: standard output).")
        parser.add_argument("--unblinded", action="store_true", help="Real arm codes (locked or unblinded trials).")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(slug=options["trial"]).first()
        if trial is None:
            raise CommandError(f"No trial {options['trial']!r}.")
        blinded = not options["unblinded"]
        if not blinded and trial.status != TrialStatus.LOCKED and trial.unblinded_at is None:
            raise CommandError(f"Trial {trial.slug} is {trial.status} and blinded: no unblinded export before lock.")
        chunks = long_csv(trial=trial, blinded=blinded, by=None)
        if options["out"]:
            with Path(options["out"]).open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            self.stderr.write(f"Wrote {options['out']}.")
        else:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
