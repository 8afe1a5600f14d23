"""Run the scheduled jobs once, in this process: what Celery beat runs, for installations without it.

It lives in the top app (analysis), the one that may reach every other app's tasks.

    python manage.py run_scheduled                                 # every job, from cron once a minute
    python manage.py run_scheduled --job escalate-safety-alerts    # one of them

The jobs are read from the beat schedule itself (``CELERY_BEAT_SCHEDULE`` in config/settings.py), so cron
and beat cannot drift apart: the sweep (opens visits, queues reminders, closes passed windows, delivers
the outbox), the outbox's delivery, the escalation of safety alerts nobody acknowledged in time, and the
background jobs' resumption and expiry. Every job runs even when one before it failed (a mail server that
is down must not stop escalations being recorded); the command then fails, naming the jobs that did.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def scheduled_jobs() -> dict[str, dict[str, Any]]:
    """The beat schedule's entries, by name: the task's dotted path, and its args and kwargs if any."""
    return dict(settings.CELERY_BEAT_SCHEDULE)


class Command(BaseCommand):
    help = "Run every job of the beat schedule once, in this process (cron, where there is no Celery beat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--job",
            action="append",
            dest="jobs",
            metavar="NAME",
            help=f"Run only this job (repeatable). Jobs: {', '.join(scheduled_jobs())}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = scheduled_jobs()
        chosen = options["jobs"] or list(jobs)
        unknown = [name for name in chosen if name not in jobs]
        if unknown:
            raise CommandError(f"No scheduled job {', '.join(unknown)}; the jobs are: {', '.join(jobs)}.")
        failed = []
        for name in chosen:
            try:
                entry = jobs[name]
                task = import_string(entry["task"])  # the task's own function, run here, not queued
                result = task(*entry.get("args", ()), **entry.get("kwargs", {}))
            except Exception as exc:
                logger.exception("Scheduled job %s failed.", name)
                failed.append(f"{name} ({type(exc).__name__}: {exc})")
                continue
            self.stdout.write(f"{name}: {json.dumps(result, default=str)}")
        if failed:
            raise CommandError(f"Scheduled jobs failed: {'; '.join(failed)}.")
