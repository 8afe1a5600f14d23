"""Judge a randomization procedure before a trial opens: simulate it and report imbalance and predictability.

    python manage.py randomization_report --method stratified_block --simulate 2000 --seed 1
    python manage.py randomization_report --trial therabot --compare --simulate 1000

The design (arms, ratios, stratification factors, block sizes, minimization probability, method) comes
from a trial in the database (``--trial``) or a template file (``--template``, default ``therabot``); the
other options override parts of it. The simulation itself is trial.simulation.simulate; this command only
builds its inputs and formats its output. Nothing is written to the database, and the generator is a
seeded ``random.Random``, never the one live allocations draw from.
"""

from __future__ import annotations

import json
import math
import secrets
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial.errors import DomainError
from trial.models import Trial
from trial.randomization import (
    METHOD_BLOCK,
    METHOD_MINIMIZATION,
    METHODS,
    ArmSpec,
    FactorSpec,
    ratio_total,
    validate_block_sizes,
)
from trial.simulation import SimulationReport, simulate
from trial.templates import read_template

DEFAULT_TEMPLATE = "therabot"


@dataclass(frozen=True)
class Design:
    source: str
    method: str
    arms: tuple[ArmSpec, ...]
    factors: tuple[FactorSpec, ...]
    block_sizes: tuple[int, ...]
    probability: float


# --- Parsing ---------------------------------------------------------------------------------------------


def _whole_number(value: object, option: str, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise CommandError(f"{option}: {value!r} is not a whole number.")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise CommandError(f"{option}: {value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise CommandError(f"{option}: must be at least {minimum}, got {number}.")
    return number


def _number(value: object, option: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise CommandError(f"{option}: {value!r} is not a finite number.")
    return number


def _items(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise CommandError(f"{option}: {text!r} has an empty item; separate items with single commas.")
    return items


def parse_block_sizes(value: str | Iterable[object]) -> tuple[int, ...]:
    """``2,4,6`` (or a list of integers) -> (2, 4, 6)."""
    raw = _items(value, "--block-sizes") if isinstance(value, str) else list(value)
    return tuple(_whole_number(size, "--block-sizes") for size in raw)


def apply_ratio(arms: Sequence[ArmSpec], text: str) -> tuple[ArmSpec, ...]:
    """``chatbot=2,waitlist=1``: new ratios by arm code; arms not named keep theirs."""
    by_code = {arm.code: arm for arm in arms}
    ratios: dict[str, int] = {}
    for item in _items(text, "--ratio"):
        code, sep, number = item.partition("=")
        code = code.strip()
        if not sep or not code:
            raise CommandError(f"--ratio: {item!r} is not ARM=RATIO (e.g. chatbot=2).")
        if code not in by_code:
            raise CommandError(f"--ratio: unknown arm {code!r}; the arms are {', '.join(by_code)}.")
        if code in ratios:
            raise CommandError(f"--ratio: arm {code!r} is given twice.")
        ratios[code] = _whole_number(number, f"--ratio {code}", minimum=1)
    return tuple(replace(arm, ratio=ratios.get(arm.code, arm.ratio)) for arm in arms)


def apply_level_shares(factors: Sequence[FactorSpec], values: str | Iterable[str]) -> tuple[FactorSpec, ...]:
    """``condition=MDD:0.4,GAD:0.3,CHR-FED:0.3``; several factors separated by ``;`` or by repeating the
    option. Every level of a named factor needs a share; shares are normalized to sum to 1."""
    texts = [values] if isinstance(values, str) else list(values)
    by_code = {factor.code: factor for factor in factors}
    shares_by_factor: dict[str, tuple[float, ...]] = {}
    for text in texts:
        for part in str(text).split(";"):
            if not part.strip():
                continue
            code, sep, rest = part.partition("=")
            code = code.strip()
            if not sep or not code:
                raise CommandError(f"--level-shares: {part!r} is not FACTOR=LEVEL:SHARE,LEVEL:SHARE,...")
            factor = by_code.get(code)
            if factor is None:
                known = ", ".join(by_code) or "none"
                raise CommandError(f"--level-shares: unknown factor {code!r}; the factors are {known}.")
            if code in shares_by_factor:
                raise CommandError(f"--level-shares: factor {code!r} is given twice.")
            given: dict[str, float] = {}
            for item in _items(rest, f"--level-shares {code}"):
                level, sep, share = item.rpartition(":")
                level = level.strip()
                if not sep or not level:
                    raise CommandError(f"--level-shares {code}: {item!r} is not LEVEL:SHARE (e.g. MDD:0.4).")
                if level not in factor.levels:
                    raise CommandError(
                        f"--level-shares {code}: unknown level {level!r}; the levels are {', '.join(factor.levels)}."
                    )
                if level in given:
                    raise CommandError(f"--level-shares {code}: level {level!r} is given twice.")
                number = _number(share, f"--level-shares {code} {level}")
                if number < 0:
                    raise CommandError(f"--level-shares {code} {level}: a share cannot be negative ({number}).")
                given[level] = number
            missing = [level for level in factor.levels if level not in given]
            if missing:
                raise CommandError(
                    f"--level-shares {code}: give a share for every level; missing {', '.join(missing)}."
                )
            total = sum(given.values())
            if total <= 0:
                raise CommandError(f"--level-shares {code}: the shares must not all be zero.")
            shares_by_factor[code] = tuple(given[level] / total for level in factor.levels)
    return tuple(
        replace(factor, shares=shares_by_factor[factor.code]) if factor.code in shares_by_factor else factor
        for factor in factors
    )


# --- Where the design comes from -------------------------------------------------------------------------


def design_from_template(name_or_path: str) -> Design:
    try:
        data = read_template(name_or_path)
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    where = f"template {name_or_path}"
    try:
        arms = tuple(ArmSpec(code=str(arm["code"]), ratio=int(arm.get("ratio", 1))) for arm in data.get("arms", []))
        factors = tuple(
            FactorSpec(
                code=str(factor["code"]),
                levels=tuple(str(level["code"] if isinstance(level, dict) else level) for level in factor["levels"]),
                weight=float(factor.get("weight", 1.0)),
            )
            for factor in data.get("factors", [])
        )
        block_sizes = tuple(data.get("block_sizes") or ())
        probability = float(data.get("minimization_probability", 0.8))
        method = str(data.get("randomization_method", METHOD_BLOCK))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CommandError(
            f"{where}: cannot read the randomization design ({type(exc).__name__}: {exc}); arms need a code and "
            "an integer ratio, factors a code and a list of levels."
        ) from None
    return Design(
        source=where,
        method=method,
        arms=arms,
        factors=factors,
        block_sizes=block_sizes,
        probability=probability,
    )


def design_from_trial(slug: str) -> Design:
    trial = Trial.objects.filter(slug=slug).first()
    if trial is None:
        raise CommandError(f"No trial with slug {slug!r}.")
    return Design(
        source=f"trial {trial.slug} ({trial.status})",
        method=trial.randomization_method,
        arms=tuple(trial.arm_specs()),
        factors=tuple(trial.factor_specs()),
        block_sizes=tuple(trial.block_sizes or ()),
        probability=trial.minimization_probability,
    )


# --- Output ------------------------------------------------------------------------------------------------


def _dash(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _imb(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


ROWS: tuple[tuple[str, Any], ...] = (
    ("Block sizes (one drawn per block)", lambda r: ", ".join(map(str, r.block_sizes)) or "-"),
    ("Probability of the preferred arm", lambda r: _dash(r.minimization_probability, ".2f")),
    ("Final imbalance: mean", lambda r: f"{r.final_imbalance_mean:.2f}"),
    ("Final imbalance: 95th percentile", lambda r: _imb(r.final_imbalance_p95)),
    ("Final imbalance: worst", lambda r: _imb(r.final_imbalance_max)),
    ("Largest imbalance while enrolling: mean", lambda r: f"{r.max_imbalance_mean:.2f}"),
    ("Largest imbalance while enrolling: worst", lambda r: _imb(r.max_imbalance_max)),
    ("Within-stratum imbalance, summed: mean", lambda r: f"{r.stratum_imbalance_mean:.2f}"),
    ("Correct guesses (rate +/- MC s.e.)", lambda r: f"{r.correct_guess_rate:.4f} +/- {r.correct_guess_rate_se:.4f}"),
    ("Chance rate", lambda r: f"{r.chance_rate:.4f}"),
    ("Excess correct guesses per trial", lambda r: f"{r.excess_correct_guesses:.1f}"),
)


def _describe_factor(factor: FactorSpec) -> str:
    shares = factor.shares or tuple(1 / len(factor.levels) for _ in factor.levels)
    levels = ", ".join(f"{level} {share:.0%}" for level, share in zip(factor.levels, shares, strict=True))
    return f"{factor.code} ({levels}{'' if factor.shares else '; uniform'})"


def format_report(design: Design, reports: Sequence[SimulationReport], seed_note: str) -> str:
    first = reports[0]
    total = ratio_total(design.arms)
    arms = ", ".join(f"{arm.code} {arm.ratio}" for arm in design.arms)
    strata = math.prod(len(f.levels) for f in design.factors)
    factors = "; ".join(_describe_factor(f) for f in design.factors) or "none (a single stratum)"
    lines = [
        f"Randomization report: {design.source}",
        f"  Arms and ratios:  {arms} (ratio total R = {total})",
        f"  Stratified by:    {factors}; {strata} strata",
        f"  Design's method:  {design.method}",
        f"  Simulated:        {first.simulations} trials of {first.participants} participants each; {seed_note}",
        "",
    ]
    label_width = max(len(label) for label, _ in ROWS) + 2
    cells = [[fmt(r) for r in reports] for _, fmt in ROWS]
    widths = [max(len(r.method), *(len(row[i]) for row in cells)) + 2 for i, r in enumerate(reports)]
    lines.append(" " * label_width + "".join(r.method.rjust(w) for r, w in zip(reports, widths, strict=True)))
    for (label, _), row in zip(ROWS, cells, strict=True):
        lines.append(label.ljust(label_width) + "".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    at_one_to_one = (
        f" For two arms at 1:1 it is |n_{design.arms[0].code} - n_{design.arms[1].code}|."
        if len(design.arms) == 2 and design.arms[0].ratio == design.arms[1].ratio
        else ""
    )
    notes = [
        f"Imbalance: sum over arms of |n_k - N r_k / R|, the distance of the arm sizes n_k from the target ratio "
        f"(N participants, r_k the arm's ratio).{at_one_to_one}",
        f"Final: after all {first.participants} participants; mean, 95th percentile and worst over the simulated "
        "trials.",
        "Largest while enrolling: the largest imbalance at any point during enrollment (what an interim look or "
        "an early stop would see).",
        "Within-stratum: the imbalance within each stratum, summed over the strata; stratified blocks and "
        "minimization aim to keep it small, simple randomization does not try.",
        "Correct guesses: the expected proportion of allocations guessed right by someone who knows every "
        "earlier allocation and guesses by the Blackwell-Hodges convergence strategy: the arm furthest below its "
        "target (within the participant's stratum for blocks, in the whole trial for simple randomization) or, "
        "under minimization, the arm the algorithm prefers; a tie among k arms counts 1/k. MC s.e. is the Monte "
        "Carlo standard error of that rate.",
        "Chance rate: what always guessing the largest arm achieves; an unpredictable procedure scores this.",
        f"Excess correct guesses: (rate - chance) x {first.participants}, the allocations per trial an observer "
        "could foresee beyond chance: the room for selection bias if allocations were not concealed.",
    ]
    if len({arm.ratio for arm in design.arms}) > 1:
        notes.append(
            "Unequal ratios: the convergence strategy is not the best guess under every procedure (under simple "
            "randomization it does worse than always guessing the largest arm, so the excess can be negative); "
            "compare the correct-guess rates across procedures."
        )
    lines += ["", "How to read it"]
    lines += [textwrap.fill(note, width=108, initial_indent="  ", subsequent_indent="    ") for note in notes]
    return "\n".join(lines)


def as_json(design: Design, reports: Sequence[SimulationReport]) -> str:
    payload = {
        "design": {
            "source": design.source,
            "method": design.method,
            "arms": [{"code": a.code, "ratio": a.ratio} for a in design.arms],
            "factors": [
                {"code": f.code, "levels": list(f.levels), "weight": f.weight, "shares": list(f.shares) or None}
                for f in design.factors
            ],
        },
        "reports": [r.as_dict() for r in reports],
    }
    return json.dumps(payload, indent=2)


# --- The command ------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Simulate a randomization procedure (or all three with --compare) on a trial's design and report "
        "imbalance and predictability (Blackwell-Hodges). Writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--method", help=f"One of {', '.join(METHODS)} (default: the trial's or template's).")
        parser.add_argument("--simulate", default=1000, help="Number of simulated trials (default 1000).")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--trial", help="Take the design from this trial (slug) in the database.")
        source.add_argument(
            "--template", help=f"Take the design from a template name or JSON path (default {DEFAULT_TEMPLATE})."
        )
        parser.add_argument("--participants", default=210, help="Participants per simulated trial (default 210).")
        parser.add_argument("--block-sizes", help="Override the block sizes, e.g. 2,4,6.")
        parser.add_argument("--ratio", help="Override allocation ratios by arm code, e.g. chatbot=2,waitlist=1.")
        parser.add_argument("--probability", help="Override the minimization probability (0.5 to 1).")
        parser.add_argument(
            "--level-shares",
            action="append",
            help="Share of each level, e.g. condition=MDD:0.4,GAD:0.3,CHR-FED:0.3 (default uniform). "
            "Repeat the option, or separate factors with ';', for several factors.",
        )
        parser.add_argument("--seed", help="Seed of the simulation's generator (default: chosen and printed).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--compare", action="store_true", help="Run all three methods side by side.")

    def handle(self, *args: Any, **options: Any) -> None:
        design = self._design(options)
        methods = _methods_to_run(options, design)
        simulations = _whole_number(options["simulate"], "--simulate", minimum=1)
        participants = _whole_number(options["participants"], "--participants", minimum=1)
        if options.get("seed") is None:
            seed = secrets.randbelow(2**31)
            seed_note = f"seed {seed} (chosen at random; pass --seed {seed} to reproduce)"
        else:
            seed = _whole_number(options["seed"], "--seed")
            seed_note = f"seed {seed}"
        if METHOD_BLOCK in methods:
            if not design.block_sizes:
                raise CommandError(f"The {design.source} has no block sizes; give --block-sizes (e.g. 2,4,6).")
            if options.get("block_sizes") is None:
                _check_block_sizes(design, f"block sizes of the {design.source}")
        if METHOD_MINIMIZATION in methods:
            _check_probability(design.probability, "minimization probability")
        reports: list[SimulationReport] = []
        for method in methods:
            try:
                reports.append(
                    simulate(
                        method=method,
                        arms=design.arms,
                        factors=design.factors,
                        participants=participants,
                        simulations=simulations,
                        block_sizes=design.block_sizes,
                        minimization_probability=design.probability,
                        seed=seed,
                    )
                )
            except ValueError as exc:
                raise CommandError(f"{method} on the {design.source}: {exc}") from exc
        self.stdout.write(as_json(design, reports) if options["json"] else format_report(design, reports, seed_note))

    def _design(self, options: dict[str, Any]) -> Design:
        if options.get("trial") and options.get("template"):
            raise CommandError("Give --trial or --template, not both.")
        if options.get("trial"):
            design = design_from_trial(options["trial"])
        else:
            design = design_from_template(options.get("template") or DEFAULT_TEMPLATE)
        if len(design.arms) < 2:
            raise CommandError(f"The {design.source} has {len(design.arms)} arm(s); randomization needs at least two.")
        if options.get("ratio") is not None:
            design = replace(design, arms=apply_ratio(design.arms, options["ratio"]))
        if options.get("level_shares"):
            design = replace(design, factors=apply_level_shares(design.factors, options["level_shares"]))
        if options.get("probability") is not None:
            design = replace(design, probability=_check_probability(_number(options["probability"], "--probability")))
        if options.get("block_sizes") is not None:
            design = replace(design, block_sizes=parse_block_sizes(options["block_sizes"]))
            _check_block_sizes(design, "--block-sizes")
        return design


def _methods_to_run(options: dict[str, Any], design: Design) -> list[str]:
    if options["compare"]:
        return list(METHODS)
    method = options.get("method") or design.method
    if method not in METHODS:
        raise CommandError(f"Unknown randomization method {method!r}; choose one of {', '.join(METHODS)}.")
    return [method]


def _check_block_sizes(design: Design, where: str) -> None:
    try:
        validate_block_sizes(design.arms, design.block_sizes)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{where}: {exc}") from exc


def _check_probability(value: float, option: str = "--probability") -> float:
    if not 0.5 <= value <= 1.0:
        raise CommandError(f"{option}: must be between 0.5 and 1, got {value}.")
    return value
