"""Visits as a reader who must not know the arm sees them.

A visit where one arm fills an extra questionnaire (the alliance scale in the chatbot arm) completes, for
that arm, only when the extra one is in too: its status, completion time and reminders would tell the arms
apart. To such a reader (a blinded statistician; in a masked trial, staff until the participant is
emergency-unblinded) a visit counts as completed once the questionnaires every arm fills are in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import IntegerField, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from assessments.models import AssessmentStatus, ScheduledAssessment
from assessments.services.new_link import NEW_LINK_KIND
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND
from participants.models import AlertSource, OutboxMessage, SafetyAlert
from participants.services.safety import ALERT_KIND, ESCALATION_KIND
from trial.models import Trial, VisitInstrument

ALERT_KINDS = (ALERT_KIND, ESCALATION_KIND)


@dataclass(frozen=True)
class ArmSpecific:
    """Which visits of a trial have one arm's questionnaires, which those are, and each visit's shared ones."""

    visits: frozenset[int]  # VisitDefinition ids
    codes: frozenset[str]
    shared: dict[int, tuple[str, ...]]  # VisitDefinition id -> the questionnaires every arm fills

    def shared_status(self, visit_id: int, status: str, answered: Iterable[str]) -> str:
        """The status this reader is shown, given the questionnaires answered at the visit."""
        if visit_id not in self.visits or status not in (AssessmentStatus.OPEN, AssessmentStatus.MISSED,
                                                          AssessmentStatus.CANCELLED):  # fmt: skip
            return status
        shared = self.shared.get(visit_id, ())
        done = set(answered)
        return AssessmentStatus.COMPLETED if shared and all(code in done for code in shared) else status


def arm_specific(trial: Trial) -> ArmSpecific:
    rows = list(VisitInstrument.objects.filter(visit__trial=trial).values_list("visit_id", "instrument_code", "arm_id"))
    visits = frozenset(visit for visit, _code, arm in rows if arm is not None)
    shared: dict[int, tuple[str, ...]] = {}
    for visit, code, arm in rows:
        if arm is None:
            shared[visit] = (*shared.get(visit, ()), code)
    return ArmSpecific(
        visits=visits, codes=frozenset(code for _visit, code, arm in rows if arm is not None), shared=shared
    )


def messages_shown_blinded(messages: QuerySet[OutboxMessage], trial: Trial) -> QuerySet[OutboxMessage]:
    """The messages a reader who must not know the arm may be shown: without the reminders (and the new
    links participants asked for) of a visit where
    one arm fills an extra questionnaire (the visit stays open, and reminded, in that arm until the extra
    one is in: their number would follow the arm), without any message of a visit only one arm has, and
    without the safety e-mails of chatbot crisis flags (only the chatbot arm has a chatbot). The invitation
    to a visit every arm has is one per participant in either arm: shown."""
    specific = arm_specific(trial)
    one_arm_visits = [visit for visit in specific.visits if not specific.shared.get(visit)]
    reminded = ScheduledAssessment.objects.filter(participant__trial=trial, visit_id__in=specific.visits)
    one_arm = ScheduledAssessment.objects.filter(participant__trial=trial, visit_id__in=one_arm_visits)
    assessment = Cast(KeyTextTransform("assessment", "context"), IntegerField())
    alert = Cast(KeyTextTransform("alert", "context"), IntegerField())
    chatbot_alerts = SafetyAlert.objects.filter(participant__trial=trial, source=AlertSource.CHATBOT)
    return (
        messages.alias(about_assessment=assessment, about_alert=alert)
        # A new link asked for is like a reminder: while one arm's extra questionnaire keeps a visit open,
        # that arm can ask for longer.
        .exclude(kind__in=(REMINDER_KIND, NEW_LINK_KIND), about_assessment__in=reminded.values("pk"))
        .exclude(kind__in=(INVITATION_KIND, REMINDER_KIND, NEW_LINK_KIND), about_assessment__in=one_arm.values("pk"))
        .exclude(kind__in=ALERT_KINDS, about_alert__in=chatbot_alerts.values("pk"))
    )
