"""Table 1: the randomized participants' characteristics at baseline, by arm and overall.

Rows, in this order: the numeric screening answers (age first when the trial asks it) as n, mean (SD) and
median [IQR]; the answers chosen from a list that are not stratification factors (sex or gender, say) and the
yes/no answers that vary, as counts (%); each stratification factor and the site as counts (%); the baseline
(week 0) score of each outcome instrument as n, mean (SD) and median [IQR]. No p-values: randomization makes
any baseline difference chance by construction (CONSORT 2010, item 15).

Columns are the arms (their letters, sorted, in a blinded table; codes in protocol order otherwise) then
"Overall". Percentages are of the participants in the column with the answer; those without one are counted
as "missing" rather than dropped silently. A blinded table by letter is what an open DSMB session sees:
baseline characteristics are measured before randomization, so they cannot tell which letter is which arm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from participants.models import Allocation
from trial.models import Trial
from trial.models.protocol import FieldKind

OVERALL = "Overall"
#: Screening answers that go first in Table 1 when the trial asks them.
FIRST = ("age", "sex", "gender", "sex_gender")


def continuous(values: Sequence[float | None]) -> dict[str, Any]:
    """n, mean (SD), median [Q1, Q3], min and max (quartiles as pandas' linear interpolation, R's type 7)."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(array.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, median, q3 = (float(x) for x in np.quantile(array, [0.25, 0.5, 0.75]))
    return {
        "n": n,
        "mean": float(array.mean()),
        "sd": float(array.std(ddof=1)) if n > 1 else None,
        "median": median,
        "q1": q1,
        "q3": q3,
        "min": float(array.min()),
        "max": float(array.max()),
    }


def categorical(values: Sequence[Any], levels: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Counts and percentages of each level among those with an answer, and the number without one."""
    given = [str(v) for v in values if v is not None and str(v) != ""]
    known = {code for code, _ in levels}
    extra = sorted({v for v in given if v not in known})
    counts = {code: sum(1 for v in given if v == code) for code, _ in levels} | {
        v: sum(1 for g in given if g == v) for v in extra
    }
    total = len(given)
    return {
        "n": total,
        "missing": len(values) - total,
        "levels": {code: {"n": n, "percent": (100.0 * n / total) if total else None} for code, n in counts.items()},
    }


def _columns(trial: Trial, *, blinded: bool) -> tuple[list[str], dict[int, str]]:
    """Column labels (arms, then Overall) and each randomized participant's column."""
    arms = list(trial.arms.order_by("order", "id"))
    label = {a.pk: (a.blinded_label if blinded else a.code) for a in arms}
    columns = sorted(label.values()) if blinded else [label[a.pk] for a in arms]
    arm_of = dict(Allocation.objects.filter(trial=trial).values_list("participant_id", "arm_id"))
    return [*columns, OVERALL], {pid: label[arm_id] for pid, arm_id in arm_of.items()}


def _by_column(arm_of: Mapping[Any, str], columns: Sequence[str], values: Mapping[Any, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {c: [] for c in columns}
    for key, column in arm_of.items():
        value = values.get(key)
        out[column].append(value)
        out[OVERALL].append(value)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def baseline_characteristics(
    trial: Trial, *, blinded: bool, long: pd.DataFrame | None = None, instruments: Sequence[str] = ()
) -> dict[str, Any]:
    """Table 1 (see the module docstring) as ``{"columns", "n", "rows": [...]}``. Each row has ``label``,
    ``kind`` ("continuous" or "categorical") and ``stats`` per column; a categorical row also has ``levels``
    (code, label) in display order. ``long`` (the long dataset the analysis read, arms labelled as here) gives
    the baseline scores of ``instruments``."""
    columns, arm_of = _columns(trial, blinded=blinded)
    people = {
        pid: (study_id, answers or {}, strata or {}, site)
        for pid, study_id, answers, strata, site in trial.participants.filter(pk__in=list(arm_of)).values_list(
            "pk", "study_id", "screening_answers", "strata", "site__code"
        )
    }
    arm_of = {pid: column for pid, column in arm_of.items() if pid in people}
    n = dict.fromkeys(columns, 0)
    for column in arm_of.values():
        n[column] += 1
        n[OVERALL] += 1
    rows: list[dict[str, Any]] = []
    factors = list(trial.factors.order_by("order", "id").prefetch_related("levels"))
    factor_codes = {f.code for f in factors}
    fields = sorted(
        trial.screening_fields.exclude(code__in=factor_codes).order_by("order", "id"),
        key=lambda f: FIRST.index(f.code) if f.code in FIRST else len(FIRST),
    )
    for field in fields:
        answers = {pid: people[pid][1].get(field.code) for pid in arm_of}
        if field.kind in (FieldKind.INTEGER, FieldKind.DECIMAL):
            values = _by_column(arm_of, columns, {pid: _number(v) for pid, v in answers.items()})
            if not values[OVERALL] or all(v is None for v in values[OVERALL]):
                continue
            stats = {c: continuous(values[c]) for c in columns}
            rows.append({"label": field.label, "kind": "continuous", "stats": stats, "source": "screening"})
            continue
        if field.kind == FieldKind.BOOLEAN:
            given = {bool(v) for v in answers.values() if v is not None and v != ""}
            if len(given) < 2:
                continue  # the same answer for everyone randomized (an eligibility criterion): says nothing
            levels = [("True", "Yes"), ("False", "No")]
            coded = {pid: (None if v is None or v == "" else str(bool(v))) for pid, v in answers.items()}
        else:
            levels = [(str(c), str(c)) for c in field.choices or ()]
            coded = {pid: (None if v is None or v == "" else str(v)) for pid, v in answers.items()}
        values = _by_column(arm_of, columns, coded)
        rows.append(
            {
                "label": field.label,
                "kind": "categorical",
                "levels": levels,
                "stats": {c: categorical(values[c], levels) for c in columns},
                "source": "screening",
            }
        )
    for factor in factors:
        levels = [(lv.code, lv.label) for lv in factor.levels.all()]
        values = _by_column(arm_of, columns, {pid: people[pid][2].get(factor.code) for pid in arm_of})
        rows.append(
            {
                "label": factor.name,
                "kind": "categorical",
                "levels": levels,
                "stats": {c: categorical(values[c], levels) for c in columns},
                "source": "stratification factor",
            }
        )
    sites = list(trial.sites.order_by("code").values_list("code", "name"))
    if len(sites) > 1:
        values = _by_column(arm_of, columns, {pid: people[pid][3] for pid in arm_of})
        rows.append(
            {
                "label": "Site",
                "kind": "categorical",
                "levels": sites,
                "stats": {c: categorical(values[c], sites) for c in columns},
                "source": "site",
            }
        )
    if long is not None and instruments:
        study_ids = {str(people[pid][0]): column for pid, column in arm_of.items()}
        rows += _baseline_scores(long, columns, study_ids, instruments)
    return {"columns": columns, "n": n, "rows": rows, "population": "randomized participants", "blinded": blinded}


def _baseline_scores(
    long: pd.DataFrame, columns: Sequence[str], arm_of: Mapping[str, str], instruments: Sequence[str]
) -> list[dict[str, Any]]:
    rows = []
    at_baseline = long[(pd.to_numeric(long["week"], errors="coerce") == 0) & (long["scale"] == "total")]
    for instrument in dict.fromkeys(instruments):
        part = at_baseline[at_baseline["instrument"] == instrument]
        if part.empty:
            continue
        score = dict(
            zip(part["participant_id"].astype(str), pd.to_numeric(part["value"], errors="coerce"), strict=True)
        )
        values = _by_column(arm_of, columns, {sid: _number(score.get(sid)) for sid in arm_of})
        rows.append(
            {
                "label": f"{instrument} total at baseline",
                "instrument": instrument,
                "kind": "continuous",
                "stats": {c: continuous(values[c]) for c in columns},
                "source": "baseline score",
            }
        )
    return rows
