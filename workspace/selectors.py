"""Reads of the workspace that span the apps: the trial dashboard's figures and the participant list.

Everything is counted in the database (conditional counts, grouped by period, stratum, site, visit), so the
number of queries does not grow with the number of participants. Whatever a reader may not know is kept
out of the queries themselves, not filtered afterwards: without ``desk.sees_arms`` no query groups by arm,
visits are counted as ``assessments.selectors.shown_status`` shows them (a visit completes once every
arm's questionnaires are in), and visits only one arm has are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth, TruncWeek

from assessments.blinding import ArmSpecific, arm_specific
from assessments.models import PENDING, AssessmentStatus, ScheduledAssessment
from assessments.selectors import hidden_visits, shown_status
from participants.models import (
    AlertStatus,
    MessageStatus,
    Participant,
    SafetyAlert,
    Status,
    StatusChange,
)
from trial.access import ArmView, Capability
from trial.models import Arm, FactorLevel, Site, VisitDefinition
from workspace.access import Desk
from workspace.message_log import messages_visible

# --- Shared ---------------------------------------------------------------------------------------------


def day_bounds(desk: Desk, now: datetime) -> tuple[datetime, datetime]:
    """Start of today and of tomorrow in the trial's zone."""
    today = now.astimezone(desk.tz).date()
    start = datetime.combine(today, time(0), tzinfo=desk.tz)
    return start, datetime.combine(today + timedelta(days=1), time(0), tzinfo=desk.tz)


def blind_spec(desk: Desk) -> ArmSpecific | None:
    """The trial's one-arm questionnaires when the reader must not know arms; None when they see them."""
    return None if desk.sees_arms else arm_specific(desk.trial)


def visits_shown(desk: Desk, specific: ArmSpecific | None) -> QuerySet[ScheduledAssessment]:
    """The trial's scheduled visits this reader may count, each with its ``shown`` status (an alias)."""
    return (
        ScheduledAssessment.objects.filter(participant__trial=desk.trial)
        .exclude(visit_id__in=hidden_visits(specific))
        .alias(shown=shown_status(specific))
    )


# --- Dashboard ------------------------------------------------------------------------------------------


@dataclass
class Period:
    start: date
    randomized: int
    cumulative: int
    by_arm: list[int] = field(default_factory=list)


@dataclass
class Accrual:
    unit: str  # "month" or "week"
    periods: list[Period]
    total: int
    target: int | None
    arms: list[Arm]  # empty unless the reader sees arms and may see them over time
    arm_totals: list[int]

    @property
    def percent_of_target(self) -> int | None:
        return round(100 * self.total / self.target) if self.target else None


def _period_starts(first: date, last: date, unit: str) -> list[date]:
    starts = [first]
    while starts[-1] < last:
        current = starts[-1]
        if unit == "week":
            starts.append(current + timedelta(days=7))
        else:
            starts.append(date(current.year + current.month // 12, current.month % 12 + 1, 1))
    return starts


def accrual(desk: Desk, *, unit: str, arms: list[Arm]) -> Accrual:
    """Randomized participants per month or week (in the trial's zone), cumulative, against the target; per
    arm for readers who see arms, unless the trial hides the order of allocations from them."""
    trunc = TruncWeek if unit == "week" else TruncMonth
    over_time_by_arm = bool(arms) and not desk.order_hidden
    fields = ["period", "allocation__arm_id"] if over_time_by_arm else ["period"]
    rows = (
        Participant.objects.filter(trial=desk.trial, randomized_at__isnull=False)
        .annotate(period=trunc("randomized_at", tzinfo=desk.tz))
        .values(*fields)
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: Counter[tuple[date, int | None]] = Counter()
    for row in rows:
        start = row["period"].date() if isinstance(row["period"], datetime) else row["period"]
        counts[(start, row.get("allocation__arm_id"))] += row["n"]
    periods: list[Period] = []
    if counts:
        starts = _period_starts(min(s for s, _ in counts), max(s for s, _ in counts), unit)
        running = 0
        for start in starts:
            n = sum(v for (s, _), v in counts.items() if s == start)
            running += n
            by_arm = [counts[(start, arm.pk)] for arm in arms] if over_time_by_arm else []
            periods.append(Period(start=start, randomized=n, cumulative=running, by_arm=by_arm))
    return Accrual(
        unit=unit,
        periods=periods,
        total=periods[-1].cumulative if periods else 0,
        target=desk.trial.target_enrollment,
        arms=arms if over_time_by_arm else [],
        arm_totals=[sum(v for (_, a), v in counts.items() if a == arm.pk) for arm in arms] if over_time_by_arm else [],
    )


@dataclass
class Breakdown:
    """Screened, enrolled and randomized in one group (a stratum level or a site), per arm if shown."""

    label: str
    screened: int = 0
    enrolled: int = 0
    randomized: int = 0
    by_arm: list[int] = field(default_factory=list)


def strata_and_sites(desk: Desk, arms: list[Arm]) -> tuple[list[tuple[str, list[Breakdown]]], list[Breakdown]]:
    """Per factor level and per site (the trial's own sites). One grouped query: the combinations of strata,
    site (and arm, for readers who see arms) are bounded by the design, not by the number of participants."""
    fields = ["strata", "site_id", "allocation__arm_id"] if arms else ["strata", "site_id"]
    rows = list(
        Participant.objects.filter(trial=desk.trial)
        .values(*fields)
        .annotate(
            screened=Count("id"),
            enrolled=Count("id", filter=Q(enrolled_at__isnull=False)),
            randomized=Count("id", filter=Q(randomized_at__isnull=False)),
        )
        .order_by()
    )
    arm_index = {arm.pk: i for i, arm in enumerate(arms)}

    def add(group: Breakdown, row: dict[str, Any]) -> None:
        group.screened += row["screened"]
        group.enrolled += row["enrolled"]
        group.randomized += row["randomized"]
        arm_id = row.get("allocation__arm_id")
        if arm_id in arm_index:
            group.by_arm[arm_index[arm_id]] += row["randomized"]

    factors: dict[str, tuple[str, dict[str, Breakdown]]] = {}
    for level in (
        FactorLevel.objects.filter(factor__trial=desk.trial)
        .select_related("factor")
        .order_by("factor__order", "factor__id", "order", "id")
    ):
        _name, levels = factors.setdefault(level.factor.code, (level.factor.name, {}))
        levels[level.code] = Breakdown(label=level.label, by_arm=[0] * len(arms))
    sites = {
        site.pk: Breakdown(label=site.name, by_arm=[0] * len(arms))
        for site in Site.objects.filter(trial=desk.trial).order_by("code")
    }
    no_site = Breakdown(label="No site recorded", by_arm=[0] * len(arms))
    for row in rows:
        for code, level in (row["strata"] or {}).items():
            if code in factors and level in factors[code][1]:
                add(factors[code][1][level], row)
        add(sites.get(row["site_id"], no_site), row)
    by_site = list(sites.values()) + ([no_site] if no_site.screened else [])
    return [(name, list(levels.values())) for name, levels in factors.values()], by_site


@dataclass
class Funnel:
    steps: list[tuple[str, int]]  # everyone who ever reached the step (from the status history)
    ineligible: int
    reasons: list[tuple[str, int]]
    withdrawn: int
    lost: int
    completed: int

    @property
    def screened(self) -> int:
        return self.steps[0][1]

    @property
    def enrolled(self) -> int:
        return self.steps[3][1]


def funnel(desk: Desk) -> Funnel:
    """A CONSORT-like funnel: a participant now randomized also counts as screened, consented, enrolled."""
    reached = dict(
        StatusChange.objects.filter(participant__trial=desk.trial)
        .values_list("to_status")
        .annotate(n=Count("participant_id", distinct=True))
        .order_by()
    )
    now = dict(Participant.objects.filter(trial=desk.trial).values_list("status").annotate(n=Count("id")).order_by())
    # Grouped by the list of reasons itself: as many rows as combinations of failed rules.
    reasons: Counter[str] = Counter()
    for entries, n in (
        Participant.objects.filter(trial=desk.trial, status=Status.INELIGIBLE)
        .values_list("ineligibility_reasons")
        .annotate(n=Count("id"))
        .order_by()
    ):
        for entry in entries or []:
            reasons[str(entry.get("reason", "not given"))] += n
    steps = [
        ("Screened", sum(now.values())),
        ("Eligible", reached.get(Status.ELIGIBLE, 0)),
        ("Consented", reached.get(Status.CONSENTED, 0)),
        ("Enrolled", reached.get(Status.ENROLLED, 0)),
        ("Randomized", reached.get(Status.RANDOMIZED, 0)),
    ]
    return Funnel(
        steps=steps,
        ineligible=now.get(Status.INELIGIBLE, 0),
        reasons=sorted(reasons.items(), key=lambda item: (-item[1], item[0])),
        withdrawn=now.get(Status.WITHDRAWN, 0),
        lost=now.get(Status.LOST_TO_FOLLOW_UP, 0),
        completed=now.get(Status.COMPLETED, 0),
    )


@dataclass
class VisitFigures:
    name: str
    due_today: int
    overdue: int
    missed: int
    completed: int
    due_so_far: int

    @property
    def completion(self) -> int | None:
        return round(100 * self.completed / self.due_so_far) if self.due_so_far else None


def visit_figures(desk: Desk, now: datetime) -> list[VisitFigures]:
    """Per visit: pending and due today (trial's zone), pending and due before today (overdue), missed, and
    completed out of those due so far (due date passed, or already completed; cancelled ones not)."""
    start, end = day_bounds(desk, now)
    specific = blind_spec(desk)
    completed = Q(shown=AssessmentStatus.COMPLETED)
    rows: dict[int, dict[str, Any]] = {
        row["visit_id"]: dict(row)
        for row in visits_shown(desk, specific)
        .values("visit_id")
        .annotate(
            due_today=Count("id", filter=Q(shown__in=PENDING, due_at__gte=start, due_at__lt=end)),
            overdue=Count("id", filter=Q(shown__in=PENDING, due_at__lt=start)),
            missed=Count("id", filter=Q(shown=AssessmentStatus.MISSED)),
            completed=Count("id", filter=completed),
            due_so_far=Count("id", filter=completed | (Q(due_at__lte=now) & ~Q(shown=AssessmentStatus.CANCELLED))),
        )
        .order_by()
    }
    empty = {"due_today": 0, "overdue": 0, "missed": 0, "completed": 0, "due_so_far": 0}
    return [
        VisitFigures(name=visit.name, **{k: rows.get(visit.pk, empty)[k] for k in empty})
        for visit in VisitDefinition.objects.filter(trial=desk.trial)
        .exclude(pk__in=hidden_visits(specific))
        .order_by("order", "week", "id")
    ]


@dataclass
class MessageFigures:
    failed: int
    retrying: int


def failing_messages(desk: Desk) -> MessageFigures:
    """Messages to the trial's participants that failed for good, or failed and wait for another try, as
    the message log shows them to this reader (no count that follows one arm's reminders)."""
    figures = (
        messages_visible(desk)
        .filter(participant__isnull=False)
        .aggregate(
            failed=Count("id", filter=Q(status=MessageStatus.FAILED)),
            retrying=Count("id", filter=Q(status=MessageStatus.PENDING, attempts__gt=0)),
        )
    )
    return MessageFigures(**figures)


ALERTS_SHOWN = 25


@dataclass
class AlertFigures:
    open: int
    acknowledged: int
    past_escalation: int
    urgent: int
    oldest: list[SafetyAlert]  # at most ALERTS_SHOWN, most urgent and oldest first


def open_alerts(desk: Desk, now: datetime) -> AlertFigures | None:
    """Open and acknowledged alerts, for readers who handle safety (None for everyone else)."""
    if not desk.can(Capability.HANDLE_SAFETY):
        return None
    alerts = SafetyAlert.objects.filter(
        participant__trial=desk.trial, status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]
    )
    figures = alerts.aggregate(
        open=Count("id", filter=Q(status=AlertStatus.OPEN)),
        acknowledged=Count("id", filter=Q(status=AlertStatus.ACKNOWLEDGED)),
        past_escalation=Count("id", filter=Q(status=AlertStatus.OPEN, escalate_at__lte=now)),
        urgent=Count("id", filter=Q(urgent=True)),
    )
    oldest = list(alerts.select_related("participant").order_by("-urgent", "raised_at", "id")[:ALERTS_SHOWN])
    for alert in oldest:
        alert.age = now - alert.raised_at  # type: ignore[attr-defined]
        alert.left = alert.escalate_at - now  # type: ignore[attr-defined]
    return AlertFigures(oldest=oldest, **figures)


def trial_arms(desk: Desk) -> list[Arm]:
    """The arms, for readers who see them; nobody else's queries ever group by arm."""
    return list(Arm.objects.filter(trial=desk.trial).order_by("order", "id")) if desk.sees_arms else []


# --- Participant list -----------------------------------------------------------------------------------


class VisitState:
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"
    MISSED = "missed"
    COMPLETE = "complete"

    choices = [
        (DUE_TODAY, "Has a visit due today"),
        (OVERDUE, "Has an overdue visit"),
        (MISSED, "Missed a visit"),
        (COMPLETE, "All visits completed"),
    ]


def participant_rows(
    desk: Desk,
    *,
    now: datetime,
    search: str = "",
    status: str = "",
    site: int | None = None,
    stratum: tuple[str, str] | None = None,
    visit_state: str = "",
) -> QuerySet[Participant]:
    """The trial's participants, newest screened first, filtered, each with its next visit's due time
    (``next_due``) and whether it has an overdue (``overdue``), due-today and missed visit, as the reader
    sees visits. Name and e-mail are searched only for readers who may see contact details."""
    specific = blind_spec(desk)
    start, end = day_bounds(desk, now)

    def visits() -> QuerySet[ScheduledAssessment]:
        return (
            ScheduledAssessment.objects.filter(participant=OuterRef("pk"))
            .exclude(visit_id__in=hidden_visits(specific))
            .alias(shown=shown_status(specific))
        )

    related = ["site", "allocation__arm"]
    if desk.can(Capability.VIEW_CONTACT):
        related.append("contact")
    rows = (
        Participant.objects.filter(trial=desk.trial)
        .select_related(*related)
        .annotate(
            next_due=Subquery(
                visits()
                .filter(Q(shown__in=PENDING))
                .order_by()
                .values("participant")
                .annotate(m=Min("due_at"))
                .values("m")
            ),
            overdue=Exists(visits().filter(Q(shown__in=PENDING, due_at__lt=start))),
            due_today=Exists(visits().filter(Q(shown__in=PENDING, due_at__gte=start, due_at__lt=end))),
            missed=Exists(visits().filter(Q(shown=AssessmentStatus.MISSED))),
        )
        # Screening order, never allocation order (allocation times stay hidden where the trial says so).
        .order_by("-screened_at", "-id")
    )
    if desk.arm_view == ArmView.MASKED:
        rows = rows.prefetch_related("unblindings")
    if search:
        matches = Q(study_id__icontains=search)
        if desk.can(Capability.VIEW_CONTACT):
            matches |= Q(contact__full_name__icontains=search) | Q(contact__email__icontains=search)
        rows = rows.filter(matches)
    if status:
        rows = rows.filter(status=status)
    if site is not None:
        rows = rows.filter(site_id=site)
    if stratum is not None:
        rows = rows.filter(**{f"strata__{stratum[0]}": stratum[1]})
    if visit_state == VisitState.OVERDUE:
        rows = rows.filter(overdue=True)
    elif visit_state == VisitState.DUE_TODAY:
        rows = rows.filter(due_today=True)
    elif visit_state == VisitState.MISSED:
        rows = rows.filter(missed=True)
    elif visit_state == VisitState.COMPLETE:
        rows = rows.filter(
            Exists(visits().filter(Q(shown=AssessmentStatus.COMPLETED))),
            ~Exists(visits().exclude(Q(shown=AssessmentStatus.COMPLETED))),
        )
    return rows
