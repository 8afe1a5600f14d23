"""Screening answers and eligibility rules, pure: no database.

A trial declares its screening fields (age, screening scores, exclusion questions, the primary condition)
and rules stated as what an eligible person satisfies (``age >= 18``, ``suicidality_treatment == false``).
A rule may apply only to some people (``phq9_total >= 10`` applies when ``condition`` is ``MDD``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

KINDS = ("integer", "decimal", "boolean", "choice")
OPERATORS = (">=", ">", "<=", "<", "==", "!=", "in", "not in")


class ScreeningError(ValueError):
    """Bad screening answers; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class FieldSpec:
    code: str
    kind: str
    label: str = ""
    choices: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class RuleSpec:
    code: str
    field: str
    operator: str
    value: Any
    reason: str
    applies_if_field: str = ""
    applies_if_values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Failure:
    rule: str
    reason: str


def _clean_value(spec: FieldSpec, raw: object) -> object:
    if spec.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        raise ValueError("must be true or false")
    if spec.kind == "integer":
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError("must be a whole number")
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if spec.kind == "decimal":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("must be a number")
        try:
            number = float(Decimal(str(raw)))
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if spec.kind == "choice":
        if not isinstance(raw, str) or raw not in spec.choices:
            raise ValueError(f"must be one of {', '.join(spec.choices)}")
        return raw
    raise ValueError(f"has unknown kind {spec.kind!r}")


def clean_answers(fields: Sequence[FieldSpec], answers: Mapping[str, object]) -> dict[str, object]:
    """Check answers against the declared fields; raise ScreeningError naming every bad field."""
    known = {f.code: f for f in fields}
    errors: dict[str, str] = {}
    cleaned: dict[str, object] = {}
    for code in answers:
        if code not in known:
            errors[code] = "is not a screening field of this trial"
    for spec in fields:
        raw = answers.get(spec.code)
        if raw is None or raw == "":
            if spec.required:
                errors[spec.code] = "is required"
            continue
        try:
            cleaned[spec.code] = _clean_value(spec, raw)
        except ValueError as exc:
            errors[spec.code] = str(exc)
    if errors:
        raise ScreeningError(errors)
    return cleaned


def missing_for_rules(rules: Sequence[RuleSpec], answers: Mapping[str, object]) -> dict[str, str]:
    """Fields left unanswered that a rule needs to decide eligibility, each with the rule that needs it.

    A rule needs its field whenever it applies, and the field its condition reads (``applies_if_field``)
    always: an unanswered value is not an answer that fails the rule, so it is asked for, never evaluated.
    """
    missing: dict[str, str] = {}

    def need(code: str, why: str) -> None:
        if answers.get(code) is None and code not in missing:
            missing[code] = f"is required to decide eligibility ({why})"

    for rule in rules:
        if rule.applies_if_field:
            need(rule.applies_if_field, f"it decides whether rule {rule.code!r} applies")
            if answers.get(rule.applies_if_field) not in rule.applies_if_values:
                continue
            values = " or ".join(str(v) for v in rule.applies_if_values)
            need(rule.field, f"rule {rule.code!r} reads it when {rule.applies_if_field} is {values}")
        else:
            need(rule.field, f"rule {rule.code!r} reads it")
    return missing


def _holds(left: object, operator: str, right: object) -> bool:
    if operator == "==":
        return left == right
    if operator == "!=":
        return left != right
    if operator in ("in", "not in"):
        assert isinstance(right, list | tuple)
        inside = left in right
        return inside if operator == "in" else not inside
    if isinstance(left, bool) or not isinstance(left, int | float):
        return False
    assert isinstance(right, int | float)
    if operator == ">=":
        return left >= right
    if operator == ">":
        return left > right
    if operator == "<=":
        return left <= right
    if operator == "<":
        return left < right
    raise ValueError(f"Unknown operator {operator!r}; use one of {', '.join(OPERATORS)}.")


def validate_rule(rule: RuleSpec, fields: Sequence[FieldSpec]) -> None:
    """Raise ValueError naming the problem if a rule cannot be evaluated against these fields."""
    codes = {f.code for f in fields}
    if rule.operator not in OPERATORS:
        raise ValueError(f"Rule {rule.code!r}: unknown operator {rule.operator!r}; use one of {', '.join(OPERATORS)}.")
    if rule.field not in codes:
        raise ValueError(f"Rule {rule.code!r}: field {rule.field!r} is not a screening field.")
    if rule.applies_if_field and rule.applies_if_field not in codes:
        raise ValueError(f"Rule {rule.code!r}: applies_if_field {rule.applies_if_field!r} is not a screening field.")
    if rule.operator in ("in", "not in") and not isinstance(rule.value, list | tuple):
        raise ValueError(f"Rule {rule.code!r}: operator {rule.operator!r} needs a list value.")
    if rule.operator in (">=", ">", "<=", "<") and (
        isinstance(rule.value, bool) or not isinstance(rule.value, int | float)
    ):
        raise ValueError(f"Rule {rule.code!r}: operator {rule.operator!r} needs a number.")
    if not rule.reason:
        raise ValueError(f"Rule {rule.code!r}: give the reason recorded when it is not met.")


def evaluate(rules: Sequence[RuleSpec], answers: Mapping[str, object]) -> list[Failure]:
    """Rules not met, in rule order; an empty list means eligible."""
    failures: list[Failure] = []
    for rule in rules:
        if rule.applies_if_field and answers.get(rule.applies_if_field) not in rule.applies_if_values:
            continue
        value = answers.get(rule.field)
        if value is None or not _holds(value, rule.operator, rule.value):
            failures.append(Failure(rule=rule.code, reason=rule.reason))
    return failures
