"""SPSS .sav system file, bytecode-compressed, written a block of rows at a time.

Layout (GNU PSPP, "System File Format"): the file header (176 bytes, with the case count), one variable
record per variable (plus one continuation record per further 8 bytes of a string), value labels
(records 3 and 4), machine integer and floating-point info (7/3, 7/4), display parameters (7/11), long
variable names (7/13), the character encoding "UTF-8" (7/20), the dictionary terminator (999) and the
cases. Compression works on 8-byte elements in blocks of 8 one-byte opcodes: 1..251 an integer - 100,
253 eight raw bytes follow the block, 254 eight spaces, 255 system missing, 0 padding.

The case count: ``Dataset.n_rows`` when given; otherwise -1 ("unknown", which the format allows and
readers handle by reading to the end), patched with the real count at the end when the file is seekable
and readable. So any output stream will do.

Types: string -> ``A#`` with # = 4 bytes per declared character (UTF-8 needs at most 4), capped at 255,
or 255 bytes when no width is declared (very long strings are not written: longer values are refused);
integer -> numeric ``F`` (values beyond +-2**53 are refused: not exact in a double); float -> numeric
``F``; datetime -> numeric ``DATETIME20`` (seconds since 1582-10-14 00:00 UTC); category -> numeric code
with value labels. Missing numbers are system missing; a missing string is blank. Variable labels are
cut to 255 bytes and value labels to 120 bytes (see ``fit_label``).
"""

from __future__ import annotations

import re
import struct
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np

from analysis.formats.schema import Dataset, Variable, fit_label
from analysis.formats.sink import Sink, can_patch
from analysis.formats.values import Column

STRING_MAX = 255
DEFAULT_STRING_BYTES = 255
VARIABLE_LABEL_BYTES = 255
VALUE_LABEL_BYTES = 120
EXACT = 2**53

BIAS = 100
RAW, SPACES, SYSMIS_CODE = 253, 254, 255
SYSMIS = -sys.float_info.max
HIGHEST = sys.float_info.max
LOWEST = float(np.nextafter(-sys.float_info.max, 0))

FORMAT_A, FORMAT_F, FORMAT_DATETIME = 1, 5, 22
EPOCH = datetime(1582, 10, 14, tzinfo=UTC)
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.@#$]{0,63}")
RESERVED = frozenset(("ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEADER_CASES_OFFSET = 80


def check_names(variables: tuple[Variable, ...]) -> None:
    seen: set[str] = set()
    for var in variables:
        if not NAME.fullmatch(var.name) or var.name.endswith(".") or var.name.upper() in RESERVED:
            raise ValueError(
                f"column {var.name!r}: not a valid SPSS variable name (at most 64 characters, starting with a "
                "letter, then letters, digits or _ . @ # $, not ending with a period, not a reserved word)"
            )
        if var.name.upper() in seen:
            raise ValueError(f"column {var.name!r}: SPSS names ignore case and another column has the same name")
        seen.add(var.name.upper())


def short_names(variables: tuple[Variable, ...]) -> list[str]:
    """The 8-byte names of the variable records, unique ignoring case; the long names (7/13) are the real
    ones."""
    used: set[str] = set()
    names: list[str] = []
    for number, var in enumerate(variables, start=1):
        candidate = var.name.upper()[:8]
        suffix = 0
        while candidate in used or candidate in RESERVED:
            suffix += 1
            tail = f"_{suffix}" if suffix < 10 else f"V{number}_{suffix}"
            candidate = (var.name.upper()[: 8 - len(tail)] + tail)[:8]
        used.add(candidate)
        names.append(candidate)
    return names


def _format(kind: int, width: int, decimals: int) -> int:
    return (kind << 16) | (width << 8) | decimals


def _ints(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def _seconds(value: datetime) -> float:
    delta = value - EPOCH
    return delta.days * 86_400.0 + delta.seconds + delta.microseconds / 1_000_000


class _Column:
    def __init__(self, var: Variable, short: str) -> None:
        self.var = var
        self.short = short
        self.width = 0  # bytes, strings only
        if var.kind == "string":
            self.width = min(STRING_MAX, 4 * var.width) if var.width else DEFAULT_STRING_BYTES
            self.slots = (self.width + 7) // 8
            self.format = _format(FORMAT_A, self.width, 0)
        else:
            self.slots = 1
            self.format = {
                "integer": _format(FORMAT_F, 11, 0),
                "float": _format(FORMAT_F, 10, 2),
                "datetime": _format(FORMAT_DATETIME, 20, 0),
                "category": _format(FORMAT_F, 8, 0),
            }[var.kind]

    def record(self) -> bytes:
        label = fit_label(self.var.label, nbytes=VARIABLE_LABEL_BYTES).encode("utf-8")
        out = _ints(2, self.width if self.var.kind == "string" else 0, 1 if label else 0, 0, self.format, self.format)
        out += self.short.encode("ascii").ljust(8)
        if label:
            out += _ints(len(label)) + label.ljust((len(label) + 3) // 4 * 4)
        for _ in range(self.slots - 1):  # continuation records of a long string
            out += _ints(2, -1, 0, 0, 0, 0) + bytes(8)
        return out

    def elements(self, column: Column, first: int) -> tuple[Any, Any]:
        """The column's 8-byte elements (n x slots x 8 bytes) and their opcodes (n x slots)."""
        var, n = self.var, len(column)
        if var.kind == "string":
            size = self.slots * 8
            parts: list[bytes] = []
            for i, value in enumerate(column):
                data = b"" if value is None else value.encode("utf-8")
                if len(data) > self.width:
                    raise ValueError(
                        f"column {var.name!r}, row {first + i}: {len(data)} bytes in UTF-8; the SPSS column holds "
                        f"at most {self.width} bytes (declare a width: 4 bytes per character, 255 at most)"
                    )
                parts.append(data.ljust(size))
            raw = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(n, self.slots, 8)
            blank = (raw == 0x20).all(axis=2)
            return raw, np.where(blank, SPACES, RAW).astype(np.uint8)
        if var.kind == "category":
            codes = [float(code) for code, _v, _l in var.categories]
            values = [np.nan if v is None else codes[v] for v in column]
        elif var.kind == "datetime":
            values = [np.nan if v is None else _seconds(v) for v in column]
        else:
            if var.kind == "integer":
                for i, value in enumerate(column):
                    if value is not None and abs(value) > EXACT:
                        raise ValueError(
                            f"column {var.name!r}, row {first + i}: {value} is beyond 2**53, not exact in SPSS"
                        )
            values = [np.nan if v is None else v for v in column]
        numbers = np.array(values, dtype="<f8")
        missing = np.isnan(numbers)
        whole = ~missing & (numbers == np.round(numbers)) & (numbers >= 1 - BIAS) & (numbers <= 251 - BIAS)
        small = np.where(whole, numbers, 0.0) + BIAS
        ops = np.where(missing, SYSMIS_CODE, np.where(whole, small, RAW)).astype(np.uint8)
        numbers[missing] = SYSMIS
        return numbers.view(np.uint8).reshape(n, 1, 8), ops.reshape(n, 1)


class SpssEncoder:
    def __init__(self, dataset: Dataset, sink: Sink, out: Any) -> None:
        check_names(dataset.variables)
        if dataset.n_rows is not None and dataset.n_rows > 2**31 - 1:
            raise ValueError("an SPSS file holds at most 2,147,483,647 cases")
        self.dataset = dataset
        self.sink = sink
        self.patch = dataset.n_rows is None and can_patch(out)
        shorts = short_names(dataset.variables)
        self.columns = [_Column(var, short) for var, short in zip(dataset.variables, shorts, strict=True)]
        self.pending_ops = np.zeros(0, np.uint8)
        self.pending_raw = np.zeros((0, 8), np.uint8)

    def _header(self, cases: int) -> bytes:
        now = datetime.now(UTC)
        return (
            b"$FL2"
            + b"@(#) SPSS DATA FILE - trialplatform".ljust(60)
            + _ints(2, sum(col.slots for col in self.columns), 1, 0, cases)
            + struct.pack("<d", float(BIAS))
            + f"{now:%d} {MONTHS[now.month - 1]} {now:%y}".encode()
            + f"{now:%H:%M:%S}".encode()
            + fit_label(self.dataset.name, nbytes=64).encode("utf-8").ljust(64)
            + bytes(3)
        )

    def _value_labels(self) -> bytes:
        out = b""
        index = 1
        for col in self.columns:
            var = col.var
            if var.kind == "category":
                out += _ints(3, len(var.categories))
                for code, value, label in var.categories:
                    text = fit_label(var.value_label(value, label), nbytes=VALUE_LABEL_BYTES).encode("utf-8")
                    entry = bytes([len(text)]) + text
                    out += struct.pack("<d", float(code)) + entry.ljust((len(entry) + 7) // 8 * 8)
                out += _ints(4, 1, index)
            index += col.slots
        return out

    def _extensions(self) -> bytes:
        out = _ints(7, 3, 4, 8, 1, 0, 0, -1, 1, 1, 2, 65001)
        out += _ints(7, 4, 8, 3) + struct.pack("<3d", SYSMIS, HIGHEST, LOWEST)
        out += _ints(7, 11, 4, 3 * len(self.columns))
        for col in self.columns:
            text = col.var.kind == "string"
            measure = 1 if text or col.var.kind == "category" else 3  # nominal / scale
            out += _ints(measure, max(8, min(col.width, 40)) if text else 8, 0 if text else 1)
        names = "\t".join(f"{col.short}={col.var.name}" for col in self.columns).encode("utf-8")
        out += _ints(7, 13, 1, len(names)) + names
        out += _ints(7, 20, 1, 5) + b"UTF-8"
        return out + _ints(999, 0)

    def begin(self) -> None:
        cases = -1 if self.dataset.n_rows is None else self.dataset.n_rows
        records = b"".join(col.record() for col in self.columns)
        self.sink.write(self._header(cases) + records + self._value_labels() + self._extensions())

    def _compress(self, ops: Any, raw: Any) -> None:
        """Write whole blocks of 8 opcodes, each followed by the raw elements it announces; keep the rest."""
        ops = np.concatenate([self.pending_ops, ops])
        raw = np.concatenate([self.pending_raw, raw])
        whole = len(ops) // 8 * 8
        self.pending_ops, self.pending_raw = ops[whole:], raw[whole:]
        if not whole:
            return
        ops, raw = ops[:whole], raw[:whole]
        blocks = whole // 8
        is_raw = ops == RAW
        before = np.cumsum(is_raw)  # raw elements up to and including each element
        raws_before_block = np.concatenate([[0], before[7::8][:-1]])
        where = np.flatnonzero(is_raw)
        stream = np.empty((blocks + len(where), 8), np.uint8)
        stream[np.arange(blocks) + raws_before_block] = ops.reshape(blocks, 8)
        stream[where // 8 + before[where]] = raw[where]
        self.sink.write(stream.tobytes())

    def write(self, columns: list[Column], n: int, first: int) -> None:
        if not n:
            return
        parts = [col.elements(column, first) for col, column in zip(self.columns, columns, strict=True)]
        raw = np.concatenate([p[0] for p in parts], axis=1).reshape(-1, 8)
        ops = np.concatenate([p[1] for p in parts], axis=1).reshape(-1)
        self._compress(ops, raw)

    def end(self, rows: int) -> None:
        if rows > 2**31 - 1:
            raise ValueError("an SPSS file holds at most 2,147,483,647 cases")
        if len(self.pending_ops):
            padding = 8 - len(self.pending_ops)
            self._compress(np.zeros(padding, np.uint8), np.zeros((padding, 8), np.uint8))
        if self.patch:
            self.sink.patch(HEADER_CASES_OFFSET, _ints(rows))
