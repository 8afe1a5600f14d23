"""The analysis of one outcome from a dataset in the long layout (DESIGN.md): pure pandas, no ORM, so
``analyze --from-csv`` runs the same code on another trial's file as ``analyze --trial`` on ours.

From the long rows of one instrument and scale, the baseline (week 0) value of each participant becomes
a covariate, the post-baseline weeks are the outcomes, and these models are fitted: the primary MMRM
(visit categorical, unstructured covariance or the first structure of the pre-specified fallback order
that converges, REML), a random-intercept linear mixed model (weeks continuous), an ANCOVA at each week on
complete cases, and, when the outcome is whole numbers with few levels (an instrument's total), a
cumulative-link mixed model (ordinal, as R ``ordinal::clmm``). Estimates are intervention minus control.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from analysis.stats import effects
from analysis.stats.ancova import fit_ancova
from analysis.stats.clmm import check_ordinal_outcome, fit_clmm
from analysis.stats.lmm import fit_lmm
from analysis.stats.mmrm import FALLBACK_ORDER, fit_mmrm
from analysis.stats.sensitivity import sensitivity_or_error

LONG_REQUIRED = ("participant_id", "arm", "visit", "week", "instrument", "scale", "value")
logger = logging.getLogger(__name__)
CONTROL_NAMES = ("control", "waitlist", "wait_list", "placebo", "usual_care", "tau")


class AnalysisInputError(ValueError):
    """The data cannot be analysed as asked; the message says why."""


@dataclass(frozen=True)
class ModelFrame:
    data: (
        pd.DataFrame
    )  # one row per participant x post-baseline week: participant_id, arm, week, y, baseline, covariates
    control: str
    intervention: str
    covariates: tuple[str, ...]
    instrument: str
    n_participants: int
    n_excluded_no_baseline: int


def read_long_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"participant_id": str, "arm": str, "visit": str})
    except FileNotFoundError:
        raise AnalysisInputError(f"{path}: no such file.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnalysisInputError(f"{path}: not a CSV file ({exc}).") from None
    missing = [c for c in LONG_REQUIRED if c not in frame.columns]
    if missing:
        raise AnalysisInputError(f"{path.name}: missing column(s) {', '.join(missing)} of the long layout.")
    return frame


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pick_control(arms: Sequence[str], control: str | None) -> tuple[str, str]:
    if len(arms) != 2:
        raise AnalysisInputError(f"The analysis compares two arms; the data has {len(arms)}: {', '.join(arms)}.")
    if control is None:
        named = [a for a in arms if a.lower() in CONTROL_NAMES]
        if len(named) != 1:
            raise AnalysisInputError(f"Say which arm is the control with --control (arms: {', '.join(arms)}).")
        control = named[0]
    if control not in arms:
        raise AnalysisInputError(f"--control {control!r} is not an arm of the data (arms: {', '.join(arms)}).")
    intervention = next(a for a in arms if a != control)
    return control, intervention


def model_frame(
    long: pd.DataFrame,
    *,
    instrument: str,
    scale: str = "total",
    control: str | None = None,
    covariates: Sequence[str] = (),
) -> ModelFrame:
    rows = long[(long["instrument"] == instrument) & (long["scale"] == scale)].copy()
    if rows.empty:
        found = ", ".join(sorted(long["instrument"].dropna().unique()))
        raise AnalysisInputError(f"No rows for instrument {instrument!r}, scale {scale!r} (instruments: {found}).")
    for name in covariates:
        if name not in rows.columns:
            raise AnalysisInputError(f"Covariate {name!r} is not a column of the data.")
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    rows["week"] = pd.to_numeric(rows["week"], errors="raise")
    arms = sorted(rows["arm"].dropna().astype(str).unique())
    control_arm, intervention = pick_control(arms, control)
    baseline = rows[rows["week"] == 0].groupby("participant_id")["value"].first().rename("baseline")
    post = rows[rows["week"] > 0].merge(baseline, left_on="participant_id", right_index=True, how="left")
    randomized = post["participant_id"].nunique()
    no_baseline = post[post["baseline"].isna()]["participant_id"].nunique()
    post = post[post["baseline"].notna()]
    keep = ["participant_id", "arm", "visit", "week", "value", "baseline", *covariates]
    frame = post[keep].rename(columns={"value": "y"}).reset_index(drop=True)
    observed = frame[frame["y"].notna()]
    for arm in (control_arm, intervention):
        if observed[observed["arm"] == arm].empty:
            raise AnalysisInputError(
                f"No post-baseline {instrument} {scale} values in arm {arm!r} yet "
                f"({randomized} participants, {no_baseline} without a baseline): nothing to compare."
            )
    for name in covariates:
        frame[name] = frame[name].astype(str)
    return ModelFrame(
        data=frame,
        control=control_arm,
        intervention=intervention,
        covariates=tuple(covariates),
        instrument=instrument,
        n_participants=randomized,
        n_excluded_no_baseline=no_baseline,
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


#: The CLMM's approximation in ``analyze``: ordinal::clmm's default (nAGQ = 1).
CLMM_METHOD = "laplace"


def clmm_json(frame: ModelFrame, observed: pd.DataFrame, method: str = CLMM_METHOD) -> dict[str, Any]:
    """The ``clmm`` entry: the cumulative-link mixed model, or null values and the reason it was not fitted.
    A failure here never stops the other models: bad input gives the reason, non-convergence gives
    ``converged: false`` with the reason (and the estimates where they exist)."""
    empty: dict[str, Any] = {
        "method": None,
        "link": None,
        "converged": None,
        "loglik": None,
        "n_thresholds": None,
        "random_effect_sd": None,
        "visits": [],
        "reason": None,
    }
    try:
        check_ordinal_outcome(observed["y"], f"{frame.instrument} values")  # cheap: no fit for other outcomes
        fit = fit_clmm(
            observed,
            outcome="y",
            subject="participant_id",
            visit="week",
            arm="arm",
            control=frame.control,
            baseline="baseline",
            covariates=list(frame.covariates),
            method=method,
            raise_on_failure=False,
        )
    except ValueError as exc:  # not an ordinal outcome, or data the model cannot take
        return {**empty, "reason": f"not fitted: {exc}"}
    except Exception as exc:  # a secondary model must never cost the primary analysis
        logger.exception("CLMM failed for %s", frame.instrument)
        return {**empty, "reason": f"failed: {type(exc).__name__}: {exc}"}
    return {
        "method": fit.method,
        "link": fit.link,
        "converged": fit.converged,
        "loglik": _finite(fit.loglik),
        "n_thresholds": fit.n_thresholds,
        "random_effect_sd": _finite(fit.random_effect_sd),
        "visits": [
            {
                "week": int(v.visit),
                "estimate": _finite(v.estimate),
                "se": _finite(v.se),
                "odds_ratio": _finite(v.odds_ratio),
                "ci_low": _finite(v.ci_low),
                "ci_high": _finite(v.ci_high),
                "p": _finite(v.p),
            }
            for v in fit.visits
        ],
        "reason": None if fit.converged else "did not converge: " + "; ".join(fit.messages),
    }


def analyze(frame: ModelFrame) -> dict[str, Any]:
    """The analyses, as the JSON of the ``analyze`` contract, and the missing-data sensitivity analyses."""
    data, covs = frame.data, list(frame.covariates)
    observed = data[data["y"].notna()]
    mmrm = fit_mmrm(
        observed,
        outcome="y",
        subject="participant_id",
        visit="week",
        arm="arm",
        control=frame.control,
        baseline="baseline",
        covariates=covs,
        covariance=FALLBACK_ORDER,
    )
    lmm = fit_lmm(
        observed,
        outcome="y",
        subject="participant_id",
        week="week",
        arm="arm",
        control=frame.control,
        baseline="baseline",
        covariates=covs,
    )
    ancova = []
    for week in sorted(data["week"].unique()):
        at_week = observed[observed["week"] == week]
        fit = fit_ancova(at_week, outcome="y", arm="arm", control=frame.control, baseline="baseline", covariates=covs)
        ancova.append(
            {
                "week": int(week),
                "n": fit.n,
                "estimate": fit.estimate,
                "se": fit.se,
                "ci_low": fit.ci_low,
                "ci_high": fit.ci_high,
                "p": fit.p,
                "df": fit.df,
            }
        )
    return {
        "control": frame.control,
        "intervention": frame.intervention,
        "covariates": covs,
        "n_participants": frame.n_participants,
        "n_excluded_no_baseline": frame.n_excluded_no_baseline,
        "n_observations": len(observed),
        "mmrm": {
            "method": mmrm.method,
            "covariance_structure": mmrm.covariance_structure,
            "covariance_fallback": mmrm.covariance_attempts,
            "df_method": mmrm.df_method,
            "kr_method": mmrm.kr_method,
            "converged": mmrm.converged,
            "loglik": mmrm.loglik,
            "visits": [
                {
                    "week": int(v.visit),
                    "estimate": v.estimate,
                    "se": v.se,
                    "ci_low": v.ci_low,
                    "ci_high": v.ci_high,
                    "p": v.p,
                    "df": v.df,
                    "se_kr": _finite(v.se_kr),
                    "df_kr": _finite(v.df_kr),
                    "ci_low_kr": _finite(v.ci_low_kr),
                    "ci_high_kr": _finite(v.ci_high_kr),
                    "p_kr": _finite(v.p_kr),
                }
                for v in mmrm.visits
            ],
        },
        "lmm": {
            "method": lmm.method,
            "model": "random intercept; weeks continuous; arm x week",
            "estimate": lmm.estimate,
            "se": lmm.se,
            "ci_low": lmm.ci_low,
            "ci_high": lmm.ci_high,
            "p": lmm.p,
            "at_week": int(data["week"].max()),
            "slope_difference": lmm.slope_difference,
            "converged": lmm.converged,
        },
        "ancova": [{k: _finite(v) for k, v in row.items()} for row in ancova],
        "clmm": clmm_json(frame, observed),
        "sensitivity": sensitivity_or_error(data, control=frame.control, covariates=covs),
        **secondary(frame, mmrm.visits),
    }


def _binary(outcome: Any, rows: pd.DataFrame, control: str, covariates: list[str]) -> dict[str, Any]:
    """Odds ratio and marginal risk difference and ratio, or the reason they cannot be estimated."""
    try:
        fit = effects.logistic_adjusted(
            outcome,
            rows["arm"].to_numpy(),
            rows["baseline"].to_numpy(),
            control,
            rows[covariates] if covariates else None,
        )
    except ValueError as exc:
        return {"estimable": False, "reason": str(exc)}
    return {
        "estimable": True,
        "n": fit.n,
        "events_by_arm": fit.events_by_arm,
        "odds_ratio": fit.odds_ratio,
        "or_ci_low": fit.or_ci_low,
        "or_ci_high": fit.or_ci_high,
        "p": fit.p_or,
        "risk_difference": fit.risk_difference,
        "rd_ci_low": fit.rd_ci_low,
        "rd_ci_high": fit.rd_ci_high,
        "risk_ratio": fit.risk_ratio,
        "rr_ci_low": fit.rr_ci_low,
        "rr_ci_high": fit.rr_ci_high,
    }


def secondary(frame: ModelFrame, visits: Sequence[Any]) -> dict[str, Any]:
    """Effect sizes from the MMRM differences and the pooled baseline SD; within-arm change (descriptive);
    responders, remission and reliable improvement adjusted for baseline (PHQ-9 and GAD-7 thresholds)."""
    data, covs = frame.data, list(frame.covariates)
    per_person = data.drop_duplicates("participant_id")
    base_i = per_person.loc[per_person["arm"] == frame.intervention, "baseline"]
    base_c = per_person.loc[per_person["arm"] == frame.control, "baseline"]
    sd = effects.pooled_sd(base_i, base_c)
    sizes = []
    for v in visits:
        d = effects.cohens_d(v.estimate, v.se, sd, v.df)
        g = effects.hedges_g(v.estimate, v.se, sd, len(base_i), len(base_c), v.df)
        sizes.append(
            {
                "week": int(v.visit),
                "cohens_d": d.estimate,
                "d_ci_low": d.ci_low,
                "d_ci_high": d.ci_high,
                "hedges_g": g.estimate,
                "g_ci_low": g.ci_low,
                "g_ci_high": g.ci_high,
            }
        )
    change = []
    binary = []
    for week in sorted(data["week"].unique()):
        at_week = data[data["week"] == week]
        for arm in (frame.intervention, frame.control):
            rows = at_week[at_week["arm"] == arm]
            summary = effects.within_arm_change(rows["baseline"].to_numpy(), rows["y"].to_numpy())
            change.append({"week": int(week), "arm": arm, **{k: _finite(v) for k, v in summary.items()}})
        if frame.instrument in effects.THRESHOLDS:
            outcomes = effects.responders(at_week["baseline"].to_numpy(), at_week["y"].to_numpy(), frame.instrument)
            binary.append(
                {"week": int(week), **{name: _binary(y, at_week, frame.control, covs) for name, y in outcomes.items()}}
            )
    return {
        "baseline_sd_pooled": sd,
        "effect_sizes": sizes,
        "within_arm_change": change,
        "responders": binary,
    }
