"""The project's URLs plus the baseline of the submission benchmark: a bare Django view that inserts one
row (no DRF, no auth, no scoring), on the same gunicorn, database and settings."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare_insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare (body) VALUES (%s) RETURNING id", [request.body.decode()])
        (row_id,) = cursor.fetchone()
    return HttpResponse(f'{{"id": {row_id}}}', status=201, content_type="application/json")


urlpatterns = [path("bench/bare/", bare_insert), *project_urlpatterns]
