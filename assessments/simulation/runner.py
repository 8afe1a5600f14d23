"""Run a simulated trial through the platform's own services, under a simulated clock.

Everything a real trial does goes through the services a real request would call: screening (with
ineligible people), consent, enrollment, baseline answers, randomization, the sweep that opens windows,
sends invitations and reminders and closes missed visits, answers at item level (scored by the engine, so
PHQ-9 item 9 raises alerts), a clinician working those alerts, chatbot sessions and crisis flags,
withdrawals, losses to follow-up and completions. Events are kept in time order; the escalation of ignored
safety alerts and the sweep run every six simulated hours in between, as beat would.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth.models import User

from assessments.models import AssessmentStatus, ResponseSource, ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from assessments.simulation.answers import answers_for
from assessments.simulation.outcomes import OutcomeModel
from participants import services as participant_services
from participants.models import AlertStatus, MessageStatus, OutboxMessage, Participant, SafetyAlert, Status
from participants.services.chatbot import crisis_flag_record, engagement_record
from participants.services.safety import (
    safety_alert_acknowledge,
    safety_alert_record_contact,
    safety_alert_resolve,
    safety_alerts_escalate_due,
)
from trial import clock
from trial.errors import DomainError
from trial.models import Role, Trial, TrialMembership, TrialStatus

TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
WITHDRAWAL_REASONS = ("No longer wishes to take part", "Too busy", "Did not like the app", "Started other treatment")
SWEEP_EVERY = timedelta(hours=6)


@dataclass
class SimulationReport:
    trial: str
    seed: int
    started: datetime
    ended: datetime
    counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "trial": self.trial,
            "seed": self.seed,
            "simulated_from": self.started.isoformat(),
            "simulated_to": self.ended.isoformat(),
            **dict(sorted(self.counts.items())),
        }


@dataclass(order=True)
class _Event:
    at: datetime
    order: int
    action: Callable[[], None] = field(compare=False)


class _Simulation:
    def __init__(self, *, trial: Trial, participants: int, seed: int, model: OutcomeModel, start: datetime) -> None:
        self.trial = trial
        self.target = participants
        self.seed = seed
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.clock = clock.SimulatedClock(start)
        self.events: list[_Event] = []
        self.order = itertools.count()
        self.fated_to_randomize = 0
        self.people = 0
        self.report = SimulationReport(trial=trial.slug, seed=seed, started=start, ended=start)
        self.coordinator = _staff(trial, "sim-coordinator", Role.COORDINATOR)
        self.clinician = _staff(trial, "sim-clinician", Role.SAFETY_CLINICIAN)
        # Live draws come from the CSPRNG; a seeded simulation is reproducible, so it draws from its seed.
        self.allocation_rng = np.random.default_rng([seed, 0])
        self.recruitment_gap = timedelta(days=1)

    # -------------------------------------------------------------------------------------- the loop
    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.events, _Event(when, next(self.order), action))

    def run(self, recruitment_days: int) -> SimulationReport:
        self.recruitment_gap = timedelta(days=recruitment_days) / max(1, round(self.target * 1.45))
        self.at(self.clock(), self.screen_next)
        next_sweep = self.clock() + SWEEP_EVERY
        while self.events:
            event = heapq.heappop(self.events)
            while next_sweep <= event.at:
                self.clock.set(next_sweep)
                self.tick()
                next_sweep += SWEEP_EVERY
            self.clock.set(event.at)
            event.action()
        for _ in range(4 * 10):  # ten more days: the last windows close, the last alerts are worked
            self.clock.set(next_sweep)
            self.tick()
            next_sweep += SWEEP_EVERY
        self.finish()
        self.report.ended = self.clock()
        sent = OutboxMessage.objects.filter(participant__trial=self.trial, status=MessageStatus.SENT)
        self.report.counts["messages_sent"] = sent.count()
        return self.report

    def tick(self) -> None:
        """What the beat schedule runs (escalations first, so the sweep's delivery sends them), then the
        clinician's work."""
        self.report.counts["alerts_escalated"] += safety_alerts_escalate_due(now=self.clock())
        sweep(now=self.clock(), deliver=True)
        self.work_alerts()

    # -------------------------------------------------------------------------------------- people
    def screen_next(self) -> None:
        if self.fated_to_randomize >= self.target:
            return
        self.people += 1
        person_seed = [self.seed, self.people]
        rng = np.random.default_rng(person_seed)
        condition = self.model.condition(rng)
        baseline = self.model.draw(np.random.default_rng([*person_seed, 1]), condition, "waitlist")
        answers = {
            "age": int(rng.integers(14, 18)) if rng.random() < 0.03 else int(rng.integers(18, 70)),
            "us_resident": bool(rng.random() > 0.04),
            "condition": condition,
            "suicidality_treatment": bool(rng.random() < 0.03),
            "bipolar": bool(rng.random() < 0.04),
            "psychosis": bool(rng.random() < 0.015),
        }
        answers.update(self.model.screening_answers(rng, condition, baseline))
        participant = participant_services.participant_screen(trial=self.trial, answers=answers, by=self.coordinator)
        self.report.counts["screened"] += 1
        self.at(self.clock() + self.recruitment_gap * float(rng.uniform(0.5, 1.5)), self.screen_next)
        if participant.status != Status.ELIGIBLE:
            self.report.counts["ineligible"] += 1
            return
        if rng.random() < 0.06:
            participant_services.participant_withdraw(
                participant=participant, reason="Declined consent", by=self.coordinator
            )
            self.report.counts["declined"] += 1
            return
        completes_baseline = rng.random() > 0.03
        if completes_baseline:
            self.fated_to_randomize += 1
        self.at(self.clock() + timedelta(hours=2), lambda: self.enroll(participant, person_seed, completes_baseline))

    def enroll(self, participant: Participant, person_seed: list[int], completes_baseline: bool) -> None:
        participant_services.participant_consent(
            participant=participant, signed_name=f"Simulated {participant.pk}", by=self.coordinator
        )
        contact = participant_services.ContactInput(
            full_name=f"Simulated Person {participant.pk}",
            email=f"sim-{participant.pk}@example.invalid",
            timezone=TIMEZONES[participant.pk % len(TIMEZONES)],
        )
        participant = participant_services.participant_enroll(
            participant=participant, contact=contact, by=self.coordinator
        )
        self.report.counts["enrolled"] += 1
        if not completes_baseline:
            return  # never answers: the baseline window closes as missed, and the coordinator withdraws them
        rng = np.random.default_rng([*person_seed, 2])
        delay = timedelta(hours=float(rng.uniform(1, 72)))
        self.at(self.clock() + delay, lambda: self.baseline(participant, person_seed))

    def baseline(self, participant: Participant, person_seed: list[int]) -> None:
        condition = str(participant.strata.get("condition", "MDD"))
        scores = self.model.draw(np.random.default_rng([*person_seed, 1]), condition, "waitlist")
        rng = np.random.default_rng([*person_seed, 3])
        visit = ScheduledAssessment.objects.get(participant=participant, visit__week=0)
        self.answer(visit, {code: s[0] for code, s in scores.items()}, rng)
        self.at(self.clock() + timedelta(hours=3), lambda: self.randomize(participant, person_seed))

    def randomize(self, participant: Participant, person_seed: list[int]) -> None:
        allocation = participant_services.participant_randomize(
            participant=participant, by=self.coordinator, rng=_Rng(self.allocation_rng)
        )
        self.report.counts["randomized"] += 1
        arm = allocation.arm.code
        condition = str(participant.strata.get("condition", "MDD"))
        scores = self.model.draw(np.random.default_rng([*person_seed, 1]), condition, arm)
        rng = np.random.default_rng([*person_seed, 4])
        z4 = (scores["phq9"][1] - 12) / 6  # worse scores answer less often (missing at random given the past)
        treated = not allocation.arm.is_control
        leaves = rng.random() < 0.03
        if leaves:
            when = self.clock() + timedelta(days=float(rng.uniform(5, 50)))
            self.at(when, lambda: self.withdraw(participant, rng))
        missed = [rng.random() < _logistic(-2.4 + 0.5 * z4), False]
        # Missing week 4 makes missing week 8 likely; the waitlist, with nothing to use, drops out more.
        late = _logistic((-2.0 if treated else -1.4) + 0.5 * z4)
        missed[1] = (missed[0] and rng.random() < 0.7) or rng.random() < late
        for index, visit in enumerate(
            ScheduledAssessment.objects.filter(participant=participant, visit__week__gt=0).order_by("visit__week")
        ):
            if missed[index]:
                continue
            week = index + 1
            delay = timedelta(days=float(min(rng.exponential(2.0), 8.5)))
            targets = {code: s[week] for code, s in scores.items()}
            self.at(visit.opens_at + delay, functools.partial(self.follow_up, visit, targets, rng))
        if treated:
            self.engage(participant, rng)

    def follow_up(self, visit: ScheduledAssessment, targets: dict[str, float], rng: np.random.Generator) -> None:
        visit.refresh_from_db()
        if visit.status == AssessmentStatus.SCHEDULED:
            sweep(now=self.clock(), deliver=False)  # the window has opened since the last sweep
            visit.refresh_from_db()
        if visit.status != AssessmentStatus.OPEN:
            return  # withdrawn, or the window closed
        if "waisr" in visit.instruments:
            targets["waisr"] = 12 * float(np.clip(rng.normal(3.59, 0.7), 1, 5))
        self.answer(visit, targets, rng)

    def answer(self, visit: ScheduledAssessment, targets: dict[str, float], rng: np.random.Generator) -> None:
        for code in visit.instruments:
            fixed: dict[str, int | float] = {}
            if code == "phq9":
                fixed["phq9_9"] = _item9(targets[code], rng)
            answers = answers_for(code, targets[code], rng, fixed=fixed)
            response_submit(assessment=visit, instrument_code=code, answers=answers, source=ResponseSource.SURVEY)
            self.report.counts["responses"] += 1

    def engage(self, participant: Participant, rng: np.random.Generator) -> None:
        """About 95% use the chatbot: some 24 active days in eight weeks, more in the four prompted weeks."""
        if rng.random() > 0.95:
            return
        start = participant.allocation.allocated_at
        days = int(np.clip(rng.poisson(24), 1, 56))
        weights = np.array([2.0] * 28 + [1.0] * 28)
        chosen = np.sort(rng.choice(56, size=days, replace=False, p=weights / weights.sum()))
        study_id = str(participant.study_id)
        for n, day in enumerate(chosen):
            began = start + timedelta(days=int(day), hours=float(rng.uniform(1, 20)))
            minutes = float(rng.gamma(4.0, 15.5 / 4.0))
            sent = int(rng.poisson(11)) + 1

            def record(began: datetime = began, minutes: float = minutes, sent: int = sent, n: int = n) -> None:
                participant.refresh_from_db(fields=["status"])
                if participant.status != Status.RANDOMIZED:
                    return  # withdrawn: the app no longer reports (the service would refuse it)
                engagement_record(
                    trial=self.trial,
                    study_id=study_id,
                    session_id=f"sim-{study_id}-{n}",
                    started_at=began,
                    ended_at=began + timedelta(minutes=minutes),
                    participant_messages=sent,
                    bot_messages=sent + int(rng.integers(0, 3)),
                )
                self.report.counts["chatbot_sessions"] += 1

            self.at(began + timedelta(minutes=minutes), record)
        if rng.random() < 0.03:
            flagged = start + timedelta(days=int(chosen[0]), hours=1)

            def flag() -> None:
                crisis_flag_record(
                    trial=self.trial,
                    study_id=study_id,
                    event_id=f"sim-crisis-{study_id}",
                    detected_at=flagged,
                    severity="high",
                    summary="Crisis language detected (simulated).",
                )
                self.report.counts["chatbot_crisis_flags"] += 1

            self.at(flagged, flag)

    def withdraw(self, participant: Participant, rng: np.random.Generator) -> None:
        participant.refresh_from_db()
        if participant.status != Status.RANDOMIZED:
            return
        reason = WITHDRAWAL_REASONS[int(rng.integers(len(WITHDRAWAL_REASONS)))]
        participant_services.participant_withdraw(participant=participant, reason=reason, by=self.coordinator)
        self.report.counts["withdrawn"] += 1

    # -------------------------------------------------------------------------------------- staff
    def work_alerts(self) -> None:
        """The clinician acknowledges within hours, contacts and assesses, then resolves."""
        now = self.clock()
        for alert in SafetyAlert.objects.filter(participant__trial=self.trial).exclude(status=AlertStatus.RESOLVED):
            if alert.raised_at > now - timedelta(hours=2):
                continue
            try:
                if alert.acknowledged_at is None:
                    safety_alert_acknowledge(alert=alert, by=self.clinician)
                    self.report.counts["alerts"] += 1
                elif alert.status != AlertStatus.RESOLVED and not alert.contacted_at:
                    safety_alert_record_contact(
                        alert=alert, by=self.clinician, notes="Called the participant (simulated).", risk_level="low"
                    )
                else:
                    safety_alert_resolve(alert=alert, by=self.clinician, resolution="Safety plan reviewed (simulated).")
            except DomainError:
                continue

    def finish(self) -> None:
        """Enrolled people who never did their baseline are withdrawn; randomized people end as completed
        (week 8 answered or its window over, with some answer) or lost (no follow-up at all)."""
        for participant in Participant.objects.filter(trial=self.trial, status=Status.ENROLLED):
            participant_services.participant_withdraw(
                participant=participant, reason="Did not complete the baseline questionnaires", by=self.coordinator
            )
            self.report.counts["withdrawn_before_randomization"] += 1
        for participant in Participant.objects.filter(trial=self.trial, status=Status.RANDOMIZED):
            answered = ScheduledAssessment.objects.filter(
                participant=participant, visit__week__gt=0, status=AssessmentStatus.COMPLETED
            ).exists()
            if answered:
                participant_services.participant_complete(participant=participant, by=self.coordinator)
                self.report.counts["completed"] += 1
            else:
                participant_services.participant_mark_lost(
                    participant=participant, reason="No reply to the week 4 and week 8 invitations", by=self.coordinator
                )
                self.report.counts["lost_to_follow_up"] += 1


class _Rng:
    """The randomization procedures' RandomSource, from a seeded numpy generator."""

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator

    def randrange(self, stop: int, /) -> int:
        return int(self.generator.integers(stop))

    def random(self) -> float:
        return float(self.generator.random())


def _logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _item9(phq9: float, rng: np.random.Generator) -> int:
    """PHQ-9 item 9 (thoughts of death or self-harm): more likely the more severe, whatever the rest."""
    if rng.random() >= 0.02 + 0.25 * max(0.0, (phq9 - 10) / 17):
        return 0
    return int(rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05]))


def _staff(trial: Trial, username: str, role: str) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"first_name": "Simulated"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    TrialMembership.objects.get_or_create(trial=trial, user=user, role=role)
    return user


def trial_simulate(
    *,
    trial: Trial,
    participants: int,
    seed: int,
    model: OutcomeModel | None = None,
    recruitment_days: int | None = None,
    end: datetime | None = None,
) -> SimulationReport:
    """Simulate ``participants`` randomized participants (plus the screened, ineligible and declined) in
    ``trial``, which must be recruiting. The simulated time ends about at ``end`` (default: now)."""
    if trial.status != TrialStatus.RECRUITING:
        raise DomainError(f"Trial {trial.slug} is {trial.status}; a simulation needs a recruiting trial.")
    if participants < 1:
        raise DomainError("Simulate at least one participant.", field="participants")
    if not trial.simulated:  # its participants will be fictional: their links must open no survey page
        type(trial).objects.filter(pk=trial.pk).update(simulated=True)
        trial.simulated = True
    days = recruitment_days or max(28, math.ceil(participants / 4))
    end = end or clock.now()
    start = (end - timedelta(days=days + 56 + 22)).replace(hour=9, minute=0, second=0, microsecond=0)
    simulation = _Simulation(
        trial=trial, participants=participants, seed=seed, model=model or OutcomeModel(), start=start
    )
    with clock.use(simulation.clock):
        return simulation.run(days)
