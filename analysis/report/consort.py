"""The CONSORT flow diagram as SVG, drawn from the counts of ``analysis.consort.consort_counts``.

Enrollment (assessed -> excluded with reasons -> randomized), allocation per arm (received or not), one row
of follow-up boxes per visit (completed, missed, withdrawn, lost, with reasons) and analysis per arm. Any
number of arms and visits; text is wrapped to the box and boxes grow to fit; a row's boxes share one height.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.report import svg
from analysis.report.fmt import count, number, week_label

SIZE = 13.0
LEADING = 17.0
PAD = 8.0
MARGIN = 12.0
COLUMN = 260.0
GAP = 24.0
STROKE = "#333333"
BAND = "#e8eef6"


@dataclass
class Box:
    role: str
    lines: list[tuple[str, str]]  # (kind, text): kind "head", "item" or "reason"
    arm: str | None = None
    week: str | None = None
    laid: list[tuple[float, str, bool]] = field(default_factory=list)  # (indent, text, bold)

    def layout(self, width: float) -> float:
        """Wrap the lines to ``width``; return the box height."""
        inner = width - 2 * PAD
        self.laid = []
        for kind, content in self.lines:
            if kind == "reason":
                wrapped = svg.wrap(content, inner - 24, SIZE)
                self.laid.append((12.0, f"\u2022 {wrapped[0]}", False))
                self.laid += [(23.0, rest, False) for rest in wrapped[1:]]
            else:
                self.laid += [(0.0, part, kind == "head") for part in svg.wrap(content, inner, SIZE)]
        return len(self.laid) * LEADING + 2 * PAD - (LEADING - SIZE) + 2

    def draw(self, x: float, y: float, width: float, height: float) -> str:
        parts = [svg.rect(x, y, width, height, rx=4, fill="#ffffff", stroke=STROKE, stroke_width=1.2)]
        for i, (indent, content, bold) in enumerate(self.laid):
            parts.append(
                svg.text(
                    x + PAD + indent,
                    y + PAD + SIZE * 0.85 + i * LEADING,
                    content,
                    font_size=SIZE,
                    font_weight="bold" if bold else None,
                )
            )
        head = svg.attrs(cls="box", data_role=self.role, data_arm=self.arm, data_week=self.week)
        return f"<g {head}>{''.join(parts)}</g>"


def _n(value: Any) -> str:
    return f"(n={count(value if value is not None else 0)})"


def _reasons(reasons: Any) -> list[tuple[str, str]]:
    if not isinstance(reasons, Mapping):
        return []
    ordered = sorted(reasons.items(), key=lambda kv: (-(number(kv[1]) or 0), str(kv[0])))
    return [("reason", f"{reason} {_n(k)}") for reason, k in ordered]


def _excluded_box(excluded: Mapping[str, Any]) -> Box:
    lines = [("head", f"Excluded {_n(excluded.get('total'))}")]
    lines.append(("item", f"Not meeting inclusion criteria {_n(excluded.get('not_meeting_inclusion_criteria'))}"))
    lines += _reasons(excluded.get("reasons"))
    declined = excluded.get("declined_or_withdrew_before_randomization")
    lines.append(("item", f"Declined or withdrew before randomization {_n(declined)}"))
    lines += _reasons(excluded.get("declined_reasons"))
    lines.append(("item", f"Not yet randomized {_n(excluded.get('not_yet_randomized'))}"))
    return Box("excluded", lines)


def _follow_up_box(visit: Mapping[str, Any], arm: str, counts: Mapping[str, Any]) -> Box:
    name = week_label(visit.get("week"))
    code = visit.get("visit")
    same = code is None or re.sub(r"\W", "", str(code)).lower() == re.sub(r"\W", "", name).lower()
    head = name if same else f"{name} ({code})"
    lines = [
        ("head", head),
        ("item", f"Completed {_n(counts.get('completed'))}"),
        ("item", f"Missed {_n(counts.get('missed'))}"),
        ("item", f"Withdrawn {_n(counts.get('withdrawn'))}"),
        ("item", f"Lost to follow-up {_n(counts.get('lost_to_follow_up'))}"),
    ]
    if number(counts.get("pending")):
        lines.append(("item", f"Not yet due or still open {_n(counts.get('pending'))}"))
    reasons = _reasons(counts.get("reasons"))
    if reasons:
        lines.append(("item", "Reasons for withdrawal or loss:"))
        lines += reasons
    return Box("follow-up", lines, arm=arm, week=str(visit.get("week")))


def _arms(consort: Mapping[str, Any]) -> list[str]:
    found: set[str] = set()
    for key in ("allocation", "analysis"):
        if isinstance(consort.get(key), Mapping):
            found.update(str(a) for a in consort[key])
    for visit in consort.get("follow_up") or []:
        found.update(str(a) for a in (visit.get("arms") or {}))
    return sorted(found)


def _down(x: float, y1: float, y2: float) -> str:
    return svg.line(x, y1, x, y2 - 6, stroke=STROKE, stroke_width=1.2) + svg.arrow_head(x, y2, "down", fill=STROKE)


def consort_diagram(consort: Mapping[str, Any], *, arm_labels: Mapping[str, str] | None = None) -> str:
    """The flow diagram; ``arm_labels`` maps an arm to how it is named in the boxes (default: the arm)."""
    labels = dict(arm_labels or {})
    arms = _arms(consort)
    k = len(arms)
    width = max(640.0, 2 * MARGIN + k * COLUMN + (k - 1) * GAP)
    column = (width - 2 * MARGIN - (k - 1) * GAP) / k if k else 0.0
    centres = [MARGIN + column / 2 + i * (column + GAP) for i in range(k)]
    cx = width * 0.36
    body: list[str] = []
    y = 8.0

    def band(label: str) -> None:
        nonlocal y
        body.append(svg.rect(0, y, width, 24, fill=BAND))
        body.append(svg.text(MARGIN, y + 16.5, label, font_size=SIZE, font_weight="bold", cls="stage"))
        y += 24 + 14

    band("Enrollment")
    top_w = min(240.0, width * 0.5)
    assessed = Box("assessed", [("head", f"Assessed for eligibility {_n(consort.get('assessed_for_eligibility'))}")])
    h = assessed.layout(top_w)
    body.append(assessed.draw(cx - top_w / 2, y, top_w, h))
    line_top = y + h
    y += h + 18
    excluded = _excluded_box(consort.get("excluded") or {})
    ex_x = cx + 34
    ex_w = width - MARGIN - ex_x
    h = excluded.layout(ex_w)
    body.append(excluded.draw(ex_x, y, ex_w, h))
    mid = y + min(h / 2, 24)
    body.append(svg.line(cx, mid, ex_x - 6, mid, stroke=STROKE, stroke_width=1.2))
    body.append(svg.arrow_head(ex_x, mid, "right", fill=STROKE))
    y += h + 18
    body.append(_down(cx, line_top, y))
    randomized = Box("randomized", [("head", f"Randomized {_n(consort.get('randomized'))}")])
    h = randomized.layout(top_w)
    body.append(randomized.draw(cx - top_w / 2, y, top_w, h))
    y += h
    if not arms:
        y += 18
        note = Box("allocation", [("item", "No participant has been randomized yet.")])
        h = note.layout(top_w)
        body.append(_down(cx, y - 18, y))
        body.append(note.draw(cx - top_w / 2, y, top_w, h))
        y += h + 12
        return svg.svg(width, y, "".join(body), label="CONSORT flow diagram", cls="consort wide")

    fork = y + 14
    body.append(svg.line(cx, y, cx, fork, stroke=STROKE, stroke_width=1.2))
    body.append(svg.line(min(centres[0], cx), fork, max(centres[-1], cx), fork, stroke=STROKE, stroke_width=1.2))
    y = fork + 8
    band("Allocation")
    rows: list[tuple[str, list[Box]]] = []
    allocation = consort.get("allocation") or {}
    boxes = []
    for arm in arms:
        counts = allocation.get(arm) or {}
        allocated, received = number(counts.get("allocated")) or 0, number(counts.get("received"))
        lines = [("head", f"Allocated to {labels.get(arm, arm)} {_n(allocated)}")]
        if received is not None:
            lines.append(("item", f"Received allocated intervention {_n(received)}"))
            lines.append(("item", f"Did not receive allocated intervention {_n(max(allocated - received, 0))}"))
        boxes.append(Box("allocation", lines, arm=arm))
    rows.append(("", boxes))
    for i, visit in enumerate(consort.get("follow_up") or []):
        per_arm = visit.get("arms") or {}
        rows.append(
            ("Follow-up" if i == 0 else "", [_follow_up_box(visit, arm, per_arm.get(arm) or {}) for arm in arms])
        )
    analysis = consort.get("analysis") or {}
    rows.append(
        (
            "Analysis",
            [
                Box(
                    "analysis",
                    [
                        ("head", f"Analysed {_n((analysis.get(arm) or {}).get('analysed'))}"),
                        (
                            "item",
                            "Excluded from analysis (no baseline or no follow-up value) "
                            + _n((analysis.get(arm) or {}).get("excluded_no_baseline_or_follow_up")),
                        ),
                    ],
                    arm=arm,
                )
                for arm in arms
            ],
        )
    )
    previous_bottom: float | None = None
    for stage, row in rows:
        if stage:
            band(stage)
        height = max(box.layout(column) for box in row)
        for centre, box in zip(centres, row, strict=True):
            start = previous_bottom if previous_bottom is not None else fork
            body.append(_down(centre, start, y))
            body.append(box.draw(centre - column / 2, y, column, height))
        previous_bottom = y + height
        y += height + 22
    return svg.svg(width, y - 8, "".join(body), label="CONSORT flow diagram", cls="consort wide")
