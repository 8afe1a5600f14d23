"""How the simulated trial's own-scale parameters were calibrated (docs/simulation.md, "Cohen's d").

    .venv/bin/python bench/simulation_calibrate.py [--n 400000] [--seed 5]

Pure numpy, no database: the own scale of each condition drawn as ``OutcomeModel.draw`` draws it (the
correlations across visits, follow-up SD 1.1 times baseline, clipping to the scale) and screened as
``OutcomeModel.screening_answers`` screens it (the template's cut-offs: PHQ-9 >= 10, GAD-Q-IV >= 5.7, SWED
high risk). For each condition it finds

1. the latent baseline SD that gives the people enrolled the baseline SD the published d implies
   (difference of the published changes / published d: the same SD at both visits, see TARGET_SD), and
2. the latent changes that give the people enrolled the published mean changes per arm (regression to the
   mean after screening on a high score and clipping at the scale's floor move them off the latent ones),

and prints them for ``BASELINE`` and ``LATENT_CHANGE`` in assessments/simulation/outcomes.py. GAD-Q-IV
cannot reach its target (see GAD_LIMIT): it is set as wide as a share at the scale's maximum of 10% allows.
``--check`` prints what those enrolled show in expectation with the model's values (``--before``: with the
values before this calibration), d being the difference of their mean changes / their baseline SD.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assessments.simulation.outcomes import (  # noqa: E402
    BASELINE,
    CHATBOT,
    CONDITIONS,
    LATENT_CHANGE,
    OWN_SCALE,
    PUBLISHED_CHANGE,
    PUBLISHED_D,
    RANGE,
    SCREENING_NOISE,
    TARGET_SD,
    WAITLIST,
    OutcomeModel,
)

#: GAD-Q-IV: at most this share of those enrolled at the scale's maximum (13) at baseline.
GAD_LIMIT = 0.10


def enrolled(condition: str, mean: float, sd: float, changes: dict[str, tuple[float, float]], n: int, seed: int):
    model = OutcomeModel()
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3)) @ np.linalg.cholesky(model.visit_cov()).T
    noise, coin = rng.standard_normal(n), rng.random(n)
    low, high = RANGE[OWN_SCALE[condition]]
    base = np.clip(mean + z[:, 0] * sd, low, high)
    if condition == "MDD":
        ok = np.clip(np.round(base + SCREENING_NOISE["MDD"] * noise), 0, 27) >= 10
    elif condition == "GAD":
        ok = np.round(np.clip(base + SCREENING_NOISE["GAD"] * noise, 0, 13), 2) >= 5.7
    else:
        ok = (base > 45) | (coin < 0.3)
    result = {"sd": float(base[ok].std()), "mean": float(base[ok].mean()), "at_max": float((base[ok] >= high).mean())}
    for arm in (CHATBOT, WAITLIST):
        observed = []
        for week in (1, 2):
            follow = np.clip(mean + changes[arm][week - 1] + z[:, week] * sd * model.follow_up_sd_ratio, low, high)
            observed.append(float((follow - base)[ok].mean()))
        result[arm] = tuple(observed)
    return result


def calibrate(condition: str, n: int, seed: int) -> None:
    mean = BASELINE[condition][OWN_SCALE[condition]][0]
    published = PUBLISHED_CHANGE[condition]
    low, high = 0.5, 4.0 * TARGET_SD[condition]
    for _ in range(40):  # bisection on the latent SD: the enrolled SD grows with it
        sd = (low + high) / 2
        result = enrolled(condition, mean, sd, published, n, seed)
        too_wide = result["sd"] > TARGET_SD[condition] or (condition == "GAD" and result["at_max"] > GAD_LIMIT)
        low, high = (low, sd) if too_wide else (sd, high)
    sd = round(low, 2)  # the widest that does not overshoot, as written in BASELINE
    changes = {arm: list(published[arm]) for arm in (CHATBOT, WAITLIST)}
    for _ in range(30):  # fixed point: shift the latent change by what the enrolled miss
        result = enrolled(condition, mean, sd, {a: tuple(c) for a, c in changes.items()}, n, seed)
        for arm in (CHATBOT, WAITLIST):
            changes[arm] = [c + p - o for c, p, o in zip(changes[arm], published[arm], result[arm], strict=True)]
    print(
        f"{condition}: latent baseline {mean} +/- {sd:.2f} -> enrolled {result['mean']:.2f} +/- {result['sd']:.3f} "
        f"(target SD {TARGET_SD[condition]:.3f}; {result['at_max']:.1%} at the maximum)"
    )
    for arm in (CHATBOT, WAITLIST):
        print(
            f"  {arm}: latent change ({changes[arm][0]:.2f}, {changes[arm][1]:.2f}) -> enrolled "
            f"({result[arm][0]:.2f}, {result[arm][1]:.2f}), published {published[arm]}"
        )


#: The model before this calibration: latent SDs of the people screened, and the published changes applied to
#: the latent scores.
BEFORE_SD = {"MDD": 4.0, "GAD": 2.7, "CHR-FED": 12.0}


def check(condition: str, n: int, seed: int, before: bool) -> None:
    """What those enrolled show, in expectation: baseline SD, mean changes, d = difference / baseline SD."""
    mean, sd = BASELINE[condition][OWN_SCALE[condition]]
    changes = PUBLISHED_CHANGE[condition] if before else LATENT_CHANGE[condition]
    result = enrolled(condition, mean, BEFORE_SD[condition] if before else sd, changes, n, seed)
    for index, week in enumerate((4, 8)):
        chatbot, waitlist = result[CHATBOT][index], result[WAITLIST][index]
        print(
            f"| {condition} | {week} | {result['sd']:.2f} | {chatbot:.2f} / {waitlist:.2f} "
            f"| {abs(chatbot - waitlist) / result['sd']:.2f} | {PUBLISHED_D[condition][index]:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="Print what those enrolled show with the model's values.")
    parser.add_argument("--before", action="store_true", help="With --check: the model before this calibration.")
    args = parser.parse_args()
    if args.check:
        print("| condition | week | enrolled baseline SD | change chatbot / waitlist | d | published d |")
        print("|---|---|---|---|---|---|")
    for condition in CONDITIONS:
        if args.check:
            check(condition, args.n, args.seed, args.before)
        else:
            calibrate(condition, args.n, args.seed)


if __name__ == "__main__":
    main()
