"""The live paths, under load from concurrent clients on 127.0.0.1, each run bounded in requests and time.

- Survey submission, two ways into assessments.services.submission.response_submit (scoring, safety
  rules, completion): the API, POST /api/v1/trials/<slug>/participants/<id>/assessments/<id>/responses/
  with a coordinator's token; and the participants' own, the form POST of the questionnaire page behind
  a visit's link (/q/<token>/<code>/, with its CSRF cookie and token). Under gunicorn, against a bare
  Django view on the same gunicorn that inserts one row (bench/urls.py), and, for the page, against the
  same page's work done the simplest way in SQL (bench/urls.py's page floor).
- Randomization: participants.services.participant_randomize from concurrent processes (and, for the
  record, its API endpoint under gunicorn), against a raw lock-and-insert loop (SELECT ... FOR UPDATE on
  a per-stratum counter row, INSERT, UPDATE, COMMIT) from the same number of processes.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import random
import re
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import common

HOST = "127.0.0.1"


# -- gunicorn --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(workers: int) -> Any:
    port = free_port()
    args = [
        str(common.ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    proc = subprocess.Popen(args, env=common.bench_env(), cwd=common.ROOT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port, args
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- HTTP client -----------------------------------------------------------------------------------------


def _client(job: tuple[int, list[tuple[str, str, bytes]], dict[str, str], float]) -> list[tuple[float, int]]:
    """One closed-loop client: its requests in order, until done or the deadline. (latency s, status)."""
    port, requests, headers, deadline = job
    out = []
    for method, path, body in requests:
        if time.monotonic() >= deadline:
            break
        start = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except OSError:
            status = 0
        finally:
            conn.close()
        out.append((time.perf_counter() - start, status))
    return out


def load(
    port: int,
    per_client: list[list[tuple[str, str, bytes]]],
    headers: dict[str, str],
    seconds: float,
    *,
    success: range = range(200, 300),
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    with multiprocessing.get_context("fork").Pool(len(per_client)) as pool:
        start = time.perf_counter()
        results = pool.map(_client, [(port, reqs, headers, deadline) for reqs in per_client])
        wall = time.perf_counter() - start
    latencies = [lat for r in results for lat, _ in r]
    statuses: dict[int, int] = {}
    for r in results:
        for _, status in r:
            statuses[status] = statuses.get(status, 0) + 1
    ok = sum(n for s, n in statuses.items() if s in success)
    return {
        "clients": len(per_client),
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_seconds": wall,
        "rps": ok / wall,
        "p50_ms": 1000 * common.percentile(latencies, 0.50),
        "p90_ms": 1000 * common.percentile(latencies, 0.90),
        "p99_ms": 1000 * common.percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies) if latencies else None,
    }


# -- survey submission -----------------------------------------------------------------------------------


def _survey_forms(
    rows: list[tuple[int, int, list[str]]], pool: Any, rng: random.Random, clients: int
) -> list[list[tuple[str, dict[str, str]]]]:
    """The participants' own path: each visit's link (made by the project's ``link_create``) and, per
    questionnaire, the page and the fields its form posts."""
    from assessments.models import ScheduledAssessment
    from assessments.services.links import link_create

    visits = ScheduledAssessment.objects.in_bulk([aid for _, aid, _ in rows])
    per_client: list[list[tuple[str, dict[str, str]]]] = [[] for _ in range(clients)]
    for i, (_pid, aid, instruments) in enumerate(rows):
        page = urlsplit(link_create(assessment=visits[aid])).path
        for code in instruments:
            fields = {key: str(value) for key, value in pool.draw(code, rng)[0].items()}
            per_client[i % clients].append((f"{page}{code}/", fields))
    return per_client


def _csrf_pair(port: int, path: str) -> tuple[str, str]:
    """A CSRF cookie and the form's token from one GET of a questionnaire page, as a phone gets them."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        html = resp.read().decode()
        cookies = resp.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()
    cookie = next(c.split(";")[0] for c in cookies if c.startswith("csrftoken="))
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if resp.status != 200 or match is None:
        raise RuntimeError(f"GET {path}: {resp.status}, no CSRF token in the page")
    return cookie, match.group(1)


def submission(*, clients: int, workers: int, max_requests: int, seconds: float) -> dict[str, Any]:
    from assessments.models import AssessmentStatus, Response, ScheduledAssessment
    from bench.load import AnswerPool, token_for

    rng = random.Random(3)
    per_run = max_requests // 4 + clients  # visits, four questionnaires each
    open_rows = list(
        ScheduledAssessment.objects.filter(status=AssessmentStatus.OPEN, visit__code="baseline", responses__isnull=True)
        .order_by("id")
        .values_list("participant_id", "id", "instruments")[: 3 * per_run]
    )
    open_rows, survey_rows, floor_rows = open_rows[:per_run], open_rows[per_run : 2 * per_run], open_rows[2 * per_run :]
    codes = sorted({c for _, _, ins in open_rows for c in ins})
    pool = AnswerPool(codes, rng)
    token = token_for("bench_coordinator")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Connection": "close"}
    per_client: list[list[tuple[str, str, bytes]]] = [[] for _ in range(clients)]
    bodies = []
    # The API names a visit by its opaque public id (never the sequential key; docs/api.md).
    visits = ScheduledAssessment.objects.filter(pk__in=[aid for _, aid, _ in open_rows])
    public = dict(visits.values_list("id", "public_id"))
    for i, (pid, aid, instruments) in enumerate(open_rows):
        path = f"/api/v1/trials/{common.TRIAL_SLUG}/participants/{pid}/assessments/{public[aid]}/responses/"
        for code in instruments:
            body = json.dumps({"instrument": code, "answers": pool.draw(code, rng)[0]}).encode()
            per_client[i % clients].append(("POST", path, body))
            bodies.append(body)
    for reqs in per_client:
        del reqs[max_requests // clients :]
    survey_forms = _survey_forms(survey_rows, pool, rng, clients)
    # The floor's forms are the same pages' forms, posted to the floor's URL for another set of visits.
    floor_forms = [
        [(page.replace("/q/", "/bench/page/", 1), fields) for page, fields in forms]
        for forms in _survey_forms(floor_rows, pool, rng, clients)
    ]
    for forms in survey_forms + floor_forms:
        del forms[max_requests // clients :]
    bare_per_client = [[("POST", "/bench/bare/", body) for _, _, body in reqs] for reqs in per_client]
    drf_per_client = [[("POST", "/bench/drf/", body) for _, _, body in reqs] for reqs in per_client]
    before = Response.objects.count()
    with gunicorn(workers) as (port, args):
        # Warm every worker (imports, URL resolvers, connections) on both endpoints.
        warm = [[("GET", f"/api/v1/trials/{common.TRIAL_SLUG}/", b"")] * 10 for _ in range(clients)]
        load(port, warm, headers, 20)
        load(port, [[("POST", "/bench/bare/", b"{}")] * 10 for _ in range(clients)], headers, 20)
        load(port, [[("POST", "/bench/drf/", b"{}")] * 10 for _ in range(clients)], headers, 20)
        bare = load(port, bare_per_client, headers, seconds)
        drf = load(port, drf_per_client, headers, seconds)
        project = load(port, per_client, headers, seconds)
        first_page = survey_forms[0][0][0]
        cookie, csrf = _csrf_pair(port, first_page)  # one pair serves every form, as one browser's would
        survey_headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded", "Connection": "close"}
        load(port, [[("GET", first_page, b"")] * 10 for _ in range(clients)], survey_headers, 20)

        def posts(per_client: list[list[tuple[str, dict[str, str]]]]) -> list[list[tuple[str, str, bytes]]]:
            return [
                [("POST", page, urlencode({"csrfmiddlewaretoken": csrf, **fields}).encode()) for page, fields in forms]
                for forms in per_client
            ]

        # Success on both is the redirect to the next page (302); every refusal is a 4xx.
        floor = load(port, posts(floor_forms), survey_headers, seconds, success=range(302, 303))
        survey = load(port, posts(survey_forms), survey_headers, seconds, success=range(302, 303))
    written = Response.objects.count() - before
    completed = ScheduledAssessment.objects.filter(
        pk__in=[aid for _, aid, _ in open_rows], status=AssessmentStatus.COMPLETED
    ).count()
    survey_completed, floor_completed = (
        ScheduledAssessment.objects.filter(
            pk__in=[aid for _, aid, _ in rows], status=AssessmentStatus.COMPLETED
        ).count()
        for rows in (survey_rows, floor_rows)
    )
    return {
        "gunicorn": " ".join(args[1:]).replace(str(common.ROOT) + "/", ""),
        "project": project,
        "survey_page": survey,
        "page_floor": floor,
        "baseline": bare,
        "drf_floor": drf,
        "ratio_drf_floor": drf["rps"] / bare["rps"],
        "ratio_to_drf_floor": project["rps"] / drf["rps"],
        "responses_written": written,
        "visits_completed": completed,
        "survey_visits_completed": survey_completed,
        "floor_visits_completed": floor_completed,
        "ratio_rps": project["rps"] / bare["rps"],
        "ratio_survey_rps": survey["rps"] / bare["rps"],
        "ratio_page_floor": floor["rps"] / bare["rps"],
        "ratio_survey_to_floor": survey["rps"] / floor["rps"],
    }


# -- randomization ---------------------------------------------------------------------------------------


def _randomize_worker(job: tuple[list[int], float]) -> list[tuple[float, str]]:
    ids, deadline = job
    from django.db import connections

    connections.close_all()  # never share the parent's connection after fork
    from participants.models import Participant
    from participants.services import participant_randomize

    out = []
    for pk in ids:
        if time.monotonic() >= deadline:
            break
        start = time.perf_counter()
        try:
            participant_randomize(participant=Participant.objects.get(pk=pk), by=None)
            outcome = "ok"
        except Exception as exc:  # counted and reported, not hidden
            outcome = type(exc).__name__
        out.append((time.perf_counter() - start, outcome))
    connections.close_all()
    return out


RAW_SETUP = """
DROP TABLE IF EXISTS bench_raw_alloc; DROP TABLE IF EXISTS bench_raw_seq;
CREATE TABLE bench_raw_seq (stratum text PRIMARY KEY, n integer NOT NULL DEFAULT 0);
CREATE TABLE bench_raw_alloc (id bigserial PRIMARY KEY, participant integer NOT NULL UNIQUE, stratum text NOT NULL,
    seq integer NOT NULL, arm text NOT NULL, at timestamptz NOT NULL DEFAULT now(), UNIQUE (stratum, seq));
INSERT INTO bench_raw_seq (stratum) VALUES ('condition=MDD'), ('condition=GAD'), ('condition=CHR-FED');
"""


def _raw_worker(job: tuple[list[tuple[int, str]], float]) -> list[tuple[float, str]]:
    import psycopg

    items, deadline = job
    out = []
    with psycopg.connect(common.DATABASE_URL) as conn:
        for participant, stratum in items:
            if time.monotonic() >= deadline:
                break
            start = time.perf_counter()
            with conn.transaction():
                (n,) = conn.execute("SELECT n FROM bench_raw_seq WHERE stratum = %s FOR UPDATE", [stratum]).fetchone()  # type: ignore[misc]
                conn.execute(
                    "INSERT INTO bench_raw_alloc (participant, stratum, seq, arm) VALUES (%s, %s, %s, %s)",
                    [participant, stratum, n + 1, "chatbot" if n % 2 else "waitlist"],
                )
                conn.execute("UPDATE bench_raw_seq SET n = n + 1 WHERE stratum = %s", [stratum])
            out.append((time.perf_counter() - start, "ok"))
    return out


def _summarize(results: list[list[tuple[float, str]]], wall: float) -> dict[str, Any]:
    latencies = [lat for r in results for lat, _ in r]
    outcomes: dict[str, int] = {}
    for r in results:
        for _, o in r:
            outcomes[o] = outcomes.get(o, 0) + 1
    ok = outcomes.get("ok", 0)
    return {
        "clients": len(results),
        "attempts": len(latencies),
        "outcomes": outcomes,
        "wall_seconds": wall,
        "per_second": ok / wall,
        "p50_ms": 1000 * common.percentile(latencies, 0.5),
        "p99_ms": 1000 * common.percentile(latencies, 0.99),
    }


def anomalies() -> dict[str, Any]:
    """Over every allocation of the trial (bulk-loaded and live): duplicates and block balance."""
    from django.db import connection

    q = {
        "participants_with_two_allocations": "SELECT count(*) FROM (SELECT participant_id FROM participants_allocation "
        "GROUP BY participant_id HAVING count(*) > 1) d",
        "duplicate_positions": "SELECT count(*) FROM (SELECT stratum, sequence_number FROM participants_allocation "
        "GROUP BY stratum, sequence_number HAVING count(*) > 1) d",
        "sequence_gaps": "SELECT count(*) FROM (SELECT stratum FROM participants_allocation GROUP BY stratum "
        "HAVING max(sequence_number) <> count(*)) d",
        "sequence_counter_mismatch": "SELECT count(*) FROM participants_randomizationsequence s WHERE s.allocated <> "
        "(SELECT count(*) FROM participants_allocation a WHERE a.trial_id = s.trial_id AND a.stratum = s.stratum)",
        "unbalanced_completed_blocks": "SELECT count(*) FROM (SELECT count(*) AS n, max(block_size) AS size, "
        "count(*) FILTER (WHERE arm_id = %(first_arm)s) AS n_first FROM participants_allocation "
        "GROUP BY stratum, block_index) b WHERE n = size AND 2 * n_first <> n",
        "overfull_blocks": "SELECT count(*) FROM (SELECT stratum, block_index FROM participants_allocation "
        "GROUP BY stratum, block_index HAVING count(*) > max(block_size)) d",
        "incomplete_blocks_not_last": "SELECT count(*) FROM (SELECT stratum, block_index "
        "FROM participants_allocation a "
        "GROUP BY stratum, block_index HAVING count(*) < max(block_size) AND block_index < "
        "(SELECT max(block_index) FROM participants_allocation b WHERE b.stratum = a.stratum)) d",
    }
    from trial.models import Arm

    first_arm = Arm.objects.filter(trial__slug=common.TRIAL_SLUG).order_by("pk").values_list("pk", flat=True)[0]
    out: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for name, sql in q.items():
            cursor.execute(sql, {"first_arm": first_arm} if "%(" in sql else None)
            out[name] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), count(DISTINCT (stratum, block_index)) FROM participants_allocation")
        out["allocations_checked"], out["blocks_checked"] = cursor.fetchone()
    return out


def raw_anomalies() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM bench_raw_alloc), (SELECT count(*) FROM (SELECT stratum, seq FROM "
            "bench_raw_alloc GROUP BY 1, 2 HAVING count(*) > 1) d), (SELECT count(*) FROM (SELECT stratum FROM "
            "bench_raw_alloc GROUP BY 1 HAVING max(seq) <> count(*)) d)"
        )
        total, dup, gaps = cursor.fetchone()
    return {"allocations": total, "duplicate_positions": dup, "sequence_gaps": gaps}


def randomization(*, clients: int, max_allocations: int, seconds: float, api_workers: int) -> dict[str, Any]:
    from django.db import connection, connections

    from bench.load import token_for
    from participants.models import Participant, Status

    pool = list(
        Participant.objects.filter(
            trial__slug=common.TRIAL_SLUG,
            status=Status.ENROLLED,
            assessments__visit__code="baseline",
            assessments__status="completed",
        )
        .order_by("id")
        .values_list("id", "strata")
    )
    service_ids = [pk for pk, _ in pool[:max_allocations]]
    api_ids = [pk for pk, _ in pool[max_allocations : 2 * max_allocations]]
    strata = [f"condition={s['condition']}" for _, s in pool[:max_allocations]]

    # Raw baseline.
    with connection.cursor() as cursor:
        cursor.execute(RAW_SETUP)
    connections.close_all()
    jobs_raw = [
        ([(i, strata[i]) for i in range(c, len(strata), clients)], time.monotonic() + seconds) for c in range(clients)
    ]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(clients) as p:
        start = time.perf_counter()
        raw = _summarize(p.map(_raw_worker, jobs_raw), time.perf_counter() - start)
    raw["anomalies"] = raw_anomalies()

    # The project's service, from the same number of processes.
    connections.close_all()
    deadline = time.monotonic() + seconds
    jobs = [(service_ids[c::clients], deadline) for c in range(clients)]
    with ctx.Pool(clients) as p:
        start = time.perf_counter()
        service = _summarize(p.map(_randomize_worker, jobs), time.perf_counter() - start)

    # Its API endpoint under gunicorn (for the record: HTTP, auth and serialization on top).
    token = token_for("bench_coordinator")
    headers = {"Authorization": f"Token {token}", "Connection": "close"}
    per_client = [
        [
            ("POST", f"/api/v1/trials/{common.TRIAL_SLUG}/participants/{pk}/randomize/", b"")
            for pk in api_ids[c::clients]
        ]
        for c in range(clients)
    ]
    with gunicorn(api_workers) as (port, _args):
        load(port, [[("GET", f"/api/v1/trials/{common.TRIAL_SLUG}/", b"")] * 10 for _ in range(clients)], headers, 20)
        api = load(port, per_client, headers, seconds)

    from assessments.models import ScheduledAssessment

    follow_ups = ScheduledAssessment.objects.filter(
        participant_id__in=service_ids + api_ids, visit__anchor="randomization"
    ).count()
    randomized = Participant.objects.filter(pk__in=service_ids + api_ids, status=Status.RANDOMIZED).count()
    return {
        "project_service": service,
        "project_api": api,
        "baseline_raw": raw,
        "ratio": service["per_second"] / raw["per_second"],
        "ratio_api": api["rps"] / raw["per_second"],
        "randomized": randomized,
        "follow_up_visits_scheduled": follow_ups,
        "anomalies": anomalies(),
    }
