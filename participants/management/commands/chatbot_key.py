from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from participants.models import ChatbotApiKey
from participants.services.chatbot import chatbot_key_create
from trial import clock
from trial.errors import DomainError
from trial.models import Trial


class Command(BaseCommand):
    help = "Issue an API key for a trial's chatbot service (shown once, stored hashed), or revoke one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", required=True, help="Trial slug.")
        parser.add_argument("--name", default="Chatbot service", help="What the key is for.")
        parser.add_argument("--revoke", metavar="PREFIX", help="Revoke the key whose first characters these are.")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(slug=options["trial"]).first()
        if trial is None:
            raise CommandError(f"No trial {options['trial']!r}.")
        if options["revoke"]:
            revoked = ChatbotApiKey.objects.filter(trial=trial, prefix=options["revoke"][:8], revoked_at=None).update(
                revoked_at=clock.now()
            )
            if not revoked:
                raise CommandError(f"No active key starting {options['revoke']!r} in {trial.slug}.")
            self.stdout.write(f"Revoked {revoked} key(s).")
            return
        try:
            _, key = chatbot_key_create(trial=trial, name=options["name"], by=None)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"API key for {trial.slug} (shown once; send it as 'Authorization: Api-Key <key>'):")
        self.stdout.write(key)
