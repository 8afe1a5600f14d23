"""HTML tables of one outcome's analysis (the dict of ``analysis.stats.primary.analyze``), of the
multiplicity adjustment, the alliance and engagement summaries. Cells are escaped here; numbers are
formatted by ``analysis.report.fmt``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from analysis.report.fmt import DASH, ci, count, dof, esc, est, fixed, instrument_label, number, pct, pval, week_label
from analysis.report.fmt import words as _words


class Cell(NamedTuple):
    html: str  # escaped
    numeric: bool = False
    span: int = 1

    @property
    def safe_html(self) -> SafeString:
        return mark_safe(self.html)  # noqa: S308 - escaped when the cell was made (num, txt)


def num(text: str) -> Cell:
    return Cell(esc(text), True)


def txt(value: Any) -> Cell:
    return Cell(esc(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], *, caption: str, cls: str, note: str = "") -> str:
    """A table (template ``analysis/report/table.html``) in a horizontally scrolling wrapper (phones), its
    title above the wrapper; ``headers``, ``caption`` and ``note`` are plain text."""
    plain = next((row for row in rows if all(cell.span == 1 for cell in row)), None)
    numeric = [bool(plain and i < len(plain) and plain[i].numeric) for i in range(len(headers))]
    context = {"caption": caption, "cls": cls, "head": list(zip(headers, numeric, strict=True)), "rows": rows}
    return render_to_string("analysis/report/table.html", {**context, "note": note}).strip()


def _by_week(rows: Any) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("week")): r for r in rows or [] if isinstance(r, Mapping)}


def mmrm_table(outcome: Mapping[str, Any]) -> str:
    mmrm = outcome.get("mmrm") or {}
    holm = _by_week(outcome.get("holm"))
    headers = ["Visit", "Difference", "95% CI", "SE", "df", "p"] + (["p (Holm)"] if holm else [])
    rows = []
    for v in mmrm.get("visits") or []:
        row = [
            txt(week_label(v.get("week"))),
            num(est(v.get("estimate"))),
            num(ci(v.get("ci_low"), v.get("ci_high"))),
            num(est(v.get("se"))),
            num(dof(v.get("df"))),
            num(pval(v.get("p"))),
        ]
        if holm:
            row.append(num(pval((holm.get(str(v.get("week"))) or {}).get("p_adjusted"))))
        rows.append(row)
    caption = (
        f"Primary analysis: MMRM, adjusted difference {outcome.get('intervention')} minus {outcome.get('control')} "
        f"at each visit ({mmrm.get('method', DASH)}, {mmrm.get('covariance_structure', DASH)} covariance, "
        f"{mmrm.get('df_method', DASH)} df)"
    )
    return table(headers, rows, caption=caption, cls="mmrm")


def lmm_table(outcome: Mapping[str, Any]) -> str:
    lmm = outcome.get("lmm") or {}
    rows = [
        [
            txt(week_label(lmm.get("at_week"))),
            num(est(lmm.get("estimate"))),
            num(ci(lmm.get("ci_low"), lmm.get("ci_high"))),
            num(est(lmm.get("se"))),
            num(pval(lmm.get("p"))),
            num(fixed(lmm.get("slope_difference"), 3)),
        ]
    ]
    caption = f"Secondary: linear mixed model ({lmm.get('model', DASH)}; {lmm.get('method', DASH)})"
    headers = ["Difference at", "Difference", "95% CI", "SE", "p", "Slope difference per week"]
    return table(headers, rows, caption=caption, cls="lmm")


def ancova_table(outcome: Mapping[str, Any]) -> str:
    rows = [
        [
            txt(week_label(a.get("week"))),
            num(count(a.get("n"))),
            num(est(a.get("estimate"))),
            num(ci(a.get("ci_low"), a.get("ci_high"))),
            num(est(a.get("se"))),
            num(dof(a.get("df"))),
            num(pval(a.get("p"))),
        ]
        for a in outcome.get("ancova") or []
    ]
    headers = ["Visit", "n", "Difference", "95% CI", "SE", "df", "p"]
    return table(headers, rows, caption="Secondary: ANCOVA at each visit, complete cases", cls="ancova")


def effect_size_table(outcome: Mapping[str, Any]) -> str:
    rows = [
        [
            txt(week_label(e.get("week"))),
            num(est(e.get("cohens_d"))),
            num(ci(e.get("d_ci_low"), e.get("d_ci_high"))),
            num(est(e.get("hedges_g"))),
            num(ci(e.get("g_ci_low"), e.get("g_ci_high"))),
        ]
        for e in outcome.get("effect_sizes") or []
    ]
    caption = f"Effect sizes: MMRM difference / pooled baseline SD ({est(outcome.get('baseline_sd_pooled'))})"
    return table(["Visit", "Cohen's d", "95% CI", "Hedges' g", "95% CI"], rows, caption=caption, cls="effects")


def within_arm_table(outcome: Mapping[str, Any]) -> str:
    rows = [
        [
            txt(week_label(c.get("week"))),
            txt(c.get("arm")),
            num(count(c.get("n"))),
            num(est(c.get("mean_baseline"))),
            num(est(c.get("mean_follow_up"))),
            num(est(c.get("mean_change"))),
            num(ci(c.get("ci_low"), c.get("ci_high"))),
            num(pct(c.get("percent_reduction"))),
        ]
        for c in outcome.get("within_arm_change") or []
    ]
    headers = ["Visit", "Arm", "n", "Baseline mean", "Follow-up mean", "Change", "95% CI", "Reduction"]
    caption = "Within-arm change from baseline (descriptive only; compare arms with the models above)"
    return table(headers, rows, caption=caption, cls="within")


def _events(events: Any) -> str:
    if not isinstance(events, Mapping) or not events:
        return DASH
    return ", ".join(f"{arm} {count(k)}" for arm, k in events.items())


def responders_table(outcome: Mapping[str, Any]) -> str:
    rows: list[list[Cell]] = []
    for entry in outcome.get("responders") or []:
        for name, fit in entry.items():
            if name == "week" or not isinstance(fit, Mapping):
                continue
            first = [txt(week_label(entry.get("week"))), txt(_words(name).capitalize())]
            if not fit.get("estimable", True):
                reason = f"not estimable: {fit.get('reason') or 'no reason given'}"
                rows.append([*first, num(count(fit.get("n"))), Cell(f'<span class="na">{esc(reason)}</span>', span=5)])
                continue
            rows.append(
                [
                    *first,
                    num(count(fit.get("n"))),
                    txt(_events(fit.get("events_by_arm"))),
                    num(f"{est(fit.get('odds_ratio'))} {ci(fit.get('or_ci_low'), fit.get('or_ci_high'))}"),
                    num(pval(fit.get("p"))),
                    num(f"{est(fit.get('risk_difference'))} {ci(fit.get('rd_ci_low'), fit.get('rd_ci_high'))}"),
                    num(f"{est(fit.get('risk_ratio'))} {ci(fit.get('rr_ci_low'), fit.get('rr_ci_high'))}"),
                ]
            )
    if not rows:
        return '<p class="na">No responder definitions for this instrument.</p>'
    headers = ["Visit", "Outcome", "n", "Events by arm", "Odds ratio [95% CI]", "p", "Risk difference", "Risk ratio"]
    caption = "Responders: logistic regression adjusted for baseline; risk difference and ratio by standardization"
    return table(headers, rows, caption=caption, cls="responders")


def trajectory_table(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    body = [
        [
            txt(week_label(r.get("week"))),
            txt(labels.get(str(r.get("arm")), str(r.get("arm")))),
            num(count(r.get("n"))),
            num(est(r.get("mean"))),
            num(est(r.get("sd"))),
            num(ci(r.get("ci_low"), r.get("ci_high"))),
        ]
        for r in sorted(rows, key=lambda r: (number(r.get("week")) or 0.0, str(r.get("arm"))))
    ]
    headers = ["Visit", "Arm", "n", "Mean", "SD", "95% CI"]
    return table(headers, body, caption="Observed means (everyone with a value at the visit)", cls="observed")


def multiplicity_table(multiplicity: Mapping[str, Any]) -> str:
    def decision(reject: Any) -> str:
        return DASH if reject is None else "yes" if reject else "no"

    rows = [
        [
            txt(week_label(block.get("week"))),
            txt(o.get("name")),
            num(pval(o.get("p"))),
            num(pval(o.get("p_adjusted"))),
            txt(decision(o.get("reject"))),
        ]
        for block in multiplicity.get("by_week") or []
        for o in block.get("outcomes") or []
    ]
    method = str(multiplicity.get("method") or "adjusted")
    alpha = number(multiplicity.get("alpha"))
    caption = f"{method} adjustment: {multiplicity.get('family') or 'the primary outcomes'}"
    headers = ["Visit", "Outcome", "p", f"p ({method})", f"Significant at {alpha:g}" if alpha else "Significant"]
    return table(headers, rows, caption=caption, cls="multiplicity")


def alliance_table(alliance: Mapping[str, Any]) -> str:
    weeks = alliance.get("by_week") or []
    headline = str(alliance.get("headline_scale") or "total")
    scales: list[str] = []
    for w in weeks:
        for name in w.get("scales") or {}:
            if str(name) not in scales and str(name) != headline:
                scales.append(str(name))
    rows = []
    for w in weeks:
        cells = [
            txt(week_label(w.get("week"))),
            num(count(w.get("n"))),
            num(f"{est(w.get('mean'))} ({est(w.get('sd'))})"),
        ]
        for name in scales:
            s = (w.get("scales") or {}).get(name) or {}
            cells.append(num(f"{est(s.get('mean'))} ({est(s.get('sd'))})"))
        rows.append(cells)
    headers = ["Visit", "n", f"{_words(headline).capitalize()}, mean (SD)"]
    headers += [f"{_words(s).capitalize()}, mean (SD)" for s in scales]
    caption = f"Therapeutic alliance ({instrument_label(alliance.get('instrument'))}), arm {alliance.get('arm')}"
    return table(headers, rows, caption=caption, cls="alliance")


def engagement_table(engagement: Mapping[str, Any]) -> str:
    rows = []
    for name, s in (engagement.get("summary") or {}).items():
        s = s or {}
        rows.append(
            [
                txt(_words(name).capitalize()),
                num(est(s.get("mean"))),
                num(est(s.get("sd"))),
                num(est(s.get("median"))),
                num(ci(s.get("q1"), s.get("q3"))),
            ]
        )
    caption = (
        f"Engagement, arm {engagement.get('arm')}: {count(engagement.get('n_used'))} of "
        f"{count(engagement.get('n_allocated'))} allocated used it ({pct(engagement.get('percent_used'))})"
    )
    return table(["Per participant", "Mean", "SD", "Median", "IQR [Q1, Q3]"], rows, caption=caption, cls="engagement")


def adverse_events_table(counts: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Adverse events by arm (pooled when blinded): events, participants with at least one (% of the
    column's participants), serious events, participants with at least one serious event."""
    columns = [str(c) for c in counts.get("columns") or []]
    by = counts.get("counts") or {}

    def share(column: str, key: str) -> str:
        c = by.get(column) or {}
        n, of = c.get(key), c.get("participants")
        return f"{count(n)} ({pct(100 * n / of if of else None)})" if n is not None else DASH

    rows = [
        [txt("Participants"), *(num(count((by.get(c) or {}).get("participants"))) for c in columns)],
        [txt("Adverse events"), *(num(count((by.get(c) or {}).get("events"))) for c in columns)],
        [txt("Participants with ≥ 1 event"), *(num(share(c, "participants_with_event")) for c in columns)],
        [txt("Serious adverse events"), *(num(count((by.get(c) or {}).get("serious_events"))) for c in columns)],
        [
            txt("Participants with ≥ 1 serious event"),
            *(num(share(c, "participants_with_serious_event")) for c in columns),
        ],
    ]
    if counts.get("pooled"):
        caption = "Adverse events, all enrolled participants (pooled over arms: the analysis is blinded)"
    else:
        caption = "Adverse events by arm (Total: all enrolled participants, randomized or not)"
    headers = ["", *(labels.get(c, c) for c in columns)]
    return table(headers, rows, caption=caption, cls="adverse-events")


def _continuous_cells(s: Mapping[str, Any] | None) -> tuple[str, str]:
    """Mean (SD) and median [IQR] to one decimal, as Table 1 is usually printed."""
    s = s or {}
    mean = f"{fixed(s.get('mean'), 1)} ({fixed(s.get('sd'), 1)})" if s.get("n") else DASH
    median = f"{fixed(s.get('median'), 1)} {ci(s.get('q1'), s.get('q3'), 1)}" if s.get("n") else DASH
    return mean, median


def baseline_table(table1: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Table 1: a row per characteristic and level; each column n, mean (SD) and median [IQR], or n (%)."""
    columns = [str(c) for c in table1.get("columns") or []]
    n = table1.get("n") or {}
    rows: list[list[Cell]] = []
    for row in table1.get("rows") or []:
        stats = row.get("stats") or {}
        label = str(row.get("label"))
        if row.get("instrument"):
            label = f"{instrument_label(row['instrument'])} total at baseline"
        if row.get("kind") == "continuous":
            counts = [num(count((stats.get(c) or {}).get("n"))) for c in columns]
            means, medians = zip(*(_continuous_cells(stats.get(c)) for c in columns), strict=True)
            rows.append([txt(f"{label}, n"), *counts])
            rows.append([Cell(f"&ensp;{esc('mean (SD)')}"), *(num(m) for m in means)])
            rows.append([Cell(f"&ensp;{esc('median [IQR]')}"), *(num(m) for m in medians)])
            continue
        rows.append([Cell(esc(label), span=1), *(txt("") for _ in columns)])
        level_names = {str(code): str(name) for code, name in row.get("levels") or []}
        codes = list(level_names)
        for c in columns:
            codes += [k for k in ((stats.get(c) or {}).get("levels") or {}) if k not in codes]
        for code in codes:
            cells = []
            for c in columns:
                entry = ((stats.get(c) or {}).get("levels") or {}).get(code) or {}
                cells.append(num(f"{count(entry.get('n'))} ({pct(entry.get('percent'))})" if entry else DASH))
            rows.append([Cell(f"&ensp;{esc(level_names.get(code, code))}"), *cells])
        missing = [(stats.get(c) or {}).get("missing") or 0 for c in columns]
        if any(missing):
            rows.append([Cell(f"&ensp;{esc('missing')}"), *(num(count(m)) for m in missing)])
    headers = ["Characteristic", *(f"{labels.get(c, c)}, n = {count(n.get(c))}" for c in columns)]
    caption = "Table 1. Baseline characteristics of the randomized participants, by arm and overall"
    note = (
        "Continuous: n, mean (SD) and median [interquartile range]; categories: n (% of those with an answer). "
        "No p-values: baseline differences between randomized arms are chance by construction."
    )
    return table(headers, rows, caption=caption, cls="table1", note=note)


def _hours(s: Mapping[str, Any] | None) -> str:
    s = s or {}
    if not s.get("n"):
        return DASH
    return f"{fixed(s.get('median'), 1)} {ci(s.get('q1'), s.get('q3'), 1)}; max {fixed(s.get('max'), 1)}"


def safety_table(safety: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Safety alerts by arm (pooled when blinded): how many, of which kind, how fast they were handled."""
    columns = [str(c) for c in safety.get("columns") or []]
    by = safety.get("counts") or {}

    def value(column: str, key: str) -> Any:
        return (by.get(column) or {}).get(key)

    def of(column: str, key: str, total_key: str) -> str:
        k, total = value(column, key), value(column, total_key)
        return f"{count(k)} of {count(total)} ({pct(100 * k / total if total else None)})" if total else DASH

    flags = sorted({f for c in columns for f in (value(c, "by_flag") or {})})
    rows = [
        [txt("Alerts raised"), *(num(count(value(c, "alerts"))) for c in columns)],
        [txt("Participants with ≥ 1 alert"), *(num(count(value(c, "participants_with_alert"))) for c in columns)],
        [txt("Urgent alerts"), *(num(count(value(c, "urgent"))) for c in columns)],
        [
            txt("From questionnaires"),
            *(num(count((value(c, "by_source") or {}).get("questionnaire"))) for c in columns),
        ],
        [
            txt("Crisis flags sent by the intervention"),
            *(num(count((value(c, "by_source") or {}).get("chatbot"))) for c in columns),
        ],
        [txt("By signal"), *(txt("") for _ in columns)],
        *(
            [
                Cell(f"&ensp;{esc(_words(flag))}"),
                *(num(count((value(c, "by_flag") or {}).get(flag, 0))) for c in columns),
            ]
            for flag in flags
        ),
        [
            txt("Acknowledged within the protocol's time"),
            *(num(of(c, "acknowledged_within_protocol", "alerts")) for c in columns),
        ],
        [txt("Hours to acknowledge, median [IQR]"), *(num(_hours(value(c, "hours_to_acknowledge"))) for c in columns)],
        [
            txt("Contacted within the protocol's time"),
            *(num(of(c, "contacted_within_protocol", "alerts")) for c in columns),
        ],
        [txt("Hours to contact, median [IQR]"), *(num(_hours(value(c, "hours_to_contact"))) for c in columns)],
        [txt("Escalated (not acknowledged in time)"), *(num(count(value(c, "escalated"))) for c in columns)],
        [txt("Not yet acknowledged"), *(num(count(value(c, "not_acknowledged"))) for c in columns)],
    ]
    hours = safety.get("protocol_hours") or {}
    if safety.get("pooled"):
        caption = "Safety alerts, all participants (pooled over arms: the analysis is blinded)"
    else:
        caption = "Safety alerts by arm (Total: every enrolled participant's alerts)"
    note = (
        f"The protocol's time: acknowledgement within {fixed(hours.get('urgent'), 0)} h for an urgent alert "
        "(PHQ-9 item 9 at its highest, a crisis flag sent by the intervention) and "
        f"{fixed(hours.get('other'), 0)} h for others, "
        "after which the alert escalates. Hours from the alert being raised; medians of those handled."
    )
    headers = ["", *(labels.get(c, c) for c in columns)]
    return table(headers, rows, caption=caption, cls="safety", note=note)


def adherence_table(adherence: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    """Follow-up questionnaires completed of those due, per visit, by arm and in total."""
    arms: list[str] = []
    for row in adherence:
        arms += [str(a) for a in row.get("arms") or {} if str(a) not in arms]

    def cell(c: Mapping[str, Any] | None) -> Cell:
        c = c or {}
        if not c.get("due"):
            return num(f"0 of 0{' (' + count(c.get('pending')) + ' open)' if c.get('pending') else ''}")
        text = f"{count(c.get('completed'))} of {count(c.get('due'))} ({pct(c.get('percent'))})"
        return num(text + (f"; {count(c.get('pending'))} open" if c.get("pending") else ""))

    rows = [
        [txt(week_label(r.get("week"))), *(cell((r.get("arms") or {}).get(a)) for a in arms), cell(r.get("total"))]
        for r in adherence
    ]
    headers = ["Visit", *(labels.get(a, a) for a in arms), "Total"]
    caption = "Follow-up questionnaires completed, of those due (the visit's window has closed)"
    pending = any((r.get("total") or {}).get("pending") for r in adherence)
    note = "Open: the visit's window has not closed yet; not counted as due." if pending else ""
    return table(headers, rows, caption=caption, cls="adherence", note=note)


def kenward_roger_table(outcome: Mapping[str, Any]) -> str:
    """The MMRM differences with Kenward-Roger SEs and df beside the Satterthwaite ones (when computed)."""
    mmrm = outcome.get("mmrm") or {}
    visits = [v for v in mmrm.get("visits") or [] if v.get("se_kr") is not None]
    if not visits:
        return ""
    rows = [
        [
            txt(week_label(v.get("week"))),
            num(est(v.get("estimate"))),
            num(ci(v.get("ci_low_kr"), v.get("ci_high_kr"))),
            num(est(v.get("se_kr"))),
            num(dof(v.get("df_kr"))),
            num(pval(v.get("p_kr"))),
        ]
        for v in visits
    ]
    caption = f"MMRM with Kenward-Roger adjustment ({mmrm.get('kr_method') or 'Kenward-Roger'}): SE and df"
    return table(["Visit", "Difference", "95% CI", "SE (KR)", "df (KR)", "p (KR)"], rows, caption=caption, cls="kr")


def clmm_method(method: Any) -> str:
    """``laplace`` / ``agq<N>`` as a reader names them."""
    text = str(method or "")
    if text == "laplace":
        return "Laplace approximation"
    if text.startswith("agq") and text[3:].isdigit():
        return f"adaptive Gauss-Hermite quadrature, {text[3:]} nodes"
    return text or DASH


def clmm_table(outcome: Mapping[str, Any]) -> str:
    """The cumulative-link mixed model: odds ratio of a higher score per visit, or why it was not fitted."""
    clmm = outcome.get("clmm")
    if not isinstance(clmm, Mapping):
        return ""
    if not clmm.get("visits"):
        reason = clmm.get("reason") or "not fitted"
        return f'<p class="na">Ordinal analysis (cumulative-link mixed model): {esc(reason)}</p>'
    rows = [
        [
            txt(week_label(v.get("week"))),
            num(est(v.get("estimate"))),
            num(est(v.get("se"))),
            num(est(v.get("odds_ratio"))),
            num(ci(v.get("ci_low"), v.get("ci_high"))),
            num(pval(v.get("p"))),
        ]
        for v in clmm.get("visits") or []
    ]
    method = clmm_method(clmm.get("method"))
    caption = (
        f"Secondary: cumulative-link mixed model (logit, flexible thresholds, random intercept; {method}), "
        f"odds of a higher score, {outcome.get('intervention')} vs {outcome.get('control')}"
    )
    headers = ["Visit", "Log odds ratio", "SE", "Odds ratio", "95% CI", "p"]
    note = "" if clmm.get("converged", True) else "The model did not report convergence: interpret with care."
    return table(headers, rows, caption=caption, cls="clmm", note=note)


def sensitivity_tables(outcome: Mapping[str, Any]) -> list[str]:
    """Missing-data sensitivity analyses: MAR multiple imputation, jump to reference, copy reference (per
    visit, beside the MMRM), and the tipping-point grid; or the reason they could not be run."""
    sens = outcome.get("sensitivity")
    if not isinstance(sens, Mapping):
        return []
    if sens.get("error"):
        return [f'<p class="na">Sensitivity analyses for missing data could not be run: {esc(sens["error"])}</p>']
    mmrm = _by_week((outcome.get("mmrm") or {}).get("visits"))
    methods = [
        ("MMRM (primary, MAR)", None),
        ("Multiple imputation, MAR", sens.get("mar_mi")),
        ("Jump to reference", sens.get("j2r")),
        ("Copy reference", sens.get("cr")),
    ]
    rows: list[list[Cell]] = []
    for week in mmrm:
        for name, fit in methods:
            v = mmrm[week] if fit is None else _by_week((fit or {}).get("visits")).get(week) or {}
            rows.append(
                [
                    txt(week_label(week)),
                    txt(name),
                    num(est(v.get("estimate"))),
                    num(ci(v.get("ci_low"), v.get("ci_high"))),
                    num(est(v.get("se"))),
                    num(pval(v.get("p"))),
                ]
            )
    m = (sens.get("mar_mi") or {}).get("m")
    caption = f"Sensitivity to missing data: difference {outcome.get('intervention')} minus {outcome.get('control')}"
    note = (
        f"{count(m)} imputations, pooled by Rubin's rules; reference-based variances by Rubin's rules, which "
        "are conservative for jump to reference and copy reference."
    )
    parts = [
        table(["Visit", "Method", "Difference", "95% CI", "SE", "p"], rows, caption=caption, cls="sens", note=note)
    ]
    tipping = sens.get("tipping_point")
    if isinstance(tipping, Mapping) and tipping.get("grid"):
        grid = [
            [
                num(fixed(g.get("delta"), 2)),
                num(est(g.get("estimate"))),
                num(ci(g.get("ci_low"), g.get("ci_high"))),
                num(pval(g.get("p"))),
            ]
            for g in tipping.get("grid") or []
        ]
        delta = tipping.get("tipping_delta")
        found = (
            f"the conclusion changes at delta = {fixed(delta, 2)}"
            if number(delta) is not None
            else "the conclusion does not change over the grid"
        )
        caption = (
            f"Tipping point at {week_label(tipping.get('week'))}: delta added to the imputed values of "
            f"{outcome.get('intervention')}'s {count(tipping.get('n_imputed_intervention'))} missing outcomes; {found}"
        )
        parts.append(table(["Delta", "Difference", "95% CI", "p"], grid, caption=caption, cls="tipping"))
    return parts
