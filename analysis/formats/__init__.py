"""Datasets to files: CSV, Parquet, Stata (.dta 118) and SPSS (.sav), with variable and value labels,
streamed a chunk of rows at a time, so memory stays bounded however many rows arrive. Pure: no Django.

    result = write_dataset(dataset, chunks, out, "stata")   # -> WriteResult(rows, sha256, bytes)

``chunks`` yields sequences of rows; a row is a sequence of values in variable order, None for missing.
Every value is checked against its variable's kind first (``values.py``): a value that does not fit
raises ValueError naming the column and the row, and the partly written output must then be discarded.
A block of at most ``BLOCK_ROWS`` rows is converted at a time, whatever the chunk size, so the writer's
own memory does not grow with the chunks either (the chunks themselves are the caller's).

Output streams: CSV, Parquet and SPSS write front to back to any stream. Stata needs the row count in
its header: give ``Dataset.n_rows`` (then any stream will do) or a seekable, readable file, which is
patched at the end. SPSS with neither writes the case count as -1 (unknown), as the format allows. When
``n_rows`` is given and a different number of rows arrives, a ValueError is raised at the end. The
reported SHA-256 and size are those of the finished file, patches included.

The formats are described in docs/statistician.md ("File formats") and in each module's docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, Literal, Protocol

from analysis.formats.dictionary import write_dictionary as _write_dictionary
from analysis.formats.schema import Dataset, Variable, WriteResult, check_dataset, fit_label
from analysis.formats.sink import Sink
from analysis.formats.values import Column, Normalizer

__all__ = [
    "FORMATS",
    "Dataset",
    "Variable",
    "WriteResult",
    "content_type",
    "extension",
    "fit_label",
    "write_dataset",
    "write_dictionary",
]

FORMATS = ("csv", "parquet", "stata", "spss")
BLOCK_ROWS = 5000

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "stata": "application/x-stata-dta",
    "spss": "application/x-spss-sav",
}
_EXTENSIONS = {"csv": "csv", "parquet": "parquet", "stata": "dta", "spss": "sav"}


class _Encoder(Protocol):
    def begin(self) -> None: ...
    def write(self, columns: list[Column], n: int, first: int) -> None: ...
    def end(self, rows: int) -> None: ...


def _known(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return fmt


def content_type(fmt: str) -> str:
    return _CONTENT_TYPES[_known(fmt)]


def extension(fmt: str) -> str:
    """The file name extension, without the dot: csv, parquet, dta, sav."""
    return _EXTENSIONS[_known(fmt)]


def _encoder(dataset: Dataset, sink: Sink, out: BinaryIO, fmt: str) -> _Encoder:
    if fmt == "csv":
        from analysis.formats.csvfile import CsvEncoder

        return CsvEncoder(dataset, sink)
    if fmt == "parquet":
        from analysis.formats.parquet import ParquetEncoder

        return ParquetEncoder(dataset, sink)
    if fmt == "stata":
        from analysis.formats.stata import StataEncoder

        return StataEncoder(dataset, sink, out)
    from analysis.formats.spss import SpssEncoder

    return SpssEncoder(dataset, sink, out)


def write_dataset(
    dataset: Dataset,
    chunks: Iterable[Sequence[Sequence[object]]],
    out: BinaryIO,
    fmt: str,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> WriteResult:
    """Write ``dataset`` to ``out`` in ``fmt``; ``on_progress(rows_written_so_far)`` after each chunk."""
    _known(fmt)
    check_dataset(dataset)
    sink = Sink(out)
    encoder = _encoder(dataset, sink, out, fmt)
    normalizer = Normalizer(dataset)
    expected = dataset.n_rows
    rows = 0
    encoder.begin()
    for chunk in chunks:
        for start in range(0, len(chunk), BLOCK_ROWS):
            block = chunk[start : start + BLOCK_ROWS]
            if expected is not None and rows + len(block) > expected:
                raise ValueError(
                    f"dataset {dataset.name!r} declares n_rows={expected} but more rows arrived "
                    f"({rows + len(block)} so far)"
                )
            encoder.write(normalizer.columns(block, rows + 1), len(block), rows + 1)
            rows += len(block)
        if on_progress is not None:
            on_progress(rows)
    if expected is not None and rows != expected:
        raise ValueError(f"dataset {dataset.name!r} declares n_rows={expected} but {rows} rows arrived")
    encoder.end(rows)
    digest, size = sink.finish()
    return WriteResult(rows=rows, sha256=digest, bytes=size)


def write_dictionary(datasets: Sequence[Dataset], out: BinaryIO, fmt: Literal["csv", "json"]) -> None:
    """One row per variable: dataset, name, label, kind, values ("1=A (Arm A); 2=B ..."), missing."""
    _write_dictionary(datasets, out, fmt)
