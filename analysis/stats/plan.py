"""The statistical analysis plan of a trial, run on a dataset in the long layout: several outcomes, each in
every randomized participant or in a subgroup, Holm across the primary ones, and the summaries that are
descriptive only (therapeutic alliance, engagement). Pure pandas, no ORM: ``analyze --from-csv`` runs the
same code on another trial's file as ``analyze --trial`` on ours.

The Therabot-style subgroup analysis: each condition's outcome in the participants screened for that
condition (MDD: PHQ-9, GAD: GAD-Q-IV, CHR-FED: the eating-disorder scale). The subgroup is a column of the
long file (a stratification factor such as ``condition``); inside a subgroup that factor is constant, so it
drops out of the covariates, as does any covariate with a single level there.

Multiplicity: the primary outcomes form one family per visit, adjusted by Holm on the MMRM p-values of that
visit (at each visit, the familywise error over the condition-specific outcomes is controlled).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from analysis.stats import effects
from analysis.stats.descriptive import trajectories
from analysis.stats.mmrm import MMRMConvergenceError
from analysis.stats.primary import AnalysisInputError, analyze, model_frame, pick_control

ALPHA = 0.05
ENGAGEMENT_MEASURES = ("sessions", "participant_messages", "hours", "active_days")


@dataclass(frozen=True)
class OutcomeSpec:
    code: str
    name: str
    instrument: str
    scale: str = "total"
    primary: bool = False
    subgroup_factor: str | None = None
    subgroup_level: str | None = None

    def subgroup(self) -> dict[str, str] | None:
        if not self.subgroup_factor:
            return None
        return {"factor": self.subgroup_factor, "level": str(self.subgroup_level)}


_SPEC = re.compile(
    r"^(?P<instrument>[a-z][a-z0-9_]*)(\.(?P<scale>[a-z][a-z0-9_]*))?(@(?P<factor>[^=]+)=(?P<level>.+))?$"
)


def parse_outcomes(text: str) -> list[OutcomeSpec]:
    """``phq9@condition=MDD,gadq4@condition=GAD,wcs@condition=CHR-FED``: instrument, optional ``.scale``,
    optional ``@factor=level`` subgroup. Outcomes named this way are all primary (the Holm family)."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _SPEC.match(part)
        if match is None:
            raise AnalysisInputError(
                f"--outcomes: {part!r} is not instrument[.scale][@factor=level] (e.g. phq9@condition=MDD)."
            )
        instrument, scale = match["instrument"], match["scale"] or "total"
        factor, level = match["factor"], match["level"]
        where = f" in {factor}={level}" if factor else ""
        code = f"{instrument}_{scale}" + (f"_{level}" if level else "")
        specs.append(
            OutcomeSpec(
                code=code,
                name=f"{instrument} {scale}{where}",
                instrument=instrument,
                scale=scale,
                primary=True,
                subgroup_factor=factor.strip() if factor else None,
                subgroup_level=level.strip() if level else None,
            )
        )
    if not specs:
        raise AnalysisInputError("--outcomes names no outcome.")
    if len({s.code for s in specs}) != len(specs):
        raise AnalysisInputError("--outcomes names the same outcome twice.")
    return specs


def _subset(long: pd.DataFrame, spec: OutcomeSpec) -> pd.DataFrame:
    if not spec.subgroup_factor:
        return long
    if spec.subgroup_factor not in long.columns:
        raise AnalysisInputError(f"Subgroup factor {spec.subgroup_factor!r} is not a column of the data.")
    return long[long[spec.subgroup_factor].astype(str) == str(spec.subgroup_level)]


def _covariates_within(rows: pd.DataFrame, spec: OutcomeSpec, covariates: Sequence[str]) -> list[str]:
    """The covariates that vary inside the outcome's data (a subgroup's own factor is constant there)."""
    kept = []
    for name in covariates:
        if name == spec.subgroup_factor:
            continue
        if name in rows.columns and rows[name].astype(str).nunique() < 2:
            continue
        kept.append(name)
    return kept


def analyze_outcome(
    long: pd.DataFrame, spec: OutcomeSpec, *, control: str, covariates: Sequence[str] = ()
) -> dict[str, Any]:
    """One outcome: the models of :func:`analysis.stats.primary.analyze`, its mean trajectories, and the
    covariates actually used. An outcome that cannot be analysed gets ``error`` (the reason) instead."""
    head: dict[str, Any] = {
        "code": spec.code,
        "name": spec.name,
        "instrument": spec.instrument,
        "scale": spec.scale,
        "primary": spec.primary,
        "subgroup": spec.subgroup(),
    }
    try:
        rows = _subset(long, spec)
        used = _covariates_within(rows, spec, covariates)
        frame = model_frame(rows, instrument=spec.instrument, scale=spec.scale, control=control, covariates=used)
        result = analyze(frame)
    except (AnalysisInputError, MMRMConvergenceError, ValueError) as exc:
        return {**head, "error": str(exc), "trajectories": []}
    try:
        trajectory = trajectories(rows, instrument=spec.instrument, scale=spec.scale)
    except ValueError:
        trajectory = []
    return {**head, "error": None, **result, "trajectories": trajectory}


def holm_by_visit(outcomes: list[dict[str, Any]], alpha: float = ALPHA) -> dict[str, Any] | None:
    """Holm across the primary outcomes, separately at each visit, on the MMRM p-values. Adds ``holm`` to
    each primary outcome; returns the table for the report (None when fewer than two primary outcomes)."""
    primary = [o for o in outcomes if o["primary"]]
    if len(primary) < 2:
        return None
    weeks = sorted({v["week"] for o in primary if not o.get("error") for v in o["mmrm"]["visits"]})
    by_week = []
    for outcome in primary:
        outcome["holm"] = []
    for week in weeks:
        pvalues = {
            o["code"]: v["p"]
            for o in primary
            if not o.get("error")
            for v in o["mmrm"]["visits"]
            if v["week"] == week and v["p"] is not None and math.isfinite(v["p"])
        }
        adjusted = effects.holm(pvalues) if pvalues else {}
        rows = []
        for outcome in primary:
            p = pvalues.get(outcome["code"])
            p_adj = adjusted.get(outcome["code"])
            rows.append(
                {
                    "code": outcome["code"],
                    "name": outcome["name"],
                    "p": p,
                    "p_adjusted": p_adj,
                    "reject": None if p_adj is None else bool(p_adj <= alpha),
                }
            )
            if p is not None:
                outcome["holm"].append({"week": week, "p": p, "p_adjusted": p_adj})
        by_week.append({"week": week, "outcomes": rows})
    missing = [o["name"] for o in primary if o.get("error")]
    family = f"{len(primary)} primary outcomes, at each visit separately; MMRM p-values; alpha {alpha}"
    if missing:
        family += f". Not estimable, so outside the adjustment: {'; '.join(missing)}"
    return {"method": "Holm", "alpha": alpha, "family": family, "by_week": by_week}


def _describe(values: pd.Series) -> dict[str, float | None]:
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if x.size > 1 else None,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
    }


def alliance_summary(long: pd.DataFrame, *, instrument: str = "waisr", arm: str | None = None) -> dict[str, Any] | None:
    """The therapeutic alliance (WAI-SR) by visit: the item mean (1-5, the scale the Therabot trial reports),
    the total and the subscales. Descriptive: it is measured in one arm only. None when the data have none
    (a blinded dataset leaves one-arm instruments out)."""
    rows = long[(long["instrument"] == instrument) & (long["week"] > 0)]
    if arm is not None:
        rows = rows[rows["arm"] == arm]
    rows = rows.assign(value=pd.to_numeric(rows["value"], errors="coerce"))
    if rows["value"].notna().sum() == 0:
        return None
    by_week = []
    for week, at_week in rows.groupby("week", sort=True):
        scales = {str(scale): _describe(part["value"]) for scale, part in at_week.groupby("scale", sort=True)}
        headline = scales.get("item_mean") or scales.get("total") or {}
        by_week.append(
            {
                "week": int(week),
                "n": headline.get("n", 0),
                "mean": headline.get("mean"),
                "sd": headline.get("sd"),
                "scales": scales,
            }
        )
    arms = sorted(rows["arm"].dropna().astype(str).unique())
    return {
        "instrument": instrument,
        "arm": arm if arm is not None else ", ".join(arms),
        "headline_scale": "item_mean" if "item_mean" in set(rows["scale"]) else "total",
        "by_week": by_week,
    }


def engagement_summary(participants: pd.DataFrame, *, arm: str) -> dict[str, Any] | None:
    """Use of the intervention in one arm, from the participant-level file: how many used it at all, and
    sessions, messages sent, hours and active days per participant (all allocated participants, zeros
    included). None when the file has no engagement columns (a blinded file leaves them out)."""
    if "sessions" not in participants.columns:
        return None
    rows = participants[participants["arm"].astype(str) == arm]
    if rows.empty:
        return None
    sessions = pd.to_numeric(rows["sessions"], errors="coerce").fillna(0)
    used = int((sessions > 0).sum())
    summary = {
        name: _describe(pd.to_numeric(rows[name], errors="coerce").fillna(0))
        for name in ENGAGEMENT_MEASURES
        if name in rows.columns
    }
    return {
        "arm": arm,
        "n_allocated": len(rows),
        "n_used": used,
        "percent_used": 100.0 * used / len(rows),
        "summary": summary,
    }


def analyze_plan(
    long: pd.DataFrame,
    outcomes: Sequence[OutcomeSpec],
    *,
    control: str | None = None,
    covariates: Sequence[str] = (),
    participants: pd.DataFrame | None = None,
    alliance_instrument: str = "waisr",
) -> dict[str, Any]:
    """Every outcome of the plan, Holm across the primary ones, alliance and engagement summaries."""
    if not outcomes:
        raise AnalysisInputError("The analysis plan has no outcomes.")
    for name in covariates:
        if name not in long.columns:
            raise AnalysisInputError(f"Covariate {name!r} is not a column of the data.")
    analysed = long[long["instrument"] != alliance_instrument] if alliance_instrument else long
    arms = sorted(analysed["arm"].dropna().astype(str).unique())
    control_arm, intervention = pick_control(arms, control)
    results = [analyze_outcome(long, spec, control=control_arm, covariates=covariates) for spec in outcomes]
    multiplicity = holm_by_visit(results)
    return {
        "control": control_arm,
        "intervention": intervention,
        "covariates": list(covariates),
        "outcomes": results,
        "multiplicity": multiplicity,
        "alliance": alliance_summary(long, instrument=alliance_instrument, arm=intervention),
        "engagement": engagement_summary(participants, arm=intervention) if participants is not None else None,
    }
