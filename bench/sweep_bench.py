"""The invitation sweep (assessments.services.sweep.sweep) with 1% of visits due, against two baselines:

- the issue's: an index-only select of the same due rows (reads only; the sweep also writes);
- the same work done the simplest way: one SQL statement that opens the due visits and inserts their
  invitations into the outbox (``UPDATE ... RETURNING`` feeding ``INSERT ... SELECT``), with no per-row
  reminder time, timezone or channel.

Each sweep and each same-work statement runs inside a transaction that is rolled back, so every
repetition sees the same due rows; the table is vacuumed first so the select can be answered from the
index alone."""

from __future__ import annotations

import statistics
import time
from typing import Any


def _vacuum() -> None:
    import psycopg

    from bench import common

    with psycopg.connect(common.DATABASE_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE assessments_scheduledassessment")
        conn.execute("VACUUM ANALYZE participants_outboxmessage")


BASELINE_SQL = (
    "SELECT opens_at FROM assessments_scheduledassessment WHERE status = 'scheduled' AND opens_at <= %s "
    "ORDER BY opens_at"
)


SAME_WORK_SQL = """
WITH opened AS (
    UPDATE assessments_scheduledassessment SET status = 'open', opened_at = %(now)s
    WHERE status = 'scheduled' AND opens_at <= %(now)s AND closes_at > %(now)s
    RETURNING id, participant_id
)
INSERT INTO participants_outboxmessage
    (kind, channel, participant_id, dedupe_key, context, status, available_at, attempts, recipient,
     last_error, created_at)
SELECT 'assessment_invitation', 'email', participant_id, 'assessment:' || id || ':invite',
       jsonb_build_object('assessment', id), 'pending', %(now)s, 0, '', '', %(now)s
FROM opened
ON CONFLICT (dedupe_key) DO NOTHING
"""


def _same_work(now: Any, repeat: int) -> tuple[list[float], int]:
    from django.db import connection, transaction

    times, rows = [], 0
    for _ in range(repeat):
        with transaction.atomic(), connection.cursor() as cursor:
            t0 = time.perf_counter()
            cursor.execute(SAME_WORK_SQL, {"now": now})
            rows = cursor.rowcount
            times.append(time.perf_counter() - t0)
            transaction.set_rollback(True)
        _vacuum()
    return times, rows


def run(*, repeat: int = 3) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from assessments.models import AssessmentStatus, ScheduledAssessment
    from assessments.services.sweep import sweep

    _vacuum()
    now = timezone.now()
    total = ScheduledAssessment.objects.count()
    due = ScheduledAssessment.objects.filter(
        status=AssessmentStatus.SCHEDULED, opens_at__lte=now, closes_at__gt=now
    ).count()

    baseline_times, baseline_rows = [], 0
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + BASELINE_SQL, [now])
        plan = [row[0] for row in cursor.fetchall()]
        for _ in range(max(repeat, 5)):
            t0 = time.perf_counter()
            cursor.execute(BASELINE_SQL, [now])
            baseline_rows = len(cursor.fetchall())
            baseline_times.append(time.perf_counter() - t0)

    sweep_times, idle_times, result = [], [], {}
    for _ in range(repeat):
        with transaction.atomic():
            t0 = time.perf_counter()
            result = sweep(now=now, deliver=False)
            sweep_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sweep(now=now, deliver=False)  # the same minute again: nothing is due any more
            idle_times.append(time.perf_counter() - t0)
            transaction.set_rollback(True)
        _vacuum()
    same_work_times, same_work_rows = _same_work(now, repeat)
    sweep_s = statistics.median(sweep_times)
    base_s = statistics.median(baseline_times)
    same_s = statistics.median(same_work_times)
    return {
        "scheduled_assessments": total,
        "due": due,
        "due_fraction": due / total if total else 0.0,
        "sweep_result": result,
        "sweep_seconds_median": sweep_s,
        "sweep_seconds_all": sweep_times,
        "sweep_ms_per_due_row": 1000 * sweep_s / due if due else None,
        "idle_sweep_seconds_median": statistics.median(idle_times),
        "baseline_seconds_median": base_s,
        "baseline_seconds_all": baseline_times,
        "baseline_rows": baseline_rows,
        "baseline_plan": plan,
        "ratio": sweep_s / base_s,
        "same_work_seconds_median": same_s,
        "same_work_seconds_all": same_work_times,
        "same_work_rows": same_work_rows,
        "ratio_same_work": sweep_s / same_s,
    }
