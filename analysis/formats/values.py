"""Rows in, checked columns out: every value is checked against its variable's kind before any format
sees it, so a bad value stops the export with a ValueError naming the column and the row (1-based, the
header not counted) instead of being written wrong.

Normalised values (None = missing everywhere):

- string: ``str`` (at most ``width`` characters when a width is declared);
- integer: ``int`` within 64 bits (whole floats such as ``4.0`` are accepted as ``4``);
- float: a finite ``float`` (NaN counts as missing; infinities are refused);
- datetime: a timezone-aware ``datetime`` converted to UTC (naive datetimes are refused);
- category: the index of the value in ``Variable.categories`` (unknown values are refused).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from analysis.formats.schema import Dataset, Variable

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Column = list[Any]
Converter = Callable[[Sequence[object], int], Column]


def bad_value(var: Variable, row: int, value: object, expected: str) -> ValueError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ValueError(f"column {var.name!r}, row {row}: expected {expected}, got {shown} ({type(value).__name__})")


def _strings(var: Variable) -> Converter:
    width = var.width

    def convert(values: Sequence[object], first: int) -> Column:
        for i, value in enumerate(values):
            if value is None:
                continue
            if not isinstance(value, str):
                raise bad_value(var, first + i, value, "a string")
            if width and len(value) > width:
                raise ValueError(
                    f"column {var.name!r}, row {first + i}: {len(value)} characters, more than the declared "
                    f"width of {width} (values are never truncated)"
                )
        return list(values)

    return convert


def _whole(value: object) -> int | None:
    """``value`` as an int when it is a whole number (4, 4.0, Decimal("4"), numpy integers), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (float, Decimal, numbers.Real)):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return int(value) if isinstance(value, Decimal) else int(number)
    return None


def _integers(var: Variable) -> Converter:
    def convert(values: Sequence[object], first: int) -> Column:
        out: Column = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            number = value if type(value) is int else _whole(value)
            if number is None:
                raise bad_value(var, first + i, value, "an integer")
            if not INT64_MIN <= number <= INT64_MAX:
                raise bad_value(var, first + i, value, "an integer within 64 bits")
            out.append(number)
        return out

    return convert


def _floats(var: Variable) -> Converter:
    def convert(values: Sequence[object], first: int) -> Column:
        out: Column = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            if type(value) is float:
                number = value
            elif isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool):
                number = float(value)
            else:
                raise bad_value(var, first + i, value, "a number")
            if math.isnan(number):
                out.append(None)
            elif math.isinf(number):
                raise bad_value(var, first + i, value, "a finite number")
            else:
                out.append(number)
        return out

    return convert


def _datetimes(var: Variable) -> Converter:
    def convert(values: Sequence[object], first: int) -> Column:
        out: Column = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
            elif not isinstance(value, datetime):
                raise bad_value(var, first + i, value, "a timezone-aware datetime")
            elif value.tzinfo is None or value.utcoffset() is None:
                raise bad_value(var, first + i, value, "a timezone-aware datetime (this one is naive)")
            else:
                out.append(value.astimezone(UTC))
        return out

    return convert


def _categories(var: Variable) -> Converter:
    index = {value: i for i, (_code, value, _label) in enumerate(var.categories)}
    known = ", ".join(repr(value) for _code, value, _label in var.categories)

    def convert(values: Sequence[object], first: int) -> Column:
        out: Column = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            found = index.get(value) if isinstance(value, str) else None
            if found is None:
                raise bad_value(var, first + i, value, f"one of the category values {known}")
            out.append(found)
        return out

    return convert


_CONVERTERS: dict[str, Callable[[Variable], Converter]] = {
    "string": _strings,
    "integer": _integers,
    "float": _floats,
    "datetime": _datetimes,
    "category": _categories,
}


class Normalizer:
    """Turns a block of rows into one checked list per variable."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.converters = [_CONVERTERS[var.kind](var) for var in dataset.variables]

    def columns(self, rows: Sequence[Sequence[object]], first: int) -> list[Column]:
        width = len(self.converters)
        for i, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or len(row) != width:
                got = "a string" if isinstance(row, (str, bytes)) else f"{len(row)} values"
                raise ValueError(f"row {first + i}: {got} for {width} variables of dataset {self.dataset.name!r}")
        if not rows:
            return [[] for _ in self.converters]
        columns = zip(*rows, strict=True)
        return [convert(list(values), first) for convert, values in zip(self.converters, columns, strict=True)]
