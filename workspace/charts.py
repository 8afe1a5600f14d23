"""Geometry of the dashboard's accrual chart, drawn as inline SVG by the template (no script, no styles:
CSP allows neither). The same figures are in the table beside it; the chart only shows their shape."""

from __future__ import annotations

from dataclasses import dataclass

from workspace.selectors import Accrual

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 28  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int

    @property
    def cx(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    target_y: float | None
    top_value: int
    baseline_y: float
    left: int
    right_x: int
    top_y: int

    @property
    def label_y(self) -> float:
        return self.baseline_y + 16


def accrual_chart(accrual: Accrual) -> Chart | None:
    """Cumulative randomized per period as bars, and the target as a line; None with nothing to draw."""
    if not accrual.periods:
        return None
    top_value = max(accrual.total, accrual.target or 0, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = min(plot_w / len(accrual.periods), 60)  # a few periods: narrow bars from the left, not a slab
    label_every = max(1, len(accrual.periods) // 8)
    bars = []
    for i, period in enumerate(accrual.periods):
        height = plot_h * period.cumulative / top_value
        fmt = f"{period.start:%b %Y}" if accrual.unit == "month" else f"{period.start:%b} {period.start.day}"
        bars.append(
            Bar(
                x=round(LEFT + i * step + step * 0.1, 1),
                y=round(TOP + plot_h - height, 1),
                width=round(step * 0.8, 1),
                height=round(height, 1),
                label=fmt if i % label_every == 0 else "",
                value=period.cumulative,
            )
        )
    target_y = round(TOP + plot_h - plot_h * accrual.target / top_value, 1) if accrual.target else None
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        target_y=target_y,
        top_value=top_value,
        baseline_y=TOP + plot_h,
        left=LEFT,
        right_x=WIDTH - RIGHT,
        top_y=TOP,
    )
