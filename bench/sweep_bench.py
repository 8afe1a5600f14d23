"""The invitation sweep (assessments.services.sweep.sweep) with 1% of visits due, against an index-only select
of the same due rows. Each sweep runs inside a transaction that is rolled back, so every repetition sees
the same due rows; the table is vacuumed first so the baseline can be answered from the index alone."""

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
    sweep_s = statistics.median(sweep_times)
    base_s = statistics.median(baseline_times)
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
    }
