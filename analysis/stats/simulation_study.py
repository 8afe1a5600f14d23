"""Monte Carlo simulation study of the MMRM (:func:`analysis.stats.mmrm.fit_mmrm`).

Pure numpy/scipy/pandas (no Django, no ORM). It checks, on data drawn from a known model, that the primary
analysis does what it claims: under no effect the two-sided test at alpha rejects in alpha of the trials, with an
effect the confidence intervals cover the true difference in 1 - alpha of the trials, and the estimates are
unbiased, with complete data and with monotone dropout that is missing at random (MAR). A complete-case ANCOVA
per visit (:func:`analysis.stats.ancova.fit_ancova`, the project's secondary analysis) is fitted on the same
data for comparison: under MAR dropout it is biased, the MMRM is not.

Data-generating model (:func:`simulate_trial`), participant i, post-baseline visit t:

    y_it = m_t + delta_t [arm_i = intervention] + b (baseline_i - mu_0) + s[stratum_i] + e_it,
    baseline_i ~ N(mu_0, sd_0^2),  e_i ~ N(0, Sigma),

with Sigma unstructured (different SD at each visit, so never compound symmetric), arms of exactly
``n_per_arm`` participants each, strata drawn independently of arm with equal probabilities. The model the MMRM
fits (baseline, arm, visit, arm x visit, stratum; unstructured Sigma) is therefore correctly specified, and its
estimand, the adjusted difference at visit t, is ``delta_t``.

Dropout is monotone (once a visit is missed, all later visits are missed). Before visit t a participant still in
the study drops out with probability h_t:

- ``"mcar"``: h_t is the arm's hazard ``hazard_control[t]`` / ``hazard_intervention[t]`` (it depends on the arm
  only, which the model conditions on);
- ``"mar"``: logit h_t = logit(hazard_arm[t]) + ``previous_coef`` z_{i,t-1} + ``baseline_coef`` z_{i,0}, with
  z_{i,t-1} the participant's OBSERVED outcome at the previous visit and z_{i,0} the baseline, each standardized
  by the control arm's marginal mean and SD (:meth:`TrialDesign.marginal_mean_sd`). Before the first
  post-baseline visit only the baseline enters. Missingness depends on observed values only (MAR), so the
  likelihood-based MMRM stays valid, while completers are a selected sample.

Monte Carlo error: a rate r estimated from R replications has standard error sqrt(r (1 - r) / R); a mean bias
has standard error SD(estimates) / sqrt(R). :func:`within_mc_band` is the check used by the tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy import stats  # type: ignore[import-untyped]

from analysis.stats.ancova import fit_ancova
from analysis.stats.mmrm import fit_mmrm

__all__ = [
    "CONTROL",
    "INTERVENTION",
    "Dropout",
    "MethodRecords",
    "Scenario",
    "ScenarioRecords",
    "ScenarioSummary",
    "StudyResult",
    "TrialDesign",
    "VisitSummary",
    "binomial_mc_se",
    "default_scenarios",
    "run_scenario",
    "run_study",
    "simulate_trial",
    "summarize_method",
    "summarize_scenario",
    "wald_intervals",
    "within_mc_band",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

CONTROL = "control"
INTERVENTION = "intervention"
Mechanism = Literal["none", "mcar", "mar"]


# --------------------------------------------------------------------------------------------------------------
# Design and data generation.


@dataclass(frozen=True)
class TrialDesign:
    """The data-generating model apart from the treatment effect and the dropout. Defaults: a PHQ-9-like
    score (baseline 15 +/- 4), follow-up at weeks 4 and 8, residual SDs 4.5 and 5.5 with correlation 0.6."""

    n_per_arm: int = 105
    weeks: tuple[int, ...] = (4, 8)
    baseline_mean: float = 15.0
    baseline_sd: float = 4.0
    baseline_slope: float = 0.6
    control_means: tuple[float, ...] = (12.5, 11.0)  # m_t, at baseline = baseline_mean and stratum effect 0
    residual_sds: tuple[float, ...] = (4.5, 5.5)
    #: Residual correlation between visits j and k is correlation ** |j - k| (for two visits: just ``correlation``).
    correlation: float = 0.6
    #: Stratification factor (name, outcome shift) per level, drawn with equal probabilities; () = no strata.
    strata: tuple[tuple[str, float], ...] = (("site_a", 0.0), ("site_b", 1.5), ("site_c", -1.5))

    def __post_init__(self) -> None:
        t = len(self.weeks)
        if t < 1 or len(set(self.weeks)) != t or any(w <= 0 for w in self.weeks):
            raise ValueError("weeks must be distinct positive numbers")
        if len(self.control_means) != t or len(self.residual_sds) != t:
            raise ValueError(f"control_means and residual_sds need one value per visit ({t})")
        if self.n_per_arm < 3:
            raise ValueError("n_per_arm must be at least 3")
        if not -1 < self.correlation < 1:
            raise ValueError("correlation must be between -1 and 1")
        if any(s <= 0 for s in self.residual_sds) or self.baseline_sd <= 0:
            raise ValueError("SDs must be positive")

    @property
    def covariance(self) -> FloatArray:
        """The residual covariance Sigma (visit x visit)."""
        sds = np.asarray(self.residual_sds, dtype=np.float64)
        lag = np.abs(np.subtract.outer(np.arange(sds.size), np.arange(sds.size)))
        return np.asarray(np.outer(sds, sds) * self.correlation**lag, dtype=np.float64)

    def marginal_mean_sd(self) -> tuple[FloatArray, FloatArray]:
        """Mean and SD of the outcome at each visit in the control arm (over baseline, strata and residual)."""
        shifts = np.array([s for _, s in self.strata]) if self.strata else np.zeros(1)
        mean = np.asarray(self.control_means, dtype=np.float64) + float(shifts.mean())
        var = (self.baseline_slope * self.baseline_sd) ** 2 + np.diag(self.covariance) + float(shifts.var())
        return mean, np.sqrt(var)


@dataclass(frozen=True)
class Dropout:
    """Monotone dropout. ``hazard_*[t]`` is the probability of dropping out before visit t among those still
    in the study (for ``"mar"`` at z = 0). ``previous_coef`` and ``baseline_coef`` are log odds ratios per
    marginal SD of the last observed outcome and of the baseline (MAR only; positive = worse scores drop out)."""

    mechanism: Mechanism = "none"
    hazard_control: tuple[float, ...] = (0.08, 0.25)
    hazard_intervention: tuple[float, ...] = (0.08, 0.12)
    previous_coef: float = 1.0
    baseline_coef: float = 0.5

    def __post_init__(self) -> None:
        if self.mechanism not in ("none", "mcar", "mar"):
            raise ValueError(f"unknown dropout mechanism {self.mechanism!r} (none, mcar, mar)")
        if len(self.hazard_control) != len(self.hazard_intervention):
            raise ValueError("hazard_control and hazard_intervention need the same length")
        if any(not 0 <= h < 1 for h in (*self.hazard_control, *self.hazard_intervention)):
            raise ValueError("hazards must be in [0, 1)")


@dataclass(frozen=True)
class Scenario:
    name: str
    effect: tuple[float, ...]  # true intervention-minus-control difference per visit
    dropout: Dropout = field(default_factory=Dropout)
    description: str = ""


def default_scenarios(
    design: TrialDesign | None = None,
    *,
    effect: Sequence[float] = (-2.0, -3.0),
    mar: Dropout | None = None,
    mcar: bool = False,
) -> list[Scenario]:
    """The four scenarios of the study: no effect / an effect, each with complete data and with MAR dropout
    (``mar``, default :class:`Dropout` with ``mechanism="mar"``). ``mcar=True`` adds a fifth, the effect with
    MCAR dropout at the same per-arm hazards."""
    design = design or TrialDesign()
    t = len(design.weeks)
    if len(effect) != t:
        raise ValueError(f"effect needs one value per visit ({t})")
    mar = mar or Dropout(mechanism="mar")
    if mar.mechanism != "mar":
        raise ValueError("mar must be a Dropout with mechanism 'mar'")
    null = tuple(0.0 for _ in range(t))
    eff = tuple(float(e) for e in effect)
    scenarios = [
        Scenario("null_complete", null, Dropout(), "no effect, no dropout"),
        Scenario("null_mar", null, mar, "no effect, MAR dropout"),
        Scenario("effect_complete", eff, Dropout(), "effect, no dropout"),
        Scenario("effect_mar", eff, mar, "effect, MAR dropout"),
    ]
    if mcar:
        scenarios.append(
            Scenario("effect_mcar", eff, replace(mar, mechanism="mcar"), "effect, MCAR dropout (same arm hazards)")
        )
    return scenarios


def _logit(p: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def simulate_trial(
    *,
    design: TrialDesign,
    effect: Sequence[float],
    dropout: Dropout,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One simulated trial as ``fit_mmrm`` takes it (the layout of ``primary.model_frame``): one row per
    participant x post-baseline visit with columns ``participant_id``, ``arm`` (``"control"`` /
    ``"intervention"``), ``visit`` (``"week4"``...), ``week``, ``y`` (NaN after dropout), ``baseline`` and,
    when the design has strata, ``stratum`` (a string factor)."""
    weeks = design.weeks
    t_visits = len(weeks)
    if len(effect) != t_visits:
        raise ValueError(f"effect needs one value per visit ({t_visits})")
    if dropout.mechanism != "none" and len(dropout.hazard_control) != t_visits:
        raise ValueError(f"dropout hazards need one value per visit ({t_visits})")
    n = 2 * design.n_per_arm
    treated = rng.permutation(np.repeat(np.array([0.0, 1.0]), design.n_per_arm))
    baseline = rng.normal(design.baseline_mean, design.baseline_sd, size=n)
    if design.strata:
        stratum_idx = rng.integers(len(design.strata), size=n)
        stratum_shift = np.array([s for _, s in design.strata])[stratum_idx]
    else:
        stratum_idx = np.zeros(n, dtype=np.int64)
        stratum_shift = np.zeros(n)
    chol = np.linalg.cholesky(design.covariance)
    resid = rng.standard_normal((n, t_visits)) @ chol.T
    y = (
        np.asarray(design.control_means)[None, :]
        + treated[:, None] * np.asarray(effect, dtype=np.float64)[None, :]
        + design.baseline_slope * (baseline - design.baseline_mean)[:, None]
        + stratum_shift[:, None]
        + resid
    )

    # Monotone dropout. The uniforms are drawn whatever the mechanism, so the outcomes of a given seed do not
    # depend on it.
    uniforms = rng.random((n, t_visits))
    observed = np.ones((n, t_visits), dtype=bool)
    if dropout.mechanism != "none":
        mean, sd = design.marginal_mean_sd()
        z_base = (baseline - design.baseline_mean) / design.baseline_sd
        in_study = np.ones(n, dtype=bool)
        for t in range(t_visits):
            base = np.where(treated == 1.0, dropout.hazard_intervention[t], dropout.hazard_control[t])
            if dropout.mechanism == "mar":
                lin = _logit(base) + dropout.baseline_coef * z_base
                if t > 0:
                    # Only participants still in the study (who have y[:, t - 1] observed) can drop out here.
                    lin = lin + dropout.previous_coef * (y[:, t - 1] - mean[t - 1]) / sd[t - 1]
                hazard = 1.0 / (1.0 + np.exp(-lin))
            else:
                hazard = base
            in_study &= uniforms[:, t] >= hazard
            observed[:, t] = in_study

    ids = np.array([f"S{i:05d}" for i in range(n)])
    arms = np.where(treated == 1.0, INTERVENTION, CONTROL)
    frame = pd.DataFrame(
        {
            "participant_id": np.repeat(ids, t_visits),
            "arm": np.repeat(arms, t_visits),
            "visit": np.tile(np.array([f"week{w}" for w in weeks]), n),
            "week": np.tile(np.asarray(weeks, dtype=np.int64), n),
            "y": np.where(observed, y, np.nan).ravel(),
            "baseline": np.repeat(baseline, t_visits),
        }
    )
    if design.strata:
        frame["stratum"] = np.repeat(np.array([name for name, _ in design.strata])[stratum_idx], t_visits)
    return frame


# --------------------------------------------------------------------------------------------------------------
# Replications.


@dataclass
class MethodRecords:
    """Per replication x visit results of one analysis method; NaN rows where the fit failed."""

    estimate: FloatArray
    se: FloatArray
    df: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p: FloatArray

    @classmethod
    def empty(cls, reps: int, visits: int) -> MethodRecords:
        def nan() -> FloatArray:
            return np.full((reps, visits), np.nan)

        return cls(nan(), nan(), nan(), nan(), nan(), nan())

    @classmethod
    def concatenate(cls, parts: Sequence[MethodRecords]) -> MethodRecords:
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("estimate", "se", "df", "ci_low", "ci_high", "p")
            )
        )


@dataclass
class ScenarioRecords:
    """All replications of one scenario: the MMRM's and the complete-case ANCOVA's results, the fraction of
    participants observed per arm (control, intervention) and visit, and every failure with its message."""

    scenario: Scenario
    weeks: tuple[int, ...]
    mmrm: MethodRecords
    complete_case: MethodRecords
    observed_fraction: FloatArray  # (reps, 2, visits)
    mmrm_not_converged: int = 0
    mmrm_errors: int = 0
    complete_case_errors: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reps(self) -> int:
        return int(self.mmrm.estimate.shape[0])


def _seed_rng(seed: int, scenario_index: int, rep: int) -> np.random.Generator:
    """An independent stream per (seed, scenario, replication): results do not depend on how the
    replications are split between processes."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(scenario_index, rep)))


def run_scenario(
    scenario: Scenario,
    *,
    design: TrialDesign,
    reps: int,
    seed: int,
    scenario_index: int = 0,
    first_rep: int = 0,
    alpha: float = 0.05,
    complete_case: bool = True,
) -> ScenarioRecords:
    """Simulate and analyse replications ``first_rep .. first_rep + reps - 1`` of one scenario. A fit that
    does not converge or raises is counted and its message kept; its row stays NaN."""
    started = time.perf_counter()
    t_visits = len(design.weeks)
    covariates = ["stratum"] if design.strata else []
    mm = MethodRecords.empty(reps, t_visits)
    cc = MethodRecords.empty(reps, t_visits)
    observed_fraction = np.zeros((reps, 2, t_visits))
    records = ScenarioRecords(scenario, design.weeks, mm, cc, observed_fraction)
    for r in range(reps):
        rep = first_rep + r
        frame = simulate_trial(
            design=design, effect=scenario.effect, dropout=scenario.dropout, rng=_seed_rng(seed, scenario_index, rep)
        )
        obs = frame["y"].notna().to_numpy().reshape(-1, t_visits)
        is_int = (frame["arm"].to_numpy() == INTERVENTION).reshape(-1, t_visits)[:, 0]
        observed_fraction[r, 0] = obs[~is_int].mean(axis=0)
        observed_fraction[r, 1] = obs[is_int].mean(axis=0)
        observed = frame[frame["y"].notna()]
        try:
            fit = fit_mmrm(
                observed,
                outcome="y",
                subject="participant_id",
                visit="week",
                arm="arm",
                control=CONTROL,
                baseline="baseline",
                covariates=covariates,
                alpha=alpha,
                raise_on_failure=False,
            )
        except (ValueError, np.linalg.LinAlgError) as exc:
            records.mmrm_errors += 1
            records.failures.append(f"{scenario.name} rep {rep}: MMRM error: {exc}")
        else:
            if not fit.converged:
                records.mmrm_not_converged += 1
                records.failures.append(f"{scenario.name} rep {rep}: MMRM not converged: {'; '.join(fit.messages)}")
            else:
                for j, v in enumerate(fit.visits):
                    mm.estimate[r, j], mm.se[r, j], mm.df[r, j] = v.estimate, v.se, v.df
                    mm.ci_low[r, j], mm.ci_high[r, j], mm.p[r, j] = v.ci_low, v.ci_high, v.p
        if complete_case:
            for j, week in enumerate(design.weeks):
                at_week = observed[observed["week"] == week]
                try:
                    res = fit_ancova(
                        at_week,
                        outcome="y",
                        arm="arm",
                        control=CONTROL,
                        baseline="baseline",
                        covariates=covariates,
                        alpha=alpha,
                    )
                except ValueError as exc:
                    records.complete_case_errors += 1
                    records.failures.append(f"{scenario.name} rep {rep} week {week}: ANCOVA error: {exc}")
                    continue
                cc.estimate[r, j], cc.se[r, j], cc.df[r, j] = res.estimate, res.se, res.df
                cc.ci_low[r, j], cc.ci_high[r, j], cc.p[r, j] = res.ci_low, res.ci_high, res.p
    records.seconds = time.perf_counter() - started
    return records


def _merge(parts: Sequence[ScenarioRecords]) -> ScenarioRecords:
    first = parts[0]
    return ScenarioRecords(
        scenario=first.scenario,
        weeks=first.weeks,
        mmrm=MethodRecords.concatenate([p.mmrm for p in parts]),
        complete_case=MethodRecords.concatenate([p.complete_case for p in parts]),
        observed_fraction=np.concatenate([p.observed_fraction for p in parts]),
        mmrm_not_converged=sum(p.mmrm_not_converged for p in parts),
        mmrm_errors=sum(p.mmrm_errors for p in parts),
        complete_case_errors=sum(p.complete_case_errors for p in parts),
        failures=[m for p in parts for m in p.failures],
        seconds=sum(p.seconds for p in parts),
    )


def _run_block(args: tuple[Scenario, TrialDesign, int, int, int, int, float, bool]) -> ScenarioRecords:
    scenario, design, reps, seed, scenario_index, first_rep, alpha, complete_case = args
    return run_scenario(
        scenario,
        design=design,
        reps=reps,
        seed=seed,
        scenario_index=scenario_index,
        first_rep=first_rep,
        alpha=alpha,
        complete_case=complete_case,
    )


# --------------------------------------------------------------------------------------------------------------
# Summaries.


def binomial_mc_se(rate: float, reps: int) -> float:
    """Monte Carlo standard error of a proportion estimated from ``reps`` independent replications."""
    if reps <= 0:
        return math.nan
    return math.sqrt(rate * (1.0 - rate) / reps)


def within_mc_band(rate: float, nominal: float, reps: int, *, k: float = 3.5) -> bool:
    """Is an estimated rejection or coverage rate within ``k`` binomial Monte Carlo SEs of its nominal value?
    The SE is computed at the nominal rate (the null hypothesis that the method is calibrated): with k = 3.5 a
    calibrated method fails the check with probability about 5e-4 per rate."""
    return abs(rate - nominal) <= k * binomial_mc_se(nominal, reps)


def wald_intervals(
    estimate: FloatArray, se: FloatArray, df: FloatArray | None, *, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """CI limits and two-sided p from estimates and SEs: t with ``df`` (per element) or normal when ``df`` is
    None. Used to build alternative (e.g. deliberately wrong) analyses from the recorded estimates."""
    if df is None:
        q: Any = stats.norm.ppf(1 - alpha / 2)
        p = 2 * stats.norm.sf(np.abs(estimate / se))
    else:
        q = stats.t.ppf(1 - alpha / 2, df)
        p = 2 * stats.t.sf(np.abs(estimate / se), df)
    return (
        np.asarray(estimate - q * se, dtype=np.float64),
        np.asarray(estimate + q * se, dtype=np.float64),
        np.asarray(p, dtype=np.float64),
    )


@dataclass(frozen=True)
class VisitSummary:
    """Operating characteristics of one method at one visit over the replications that gave a result.
    ``rejection_rate`` is the type I error when ``truth`` is 0 and the power otherwise."""

    week: int
    truth: float
    n_used: int
    mean_estimate: float
    bias: float
    bias_mc_se: float
    empirical_se: float  # SD of the estimates over replications
    mean_se: float  # mean of the model-based SEs
    rejection_rate: float
    rejection_mc_se: float
    coverage: float
    coverage_mc_se: float
    mean_df: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_method(
    records: MethodRecords,
    *,
    truth: Sequence[float],
    weeks: Sequence[int],
    alpha: float = 0.05,
) -> list[VisitSummary]:
    """Bias, empirical and model SE, rejection rate at ``alpha`` and CI coverage of ``truth`` per visit, each
    with its Monte Carlo SE. Replications with NaN (failed fits) are left out; ``n_used`` says how many were used."""
    out = []
    for j, week in enumerate(weeks):
        ok = np.isfinite(records.estimate[:, j])
        n = int(ok.sum())
        est = records.estimate[ok, j]
        true = float(truth[j])
        if n == 0:
            out.append(VisitSummary(int(week), true, 0, *([math.nan] * 10)))
            continue
        sd = float(est.std(ddof=1)) if n > 1 else math.nan
        reject = float(np.mean(records.p[ok, j] < alpha))
        cover = float(np.mean((records.ci_low[ok, j] <= true) & (true <= records.ci_high[ok, j])))
        df = records.df[ok, j]
        out.append(
            VisitSummary(
                week=int(week),
                truth=true,
                n_used=n,
                mean_estimate=float(est.mean()),
                bias=float(est.mean()) - true,
                bias_mc_se=sd / math.sqrt(n),
                empirical_se=sd,
                mean_se=float(records.se[ok, j].mean()),
                rejection_rate=reject,
                rejection_mc_se=binomial_mc_se(reject, n),
                coverage=cover,
                coverage_mc_se=binomial_mc_se(cover, n),
                mean_df=float(df.mean()) if np.isfinite(df).all() else math.inf,
            )
        )
    return out


@dataclass(frozen=True)
class ScenarioSummary:
    name: str
    description: str
    effect: tuple[float, ...]
    dropout: dict[str, Any]
    reps: int
    mmrm_not_converged: int
    mmrm_errors: int
    complete_case_errors: int
    failures: list[str]
    observed_control: list[float]  # mean fraction observed per visit
    observed_intervention: list[float]
    mmrm: list[VisitSummary]
    complete_case: list[VisitSummary] | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["effect"] = list(self.effect)
        return out


def summarize_scenario(records: ScenarioRecords, *, alpha: float = 0.05, complete_case: bool = True) -> ScenarioSummary:
    sc = records.scenario
    frac = records.observed_fraction.mean(axis=0)
    return ScenarioSummary(
        name=sc.name,
        description=sc.description,
        effect=sc.effect,
        dropout=asdict(sc.dropout),
        reps=records.reps,
        mmrm_not_converged=records.mmrm_not_converged,
        mmrm_errors=records.mmrm_errors,
        complete_case_errors=records.complete_case_errors,
        failures=records.failures[:50],
        observed_control=[float(x) for x in frac[0]],
        observed_intervention=[float(x) for x in frac[1]],
        mmrm=summarize_method(records.mmrm, truth=sc.effect, weeks=records.weeks, alpha=alpha),
        complete_case=(
            summarize_method(records.complete_case, truth=sc.effect, weeks=records.weeks, alpha=alpha)
            if complete_case
            else None
        ),
        seconds=records.seconds,
    )


@dataclass(frozen=True)
class StudyResult:
    settings: dict[str, Any]
    scenarios: list[ScenarioSummary]
    records: list[ScenarioRecords]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the per-replication records are left out)."""
        return {
            "settings": self.settings,
            "seconds": self.seconds,
            "scenarios": [s.as_dict() for s in self.scenarios],
        }


def run_study(
    *,
    reps: int,
    seed: int,
    design: TrialDesign | None = None,
    scenarios: Sequence[Scenario] | None = None,
    alpha: float = 0.05,
    complete_case: bool = True,
    jobs: int = 1,
    block: int = 100,
    progress: Callable[[str], None] | None = None,
) -> StudyResult:
    """Run ``reps`` replications of each scenario (default :func:`default_scenarios`) and summarize them.

    Replication k of scenario s always uses the random stream (seed, s, k), so the figures do not depend on
    ``jobs`` (worker processes) or ``block`` (replications per task)."""
    if reps < 1:
        raise ValueError("reps must be at least 1")
    if jobs < 1 or block < 1:
        raise ValueError("jobs and block must be at least 1")
    design = design or TrialDesign()
    scenarios = list(scenarios) if scenarios is not None else default_scenarios(design)
    started = time.perf_counter()
    tasks = [
        (sc, design, min(block, reps - first), seed, s, first, alpha, complete_case)
        for s, sc in enumerate(scenarios)
        for first in range(0, reps, block)
    ]
    if jobs == 1:
        parts = []
        for task in tasks:
            parts.append(_run_block(task))
            if progress:
                progress(f"{task[0].name}: replications {task[5]}..{task[5] + task[2] - 1} done")
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            parts = []
            for task, part in zip(tasks, pool.map(_run_block, tasks), strict=True):
                parts.append(part)
                if progress:
                    progress(f"{task[0].name}: replications {task[5]}..{task[5] + task[2] - 1} done")
    records = [_merge([p for p, t in zip(parts, tasks, strict=True) if t[4] == s]) for s in range(len(scenarios))]
    summaries = [summarize_scenario(r, alpha=alpha, complete_case=complete_case) for r in records]
    settings = {
        "reps": reps,
        "seed": seed,
        "alpha": alpha,
        "design": {**asdict(design), "covariance": design.covariance.tolist()},
        "analysis": "fit_mmrm(y ~ baseline + arm * visit + stratum, unstructured, REML, Satterthwaite df)",
        "complete_case": "fit_ancova(y ~ baseline + arm + stratum) per visit, participants observed at that visit",
        "jobs": jobs,
    }
    return StudyResult(settings, summaries, records, time.perf_counter() - started)
