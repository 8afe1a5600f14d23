from __future__ import annotations

import secrets
import string
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial.models import ApiToken, Role, Trial
from trial.services import api_token_create, api_token_revoke, membership_grant

DEMO_USERS = [
    ("coordinator", Role.COORDINATOR),
    ("investigator", Role.INVESTIGATOR),
    ("statistician", Role.BLINDED_STATISTICIAN),
    ("unblinded", Role.UNBLINDED_STATISTICIAN),
    ("clinician", Role.SAFETY_CLINICIAN),
    ("admin", Role.ADMINISTRATOR),
]


ALPHABET = string.ascii_letters + string.digits


class Command(BaseCommand):
    help = "Create demo accounts with a role each in a trial, with fresh random passwords, and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", default="therabot", help="A trial's slug, or several separated by commas.")
        parser.add_argument("--password", help="Use this password for every account (default: a random one each).")

    def handle(self, *args: Any, **options: Any) -> None:
        trials = []
        for slug in (s.strip() for s in options["trial"].split(",") if s.strip()):
            trial = Trial.objects.filter(slug=slug).first()
            if trial is None:
                raise CommandError(f"No trial {slug!r}; load it first (manage.py load_trial_template).")
            trials.append(trial)
        user_model = get_user_model()
        names = ", ".join(t.slug for t in trials)
        self.stdout.write(f"Demo accounts for {names} (sign in at /workspace/; API token for scripts):")
        for username, role in DEMO_USERS:
            user, _ = user_model.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
            password = options["password"] or "".join(secrets.choice(ALPHABET) for _ in range(12))
            user.set_password(password)
            user.is_staff = True
            user.is_superuser = role == Role.ADMINISTRATOR
            user.save()
            for trial in trials:
                membership_grant(trial=trial, user=user, role=role, by=None)
            # Tokens are stored hashed, so the one printed is a new one; the last run's stop working.
            for old in ApiToken.objects.filter(user=user, name="demo", revoked_at=None):
                api_token_revoke(token=old, by=None)
            _, token = api_token_create(user=user, name="demo")
            self.stdout.write(f"  {username:<13} {role.label:<24} password {password:<14} token {token}")
