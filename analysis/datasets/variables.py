"""Variables shared by the datasets, described from the protocol: labels, category codes and value labels
are known before the first row is read, so every file format can be written as a stream."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.datasets.source import Protocol
from analysis.formats import Variable
from assessments.models import AssessmentStatus

STUDY_ID_WIDTH = 32  # Participant.study_id's maximum length
NOT_SCHEDULED = "not_scheduled"  # a visit's status when it was never scheduled


def categories(values: Sequence[tuple[str, str]]) -> tuple[tuple[int, str, str], ...]:
    """Codes 1..n for the values, in the order given (protocol order), each with its label."""
    return tuple((i, value, label) for i, (value, label) in enumerate(values, start=1))


def arm_variable(protocol: Protocol, *, missing: str = "") -> Variable:
    if protocol.blinded:
        values = [(arm.blinded_label, f"Arm {arm.blinded_label}") for arm in protocol.arms]
        label = "Allocated arm (blinded letter)"
    else:
        values = [(arm.code, arm.name + (" (control)" if arm.is_control else "")) for arm in protocol.arms]
        label = "Allocated arm"
    return Variable("arm", label, "category", categories=categories(values), missing=missing)


def id_variables(protocol: Protocol, *, arm_missing: str = "") -> list[Variable]:
    """participant_id, arm and one column per stratification factor, as in the long layout."""
    return [
        Variable("participant_id", "Study ID", "string", width=STUDY_ID_WIDTH),
        arm_variable(protocol, missing=arm_missing),
        *(
            Variable(
                factor.code,
                f"Stratification factor: {factor.name}",
                "category",
                categories=categories([(level.code, level.label) for level in factor.levels.all()]),
            )
            for factor in protocol.factors
        ),
    ]


def visit_variable(protocol: Protocol) -> Variable:
    values = [(p.visit.code, p.visit.name) for p in protocol.visits]
    return Variable("visit", "Visit", "category", categories=categories(values))


def instrument_variable(protocol: Protocol, codes: Sequence[str]) -> Variable:
    unique = list(dict.fromkeys(codes))
    values = [(code, protocol.instrument(code).name) for code in unique]
    return Variable("instrument", "Instrument", "category", categories=categories(values))


def scale_variable(protocol: Protocol, codes: Sequence[str]) -> Variable:
    names: dict[str, str] = {}
    for code in dict.fromkeys(codes):
        for scale in protocol.instrument(code).scale_names():
            names.setdefault(scale, "Total score" if scale == "total" else f"Subscale {scale}")
    return Variable("scale", "Scale (total or subscale)", "category", categories=categories(list(names.items())))


def status_variable(name: str, label: str) -> Variable:
    """A visit's status, which says why its answers are missing (missed, cancelled, not yet due, ...)."""
    values = [(str(value), str(label)) for value, label in AssessmentStatus.choices]
    values.append((NOT_SCHEDULED, "Not scheduled (e.g. the participant left before the visit was planned)"))
    return Variable(name, label, "category", categories=categories(values))
