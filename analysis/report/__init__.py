"""The analysis report: one self-contained HTML document (inline CSS and SVG; no JavaScript, fonts, images or
links to anything outside the file) that prints well and reads on a phone.

:func:`render_report` takes the dict the ``analyze`` command assembles (see its docstring) and returns the
document. Every string that comes from the data is escaped; numbers go through ``analysis.report.fmt``
(estimates to 2 decimals, p as ``<0.001`` or 3 decimals, CIs as ``[low, high]``, missing as a dash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.template.loader import render_to_string, select_template
from django.utils.safestring import mark_safe

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

__all__ = ["content_security_policy", "policy_for", "render_report", "stylesheet"]


def content_security_policy(css: str) -> str:
    """What the report may use when a browser shows it from this server: its own style sheet (by its hash)
    and nothing else (SVG is inline markup, not a load)."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def policy_for(head: str) -> str:
    """The policy for a report file, from the style sheet it carries (``head``: the file's start)."""
    match = _STYLE.search(head)
    return content_security_policy(match.group(1) if match else "")


def stylesheet() -> str:
    return render_to_string("analysis/report/report.css").strip() + "\n"


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


def _section(
    name: str,
    heading: str,
    *,
    anchor: str | None = None,
    parts: Sequence[str] = (),
    paragraphs: Sequence[str] = (),
    **extra: Any,
) -> str:
    """One section, from ``analysis/report/sections/<name>.html`` if a project provides it, else the generic
    ``analysis/report/section.html``. ``parts`` are HTML already escaped (tables, figures); ``paragraphs``
    and ``heading`` are plain text."""
    template = select_template([f"analysis/report/sections/{name}.html", "analysis/report/section.html"])
    context = {
        "anchor": anchor or name,
        "heading": heading,
        "parts": [mark_safe(p) for p in parts if p],  # noqa: S308 - built escaped by tables/plots
        "paragraphs": [p for p in paragraphs if p],
        **extra,
    }
    return str(template.render(context))


def _session(report: Mapping[str, Any]) -> str | None:
    """A trial's blinded report is the DSMB's open-session report, its unblinded one the closed-session
    report; a report of a file is neither."""
    if not report.get("trial") or report.get("blinded") is None:
        return None
    return "open" if report.get("blinded") else "closed"


def _contents(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    links = []
    if report.get("consort"):
        links.append(("consort", "CONSORT flow diagram"))
    if isinstance(report.get("baseline_characteristics"), Mapping):
        links.append(("baseline", "Baseline characteristics"))
    if _good(report.get("outcomes") or []):
        links.append(("effects", "Effects across outcomes"))
    for i, o in enumerate(report.get("outcomes") or [], start=1):
        links.append((f"outcome-{i}", str(o.get("name") or f"Outcome {i}")))
    if report.get("alliance"):
        links.append(("alliance", "Therapeutic alliance"))
    if report.get("adherence") or report.get("engagement"):
        links.append(("adherence", "Adherence and engagement"))
    if isinstance(report.get("safety"), Mapping) or report.get("adverse_events"):
        links.append(("safety", "Safety"))
    links.append(("methods", "Methods"))
    links.append(("provenance", "Provenance"))
    return links


def _scroll(name: str) -> str:
    """A sideways-scrolling box keyboard users can reach (WCAG 2.1.1; axe: scrollable-region-focusable)."""
    return f'<div class="scroll" tabindex="0" role="region" aria-label="{esc(name)} (scrolls sideways)">'


def _consort(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    consort = report.get("consort")
    if not consort:
        return ""
    instrument = instrument_label(consort.get("instrument"))
    caption = (
        "Participant flow, counted from the database. Analysed: randomized participants with a baseline and at "
        f"least one post-baseline {instrument} value (the MMRM population)."
    )
    figure = (
        '<figure><p class="hint">Scroll sideways to see every arm.</p>'
        f"{_scroll('CONSORT flow diagram')}"
        f"{consort_diagram(consort, arm_labels=labels)}</div><figcaption>{esc(caption)}</figcaption></figure>"
    )
    return _section("consort", "CONSORT flow diagram", parts=[figure])


def _baseline(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    table1 = report.get("baseline_characteristics")
    if not isinstance(table1, Mapping):
        return ""
    return _section("baseline", "Baseline characteristics", parts=[tables.baseline_table(table1, labels)])


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
    figure = (
        '<figure><p class="hint">Scroll sideways to see the estimates.</p>'
        f"{_scroll('Forest plot')}"
        f"{plot}</div><figcaption>{esc(caption)}</figcaption></figure>"
    )
    return _section("effects", "Effects across outcomes", parts=[figure, multi])


def _outcome(i: int, o: Mapping[str, Any], styles: Any, labels: Mapping[str, str]) -> str:
    name = str(o.get("name") or f"Outcome {i}")
    parts: list[str] = []
    sub = [f"{scale_label(o.get('instrument'), o.get('scale'))}"]
    subgroup = o.get("subgroup")
    if isinstance(subgroup, Mapping):
        sub.append(f"subgroup: {subgroup.get('factor')} = {subgroup.get('level')}")
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
            tables.kenward_roger_table(o),
            tables.effect_size_table(o),
            tables.lmm_table(o),
            tables.ancova_table(o),
            tables.within_arm_table(o),
            tables.clmm_table(o),
            "<h3>Responders</h3>",
            tables.responders_table(o),
        ]
        sensitivity = tables.sensitivity_tables(o)
        if sensitivity:
            parts += ["<h3>Sensitivity to missing data</h3>", *sensitivity]
    if trajectories:
        parts.append(tables.trajectory_table(trajectories, labels))
    return _section(
        "outcome",
        name,
        anchor=f"outcome-{i}",
        parts=parts,
        cls="outcome",
        tag="primary" if o.get("primary") else "",
        sub="; ".join(sub),
    )


def _alliance(report: Mapping[str, Any]) -> str:
    alliance = report.get("alliance")
    if not isinstance(alliance, Mapping):
        return ""
    return _section(
        "alliance",
        "Therapeutic alliance",
        parts=[tables.alliance_table(alliance)],
        paragraphs=["Descriptive: means and SDs of those who answered, in the one arm that was asked."],
    )


def _adherence(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    adherence = report.get("adherence")
    engagement = report.get("engagement")
    parts = []
    if adherence:
        parts.append(tables.adherence_table(adherence, labels))
    if isinstance(engagement, Mapping):
        parts.append(tables.engagement_table(engagement))
    if not parts:
        return ""
    paragraphs = []
    if report.get("blinded") and not isinstance(engagement, Mapping):
        paragraphs.append(
            "Use of the intervention is left out of a blinded report: only one arm has any, so it would tell "
            "which letter is which arm."
        )
    return _section("adherence", "Adherence and engagement", parts=parts, paragraphs=paragraphs)


def _safety(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    safety = report.get("safety")
    counts = report.get("adverse_events")
    parts = []
    if isinstance(safety, Mapping):
        parts.append(tables.safety_table(safety, labels))
    if isinstance(counts, Mapping):
        parts.append(tables.adverse_events_table(counts, labels))
    if not parts:
        return ""
    paragraphs = [
        "Alerts: every risk signal the platform raised (a PHQ-9 item 9 answer above zero, an unanswered item 9, "
        "a crisis flag sent by the intervention) reaches the trial's safety clinicians at once. Adverse events: "
        "as recorded by the trial's clinicians; serious: meeting any seriousness criterion (death, life-threatening, "
        "hospitalisation, disability, congenital anomaly, other important medical event)."
    ]
    return _section("safety", "Safety", parts=parts, paragraphs=paragraphs)


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
        fell_back = [
            f"{o.get('name')} ({(o.get('mmrm') or {}).get('covariance_structure')})"
            for o in outcomes
            if len((o.get("mmrm") or {}).get("covariance_fallback") or []) > 1
        ]
        paragraphs.append(
            "Covariance: unstructured first; if it did not converge, the first of heterogeneous Toeplitz, "
            "heterogeneous AR(1), heterogeneous compound symmetry, Toeplitz, AR(1) and compound symmetry that "
            "did (a fallback order fixed before the data were seen). "
            + (
                f"The fallback was used for {_join(fell_back)}."
                if fell_back
                else "Every outcome's unstructured covariance converged."
            )
            + (
                " Kenward-Roger standard errors and degrees of freedom are shown beside the Satterthwaite ones."
                if any((m.get("visits") or [{}])[0].get("se_kr") is not None for m in mmrm if m.get("visits"))
                else ""
            )
        )
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
        if any((o.get("clmm") or {}).get("visits") for o in outcomes):
            paragraphs.append(
                "Ordinal analysis (as the reference trial's authors analysed it): a cumulative-link mixed model of "
                "the post-baseline scores as ordered categories (the observed levels), logit link, flexible "
                "thresholds, a random intercept per participant, with the same fixed effects as the MMRM; "
                "reported as the odds ratio of a higher score at each visit. It is fitted to whole-number totals "
                "with at most 50 levels."
            )
        if any(isinstance(o.get("sensitivity"), Mapping) and not o["sensitivity"].get("error") for o in outcomes):
            paragraphs.append(
                "Sensitivity to missing data (ICH E9(R1)): multiple imputation under missing at random from a "
                "multivariate normal model with the MMRM's assumptions; jump to reference and copy reference, "
                "in which the compared arm's participants with missing values follow the reference arm (a "
                "treatment-policy estimand); each completed data set analysed by ANCOVA at each visit and pooled "
                "by Rubin's rules (conservative for the reference-based methods); and a tipping-point analysis "
                "that shifts the compared arm's imputed values at the last visit until the conclusion changes."
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
    return _section("methods", "Methods", paragraphs=paragraphs, cls="methods")


def render_report(report: Mapping[str, Any]) -> str:
    """The whole report as one HTML document (see the module docstring; input shape in analyze's docs),
    rendered from the templates in ``analysis/templates/analysis/report/``."""
    arms = _arm_order(report)
    styles = arm_styles(arms)
    labels = _arm_labels(report, arms)
    outcomes = report.get("outcomes") or []
    sections = [
        _consort(report, labels),
        _baseline(report, labels),
        _effects(report),
        *(_outcome(i, o, styles, labels) for i, o in enumerate(outcomes, start=1)),
        _alliance(report),
        _adherence(report, labels),
        _safety(report, labels),
        _methods(report),
    ]
    context = {
        "language": "en",
        "title": report.get("title") or "Analysis report",
        "css": mark_safe(stylesheet()),  # noqa: S308 - the project's own template, not data
        "session": _session(report),
        "trial": report.get("trial"),
        "generated_at": report.get("generated_at"),
        "input": report.get("input") or {},
        "software": report.get("software") or {},
        "blinded": report.get("blinded"),
        "contrast": report.get("contrast"),
        "contents": _contents(report),
        "sections": [mark_safe(s) for s in sections if s],  # noqa: S308 - sections are rendered templates
    }
    return render_to_string("analysis/report/report.html", context)
