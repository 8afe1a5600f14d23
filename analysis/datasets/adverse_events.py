"""The adverse-events dataset: one row per adverse event of an enrolled participant: arm, the event's
number for that participant, onset, severity, seriousness (overall and each criterion), outcome, resolved
date, whether it came from a safety alert, when it was recorded; in unblinded files also the relatedness
to the intervention and the clinician's free text (description, action taken).

Blinded files leave out relatedness and the free text: an event "related to the intervention" can only
happen in the arm that has one, and a description may name the chatbot, so either would tell which letter
is which arm. No contact detail is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Max
from django.db.models.functions import Length

from analysis.datasets.source import CHUNK, Protocol, load_protocol
from analysis.datasets.variables import STUDY_ID_WIDTH, arm_variable, categories
from analysis.formats import Dataset, Variable
from participants.models import AdverseEvent, AEOutcome, AERelatedness, AESeriousness, AESeverity
from trial.models import Trial


def _choices(choices: Any) -> tuple[tuple[int, str, str], ...]:
    return categories([(str(v), str(label)) for v, label in choices])


def _variables(protocol: Protocol, widths: dict[str, int]) -> list[Variable]:
    variables = [
        Variable("participant_id", "Study ID", "string", width=STUDY_ID_WIDTH),
        arm_variable(protocol, missing="Not randomized."),
        Variable("event", "Event number for the participant (by onset)", "integer"),
        Variable("onset_date", "Onset date (YYYY-MM-DD)", "string", width=10),
        Variable("severity", "Severity", "category", categories=_choices(AESeverity.choices)),
        Variable("serious", "Serious (any seriousness criterion): 1 yes, 0 no", "integer"),
        *(
            Variable(f"serious_{code}", f"Seriousness criterion: {label} (1 yes, 0 no)", "integer")
            for code, label in AESeriousness.choices
        ),
        Variable("outcome", "Outcome", "category", categories=_choices(AEOutcome.choices)),
        Variable("resolved_date", "Resolved date (YYYY-MM-DD)", "string", width=10, missing="Not resolved."),
        Variable("from_alert", "Recorded from a safety alert: 1 yes, 0 no", "integer"),
        Variable("recorded_at", "Recorded (UTC)", "datetime"),
    ]
    if not protocol.blinded:
        variables.extend(
            [
                Variable(
                    "relatedness",
                    "Relatedness to the intervention",
                    "category",
                    categories=_choices(AERelatedness.choices),
                ),
                Variable("description", "Description", "string", width=max(1, widths["description"])),
                Variable(
                    "action_taken",
                    "Action taken",
                    "string",
                    width=max(1, widths["action_taken"]),
                    missing="None given.",
                ),
            ]
        )
    return variables


def adverse_events_dataset(trial: Trial, *, blinded: bool) -> tuple[Dataset, Iterator[list[list[Any]]]]:
    protocol = load_protocol(trial, blinded=blinded)
    events = AdverseEvent.objects.filter(participant__trial=trial, participant__study_id__isnull=False)
    longest = events.aggregate(d=Max(Length("description")), a=Max(Length("action_taken")))
    widths = {"description": longest["d"] or 0, "action_taken": longest["a"] or 0}
    dataset = Dataset(name="adverse_events", variables=tuple(_variables(protocol, widths)), n_rows=events.count())
    return dataset, _chunks(protocol)


def _chunks(protocol: Protocol) -> Iterator[list[list[Any]]]:
    events = (
        AdverseEvent.objects.filter(participant__trial=protocol.trial, participant__study_id__isnull=False)
        .select_related("participant__allocation__arm")
        .order_by("participant__study_id", "onset_date", "id")
    )
    rows: list[list[Any]] = []
    current, number = None, 0
    for event in events.iterator(chunk_size=CHUNK):
        person = event.participant
        number = number + 1 if person.pk == current else 1
        current = person.pk
        allocation = getattr(person, "allocation", None)
        row: list[Any] = [
            person.study_id,
            protocol.arm_label(allocation.arm) if allocation is not None else None,
            number,
            event.onset_date.isoformat(),
            event.severity,
            int(event.serious),
            *(int(code in event.seriousness) for code in AESeriousness.values),
            event.outcome,
            event.resolved_date.isoformat() if event.resolved_date else None,
            int(event.alert_id is not None),
            event.recorded_at,
        ]
        if not protocol.blinded:
            row.extend([event.relatedness, event.description, event.action_taken or None])
        rows.append(row)
        if len(rows) >= CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows
