"""The data dictionary: one row per variable of each dataset (dataset, name, label, kind, values,
missing), as CSV or JSON. ``values`` reads ``1=A (Arm A); 2=B (Arm B)`` (the label in brackets only when it
differs from the value); the JSON rows also carry ``width`` and the categories as
``[{"code", "value", "label"}]``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, BinaryIO

from analysis.formats.schema import Dataset, Variable, check_dataset

COLUMNS = ("dataset", "name", "label", "kind", "values", "missing")


def values_text(var: Variable) -> str:
    parts = []
    for code, value, label in var.categories:
        shown = var.value_label(value, label)
        parts.append(f"{code}={value}" if shown == value else f"{code}={value} ({shown})")
    return "; ".join(parts)


def rows(datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    out = []
    for dataset in datasets:
        check_dataset(dataset)
        for var in dataset.variables:
            out.append(
                {
                    "dataset": dataset.name,
                    "name": var.name,
                    "label": var.label,
                    "kind": var.kind,
                    "values": values_text(var),
                    "missing": var.missing,
                }
            )
    return out


def write_dictionary(datasets: Sequence[Dataset], out: BinaryIO, fmt: str) -> None:
    table = rows(datasets)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        out.write(buffer.getvalue().encode("utf-8"))
    elif fmt == "json":
        variables = [var for dataset in datasets for var in dataset.variables]
        for row, var in zip(table, variables, strict=True):
            row["width"] = var.width
            row["categories"] = [
                {"code": code, "value": value, "label": var.value_label(value, label)}
                for code, value, label in var.categories
            ]
        out.write(json.dumps(table, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")
    else:
        raise ValueError(f"unknown dictionary format {fmt!r}: csv or json")
