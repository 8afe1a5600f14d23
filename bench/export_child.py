"""One export in a process of its own, so its peak memory (ru_maxrss) is its own.

    python bench/export_child.py project OUT      # analysis.exports.long_csv, blinded, as the API streams it
    python bench/export_child.py copy OUT         # COPY (the same rows, in SQL) TO STDOUT

The export's code (and with it pandas and numpy) is imported before the clock starts, as a server worker
has it loaded before its first request. Prints one JSON line: seconds, bytes, lines, peak RSS (VmHWM of this
process).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def copy_sql(trial_id: int) -> str:
    """The blinded long file in one query: every allocation x planned visit x common instrument x scale,
    left-joined to the visit and the current response, in study-ID order."""
    from analysis.datasets.source import load_protocol
    from trial.models import Trial

    protocol = load_protocol(Trial.objects.get(pk=trial_id), blinded=True)
    values = []
    for vo, planned in enumerate(protocol.visits):
        for io, code in enumerate(planned.common):
            for so, scale in enumerate(protocol.instrument(code).scale_names()):
                v = planned.visit
                values.append(f"({v.pk}, '{v.code}', {v.week}, {vo}, '{code}', {io}, '{scale}', {so})")
    factor = protocol.factor_codes()[0]
    # The interpolated values are the protocol's own ids and codes, not input.
    return f"""
WITH plan (visit_id, visit, week, vo, instrument, io, scale, so) AS (VALUES {", ".join(values)}),
latest AS (
    SELECT DISTINCT ON (assessment_id, instrument_code) assessment_id, instrument_code, total, subscales
    FROM assessments_response ORDER BY assessment_id, instrument_code, version DESC),
first AS (
    SELECT assessment_id, instrument_code, min(submitted_at) AS first_at
    FROM assessments_response GROUP BY assessment_id, instrument_code)
SELECT p.study_id AS participant_id, arm.blinded_label AS arm, p.strata ->> '{factor}' AS {factor}, plan.visit,
       plan.week, plan.instrument, plan.scale,
       CASE WHEN plan.scale = 'total' THEN r.total ELSE (r.subscales ->> plan.scale)::float END AS value,
       f.first_at AS completed_at
FROM participants_allocation al
JOIN participants_participant p ON p.id = al.participant_id
JOIN trial_arm arm ON arm.id = al.arm_id
CROSS JOIN plan
LEFT JOIN assessments_scheduledassessment sa ON sa.participant_id = p.id AND sa.visit_id = plan.visit_id
LEFT JOIN latest r ON r.assessment_id = sa.id AND r.instrument_code = plan.instrument
LEFT JOIN first f ON f.assessment_id = sa.id AND f.instrument_code = plan.instrument
WHERE al.trial_id = {trial_id}
ORDER BY p.study_id, plan.vo, plan.io, plan.so
"""  # noqa: S608


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    common.setup_django()
    from trial.models import Trial

    trial = Trial.objects.get(slug=common.TRIAL_SLUG)
    # The export's code is imported before the clock starts, as a server worker has it imported before its
    # first request (its URLconf imports every app's API): the clock measures the export, not the import of
    # pandas and numpy. Their memory still counts in the peak.
    from analysis.exports import long_csv

    size = 0
    start = time.perf_counter()
    with out.open("wb") as handle:
        if mode == "project":
            for chunk in long_csv(trial=trial, blinded=True, by=None):
                handle.write(chunk)
                size += len(chunk)
        elif mode == "copy":
            import psycopg

            sql = copy_sql(trial.pk)
            copy_sql_text = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
            with (
                psycopg.connect(common.DATABASE_URL) as conn,
                conn.cursor() as cur,
                cur.copy(copy_sql_text) as copy,
            ):
                for data in copy:
                    handle.write(data)
                    size += len(data)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    elapsed = time.perf_counter() - start
    with out.open("rb") as handle:
        lines = sum(1 for _ in handle)
    # VmHWM is this process image's own peak RSS. ru_maxrss is not: Linux carries the parent's peak across
    # fork + exec, so it reports at least what the (large) bench runner had when it started this process.
    peak_kib = _vm_hwm_kib()
    ru_maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": elapsed,
                "bytes": size,
                "lines": lines,
                "peak_rss_mib": peak_kib / 1024,
                "ru_maxrss_mib": ru_maxrss_kib / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
