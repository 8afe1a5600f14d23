"""Writing the audit trail. Every service that changes trial or participant data calls ``audit_record``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import models

from trial.models import AuditEvent, Trial

Actor = AbstractBaseUser | AnonymousUser | None


# The design's secrets: never written to the audit trail, which investigators read.
SECRET_FIELDS = frozenset({"block_sizes", "minimization_probability"})
REDACTED_FIELDS = SECRET_FIELDS | {"blinded_label"}
HIDDEN = "(hidden)"


def redact(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [HIDDEN, HIDDEN] if k in REDACTED_FIELDS else v for k, v in changes.items()}


def actor_user(actor: Actor) -> User | None:
    """The signed-in user behind an action, or None for the system (management commands, anonymous)."""
    return actor if isinstance(actor, User) and actor.is_authenticated else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Field values of a model instance, JSON-ready, for before/after diffs."""
    names = list(fields) if fields is not None else [f.attname for f in instance._meta.concrete_fields]
    return {name: _jsonable(getattr(instance, name)) for name in names}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for fields that changed."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    trial: Trial | None,
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    user = actor_user(actor)
    return AuditEvent.objects.create(
        trial=trial,
        actor=user,
        actor_label=user.get_username() if user is not None else "system",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(getattr(obj, "public_id", obj.pk)),  # the id the API shows, where a row has one
        object_label=str(obj)[:200],
        changes=_jsonable(redact(changes or {})),
        reason=reason,
    )
