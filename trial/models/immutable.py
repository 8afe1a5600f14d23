"""Rows that are written once and never changed: allocations, responses, audit events. The models also
refuse ``save()`` of an existing row and ``delete()``; database triggers refuse raw SQL."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from trial.errors import DomainError


class ImmutableQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise DomainError(f"{self.model._meta.verbose_name_plural} are never changed.", code="immutable")

    def delete(self) -> NoReturn:
        raise DomainError(f"{self.model._meta.verbose_name_plural} are never deleted.", code="immutable")
