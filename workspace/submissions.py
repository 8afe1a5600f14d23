"""Carrying out a workspace form once: a repeated submission (double click, back and resubmit, reload of
a POST) is recognised by the form's one-time key and sent to the page the first one produced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from trial import clock
from trial.errors import DomainError
from workspace.models import FormSubmission


@dataclass(frozen=True)
class Outcome:
    url: str  # where to go next
    replayed: bool  # True: this key was carried out before; nothing was done now


class StaleForm(DomainError):
    """A form posted without its one-time key (or with a mangled one)."""

    def __init__(self) -> None:
        super().__init__("This form is out of date: reload the page and send it again.", code="stale_form")


def carry_out_once(*, user: Any, form: str, key: object, act: Callable[[], str]) -> Outcome:
    """Run ``act`` (the service call; it returns the URL of its result) unless this user already carried
    out the submission ``key``. The key is written in the act's transaction: an act that raises leaves
    no key behind, and of two concurrent submissions of one key the second waits and then finds the
    first's. Every workspace form that records something goes through here."""
    key = str(key or "")
    if not key or len(key) > 64:
        raise StaleForm()
    with transaction.atomic():
        try:
            with transaction.atomic():
                submission = FormSubmission.objects.create(key=key, user=user, form=form)
        except IntegrityError:
            previous = FormSubmission.objects.get(key=key, user=user)
            return Outcome(url=previous.result_url, replayed=True)
        url = act()
        submission.result_url = url
        submission.save(update_fields=["result_url"])
        return Outcome(url=url, replayed=False)


# A repeated submission comes within seconds (a double click) or hours (back and resubmit the next
# morning); a week is ample, and the table stays the size of a week's forms.
KEEP = timedelta(days=7)


def submissions_forget(*, now: datetime | None = None) -> int:
    """Forget carried-out submissions older than KEEP (Celery beat, hourly). Returns how many."""
    cutoff = (now or clock.now()) - KEEP
    deleted, _ = FormSubmission.objects.filter(created_at__lt=cutoff).delete()
    return deleted
