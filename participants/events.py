"""Named domain events: how participant services cause work in higher apps without importing them.

Services send these explicitly, inside their transaction, after the change is written; receivers (the
assessments app connects them in its AppConfig.ready) therefore commit or roll back with the change. A
receiver that raises aborts the whole action. Nothing here is a model-save signal.
"""

from __future__ import annotations

from collections.abc import Callable

from django.dispatch import Signal

# Sent with participant=..., by=... once a participant is enrolled (study ID issued).
participant_enrolled = Signal()
# Sent with participant=..., allocation=..., by=... once the allocation is written.
participant_randomized = Signal()
# Sent with participant=..., status=..., reason=..., by=... when follow-up ends (withdrawn, lost, completed).
participant_follow_up_ended = Signal()
# Sent with participant=..., by=... when someone lost to follow-up is back.
participant_returned = Signal()

# Checks that must pass before a participant is randomized (e.g. a completed baseline). Each raises a
# DomainError saying what is missing. Registered by higher apps at start-up.
RandomizationPrecondition = Callable[..., None]
randomization_preconditions: list[RandomizationPrecondition] = []


def register_randomization_precondition(check: RandomizationPrecondition) -> None:
    if check not in randomization_preconditions:
        randomization_preconditions.append(check)
