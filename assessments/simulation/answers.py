"""Item answers whose score is close to a target score, for any instrument definition.

The answers start from each item's option nearest the target's position in the scale's range, with some
noise (people do not answer every item alike), then the engine's own scoring steers single items up or
down until the total is as close to the target as one step can bring it. PHQ-9 item 9 is not touched:
the simulation decides it apart (a safety signal is not a by-product of a total).
"""

from __future__ import annotations

import numpy as np

from assessments.instruments import get_instrument
from assessments.scoring import score_instrument


def answers_for(
    code: str,
    target: float,
    rng: np.random.Generator,
    *,
    fixed: dict[str, int | float] | None = None,
    noise: float = 0.15,
    max_steps: int = 200,
) -> dict[str, int | float]:
    instrument = get_instrument(code)
    fixed = dict(fixed or {})
    items = [item for item in instrument.items if item.scored]
    free = [item for item in items if item.key not in fixed]
    low, high = float(instrument.total.minimum), float(instrument.total.maximum)
    position = 0.0 if high == low else min(1.0, max(0.0, (target - low) / (high - low)))
    answers: dict[str, int | float] = dict(fixed)
    for item in free:
        values = item.values
        spot = position + rng.normal(0.0, noise)
        answers[item.key] = values[round(min(1.0, max(0.0, spot)) * (len(values) - 1))]
    for item in instrument.items:
        if not item.scored and item.key not in answers:
            answers[item.key] = item.values[0]

    def total(candidate: dict[str, int | float]) -> float:
        result = score_instrument(code, candidate)
        return float(result.total) if result.total is not None else low

    current = total(answers)
    for _ in range(max_steps):
        # The single one-option step that brings the score closest to the target; stop when none helps.
        best: tuple[float, float, dict[str, int | float]] | None = None
        for index in rng.permutation(len(free)):
            item = free[int(index)]
            values = item.values
            at = values.index(answers[item.key])
            for step in (-1, 1):
                if 0 <= at + step < len(values):
                    candidate = {**answers, item.key: values[at + step]}
                    new = total(candidate)
                    if abs(target - new) < abs(target - current) and (best is None or abs(target - new) < best[0]):
                        best = (abs(target - new), new, candidate)
        if best is None:
            break
        _, current, answers = best
    return answers
