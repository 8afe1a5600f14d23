"""The CSV exports build a chunk's text a column at a time (analysis.exports._csv_text) instead of handing
each row to the csv module; the bytes must be exactly those the csv module writes, for any value. Pure: no
database."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from analysis.exports import _cell, _csv_rows, _csv_text


def _csv_module(chunk) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in chunk:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def _exported(chunk) -> tuple[str, bool]:
    text = _csv_text(chunk)
    if text is not None:
        return text, True
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(_csv_rows(chunk))
    return buffer.getvalue(), False


AT = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)


def test_a_long_chunk_is_built_by_columns_and_reads_as_the_csv_module_writes_it():
    chunk = [
        ("TB-0001", "A", "GAD", "baseline", 0, "phq9", "total", 12.0, AT),
        ("TB-0001", "A", "GAD", "week4", 4, "phq9", "total", None, None),
        ("TB-0002", "B", "", "week8", 8, "gad7", "total", 7.5, AT.replace(microsecond=123456)),
    ]
    text, fast = _exported(chunk)
    assert fast
    assert text == _csv_module(chunk)
    assert text.splitlines()[0] == "TB-0001,A,GAD,baseline,0,phq9,total,12,2025-01-31T09:00:00+00:00"
    assert text.splitlines()[1] == "TB-0001,A,GAD,week4,4,phq9,total,,"


def test_values_that_need_quoting_or_other_types_go_to_the_csv_module():
    for odd in ('say "hi"', "a,b", "two\nlines", "cr\r", True, Decimal("1.50"), date(2025, 1, 1)):
        chunk = [("TB-0001", odd), ("TB-0002", "x")]
        text, fast = _exported(chunk)
        assert not fast
        assert text == _csv_module(chunk)
    assert _csv_text([("only",)]) is None  # one column: an empty field is written as ""
    assert _csv_text([("a", "b"), ("c",)]) is None  # rows of different lengths
    assert _csv_text([]) is None


def test_any_values_give_the_bytes_of_the_csv_module():
    characters = ["a", " ", ",", '"', "\n", "\r", "\x00", "\u2028", "\x85", "\x0b", "\t", "'", ";", "\\", "é"]
    floats = [0.0, -0.0, 1.5, -2.0, 12.0, 0.1, 1e300, 1e-7, 2.0**53 + 2, float("nan"), float("inf")]
    offsets = [UTC, timezone(timedelta(hours=2))]
    makers = {
        "str": lambda r: "".join(r.choice(characters) for _ in range(r.randint(0, 4))),
        "word": lambda r: r.choice(["", "A", "TB-0001", "baseline"]),
        "int": lambda r: r.choice([0, -3, 7, 2**70]),
        "float": lambda r: r.choice(floats),
        "datetime": lambda r: datetime(
            r.choice([1, 1677, 2025, 2263, 9999]), 1, 2, 3, 4, 5, r.choice([0, 7, 123456]), tzinfo=r.choice(offsets)
        ),
        "utc": lambda r: datetime(2025, 1, 2, 3, 4, r.randint(0, 59), r.choice([0, 7, 999999]), tzinfo=UTC),
        "other": lambda r: r.choice([True, Decimal("1.50"), date(2025, 1, 1), b"x"]),
        "none": lambda r: None,
    }
    rng = random.Random(20250131)
    fast = 0
    for _ in range(3000):
        kinds = [rng.sample(sorted(makers), rng.randint(1, 2)) for _ in range(rng.randint(1, 5))]
        chunk = [tuple(makers[rng.choice(k)](rng) for k in kinds) for _ in range(rng.randint(1, 6))]
        text, built = _exported(chunk)
        assert text == _csv_module(chunk), chunk
        fast += built
    assert fast > 300  # the fast way was taken often enough to mean something
