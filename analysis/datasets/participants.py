"""The participant-level dataset: one row per enrolled participant (everyone with a study ID), randomized
or not: arm, strata, site, status, the dates of the lifecycle and the reason it ended, and, in unblinded
files, the use of the intervention (chatbot sessions, messages, hours, active days).

Blinded files leave engagement out: only one arm has any, so it would tell which letter is which arm.
Active days are counted in the participant's own calendar (their timezone is read for that and never
written); nothing else of the contact details is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Max, Min
from django.db.models.functions import Length

from analysis.datasets.source import CHUNK, Protocol, load_protocol
from analysis.datasets.variables import STUDY_ID_WIDTH, arm_variable, categories
from analysis.formats import Dataset, Variable
from participants.models import Consent, ContactDetails, EngagementSession, Participant, Status
from trial.models import Trial

ENGAGEMENT = (
    Variable("sessions", "Chatbot sessions", "integer"),
    Variable("participant_messages", "Messages the participant sent", "integer"),
    Variable("bot_messages", "Messages the chatbot sent", "integer"),
    Variable("hours", "Hours in sessions that ended", "float"),
    Variable("active_days", "Days with a session (participant's calendar)", "integer"),
    Variable("first_session_at", "Start of the first session (UTC)", "datetime", missing="No session."),
    Variable("last_session_at", "Start of the last session (UTC)", "datetime", missing="No session."),
)


def _variables(protocol: Protocol, reason_width: int) -> list[Variable]:
    variables = [
        Variable("participant_id", "Study ID", "string", width=STUDY_ID_WIDTH),
        arm_variable(protocol, missing="Not randomized."),
        *(
            Variable(
                factor.code,
                f"Stratification factor: {factor.name}",
                "category",
                categories=categories([(level.code, level.label) for level in factor.levels.all()]),
                missing="Not recorded.",
            )
            for factor in protocol.factors
        ),
        Variable(
            "site",
            "Site",
            "category",
            categories=categories([(s.code, s.name) for s in protocol.trial.sites.order_by("code")]),
            missing="No site recorded.",
        ),
        Variable(
            "status",
            "Status in the study",
            "category",
            categories=categories([(str(v), str(label)) for v, label in Status.choices]),
        ),
        Variable("screened_at", "Screened (UTC)", "datetime"),
        Variable("consented_at", "First consent signed (UTC)", "datetime", missing="No consent recorded."),
        Variable("enrolled_at", "Enrolled (UTC)", "datetime"),
        Variable("randomized_at", "Randomized (UTC)", "datetime", missing="Not randomized."),
        Variable(
            "ended_at",
            "Left the study: completed, withdrew or lost to follow-up (UTC)",
            "datetime",
            missing="Still in the study.",
        ),
        Variable("ended_reason", "Reason given for leaving", "string", width=reason_width, missing="None given."),
    ]
    if not protocol.blinded:
        variables.extend(ENGAGEMENT)
    return variables


def participants_dataset(trial: Trial, *, blinded: bool) -> tuple[Dataset, Iterator[list[list[Any]]]]:
    protocol = load_protocol(trial, blinded=blinded)
    enrolled = Participant.objects.filter(trial=trial, study_id__isnull=False)
    longest = enrolled.aggregate(n=Max(Length("ended_reason")))["n"] or 0
    variables = _variables(protocol, reason_width=max(1, longest))
    dataset = Dataset(name="participants", variables=tuple(variables), n_rows=enrolled.count())
    return dataset, _chunks(protocol)


def _engagement(ids: list[int]) -> dict[int, list[Any]]:
    zones = {
        pid: ZoneInfo(tz or "UTC")
        for pid, tz in ContactDetails.objects.filter(participant_id__in=ids).values_list("participant_id", "timezone")
    }
    sessions: dict[int, list[EngagementSession]] = defaultdict(list)
    for session in EngagementSession.objects.filter(participant_id__in=ids).order_by("started_at"):
        sessions[session.participant_id].append(session)
    out = {}
    for pid in ids:
        mine = sessions.get(pid, [])
        zone = zones.get(pid, ZoneInfo("UTC"))
        seconds = sum((s.ended_at - s.started_at).total_seconds() for s in mine if s.ended_at)
        days: set[date] = {s.started_at.astimezone(zone).date() for s in mine}
        out[pid] = [
            len(mine),
            sum(s.participant_messages for s in mine),
            sum(s.bot_messages for s in mine),
            round(seconds / 3600, 4),
            len(days),
            mine[0].started_at if mine else None,
            mine[-1].started_at if mine else None,
        ]
    return out


def _chunks(protocol: Protocol) -> Iterator[list[list[Any]]]:
    trial = protocol.trial
    codes = protocol.factor_codes()
    ids = list(
        Participant.objects.filter(trial=trial, study_id__isnull=False)
        .order_by("study_id")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        chunk_ids = ids[start : start + CHUNK]
        people = list(
            Participant.objects.filter(pk__in=chunk_ids).select_related("site", "allocation__arm").order_by("study_id")
        )
        consented = dict(
            Consent.objects.filter(participant_id__in=chunk_ids)
            .values("participant_id")
            .annotate(first=Min("signed_at"))
            .values_list("participant_id", "first")
        )
        engagement = _engagement(chunk_ids) if not protocol.blinded else {}
        rows = []
        for person in people:
            allocation = getattr(person, "allocation", None)
            row: list[Any] = [
                person.study_id,
                protocol.arm_label(allocation.arm) if allocation is not None else None,
                *(person.strata.get(code) for code in codes),
                person.site.code if person.site is not None else None,
                person.status,
                person.screened_at,
                consented.get(person.pk),
                person.enrolled_at,
                person.randomized_at,
                person.ended_at,
                person.ended_reason or None,
            ]
            if not protocol.blinded:
                row.extend(engagement[person.pk])
            rows.append(row)
        yield rows
