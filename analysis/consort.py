"""CONSORT flow counts, from the data rather than drawn by hand.

Enrollment: assessed for eligibility (everyone screened), excluded (ineligible, with each reason; and
eligible people who left before randomization, as declined; and those still waiting). Allocation:
randomized, allocated per arm, received the allocated intervention (for an arm that is not the control,
at least one recorded chatbot session; a control arm receives what it is allocated). Follow-up, per
visit and arm: completed, missed, withdrawn, lost to follow-up, with the reasons given. Analysis: per arm,
participants with a baseline and at least one post-baseline value of the primary instrument (the MMRM
population) and those excluded from it.

Arms are written as their letters unless ``blinded=False``. A blinded flow leaves "received" empty: only
the intervention arm uses the chatbot, so the count would tell which letter is which arm. For the same
reason it leaves out a visit that only some arms have (one arm's questionnaires only): the other letter's
boxes would be all zeros.

The analysed population is per participant's own outcome when the plan has subgroups (the Therabot trial
analyses PHQ-9 in those screened for MDD, GAD-Q-IV in those screened for GAD): pass
``subgroups=(factor, {level: instrument})``; participants of a level not named there use ``instrument``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from assessments.blinding import arm_specific
from assessments.models import AssessmentStatus, Response, ScheduledAssessment
from participants.models import Allocation, EngagementSession, Participant, Status, StatusChange
from trial.models import Trial, VisitDefinition
from trial.models.protocol import VisitAnchor

PRE_RANDOMIZATION = (Status.ELIGIBLE, Status.CONSENTED, Status.ENROLLED)


def consort_counts(
    trial: Trial,
    *,
    instrument: str,
    blinded: bool = True,
    subgroups: tuple[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    participants = Participant.objects.filter(trial=trial)
    by_status = Counter(participants.values_list("status", flat=True))
    reasons: Counter[str] = Counter()
    for entries in participants.filter(status=Status.INELIGIBLE).values_list("ineligibility_reasons", flat=True):
        for entry in entries:
            reasons[entry["reason"]] += 1
    left_before = Counter(
        StatusChange.objects.filter(
            participant__trial=trial, to_status=Status.WITHDRAWN, from_status__in=PRE_RANDOMIZATION
        ).values_list("reason", flat=True)
    )
    allocations = list(Allocation.objects.filter(trial=trial).select_related("arm"))
    label = {a.arm_id: (a.arm.blinded_label if blinded else a.arm.code) for a in allocations}
    arm_of = {a.participant_id: label[a.arm_id] for a in allocations}
    control_labels = {label[a.arm_id] for a in allocations if a.arm.is_control}
    arms = sorted(set(arm_of.values()))
    engaged = set(
        EngagementSession.objects.filter(participant__trial=trial).values_list("participant_id", flat=True).distinct()
    )
    allocation = {
        arm: {
            "allocated": sum(1 for p in arm_of if arm_of[p] == arm),
            "received": None
            if blinded
            else sum(1 for p in arm_of if arm_of[p] == arm and (arm in control_labels or p in engaged)),
        }
        for arm in arms
    }

    follow_up = []
    visits = VisitDefinition.objects.filter(trial=trial, anchor=VisitAnchor.RANDOMIZATION).order_by("order", "week")
    ended = {
        c.participant_id: c
        for c in StatusChange.objects.filter(
            participant__trial=trial, to_status__in=[Status.WITHDRAWN, Status.LOST_TO_FOLLOW_UP]
        ).order_by("at")
    }
    specific = arm_specific(trial) if blinded else None
    for visit in visits:
        if specific is not None and visit.pk in specific.visits and not specific.shared.get(visit.pk):
            continue  # only some arms have this visit (they alone are scheduled for it): its counts would tell
        per_arm: dict[str, dict[str, Any]] = {
            arm: {
                "completed": 0,
                "missed": 0,
                "withdrawn": 0,
                "lost_to_follow_up": 0,
                "pending": 0,
                "reasons": Counter(),
            }
            for arm in arms
        }
        rows = ScheduledAssessment.objects.filter(participant__trial=trial, visit=visit).values_list(
            "pk", "participant_id", "status"
        )
        answered: dict[int, set[str]] = {}
        if specific is not None and visit.pk in specific.visits:  # blinded: as every arm's questionnaires make it
            for assessment_id, code in Response.objects.filter(
                assessment__visit=visit, instrument_code__in=specific.shared.get(visit.pk, ())
            ).values_list("assessment_id", "instrument_code"):
                answered.setdefault(assessment_id, set()).add(code)
        for assessment_id, participant_id, stored in rows:
            status = (
                stored
                if specific is None
                else specific.shared_status(visit.pk, stored, answered.get(assessment_id, ()))
            )
            counts = per_arm[arm_of[participant_id]]
            change = ended.get(participant_id)
            if status == AssessmentStatus.COMPLETED:
                counts["completed"] += 1
            elif status == AssessmentStatus.CANCELLED and change is not None and change.to_status == Status.WITHDRAWN:
                counts["withdrawn"] += 1
                counts["reasons"][change.reason or "not given"] += 1
            elif change is not None and change.to_status == Status.LOST_TO_FOLLOW_UP:
                counts["lost_to_follow_up"] += 1
                counts["reasons"][change.reason or "not given"] += 1
            elif status == AssessmentStatus.MISSED:
                counts["missed"] += 1
            else:
                counts["pending"] += 1
        follow_up.append(
            {
                "visit": visit.code,
                "week": visit.week,
                "arms": {arm: {**c, "reasons": dict(c["reasons"])} for arm, c in per_arm.items()},
            }
        )

    factor, by_level = subgroups if subgroups is not None else ("", {})
    instruments = {instrument, *by_level.values()}
    scored = Response.objects.filter(
        assessment__participant__trial=trial, instrument_code__in=instruments, total__isnull=False
    ).values_list("assessment__participant_id", "instrument_code", "assessment__visit__anchor")
    with_baseline: set[tuple[int, str]] = set()
    with_follow_up: set[tuple[int, str]] = set()
    for participant_id, code, anchor in scored.distinct():
        (with_baseline if anchor == VisitAnchor.ENROLLMENT else with_follow_up).add((participant_id, code))
    strata = dict(participants.filter(allocation__isnull=False).values_list("pk", "strata"))
    analysed = dict.fromkeys(arms, 0)
    not_analysed = dict.fromkeys(arms, 0)
    for participant_id, arm in arm_of.items():
        level = str((strata.get(participant_id) or {}).get(factor, "")) if factor else ""
        key = (participant_id, by_level.get(level, instrument))
        if key in with_baseline and key in with_follow_up:
            analysed[arm] += 1
        else:
            not_analysed[arm] += 1

    ineligible = by_status[Status.INELIGIBLE]
    declined = sum(left_before.values())
    waiting = sum(by_status[s] for s in PRE_RANDOMIZATION) + by_status[Status.SCREENED]
    return {
        "trial": trial.slug,
        "blinded": blinded,
        "instrument": instrument,
        "analysed_instrument_by": {"factor": factor, "levels": dict(by_level)} if subgroups else None,
        "assessed_for_eligibility": participants.count(),
        "excluded": {
            "total": ineligible + declined + waiting,
            "not_meeting_inclusion_criteria": ineligible,
            "reasons": dict(reasons.most_common()),
            "declined_or_withdrew_before_randomization": declined,
            "declined_reasons": {reason or "not given": n for reason, n in left_before.items()},
            "not_yet_randomized": waiting,
        },
        "randomized": len(allocations),
        "allocation": allocation,
        "follow_up": follow_up,
        "analysis": {
            arm: {"analysed": analysed[arm], "excluded_no_baseline_or_follow_up": not_analysed[arm]} for arm in arms
        },
    }


def adherence(consort: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Questionnaire completion per follow-up visit and arm, from the CONSORT follow-up counts (so the two
    never disagree): completed of those whose window has closed (completed, missed, withdrawn or lost to
    follow-up; a visit still open is not yet due), by arm and in total."""
    rows = []
    for visit in consort.get("follow_up") or []:
        arms: dict[str, dict[str, Any]] = {}
        total = {"completed": 0, "due": 0, "pending": 0}
        for arm, c in (visit.get("arms") or {}).items():
            due = c["completed"] + c["missed"] + c["withdrawn"] + c["lost_to_follow_up"]
            arms[arm] = {"completed": c["completed"], "due": due, "pending": c["pending"]}
            for key in total:
                total[key] += arms[arm][key]
        for counts in (*arms.values(), total):
            counts["percent"] = 100.0 * counts["completed"] / counts["due"] if counts["due"] else None
        rows.append({"visit": visit["visit"], "week": visit["week"], "arms": arms, "total": total})
    return rows
