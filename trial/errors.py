"""Domain errors. The API's exception handler (config/api.py) turns them into 4xx bodies."""

from __future__ import annotations


class DomainError(Exception):
    """A refused action. ``code`` is stable for scripts; ``field`` names the input at fault, if any."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class IntegrityLocked(DomainError):
    """A change that would break a recruiting trial's integrity (arms, ratio, strata, method)."""

    status_code = 409
    code = "trial_integrity_locked"


class InvalidTransition(DomainError):
    status_code = 409
    code = "invalid_transition"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Forbidden(DomainError):
    """Refused for who is asking, not for what is asked (e.g. confirming one's own request)."""

    status_code = 403
    code = "forbidden"
