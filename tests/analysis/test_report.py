"""The HTML analysis report (analysis.report.render_report): pure, no database.

The input is built the way the ``analyze`` command builds it, from real analyses (primary.model_frame +
primary.analyze, descriptive.trajectories, effects.holm) of small simulated frames in the long layout. The
output is parsed (xml.etree for well-formedness and the SVG geometry, html.parser for tag balance and
attributes) and checked against the numbers it was given.
"""

from __future__ import annotations

import copy
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from analysis.report import render_report
from analysis.report.consort import consort_diagram
from analysis.report.fmt import ci, est, pval
from analysis.report.svg import nice_ticks
from analysis.stats import effects
from analysis.stats.descriptive import trajectories
from analysis.stats.primary import analyze, model_frame

HOSTILE = '<script>alert("x")</script> & "quoted"'

# ------------------------------------------------------------------------------------------------ the input

BASELINE = {"phq9": (15.0, 4.0), "gad7": (12.0, 3.5), "wcs": (50.0, 15.0)}


def _simulate(instrument: str, effect: dict[int, float], *, arms: tuple[str, str], n: int, seed: int) -> pd.DataFrame:
    """Long rows of one instrument: ``arms[1]`` gets ``effect`` (points, by week) over ``arms[0]``."""
    rng = np.random.default_rng(seed)
    mean, sd = BASELINE[instrument]
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        arm = arms[i % 2]
        base = rng.normal(mean, sd)
        person = rng.normal(0, sd * 0.5)
        rows.append((f"P{i:03d}", arm, "baseline", 0, base))
        for week in (4, 8):
            value = 0.6 * base + 0.4 * mean - 0.1 * week * sd + person + rng.normal(0, sd * 0.5)
            value += effect[week] if arm == arms[1] else 0.0
            if rng.random() < 0.1 * week / 8:
                value = math.nan
            rows.append((f"P{i:03d}", arm, f"week{week}", week, value))
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "visit", "week", "value"])
    frame["instrument"] = instrument
    frame["scale"] = "total"
    return frame


def _outcome(
    name: str, instrument: str, effect: dict[int, float], *, arms: tuple[str, str], seed: int
) -> dict[str, Any]:
    long = _simulate(instrument, effect, arms=arms, n=70, seed=seed)
    result = analyze(model_frame(long, instrument=instrument, control=arms[0]))
    return {
        "code": f"{instrument}_total",
        "name": name,
        "instrument": instrument,
        "scale": "total",
        "subgroup": {"factor": "condition", "level": name.split(":")[0]},
        "primary": True,
        "error": None,
        **result,
        "trajectories": trajectories(long, instrument=instrument),
    }


def _consort(arms: tuple[str, str], *, blinded: bool) -> dict[str, Any]:
    control, treated = arms

    def visit(code: str, week: int, completed: tuple[int, int]) -> dict[str, Any]:
        return {
            "visit": code,
            "week": week,
            "arms": {
                control: {"completed": completed[0], "missed": 5, "withdrawn": 2, "lost_to_follow_up": 0,
                          "pending": 0, "reasons": {"Moved abroad": 1, "Started other treatment": 1}},
                treated: {"completed": completed[1], "missed": 0, "withdrawn": 1, "lost_to_follow_up": 3,
                          "pending": 4, "reasons": {"No reply to calls, e-mails or text messages after three "
                                                    "attempts over two weeks": 3, "Did not like the app": 1}},
            },
        }  # fmt: skip

    return {
        "trial": "therabot",
        "blinded": blinded,
        "instrument": "phq9",
        "assessed_for_eligibility": 412,
        "excluded": {
            "total": 202,
            "not_meeting_inclusion_criteria": 170,
            "reasons": {
                "PHQ-9 below 10, GAD-Q-IV below 5.7 and no eating-disorder risk on the SWED 3.0 screen": 96,
                "Current treatment for active suicidality (clinician's risk assessment)": 31,
                "Bipolar I or II disorder": 22,
                "Active psychosis": 12,
                "Younger than 18": 9,
            },
            "declined_or_withdrew_before_randomization": 25,
            "declined_reasons": {"Did not want to wait": 14, "not given": 11},
            "not_yet_randomized": 7,
        },
        "randomized": 210,
        "allocation": {
            control: {"allocated": 104, "received": None if blinded else 104},
            treated: {"allocated": 106, "received": None if blinded else 101},
        },
        "follow_up": [visit("week4", 4, (95, 98)), visit("week8", 8, (88, 91))],
        "analysis": {
            control: {"analysed": 101, "excluded_no_baseline_or_follow_up": 3},
            treated: {"analysed": 103, "excluded_no_baseline_or_follow_up": 0},
        },
    }


def build_report(*, blinded: bool = False) -> dict[str, Any]:
    arms = ("A", "B") if blinded else ("waitlist", "chatbot")
    outcomes = [
        _outcome("MDD: PHQ-9 total", "phq9", {4: -3.5, 8: -4.0}, arms=arms, seed=1),
        _outcome("GAD: GAD-7 total", "gad7", {4: -2.0, 8: -2.2}, arms=arms, seed=2),
        _outcome("CHR-FED: Weight Concerns Scale", "wcs", {4: 7.0, 8: -9.0}, arms=arms, seed=3),
        {
            "code": "edeqs_total",
            "name": "CHR-FED: EDE-QS total",
            "instrument": "edeqs",
            "scale": "total",
            "subgroup": {"factor": "condition", "level": "CHR-FED"},
            "primary": False,
            "error": f"No post-baseline edeqs total values in arm {arms[1]!r} yet (12 participants, 0 without a "
            "baseline): nothing to compare.",
            "trajectories": [],
        },
    ]
    by_week = []
    for week in (4, 8):
        pvalues = {o["name"]: next(v["p"] for v in o["mmrm"]["visits"] if v["week"] == week) for o in outcomes[:3]}
        adjusted = effects.holm(pvalues)
        for o in outcomes[:3]:
            o.setdefault("holm", []).append({"week": week, "p": pvalues[o["name"]], "p_adjusted": adjusted[o["name"]]})
        by_week.append(
            {
                "week": week,
                "outcomes": [
                    {"name": k, "p": p, "p_adjusted": adjusted[k], "reject": adjusted[k] <= 0.05}
                    for k, p in pvalues.items()
                ],
            }
        )
    scales = {"task": (3.7, 0.7), "bond": (3.8, 0.6), "goal": (3.3, 0.8)}
    return {
        "title": "Therabot-like reference trial \u2014 analysis",
        "generated_at": "2026-11-22T10:00:00+00:00",
        "trial": "therabot",
        "blinded": blinded,
        "contrast": f"{arms[1]} minus {arms[0]}",
        "input": {
            "file": "therabot-long-unblinded.csv",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
        "control": arms[0],
        "intervention": arms[1],
        "outcomes": outcomes,
        "multiplicity": {
            "method": "Holm",
            "alpha": 0.05,
            "family": "3 primary outcomes, at each visit separately; MMRM p-values; alpha 0.05",
            "by_week": by_week,
        },
        "alliance": None
        if blinded
        else {
            "instrument": "waisr",
            "arm": arms[1],
            "headline_scale": "item_mean",
            "by_week": [
                {
                    "week": week,
                    "n": 50 - week,
                    "mean": 3.59 + week / 100,
                    "sd": 0.6,
                    "scales": {k: {"n": 50 - week, "mean": m, "sd": s} for k, (m, s) in scales.items()},
                }
                for week in (4, 8)
            ],
        },
        "engagement": None
        if blinded
        else {
            "arm": arms[1],
            "n_allocated": 106,
            "n_used": 100,
            "percent_used": 94.34,
            "summary": {
                "sessions": {"n": 106, "mean": 31.2, "sd": 12.0, "median": 29.0, "q1": 21.0, "q3": 40.0},
                "participant_messages": {"n": 106, "mean": 260.4, "sd": 180.2, "median": 220, "q1": 120, "q3": 350},
                "hours": {"n": 106, "mean": 6.2, "sd": 4.1, "median": 5.5, "q1": 3.0, "q3": 8.4},
                "active_days": {"n": 106, "mean": 24.1, "sd": 10.3, "median": 25, "q1": 16, "q3": 32},
            },
        },
        "consort": _consort(arms, blinded=blinded),
    }


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return build_report()


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return render_report(report)


# ---------------------------------------------------------------------------------------------- parsing help


def xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own output, not untrusted input)


def parse(page: str) -> ET.Element:
    """The whole document as XML: the report is written so that it is well-formed XML as well as HTML."""
    assert page.startswith("<!DOCTYPE html>")
    return xml(page.split("\n", 1)[1])


def two(x: float) -> str:
    """Two decimals, as the report writes them (no negative zero)."""
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def text_of(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def by_id(root: ET.Element, ident: str) -> ET.Element:
    (found,) = [e for e in root.iter() if e.get("id") == ident]
    return found


def with_class(root: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in root.iter() if name in (e.get("class") or "").split())


def centre(element: ET.Element) -> tuple[float, float]:
    """The centre of a marker, whatever its shape."""
    if element.tag == "circle":
        return float(element.get("cx", "nan")), float(element.get("cy", "nan"))
    if element.tag == "rect":
        x, y = float(element.get("x", "nan")), float(element.get("y", "nan"))
        return x + float(element.get("width", "nan")) / 2, y + float(element.get("height", "nan")) / 2
    points = [tuple(map(float, p.split(","))) for p in element.get("points", "").split()]
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def axis_map(ticks: list[tuple[float, float]]) -> tuple[float, float]:
    """(intercept, slope) of pixel = intercept + slope * value, from the ticks' labels and positions; checks
    that every tick sits on that one line."""
    values = np.array([v for v, _ in ticks])
    pixels = np.array([p for _, p in ticks])
    slope, intercept = np.polyfit(values, pixels, 1)
    assert np.allclose(intercept + slope * values, pixels, atol=0.02)
    return float(intercept), float(slope)


class Tags(HTMLParser):
    """Every start tag with its attributes; the open-tag stack must balance."""

    VOID = frozenset({"meta", "br", "img", "hr", "input", "link", "area", "base", "col", "embed", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def tags_of(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    return parser


# ------------------------------------------------------------------------------------------------------ tests


def test_well_formed_self_contained_and_without_scripts(page: str) -> None:
    root = parse(page)
    assert root.tag == "html"
    tags = tags_of(page)
    names = {tag for tag, _ in tags.tags}
    assert {"style", "svg", "table", "main"} <= names
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "image", "foreignObject"}
    assert "<script" not in page.lower()
    assert (
        "http:" not in page and "https:" not in page and "//" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    )
    assert "url(" not in page and "@import" not in page
    for tag, attrs in tags.tags:
        assert "src" not in attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    assert '<meta name="viewport"' in page and "@media print" in page and "@media (max-width" in page


def test_header_says_what_was_analysed(report: dict[str, Any], page: str) -> None:
    header = parse(page).find(".//header")
    assert header is not None
    shown = text_of(header)
    assert report["title"] in shown and "therabot" in shown
    assert report["input"]["sha256"] in shown and report["input"]["file"] in shown
    assert "2026-11-22T10:00:00+00:00" in shown
    assert "Unblinded" in shown and "chatbot minus waitlist" in shown


def test_blinded_report_says_so_prominently() -> None:
    root = parse(render_report(build_report(blinded=True)))
    (notice,) = list(with_class(root, "notice"))
    assert notice.tag == "p" and "Blinded analysis" in text_of(notice) and "B minus A" in text_of(notice)
    legend = text_of(next(with_class(root, "legend")))
    assert "A (reference arm)" in legend and "B (compared arm)" in legend
    assert "intervention" not in legend and "control" not in legend


def test_every_outcome_table_has_its_mmrm_estimates_and_cis(report: dict[str, Any], page: str) -> None:
    root = parse(page)
    for i, outcome in enumerate(report["outcomes"], start=1):
        section = by_id(root, f"outcome-{i}")
        if outcome["error"]:
            continue
        (table,) = [t for t in section.iter("table") if t.get("class") == "mmrm"]
        rows = [[text_of(c) for c in tr] for tr in table.iter("tr")][1:]
        assert len(rows) == len(outcome["mmrm"]["visits"])
        for row, visit in zip(rows, outcome["mmrm"]["visits"], strict=True):
            assert row[0] == f"Week {visit['week']}"
            assert row[1] == f"{two(visit['estimate'])}"
            assert row[2] == f"[{two(visit['ci_low'])}, {two(visit['ci_high'])}]"
            assert row[3] == f"{two(visit['se'])}"
            assert row[4] == f"{visit['df']:.1f}"
            assert row[5] == ("<0.001" if visit["p"] < 0.0005 else f"{visit['p']:.3f}")
            holm = next(h for h in outcome["holm"] if h["week"] == visit["week"])
            assert row[6] == pval(holm["p_adjusted"])
        shown = text_of(section)
        for name in ("lmm", "ancova", "effects", "within", "observed"):
            assert any(t.get("class") == name for t in section.iter("table")), name
        has_responders = any(t.get("class") == "responders" for t in section.iter("table"))
        assert has_responders == bool(outcome["responders"])  # PHQ-9 and GAD-7 only
        if not has_responders:
            assert "No responder definitions for this instrument." in text_of(section)
        assert f"{two(outcome['lmm']['estimate'])}" in shown
        for a in outcome["ancova"]:
            assert f"[{two(a['ci_low'])}, {two(a['ci_high'])}]" in shown
        for e in outcome["effect_sizes"]:
            assert f"{two(e['cohens_d'])}" in shown and f"{two(e['hedges_g'])}" in shown


def test_trajectory_markers_and_error_bars_map_data_to_pixels(report: dict[str, Any], page: str) -> None:
    root = parse(page)
    for i, outcome in enumerate(report["outcomes"], start=1):
        section = by_id(root, f"outcome-{i}")
        plots = list(with_class(section, "trajectory"))
        observed = [r for r in outcome["trajectories"] if r["mean"] is not None]
        if not observed:
            assert plots == []
            continue
        (plot,) = plots
        label = outcome["instrument"].upper().replace("PHQ9", "PHQ-9").replace("GAD7", "GAD-7")
        assert label in text_of(plot) and "total" in text_of(plot)
        y_ticks = []
        for tick in with_class(plot, "ytick"):
            line, label_el = tick.find("line"), tick.find("text")
            assert line is not None and label_el is not None
            y_ticks.append((float(label_el.text or "nan"), float(line.get("y1", "nan"))))
        y0, slope = axis_map(y_ticks)
        assert slope < 0  # higher values are drawn higher up
        x_ticks = []
        for tick in with_class(plot, "xtick"):
            line, label_el = tick.find("line"), tick.find("text")
            assert line is not None and label_el is not None
            x_ticks.append((float(label_el.text or "nan"), float(line.get("x1", "nan"))))
        x0, x_slope = axis_map(x_ticks)
        assert x_slope > 0
        points = list(with_class(plot, "point"))
        assert len(points) == len(observed)
        for row in observed:
            (point,) = [p for p in points if p.get("data-arm") == row["arm"] and p.get("data-week") == str(row["week"])]
            (mark,) = list(with_class(point, "marker"))
            cx, cy = centre(mark)
            assert cy == pytest.approx(y0 + slope * row["mean"], abs=0.02)
            assert abs(cx - (x0 + x_slope * row["week"])) < 10  # arms are dodged a few pixels apart
            (bar,) = list(with_class(point, "ci"))
            assert float(bar.get("x1", "nan")) == pytest.approx(cx, abs=0.02)
            low, high = sorted((float(bar.get("y1", "nan")), float(bar.get("y2", "nan"))))
            assert low == pytest.approx(y0 + slope * row["ci_high"], abs=0.02)
            assert high == pytest.approx(y0 + slope * row["ci_low"], abs=0.02)
            assert low < cy < high
        # markers of different arms differ in colour and in shape (greyscale, colour-blind readers)
        styles = {(m.tag, m.get("fill")) for p in points for m in with_class(p, "marker")}
        assert len({tag for tag, _ in styles}) == 2 and len({fill for _, fill in styles}) == 2


def test_trajectory_plot_geometry_on_hand_numbers() -> None:
    rows = [
        {"arm": "x", "week": 0, "n": 10, "mean": 10.0, "sd": 2.0, "se": 0.6, "ci_low": 8.0, "ci_high": 12.0},
        {"arm": "x", "week": 4, "n": 1, "mean": 7.0, "sd": None, "se": None, "ci_low": None, "ci_high": None},
        {"arm": "y", "week": 0, "n": 0, "mean": None, "sd": None, "se": None, "ci_low": None, "ci_high": None},
        {"arm": "y", "week": 4, "n": 9, "mean": 3.0, "sd": 1.0, "se": 0.3, "ci_low": 2.5, "ci_high": 3.5},
    ]
    outcome = {"name": "hand", "instrument": "gad7", "scale": "total", "error": "models not run", "trajectories": rows}
    root = parse(render_report({"title": "t", "outcomes": [outcome]}))
    plot = next(with_class(root, "trajectory"))
    centres = {
        (p.get("data-arm"), p.get("data-week")): centre(next(with_class(p, "marker")))
        for p in with_class(plot, "point")
    }
    assert set(centres) == {("x", "0"), ("x", "4"), ("y", "4")}  # no marker where nobody answered
    # value 10 > 7 > 3: the y pixel grows as the value falls
    assert centres["x", "0"][1] < centres["x", "4"][1] < centres["y", "4"][1]
    assert centres["x", "0"][0] < centres["x", "4"][0]
    assert len(list(with_class(plot, "ci"))) == 2  # the single answer has no interval
    assert "models not run" in text_of(root)


def test_forest_plot_has_a_row_per_outcome_and_visit_around_zero(report: dict[str, Any], page: str) -> None:
    root = parse(page)
    plot = next(with_class(root, "forest"))
    good = [o for o in report["outcomes"] if not o["error"]]
    rows = list(with_class(plot, "forest-row"))
    assert len(rows) == sum(len(o["mmrm"]["visits"]) for o in good) == 6
    ticks = []
    for tick in with_class(plot, "xtick"):
        line, label = tick.find("line"), tick.find("text")
        assert line is not None and label is not None
        ticks.append((float(label.text or "nan"), float(line.get("x1", "nan"))))
    x0, slope = axis_map(ticks)
    assert slope > 0
    (zero,) = list(with_class(plot, "zero"))
    zero_x = float(zero.get("x1", "nan"))
    assert zero_x == pytest.approx(x0, abs=0.02) and zero.get("x1") == zero.get("x2")
    signs = set()
    for outcome in good:
        for size in outcome["effect_sizes"]:
            (row,) = [
                r for r in rows if r.get("data-outcome") == outcome["name"] and r.get("data-week") == str(size["week"])
            ]
            cx, _ = centre(next(with_class(row, "marker")))
            assert cx == pytest.approx(x0 + slope * size["cohens_d"], abs=0.02)
            assert (cx < zero_x) == (size["cohens_d"] < 0)
            signs.add(size["cohens_d"] < 0)
            line = next(with_class(row, "ci"))
            assert float(line.get("x1", "nan")) == pytest.approx(x0 + slope * size["d_ci_low"], abs=0.02)
            assert float(line.get("x2", "nan")) == pytest.approx(x0 + slope * size["d_ci_high"], abs=0.02)
            assert f"{two(size['cohens_d'])} [{two(size['d_ci_low'])}, {two(size['d_ci_high'])}]" in text_of(row)
    assert signs == {True, False}  # the zero line sits between negative and positive effects
    left, right = text_of(next(with_class(plot, "favours-left"))), text_of(next(with_class(plot, "favours-right")))
    assert "favours chatbot" in left and "favours waitlist" in right
    caption = text_of(by_id(root, "effects"))
    assert "lower scores are better" in caption


def test_forest_labels_do_not_claim_a_direction_for_other_scales(report: dict[str, Any]) -> None:
    changed = copy.deepcopy(report)
    changed["outcomes"][0]["instrument"] = "custom_wellbeing"
    plot = next(with_class(parse(render_report(changed)), "forest"))
    assert "favours" not in text_of(plot)
    assert "lower in chatbot" in text_of(plot) and "higher in chatbot" in text_of(plot)


def test_consort_boxes_contain_the_counts(report: dict[str, Any], page: str) -> None:
    diagram = next(with_class(parse(page), "consort"))
    boxes: dict[tuple[str | None, str | None, str | None], str] = {}
    for box in with_class(diagram, "box"):
        boxes[box.get("data-role"), box.get("data-arm"), box.get("data-week")] = text_of(box)
    assert "Assessed for eligibility (n=412)" in boxes["assessed", None, None]
    excluded = boxes["excluded", None, None]
    for expected in (
        "Excluded (n=202)",
        "Not meeting inclusion criteria (n=170)",
        "Bipolar I or II disorder (n=22)",
        "Declined or withdrew before randomization (n=25)",
        "Did not want to wait (n=14)",
        "Not yet randomized (n=7)",
    ):
        assert expected in excluded
    assert "SWED 3.0 screen (n=96)" in excluded  # a long reason, wrapped, still complete
    assert "Randomized (n=210)" in boxes["randomized", None, None]
    assert "Allocated to chatbot (intervention) (n=106)" in boxes["allocation", "chatbot", None]
    assert "Received allocated intervention (n=101)" in boxes["allocation", "chatbot", None]
    assert "Did not receive allocated intervention (n=5)" in boxes["allocation", "chatbot", None]
    week4 = boxes["follow-up", "chatbot", "4"]
    for expected in ("Week 4", "Completed (n=98)", "Missed (n=0)", "Withdrawn (n=1)", "Lost to follow-up (n=3)"):
        assert expected in week4
    assert "after three attempts over two weeks (n=3)" in week4
    assert "Completed (n=88)" in boxes["follow-up", "waitlist", "8"]
    assert "Analysed (n=103)" in boxes["analysis", "chatbot", None]
    assert "(n=3)" in boxes["analysis", "waitlist", None]
    # a row's boxes share their height, so the arms line up
    heights: dict[tuple[str | None, str | None], set[str | None]] = {}
    for box in with_class(diagram, "box"):
        r = box.find("rect")
        assert r is not None
        heights.setdefault((box.get("data-role"), box.get("data-week")), set()).add(r.get("height"))
    assert all(len(h) == 1 for h in heights.values())


def test_consort_any_number_of_arms_and_visits_and_none_yet(report: dict[str, Any]) -> None:
    flow = copy.deepcopy(report["consort"])
    flow["allocation"]["other"] = {"allocated": 0, "received": 0}
    for visit in flow["follow_up"]:
        visit["arms"]["other"] = {"completed": 0, "missed": 0, "withdrawn": 0, "lost_to_follow_up": 0, "reasons": {}}
    flow["follow_up"].append({"visit": "fu-3", "week": 12, "arms": {}})
    root = xml(consort_diagram(flow))
    allocation = [b for b in with_class(root, "box") if b.get("data-role") == "allocation"]
    assert len(allocation) == 3 and "Allocated to other (n=0)" in text_of(allocation[1])
    follow = [b for b in with_class(root, "box") if b.get("data-role") == "follow-up"]
    assert len(follow) == 3 * 3
    week12 = [text_of(b) for b in follow if b.get("data-week") == "12"]
    assert len(week12) == 3 and all("Week 12 (fu-3)" in t and "Completed (n=0)" in t for t in week12)
    assert float(root.get("width", "0")) >= 3 * 260  # wide enough for three columns
    boxes = [b.find("rect") for b in with_class(root, "box")]
    xs = [(float(r.get("x", "0")), float(r.get("width", "0"))) for r in boxes if r is not None]
    assert all(x >= 0 and x + w <= float(root.get("width", "0")) for x, w in xs)  # nothing drawn off the page

    empty = xml(
        consort_diagram(
            {"assessed_for_eligibility": 0, "excluded": {}, "randomized": 0, "allocation": {}, "follow_up": []}
        )
    )
    shown = text_of(empty)
    assert "Assessed for eligibility (n=0)" in shown and "Randomized (n=0)" in shown
    assert "No participant has been randomized yet." in shown


def test_blinded_consort_leaves_received_out() -> None:
    root = parse(render_report(build_report(blinded=True)))
    allocation = [text_of(b) for b in with_class(root, "box") if b.get("data-role") == "allocation"]
    assert len(allocation) == 2 and all("Received" not in t for t in allocation)


def test_hostile_strings_are_escaped(report: dict[str, Any]) -> None:
    changed = copy.deepcopy(report)
    changed["title"] = HOSTILE
    changed["trial"] = HOSTILE
    changed["input"]["file"] = HOSTILE
    changed["outcomes"][0]["name"] = HOSTILE
    changed["outcomes"][3]["error"] = HOSTILE
    changed["consort"]["excluded"]["reasons"][HOSTILE] = 1
    changed["consort"]["follow_up"][0]["arms"]["chatbot"]["reasons"][HOSTILE] = 2
    changed["multiplicity"]["by_week"][0]["outcomes"][0]["name"] = HOSTILE
    changed["alliance"]["arm"] = HOSTILE
    changed["outcomes"][1]["responders"][0]["response"] = {"estimable": False, "reason": HOSTILE}
    page = render_report(changed)
    assert "<script" not in page.lower()
    root = parse(page)  # still well-formed
    tags_of(page)
    shown = text_of(root)
    assert shown.count('<script>alert("x")</script> & "quoted"') >= 9
    assert "not estimable: " + HOSTILE in shown
    forest = next(with_class(root, "forest"))
    assert any(r.get("data-outcome") == HOSTILE for r in with_class(forest, "forest-row"))


def test_an_outcome_with_an_error_shows_the_message_instead_of_tables(report: dict[str, Any], page: str) -> None:
    root = parse(page)
    section = by_id(root, "outcome-4")
    (message,) = list(with_class(section, "error"))
    assert text_of(message) == report["outcomes"][3]["error"]
    assert list(section.iter("table")) == [] and list(with_class(section, "trajectory")) == []
    assert "EDE-QS" in text_of(section)


def test_multiplicity_alliance_and_engagement(report: dict[str, Any], page: str) -> None:
    root = parse(page)
    (table,) = [t for t in root.iter("table") if t.get("class") == "multiplicity"]
    rows = [[text_of(c) for c in tr] for tr in table.iter("tr")][1:]
    expected = [(b["week"], o) for b in report["multiplicity"]["by_week"] for o in b["outcomes"]]
    assert len(rows) == len(expected) == 6
    for row, (week, o) in zip(rows, expected, strict=True):
        assert row == [f"Week {week}", o["name"], pval(o["p"]), pval(o["p_adjusted"]), "yes" if o["reject"] else "no"]
    alliance = text_of(by_id(root, "alliance"))
    assert "WAI-SR" in alliance and "3.63 (0.60)" in alliance and "Bond, mean (SD)" in alliance
    engagement = text_of(by_id(root, "adherence"))
    assert "100 of 106" in engagement and "94.3%" in engagement
    assert "Participant messages 260.40 180.20 220.00 [120.00, 350.00]" in engagement


def test_methods_are_written_from_the_data(report: dict[str, Any]) -> None:
    methods = text_of(by_id(parse(render_report(report)), "methods"))
    assert "unstructured covariance" in methods and "REML" in methods and "Satterthwaite" in methods
    assert "chatbot minus waitlist" in methods and "Holm" in methods and "complete cases" in methods
    assert "PHQ-9: response a reduction of at least 50% from baseline, remission a score below 5" in methods
    changed = copy.deepcopy(report)
    for o in changed["outcomes"][:3]:
        o["mmrm"].update(method="ML", df_method="Kenward-Roger", covariance_structure="compound symmetry")
    changed["multiplicity"] = None
    methods = text_of(by_id(parse(render_report(changed)), "methods"))
    assert "estimated by ML with Kenward-Roger degrees of freedom" in methods
    assert "compound symmetry covariance" in methods and "REML" not in methods.split("Secondary")[0]
    assert "Holm" not in methods


def test_numbers_are_formatted_one_way() -> None:
    assert est(-0.004) == "0.00" and est(1.005) in {"1.00", "1.01"} and est(None) == "\u2014"
    assert est(float("nan")) == "\u2014" and est(float("inf")) == "\u2014"
    assert pval(0.0004) == "<0.001" and pval(0.0123) == "0.012" and pval(1.0) == "1.000" and pval(None) == "\u2014"
    assert ci(-1.234, 2.0) == "[-1.23, 2.00]" and ci(None, 1.0) == "\u2014"


@pytest.mark.parametrize(
    ("low", "high"),
    [(0.0, 27.0), (-1.3, 0.45), (3.59, 3.59), (-0.01, 0.02), (1200.0, 1900.0), (-5.0, -4.2)],
)
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float) -> None:
    ticks = nice_ticks(low, high, max_ticks=6)
    assert ticks.low <= low and ticks.high >= high
    assert 2 <= len(ticks.values) <= 8
    mantissa = ticks.step / 10 ** math.floor(math.log10(ticks.step))
    assert round(mantissa, 6) in {1.0, 2.0, 5.0}
    steps = np.diff(ticks.values)
    assert np.allclose(steps, ticks.step)
    assert len({ticks.label(v) for v in ticks.values}) == len(ticks.values)  # labels distinguish the ticks
