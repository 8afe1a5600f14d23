from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial.errors import DomainError
from trial.services import trial_set_status
from trial.templates import read_template, trial_create_from_template


class Command(BaseCommand):
    help = "Create a trial (in draft) from a template: a bundled name such as 'therabot' or a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("template", help="Bundled template name (fixtures/trials/NAME.json) or a path.")
        parser.add_argument("--slug", help="Slug for the new trial (default: the template's).")
        parser.add_argument("--replace", action="store_true", help="Rebuild an existing draft trial of that slug.")
        parser.add_argument("--open", action="store_true", help="Open recruitment once created.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            trial = trial_create_from_template(
                data=read_template(options["template"]), by=None, slug=options["slug"], replace=options["replace"]
            )
            if options["open"]:
                trial = trial_set_status(
                    trial=trial, status="recruiting", by=None, reason="Opened by load_trial_template"
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Trial {trial.slug} created ({trial.status})."))
