"""One exception handler for the API: domain errors become clear 4xx bodies naming the field.

Body: ``{"detail": message, "code": code}`` plus ``"errors": {field: [message]}`` when a field is at
fault. DRF's own validation errors keep their ``{field: [message]}`` shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, Throttled
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser as DrfJSONParser
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
    if response is not None and isinstance(response.data, dict) and set(response.data) == {"detail"}:
        # DRF's own refusals (401, 403, 404, 405, 406, 415, 429, a malformed body) get a code like ours.
        if isinstance(exc, APIException):
            codes = exc.get_codes()
            response.data["code"] = codes if isinstance(codes, str) else exc.default_code
        else:  # Django's Http404 and PermissionDenied, which DRF answers as its own
            response.data["code"] = "not_found" if isinstance(exc, Http404) else "permission_denied"
    return response


class JSONParser(DrfJSONParser):
    """DRF's JSON parser, with a body nested too deep for Python's parser refused like any malformed one."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class Pagination(PageNumberPagination):
    """Page-number pagination; scripts may ask for up to 500 rows a page with ``page_size``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class IsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time in a query, with a UTC offset that exists on Earth (-12:00 to +14:00), passed on in
    UTC: PostgreSQL refuses larger offsets, and a time at the edge of the calendar may not fit in UTC."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed: dt.datetime | None = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and not dt.timedelta(hours=-12) <= offset <= dt.timedelta(hours=14):
            raise forms.ValidationError("The UTC offset must be between -12:00 and +14:00.", code="invalid")
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date and time between years 1 and 9999.", code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Why the request was refused: a message and a stable code, with the fields at fault if any.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["detail", "code"],
}
BAD_REQUEST_SCHEMA: dict[str, Any] = {
    "description": "The error format, or a serializer's field errors in DRF's shape: {field: [message]}.",
    "oneOf": [
        {"$ref": "#/components/schemas/Error"},
        {"type": "object", "additionalProperties": True, "not": {"required": ["code"]}},
    ],
}
REFUSALS = {
    "400": ("Bad input.", "BadRequest"),
    "401": ("Not authenticated.", "Error"),
    "403": ("Your roles do not allow it.", "Error"),
    "404": ("No such trial or object for you.", "Error"),
    "429": ("Too many requests.", "Error"),
}
UNSAFE_REFUSALS = {"409": ("The state forbids it.", "Error")}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the refusals it may answer, in the
    one error format above (``code`` names the reason, as in docs/api.md)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["BadRequest"] = BAD_REQUEST_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            refusals = dict(REFUSALS)
            if method in ("post", "put", "patch", "delete") or path.endswith("/download/"):
                refusals.update(UNSAFE_REFUSALS)  # a job's download: 409 while it is not done
            if path.endswith("/download/"):
                refusals["410"] = ("The file has expired.", "Error")
            responses = operation.setdefault("responses", {})
            for status_code, (description, component) in refusals.items():
                responses.setdefault(
                    status_code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
                    },
                )
    return result


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: an API address that matches no route (``/api/v1/tokens/-5/``, a mistyped path) is
    answered in the error format like every other API refusal; other addresses get Django's page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)
