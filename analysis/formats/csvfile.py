"""CSV: UTF-8, a header line, ``\\n`` line ends, minimal quoting. Missing is an empty field; categories
are written as their value ("A"); whole floats as integers (12, not 12.0) as the long export always has
(up to 2**53; 1e+300 stays 1e+300);
datetimes as ISO 8601 in UTC (``2025-01-31T09:00:00+00:00``). Any output stream will do."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import cast

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from analysis.formats.schema import Dataset, Variable
from analysis.formats.sink import Sink
from analysis.formats.values import Column

WHOLE = 2**53  # whole floats up to here are written as integers (exact); beyond, as floats (1e+300)


def _float(value: float | None) -> object:
    if value is None:
        return ""
    return int(value) if value.is_integer() and abs(value) <= WHOLE else value


def _datetime(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def datetimes_text(times: Sequence[datetime | None]) -> list[str]:
    """``_datetime`` of every value of a column, UTC columns in one go."""
    fast = _utc_isoformats(times)
    return fast if fast is not None else [_datetime(v) for v in times]


def _utc_isoformats(times: Sequence[datetime | None]) -> list[str] | None:
    """``v.isoformat()`` of every value of a column of UTC datetimes ("" for None), converted by pandas and
    numpy in one go (a call per value was the largest cost of a long CSV: timestamps are mostly distinct);
    None when a value is in another timezone or out of range, and each must be converted on its own."""
    zones = set(map(attrgetter("tzinfo"), filter(None, times)))
    if zones != {UTC}:
        return None
    try:
        stamps = pd.DatetimeIndex(times).as_unit("us").tz_localize(None).to_numpy()
    except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime is a ValueError
        return None
    missing = np.isnat(stamps)
    micros = stamps.astype(np.int64) % 1_000_000
    text = np.datetime_as_string(stamps, unit="us").astype(object)
    whole = (micros == 0) & ~missing  # isoformat leaves out a zero fraction of a second
    if whole.any():
        text[whole] = np.datetime_as_string(stamps[whole], unit="s")
    text = text + "+00:00"
    text[missing] = ""
    return cast("list[str]", text.tolist())


class CsvEncoder:
    def __init__(self, dataset: Dataset, sink: Sink) -> None:
        self.dataset = dataset
        self.sink = sink
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.cells: list[Callable[[Column], Column] | None] = [self._cells(var) for var in dataset.variables]

    @staticmethod
    def _cells(var: Variable) -> Callable[[Column], Column] | None:
        if var.kind == "float":
            return lambda col: [_float(v) for v in col]
        if var.kind == "datetime":
            return datetimes_text
        if var.kind == "category":
            values = [value for _code, value, _label in var.categories]
            return lambda col: ["" if v is None else values[v] for v in col]
        return None  # strings and integers as they are; None is written as an empty field by the csv module

    def _flush(self) -> None:
        self.sink.write(self.buffer.getvalue().encode("utf-8"))
        self.buffer.seek(0)
        self.buffer.truncate()

    def begin(self) -> None:
        self.writer.writerow([var.name for var in self.dataset.variables])
        self._flush()

    def write(self, columns: list[Column], n: int, first: int) -> None:
        cells = [col if cell is None else cell(col) for cell, col in zip(self.cells, columns, strict=True)]
        self.writer.writerows(zip(*cells, strict=True))
        self._flush()

    def end(self, rows: int) -> None:
        self._flush()
