"""Simulate a randomization procedure to judge it before a trial opens: imbalance and predictability.

Pure; seeded (``random.Random``) so a report can be reproduced. Live allocations never use this module's
generator: they draw from the CSPRNG (trial.randomization.live_rng).

Predictability is measured as Blackwell and Hodges (1957) did: an enrolling person who knows every
earlier allocation guesses the next one by the convergence strategy (the arm furthest below its target
in the balancing unit: the stratum for stratified blocks, the trial for simple randomization) or, under
minimization, the arm the algorithm prefers. A tie among k arms counts 1/k of a correct guess when the
true arm is among them. The chance rate is what guessing the largest arm every time achieves.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from trial.randomization import (
    METHOD_BLOCK,
    METHOD_MINIMIZATION,
    METHOD_SIMPLE,
    METHODS,
    ArmSpec,
    BlockState,
    FactorSpec,
    add_to_marginals,
    block_draw,
    convergence_guess,
    imbalance,
    minimization_draw,
    minimization_scores,
    ratio_total,
    simple_draw,
    stratum_key,
    validate_block_sizes,
)


@dataclass(frozen=True)
class SimulationReport:
    method: str
    participants: int
    simulations: int
    seed: int | None
    block_sizes: list[int]
    minimization_probability: float | None
    final_imbalance_mean: float
    final_imbalance_p95: float
    final_imbalance_max: float
    max_imbalance_mean: float
    max_imbalance_max: float
    stratum_imbalance_mean: float
    correct_guess_rate: float
    chance_rate: float
    excess_correct_guesses: float
    # Monte Carlo standard error of correct_guess_rate: the SD of the per-trial rates over sqrt(simulations).
    correct_guess_rate_se: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _check_shares(factors: Sequence[FactorSpec]) -> None:
    for factor in factors:
        if not factor.shares:
            continue
        if len(factor.shares) != len(factor.levels):
            raise ValueError(
                f"Factor {factor.code!r}: {len(factor.shares)} shares for {len(factor.levels)} levels "
                f"({', '.join(factor.levels)})."
            )
        if any(not math.isfinite(share) or share < 0 for share in factor.shares) or sum(factor.shares) <= 0:
            raise ValueError(f"Factor {factor.code!r}: level shares must be non-negative numbers with a positive sum.")


def _draw_levels(factors: Sequence[FactorSpec], rng: random.Random) -> dict[str, str]:
    levels: dict[str, str] = {}
    for factor in factors:
        weights = list(factor.shares) if factor.shares else [1.0] * len(factor.levels)
        levels[factor.code] = rng.choices(factor.levels, weights=weights, k=1)[0]
    return levels


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def simulate(
    *,
    method: str,
    arms: Sequence[ArmSpec],
    factors: Sequence[FactorSpec],
    participants: int,
    simulations: int,
    block_sizes: Sequence[int] = (),
    minimization_probability: float = 0.8,
    seed: int | None = None,
) -> SimulationReport:
    if method not in METHODS:
        raise ValueError(f"Unknown randomization method {method!r}; choose one of {', '.join(METHODS)}.")
    if participants < 1:
        raise ValueError("participants must be at least 1.")
    if simulations < 1:
        raise ValueError("simulations must be at least 1.")
    sizes = validate_block_sizes(arms, block_sizes) if method == METHOD_BLOCK else []
    _check_shares(factors)
    rng = random.Random(seed)
    factor_codes = [f.code for f in factors]
    finals: list[float] = []
    maxima: list[float] = []
    stratum_finals: list[float] = []
    correct_total = 0.0
    trial_rates: list[float] = []

    for _ in range(simulations):
        correct_before = correct_total
        counts = {a.code: 0 for a in arms}
        strata_counts: dict[str, dict[str, int]] = {}
        block_states: dict[str, BlockState] = {}
        marginals: dict[str, dict[str, int]] = {}
        worst = 0.0
        for _ in range(participants):
            levels = _draw_levels(factors, rng)
            key = stratum_key(levels, factor_codes)
            in_stratum = strata_counts.setdefault(key, {a.code: 0 for a in arms})
            if method == METHOD_BLOCK:
                guesses = convergence_guess(arms, in_stratum)
                draw, block_states[key] = block_draw(arms, block_states.get(key, BlockState()), sizes, rng)
            elif method == METHOD_MINIMIZATION:
                scores = minimization_scores(arms, factors, levels, marginals)
                best = min(scores.values())
                guesses = [code for code, g in scores.items() if g == best]
                draw = minimization_draw(arms, factors, levels, marginals, minimization_probability, rng)
                add_to_marginals(marginals, factors, levels, draw.arm)
            else:
                guesses = convergence_guess(arms, counts)
                draw = simple_draw(arms, rng)
            if draw.arm in guesses:
                correct_total += 1 / len(guesses)
            counts[draw.arm] += 1
            in_stratum[draw.arm] += 1
            worst = max(worst, imbalance(arms, counts))
        trial_rates.append((correct_total - correct_before) / participants)
        finals.append(imbalance(arms, counts))
        maxima.append(worst)
        stratum_finals.append(sum(imbalance(arms, c) for c in strata_counts.values()))

    total_ratio = ratio_total(arms)
    chance = max(a.ratio for a in arms) / total_ratio
    rate = correct_total / (participants * simulations)
    return SimulationReport(
        method=method,
        participants=participants,
        simulations=simulations,
        seed=seed,
        block_sizes=sizes,
        minimization_probability=minimization_probability if method == METHOD_MINIMIZATION else None,
        final_imbalance_mean=statistics.fmean(finals),
        final_imbalance_p95=_percentile(finals, 0.95),
        final_imbalance_max=max(finals),
        max_imbalance_mean=statistics.fmean(maxima),
        max_imbalance_max=max(maxima),
        stratum_imbalance_mean=statistics.fmean(stratum_finals),
        correct_guess_rate=rate,
        chance_rate=chance,
        excess_correct_guesses=(rate - chance) * participants,
        correct_guess_rate_se=statistics.stdev(trial_rates) / math.sqrt(simulations) if simulations > 1 else 0.0,
    )


__all__ = ["METHOD_BLOCK", "METHOD_MINIMIZATION", "METHOD_SIMPLE", "SimulationReport", "simulate"]
