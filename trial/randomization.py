"""Randomization procedures, pure: no database, no Django.

The live service (participants.services.randomization) keeps each sequence's state in a locked database
row and calls these functions with a CSPRNG (``secrets.SystemRandom``). The simulation at the bottom
runs the same functions with a seeded generator so a statistician can compare procedures before a trial
opens (``manage.py randomization_report``).

Permuted blocks are drawn slot by slot: the next arm is drawn with probability proportional to the slots
it has left in the current block. That gives every ordering of the block the same probability, as a
shuffled block would, but no future allocation exists anywhere before it is made.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class RandomSource(Protocol):
    def randrange(self, stop: int, /) -> int: ...

    def random(self) -> float: ...


def live_rng() -> RandomSource:
    """The generator for real allocations: the operating system's CSPRNG."""
    return secrets.SystemRandom()


METHOD_BLOCK = "stratified_block"
METHOD_MINIMIZATION = "minimization"
METHOD_SIMPLE = "simple"
METHODS = (METHOD_BLOCK, METHOD_MINIMIZATION, METHOD_SIMPLE)


@dataclass(frozen=True)
class ArmSpec:
    code: str
    ratio: int


@dataclass(frozen=True)
class FactorSpec:
    code: str
    levels: tuple[str, ...]
    weight: float = 1.0
    # Expected share of each level among participants; used only by the simulation (uniform if empty).
    shares: tuple[float, ...] = ()


def _check_arms(arms: Sequence[ArmSpec]) -> None:
    if len(arms) < 2:
        raise ValueError("A randomized trial needs at least two arms.")
    codes = [arm.code for arm in arms]
    if len(set(codes)) != len(codes):
        raise ValueError(f"Arm codes must be unique, got {codes}.")
    for arm in arms:
        if arm.ratio < 1:
            raise ValueError(f"Arm {arm.code!r}: allocation ratio must be a positive integer, got {arm.ratio}.")


def ratio_total(arms: Sequence[ArmSpec]) -> int:
    return sum(arm.ratio for arm in arms)


def validate_block_sizes(arms: Sequence[ArmSpec], block_sizes: Sequence[int]) -> list[int]:
    """Block sizes must be positive multiples of the ratio total (2:1 -> 3, 6, 9 ...)."""
    _check_arms(arms)
    total = ratio_total(arms)
    if not block_sizes:
        raise ValueError(f"Give at least one block size (a multiple of {total}, the sum of the ratios).")
    sizes = sorted(set(block_sizes))
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % total:
            raise ValueError(
                f"Block size {size!r} is not a positive multiple of {total}, the sum of the allocation ratios."
            )
    return sizes


def stratum_key(levels: Mapping[str, str], factors: Sequence[str]) -> str:
    """Canonical name of a stratum, e.g. ``condition=MDD``; '' when the trial has no factors."""
    return "|".join(f"{code}={levels[code]}" for code in sorted(factors))


def weighted_choice(options: Sequence[tuple[str, int]], rng: RandomSource) -> str:
    """Draw one option with probability proportional to its (positive integer) weight."""
    total = sum(weight for _, weight in options if weight > 0)
    if total <= 0:
        raise ValueError("Nothing left to draw from.")
    ticket = rng.randrange(total)
    for option, weight in options:
        if weight <= 0:
            continue
        if ticket < weight:
            return option
        ticket -= weight
    raise AssertionError("unreachable")  # pragma: no cover


# --- Permuted blocks -------------------------------------------------------------------------------


@dataclass
class BlockState:
    """Where a stratum's sequence stands. ``block_size == 0`` means no block has started yet."""

    block_index: int = 0
    block_size: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, object]:
        return {"block_index": self.block_index, "block_size": self.block_size, "counts": dict(self.counts)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BlockState:
        counts = data.get("counts") or {}
        assert isinstance(counts, dict)
        return cls(
            block_index=int(data.get("block_index", 0)),  # type: ignore[call-overload]
            block_size=int(data.get("block_size", 0)),  # type: ignore[call-overload]
            counts={str(k): int(v) for k, v in counts.items()},
        )


@dataclass(frozen=True)
class Draw:
    arm: str
    block_index: int | None = None
    block_size: int | None = None


def block_draw(
    arms: Sequence[ArmSpec], state: BlockState, block_sizes: Sequence[int], rng: RandomSource
) -> tuple[Draw, BlockState]:
    """Next allocation in a stratum; returns it with the stratum's new state (the input is not changed)."""
    sizes = validate_block_sizes(arms, block_sizes)
    total = ratio_total(arms)
    if state.block_size == 0 or state.used >= state.block_size:
        size = sizes[rng.randrange(len(sizes))]
        state = BlockState(block_index=state.block_index + 1, block_size=size, counts={a.code: 0 for a in arms})
    per_unit = state.block_size // total
    remaining = [(arm.code, arm.ratio * per_unit - state.counts.get(arm.code, 0)) for arm in arms]
    arm = weighted_choice(remaining, rng)
    counts = dict(state.counts)
    counts[arm] = counts.get(arm, 0) + 1
    new_state = BlockState(block_index=state.block_index, block_size=state.block_size, counts=counts)
    return Draw(arm=arm, block_index=state.block_index, block_size=state.block_size), new_state


# --- Pocock-Simon minimization ----------------------------------------------------------------------


def marginal_key(factor: str, level: str) -> str:
    return f"{factor}={level}"


def minimization_scores(
    arms: Sequence[ArmSpec],
    factors: Sequence[FactorSpec],
    levels: Mapping[str, str],
    marginals: Mapping[str, Mapping[str, int]],
) -> dict[str, float]:
    """Imbalance G_k the trial would have if the new participant went to arm k.

    For each factor, the imbalance at the participant's level is the range of the arms' counts divided
    by their ratios (so 2:1 is balanced at 2:1); G_k is the weighted sum over factors (Pocock & Simon 1975,
    range criterion).
    """
    scores: dict[str, float] = {}
    for candidate in arms:
        g = 0.0
        for factor in factors:
            counts = marginals.get(marginal_key(factor.code, levels[factor.code]), {})
            adjusted = [
                (counts.get(arm.code, 0) + (1 if arm.code == candidate.code else 0)) / arm.ratio for arm in arms
            ]
            g += factor.weight * (max(adjusted) - min(adjusted))
        scores[candidate.code] = g
    return scores


def minimization_draw(
    arms: Sequence[ArmSpec],
    factors: Sequence[FactorSpec],
    levels: Mapping[str, str],
    marginals: Mapping[str, Mapping[str, int]],
    probability: float,
    rng: RandomSource,
) -> Draw:
    """Pocock-Simon with a random element: the least-imbalancing arm with probability ``probability``.

    Ties among the best arms, and the case where every arm ties, are broken by a draw weighted by the
    allocation ratio; the other arms share the remaining probability in proportion to their ratios.
    """
    _check_arms(arms)
    if not 0.5 <= probability <= 1.0:
        raise ValueError(f"Minimization probability must be between 0.5 and 1, got {probability}.")
    scores = minimization_scores(arms, factors, levels, marginals)
    best_score = min(scores.values())
    best = [(a.code, a.ratio) for a in arms if scores[a.code] == best_score]
    rest = [(a.code, a.ratio) for a in arms if scores[a.code] != best_score]
    if not rest or rng.random() < probability:
        return Draw(arm=weighted_choice(best, rng))
    return Draw(arm=weighted_choice(rest, rng))


def add_to_marginals(
    marginals: dict[str, dict[str, int]], factors: Sequence[FactorSpec], levels: Mapping[str, str], arm: str
) -> None:
    for factor in factors:
        bucket = marginals.setdefault(marginal_key(factor.code, levels[factor.code]), {})
        bucket[arm] = bucket.get(arm, 0) + 1


# --- Simple randomization ----------------------------------------------------------------------------


def simple_draw(arms: Sequence[ArmSpec], rng: RandomSource) -> Draw:
    _check_arms(arms)
    return Draw(arm=weighted_choice([(a.code, a.ratio) for a in arms], rng))


# --- Measures ------------------------------------------------------------------------------------------


def imbalance(arms: Sequence[ArmSpec], counts: Mapping[str, int]) -> float:
    """Sum over arms of |n_k - N r_k / R|: how far the counts are from the target ratio.

    For two arms at 1:1 this is |n_A - n_B|.
    """
    n = sum(counts.get(a.code, 0) for a in arms)
    total = ratio_total(arms)
    return sum(abs(counts.get(a.code, 0) - n * a.ratio / total) for a in arms)


def convergence_guess(arms: Sequence[ArmSpec], counts: Mapping[str, int]) -> list[str]:
    """Blackwell-Hodges convergence strategy: guess the arm furthest below its target share."""
    n = sum(counts.get(a.code, 0) for a in arms) + 1
    total = ratio_total(arms)
    deficits = {a.code: n * a.ratio / total - counts.get(a.code, 0) for a in arms}
    top = max(deficits.values())
    return [code for code, d in deficits.items() if abs(d - top) < 1e-9]
