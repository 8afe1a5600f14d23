"""Small SVG primitives for the report's hand-written plots: "nice" axis ticks, linear scales, text wrapping
by estimated width, markers that stay distinguishable in greyscale, and element builders that escape text.

The SVG is inline in the HTML (no ``xmlns``, no external references); coordinates are user units of the
``viewBox``, and the CSS scales the whole drawing to the page width.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from analysis.report.fmt import esc

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
CHAR_WIDTH = 0.58  # average glyph width as a fraction of the font size (a little generous, so text fits)


# ------------------------------------------------------------------------------------------------ axis ticks


def nice_number(x: float, *, round_: bool) -> float:
    """Heckbert's nice number: 1, 2, 5 or 10 times a power of ten, near ``x`` (rounded) or above it."""
    if x <= 0 or not math.isfinite(x):
        raise ValueError(f"nice_number needs a positive finite number (got {x})")
    exponent = math.floor(math.log10(x))
    fraction = x / 10**exponent
    if round_:
        nice = 1.0 if fraction < 1.5 else 2.0 if fraction < 3 else 5.0 if fraction < 7 else 10.0
    else:
        nice = 1.0 if fraction <= 1 else 2.0 if fraction <= 2 else 5.0 if fraction <= 5 else 10.0
    return nice * 10.0**exponent


@dataclass(frozen=True)
class Ticks:
    values: tuple[float, ...]
    step: float

    @property
    def low(self) -> float:
        return self.values[0]

    @property
    def high(self) -> float:
        return self.values[-1]

    @property
    def decimals(self) -> int:
        return max(0, -math.floor(math.log10(self.step) + 1e-9))

    def label(self, value: float) -> str:
        text = f"{value:.{self.decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text


def nice_ticks(low: float, high: float, *, max_ticks: int = 6) -> Ticks:
    """Round tick values covering [low, high]: the first tick is <= low and the last >= high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("nice_ticks needs finite bounds")
    if max_ticks < 2:
        raise ValueError("nice_ticks needs max_ticks >= 2")
    low, high = min(low, high), max(low, high)
    if high - low < 1e-12:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    span = nice_number(high - low, round_=False)
    step = nice_number(span / (max_ticks - 1), round_=True)
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    count = round((stop - start) / step) + 1
    digits = max(0, -math.floor(math.log10(step))) + 2
    return Ticks(tuple(round(start + i * step, digits) + 0.0 for i in range(count)), step)


@dataclass(frozen=True)
class Scale:
    """Linear map from the data interval [d0, d1] to the pixel interval [r0, r1] (r1 < r0 flips the axis)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


# ------------------------------------------------------------------------------------------------------ text


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def wrap(text: str, width: float, size: float) -> list[str]:
    """Lines of ``text`` that fit ``width`` pixels at font ``size`` (long words are broken)."""
    columns = max(4, int(width / (size * CHAR_WIDTH)))
    return textwrap.wrap(str(text), columns) or [""]


# -------------------------------------------------------------------------------------------------- elements


def n(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def attrs(**values: object) -> str:
    """``key="value"`` pairs (``None`` skipped; ``_`` -> ``-`` in names; ``cls`` -> ``class``), escaped."""
    out = []
    for key, value in values.items():
        if value is None:
            continue
        name = "class" if key == "cls" else key.rstrip("_").replace("_", "-")
        shown = n(value) if isinstance(value, float) else str(value)
        out.append(f'{name}="{esc(shown)}"')
    return " ".join(out)


def line(x1: float, y1: float, x2: float, y2: float, **extra: object) -> str:
    return f"<line {attrs(x1=x1, y1=y1, x2=x2, y2=y2, **extra)} />"


def rect(x: float, y: float, w: float, h: float, **extra: object) -> str:
    return f"<rect {attrs(x=x, y=y, width=w, height=h, **extra)} />"


def text(x: float, y: float, content: str, **extra: object) -> str:
    return f"<text {attrs(x=x, y=y, **extra)}>{esc(content)}</text>"


def text_lines(x: float, y: float, lines: Iterable[str], *, size: float, leading: float = 1.3, **extra: object) -> str:
    """One ``<text>`` per line, the first baseline at ``y``."""
    return "".join(text(x, y + i * size * leading, content, font_size=size, **extra) for i, content in enumerate(lines))


def polyline(points: Iterable[tuple[float, float]], **extra: object) -> str:
    joined = " ".join(f"{n(x)},{n(y)}" for x, y in points)
    return f"<polyline {attrs(points=joined, fill='none', **extra)} />"


MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "pentagon")


def _regular(cx: float, cy: float, r: float, angles: Iterable[float]) -> str:
    """Vertices on a circle of radius ``r``; their mean is the centre (symmetric shapes)."""
    return " ".join(f"{n(cx + r * math.cos(math.radians(a)))},{n(cy - r * math.sin(math.radians(a)))}" for a in angles)


def marker(shape: str, cx: float, cy: float, r: float, **extra: object) -> str:
    """A data marker centred on (cx, cy): for every shape the centre is the circle's centre, the square's
    middle or the mean of the polygon's vertices."""
    if shape == "circle":
        return f"<circle {attrs(cx=cx, cy=cy, r=r, **extra)} />"
    if shape == "square":
        side = r * 1.7
        return rect(cx - side / 2, cy - side / 2, side, side, **extra)
    angles = {
        "triangle": (90.0, 210.0, 330.0),
        "triangle-down": (270.0, 30.0, 150.0),
        "diamond": (90.0, 180.0, 270.0, 0.0),
        "pentagon": (90.0, 162.0, 234.0, 306.0, 18.0),
    }[shape]
    radius = r * (1.35 if shape.startswith("triangle") else 1.25)
    points = _regular(cx, cy, radius, angles)
    return f"<polygon {attrs(points=points, **extra)} />"


def arrow_head(x: float, y: float, direction: str, size: float = 6.0, **extra: object) -> str:
    """A filled triangle with its tip at (x, y), pointing ``down`` or ``right``."""
    if direction == "down":
        pts = [(x, y), (x - size / 2, y - size), (x + size / 2, y - size)]
    else:
        pts = [(x, y), (x - size, y - size / 2), (x - size, y + size / 2)]
    return f"<polygon {attrs(points=' '.join(f'{n(a)},{n(b)}' for a, b in pts), **extra)} />"


def svg(width: float, height: float, body: str, *, label: str, cls: str) -> str:
    """The root element: scales with the page (CSS), labelled for screen readers."""
    head = attrs(
        viewBox=f"0 0 {n(width)} {n(height)}",
        width=n(width),
        height=n(height),
        role="img",
        aria_label=label,
        cls=cls,
        font_family=FONT,
    )
    return f"<svg {head}><title>{esc(label)}</title>{body}</svg>"
