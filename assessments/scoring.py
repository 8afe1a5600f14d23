"""Scoring: one generic engine driven by the instrument definitions (``assessments.instruments``).

``score_instrument(code, answers)`` is the public contract (DESIGN.md): answers map item keys
(``phq9_1`` ...) to the numeric value of the chosen option; ``None`` or an absent key is a missing
answer. Bad answers raise ``ValueError`` naming the item. The result carries the total, the subscales,
the band and the flags; the flags in :data:`SAFETY_FLAGS` are what the safety system acts on.

Every write path calls this one function, so the same answers always give the same score and flags.
No instrument has its own Python function: a definition says which items make a scale, how their
points combine (sum or mean), how missing items are handled, where the bands start and which raw
answers raise a flag. Flags look only at raw answers, never at imputed values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from assessments.instruments import (
    Instrument,
    Option,
    Registry,
    Scale,
    default_registry,
    number,
)

# The flags the safety system consumes (alerts, escalation). PHQ-9 item 9 >= 1 raises
# "suicidal_ideation" whatever the total; item 9 == 3 adds "suicidal_ideation_severe" (faster
# escalation); an unanswered item 9 raises "safety_item_missing" and is never imputed.
SAFETY_FLAGS: frozenset[str] = frozenset({"suicidal_ideation", "suicidal_ideation_severe", "safety_item_missing"})


@dataclass(frozen=True)
class ScoreResult:
    """The score of one completed questionnaire.

    ``total`` and the ``subscales`` are ``None`` when the missing-item rule does not allow a score.
    ``band`` is the total's band in the band set used (``band_set``); ``bands`` gives the band under
    every band set of the instrument (e.g. both GAD-Q-IV cut-offs). ``prorated`` says the total was
    estimated from the answered items. ``answered`` and ``missing`` count the scored items only.
    ``flag_items`` holds the raw answers of the items that flags watch (e.g. ``{"phq9_9": 3}``), so a
    clinician sees the value that raised a flag; a missing item is ``None``, never an imputed value.
    """

    code: str
    total: float | None
    subscales: dict[str, float | None]
    band: str | None
    flags: frozenset[str]
    prorated: bool = False
    answered: int = 0
    missing: tuple[str, ...] = ()
    band_set: str | None = None
    bands: dict[str, str | None] = field(default_factory=dict)
    flag_items: dict[str, int | float | None] = field(default_factory=dict)

    @property
    def safety_flags(self) -> frozenset[str]:
        return self.flags & SAFETY_FLAGS

    @property
    def item9_value(self) -> int | float | None:
        """PHQ-9 item 9 as answered (``None`` when missing or for other instruments)."""
        return self.flag_items.get(f"{self.code}_9") if self.code == "phq9" else None


def score_instrument(
    code: str,
    answers: Mapping[str, int | float | None],
    *,
    band_set: str | None = None,
    registry: Registry | None = None,
) -> ScoreResult:
    """Score answers to the instrument ``code`` (see the module docstring). ``band_set`` picks another
    of the instrument's band sets than its default; ``registry`` defaults to the process's registry."""
    instrument = (registry or default_registry()).get(code)
    return score(instrument, answers, band_set=band_set)


def score(
    instrument: Instrument, answers: Mapping[str, int | float | None], *, band_set: str | None = None
) -> ScoreResult:
    chosen = _validate(instrument, answers)
    points = {key: (option.points if option is not None else None) for key, option in chosen.items()}

    total, prorated = _scale_value(instrument.total, points)
    subscales = {scale.name: _scale_value(scale, points)[0] for scale in instrument.subscales}

    set_name = band_set if band_set is not None else instrument.default_band_set
    if set_name is not None and set_name not in instrument.band_sets:
        available = ", ".join(instrument.band_sets) or "none"
        raise ValueError(f"{instrument.code}: unknown band set {set_name!r} (available: {available})")
    bands = {name: (bs.classify(total) if total is not None else None) for name, bs in instrument.band_sets.items()}

    flags: set[str] = set()
    flag_items: dict[str, int | float | None] = {}
    for rule in instrument.flags:
        option = chosen[rule.item]
        flag_items[rule.item] = option.value if option is not None else None
        if option is None:
            if rule.when_missing:
                flags.add(rule.name)
        elif rule.minimum is not None and Fraction(option.value) >= rule.minimum:
            flags.add(rule.name)

    scored = [item.key for item in instrument.scored_items]
    missing = tuple(key for key in scored if chosen[key] is None)
    return ScoreResult(
        code=instrument.code,
        total=_as_float(total),
        subscales={name: _as_float(value) for name, value in subscales.items()},
        band=bands[set_name] if set_name is not None else None,
        flags=frozenset(flags),
        prorated=prorated,
        answered=len(scored) - len(missing),
        missing=missing,
        band_set=set_name,
        bands=bands,
        flag_items=flag_items,
    )


def _validate(instrument: Instrument, answers: Mapping[str, int | float | None]) -> dict[str, Option | None]:
    """The chosen option of every item (``None`` = missing). Raises ``ValueError`` naming the item."""
    if not isinstance(answers, Mapping):
        raise ValueError(f"{instrument.code}: answers must map item keys to values, got {type(answers).__name__}")
    chosen: dict[str, Option | None] = dict.fromkeys(instrument.item_keys)
    for key, value in answers.items():
        if not isinstance(key, str) or not instrument.has_item(key):
            raise ValueError(f"{key}: not an item of {instrument.code} (items: {', '.join(instrument.item_keys)})")
        if value is None:
            continue
        item = instrument.item(key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
            raise ValueError(f"{key}: must be a number, got {value!r}")
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise ValueError(f"{key}: must be a finite number, got {value!r}")
        option = item.option_for(value)
        if option is None:
            allowed = ", ".join(str(v) for v in item.values)
            raise ValueError(f"{key}: {value!r} is not one of the item's values ({allowed})")
        chosen[key] = option
    return chosen


def _scale_value(scale: Scale, points: Mapping[str, Fraction | None]) -> tuple[Fraction | None, bool]:
    """The scale's value, exact and rounded to the scale's precision, and whether it was prorated."""
    rule = scale.missing
    if any(points[key] is None for key in rule.required):
        return None, False
    answered = [p for key in scale.items if (p := points[key]) is not None]
    n_items, n_missing = len(scale.items), len(scale.items) - len(answered)
    prorated = False
    raw = sum(answered, Fraction(0))
    if n_missing:
        if n_missing > rule.max_missing or rule.method == "none":
            return None, False
        if rule.method == "prorate":
            raw = raw * n_items / len(answered)
            if rule.round_to_integer:
                raw = Fraction(_round_half_up(raw, 0))
            prorated = True
        # "zero": the missing items add nothing.
    value = raw / n_items if scale.method == "mean" else raw
    if scale.precision is not None:
        value = _round_half_up(value, scale.precision)
    return value, prorated


def _round_half_up(value: Fraction, places: int) -> Fraction:
    """Round to ``places`` decimals, halves up (4.5 -> 5, 7.665 -> 7.67): the convention of published
    scoring instructions, not Python's round-half-to-even."""
    scale = 10**places
    return Fraction(math.floor(value * scale + Fraction(1, 2)), scale)


def _as_float(value: Fraction | None) -> float | None:
    return None if value is None else float(number(value))
