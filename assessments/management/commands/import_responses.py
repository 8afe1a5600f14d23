from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.services.importing import ImportFailed, responses_import
from trial.errors import DomainError
from trial.models import Trial


class Command(BaseCommand):
    help = (
        "Import questionnaire responses from a CSV (participant_id, visit, instrument, then item columns). "
        "All rows are checked; if any is wrong nothing is imported and every problem is listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--trial", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(slug=options["trial"]).first()
        if trial is None:
            raise CommandError(f"No trial {options['trial']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            report = responses_import(trial=trial, path=path, by=None)
        except ImportFailed as exc:
            for problem in exc.report.errors:
                self.stderr.write(problem)
            raise CommandError(f"{path.name}: {exc.message}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name}: {report.rows} rows, {report.created} responses recorded, "
                f"{report.unchanged} already present."
            )
        )
