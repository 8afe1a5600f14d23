"""Number and text formatting for the report: one place decides how an estimate, a p-value, a CI or a missing
value is written, and every string from the data goes through :func:`esc`."""

from __future__ import annotations

import html
import math
from typing import Any

DASH = "\u2014"  # written for a missing number

INSTRUMENTS = {
    "phq9": "PHQ-9",
    "phq8": "PHQ-8",
    "gad7": "GAD-7",
    "gadq4": "GAD-Q-IV",
    "wcs": "WCS",
    "edeqs": "EDE-QS",
    "scoff": "SCOFF",
    "waisr": "WAI-SR",
}

#: Symptom scales: a lower score is better (REFERENCE.md "Instruments"). Alliance (waisr) is not one.
LOWER_IS_BETTER = frozenset({"phq9", "phq8", "gad7", "gadq4", "wcs", "edeqs", "scoff"})


def esc(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any) -> float | None:
    """A finite float, or None (for None, NaN, infinities, booleans and non-numbers)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def fixed(value: Any, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; a dash when missing; no negative zero."""
    x = number(value)
    if x is None:
        return DASH
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def est(value: Any) -> str:
    return fixed(value, 2)


def count(value: Any) -> str:
    x = number(value)
    return DASH if x is None else str(round(x))


def pct(value: Any) -> str:
    x = number(value)
    return DASH if x is None else f"{fixed(x, 1)}%"


def pval(value: Any) -> str:
    """``<0.001`` or three decimals."""
    x = number(value)
    if x is None:
        return DASH
    return "<0.001" if x < 0.0005 else f"{x:.3f}"


def ci(low: Any, high: Any, digits: int = 2) -> str:
    """``[low, high]``, or a dash when either end is missing."""
    if number(low) is None or number(high) is None:
        return DASH
    return f"[{fixed(low, digits)}, {fixed(high, digits)}]"


def dof(value: Any) -> str:
    """Degrees of freedom: whole numbers as integers, Satterthwaite's to one decimal."""
    x = number(value)
    if x is None:
        return DASH
    return str(round(x)) if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


def week_label(week: Any) -> str:
    x = number(week)
    if x is None:
        return f"Week {esc(week)}"
    text = str(int(x)) if x.is_integer() else f"{x:g}"
    return "Baseline (week 0)" if x == 0 else f"Week {text}"


def instrument_label(code: Any) -> str:
    """``phq9`` -> ``PHQ-9``; unknown codes as given."""
    return INSTRUMENTS.get(str(code), str(code)) if code is not None else ""


def scale_label(instrument: Any, scale: Any) -> str:
    name = instrument_label(instrument)
    return f"{name} {scale}".strip() if scale else name


def words(name: Any) -> str:
    """``active_days`` -> ``active days``."""
    return str(name).replace("_", " ")
