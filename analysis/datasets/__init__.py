"""Analysis datasets built from the database, streamed a chunk of participants at a time.

- ``long``: one row per randomized participant x visit x instrument x scale (DESIGN.md contract);
- ``wide``: one row per randomized participant, a column per visit x instrument x scale;
- ``participants``: one row per enrolled participant: arm, strata, site, status, dates, engagement;
- ``items``: one row per randomized participant x visit, a column per item (the item keys);
- ``adverse_events``: one row per adverse event (no free text or relatedness in blinded files).

Each builder returns the dataset's description (variables with labels, categories and missing-value
meanings: the data dictionary) and an iterator of row chunks, for :func:`analysis.formats.write_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from analysis.datasets.adverse_events import adverse_events_dataset
from analysis.datasets.items import items_dataset
from analysis.datasets.long import LongRow, factor_codes, long_dataset, long_header, long_rows
from analysis.datasets.participants import participants_dataset
from analysis.datasets.wide import wide_dataset
from analysis.formats import Dataset
from trial.models import Trial

Rows = Sequence[Sequence[Any]]  # a chunk of rows; a row holds a value per variable
Builder = Callable[..., tuple[Dataset, Iterator[Rows]]]

DATASETS: dict[str, Builder] = {
    "long": long_dataset,
    "wide": wide_dataset,
    "participants": participants_dataset,
    "items": items_dataset,
    "adverse_events": adverse_events_dataset,
}


def build(trial: Trial, name: str, *, blinded: bool) -> tuple[Dataset, Iterator[Rows]]:
    """The dataset ``name`` of ``trial``: its description and its rows, in chunks."""
    try:
        builder = DATASETS[name]
    except KeyError:
        raise ValueError(f"No dataset {name!r} (datasets: {', '.join(DATASETS)}).") from None
    return builder(trial, blinded=blinded)


def describe(trial: Trial, *, blinded: bool) -> list[Dataset]:
    """Every dataset's description, for the data dictionary (no rows are read)."""
    return [build(trial, name, blinded=blinded)[0] for name in DATASETS]


__all__ = [
    "DATASETS",
    "LongRow",
    "build",
    "describe",
    "factor_codes",
    "long_header",
    "long_rows",
]
