"""The pure randomization procedures: permuted blocks, minimization, simple randomization, and the measures.

No database: everything here runs on seeded ``random.Random`` generators, so each test is deterministic.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest

from trial.randomization import (
    ArmSpec,
    BlockState,
    Draw,
    FactorSpec,
    add_to_marginals,
    block_draw,
    convergence_guess,
    imbalance,
    live_rng,
    marginal_key,
    minimization_draw,
    minimization_scores,
    simple_draw,
    stratum_key,
    validate_block_sizes,
    weighted_choice,
)

ONE_TO_ONE = (ArmSpec("chatbot", 1), ArmSpec("waitlist", 1))
TWO_TO_ONE = (ArmSpec("chatbot", 2), ArmSpec("waitlist", 1))
CONDITION = FactorSpec("condition", ("MDD", "GAD", "CHR-FED"))


def run_blocks(arms: Sequence[ArmSpec], sizes: Sequence[int], n: int, seed: int) -> list[Draw]:
    rng = random.Random(seed)
    state = BlockState()
    draws = []
    for _ in range(n):
        draw, state = block_draw(arms, state, sizes, rng)
        draws.append(draw)
    return draws


def group_blocks(draws: Sequence[Draw]) -> list[tuple[int, list[str]]]:
    """(block size, arms in order) for each block, in block order."""
    blocks: dict[int, list[str]] = defaultdict(list)
    sizes: dict[int, int] = {}
    for draw in draws:
        assert draw.block_index is not None
        assert draw.block_size is not None
        blocks[draw.block_index].append(draw.arm)
        sizes[draw.block_index] = draw.block_size
    assert sorted(blocks) == list(range(1, len(blocks) + 1)), "block indexes must run 1, 2, 3 ... without gaps"
    return [(sizes[i], blocks[i]) for i in sorted(blocks)]


def binomial_tolerance(p: float, n: int, z: float = 4.0) -> float:
    return z * math.sqrt(p * (1 - p) / n)


# --- Permuted blocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arms", "sizes"),
    [(ONE_TO_ONE, [2, 4, 6]), (TWO_TO_ONE, [3, 6, 9]), (ONE_TO_ONE, [4])],
    ids=["1:1 random sizes", "2:1 random sizes", "1:1 fixed size"],
)
def test_it_balances_every_completed_block(arms: Sequence[ArmSpec], sizes: Sequence[int]) -> None:
    draws = run_blocks(arms, sizes, 1001, seed=11)
    blocks = group_blocks(draws)
    total = sum(arm.ratio for arm in arms)
    completed = blocks[:-1] if len(blocks[-1][1]) < blocks[-1][0] else blocks
    assert len(completed) > 100
    for size, allocated in completed:
        assert len(allocated) == size
        assert Counter(allocated) == {arm.code: arm.ratio * size // total for arm in arms}
    # The last, possibly partial block never holds more of an arm than its share of the block.
    size, allocated = blocks[-1]
    assert len(allocated) <= size
    for arm in arms:
        assert allocated.count(arm.code) <= arm.ratio * size // total


def test_it_uses_only_the_configured_block_sizes_and_all_of_them() -> None:
    blocks = group_blocks(run_blocks(TWO_TO_ONE, [3, 6, 9], 3000, seed=5))
    used = Counter(size for size, _ in blocks)
    assert set(used) == {3, 6, 9}
    # Each block's size is drawn uniformly from the list: about a third of the blocks each.
    for size in (3, 6, 9):
        assert abs(used[size] / len(blocks) - 1 / 3) < binomial_tolerance(1 / 3, len(blocks))


def test_it_draws_every_ordering_of_a_block_of_four_equally_often() -> None:
    n_blocks = 6000
    blocks = group_blocks(run_blocks(ONE_TO_ONE, [4], 4 * n_blocks, seed=2024))
    orderings = Counter(tuple(allocated) for _, allocated in blocks)
    expected_orderings = set(itertools.permutations(["chatbot", "chatbot", "waitlist", "waitlist"]))
    assert set(orderings) == expected_orderings
    assert len(expected_orderings) == 6
    expected = n_blocks / 6
    chi_square = sum((count - expected) ** 2 / expected for count in orderings.values())
    assert chi_square < 20.5  # the 0.999 quantile of chi-square with 5 degrees of freedom


def test_it_does_not_change_the_state_it_is_given() -> None:
    state = BlockState(block_index=3, block_size=4, counts={"chatbot": 1, "waitlist": 0})
    _, new_state = block_draw(ONE_TO_ONE, state, [4], random.Random(1))
    assert state == BlockState(block_index=3, block_size=4, counts={"chatbot": 1, "waitlist": 0})
    assert new_state.used == 2
    assert new_state.block_index == 3


def test_it_completes_a_block_that_has_one_arm_left() -> None:
    state = BlockState(block_index=1, block_size=4, counts={"chatbot": 2, "waitlist": 1})
    for seed in range(20):
        draw, _ = block_draw(ONE_TO_ONE, state, [4], random.Random(seed))
        assert draw == Draw(arm="waitlist", block_index=1, block_size=4)


@pytest.mark.parametrize(
    ("arms", "sizes", "named"),
    [
        (ONE_TO_ONE, [2, 3], "Block size 3"),
        (TWO_TO_ONE, [3, 4], "Block size 4"),
        (ONE_TO_ONE, [0], "Block size 0"),
        (ONE_TO_ONE, [-2], "Block size -2"),
        (ONE_TO_ONE, [2.0], "Block size 2.0"),
        (ONE_TO_ONE, [True], "Block size True"),
        (ONE_TO_ONE, [], "at least one block size"),
    ],
)
def test_it_rejects_block_sizes_that_do_not_fit_the_ratio(
    arms: Sequence[ArmSpec], sizes: list[int], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        validate_block_sizes(arms, sizes)
    if sizes:
        with pytest.raises(ValueError, match=named):
            block_draw(arms, BlockState(), sizes, random.Random(0))


def test_it_accepts_multiples_of_the_ratio_total_and_sorts_them() -> None:
    assert validate_block_sizes(TWO_TO_ONE, [9, 3, 6, 3]) == [3, 6, 9]


@pytest.mark.parametrize(
    ("arms", "named"),
    [
        ((ArmSpec("chatbot", 1),), "at least two arms"),
        ((ArmSpec("a", 1), ArmSpec("a", 1)), "unique"),
        ((ArmSpec("a", 1), ArmSpec("b", 0)), "'b'"),
    ],
)
def test_it_rejects_bad_arms(arms: Sequence[ArmSpec], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        validate_block_sizes(arms, [2])
    with pytest.raises(ValueError, match=named):
        simple_draw(arms, random.Random(0))


def test_block_state_survives_a_json_round_trip() -> None:
    rng = random.Random(8)
    state = BlockState()
    for _ in range(7):
        _, state = block_draw(TWO_TO_ONE, state, [3, 6], rng)
    stored = json.loads(json.dumps(state.to_json()))
    restored = BlockState.from_json(stored)
    assert restored == state
    assert BlockState.from_json({}) == BlockState()
    # Continuing from the restored state draws exactly what continuing from the original would.
    rng_a, rng_b = random.Random(99), random.Random(99)
    a, b = state, restored
    for _ in range(12):
        draw_a, a = block_draw(TWO_TO_ONE, a, [3, 6], rng_a)
        draw_b, b = block_draw(TWO_TO_ONE, b, [3, 6], rng_b)
        assert draw_a == draw_b


# --- Minimization --------------------------------------------------------------------------------------


def test_minimization_scores_are_the_range_of_ratio_adjusted_counts() -> None:
    marginals = {marginal_key("condition", "MDD"): {"chatbot": 2, "waitlist": 1}}
    levels = {"condition": "MDD"}
    # Chatbot -> 3 vs 1 (range 2); waitlist -> 2 vs 2 (range 0).
    assert minimization_scores(ONE_TO_ONE, [CONDITION], levels, marginals) == {"chatbot": 2.0, "waitlist": 0.0}
    heavy = FactorSpec("condition", CONDITION.levels, weight=2.5)
    assert minimization_scores(ONE_TO_ONE, [heavy], levels, marginals) == {"chatbot": 5.0, "waitlist": 0.0}
    # At 2:1, counts are divided by the ratio: 2 chatbot / 1 waitlist is balanced.
    # Chatbot -> 3/2 vs 1 (0.5); waitlist -> 2/2 vs 2 (1).
    assert minimization_scores(TWO_TO_ONE, [CONDITION], levels, marginals) == {"chatbot": 0.5, "waitlist": 1.0}


def test_it_never_lets_a_level_drift_by_more_than_one_with_p_1() -> None:
    rng = random.Random(3)
    marginals: dict[str, dict[str, int]] = {}
    for _ in range(600):
        levels = {"condition": rng.choice(CONDITION.levels)}
        draw = minimization_draw(ONE_TO_ONE, [CONDITION], levels, marginals, 1.0, rng)
        add_to_marginals(marginals, [CONDITION], levels, draw.arm)
        for counts in marginals.values():
            assert abs(counts.get("chatbot", 0) - counts.get("waitlist", 0)) <= 1
    assert sum(sum(c.values()) for c in marginals.values()) == 600


def test_it_always_picks_a_least_imbalancing_arm_with_p_1() -> None:
    site = FactorSpec("site", ("a", "b"))
    factors = [CONDITION, site]
    rng = random.Random(4)
    marginals: dict[str, dict[str, int]] = {}
    for _ in range(400):
        levels = {"condition": rng.choice(CONDITION.levels), "site": rng.choice(site.levels)}
        scores = minimization_scores(ONE_TO_ONE, factors, levels, marginals)
        draw = minimization_draw(ONE_TO_ONE, factors, levels, marginals, 1.0, rng)
        assert scores[draw.arm] == min(scores.values())
        add_to_marginals(marginals, factors, levels, draw.arm)


def test_it_picks_the_preferred_arm_with_probability_p() -> None:
    marginals = {marginal_key("condition", "GAD"): {"chatbot": 3, "waitlist": 1}}
    levels = {"condition": "GAD"}
    rng = random.Random(17)
    n = 5000
    preferred = sum(
        minimization_draw(ONE_TO_ONE, [CONDITION], levels, marginals, 0.8, rng).arm == "waitlist" for _ in range(n)
    )
    assert abs(preferred / n - 0.8) < binomial_tolerance(0.8, n)


@pytest.mark.parametrize(
    ("arms", "shares"),
    [
        (TWO_TO_ONE, {"chatbot": 2 / 3, "waitlist": 1 / 3}),
        ((ArmSpec("a", 1), ArmSpec("b", 1), ArmSpec("c", 1)), {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
    ],
)
def test_it_breaks_a_complete_tie_by_the_ratio(arms: Sequence[ArmSpec], shares: dict[str, float]) -> None:
    # No factors: every arm scores 0, so the draw is weighted by the ratio alone, whatever p is.
    rng = random.Random(23)
    n = 4000
    drawn = Counter(minimization_draw(arms, [], {}, {}, 0.8, rng).arm for _ in range(n))
    for arm, share in shares.items():
        assert abs(drawn[arm] / n - share) < binomial_tolerance(share, n)


def test_minimization_prefers_the_larger_arm_for_the_first_participant_at_two_to_one() -> None:
    # Scores: chatbot -> (1/2, 0), range 1/2; waitlist -> (0, 1), range 1. Chatbot is preferred, with p.
    assert minimization_scores(TWO_TO_ONE, [CONDITION], {"condition": "MDD"}, {}) == {"chatbot": 0.5, "waitlist": 1.0}
    rng = random.Random(29)
    n = 4000
    chatbot = sum(
        minimization_draw(TWO_TO_ONE, [CONDITION], {"condition": "MDD"}, {}, 0.8, rng).arm == "chatbot"
        for _ in range(n)
    )
    assert abs(chatbot / n - 0.8) < binomial_tolerance(0.8, n)


def test_minimization_at_two_to_one_ends_near_two_to_one() -> None:
    rng = random.Random(31)
    marginals: dict[str, dict[str, int]] = {}
    counts: Counter[str] = Counter()
    n = 900
    for _ in range(n):
        levels = {"condition": rng.choice(CONDITION.levels)}
        draw = minimization_draw(TWO_TO_ONE, [CONDITION], levels, marginals, 0.8, rng)
        add_to_marginals(marginals, [CONDITION], levels, draw.arm)
        counts[draw.arm] += 1
    # Far tighter than simple randomization's 4 SE (about 0.06 here).
    assert abs(counts["chatbot"] / n - 2 / 3) < 0.02
    for level_counts in marginals.values():
        assert abs(level_counts["chatbot"] / sum(level_counts.values()) - 2 / 3) < 0.04


@pytest.mark.parametrize("probability", [0.49, 1.01, -1.0])
def test_it_refuses_a_minimization_probability_outside_half_to_one(probability: float) -> None:
    with pytest.raises(ValueError, match=r"between 0\.5 and 1"):
        minimization_draw(ONE_TO_ONE, [CONDITION], {"condition": "MDD"}, {}, probability, random.Random(0))


# --- Simple randomization ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("arms", "share"), [(ONE_TO_ONE, 1 / 2), (TWO_TO_ONE, 2 / 3)])
def test_simple_randomization_follows_the_ratio(arms: Sequence[ArmSpec], share: float) -> None:
    rng = random.Random(41)
    n = 6000
    chatbot = sum(simple_draw(arms, rng).arm == "chatbot" for _ in range(n))
    assert abs(chatbot / n - share) < binomial_tolerance(share, n)


def test_simple_randomization_has_no_blocks() -> None:
    draw = simple_draw(ONE_TO_ONE, random.Random(0))
    assert draw.block_index is None
    assert draw.block_size is None


def test_weighted_choice_skips_exhausted_options_and_refuses_when_nothing_is_left() -> None:
    rng = random.Random(0)
    assert {weighted_choice([("a", 0), ("b", 3), ("c", -1)], rng) for _ in range(50)} == {"b"}
    with pytest.raises(ValueError, match="Nothing left"):
        weighted_choice([("a", 0), ("b", 0)], rng)


def test_live_draws_come_from_the_operating_systems_csprng() -> None:
    rng = live_rng()
    assert isinstance(rng, secrets.SystemRandom)
    assert simple_draw(ONE_TO_ONE, rng).arm in {"chatbot", "waitlist"}


# --- Measures ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arms", "counts", "expected"),
    [
        (ONE_TO_ONE, {"chatbot": 5, "waitlist": 3}, 2.0),  # |5 - 3|
        (ONE_TO_ONE, {"chatbot": 2}, 2.0),  # a missing arm counts as 0
        (ONE_TO_ONE, {}, 0.0),
        (TWO_TO_ONE, {"chatbot": 6, "waitlist": 3}, 0.0),  # exactly 2:1
        (TWO_TO_ONE, {"chatbot": 5, "waitlist": 4}, 2.0),  # targets 6 and 3
        (TWO_TO_ONE, {"chatbot": 3, "waitlist": 2}, 2 / 3),  # targets 10/3 and 5/3
        ((ArmSpec("a", 1), ArmSpec("b", 1), ArmSpec("c", 1)), {"a": 3, "b": 1, "c": 2}, 2.0),
    ],
)
def test_imbalance_is_the_distance_from_the_target_ratio(
    arms: Sequence[ArmSpec], counts: dict[str, int], expected: float
) -> None:
    assert imbalance(arms, counts) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("arms", "counts", "expected"),
    [
        (ONE_TO_ONE, {"chatbot": 2, "waitlist": 1}, ["waitlist"]),
        (ONE_TO_ONE, {"chatbot": 1, "waitlist": 1}, ["chatbot", "waitlist"]),
        (ONE_TO_ONE, {}, ["chatbot", "waitlist"]),
        (TWO_TO_ONE, {}, ["chatbot"]),  # next target 2/3 vs 1/3
        (TWO_TO_ONE, {"chatbot": 1}, ["waitlist"]),  # deficits 1/3 vs 2/3
        (TWO_TO_ONE, {"chatbot": 1, "waitlist": 1}, ["chatbot"]),  # deficits 1 vs 0
    ],
)
def test_convergence_guess_picks_the_arm_furthest_below_target(
    arms: Sequence[ArmSpec], counts: dict[str, int], expected: list[str]
) -> None:
    assert convergence_guess(arms, counts) == expected


def test_stratum_key_is_canonical() -> None:
    levels = {"site": "b", "condition": "MDD"}
    assert stratum_key(levels, ["site", "condition"]) == "condition=MDD|site=b"
    assert stratum_key(levels, ["condition", "site"]) == "condition=MDD|site=b"
    assert stratum_key(levels, []) == ""
