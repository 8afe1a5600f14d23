"""The report's two plots, as inline SVG: mean trajectories by arm with 95% CI error bars, and a forest plot
of standardized MMRM differences.

Arms are told apart by colour (Okabe-Ito, safe for colour-blind readers) AND by marker shape and line dash,
so the plots survive greyscale printing. Every data point carries ``data-`` attributes (arm, week) so the
geometry can be checked against the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.report import svg
from analysis.report.fmt import ci, esc, est, number, week_label

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = (None, "7 4", "2 3", "9 3 2 3", "4 2", "1 2", "12 4")
AXIS = "#333333"
GRID = "#d9d9d9"
MUTED = "#555555"
SIZE = 13.0  # font size in user units


@dataclass(frozen=True)
class ArmStyle:
    colour: str
    marker: str
    dash: str | None


def arm_styles(arms: Sequence[str]) -> dict[str, ArmStyle]:
    """One style per arm, in the order given (so colours are stable across the report's plots)."""
    return {
        arm: ArmStyle(PALETTE[i % len(PALETTE)], svg.MARKERS[i % len(svg.MARKERS)], DASHES[i % len(DASHES)])
        for i, arm in enumerate(arms)
    }


def _values(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    out = []
    for row in rows:
        for key in ("mean", "ci_low", "ci_high"):
            x = number(row.get(key))
            if x is not None:
                out.append(x)
    return out


def has_means(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(number(row.get("mean")) is not None and number(row.get("week")) is not None for row in rows)


def _legend(
    items: Sequence[tuple[str, ArmStyle]], x0: float, y0: float, width: float, size: float
) -> tuple[str, float]:
    """Legend entries laid out left to right, wrapping; returns the SVG and its height."""
    parts, x, y = [], x0, y0
    for label, style in items:
        shown = svg.wrap(label, width - 40, size)[0]
        item_w = 34 + svg.text_width(shown, size) + 18
        if x > x0 and x + item_w > x0 + width:
            x, y = x0, y + size * 1.5
        parts.append(
            svg.line(x, y, x + 26, y, stroke=style.colour, stroke_width=2, stroke_dasharray=style.dash)
            + svg.marker(style.marker, x + 13, y, 4.5, fill=style.colour, stroke="#ffffff", stroke_width=1)
            + svg.text(x + 32, y + size * 0.35, shown, font_size=size)
        )
        x += item_w
    return f'<g class="legend">{"".join(parts)}</g>', y - y0 + size * 1.5


def trajectory_plot(
    rows: Sequence[Mapping[str, Any]],
    *,
    arms: Sequence[str],
    labels: Mapping[str, str],
    styles: Mapping[str, ArmStyle],
    y_label: str,
    title: str,
) -> str:
    """Observed means by week per arm (``rows`` as from ``descriptive.trajectories``) with 95% CI bars,
    lines joining an arm's means, a legend, and the number observed under each week. Drawn narrow with a
    large font, so that it stays readable when a phone scales it down."""
    size = 14.0
    width, height_plot = 460.0, 240.0
    weeks = sorted({w for w in (number(r.get("week")) for r in rows) if w is not None})
    values = _values(rows)
    if not weeks or not values:
        raise ValueError("trajectory_plot needs at least one observed mean")
    ticks = svg.nice_ticks(min(values), max(values), max_ticks=6)
    y_lines = svg.wrap(y_label, height_plot, size)[:2]
    tick_w = max(svg.text_width(ticks.label(v), size) for v in ticks.values)
    left, right = 8 + len(y_lines) * size * 1.25 + tick_w + 12, width - 14.0
    legend, legend_h = _legend([(labels.get(a, a), styles[a]) for a in arms], left, 16.0, right - left, size)
    top = 16.0 + legend_h + 6
    bottom = top + height_plot
    y = svg.Scale(ticks.low, ticks.high, bottom, top)
    x = svg.Scale(weeks[0], weeks[-1], left + 26, right - 26)
    body = [legend]
    for value in ticks.values:
        body.append(
            f'<g class="ytick">{svg.line(left, y(value), right, y(value), stroke=GRID, stroke_width=1)}'
            f"{svg.text(left - 8, y(value) + size * 0.35, ticks.label(value), font_size=size, text_anchor='end')}</g>"
        )
    for week in weeks:
        body.append(
            f'<g class="xtick">{svg.line(x(week), bottom, x(week), bottom + 5, stroke=AXIS)}'
            f"{svg.text(x(week), bottom + 21, f'{week:g}', font_size=size, text_anchor='middle')}</g>"
        )
    body.append(svg.line(left, bottom, right, bottom, stroke=AXIS, stroke_width=1.2))
    body.append(svg.line(left, top, left, bottom, stroke=AXIS, stroke_width=1.2))
    body.append(svg.text((left + right) / 2, bottom + 42, "Week (0 = baseline)", font_size=size, text_anchor="middle"))
    mid = (top + bottom) / 2
    for i, content in enumerate(y_lines):
        at = 8 + size + i * size * 1.25
        body.append(
            svg.text(
                at,
                mid,
                content,
                font_size=size,
                text_anchor="middle",
                transform=f"rotate(-90 {svg.n(at)} {svg.n(mid)})",
            )
        )

    lines_at = len(body)
    table_y = bottom + 70
    body.append(svg.text(left, table_y, "Number observed", font_size=size - 1, fill=MUTED))
    k = len(arms)
    for i, arm in enumerate(arms):
        style = styles[arm]
        dodge = (i - (k - 1) / 2) * 9.0
        mine = sorted(
            (r for r in rows if r.get("arm") == arm and number(r.get("week")) is not None),
            key=lambda r: float(r["week"]),
        )
        points = [(x(float(r["week"])) + dodge, y(m)) for r in mine if (m := number(r.get("mean"))) is not None]
        if len(points) > 1:  # lines under every arm's markers
            body.insert(
                lines_at, svg.polyline(points, stroke=style.colour, stroke_width=2, stroke_dasharray=style.dash)
            )
        row_y = table_y + 21 + i * 20
        body.append(svg.marker(style.marker, left - 14, row_y - size * 0.35, 4.5, fill=style.colour))
        for r in mine:
            week = float(r["week"])
            body.append(
                svg.text(x(week), row_y, str(r.get("n") or 0), font_size=size - 1, text_anchor="middle", fill=MUTED)
            )
            mean = number(r.get("mean"))
            if mean is None:
                continue
            px = x(week) + dodge
            parts = []
            low, high = number(r.get("ci_low")), number(r.get("ci_high"))
            if low is not None and high is not None:
                bar = {"stroke": style.colour, "stroke_width": 1.6}
                parts += [
                    svg.line(px, y(low), px, y(high), cls="ci", **bar),
                    svg.line(px - 4, y(low), px + 4, y(low), cls="cap", **bar),
                    svg.line(px - 4, y(high), px + 4, y(high), cls="cap", **bar),
                ]
            parts.append(svg.marker(style.marker, px, y(mean), 5.0, cls="marker", fill=style.colour, stroke="#ffffff"))
            summary = f"{labels.get(arm, arm)}, {week_label(week)}: mean {est(mean)}, 95% CI {ci(low, high)}"
            body.append(
                f"<g {svg.attrs(cls='point', data_arm=arm, data_week=f'{week:g}')}>"
                f"<title>{esc(summary)}</title>{''.join(parts)}</g>"
            )
    height = table_y + 21 + k * 20
    return svg.svg(width, height, "".join(body), label=title, cls="plot trajectory")


@dataclass(frozen=True)
class ForestRow:
    group: str  # the outcome's display name
    week: Any
    estimate: float | None
    low: float | None
    high: float | None
    primary: bool = False


def forest_plot(
    rows: Sequence[ForestRow],
    *,
    left_label: str,
    right_label: str,
    axis_label: str,
    value_header: str,
    title: str,
) -> str:
    """One row per outcome x visit: the estimate as a square, its CI as a line, a vertical line at zero and,
    under the axis, what each side of zero means."""
    width = 580.0
    plot_l, plot_r, value_x = 100.0, 370.0, 388.0
    values = [v for r in rows for v in (r.estimate, r.low, r.high) if v is not None and math.isfinite(v)]
    ticks = svg.nice_ticks(min([*values, -0.5]), max([*values, 0.5]), max_ticks=7)
    x = svg.Scale(ticks.low, ticks.high, plot_l, plot_r)
    body = [
        svg.text(8, 18, "Outcome and visit", font_size=SIZE, font_weight="bold"),
        svg.text(value_x, 18, value_header, font_size=SIZE, font_weight="bold"),
    ]
    y, group = 30.0, None
    first_y = y
    for row in rows:
        if row.group != group:
            group = row.group
            lines = svg.wrap(row.group + (" (primary)" if row.primary else ""), width - 16, SIZE)
            y += 6
            body.append(
                svg.text_lines(8, y + SIZE, lines, size=SIZE, font_weight="bold", cls="forest-group", leading=1.25)
            )
            y += len(lines) * SIZE * 1.25 + 2
        mid = y + 11
        parts = [svg.text(22, mid + SIZE * 0.35, week_label(row.week), font_size=SIZE)]
        if row.estimate is not None:
            if row.low is not None and row.high is not None:
                parts.append(svg.line(x(row.low), mid, x(row.high), mid, cls="ci", stroke=AXIS, stroke_width=1.6))
            parts.append(
                svg.marker("square", x(row.estimate), mid, 5.0, cls="marker", fill="#0072B2" if row.primary else AXIS)
            )
        parts.append(
            svg.text(value_x, mid + SIZE * 0.35, f"{est(row.estimate)} {ci(row.low, row.high)}", font_size=SIZE)
        )
        body.append(
            f"<g {svg.attrs(cls='forest-row', data_outcome=row.group, data_week=str(row.week))}>{''.join(parts)}</g>"
        )
        y += 22
    axis_y = y + 8
    zero = x(0.0)
    body.insert(0, svg.line(zero, first_y, zero, axis_y, cls="zero", stroke=AXIS, stroke_width=1.2))
    body.append(svg.line(plot_l, axis_y, plot_r, axis_y, stroke=AXIS, stroke_width=1.2))
    for value in ticks.values:
        body.append(
            f'<g class="xtick">{svg.line(x(value), axis_y, x(value), axis_y + 5, stroke=AXIS)}'
            f"{svg.text(x(value), axis_y + 20, ticks.label(value), font_size=SIZE, text_anchor='middle')}</g>"
        )
    favour_y = axis_y + 42
    left_lines = svg.wrap(f"\u2190 {left_label}", zero - 6 - 8, SIZE)
    right_lines = svg.wrap(f"{right_label} \u2192", width - 8 - zero - 6, SIZE)
    body.append(
        svg.text_lines(zero - 6, favour_y, left_lines, size=SIZE, text_anchor="end", cls="favours favours-left")
    )
    body.append(
        svg.text_lines(zero + 6, favour_y, right_lines, size=SIZE, text_anchor="start", cls="favours favours-right")
    )
    axis_label_y = favour_y + max(len(left_lines), len(right_lines)) * SIZE * 1.3 + 8
    label_lines = svg.wrap(axis_label, width - 16, SIZE)
    body.append(svg.text_lines(width / 2, axis_label_y, label_lines, size=SIZE, text_anchor="middle", fill=MUTED))
    height = axis_label_y + len(label_lines) * SIZE * 1.3
    return svg.svg(width, height, "".join(body), label=title, cls="plot forest wide")
