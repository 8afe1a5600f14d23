"""One exception handler for the API: domain errors become clear 4xx bodies naming the field.

Body: ``{"detail": message, "code": code}`` plus ``"errors": {field: [message]}`` when a field is at
fault. DRF's own validation errors keep their ``{field: [message]}`` shape.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from trial.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        errors = getattr(exc, "errors", None)
        if errors:
            body["errors"] = {k: [v] for k, v in errors.items()}
        elif exc.field:
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
            return Response(
                {"detail": "Invalid input.", "code": "invalid", "errors": errors}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response({"detail": " ".join(exc.messages), "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, Throttled) and response is not None:
        # DRF has set Retry-After (seconds); the body gets the one error format.
        response.data = {"detail": "Too many requests; try again after Retry-After seconds.", "code": "throttled"}
    return response


class Pagination(PageNumberPagination):
    """Page-number pagination; scripts may ask for up to 500 rows a page with ``page_size``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
