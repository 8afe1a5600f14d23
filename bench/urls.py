"""The project's URLs plus the baselines of the submission benchmark, on the same gunicorn, database and
settings:

- ``bench/bare/``: the issue's baseline, a bare Django view that inserts one row (no DRF, no auth, no
  scoring);
- ``bench/drf/``: the same insert behind what every API request pays before any of the project's own
  work: DRF's request parsing, token authentication (one query) and a JSON response. It splits the gap
  between the bare view and the project into the framework's share and the project's share."""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare_insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare (body) VALUES (%s) RETURNING id", [request.body.decode()])
        (row_id,) = cursor.fetchone()
    return HttpResponse(f'{{"id": {row_id}}}', status=201, content_type="application/json")


class DrfInsert(APIView):
    def post(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_bare (body) VALUES (%s) RETURNING id", [json.dumps(request.data)])
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id}, status=201)


urlpatterns = [path("bench/bare/", bare_insert), path("bench/drf/", DrfInsert.as_view()), *project_urlpatterns]
