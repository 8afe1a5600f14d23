"""Screening answers and eligibility rules, pure: the fields and rules of the reference (Therabot) trial."""

from __future__ import annotations

import re
from typing import Any

import pytest

from trial.eligibility import (
    OPERATORS,
    Failure,
    FieldSpec,
    RuleSpec,
    ScreeningError,
    clean_answers,
    evaluate,
    missing_for_rules,
    validate_rule,
)

FIELDS = (
    FieldSpec("age", "integer"),
    FieldSpec("us_resident", "boolean"),
    FieldSpec("condition", "choice", choices=("MDD", "GAD", "CHR-FED")),
    FieldSpec("phq9_total", "integer", required=False),
    FieldSpec("gadq4_score", "decimal", required=False),
    FieldSpec("suicidality_treatment", "boolean"),
)

RULES = (
    RuleSpec("adult", "age", ">=", 18, "Younger than 18"),
    RuleSpec("us", "us_resident", "==", True, "Not resident in the US"),
    RuleSpec(
        "mdd_severity",
        "phq9_total",
        ">=",
        10,
        "PHQ-9 below 10",
        applies_if_field="condition",
        applies_if_values=("MDD",),
    ),
    RuleSpec(
        "gad_severity",
        "gadq4_score",
        ">=",
        5.7,
        "GAD-Q-IV below 5.7",
        applies_if_field="condition",
        applies_if_values=("GAD",),
    ),
    RuleSpec("no_suicidality_treatment", "suicidality_treatment", "==", False, "In treatment for suicidality"),
)


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "age": 34,
        "us_resident": True,
        "condition": "MDD",
        "phq9_total": 14,
        "suicidality_treatment": False,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def errors_for(given: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ScreeningError) as caught:
        clean_answers(FIELDS, given)
    return caught.value.errors


# --- clean_answers ----------------------------------------------------------------------------------------


def test_it_cleans_good_answers_to_their_types() -> None:
    cleaned = clean_answers(FIELDS, answers(age="34", gadq4_score="7.5", condition="GAD", phq9_total=...))
    assert cleaned == {
        "age": 34,
        "us_resident": True,
        "condition": "GAD",
        "gadq4_score": 7.5,
        "suicidality_treatment": False,
    }
    assert "phq9_total" not in cleaned  # optional and not given


def test_it_names_an_unknown_field() -> None:
    assert errors_for(answers(favourite_colour="blue")) == {
        "favourite_colour": "is not a screening field of this trial"
    }


@pytest.mark.parametrize("missing", [..., None, ""])
def test_it_names_a_missing_required_field(missing: Any) -> None:
    assert errors_for(answers(age=missing)) == {"age": "is required"}


def test_an_optional_field_may_be_left_out() -> None:
    assert "phq9_total" not in clean_answers(FIELDS, answers(phq9_total=None))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age", "thirty", "must be a whole number"),
        ("age", 34.5, "must be a whole number"),
        ("age", "34.5", "must be a whole number"),
        ("age", True, "must be a whole number"),  # bool is an int in Python, not an age
        ("phq9_total", False, "must be a whole number"),
        ("us_resident", "yes", "must be true or false"),
        ("us_resident", 1, "must be true or false"),
        ("gadq4_score", "abc", "must be a number"),
        ("gadq4_score", True, "must be a number"),
        ("gadq4_score", "NaN", "must be a finite number"),
        ("gadq4_score", float("inf"), "must be a finite number"),
        ("condition", "PTSD", "must be one of MDD, GAD, CHR-FED"),
        ("condition", "mdd", "must be one of MDD, GAD, CHR-FED"),
    ],
)
def test_it_names_a_wrongly_typed_answer(field: str, value: Any, message: str) -> None:
    assert errors_for(answers(**{field: value})) == {field: message}


def test_it_names_every_bad_field_at_once() -> None:
    errors = errors_for(answers(age=True, us_resident=..., condition="PTSD", shoe_size=42))
    assert set(errors) == {"age", "us_resident", "condition", "shoe_size"}
    assert errors["us_resident"] == "is required"
    with pytest.raises(ScreeningError, match=r"age: must be a whole number.*condition: must be one of") as caught:
        clean_answers(FIELDS, answers(age=True, condition="PTSD"))
    assert isinstance(caught.value, ValueError)


# --- evaluate ---------------------------------------------------------------------------------------------


def test_an_eligible_person_fails_no_rule() -> None:
    assert evaluate(RULES, clean_answers(FIELDS, answers())) == []


def test_it_lists_the_failed_rules_in_rule_order_with_their_reasons() -> None:
    failures = evaluate(RULES, answers(age=17, us_resident=False, suicidality_treatment=True))
    assert failures == [
        Failure("adult", "Younger than 18"),
        Failure("us", "Not resident in the US"),
        Failure("no_suicidality_treatment", "In treatment for suicidality"),
    ]


def test_a_conditional_rule_applies_only_to_its_group() -> None:
    # PHQ-9 of 8 fails the MDD threshold, but only for people screening for MDD.
    assert evaluate(RULES, answers(condition="MDD", phq9_total=8)) == [Failure("mdd_severity", "PHQ-9 below 10")]
    assert evaluate(RULES, answers(condition="CHR-FED", phq9_total=8)) == []
    # The GAD rule needs a GAD-Q-IV score from people screening for GAD, and ignores everyone else.
    assert evaluate(RULES, answers(condition="GAD", phq9_total=...)) == [Failure("gad_severity", "GAD-Q-IV below 5.7")]
    assert evaluate(RULES, answers(condition="GAD", phq9_total=..., gadq4_score=5.7)) == []
    assert evaluate(RULES, answers(condition="GAD", phq9_total=..., gadq4_score=5.6)) == [
        Failure("gad_severity", "GAD-Q-IV below 5.7")
    ]


def test_a_missing_answer_fails_a_rule_that_applies() -> None:
    """The engine's last line of defence; the screening service asks for the value first
    (missing_for_rules), so this never becomes a recorded outcome."""
    assert evaluate(RULES, answers(phq9_total=...)) == [Failure("mdd_severity", "PHQ-9 below 10")]


def test_a_value_a_rule_needs_is_named_as_missing_only_where_the_rule_applies() -> None:
    assert missing_for_rules(RULES, answers()) == {}
    assert set(missing_for_rules(RULES, answers(phq9_total=...))) == {"phq9_total"}
    assert (
        "rule 'mdd_severity' reads it when condition is MDD"
        in missing_for_rules(RULES, answers(phq9_total=...))["phq9_total"]
    )
    assert missing_for_rules(RULES, answers(condition="CHR-FED", phq9_total=...)) == {}  # no rule reads it
    assert set(missing_for_rules(RULES, answers(condition="GAD", phq9_total=...))) == {"gadq4_score"}
    # The field that decides whether a rule applies is needed too, and so is an unconditional rule's field.
    assert set(missing_for_rules(RULES, answers(condition=..., age=...))) == {"condition", "age"}


OPERATOR_CASES = [
    (">=", 10, [10, 11], [9]),
    (">", 10, [11], [10, 9]),
    ("<=", 10, [10, 9], [11]),
    ("<", 10, [9], [10, 11]),
    ("==", 10, [10], [9, 11]),
    ("!=", 10, [9, 11], [10]),
    ("in", [1, 2], [1, 2], [3]),
    ("not in", [1, 2], [3], [1, 2]),
]


def test_the_operator_cases_cover_every_operator() -> None:
    assert {case[0] for case in OPERATOR_CASES} == set(OPERATORS)


@pytest.mark.parametrize(("operator", "threshold", "holds_for", "fails_for"), OPERATOR_CASES)
def test_each_operator_holds_and_fails_where_it_should(
    operator: str, threshold: Any, holds_for: list[int], fails_for: list[int]
) -> None:
    rule = RuleSpec("r", "phq9_total", operator, threshold, "reason")
    for value in holds_for:
        assert evaluate([rule], {"phq9_total": value}) == [], f"{value} {operator} {threshold}"
    for value in fails_for:
        assert evaluate([rule], {"phq9_total": value}) == [Failure("r", "reason")], f"{value} {operator} {threshold}"


def test_a_comparison_never_holds_for_a_non_number() -> None:
    rule = RuleSpec("r", "age", ">=", 18, "too young")
    assert evaluate([rule], {"age": "40"}) == [Failure("r", "too young")]
    assert evaluate([rule], {"age": True}) == [Failure("r", "too young")]


# --- validate_rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (RuleSpec("r1", "age", "=>", 18, "x"), "Rule 'r1': unknown operator '=>'"),
        (RuleSpec("r2", "height", ">=", 150, "x"), "Rule 'r2': field 'height' is not a screening field"),
        (
            RuleSpec("r3", "age", ">=", 18, "x", applies_if_field="diagnosis", applies_if_values=("MDD",)),
            "Rule 'r3': applies_if_field 'diagnosis' is not a screening field",
        ),
        (RuleSpec("r4", "condition", "in", "MDD", "x"), "Rule 'r4': operator 'in' needs a list value"),
        (RuleSpec("r5", "age", ">=", "18", "x"), "Rule 'r5': operator '>=' needs a number"),
        (RuleSpec("r6", "age", "<", True, "x"), "Rule 'r6': operator '<' needs a number"),
        (RuleSpec("r7", "age", ">=", 18, ""), "Rule 'r7': give the reason"),
    ],
)
def test_validate_rule_names_the_problem(rule: RuleSpec, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate_rule(rule, FIELDS)


def test_validate_rule_accepts_the_reference_rules() -> None:
    for rule in RULES:
        validate_rule(rule, FIELDS)
    validate_rule(RuleSpec("r", "condition", "not in", ["GAD"], "x"), FIELDS)
