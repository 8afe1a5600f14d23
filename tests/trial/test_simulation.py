"""The simulation reproduces known properties of the procedures (Blackwell & Hodges 1957; Matts & Lachin
1988): simple randomization is unpredictable but unbalanced, small blocks are balanced but predictable.

Blackwell-Hodges, 1:1 blocks of size 2m guessed by the convergence strategy: expected correct guesses per
block m + 2^(2m-1) / C(2m, m) - 1/2, i.e. a rate of 0.75 (m=1), 17/24 (m=2) and 41/60 (m=3).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from trial.randomization import ArmSpec, FactorSpec
from trial.simulation import SimulationReport, simulate

ONE_TO_ONE = (ArmSpec("chatbot", 1), ArmSpec("waitlist", 1))
TWO_TO_ONE = (ArmSpec("chatbot", 2), ArmSpec("waitlist", 1))
CONDITION = FactorSpec("condition", ("MDD", "GAD", "CHR-FED"))


def run(method: str, **kwargs: object) -> SimulationReport:
    options: dict[str, object] = {
        "arms": ONE_TO_ONE,
        "factors": (CONDITION,),
        "participants": 120,
        "simulations": 150,
        "block_sizes": (2, 4, 6),
        "seed": 7,
    }
    options.update(kwargs)
    return simulate(method=method, **options)  # type: ignore[arg-type]


def blackwell_hodges_rate(block_size: int) -> float:
    m = block_size // 2
    return (m + 2 ** (2 * m - 1) / math.comb(2 * m, m) - 0.5) / block_size


def test_simple_randomization_is_as_predictable_as_chance() -> None:
    report = run("simple", participants=100, simulations=400)
    assert report.chance_rate == 0.5
    assert 0 < report.correct_guess_rate_se < 0.01
    assert abs(report.correct_guess_rate - 0.5) < 4 * report.correct_guess_rate_se
    assert abs(report.excess_correct_guesses) < 4 * report.correct_guess_rate_se * 100


def test_the_monte_carlo_standard_error_shrinks_with_the_number_of_trials() -> None:
    small = run("simple", factors=(), participants=40, simulations=100, seed=1)
    large = run("simple", factors=(), participants=40, simulations=1600, seed=1)
    # SE ~ 1 / sqrt(simulations): a quarter with 16 times the trials.
    assert large.correct_guess_rate_se / small.correct_guess_rate_se == pytest.approx(0.25, rel=0.25)
    # Per-trial SD of the rate is at most that of 40 fair coin flips (ties count exactly 1/2), and not far below.
    sd = large.correct_guess_rate_se * math.sqrt(1600)
    assert 0.6 * math.sqrt(0.25 / 40) < sd < math.sqrt(0.25 / 40)


def test_blocks_of_two_make_every_second_allocation_certain() -> None:
    unstratified = run("stratified_block", factors=(), block_sizes=(2,), participants=100, simulations=20)
    # First of each pair: a tie, half a correct guess; second: certain. Exactly 0.75.
    assert unstratified.correct_guess_rate == pytest.approx(0.75)
    assert unstratified.final_imbalance_max == 0
    assert unstratified.max_imbalance_max == 1
    stratified = run("stratified_block", block_sizes=(2,), simulations=50)
    # Within strata the same, less a little for the pair left open in each stratum at the end.
    assert 0.73 < stratified.correct_guess_rate <= 0.75


@pytest.mark.parametrize("size", [4, 6])
def test_fixed_blocks_match_blackwell_and_hodges(size: int) -> None:
    report = run("stratified_block", factors=(), block_sizes=(size,), participants=120, simulations=300)
    expected = blackwell_hodges_rate(size)
    assert abs(report.correct_guess_rate - expected) < 4 * report.correct_guess_rate_se + 1e-9


def test_larger_and_random_blocks_are_less_predictable_than_blocks_of_two() -> None:
    pairs = run("stratified_block", block_sizes=(2,))
    mixed = run("stratified_block", block_sizes=(2, 4, 6))
    large = run("stratified_block", block_sizes=(6, 8, 10))
    assert large.correct_guess_rate < mixed.correct_guess_rate < pairs.correct_guess_rate
    # Sizes drawn uniformly: (1.5 + 17/6 + 4.1) / 12 = 0.703 correct per allocation, within strata a little less.
    assert mixed.correct_guess_rate == pytest.approx((1.5 + 17 / 6 + 4.1) / 12, abs=0.01)
    assert all(r.correct_guess_rate > r.chance_rate for r in (pairs, mixed, large))


def test_blocks_keep_the_arms_closer_than_simple_randomization() -> None:
    blocks = run("stratified_block", block_sizes=(2, 4, 6))
    simple = run("simple")
    assert blocks.final_imbalance_mean < simple.final_imbalance_mean / 3
    assert blocks.stratum_imbalance_mean < simple.stratum_imbalance_mean / 3
    # At most half a block of 6 open in each of the 3 strata.
    assert blocks.final_imbalance_max <= 9
    assert blocks.stratum_imbalance_mean <= 9
    unstratified = run("stratified_block", factors=(), block_sizes=(2, 4, 6))
    assert unstratified.max_imbalance_max <= 3


def test_minimization_keeps_the_final_imbalance_small() -> None:
    minimization = run("minimization", minimization_probability=0.8)
    simple = run("simple")
    assert minimization.minimization_probability == 0.8
    assert minimization.final_imbalance_mean < 3
    assert minimization.final_imbalance_mean < simple.final_imbalance_mean / 3
    deterministic = run("minimization", minimization_probability=1.0)
    # With p = 1 each level's counts differ by at most 1, so the trial's by at most 3.
    assert deterministic.final_imbalance_max <= 3
    assert deterministic.stratum_imbalance_mean <= 3
    # The random element buys unpredictability: p = 1 is guessed right more often than p = 0.8.
    assert deterministic.correct_guess_rate > minimization.correct_guess_rate > minimization.chance_rate


def test_unequal_ratios_are_measured_against_the_larger_arm() -> None:
    report = run("stratified_block", arms=TWO_TO_ONE, block_sizes=(3, 6))
    assert report.chance_rate == pytest.approx(2 / 3)
    # An open block of 6 at 2:1 is at most 8/3 off (e.g. 2 waitlist, 0 chatbot); three strata at most 8.
    assert report.final_imbalance_max <= 8 + 1e-9
    minimization = run("minimization", arms=TWO_TO_ONE)
    assert minimization.final_imbalance_mean < run("simple", arms=TWO_TO_ONE).final_imbalance_mean


def test_it_draws_strata_with_the_given_level_shares() -> None:
    # All participants in one stratum: blocks of 2 and an even number of participants end exactly balanced.
    only_mdd = replace(CONDITION, shares=(1.0, 0.0, 0.0))
    concentrated = run("stratified_block", factors=(only_mdd,), block_sizes=(2,), participants=100)
    assert concentrated.stratum_imbalance_mean == 0
    # Spread over three strata, some strata end with an open pair.
    spread = run("stratified_block", block_sizes=(2,), participants=100)
    assert spread.stratum_imbalance_mean > 0.5


def test_it_is_reproducible_with_the_same_seed() -> None:
    for method in ("stratified_block", "minimization", "simple"):
        first = run(method, seed=123, simulations=30)
        assert run(method, seed=123, simulations=30) == first
        assert first.seed == 123
        assert run(method, seed=124, simulations=30) != first


def test_it_reports_what_it_simulated() -> None:
    report = run("stratified_block", block_sizes=(6, 2, 4), participants=50, simulations=10)
    assert report.method == "stratified_block"
    assert report.participants == 50
    assert report.simulations == 10
    assert report.block_sizes == [2, 4, 6]
    assert report.minimization_probability is None
    assert report.excess_correct_guesses == pytest.approx((report.correct_guess_rate - 0.5) * 50)
    assert set(report.as_dict()) >= {"final_imbalance_mean", "correct_guess_rate", "correct_guess_rate_se"}


@pytest.mark.parametrize(
    ("method", "options", "named"),
    [
        ("permuted", {}, "Unknown randomization method 'permuted'"),
        ("simple", {"participants": 0}, "participants"),
        ("simple", {"simulations": 0}, "simulations"),
        ("stratified_block", {"block_sizes": (3,)}, "Block size 3"),
        ("stratified_block", {"block_sizes": ()}, "at least one block size"),
        ("minimization", {"minimization_probability": 0.3}, "between 0.5 and 1"),
        ("simple", {"factors": (replace(CONDITION, shares=(0.5, 0.5)),)}, "'condition': 2 shares for 3 levels"),
        ("simple", {"factors": (replace(CONDITION, shares=(0.5, -0.1, 0.6)),)}, "non-negative"),
        ("simple", {"factors": (replace(CONDITION, shares=(0.0, 0.0, 0.0)),)}, "positive sum"),
        ("simple", {"arms": (ArmSpec("chatbot", 1),)}, "at least two arms"),
    ],
)
def test_it_rejects_bad_inputs(method: str, options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        run(method, **{"simulations": 2, **options})
