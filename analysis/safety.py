"""The safety section of the report: every risk signal the platform raised (PHQ-9 item 9, a missing item 9,
a chatbot crisis flag), how fast a clinician acknowledged it and contacted the participant against the
protocol's deadline, and how many escalated because nobody did in time.

By arm in an unblinded (closed-session) report, pooled in a blinded (open-session) one: chatbot crisis flags
arise in the intervention arm only, so alerts by letter would tell which letter is which arm.

The protocol's deadline for an alert is its escalation time (``SAFETY_ESCALATION_HOURS``, or
``SAFETY_ESCALATION_HOURS_URGENT`` for an urgent one), fixed on the alert when it was raised
(``escalate_at``): acknowledged "within the protocol" means at or before it. Contact is measured from the
alert being raised to the clinician recording that they reached the participant, against the same deadline.
Times are in hours; medians and quartiles are of the alerts that were acknowledged (or contacted).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.conf import settings

from analysis.baseline import continuous
from participants.models import Allocation, SafetyAlert
from participants.models.safety import AlertSource, AlertStatus
from trial.models import Trial

TOTAL = "Total"


def _hours(start: Any, end: Any) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def _column(alerts: list[Any]) -> dict[str, Any]:
    acknowledged = [a for a in alerts if a.acknowledged_at is not None]
    contacted = [a for a in alerts if a.contacted_at is not None]
    return {
        "alerts": len(alerts),
        "participants_with_alert": len({a.participant_id for a in alerts}),
        "urgent": sum(1 for a in alerts if a.urgent),
        "by_source": {s.value: sum(1 for a in alerts if a.source == s.value) for s in AlertSource},
        "by_flag": dict(sorted(Counter(a.flag for a in alerts).items())),
        "escalated": sum(1 for a in alerts if a.escalated_at is not None),
        "not_acknowledged": sum(1 for a in alerts if a.acknowledged_at is None),
        "open": sum(1 for a in alerts if a.status == AlertStatus.OPEN),
        "acknowledged": len(acknowledged),
        "acknowledged_within_protocol": sum(1 for a in acknowledged if a.acknowledged_at <= a.escalate_at),
        "hours_to_acknowledge": continuous([_hours(a.raised_at, a.acknowledged_at) for a in acknowledged]),
        "contacted": len(contacted),
        "contacted_within_protocol": sum(1 for a in contacted if a.contacted_at <= a.escalate_at),
        "hours_to_contact": continuous([_hours(a.raised_at, a.contacted_at) for a in contacted]),
        "risk_levels": dict(sorted(Counter(a.risk_level for a in alerts if a.risk_level).items())),
    }


def safety_summary(trial: Trial, *, blinded: bool) -> dict[str, Any]:
    """``{"pooled", "columns", "protocol_hours": {"urgent", "other"}, "counts": {column: {...}}}``: columns
    are the arm codes in protocol order then ``Total`` (every enrolled participant's alerts), or ``Total``
    only when blinded."""
    alerts = list(SafetyAlert.objects.filter(participant__trial=trial).order_by("raised_at", "id"))
    columns: list[str] = []
    arm_of: dict[int, str] = {}
    if not blinded:
        columns = list(trial.arms.order_by("order", "id").values_list("code", flat=True))
        arm_of = dict(Allocation.objects.filter(trial=trial).values_list("participant_id", "arm__code"))
    columns.append(TOTAL)
    grouped: dict[str, list[Any]] = defaultdict(list)
    for alert in alerts:
        grouped[TOTAL].append(alert)
        if alert.participant_id in arm_of:
            grouped[arm_of[alert.participant_id]].append(alert)
    return {
        "pooled": blinded,
        "columns": columns,
        "protocol_hours": {
            "urgent": float(settings.SAFETY_ESCALATION_HOURS_URGENT),
            "other": float(settings.SAFETY_ESCALATION_HOURS),
        },
        "counts": {c: _column(grouped[c]) for c in columns},
    }
