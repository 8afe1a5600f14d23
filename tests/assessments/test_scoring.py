"""The scoring engine against hand-computed scores from the instruments' manuals and papers.

Pure: no database. Each expected value is worked out in the comment or the test name, from the rule in
docs/instruments.md, so a wrong divisor, band edge or missing-item rule fails here.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from assessments.instruments import UnknownInstrumentError, get_instrument
from assessments.scoring import SAFETY_FLAGS, score_instrument

PHQ9_ITEMS = [f"phq9_{n}" for n in range(1, 10)]


def phq9(total: int, *, item9: int | None = 0, **overrides: int | None) -> dict[str, int | None]:
    """PHQ-9 answers whose items 1-8 add up to ``total`` minus item 9, filled from item 1 on."""
    rest = total - (item9 or 0)
    answers: dict[str, int | None] = {}
    for key in PHQ9_ITEMS[:8]:
        answers[key] = min(3, rest)
        rest -= answers[key] or 0
    assert rest == 0, "items 1-8 cannot hold that total"
    answers["phq9_9"] = item9
    answers.update(overrides)
    return answers


def gad7(total: int) -> dict[str, int]:
    answers, rest = {}, total
    for n in range(1, 8):
        answers[f"gad7_{n}"] = min(3, rest)
        rest -= answers[f"gad7_{n}"]
    assert rest == 0
    return answers


def gadq4(
    *, yes: tuple[int, ...] = (), topics: int = 0, symptoms: int = 0, interference: int = 0, distress: int = 0
) -> dict[str, int]:
    answers = {f"gadq4_{n}": int(n in yes) for n in (1, 2, 3, 4, 6)}
    answers["gadq4_5"] = topics
    answers.update({f"gadq4_7_{m}": int(m <= symptoms) for m in range(1, 7)})
    answers["gadq4_8"] = interference
    answers["gadq4_9"] = distress
    return answers


# --------------------------------------------------------------------------------------------------
# PHQ-9
# --------------------------------------------------------------------------------------------------


def test_phq9_minimum_is_zero_minimal_without_flags() -> None:
    result = score_instrument("phq9", phq9(0))
    assert (result.total, result.band, result.flags) == (0.0, "minimal", frozenset())
    assert (result.answered, result.missing, result.prorated) == (9, (), False)


def test_phq9_maximum_is_27_severe_with_both_item9_flags() -> None:
    result = score_instrument("phq9", dict.fromkeys(PHQ9_ITEMS, 3))
    assert (result.total, result.band) == (27.0, "severe")
    assert result.flags == {"suicidal_ideation", "suicidal_ideation_severe"}


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
    ],
)
def test_phq9_band_boundaries(total: int, band: str) -> None:
    result = score_instrument("phq9", phq9(total))
    assert result.total == total
    assert result.band == band


def test_phq9_item9_of_1_flags_suicidal_ideation_even_with_a_total_of_1() -> None:
    result = score_instrument("phq9", phq9(1, item9=1))
    assert (result.total, result.band) == (1.0, "minimal")
    assert result.flags == {"suicidal_ideation"}
    assert result.item9_value == 1


def test_phq9_item9_of_2_is_not_severe() -> None:
    assert score_instrument("phq9", phq9(2, item9=2)).flags == {"suicidal_ideation"}


def test_phq9_item9_of_3_adds_the_severe_flag() -> None:
    result = score_instrument("phq9", phq9(3, item9=3))
    assert result.flags == {"suicidal_ideation", "suicidal_ideation_severe"}
    assert result.safety_flags == result.flags


def test_phq9_item9_of_0_raises_no_flag_whatever_the_total() -> None:
    assert score_instrument("phq9", phq9(24, item9=0)).flags == frozenset()


def test_phq9_missing_item9_is_flagged_and_never_imputed() -> None:
    # Items 1-8 all 3: the prorated total is 24 x 9 / 8 = 27, but item 9 stays unknown: no ideation
    # flag is derived from the imputed mean, only safety_item_missing.
    result = score_instrument("phq9", phq9(24, item9=None))
    assert result.flags == {"safety_item_missing"}
    assert result.item9_value is None
    assert result.flag_items == {"phq9_9": None}
    assert (result.total, result.prorated, result.missing) == (27.0, True, ("phq9_9",))


def test_phq9_absent_item9_key_is_the_same_as_none() -> None:
    answers = phq9(8)
    del answers["phq9_9"]
    assert score_instrument("phq9", answers).flags == {"safety_item_missing"}


def test_phq9_flags_are_raised_even_when_too_much_is_missing_for_a_total() -> None:
    result = score_instrument("phq9", {"phq9_9": 2})
    assert result.total is None
    assert result.band is None
    assert result.flags == {"suicidal_ideation"}


def test_phq9_one_missing_item_is_prorated_and_rounded_half_up() -> None:
    # 8 answered items summing to 4: 4 x 9 / 8 = 4.5 -> 5 (half up; round-half-even would give 4).
    result = score_instrument("phq9", phq9(4, phq9_8=None))
    assert result.total == 5.0
    assert result.band == "mild"
    assert result.prorated is True
    assert (result.answered, result.missing) == (8, ("phq9_8",))


def test_phq9_two_missing_items_are_prorated() -> None:
    # 7 answered items summing to 10: 10 x 9 / 7 = 12.86 -> 13.
    answers = phq9(10, phq9_7=None, phq9_8=None)
    assert sum(v for v in answers.values() if v) == 10
    result = score_instrument("phq9", answers)
    assert (result.total, result.band, result.prorated) == (13.0, "moderate", True)


def test_phq9_three_missing_items_give_no_score() -> None:
    result = score_instrument("phq9", phq9(10, phq9_6=None, phq9_7=None, phq9_8=None))
    assert (result.total, result.band, result.prorated) == (None, None, False)
    assert result.missing == ("phq9_6", "phq9_7", "phq9_8")
    assert result.answered == 6


def test_phq9_missing_item9_counts_towards_the_two_allowed() -> None:
    assert score_instrument("phq9", phq9(6, item9=None, phq9_8=None)).total is not None
    result = score_instrument("phq9", phq9(6, item9=None, phq9_7=None, phq9_8=None))
    assert result.total is None
    assert result.flags == {"safety_item_missing"}


def test_phq9_item10_is_recorded_but_not_scored() -> None:
    without = score_instrument("phq9", phq9(12))
    with_difficulty = score_instrument("phq9", {**phq9(12), "phq9_10": 3})
    assert with_difficulty.total == without.total == 12.0
    assert "phq9_10" not in without.missing
    with pytest.raises(ValueError, match="phq9_10"):
        score_instrument("phq9", {**phq9(12), "phq9_10": 4})


# --------------------------------------------------------------------------------------------------
# PHQ-8 and GAD-7
# --------------------------------------------------------------------------------------------------


def test_phq8_range_bands_and_no_safety_item() -> None:
    assert score_instrument("phq8", {f"phq8_{n}": 0 for n in range(1, 9)}).total == 0.0
    top = score_instrument("phq8", {f"phq8_{n}": 3 for n in range(1, 9)})
    assert (top.total, top.band, top.flags) == (24.0, "severe", frozenset())
    nineteen = {f"phq8_{n}": 3 for n in range(1, 7)} | {"phq8_7": 1, "phq8_8": 0}
    assert score_instrument("phq8", nineteen).band == "moderately_severe"
    with pytest.raises(ValueError, match="phq8_9"):
        score_instrument("phq8", {"phq8_9": 1})


def test_gad7_minimum_and_maximum() -> None:
    assert score_instrument("gad7", gad7(0)).band == "minimal"
    top = score_instrument("gad7", gad7(21))
    assert (top.total, top.band) == (21.0, "severe")


@pytest.mark.parametrize(
    ("total", "band"),
    [(4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"), (15, "severe")],
)
def test_gad7_band_boundaries(total: int, band: str) -> None:
    result = score_instrument("gad7", gad7(total))
    assert (result.total, result.band) == (total, band)


def test_gad7_prorates_one_missing_item_but_not_two() -> None:
    # 6 answered items summing to 8: 8 x 7 / 6 = 9.33 -> 9.
    one = score_instrument("gad7", {**gad7(8), "gad7_7": None})
    assert (one.total, one.band, one.prorated) == (9.0, "mild", True)
    two = score_instrument("gad7", {**gad7(8), "gad7_6": None, "gad7_7": None})
    assert two.total is None


# --------------------------------------------------------------------------------------------------
# GAD-Q-IV (Newman et al. 2002 weights; cut-offs 5.7 Newman, 7.67 Moore)
# --------------------------------------------------------------------------------------------------


def test_gadq4_minimum_is_zero() -> None:
    result = score_instrument("gadq4", gadq4())
    assert (result.total, result.band) == (0.0, "below_cutoff")


def test_gadq4_maximum_is_13() -> None:
    # 5 yes + 6 topics / 3 + 6 symptoms / 3 + 8 / 4 + 8 / 4 = 5 + 2 + 2 + 2 + 2.
    result = score_instrument("gadq4", gadq4(yes=(1, 2, 3, 4, 6), topics=6, symptoms=6, interference=8, distress=8))
    assert result.total == 13.0
    assert result.bands == {"newman2002": "probable_gad", "moore2014": "probable_gad"}


def test_gadq4_components_carry_their_weights() -> None:
    assert score_instrument("gadq4", gadq4(yes=(6,))).total == 1.0  # a yes is 1
    assert score_instrument("gadq4", gadq4(topics=3)).total == 1.0  # 3 topics / 3
    assert score_instrument("gadq4", gadq4(symptoms=3)).total == 1.0  # 3 checked / 3
    assert score_instrument("gadq4", gadq4(interference=4)).total == 1.0  # 4 / 4
    assert score_instrument("gadq4", gadq4(distress=2)).total == 0.5  # 2 / 4
    assert score_instrument("gadq4", gadq4(symptoms=1)).total == 0.33  # 1/3, reported to 2 decimals


def test_gadq4_just_above_newmans_cutoff() -> None:
    # 4 yes + 3 topics / 3 + interference 3 / 4 = 4 + 1 + 0.75 = 5.75 >= 5.7.
    result = score_instrument("gadq4", gadq4(yes=(1, 2, 3, 4), topics=3, interference=3))
    assert result.total == 5.75
    assert result.band == "probable_gad"
    assert result.bands["moore2014"] == "below_cutoff"


def test_gadq4_five_and_two_thirds_is_below_newmans_cutoff() -> None:
    # 4 yes + 5 topics / 3 = 5.667, reported 5.67 < 5.7.
    result = score_instrument("gadq4", gadq4(yes=(1, 2, 3, 4), topics=5))
    assert result.total == 5.67
    assert result.band == "below_cutoff"


def test_gadq4_seven_and_two_thirds_meets_moores_cutoff() -> None:
    # 5 yes + 5 topics / 3 + interference 4 / 4 = 7.667, reported 7.67 >= 7.67.
    result = score_instrument("gadq4", gadq4(yes=(1, 2, 3, 4, 6), topics=5, interference=4), band_set="moore2014")
    assert result.total == 7.67
    assert (result.band_set, result.band) == ("moore2014", "probable_gad")


def test_gadq4_just_below_moores_cutoff() -> None:
    # 5 yes + 4 topics / 3 + interference 5 / 4 = 5 + 1.333 + 1.25 = 7.583, reported 7.58.
    answers = gadq4(yes=(1, 2, 3, 4, 6), topics=4, interference=5)
    moore = score_instrument("gadq4", answers, band_set="moore2014")
    assert (moore.total, moore.band) == (7.58, "below_cutoff")
    assert score_instrument("gadq4", answers).band == "probable_gad"  # the default, Newman's 5.7


def test_gadq4_skipped_items_score_zero_but_item1_is_required() -> None:
    skipped = score_instrument("gadq4", {"gadq4_1": 0})
    assert (skipped.total, skipped.prorated, skipped.band) == (0.0, False, "below_cutoff")
    assert len(skipped.missing) == 13
    assert score_instrument("gadq4", {"gadq4_2": 1, "gadq4_3": 1}).total is None


def test_gadq4_rejects_more_than_six_topics() -> None:
    with pytest.raises(ValueError, match="gadq4_5"):
        score_instrument("gadq4", {**gadq4(), "gadq4_5": 7})


def test_gadq4_unknown_band_set_is_refused() -> None:
    with pytest.raises(ValueError, match="newman2021"):
        score_instrument("gadq4", gadq4(), band_set="newman2021")


# --------------------------------------------------------------------------------------------------
# Weight Concerns Scale (options spaced evenly over 0-100, mean)
# --------------------------------------------------------------------------------------------------


def test_wcs_maps_each_item_onto_0_to_100() -> None:
    items = {item.key: [option.points for option in item.options] for item in get_instrument("wcs").items}
    assert items["wcs_1"] == [0, 25, 50, 75, 100]
    assert items["wcs_3"] == [0, Fraction(50, 3), Fraction(100, 3), 50, Fraction(200, 3), Fraction(250, 3), 100]
    assert items["wcs_4"] == [0, Fraction(100, 3), Fraction(200, 3), 100]


def test_wcs_minimum_and_maximum() -> None:
    assert score_instrument("wcs", {"wcs_1": 1, "wcs_2": 1, "wcs_3": 1, "wcs_4": 1, "wcs_5": 1}).total == 0.0
    top = score_instrument("wcs", {"wcs_1": 5, "wcs_2": 5, "wcs_3": 7, "wcs_4": 4, "wcs_5": 5})
    assert (top.total, top.band) == (100.0, "high_risk")


def test_wcs_worked_example() -> None:
    # (75 + 50 + 50 + 66.67 + 25) / 5 = 266.67 / 5 = 53.33.
    result = score_instrument("wcs", {"wcs_1": 4, "wcs_2": 3, "wcs_3": 4, "wcs_4": 3, "wcs_5": 2})
    assert (result.total, result.band) == (53.33, "high_risk")


def test_wcs_either_side_of_47() -> None:
    # (50 + 50 + 50 + 33.33 + 50) / 5 = 46.67; (75 + 50 + 66.67 + 0 + 50) / 5 = 48.33.
    below = score_instrument("wcs", {"wcs_1": 3, "wcs_2": 3, "wcs_3": 4, "wcs_4": 2, "wcs_5": 3})
    above = score_instrument("wcs", {"wcs_1": 4, "wcs_2": 3, "wcs_3": 5, "wcs_4": 1, "wcs_5": 3})
    assert (below.total, below.band) == (46.67, "below_cutoff")
    assert (above.total, above.band) == (48.33, "high_risk")


def test_wcs_is_the_mean_of_four_items_when_one_is_missing() -> None:
    # (100 + 100 + 50 + 0) / 4 = 62.5.
    result = score_instrument("wcs", {"wcs_1": 5, "wcs_2": 5, "wcs_3": 4, "wcs_4": 1})
    assert (result.total, result.prorated) == (62.5, True)
    assert score_instrument("wcs", {"wcs_1": 5, "wcs_2": 5, "wcs_3": 4}).total is None


# --------------------------------------------------------------------------------------------------
# EDE-QS, SCOFF
# --------------------------------------------------------------------------------------------------


def edeqs(total: int) -> dict[str, int]:
    answers, rest = {}, total
    for n in range(1, 13):
        answers[f"edeqs_{n}"] = min(3, rest)
        rest -= answers[f"edeqs_{n}"]
    return answers


def test_edeqs_range_and_the_15_cutoff() -> None:
    assert score_instrument("edeqs", edeqs(0)).total == 0.0
    assert score_instrument("edeqs", edeqs(36)).total == 36.0
    assert score_instrument("edeqs", edeqs(14)).band == "below_cutoff"
    assert score_instrument("edeqs", edeqs(15)).band == "probable_eating_disorder"


def test_edeqs_prorates_up_to_three_missing_items() -> None:
    # 9 answered items summing to 10: 10 x 12 / 9 = 13.33 -> 13.
    answers = {**edeqs(10), "edeqs_10": None, "edeqs_11": None, "edeqs_12": None}
    result = score_instrument("edeqs", answers)
    assert (result.total, result.prorated) == (13.0, True)
    assert score_instrument("edeqs", {**answers, "edeqs_9": None}).total is None


def test_scoff_counts_yes_answers_and_two_is_a_likely_case() -> None:
    def scoff(yes: int) -> dict[str, int]:
        return {f"scoff_{n}": int(n <= yes) for n in range(1, 6)}

    assert score_instrument("scoff", scoff(0)).total == 0.0
    assert score_instrument("scoff", scoff(5)).total == 5.0
    assert score_instrument("scoff", scoff(1)).band == "below_cutoff"
    assert score_instrument("scoff", scoff(2)).band == "likely_case"


def test_scoff_is_not_scored_with_a_missing_answer() -> None:
    result = score_instrument("scoff", {"scoff_1": 1, "scoff_2": 1, "scoff_3": 1, "scoff_4": 0})
    assert (result.total, result.band, result.missing) == (None, None, ("scoff_5",))


# --------------------------------------------------------------------------------------------------
# WAI-SR
# --------------------------------------------------------------------------------------------------

TASK, BOND, GOAL = (1, 2, 10, 12), (3, 5, 7, 9), (4, 6, 8, 11)


def waisr(task: int, bond: int, goal: int) -> dict[str, int]:
    answers = {f"waisr_{n}": task for n in TASK}
    answers |= {f"waisr_{n}": bond for n in BOND}
    answers |= {f"waisr_{n}": goal for n in GOAL}
    return answers


def test_waisr_minimum_and_maximum() -> None:
    low = score_instrument("waisr", waisr(1, 1, 1))
    assert (low.total, low.subscales) == (12.0, {"task": 4.0, "bond": 4.0, "goal": 4.0, "item_mean": 1.0})
    high = score_instrument("waisr", waisr(5, 5, 5))  # no item is reverse-scored: 5 counts 5 everywhere
    assert (high.total, high.subscales) == (60.0, {"task": 20.0, "bond": 20.0, "goal": 20.0, "item_mean": 5.0})
    assert high.band is None


def test_waisr_subscales_take_their_own_items() -> None:
    # Task items 5, Bond items 2, Goal items 3: 20 / 8 / 12, total 40, item mean 40 / 12 = 3.33.
    result = score_instrument("waisr", waisr(task=5, bond=2, goal=3))
    assert result.total == 40.0
    assert result.subscales == {"task": 20.0, "bond": 8.0, "goal": 12.0, "item_mean": 3.33}


def test_waisr_subscale_prorates_one_missing_item_but_not_two() -> None:
    one = score_instrument("waisr", {**waisr(5, 2, 3), "waisr_12": None})
    # Task: 15 x 4 / 3 = 20; total: 35 x 12 / 11 = 38.18; mean 35 / 11 = 3.18.
    assert one.subscales == {"task": 20.0, "bond": 8.0, "goal": 12.0, "item_mean": 3.18}
    assert (one.total, one.prorated) == (38.18, True)
    two = score_instrument("waisr", {**waisr(5, 2, 3), "waisr_10": None, "waisr_12": None})
    assert two.subscales["task"] is None
    assert two.subscales["bond"] == 8.0
    assert two.total == 36.0  # 30 x 12 / 10


# --------------------------------------------------------------------------------------------------
# Bad answers and the safety contract
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "named"),
    [
        ({"phq9_11": 1}, "phq9_11"),
        ({"gad7_1": 1}, "gad7_1"),
        ({"phq9_3": 4}, "phq9_3"),
        ({"phq9_3": -1}, "phq9_3"),
        ({"phq9_4": 1.5}, "phq9_4"),
        ({"phq9_5": True}, "phq9_5"),
        ({"phq9_6": "2"}, "phq9_6"),
        ({"phq9_7": float("nan")}, "phq9_7"),
        ({"phq9_8": [1]}, "phq9_8"),
    ],
)
def test_bad_answers_raise_value_error_naming_the_item(answers: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        score_instrument("phq9", answers)  # type: ignore[arg-type]


def test_numbers_of_any_type_equal_to_an_option_are_accepted() -> None:
    result = score_instrument("phq9", {**phq9(0), "phq9_1": 2.0, "phq9_2": Decimal(1)})  # type: ignore[dict-item]
    assert result.total == 3.0


def test_answers_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="phq9"):
        score_instrument("phq9", [("phq9_1", 1)])  # type: ignore[arg-type]


def test_unknown_instrument_is_a_value_error_naming_the_code() -> None:
    with pytest.raises(UnknownInstrumentError, match="phq10"):
        score_instrument("phq10", {})
    assert issubclass(UnknownInstrumentError, ValueError)


def test_safety_flags_are_the_three_phq9_item9_flags() -> None:
    assert {"suicidal_ideation", "suicidal_ideation_severe", "safety_item_missing"} == SAFETY_FLAGS
    assert {rule.name for rule in get_instrument("phq9").flags} == SAFETY_FLAGS
    assert all(rule.item == "phq9_9" for rule in get_instrument("phq9").flags)


def test_no_other_instrument_raises_a_safety_flag_when_empty() -> None:
    for code in ("phq8", "gad7", "gadq4", "wcs", "edeqs", "scoff", "waisr"):
        assert score_instrument(code, {}).flags == frozenset(), code
