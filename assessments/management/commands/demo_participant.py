"""python manage.py demo_participant --trial SLUG: screen, consent and enroll one demo participant and
print a personal link to their open baseline questionnaires; like any newer message's link, it replaces
the one their invitation e-mail carries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.services.links import link_create
from participants import services
from participants.models import Status
from trial.errors import DomainError
from trial.models import Trial

SCREENING = {
    "age": 34,
    "us_resident": True,
    "condition": "MDD",
    "phq9_total": 14,
    "suicidality_treatment": False,
    "bipolar": False,
    "psychosis": False,
}


class Command(BaseCommand):
    help = "Enroll a demo participant and print the link to their due baseline questionnaires."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", default="therabot")
        parser.add_argument("--timezone", default="America/New_York")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(slug=options["trial"]).first()
        if trial is None:
            raise CommandError(f"No trial {options['trial']!r}.")
        try:
            participant = services.participant_screen(trial=trial, answers=SCREENING, by=None)
            if participant.status != Status.ELIGIBLE:
                raise CommandError(f"The demo screening answers do not make someone eligible in {trial.slug}.")
            services.participant_consent(participant=participant, signed_name="Demo Participant", by=None)
            contact = services.ContactInput(
                full_name="Demo Participant", email="demo.participant@example.invalid", timezone=options["timezone"]
            )
            participant = services.participant_enroll(participant=participant, contact=contact, by=None)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        baseline = ScheduledAssessment.objects.filter(
            participant=participant, visit__week=0, status=AssessmentStatus.OPEN
        ).first()
        if baseline is None:
            raise CommandError(f"{participant.study_id} has no open baseline visit.")
        self.stdout.write(f"Participant {participant.study_id}: baseline questionnaires due now at")
        self.stdout.write(f"  {link_create(assessment=baseline)}")
        # A visit has one live link: the one printed here replaces the invitation's (printed above in the demo).
        self.stdout.write("  (a new link: the invitation's link now shows the 'this link has been replaced' page)")
