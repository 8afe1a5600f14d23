"""Jobs in the admin: read-only, for operators following exports and reports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analysis.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = [
        "created_at",
        "trial",
        "kind",
        "dataset",
        "format",
        "blinded",
        "status",
        "rows_done",
        "requested_by",
    ]
    list_filter = ["status", "kind", "format", "blinded"]
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "result"]
    exclude = ["result"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)
