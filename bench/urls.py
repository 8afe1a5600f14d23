"""The project's URLs plus the baselines of the submission benchmark, on the same gunicorn, database and
settings:

- ``bench/bare/``: the issue's baseline, a bare Django view that inserts one row (no DRF, no auth, no
  scoring);
- ``bench/drf/``: the same insert behind what every API request pays before any of the project's own
  work: DRF's request parsing, token authentication (one query) and a JSON response. It splits the gap
  between the bare view and the project into the framework's share and the project's share;
- ``bench/page/<token>/<code>/``: the questionnaire page's submission done the simplest way, in SQL: the
  same CSRF-checked form POST behind a visit's link, in one transaction the link and its open visit
  (locked) with what is already answered in one query, the response inserted, the questionnaire's draft
  deleted, the visit completed after its last questionnaire, and the redirect to the next page. No
  forms, no ORM, no per-instrument validation or scoring (the total is the sum of the answers, which
  must be whole numbers), no safety rules (the benchmark's answers raise none). It is the floor of any
  implementation of that page, as the same-work statement is the sweep's."""

from __future__ import annotations

import hashlib
import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
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


def page_floor(request: HttpRequest, token: str, code: str) -> HttpResponse:
    try:
        answers = {key: int(value) for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
    except ValueError:
        return HttpResponse("answers must be whole numbers", status=400, content_type="text/plain")
    digest = hashlib.sha256(token.encode()).hexdigest()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id, s.instruments,"
            " ARRAY(SELECT r.instrument_code FROM assessments_response r WHERE r.assessment_id = s.id)"
            " FROM assessments_accesslink l JOIN assessments_scheduledassessment s ON s.id = l.assessment_id"
            " WHERE l.token_hash = %s AND l.expires_at > now() AND s.status = 'open' AND s.closes_at > now()"
            " FOR UPDATE OF s",
            [digest],
        )
        row = cursor.fetchone()
        if row is None:
            return HttpResponse("no open visit behind this link", status=404, content_type="text/plain")
        visit_id, instruments_json, answered = row
        instruments = json.loads(instruments_json)  # Django reads jsonb as text on psycopg 3
        if code not in instruments or code in answered:
            return HttpResponse("not due, or already answered", status=409, content_type="text/plain")
        cursor.execute(
            "INSERT INTO assessments_response (assessment_id, public_id, instrument_code, version, answers, total,"
            " subscales, band, flags, prorated, source, submitted_at, correction_reason)"
            " VALUES (%s, gen_random_uuid(), %s, 1, %s, %s, '{}', '', '[]', false, 'survey', now(), '')",
            [visit_id, code, json.dumps(answers), sum(answers.values())],
        )
        cursor.execute(
            "DELETE FROM assessments_draftanswers WHERE assessment_id = %s AND instrument_code = %s", [visit_id, code]
        )
        remaining = [c for c in instruments if c != code and c not in answered]
        if not remaining:
            cursor.execute(
                "UPDATE assessments_scheduledassessment SET status = 'completed', completed_at = now(),"
                " next_reminder_at = NULL WHERE id = %s",
                [visit_id],
            )
    return HttpResponseRedirect(f"/q/{token}/{remaining[0]}/" if remaining else f"/q/{token}/")


urlpatterns = [
    path("bench/bare/", bare_insert),
    path("bench/drf/", DrfInsert.as_view()),
    path("bench/page/<str:token>/<str:code>/", page_floor),
    *project_urlpatterns,
]
