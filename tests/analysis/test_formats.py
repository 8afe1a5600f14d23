"""File formats (analysis.formats): CSV, Parquet, Stata .dta 118 and SPSS .sav written a chunk at a time,
read back with independent readers (csv, pyarrow, pandas.read_stata, pyreadstat/ReadStat, PSPP when
installed), with labels, value labels, missing values, unicode and bounded memory. No database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import tempfile
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from analysis import formats
from analysis.formats import FORMATS, Dataset, Variable, content_type, extension, write_dataset, write_dictionary

ARMS = ((1, "A", "Arm A"), (2, "B", "Arm B"))
CONDITIONS = ((1, "MDD", "Major depression"), (2, "GAD", "Generalized anxiety"), (3, "CHR-FED", "Eating: CHR-FED"))
LONG_TEXT = "Zoë 中文 " * 20 + "end"  # 163 characters, 263 bytes in UTF-8

VARIABLES = (
    Variable("participant_id", "Study ID", "string", width=10, missing="never missing"),
    Variable("arm", "Allocated arm", "category", categories=ARMS),
    Variable("condition", "Condition (stratum)", "category", categories=CONDITIONS),
    Variable("week", "Week since baseline", "integer"),
    Variable("value", "PHQ-9 total", "float", missing="not answered, missed or withdrawn"),
    Variable("completed_at", "First submitted", "datetime", missing="not answered"),
    Variable("comment", "Free text", "string", width=200),
)

T0 = datetime(2025, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
ROWS: list[list[object]] = [
    ["TB-0001", "A", "MDD", 0, 12.0, T0, "plain"],
    ["Zoë", "B", "GAD", 4, 12.5, datetime(2025, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2))), "中文"],
    ["中文-02", None, "CHR-FED", None, None, None, None],
    ["TB-0004", "A", None, -3, -99.0, T0 + timedelta(days=400), LONG_TEXT],
    ["TB-0005", "B", "MDD", 2_000_000_000, 151.0, T0, "exactly8"],
    ["TB-0006", "A", "GAD", 8, 152.0, T0, "        "],
    ["TB-0007", "B", "MDD", 8, -100.0, T0, "a"],
    ["TB-0008", "A", "MDD", 8, 1e300, T0, "trailing text"],
    ["TB-0009", "A", "MDD", 8, 0.1, T0, ""],
]
# Uneven chunks, one of them empty: the opcode blocks of SPSS and the row groups of Parquet straddle them.
CHUNKS = [ROWS[:1], [], ROWS[1:4], ROWS[4:5], ROWS[5:]]


def dataset(n_rows: int | None = None, variables: tuple[Variable, ...] = VARIABLES) -> Dataset:
    return Dataset("long", variables, n_rows=n_rows)


class Stream:
    """A write-only, non-seekable output (an HTTP response, a pipe)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def flush(self) -> None:
        pass


class Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def write_file(tmp_path: Path, fmt: str, chunks: Sequence[Sequence[Sequence[object]]] = CHUNKS,
               data: Dataset | None = None) -> tuple[Path, formats.WriteResult]:  # fmt: skip
    path = tmp_path / f"out.{extension(fmt)}"
    with path.open("w+b") as out:
        result = write_dataset(data or dataset(), chunks, out, fmt)  # type: ignore[arg-type]
    return path, result


def expected_utc(row: list[object]) -> datetime | None:
    value = row[5]
    return value.astimezone(UTC) if isinstance(value, datetime) else None


# -- round trips -----------------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path):
    path, result = write_file(tmp_path, "csv")
    text = path.read_bytes().decode("utf-8")
    assert "\r" not in text
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [v.name for v in VARIABLES]
    assert lines[1] == ["TB-0001", "A", "MDD", "0", "12", "2025-03-01T09:30:15.250000+00:00", "plain"]
    assert lines[2] == ["Zoë", "B", "GAD", "4", "12.5", "2025-03-01T09:00:00+00:00", "中文"]
    assert lines[3] == ["中文-02", "", "CHR-FED", "", "", "", ""]
    assert lines[4][6] == LONG_TEXT
    assert lines[8][4] == "1e+300"
    assert lines[9][4] == "0.1"
    assert len(lines) == len(ROWS) + 1
    assert result.rows == len(ROWS)


def test_parquet_round_trip_keeps_types_labels_and_value_labels(tmp_path):
    path, result = write_file(tmp_path, "parquet")
    table = pq.read_table(path)
    assert table.num_rows == len(ROWS) == result.rows
    schema = table.schema
    assert schema.field("participant_id").type == pa.string()
    assert schema.field("week").type == pa.int64()
    assert schema.field("value").type == pa.float64()
    assert schema.field("completed_at").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_dictionary(schema.field("arm").type)
    columns = table.to_pydict()
    assert columns["arm"] == [row[1] for row in ROWS]
    assert columns["condition"] == [row[2] for row in ROWS]
    assert columns["week"] == [row[3] for row in ROWS]
    assert columns["value"] == [row[4] for row in ROWS]
    assert columns["completed_at"] == [expected_utc(row) for row in ROWS]
    assert columns["comment"] == [row[6] for row in ROWS]
    field = schema.field("arm").metadata
    assert field[b"label"].decode() == "Allocated arm"
    assert json.loads(field[b"categories"]) == [
        {"code": 1, "value": "A", "label": "Arm A"},
        {"code": 2, "value": "B", "label": "Arm B"},
    ]
    described = json.loads(schema.metadata[b"trialplatform.dataset"])
    assert described["name"] == "long"
    assert [v["label"] for v in described["variables"]] == [v.label for v in VARIABLES]
    assert described["variables"][4]["missing"] == "not answered, missed or withdrawn"
    frame = pd.read_parquet(path)
    assert isinstance(frame["arm"].dtype, pd.CategoricalDtype)
    assert list(frame["arm"].cat.categories) == ["A", "B"]


def test_stata_round_trip_with_pandas(tmp_path):
    path, result = write_file(tmp_path, "stata")
    frame = pd.read_stata(path, convert_categoricals=True)
    assert len(frame) == len(ROWS) == result.rows
    assert list(frame["participant_id"]) == [row[0] for row in ROWS]
    assert [None if pd.isna(v) else v for v in frame["arm"]] == [None if r[1] is None else f"Arm {r[1]}" for r in ROWS]
    assert frame["condition"].iloc[2] == "Eating: CHR-FED"
    assert [None if pd.isna(v) else int(v) for v in frame["week"]] == [row[3] for row in ROWS]
    assert [None if pd.isna(v) else v for v in frame["value"]] == [row[4] for row in ROWS]
    # %tc keeps milliseconds: 09:30:15.250 survives, sub-millisecond digits would not
    assert [None if pd.isna(v) else v.to_pydatetime().replace(tzinfo=UTC) for v in frame["completed_at"]] == [
        expected_utc(row) for row in ROWS
    ]
    assert [v or None for v in frame["comment"]] == [row[6] or None for row in ROWS]
    with pd.io.stata.StataReader(path) as reader:
        assert reader.variable_labels()["value"] == "PHQ-9 total"
        assert reader.value_labels()["arm"] == {1: "Arm A", 2: "Arm B"}
        assert reader.data_label == "long"


def test_stata_round_trip_with_readstat(tmp_path):
    path, _ = write_file(tmp_path, "stata")
    frame, meta = pyreadstat.read_dta(str(path))
    assert meta.number_rows == len(ROWS)
    assert meta.column_names == [v.name for v in VARIABLES]
    assert meta.column_names_to_labels == {v.name: v.label for v in VARIABLES}
    assert meta.variable_value_labels == {
        "arm": {1: "Arm A", 2: "Arm B"},
        "condition": {1: "Major depression", 2: "Generalized anxiety", 3: "Eating: CHR-FED"},
    }
    assert meta.original_variable_types["completed_at"] == "%tc"
    assert meta.original_variable_types["participant_id"] == "%40s"  # 10 characters x 4 bytes
    assert list(frame["arm"].iloc[:4].fillna(0)) == [1, 2, 0, 1]
    assert frame["comment"].iloc[3] == LONG_TEXT
    assert pd.isna(frame["value"].iloc[2]) and pd.isna(frame["completed_at"].iloc[2])


def test_spss_round_trip_with_readstat(tmp_path):
    path, result = write_file(tmp_path, "spss")
    frame, meta = pyreadstat.read_sav(str(path))
    assert meta.number_rows == len(ROWS) == result.rows
    assert meta.file_encoding == "UTF-8"
    assert meta.file_label == "long"
    assert meta.column_names == [v.name for v in VARIABLES]
    assert meta.column_names_to_labels == {v.name: v.label for v in VARIABLES}
    assert meta.variable_value_labels == {
        "arm": {1: "Arm A", 2: "Arm B"},
        "condition": {1: "Major depression", 2: "Generalized anxiety", 3: "Eating: CHR-FED"},
    }
    assert meta.original_variable_types["completed_at"] == "DATETIME20"
    assert meta.original_variable_types["participant_id"] == "A40"
    assert meta.variable_measure["arm"] == "nominal"
    assert meta.variable_measure["value"] == "scale"
    assert list(frame["participant_id"]) == [row[0] for row in ROWS]
    assert [None if pd.isna(v) else int(v) for v in frame["arm"]] == [
        None if r[1] is None else {"A": 1, "B": 2}[str(r[1])] for r in ROWS
    ]
    assert [None if pd.isna(v) else int(v) for v in frame["week"]] == [row[3] for row in ROWS]
    assert [None if pd.isna(v) else v for v in frame["value"]] == [row[4] for row in ROWS]
    for got, row in zip(frame["completed_at"], ROWS, strict=True):
        want = expected_utc(row)
        if want is None:
            assert pd.isna(got)
        else:  # a double of seconds since 1582 holds the time to a few microseconds
            assert abs(got.to_pydatetime().replace(tzinfo=UTC) - want) < timedelta(microseconds=10)
    # SPSS strings are blank-padded: a missing or blank string reads as "", trailing blanks are not kept
    assert list(frame["comment"]) == [(row[6] or "").rstrip() for row in ROWS]
    labelled, _ = pyreadstat.read_sav(str(path), apply_value_formats=True)
    assert labelled["condition"].iloc[3] != labelled["condition"].iloc[3]  # missing stays missing (NaN)
    assert labelled["arm"].iloc[0] == "Arm A"


@pytest.mark.skipif(shutil.which("pspp-convert") is None, reason="PSPP is not installed (an extra, independent check)")
def test_spss_file_reads_in_pspp(tmp_path):
    path, _ = write_file(tmp_path, "spss")
    out = tmp_path / "pspp.csv"
    subprocess.run(["pspp-convert", str(path), str(out)], check=True, capture_output=True, timeout=60)  # noqa: S607
    lines = list(csv.reader(io.StringIO(out.read_text("utf-8"))))
    assert lines[0] == [v.name for v in VARIABLES]
    assert lines[1][:5] == ["TB-0001", "1", "1", "0", "12"]
    assert lines[2][0] == "Zoë"
    assert lines[4][6] == LONG_TEXT
    assert len(lines) == len(ROWS) + 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_dataset_is_a_valid_file(tmp_path, fmt):
    path, result = write_file(tmp_path, fmt, chunks=[])
    assert result.rows == 0
    if fmt == "csv":
        assert path.read_text() == ",".join(v.name for v in VARIABLES) + "\n"
    elif fmt == "parquet":
        table = pq.read_table(path)
        assert table.num_rows == 0 and table.column_names == [v.name for v in VARIABLES]
    elif fmt == "stata":
        assert len(pd.read_stata(path)) == 0
        frame, meta = pyreadstat.read_dta(str(path))
        assert len(frame) == 0 and meta.column_names_to_labels["week"] == "Week since baseline"
    else:
        frame, meta = pyreadstat.read_sav(str(path))
        assert len(frame) == 0 and meta.variable_value_labels["arm"] == {1: "Arm A", 2: "Arm B"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_chunks_of_many_rows(tmp_path, fmt):
    def chunks() -> Iterator[list[list[object]]]:
        for start in range(0, 12_345, 997):
            yield [[f"P{i:05d}", "AB"[i % 2], None, i, i / 4 if i % 5 else None, T0 + timedelta(minutes=i), f"c{i}"]
                   for i in range(start, min(start + 997, 12_345))]  # fmt: skip

    seen: list[int] = []
    path = tmp_path / f"many.{extension(fmt)}"
    with path.open("w+b") as out:
        result = write_dataset(dataset(), chunks(), out, fmt, on_progress=seen.append)
    assert result.rows == 12_345
    assert seen[0] == 997 and seen[-1] == 12_345 and len(seen) == 13
    if fmt == "csv":
        frame = pd.read_csv(path)
    elif fmt == "parquet":
        frame = pd.read_parquet(path)
    elif fmt == "stata":
        frame = pd.read_stata(path, convert_categoricals=False)
    else:
        frame, _ = pyreadstat.read_sav(str(path))
    assert len(frame) == 12_345
    assert list(frame["week"]) == list(range(12_345))
    assert frame["comment"].iloc[-1] == "c12344"
    values = frame["value"]
    assert values.isna().sum() == len(range(0, 12_345, 5))
    assert values.iloc[7] == 7 / 4


# -- streams, sizes and hashes ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_hash_and_size_are_those_of_the_finished_file(tmp_path, fmt):
    path, result = write_file(tmp_path, fmt)
    data = path.read_bytes()
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "spss"])
def test_non_seekable_streams_need_no_row_count(tmp_path, fmt):
    stream = Stream()
    result = write_dataset(dataset(), CHUNKS, stream, fmt)  # type: ignore[arg-type]
    assert result.sha256 == hashlib.sha256(stream.data).hexdigest()
    assert result.bytes == len(stream.data)
    path = tmp_path / f"stream.{extension(fmt)}"
    path.write_bytes(stream.data)
    if fmt == "parquet":
        assert pq.read_table(path).num_rows == len(ROWS)
    elif fmt == "spss":  # the case count stays -1 ("unknown"); readers count the cases
        assert struct_int(stream.data, 80) == -1
        frame, meta = pyreadstat.read_sav(str(path))
        assert len(frame) == len(ROWS) and meta.number_rows == len(ROWS)


def struct_int(data: bytes | bytearray, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little", signed=True)


def test_stata_to_a_stream_needs_the_row_count(tmp_path):
    with pytest.raises(ValueError, match="n_rows"):
        write_dataset(dataset(), CHUNKS, Stream(), "stata")  # type: ignore[arg-type]
    stream = Stream()
    result = write_dataset(dataset(n_rows=len(ROWS)), CHUNKS, stream, "stata")  # type: ignore[arg-type]
    assert result.sha256 == hashlib.sha256(stream.data).hexdigest()
    path = tmp_path / "stream.dta"
    path.write_bytes(stream.data)
    with path.open("w+b") as out:
        patched = write_dataset(dataset(), CHUNKS, out, "stata")
    assert len(pd.read_stata(path)) == len(ROWS)
    assert patched.bytes == result.bytes


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_wrong_row_count_is_an_error(fmt):
    with pytest.raises(ValueError, match=r"n_rows=3 but more rows arrived \(9 so far\)"):
        write_dataset(dataset(n_rows=3), [ROWS[:2], ROWS[2:3], ROWS[3:]], Discard(), fmt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n_rows=20 but 9 rows"):
        write_dataset(dataset(n_rows=20), CHUNKS, Discard(), fmt)  # type: ignore[arg-type]


def test_output_may_start_mid_file(tmp_path):
    path = tmp_path / "offset.dta"
    with path.open("w+b") as out:
        out.write(b"junk")
        result = write_dataset(dataset(), CHUNKS, out, "stata")
    data = path.read_bytes()[4:]
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    clean = tmp_path / "clean.dta"
    clean.write_bytes(data)
    assert len(pd.read_stata(clean)) == len(ROWS)


# -- bad values and definitions --------------------------------------------------------------------------


def _row(**changes: object) -> list[object]:
    row = list(ROWS[0])
    for name, value in changes.items():
        row[[v.name for v in VARIABLES].index(name)] = value
    return row


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(week="4"), r"column 'week', row 3: expected an integer, got '4' \(str\)"),
        (_row(week=4.5), r"column 'week', row 3: expected an integer"),
        (_row(week=True), r"column 'week', row 3"),
        (_row(arm="C"), r"column 'arm', row 3: expected one of the category values 'A', 'B', got 'C'"),
        (_row(arm=1), r"column 'arm', row 3"),
        (_row(value="12"), r"column 'value', row 3: expected a number"),
        (_row(value=float("inf")), r"column 'value', row 3: expected a finite number"),
        (_row(completed_at=datetime(2025, 1, 1)), r"column 'completed_at', row 3: .*naive"),
        (_row(completed_at="2025-01-01"), r"column 'completed_at', row 3"),
        (_row(participant_id=7), r"column 'participant_id', row 3: expected a string"),
        (_row(participant_id="TB-000000001"), r"column 'participant_id', row 3: 12 characters, more than .* 10"),
        (["TB-0001", "A"], r"row 3: 2 values for 7 variables"),
    ],
)
def test_a_value_that_does_not_fit_names_column_and_row(fmt, row, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(dataset(), [ROWS[:2], [row]], io.BytesIO(), fmt)


def test_nan_is_missing():
    stream = Stream()
    write_dataset(dataset(), [[_row(value=float("nan"))]], stream, "csv")  # type: ignore[arg-type]
    assert stream.data.decode().splitlines()[1].split(",")[4] == ""


@pytest.mark.parametrize(("fmt", "limit"), [("stata", 255), ("spss", 255)])
def test_strings_without_a_width_are_limited_never_truncated(fmt, limit):
    free = (Variable("note", "Note", "string"),)
    write_dataset(dataset(variables=free), [[["x" * limit]]], io.BytesIO(), fmt)
    with pytest.raises(ValueError, match=rf"column 'note', row 2: {limit + 1} bytes .* at most {limit} bytes"):
        write_dataset(dataset(variables=free), [[["x"], ["x" * (limit + 1)]]], io.BytesIO(), fmt)
    for other in ("csv", "parquet"):  # no width limit there
        write_dataset(dataset(variables=free), [[["x" * 5000]]], Stream(), other)  # type: ignore[arg-type]


def test_spss_strings_are_capped_at_255_bytes():
    wide = (Variable("note", "Note", "string", width=100),)
    write_dataset(dataset(variables=wide), [[["é" * 100]]], io.BytesIO(), "stata")
    write_dataset(dataset(variables=wide), [[["é" * 100]]], Stream(), "spss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"column 'note', row 1: 300 bytes .* at most 255 bytes"):
        write_dataset(dataset(variables=wide), [[["中" * 100]]], Stream(), "spss")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("1st", "stata"),
        ("a" * 33, "stata"),
        ("long", "stata"),
        ("with-dash", "stata"),
        ("_x", "spss"),
        ("a" * 65, "spss"),
        ("with", "spss"),
        ("ends.", "spss"),
    ],
)
def test_names_a_format_cannot_hold_are_refused(name, fmt):
    variables = (Variable(name, "x", "integer"),)
    with pytest.raises(ValueError, match=rf"column '{name}': not a valid"):
        write_dataset(dataset(variables=variables), [], io.BytesIO(), fmt)
    write_dataset(dataset(variables=variables), [], Stream(), "csv")  # type: ignore[arg-type]


def test_spss_names_ignore_case():
    variables = (Variable("Week", "x", "integer"), Variable("week", "y", "integer"))
    with pytest.raises(ValueError, match="column 'week': SPSS names ignore case"):
        write_dataset(dataset(variables=variables), [], Stream(), "spss")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ((), "has no variables"),
        ((Variable("a", "", "integer"), Variable("a", "", "float")), "column 'a': the name appears twice"),
        ((Variable("a", "", "number"),), "column 'a': unknown kind"),  # type: ignore[arg-type]
        ((Variable("a", "", "category"),), "column 'a': a category variable needs its categories"),
        ((Variable("a", "", "category", categories=((1, "x", ""), (1, "y", ""))),), "category code 1 appears twice"),
        ((Variable("a", "", "category", categories=((1, "x", "L"), (2, "y", "L"))),), "category label 'L' appears"),
        ((Variable("a", "", "integer", categories=ARMS),), "categories given for a integer"),
        ((Variable("a", "", "integer", width=3),), "width applies to strings only"),
    ],
)
def test_bad_definitions_are_refused(variables, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(Dataset("d", variables), [], Stream(), "csv")  # type: ignore[arg-type]


def test_out_of_range_numbers_are_refused_where_the_format_cannot_hold_them():
    week = (Variable("week", "Week", "integer"),)
    for fmt in ("csv", "parquet", "spss"):
        write_dataset(dataset(variables=week), [[[3_000_000_000]]], Stream(), fmt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"column 'week', row 1: 3000000000 is outside Stata's long range"):
        write_dataset(dataset(variables=week), [[[3_000_000_000]]], io.BytesIO(), "stata")
    with pytest.raises(ValueError, match=r"column 'week', row 1: .* beyond 2\*\*53"):
        write_dataset(dataset(variables=week), [[[2**60]]], Stream(), "spss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"within 64 bits"):
        write_dataset(dataset(variables=week), [[[2**64]]], Stream(), "csv")  # type: ignore[arg-type]


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        write_dataset(dataset(), [], Stream(), "xlsx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown format"):
        extension("xlsx")


# -- labels ----------------------------------------------------------------------------------------------


def test_long_labels_are_cut_with_a_visible_mark(tmp_path):
    label = "PHQ-9 total score at the week 4 visit, " + "ä" * 300
    variables = (
        Variable("value", label, "float"),
        Variable("arm", "Arm", "category", categories=((1, "A", "x" * 200),)),
    )
    data = dataset(variables=variables)
    stata_path, _ = write_file(tmp_path, "stata", chunks=[[[1.0, "A"]]], data=data)
    _, meta = pyreadstat.read_dta(str(stata_path))
    cut = meta.column_names_to_labels["value"]
    assert len(cut) == 80 and cut.endswith("…") and label.startswith(cut[:-1])
    assert meta.variable_value_labels["arm"] == {1: "x" * 200}
    spss_path, _ = write_file(tmp_path, "spss", chunks=[[[1.0, "A"]]], data=data)
    _, meta = pyreadstat.read_sav(str(spss_path))
    cut = meta.column_names_to_labels["value"]
    assert len(cut.encode()) <= 255 and cut.endswith("…") and label.startswith(cut[:-1])
    assert meta.variable_value_labels["arm"][1] == "x" * 117 + "…"  # 120 bytes
    parquet_path, _ = write_file(tmp_path, "parquet", chunks=[[[1.0, "A"]]], data=data)
    assert pq.read_schema(parquet_path).field("value").metadata[b"label"].decode() == label


def test_fit_label():
    assert formats.fit_label("short", chars=80) == "short"
    assert formats.fit_label("abc def ghi", chars=8) == "abc def…"
    assert formats.fit_label("ééé", nbytes=5) == "é…"


def test_spss_short_names_are_unique():
    from analysis.formats.spss import short_names

    names = short_names(tuple(Variable(n, "", "integer") for n in ("phq9_total_week4", "phq9_total_week8", "phq9_tot")))
    assert len(set(names)) == 3 and all(len(n) <= 8 for n in names)


# -- the data dictionary and the HTTP helpers ------------------------------------------------------------


def test_dictionary_csv():
    other = Dataset("participants", (Variable("participant_id", "Study ID", "string", width=10),))
    out = io.BytesIO()
    write_dictionary([dataset(), other], out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert list(rows[0]) == ["dataset", "name", "label", "kind", "values", "missing"]
    assert len(rows) == len(VARIABLES) + 1
    arm = rows[1]
    assert arm["dataset"] == "long" and arm["kind"] == "category"
    assert arm["values"] == "1=A (Arm A); 2=B (Arm B)"
    assert rows[4]["missing"] == "not answered, missed or withdrawn"
    assert rows[-1]["dataset"] == "participants"


def test_dictionary_json():
    out = io.BytesIO()
    write_dictionary([dataset()], out, "json")
    rows = json.loads(out.getvalue())
    assert rows[2]["values"] == "1=MDD (Major depression); 2=GAD (Generalized anxiety); 3=CHR-FED (Eating: CHR-FED)"
    assert rows[2]["categories"][0] == {"code": 1, "value": "MDD", "label": "Major depression"}
    assert rows[0]["width"] == 10
    with pytest.raises(ValueError, match="unknown dictionary format"):
        write_dictionary([dataset()], io.BytesIO(), "xml")  # type: ignore[arg-type]


def test_content_types_and_extensions():
    assert [extension(f) for f in FORMATS] == ["csv", "parquet", "dta", "sav"]
    assert content_type("csv") == "text/csv; charset=utf-8"
    assert content_type("parquet") == "application/vnd.apache.parquet"
    assert content_type("stata") == "application/x-stata-dta"
    assert content_type("spss") == "application/x-spss-sav"


# -- memory ----------------------------------------------------------------------------------------------


def _generated(n: int, size: int = 2000) -> Iterator[list[list[object]]]:
    """Fresh rows a chunk at a time, like the long dataset from the database."""
    for start in range(0, n, size):
        yield [
            [f"TB-{i // 40:05d}", "AB"[i % 2], ("MDD", "GAD", "CHR-FED")[i % 3], (i % 3) * 4,
             None if i % 7 == 0 else float(i % 27), None if i % 7 == 0 else T0 + timedelta(seconds=i), f"note {i}"]
            for i in range(start, min(n, start + size))
        ]  # fmt: skip


def _peak(fmt: str, n: int) -> tuple[int, int]:
    """Peak Python/numpy memory (tracemalloc) and peak Arrow memory seen after each chunk."""
    arrow = [0]

    def progress(_rows: int) -> None:
        arrow[0] = max(arrow[0], pa.total_allocated_bytes())

    tracemalloc.start()
    try:
        result = write_dataset(dataset(n_rows=n), _generated(n), Discard(), fmt, on_progress=progress)  # type: ignore[arg-type]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == n
    return peak, arrow[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_memory_stays_bounded_however_many_rows(fmt, monkeypatch):
    from analysis.formats import parquet

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 20_000)  # both runs below span several row groups
    small, small_arrow = _peak(fmt, 50_000)
    large, large_arrow = _peak(fmt, 300_000)
    # Six times the rows, the same peak: nothing grows with the row count (materialising the 300,000 rows
    # or the file would take hundreds of MB).
    assert large < small * 1.25 + 512 * 1024, (fmt, small, large)
    assert large < 16 * 1024 * 1024, (fmt, large)
    assert large_arrow < small_arrow * 1.25 + 1024 * 1024, (fmt, small_arrow, large_arrow)


def test_blocks_bound_memory_even_for_one_huge_chunk():
    rows = [row for chunk in _generated(60_000) for row in chunk]
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        write_dataset(dataset(n_rows=len(rows)), [rows], Discard(), "spss")  # type: ignore[arg-type]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - baseline < 16 * 1024 * 1024


def test_tempfile_is_the_way_to_stream_stata_without_a_count():
    with tempfile.TemporaryFile() as out:
        result = write_dataset(dataset(), CHUNKS, out, "stata")
        out.seek(0)
        assert hashlib.sha256(out.read()).hexdigest() == result.sha256
