"""python manage.py simulate_trial --participants N --seed S [--trial SLUG] [--lock]"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.simulation.runner import trial_simulate
from trial.errors import DomainError
from trial.models import Trial, TrialStatus
from trial.services import trial_set_status
from trial.templates import read_template, trial_create_from_template


class Command(BaseCommand):
    help = (
        "Run a simulated Therabot-like trial through the platform's own services under a simulated clock: "
        "screening, consent, enrollment, questionnaires, randomization, reminders, missed visits, dropout, "
        "safety alerts, chatbot use. Creates the trial from the therabot template when it does not exist."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--participants", type=int, default=210, help="Randomized participants (default 210).")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--trial", default="therabot-sim", help="Trial slug (default therabot-sim).")
        parser.add_argument("--recruitment-days", type=int, help="Days of recruitment (default N/4, at least 28).")
        parser.add_argument(
            "--skip-existing", action="store_true", help="Do nothing when the trial already exists (make demo)."
        )
        parser.add_argument(
            "--lock", action="store_true", help="Close and lock the trial afterwards (for an unblinded analysis)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["trial"]
        trial = Trial.objects.filter(slug=slug).first()
        if trial is not None and options["skip_existing"]:
            self.stdout.write(f"Trial {slug} exists already ({trial.status}); not simulating again.")
            return
        started = time.perf_counter()
        try:
            if trial is None:
                data = read_template("therabot")
                data["title"] = f"{data['title']} (simulated)"
                data["simulated"] = True  # fictional participants: no wording check, no survey pages
                trial = trial_create_from_template(data=data, by=None, slug=slug)
                trial = trial_set_status(trial=trial, status=TrialStatus.RECRUITING, by=None)
            report = trial_simulate(
                trial=trial,
                participants=options["participants"],
                seed=options["seed"],
                recruitment_days=options["recruitment_days"],
            )
            if options["lock"]:
                trial.refresh_from_db()
                trial = trial_set_status(trial=trial, status=TrialStatus.CLOSED, by=None, reason="Simulation over")
                trial_set_status(trial=trial, status=TrialStatus.LOCKED, by=None, reason="Simulation over")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        summary = report.as_dict() | {"seconds": round(time.perf_counter() - started, 1), "locked": options["lock"]}
        self.stdout.write(json.dumps(summary, indent=1))
