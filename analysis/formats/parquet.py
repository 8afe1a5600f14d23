"""Parquet, streamed with ``pyarrow.parquet.ParquetWriter``: rows are gathered into row groups of
``ROW_GROUP_ROWS`` (so memory holds one row group at most), zstd-compressed.

Types: string -> ``string``; integer -> ``int64``; float -> ``double``; datetime ->
``timestamp[us, tz=UTC]``; category -> ``dictionary<int32, string>`` over the category values in code
order (pandas reads it as a Categorical). Missing is null. Nothing is lost: each field's metadata holds
``label``, ``kind``, ``missing`` and, for a category, ``categories`` (JSON ``[{"code", "value", "label"}]``);
the schema metadata holds the whole dataset description as JSON under ``trialplatform.dataset``. The
writer only appends and asks ``tell()`` of the sink, so any output stream will do."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from analysis.formats.schema import Dataset, Variable
from analysis.formats.sink import Sink
from analysis.formats.values import Column

ROW_GROUP_ROWS = 100_000
METADATA_KEY = b"trialplatform.dataset"


def describe(var: Variable) -> dict[str, Any]:
    out: dict[str, Any] = {"name": var.name, "label": var.label, "kind": var.kind, "missing": var.missing}
    if var.kind == "string":
        out["width"] = var.width
    if var.kind == "category":
        out["categories"] = [{"code": c, "value": v, "label": var.value_label(v, lab)} for c, v, lab in var.categories]
    return out


def _field(var: Variable) -> Any:
    meta = {"label": var.label, "kind": var.kind, "missing": var.missing}
    if var.kind == "category":
        meta["categories"] = json.dumps(describe(var)["categories"], ensure_ascii=False)
    types = {
        "string": pa.string(),
        "integer": pa.int64(),
        "float": pa.float64(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "category": pa.dictionary(pa.int32(), pa.string()),
    }
    return pa.field(var.name, types[var.kind], nullable=True, metadata=meta)


class ParquetEncoder:
    def __init__(self, dataset: Dataset, sink: Sink) -> None:
        self.dataset = dataset
        self.sink = sink
        description = {"name": dataset.name, "variables": [describe(var) for var in dataset.variables]}
        self.schema = pa.schema(
            [_field(var) for var in dataset.variables],
            metadata={METADATA_KEY: json.dumps(description, ensure_ascii=False).encode("utf-8")},
        )
        self.dictionaries = {
            i: pa.array([value for _c, value, _l in var.categories], pa.string())
            for i, var in enumerate(dataset.variables)
            if var.kind == "category"
        }
        self.pending: list[Any] = []
        self.pending_rows = 0
        self.writer: Any = None

    def begin(self) -> None:
        self.writer = pq.ParquetWriter(pa.PythonFile(self.sink, mode="w"), self.schema, compression="zstd")

    def _array(self, i: int, column: Column) -> Any:
        field = self.schema.field(i)
        if i in self.dictionaries:
            return pa.DictionaryArray.from_arrays(pa.array(column, pa.int32()), self.dictionaries[i])
        return pa.array(column, field.type)

    def write(self, columns: list[Column], n: int, first: int) -> None:
        if not n:
            return
        arrays = [self._array(i, column) for i, column in enumerate(columns)]
        self.pending.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.pending_rows += n
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending_rows:
            table = pa.Table.from_batches(self.pending, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(self.pending_rows, 1))
        self.pending = []
        self.pending_rows = 0

    def end(self, rows: int) -> None:
        self._flush()
        self.writer.close()
