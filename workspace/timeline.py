"""One participant's story as the reader may see it: the participant read in a fixed number of queries,
and every event (screening, consent, status changes, visits with their questionnaires, messages, alerts,
unblindings, chatbot engagement) as one list in time order.

Blinding (DESIGN.md): to a reader who does not see this participant's arm (a blinded statistician; in a
masked trial, staff until the participant is emergency-unblinded) nothing that exists for one arm only
leaves a trace: no chatbot engagement, no chatbot crisis alert, no alliance questionnaire (WAI-SR), a visit
shown as every arm's questionnaires make it (assessments.blinding), no message about such a visit sent
after its shared questionnaires were in (the reminders that only the extra questionnaire keeps going), and
only the kinds of message every arm gets (questionnaire invitations and reminders).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet

from assessments.blinding import ArmSpecific, arm_specific
from assessments.instruments import UnknownInstrumentError, get_instrument
from assessments.models import AssessmentStatus, Response, ScheduledAssessment
from participants.api import arm_visible
from participants.models import (
    AlertSource,
    Allocation,
    ContactDetails,
    MessageStatus,
    OutboxMessage,
    Participant,
    Status,
)
from participants.selectors import adverse_events_for, consent_required_document
from participants.services.chatbot import EngagementSummary, engagement_summary
from trial import clock
from trial.access import Capability
from trial.models import ConsentDocument
from trial.models.protocol import VisitAnchor
from workspace.access import Desk
from workspace.alert_text import describe
from workspace.message_log import Delivery, delivery_in_words, kind_in_words, messages_about

ACTIVE = (Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP)
MESSAGE_STATES: dict[str, str] = {
    MessageStatus.PENDING: "queued",
    MessageStatus.SENDING: "queued",
    MessageStatus.SENT: "sent",
    MessageStatus.FAILED: "failed",
    MessageStatus.CANCELLED: "cancelled",
}


def participant_for_page(desk: Desk, pk: int) -> QuerySet[Participant]:
    """The participant with everything the page shows, in a fixed number of queries."""
    return (
        Participant.objects.filter(trial=desk.trial, pk=pk)
        .select_related("site", "allocation__arm", "contact", "screened_by")
        .prefetch_related(
            "unblindings__by",
            "consents__document",
            "consents__recorded_by",
            "status_changes__by",
            Prefetch(
                "assessments",
                queryset=ScheduledAssessment.objects.select_related("visit").order_by("due_at", "id"),
            ),
            Prefetch(
                "assessments__responses",
                queryset=Response.objects.select_related("submitted_by").order_by("instrument_code", "version"),
            ),
            "safety_alerts",
        )
    )


def instrument_name(code: str) -> str:
    try:
        return get_instrument(code).short_name
    except UnknownInstrumentError:
        return code


@dataclass
class Questionnaire:
    code: str
    name: str
    current: Response | None
    earlier: list[Response]  # the versions a correction replaced, oldest first

    @property
    def band(self) -> str:
        return self.current.band.replace("_", " ") if self.current is not None else ""


@dataclass
class Visit:
    assessment: ScheduledAssessment
    status: str  # as this reader is shown it
    completed_at: datetime | None
    questionnaires: list[Questionnaire]
    open_now: bool  # the invitation can be resent, answers entered

    @property
    def status_label(self) -> str:
        return AssessmentStatus(self.status).label

    @property
    def to_enter(self) -> list[Questionnaire]:
        return [q for q in self.questionnaires if q.current is None] if self.open_now else []


@dataclass
class Entry:
    at: datetime | None
    kind: str
    title: str
    show_time: bool = True
    item: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Story:
    participant: Participant
    visible: bool  # whether the reader may know this participant's arm
    tz: ZoneInfo  # the participant's own
    contact: ContactDetails | None
    entries: list[Entry]
    visits: list[Visit]
    engagement: EngagementSummary | None
    consent_due: ConsentDocument | None
    baseline_done: bool
    next_steps: list[tuple[str, str]]  # (label, path) of the enrollment forms that apply now
    follow_up_actions: list[str]


def _visits(p: Participant, specific: ArmSpecific | None, now: datetime) -> list[Visit]:
    hidden = specific.codes if specific is not None else frozenset()
    visits = []
    for a in p.assessments.all():
        codes = [c for c in a.instruments if c not in hidden]
        if not codes:
            continue  # a visit of one arm's questionnaires only: its presence would tell the arm
        versions: dict[str, list[Response]] = {}
        for r in a.responses.all():
            if r.instrument_code not in hidden:
                versions.setdefault(r.instrument_code, []).append(r)
        status, completed_at = a.status, a.completed_at
        if specific is not None and a.visit_id in specific.visits:
            first = {code: rows[0].submitted_at for code, rows in versions.items()}
            status = specific.shared_status(a.visit_id, a.status, first)
            if status == AssessmentStatus.COMPLETED:
                completed_at = max(first.values())
        questionnaires = [
            Questionnaire(
                code=code,
                name=instrument_name(code),
                current=versions[code][-1] if code in versions else None,
                earlier=versions.get(code, [])[:-1],
            )
            for code in codes
        ]
        open_now = (
            status == AssessmentStatus.OPEN and a.closes_at > now and p.status in ACTIVE
        )  # status as shown: a visit shown completed offers nothing, whatever the hidden questionnaire
        visits.append(Visit(a, status, completed_at, questionnaires, open_now))
    return visits


@dataclass
class Message:
    message: OutboxMessage
    about: Visit | None
    kind_label: str
    state: str  # queued, sent, failed, cancelled
    delivery: Delivery | None = None  # an SMS's delivery report


def _messages(desk: Desk, p: Participant, visits: list[Visit]) -> list[Message]:
    """The participant's messages as the message log shows them to this reader (workspace.message_log: one
    rule for what a reader who must not know the arm may see), oldest first."""
    by_id = {v.assessment.pk: v for v in visits}
    contact = desk.can(Capability.VIEW_CONTACT)
    shown = []
    for m in messages_about(desk, p).order_by("created_at", "id"):
        about = m.context.get("assessment") if isinstance(m.context, dict) else None
        visit = by_id.get(about) if about is not None else None
        delivery = delivery_in_words(m, contact=contact)
        shown.append(Message(m, visit, kind_in_words(m.kind), MESSAGE_STATES[m.status], delivery))
    return shown


def story_of(desk: Desk, p: Participant) -> Story:
    visible = arm_visible(p, desk.arm_view)
    try:
        allocation: Allocation | None = p.allocation
    except Allocation.DoesNotExist:
        allocation = None
    try:
        contact: ContactDetails | None = p.contact
    except ContactDetails.DoesNotExist:
        contact = None
    tz = ZoneInfo(contact.timezone if contact and contact.timezone else "UTC")
    specific = None if visible else arm_specific(desk.trial)
    now = clock.now()
    visits = _visits(p, specific, now)
    entries: list[Entry] = [Entry(p.screened_at, "screening", "Screened")]
    entries += [
        Entry(c.signed_at, "consent", f"Consent to version {c.document.version}", item=c) for c in p.consents.all()
    ]
    for change in p.status_changes.all():
        if change.to_status == Status.RANDOMIZED and change.from_status == Status.ENROLLED:
            entries.append(
                Entry(change.at, "randomization", "Randomized", show_time=not desk.order_hidden, item=change)
            )
            continue
        if change.to_status == Status.SCREENED or change.from_status == Status.SCREENED:
            continue  # the screening entry says it
        entries.append(Entry(change.at, "status", Status(change.to_status).label, item=change))
    entries += [Entry(v.assessment.opens_at, "visit", v.assessment.visit.name, item=v) for v in visits]
    entries += [Entry(m.message.created_at, "message", m.kind_label, item=m) for m in _messages(desk, p, visits)]
    for alert in p.safety_alerts.all():
        if alert.source == AlertSource.CHATBOT and not visible:
            continue  # only one arm talks to the chatbot
        words = describe(alert, {v.assessment.visit.code: v.assessment.visit.name for v in visits})
        entries.append(Entry(alert.raised_at, "alert", f"Safety alert: {words}", item=alert))
    entries += [Entry(u.at, "unblinding", "Emergency unblinding", item=u) for u in p.unblindings.all()]
    if desk.can(Capability.HANDLE_SAFETY):
        # Only to the roles that handle safety, as on the adverse event pages: a description or its
        # relatedness may tell the arm (docs/safety.md).
        entries += [
            Entry(ae.recorded_at, "adverse_event", "Serious adverse event" if ae.serious else "Adverse event", item=ae)
            for ae in adverse_events_for(p)
        ]
    # Times entered by hand (a consent's signature) have minutes only: within a minute, the story's own order.
    rank = {"screening": 0, "consent": 1, "status": 2, "randomization": 2, "visit": 3, "message": 4}
    entries.sort(key=lambda e: (e.at is None, (e.at or now).replace(second=0, microsecond=0), rank.get(e.kind, 5)))
    engagement = engagement_summary(p) if visible and allocation is not None else None
    consent_due = None
    if p.status in (*ACTIVE, Status.CONSENTED):
        consent_due = consent_required_document(p)
    baseline = [v for v in visits if v.assessment.visit.anchor == VisitAnchor.ENROLLMENT]
    baseline_done = bool(baseline) and all(v.assessment.status == AssessmentStatus.COMPLETED for v in baseline)
    base = f"/workspace/{desk.trial.slug}/participants/{p.pk}"
    steps: list[tuple[str, str]] = []
    if p.status == Status.ELIGIBLE:
        steps.append(("Record consent", f"{base}/consent/"))
    elif consent_due is not None:
        steps.append((f"Record consent to version {consent_due.version}", f"{base}/consent/"))
    if p.status == Status.CONSENTED and consent_due is None:
        steps.append(("Enroll", f"{base}/enroll/"))
    if p.status == Status.ENROLLED and baseline_done:
        steps.append(("Randomize", f"{base}/randomize/"))
    follow_up = {
        Status.ELIGIBLE: ["withdraw"],
        Status.CONSENTED: ["withdraw"],
        Status.ENROLLED: ["withdraw"],
        Status.RANDOMIZED: ["lost", "complete", "withdraw"],
        Status.LOST_TO_FOLLOW_UP: ["return", "withdraw"],
    }.get(Status(p.status), [])
    return Story(p, visible, tz, contact, entries, visits, engagement, consent_due, baseline_done, steps, follow_up)
