"""The analysis of a trial from its own data, for ``analyze --trial`` and the report jobs: the datasets
are written to files in the long layout first, then read by exactly the code ``analyze --from-csv`` runs,
so what the report says can be re-run by a statistician on the exported files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis import datasets, provenance
from analysis.adverse_events import adverse_event_counts
from analysis.baseline import baseline_characteristics
from analysis.consort import adherence, consort_counts
from analysis.formats import write_dataset
from analysis.safety import safety_summary
from analysis.stats.plan import OutcomeSpec, analyze_plan
from analysis.stats.primary import AnalysisInputError, file_sha256, read_long_csv
from trial.models import AnalysisOutcome, Trial


def outcome_specs(trial: Trial) -> list[OutcomeSpec]:
    """The trial's analysis plan: its outcomes, primary first as the protocol orders them."""
    return [
        OutcomeSpec(
            code=o.code,
            name=o.name,
            instrument=o.instrument_code,
            scale=o.scale,
            primary=o.primary,
            subgroup_factor=o.subgroup_factor or None,
            subgroup_level=o.subgroup_level or None,
        )
        for o in AnalysisOutcome.objects.filter(trial=trial).order_by("order", "id")
    ]


def write_csv(trial: Trial, name: str, *, blinded: bool, path: Path) -> None:
    dataset, chunks = datasets.build(trial, name, blinded=blinded)
    with path.open("wb") as handle:
        write_dataset(dataset, chunks, handle, "csv")


def default_control(trial: Trial, *, blinded: bool, control: str | None) -> str:
    """Unblinded: the protocol's control arm. Blinded: the letter asked for, else A (the contrast is then
    B minus A, and nobody analysing knows which letter is the intervention)."""
    if control:
        return control
    if blinded:
        return "A"
    arm = trial.arms.filter(is_control=True).first()
    if arm is None:
        raise AnalysisInputError(f"Trial {trial.slug} has no control arm; name one with --control.")
    return arm.code


def trial_analysis(
    trial: Trial,
    *,
    blinded: bool,
    scratch: Path,
    control: str | None = None,
    covariates: Sequence[str] | None = None,
    outcomes: Sequence[OutcomeSpec] | None = None,
) -> dict[str, Any]:
    """The trial's analysis plan (or the ``outcomes`` given) on its long dataset. Covariates default to the
    stratification factors (REFERENCE.md: the MMRM adjusts for them)."""
    specs = list(outcomes) if outcomes is not None else outcome_specs(trial)
    if not specs:
        raise AnalysisInputError(
            f"Trial {trial.slug} defines no analysis outcomes; add them to the protocol or name an --instrument."
        )
    long_path = scratch / f"{trial.slug}-long-{'blinded' if blinded else 'unblinded'}.csv"
    write_csv(trial, "long", blinded=blinded, path=long_path)
    participants = None
    if not blinded:
        participants_path = scratch / f"{trial.slug}-participants-unblinded.csv"
        write_csv(trial, "participants", blinded=False, path=participants_path)
        import pandas as pd  # type: ignore[import-untyped]

        participants = pd.read_csv(participants_path, dtype={"participant_id": str, "arm": str})
    long = read_long_csv(long_path)
    factors = datasets.factor_codes(trial)
    result = analyze_plan(
        long,
        specs,
        control=default_control(trial, blinded=blinded, control=control),
        covariates=list(covariates) if covariates is not None else factors,
        participants=participants,
    )
    subgroup_factors = {s.subgroup_factor for s in specs if s.primary and s.subgroup_factor}
    primary = [s for s in specs if s.primary] or specs
    subgroups = None
    if len(subgroup_factors) == 1:
        factor = subgroup_factors.pop()
        subgroups = (factor, {str(s.subgroup_level): s.instrument for s in primary if s.subgroup_factor == factor})
    result["consort"] = consort_counts(trial, instrument=primary[0].instrument, blinded=blinded, subgroups=subgroups)
    result["adverse_events"] = adverse_event_counts(trial, blinded=blinded)
    result["safety"] = safety_summary(trial, blinded=blinded)
    result["adherence"] = adherence(result["consort"])
    result["baseline_characteristics"] = baseline_characteristics(
        trial, blinded=blinded, long=long, instruments=[s.instrument for s in specs]
    )
    return {
        "title": f"{trial.title}: analysis",
        "generated_at": provenance.generated_at(trial.timezone),
        "software": provenance.software(),
        "trial": trial.slug,
        "blinded": blinded,
        "contrast": f"{result['intervention']} minus {result['control']}",
        "input": {"file": long_path.name, "sha256": file_sha256(long_path)},
        **result,
    }
