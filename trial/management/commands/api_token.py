from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial.errors import DomainError
from trial.models import ApiToken
from trial.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Issue an API token for a person (shown once, stored hashed, expiring), list theirs, or revoke one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="script", help="What the token is for.")
        parser.add_argument("--days", type=int, help="Lifetime in days (at most, and by default, API_TOKEN_TTL_DAYS).")
        parser.add_argument("--list", action="store_true", help="List the person's tokens instead.")
        parser.add_argument("--revoke", metavar="PREFIX", help="Revoke the token whose first characters these are.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        tokens = ApiToken.objects.filter(user=user, revoked_at=None)
        if options["list"]:
            for token in tokens:
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(f"{token.prefix}…  {token.name:<20} expires {token.expires_at:%Y-%m-%d}  used {used}")
            return
        if options["revoke"]:
            matches = list(tokens.filter(prefix__startswith=options["revoke"][:12]))
            if not matches:
                raise CommandError(f"No active token of {user.get_username()} starting {options['revoke']!r}.")
            for token in matches:
                api_token_revoke(token=token, by=None)
            self.stdout.write(f"Revoked {len(matches)} token(s).")
            return
        try:
            token, key = api_token_create(user=user, name=options["name"], days=options["days"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"API token for {user.get_username()}, valid until {token.expires_at:%Y-%m-%d} "
            "(shown once; send it as 'Authorization: Token <key>'):"
        )
        self.stdout.write(key)
