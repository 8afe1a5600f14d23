"""What a dataset is: its variables (name, label, kind, categories, width, what missing means) and the
result of writing one. Pure data; the checks here apply to every format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "integer", "float", "datetime", "category"]
KINDS: tuple[str, ...] = ("string", "integer", "float", "datetime", "category")

ELLIPSIS = "…"


@dataclass(frozen=True)
class Variable:
    """One column. Rows carry a category's VALUE ("A"); Stata and SPSS files carry its code (1) with the
    label ("Arm A") as a value label, Parquet a dictionary-encoded value with the codes and labels in the
    metadata, CSV the value."""

    name: str
    label: str
    kind: Kind
    categories: tuple[tuple[int, str, str], ...] = ()  # (code, value, label)
    width: int = 0  # strings: maximum length in characters; 0 = unknown (a default per format applies)
    missing: str = ""  # what missing means for this variable (the data dictionary)

    def value_label(self, value: str, label: str) -> str:
        return label or value


@dataclass(frozen=True)
class Dataset:
    name: str
    variables: tuple[Variable, ...]
    n_rows: int | None = None


@dataclass(frozen=True)
class WriteResult:
    rows: int
    sha256: str
    bytes: int


def check_dataset(dataset: Dataset) -> None:
    """Raise ValueError naming the variable for a definition no format could write faithfully."""
    if dataset.n_rows is not None and (not isinstance(dataset.n_rows, int) or dataset.n_rows < 0):
        raise ValueError(f"dataset {dataset.name!r}: n_rows must be a non-negative integer or None")
    if not dataset.variables:
        raise ValueError(f"dataset {dataset.name!r} has no variables")
    seen: set[str] = set()
    for var in dataset.variables:
        if not isinstance(var.name, str) or not var.name:
            raise ValueError(f"dataset {dataset.name!r}: a variable has an empty name")
        if var.name in seen:
            raise ValueError(f"column {var.name!r}: the name appears twice")
        seen.add(var.name)
        if var.kind not in KINDS:
            raise ValueError(f"column {var.name!r}: unknown kind {var.kind!r} (one of {', '.join(KINDS)})")
        if not isinstance(var.width, int) or isinstance(var.width, bool) or var.width < 0:
            raise ValueError(f"column {var.name!r}: width must be a non-negative integer")
        if var.width and var.kind != "string":
            raise ValueError(f"column {var.name!r}: width applies to strings only, not to {var.kind}")
        if var.kind != "category":
            if var.categories:
                raise ValueError(f"column {var.name!r}: categories given for a {var.kind} variable")
            continue
        if not var.categories:
            raise ValueError(f"column {var.name!r}: a category variable needs its categories")
        seen_items: set[tuple[str, object]] = set()
        for entry in var.categories:
            if len(entry) != 3:
                raise ValueError(f"column {var.name!r}: each category is (code, value, label), got {entry!r}")
            code, value, label = entry
            if not isinstance(code, int) or isinstance(code, bool):
                raise ValueError(f"column {var.name!r}: category code {code!r} is not an integer")
            if not isinstance(value, str) or not isinstance(label, str):
                raise ValueError(f"column {var.name!r}: category value and label must be strings: {entry!r}")
            for item in (("code", code), ("value", value), ("label", var.value_label(value, label))):
                if item in seen_items:
                    raise ValueError(f"column {var.name!r}: category {item[0]} {item[1]!r} appears twice")
                seen_items.add(item)


def fit_label(text: str, *, chars: int | None = None, nbytes: int | None = None) -> str:
    """A label that fits a format's limit. The rule (documented in docs/statistician.md): a label within
    the limit is kept whole; a longer one is cut at a character boundary, trailing spaces dropped, and
    ends with "…" so the cut shows. The full label is always in the data dictionary and in Parquet."""

    def fits(candidate: str) -> bool:
        return (chars is None or len(candidate) <= chars) and (
            nbytes is None or len(candidate.encode("utf-8")) <= nbytes
        )

    if fits(text):
        return text
    keep = len(text) if chars is None else min(len(text), chars)
    while keep > 0 and not fits(text[:keep].rstrip() + ELLIPSIS):
        keep -= 1
    return text[:keep].rstrip() + ELLIPSIS if keep else ""
