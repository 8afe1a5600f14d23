"""Stata .dta format 118 (Stata 14 and later; UTF-8), written a block of rows at a time.

A 118 file is: header (with the row count N), a map of section offsets, the variable descriptors,
characteristics, the data (fixed-width records), strLs (none here) and the value labels. Everything but
N and the offsets after the data is known before the first row; with ``Dataset.n_rows`` those are known
too and the file is written front to back (any output stream will do, and the row count is checked at
the end). Without it, placeholders are written and patched at the end, which needs a seekable, readable
file (``tempfile.TemporaryFile()``).

Types: string -> ``str#`` with # = 4 bytes per declared character (UTF-8 needs at most 4), capped at
2045, or 255 bytes when no width is declared; integer -> ``long`` (values beyond -2,147,483,647 ..
2,147,483,620 are refused); float -> ``double``; datetime -> ``double`` ``%tc`` (milliseconds since
1960-01-01 00:00 UTC; sub-millisecond digits are dropped); category -> ``byte``/``int``/``long`` code with
a value label set named after the variable. Missing numbers are system missing ``.``; a missing string
is "" (Stata has no other). Variable labels are cut to 80 characters (see ``fit_label``); the "missing"
text of each variable is attached as a Stata note (``notes list``).

Reference: Stata's "dta" help file (Description of the .dta file format 117/118) and pandas'
``pandas/io/stata.py`` (StataWriter117 / StataWriterUTF8).
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from typing import Any

import numpy as np

from analysis.formats.schema import Dataset, Variable, fit_label
from analysis.formats.sink import Sink, can_patch
from analysis.formats.values import Column

STR_MAX = 2045
DEFAULT_STRING_BYTES = 255
LABEL_CHARS = 80
VALUE_LABEL_BYTES = 32_000
NOTE_BYTES = 67_783

BYTE, INT, LONG, DOUBLE = 65530, 65529, 65528, 65526
MISSING_BYTE, MISSING_INT, MISSING_LONG = 101, 32741, 2_147_483_621
MISSING_DOUBLE = 2.0**1023  # bit pattern 0x7FE0000000000000: Stata's "."
RANGES = {BYTE: (-127, 100), INT: (-32_767, 32_740), LONG: (-2_147_483_647, 2_147_483_620)}
NUMPY = {BYTE: "i1", INT: "<i2", LONG: "<i4", DOUBLE: "<f8"}
MISSING = {BYTE: MISSING_BYTE, INT: MISSING_INT, LONG: MISSING_LONG, DOUBLE: MISSING_DOUBLE}

EPOCH = datetime(1960, 1, 1, tzinfo=UTC)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
RESERVED = frozenset(
    ("_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_N", "_pi",
     "_pred", "_rc", "_se", "_skip", "strL", "using", "with")
)  # fmt: skip
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def check_name(name: str) -> None:
    if not NAME.fullmatch(name) or name in RESERVED or re.fullmatch(r"str[0-9]+", name):
        raise ValueError(
            f"column {name!r}: not a valid Stata variable name (at most 32 characters, letters, digits and "
            "underscores, not starting with a digit, not a reserved word)"
        )


def _tag(name: str, body: bytes = b"") -> bytes:
    return b"<" + name.encode() + b">" + body + b"</" + name.encode() + b">"


def _fixed(text: str, size: int) -> bytes:
    """``text`` in UTF-8, null-terminated and null-padded to ``size`` bytes."""
    data = text.encode("utf-8")
    if len(data) >= size:
        raise ValueError(f"{text!r} does not fit {size - 1} bytes")
    return data.ljust(size, b"\0")


def _milliseconds(value: datetime) -> float:
    delta = value - EPOCH
    return float(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


class _Column:
    """How one variable is stored: Stata type, display format, numpy field and the cell converter."""

    def __init__(self, var: Variable) -> None:
        self.var = var
        self.value_labels = ""
        self.label = fit_label(var.label, chars=LABEL_CHARS)
        self.width = 0
        if var.kind == "string":
            self.width = min(STR_MAX, 4 * var.width) if var.width else DEFAULT_STRING_BYTES
            self.type = self.width
            self.format = f"%{min(self.width, 244)}s"
            self.numpy = f"S{self.width}"
        elif var.kind == "category":
            codes = [code for code, _v, _l in var.categories]
            fitting = [t for t in (BYTE, INT, LONG) if RANGES[t][0] <= min(codes) and max(codes) <= RANGES[t][1]]
            if not fitting:
                raise ValueError(f"column {var.name!r}: category codes must lie within Stata's long range")
            self.type = fitting[0]
            self.format = "%8.0g"
            self.value_labels = var.name
        elif var.kind == "integer":
            self.type = LONG
            self.format = "%12.0g"
        else:
            self.type = DOUBLE
            self.format = "%tc" if var.kind == "datetime" else "%10.0g"
        if var.kind != "string":
            self.numpy = NUMPY[self.type]

    def cells(self, column: Column, first: int) -> Any:
        var, kind = self.var, self.var.kind
        if kind == "string":
            out: list[bytes] = []
            for i, value in enumerate(column):
                data = b"" if value is None else value.encode("utf-8")
                if len(data) > self.width or b"\0" in data:
                    problem = "a NUL character" if b"\0" in data else f"{len(data)} bytes in UTF-8"
                    raise ValueError(
                        f"column {var.name!r}, row {first + i}: {problem}; the Stata column holds at most "
                        f"{self.width} bytes (declare a width: 4 bytes per character, 2045 at most)"
                    )
                out.append(data)
            return out
        missing = MISSING[self.type]
        if kind == "category":
            codes = [code for code, _v, _l in var.categories]
            return [missing if v is None else codes[v] for v in column]
        if kind == "datetime":
            return [missing if v is None else _milliseconds(v) for v in column]
        if kind == "integer":
            low, high = RANGES[LONG]
            for i, value in enumerate(column):
                if value is not None and not low <= value <= high:
                    raise ValueError(
                        f"column {var.name!r}, row {first + i}: {value} is outside Stata's long range ({low} .. {high})"
                    )
        return [missing if v is None else v for v in column]


class StataEncoder:
    def __init__(self, dataset: Dataset, sink: Sink, out: Any) -> None:
        for var in dataset.variables:
            check_name(var.name)
        if len(dataset.variables) > 32_767:
            raise ValueError("Stata .dta 118 holds at most 32,767 variables")
        if dataset.n_rows is None and not can_patch(out):
            raise ValueError(
                "Stata needs the row count in its header: give Dataset.n_rows, or write to a seekable, readable "
                "file (e.g. tempfile.TemporaryFile()) so it can be patched at the end"
            )
        self.dataset = dataset
        self.sink = sink
        self.columns = [_Column(var) for var in dataset.variables]
        self.dtype = np.dtype([(f"f{i}", col.numpy) for i, col in enumerate(self.columns)])
        self.record = self.dtype.itemsize
        self.value_labels = _tag("value_labels", b"".join(self._value_label(col.var) for col in self.columns))
        self.characteristics = _tag("characteristics", b"".join(self._notes(var) for var in dataset.variables))
        self.n_offset = 0
        self.map_offset = 0
        self.data_offset = 0

    # -- the parts known before the data ------------------------------------------------------------------

    def _value_label(self, var: Variable) -> bytes:
        if var.kind != "category":
            return b""
        labels = (var.value_label(value, label) for _code, value, label in var.categories)
        texts = [fit_label(text, nbytes=VALUE_LABEL_BYTES).encode("utf-8") for text in labels]
        offsets, position = [], 0
        for text in texts:
            offsets.append(position)
            position += len(text) + 1
        n = len(texts)
        table = struct.pack("<ii", n, position)
        table += struct.pack(f"<{n}i", *offsets) + struct.pack(f"<{n}i", *(c for c, _v, _l in var.categories))
        table += b"".join(text + b"\0" for text in texts)
        return _tag("lbl", struct.pack("<i", len(table)) + _fixed(var.name, 129) + b"\0\0\0" + table)

    @staticmethod
    def _characteristic(owner: str, name: str, text: str) -> bytes:
        contents = fit_label(text, nbytes=NOTE_BYTES).encode("utf-8") + b"\0"
        body = _fixed(owner, 129) + _fixed(name, 129) + contents
        return _tag("ch", struct.pack("<I", len(body)) + body)

    def _notes(self, var: Variable) -> bytes:
        if not var.missing:
            return b""
        note = self._characteristic(var.name, "note1", f"Missing: {var.missing}")
        return self._characteristic(var.name, "note0", "1") + note

    def _map(self, rows: int) -> bytes:
        data_end = self.data_offset + len(b"<data>") + rows * self.record + len(b"</data>")
        strls = data_end
        value_labels = strls + len(_tag("strls"))
        close = value_labels + len(self.value_labels)
        tail = [self.data_offset, strls, value_labels, close, close + len(b"</stata_dta>")]
        offsets = [0, self.map_offset, *self.section_offsets, *tail]
        return struct.pack("<14Q", *offsets)

    def begin(self) -> None:
        now = datetime.now(UTC)
        stamp = f"{now:%d} {MONTHS[now.month - 1]} {now:%Y %H:%M}".encode()
        label = fit_label(self.dataset.name, chars=LABEL_CHARS).encode("utf-8")
        head = b"<stata_dta><header>" + _tag("release", b"118") + _tag("byteorder", b"LSF")
        head += _tag("K", struct.pack("<H", len(self.columns))) + b"<N>"
        self.n_offset = len(head)
        head += struct.pack("<Q", self.dataset.n_rows or 0) + b"</N>"
        head += _tag("label", struct.pack("<H", len(label)) + label)
        head += _tag("timestamp", bytes([len(stamp)]) + stamp) + b"</header>"
        self.map_offset = len(head)
        sections = [
            _tag("variable_types", b"".join(struct.pack("<H", col.type) for col in self.columns)),
            _tag("varnames", b"".join(_fixed(col.var.name, 129) for col in self.columns)),
            _tag("sortlist", b"\0\0" * (len(self.columns) + 1)),
            _tag("formats", b"".join(_fixed(col.format, 57) for col in self.columns)),
            _tag("value_label_names", b"".join(_fixed(col.value_labels, 129) for col in self.columns)),
            _tag("variable_labels", b"".join(_fixed(col.label, 321) for col in self.columns)),
            self.characteristics,
        ]
        position = self.map_offset + len(_tag("map", bytes(14 * 8)))
        self.section_offsets = []
        for section in sections:
            self.section_offsets.append(position)
            position += len(section)
        self.data_offset = position
        self.sink.write(head + _tag("map", self._map(self.dataset.n_rows or 0)) + b"".join(sections) + b"<data>")

    # -- the data -----------------------------------------------------------------------------------------

    def write(self, columns: list[Column], n: int, first: int) -> None:
        if not n:
            return
        records = np.zeros(n, dtype=self.dtype)
        for i, (col, column) in enumerate(zip(self.columns, columns, strict=True)):
            records[f"f{i}"] = col.cells(column, first)
        self.sink.write(records.tobytes())

    def end(self, rows: int) -> None:
        self.sink.write(b"</data>" + _tag("strls") + self.value_labels + b"</stata_dta>")
        if self.dataset.n_rows is None:
            self.sink.patch(self.n_offset, struct.pack("<Q", rows))
            self.sink.patch(self.map_offset + len(b"<map>"), self._map(rows))
