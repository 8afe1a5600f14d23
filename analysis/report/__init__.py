"""The analysis report: one self-contained HTML document (inline CSS and SVG; no JavaScript, fonts, images or
links to anything outside the file) that prints well and reads on a phone.

:func:`render_report` takes the dict the ``analyze`` command assembles (see its docstring) and returns the
document. Every string that comes from the data is escaped; numbers go through ``analysis.report.fmt``
(estimates to 2 decimals, p as ``<0.001`` or 3 decimals, CIs as ``[low, high]``, missing as a dash).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from analysis.report import tables
from analysis.report.consort import consort_diagram
from analysis.report.fmt import (
    LOWER_IS_BETTER,
    count,
    esc,
    instrument_label,
    number,
    scale_label,
)
from analysis.report.plots import ForestRow, arm_styles, forest_plot, has_means, trajectory_plot
from analysis.stats.effects import THRESHOLDS

__all__ = ["CONTENT_SECURITY_POLICY", "render_report"]

CSS = """
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --rule: #d0d4da; --band: #f2f4f7; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45; font-size: 16px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.2; margin: 0 0 .75rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-top: .6rem; border-top: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p { margin: .5rem 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1rem; }
dl.meta dt { font-weight: 600; color: var(--muted); }
dl.meta dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.notice { border-left: 6px solid #b45309; background: #fff7ed; padding: .6rem .9rem; margin: 1rem 0;
  font-weight: 600; }
.notice.unblinded { border-color: #1d4ed8; background: #eff6ff; }
.error { border-left: 6px solid #b91c1c; background: #fef2f2; padding: .6rem .9rem; }
.warning { border-left: 6px solid #b45309; background: #fffbeb; padding: .4rem .8rem; }
.tag { display: inline-block; font-size: .75rem; font-weight: 700; letter-spacing: .03em; text-transform: uppercase;
  border: 1px solid currentColor; border-radius: 3px; padding: 0 .35rem; margin-left: .4rem; vertical-align: middle;
  color: #1d4ed8; }
.sub { color: var(--muted); margin-top: -.3rem; }
nav ol { margin: .3rem 0 0; padding-left: 1.4rem; columns: 2 16rem; }
nav a { color: #1d4ed8; }
figure { margin: 1rem 0; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
svg { display: block; width: 100%; height: auto; }
svg.trajectory { max-width: 34rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
.scroll svg.consort { min-width: 36rem; }
.scroll svg.forest { min-width: 32rem; max-width: 44rem; }
.table-block { margin: 1rem 0 1.2rem; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .9rem; }
p.caption { font-weight: 600; margin: 0 0 .35rem; }
.hint { display: none; color: var(--muted); font-size: .85rem; margin: .2rem 0; }
th, td { padding: .3rem .55rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--rule); font-weight: 600; }
tbody th { font-weight: 500; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.na { color: var(--muted); font-style: italic; white-space: normal; }
.methods p { max-width: 46rem; }
@media (max-width: 40rem) {
  body { font-size: 15px; }
  main { padding: .8rem .7rem 2rem; }
  h1 { font-size: 1.35rem; }
  dl.meta { grid-template-columns: 1fr; }
  dl.meta dd { margin-bottom: .3rem; }
  th, td { padding: .25rem .4rem; }
  .hint { display: block; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  .scroll, .table-wrap { overflow: visible; }
  .scroll svg.consort, .scroll svg.forest { min-width: 0; }
  .hint { display: none; }
  figure, .table-block, .notice, .error { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  section.outcome { break-before: page; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

# What the report may use when a browser shows it from this server: its own style sheet (by its hash)
# and nothing else (SVG is inline markup, not a load).
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _join(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _distinct(values: Any) -> list[str]:
    out: list[str] = []
    for value in values:
        if value is not None and str(value) not in out:
            out.append(str(value))
    return out


def _good(outcomes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in outcomes if not o.get("error")]


def _arm_order(report: Mapping[str, Any]) -> list[str]:
    """Every arm named anywhere, control(s) first, so an arm keeps its colour and marker in every plot."""
    arms: list[str] = []
    outcomes = report.get("outcomes") or []
    for o in outcomes:
        arms += _distinct([o.get("control"), o.get("intervention")])
        arms += _distinct(r.get("arm") for r in o.get("trajectories") or [])
    consort = report.get("consort") or {}
    arms += _distinct(consort.get("allocation") or {})
    return _distinct(arms)


def _arm_labels(report: Mapping[str, Any], arms: Sequence[str]) -> dict[str, str]:
    blinded = bool(report.get("blinded"))
    roles: dict[str, str] = {}
    for o in _good(report.get("outcomes") or []):
        if o.get("control") is not None:
            roles.setdefault(str(o["control"]), "reference arm" if blinded else "control")
        if o.get("intervention") is not None:
            roles.setdefault(str(o["intervention"]), "compared arm" if blinded else "intervention")
    return {a: f"{a} ({roles[a]})" if a in roles else a for a in arms}


# -------------------------------------------------------------------------------------------------- sections


def _header(report: Mapping[str, Any]) -> str:
    data = report.get("input") or {}
    rows = [
        ("Trial", esc(report.get("trial") or "\u2014 (from a file)")),
        ("Generated", f'<time datetime="{esc(report.get("generated_at"))}">{esc(report.get("generated_at"))}</time>'),
        ("Input file", f"<code>{esc(data.get('file'))}</code>"),
        ("SHA-256", f"<code>{esc(data.get('sha256'))}</code>"),
    ]
    meta = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    contrast = f" Differences are {report['contrast']}." if report.get("contrast") else ""
    if report.get("blinded"):
        notice = (
            '<p class="notice" role="note">Blinded analysis: the arms are shown as coded labels (A / B), and '
            f"which arm received the intervention is not revealed in this report.{esc(contrast)}</p>"
        )
    elif report.get("blinded") is False:
        notice = (
            f'<p class="notice unblinded" role="note">Unblinded analysis: arms are shown by name.{esc(contrast)}</p>'
        )
    else:
        notice = f'<p class="notice unblinded" role="note">Arms as labelled in the input file.{esc(contrast)}</p>'
    return (
        f"<header><h1>{esc(report.get('title') or 'Analysis report')}</h1><dl class='meta'>{meta}</dl>{notice}</header>"
    )


def _nav(report: Mapping[str, Any]) -> str:
    links = []
    if report.get("consort"):
        links.append(("consort", "CONSORT flow diagram"))
    if _good(report.get("outcomes") or []):
        links.append(("effects", "Effects across outcomes"))
    for i, o in enumerate(report.get("outcomes") or [], start=1):
        links.append((f"outcome-{i}", str(o.get("name") or f"Outcome {i}")))
    if report.get("alliance"):
        links.append(("alliance", "Therapeutic alliance"))
    if report.get("engagement"):
        links.append(("engagement", "Engagement"))
    if report.get("adverse_events"):
        links.append(("adverse-events", "Adverse events"))
    links.append(("methods", "Methods"))
    items = "".join(f'<li><a href="#{anchor}">{esc(text)}</a></li>' for anchor, text in links)
    return f'<nav aria-label="Contents"><strong>Contents</strong><ol>{items}</ol></nav>'


def _consort(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    consort = report.get("consort")
    if not consort:
        return ""
    instrument = instrument_label(consort.get("instrument"))
    caption = (
        "Participant flow, counted from the database. Analysed: randomized participants with a baseline and at "
        f"least one post-baseline {instrument} value (the MMRM population)."
    )
    return (
        '<section id="consort"><h2>CONSORT flow diagram</h2><figure>'
        '<p class="hint">Scroll sideways to see every arm.</p><div class="scroll">'
        f"{consort_diagram(consort, arm_labels=labels)}</div><figcaption>{esc(caption)}</figcaption></figure></section>"
    )


def _pair(outcomes: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    pairs = {(str(o.get("intervention")), str(o.get("control"))) for o in outcomes}
    return next(iter(pairs)) if len(pairs) == 1 else None


def _effects(report: Mapping[str, Any]) -> str:
    outcomes = _good(report.get("outcomes") or [])
    if not outcomes:
        return ""
    rows = []
    for o in outcomes:
        sizes = {str(e.get("week")): e for e in o.get("effect_sizes") or []}
        for v in (o.get("mmrm") or {}).get("visits") or []:
            e = sizes.get(str(v.get("week"))) or {}
            rows.append(
                ForestRow(
                    group=str(o.get("name")),
                    week=v.get("week"),
                    estimate=number(e.get("cohens_d")),
                    low=number(e.get("d_ci_low")),
                    high=number(e.get("d_ci_high")),
                    primary=bool(o.get("primary")),
                )
            )
    if not rows:
        return ""
    pair = _pair(outcomes)
    treated, reference = pair if pair else ("the compared arm", "the reference arm")
    instruments = _distinct(o.get("instrument") for o in outcomes)
    symptom = all(i in LOWER_IS_BETTER for i in instruments)
    if symptom:
        left, right = f"favours {treated}", f"favours {reference}"
        direction = (
            f"All outcomes here are symptom scales ({_join([instrument_label(i) for i in instruments])}), on "
            "which lower scores are better, so an effect left of zero favours "
            f"{treated}."
        )
    else:
        left, right = f"lower in {treated}", f"higher in {treated}"
        other = [instrument_label(i) for i in instruments if i not in LOWER_IS_BETTER]
        direction = (
            "Lower scores are better on symptom scales; for "
            f"{_join(other)} check the scale's direction before reading a side as favourable."
        )
    caption = (
        f"Standardized MMRM differences ({treated} minus {reference}) with 95% CIs, per outcome and visit; "
        f"primary outcomes in blue. Negative values: lower scores in {treated}. {direction}"
    )
    plot = forest_plot(
        rows,
        left_label=left,
        right_label=right,
        axis_label="Cohen's d = MMRM difference / pooled baseline SD",
        value_header="d [95% CI]",
        title="Forest plot of standardized MMRM differences by outcome and visit",
    )
    multiplicity = report.get("multiplicity")
    multi = (
        f"<h3>Multiplicity</h3>{tables.multiplicity_table(multiplicity)}" if isinstance(multiplicity, Mapping) else ""
    )
    return (
        '<section id="effects"><h2>Effects across outcomes</h2><figure><p class="hint">Scroll sideways to see '
        f'the estimates.</p><div class="scroll">{plot}</div>'
        f"<figcaption>{esc(caption)}</figcaption></figure>{multi}</section>"
    )


def _outcome(i: int, o: Mapping[str, Any], styles: Any, labels: Mapping[str, str]) -> str:
    name = str(o.get("name") or f"Outcome {i}")
    parts = [f'<section id="outcome-{i}" class="outcome"><h2>{esc(name)}']
    if o.get("primary"):
        parts.append('<span class="tag">primary</span>')
    parts.append("</h2>")
    sub = [f"{scale_label(o.get('instrument'), o.get('scale'))}"]
    subgroup = o.get("subgroup")
    if isinstance(subgroup, Mapping):
        sub.append(f"subgroup: {subgroup.get('factor')} = {subgroup.get('level')}")
    parts.append(f'<p class="sub">{esc("; ".join(sub))}</p>')
    trajectories = o.get("trajectories") or []
    if o.get("error"):
        parts.append(f'<p class="error" role="alert">{esc(o["error"])}</p>')
    else:
        covariates = o.get("covariates") or []
        population = (
            f"{count(o.get('n_participants'))} randomized participants in the data, "
            f"{count(o.get('n_excluded_no_baseline'))} without a baseline value (not in the models); "
            f"{count(o.get('n_observations'))} post-baseline observations. Differences are "
            f"{o.get('intervention')} minus {o.get('control')}, adjusted for baseline"
            + (f" and {_join([str(c) for c in covariates])}" if covariates else "")
            + "."
        )
        parts.append(f"<p>{esc(population)}</p>")
        for model in ("mmrm", "lmm"):
            fit = o.get(model) or {}
            if fit.get("converged") is False:
                parts.append(f'<p class="warning">The {model.upper()} fit did not converge: interpret with care.</p>')
    if has_means(trajectories):
        arms = [a for a in styles if any(r.get("arm") == a for r in trajectories)]
        y_label = f"{scale_label(o.get('instrument'), o.get('scale'))}: mean (95% CI)"
        plot = trajectory_plot(
            trajectories,
            arms=arms,
            labels=labels,
            styles=styles,
            y_label=y_label,
            title=f"{name}: observed mean by week and arm with 95% confidence intervals",
        )
        parts.append(
            f"<figure>{plot}<figcaption>Observed means by week with t-based 95% CIs (everyone with a value at "
            "the visit; no model, no imputation). Arms are offset slightly in time so their bars do not overlap."
            "</figcaption></figure>"
        )
    if not o.get("error"):
        parts += [
            tables.mmrm_table(o),
            tables.effect_size_table(o),
            tables.lmm_table(o),
            tables.ancova_table(o),
            tables.within_arm_table(o),
            "<h3>Responders</h3>",
            tables.responders_table(o),
        ]
    if trajectories:
        parts.append(tables.trajectory_table(trajectories, labels))
    parts.append("</section>")
    return "".join(parts)


def _alliance(report: Mapping[str, Any]) -> str:
    alliance = report.get("alliance")
    if not isinstance(alliance, Mapping):
        return ""
    return (
        f'<section id="alliance"><h2>Therapeutic alliance</h2>{tables.alliance_table(alliance)}'
        "<p>Descriptive: means and SDs of those who answered, in the one arm that was asked.</p></section>"
    )


def _engagement(report: Mapping[str, Any]) -> str:
    engagement = report.get("engagement")
    if not isinstance(engagement, Mapping):
        return ""
    return f'<section id="engagement"><h2>Engagement</h2>{tables.engagement_table(engagement)}</section>'


def _adverse_events(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    counts = report.get("adverse_events")
    if not isinstance(counts, Mapping):
        return ""
    return (
        f'<section id="adverse-events"><h2>Adverse events</h2>{tables.adverse_events_table(counts, labels)}'
        "<p>As recorded by the trial's clinicians. Serious: meeting any seriousness criterion (death, "
        "life-threatening, hospitalisation, disability, congenital anomaly, other important medical event).</p>"
        "</section>"
    )


def _thresholds(instruments: Sequence[str]) -> str:
    parts = []
    for code in instruments:
        t = THRESHOLDS.get(code)
        if not t:
            continue
        parts.append(
            f"{instrument_label(code)}: response a reduction of at least {100 * t['response_fraction']:g}% from "
            f"baseline, remission a score below {t['remission']:g}, reliable improvement a reduction of at "
            f"least {t['reliable_improvement']:g} points"
        )
    return "; ".join(parts)


def _methods(report: Mapping[str, Any]) -> str:
    outcomes = _good(report.get("outcomes") or [])
    paragraphs: list[str] = []
    if outcomes:
        mmrm = [o.get("mmrm") or {} for o in outcomes]
        covariates = _distinct(c for o in outcomes for c in o.get("covariates") or [])
        pair = _pair(outcomes)
        difference = f"{pair[0]} minus {pair[1]}" if pair else "the compared arm minus the reference arm"
        paragraphs.append(
            "The primary analysis of each outcome is a mixed model for repeated measures (MMRM) of the "
            "post-baseline scores, with the baseline score, arm, visit (categorical) and arm-by-visit interaction"
            + (f" and {_join(covariates)}" if covariates else "")
            + f" as fixed effects, {_join(_distinct(m.get('covariance_structure') for m in mmrm))} covariance "
            f"across visits, estimated by {_join(_distinct(m.get('method') for m in mmrm))} with "
            f"{_join(_distinct(m.get('df_method') for m in mmrm))} degrees of freedom. It uses every randomized "
            "participant with a baseline and at least one post-baseline value and is valid when data are missing "
            f"at random. The treatment effect is the adjusted difference in means ({difference}) at each visit, "
            "with its 95% confidence interval."
        )
        failed = [str(o.get("name")) for o in outcomes if (o.get("mmrm") or {}).get("converged") is False]
        if failed:
            paragraphs.append(f"The MMRM did not report convergence for {_join(failed)}.")
        lmm = [o.get("lmm") or {} for o in outcomes]
        ns = [a.get("n") for o in outcomes for a in o.get("ancova") or [] if number(a.get("n")) is not None]
        n_range = f" (n = {count(min(ns))} to {count(max(ns))} per visit)" if ns else ""
        adjusted = f" and {_join(covariates)}" if covariates else ""
        paragraphs.append(
            f"Secondary analyses: a linear mixed model ({_join(_distinct(m.get('model') for m in lmm))}), estimated "
            f"by {_join(_distinct(m.get('method') for m in lmm))}, with the arm difference reported at week "
            f"{_join(_distinct(m.get('at_week') for m in lmm))}; and an analysis of covariance at each visit on "
            f"complete cases{n_range}, adjusted for baseline{adjusted}. Cohen's d is the MMRM difference divided "
            "by the pooled baseline SD, Hedges' g the same with the small-sample correction; their intervals are "
            "the difference's divided by that SD. Within-arm change and percent reduction are descriptive only."
        )
        thresholds = _thresholds(_distinct(o.get("instrument") for o in outcomes if o.get("responders")))
        if thresholds:
            paragraphs.append(
                f"Binary outcomes ({thresholds}) were analysed by logistic regression adjusted for baseline, "
                "reported as odds ratios and as marginal risk differences and risk ratios by standardization, on "
                "complete cases."
            )
    multiplicity = report.get("multiplicity")
    if isinstance(multiplicity, Mapping):
        alpha = number(multiplicity.get("alpha"))
        paragraphs.append(
            f"Multiplicity: {multiplicity.get('method') or 'adjusted'} adjustment of the p-values "
            f"({multiplicity.get('family') or 'primary outcomes'})"
            + (f"; an adjusted p at or below {alpha:g} counts as significant." if alpha else ".")
        )
    paragraphs.append(
        "The trajectory plots show observed means with t-based 95% confidence intervals, without a model or "
        "imputation. Numbers: estimates to 2 decimals; p-values to 3 decimals or as <0.001; a dash marks a value "
        "that could not be computed."
    )
    if report.get("blinded"):
        paragraphs.append("The analysis was run on blinded data: arms carry coded labels.")
    body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    return f'<section id="methods" class="methods"><h2>Methods</h2>{body}</section>'


def render_report(report: Mapping[str, Any]) -> str:
    """The whole report as one HTML document (see the module docstring; input shape in analyze's docs)."""
    arms = _arm_order(report)
    styles = arm_styles(arms)
    labels = _arm_labels(report, arms)
    outcomes = report.get("outcomes") or []
    body = [
        _header(report),
        _nav(report),
        _consort(report, labels),
        _effects(report),
        *(_outcome(i, o, styles, labels) for i, o in enumerate(outcomes, start=1)),
        _alliance(report),
        _engagement(report),
        _adverse_events(report, labels),
        _methods(report),
    ]
    title = esc(report.get("title") or "Analysis report")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" />'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />'
        f"<title>{title}</title><style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n"
    )
