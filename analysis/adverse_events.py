"""Adverse-event counts for the report: events, participants with at least one, serious events and
participants with at least one serious event; by arm in an unblinded report, pooled in a blinded one.

Blinded, the counts are pooled over arms rather than given by letter: adverse events cluster in the arm
with the intervention (events "related to the intervention" can happen in no other), so counts by letter
would tell which letter is which arm."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from participants.models import AdverseEvent, Allocation, Participant
from trial.models import Trial

TOTAL = "Total"


def adverse_event_counts(trial: Trial, *, blinded: bool) -> dict[str, Any]:
    """``{"pooled": bool, "columns": [...], "counts": {column: {...}}}``; the columns are the arm codes in
    protocol order then ``Total`` (enrolled participants, randomized or not), or only ``Total`` blinded."""
    enrolled = Participant.objects.filter(trial=trial, study_id__isnull=False)
    arm_of: dict[int, str] = {}
    columns: list[str] = []
    if not blinded:
        columns = list(trial.arms.order_by("order", "id").values_list("code", flat=True))
        arm_of = dict(Allocation.objects.filter(trial=trial).values_list("participant_id", "arm__code"))
    columns.append(TOTAL)
    population: dict[str, int] = defaultdict(int)
    for pid in enrolled.values_list("pk", flat=True):
        population[TOTAL] += 1
        if pid in arm_of:
            population[arm_of[pid]] += 1
    events: dict[str, int] = defaultdict(int)
    serious: dict[str, int] = defaultdict(int)
    with_any: dict[str, set[int]] = defaultdict(set)
    with_serious: dict[str, set[int]] = defaultdict(set)
    rows = AdverseEvent.objects.filter(participant__in=enrolled).values_list("participant_id", "serious")
    for pid, is_serious in rows:
        for column in (TOTAL, arm_of[pid]) if pid in arm_of else (TOTAL,):
            events[column] += 1
            with_any[column].add(pid)
            if is_serious:
                serious[column] += 1
                with_serious[column].add(pid)
    return {
        "pooled": blinded,
        "columns": columns,
        "counts": {
            c: {
                "participants": population[c],
                "events": events[c],
                "participants_with_event": len(with_any[c]),
                "serious_events": serious[c],
                "participants_with_serious_event": len(with_serious[c]),
            }
            for c in columns
        },
    }
