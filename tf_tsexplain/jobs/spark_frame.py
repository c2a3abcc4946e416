"""Spark DataFrames of samples: the columns a Spark job reads, and their rows as arrays.

A DataFrame holds one sample per row: an id column (integers or strings) and one
column per model input:

- a sequence input ``(T, F)``: ``array<array<float>>`` (or ``double``), one inner
  array of the F feature values per time step, so the outer array is the sequence;
- a static input ``(S,)``: ``array<float>`` of its S values.

A sequence with fewer than T steps is a padded sample: it is padded to the model's T
on the ``padding`` side when the job pads (``padding`` given, or the model's own
``Masking`` layer), and its padded cells get no row in the output; otherwise it is an
error naming the sample. The column names are given by ``sequence_column``: a name
for a single-input model, a dict by input name (or a list in the model's order) for
several inputs. The DataFrame has no feature names; they come from
``feature_names`` (default ``f0, f1, ...``).

This module imports no pyspark: it reads schemas through the DataFrame it is given
and turns Arrow batches or rows into arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from tf_tsexplain.jobs.arrow import column_ids
from tf_tsexplain.jobs.names import INPUT_NAME, per_input
from tf_tsexplain.jobs.sources.base import Block, Source, feature_names_for

_INTEGRAL = ("ByteType", "ShortType", "IntegerType", "LongType")
_FLOATS = ("FloatType", "DoubleType")


def is_dataframe(value) -> bool:
    """Whether ``value`` is a Spark DataFrame (classic or Spark Connect), without
    importing pyspark."""
    module = type(value).__module__ or ""
    return module.startswith("pyspark.sql") and hasattr(value, "sparkSession")


def frame_columns(df, names: list[str], sequence_column, id_column) -> dict[str, str]:
    """``{input name: column}`` of a DataFrame for a model's inputs, checked.

    Args:
        df: the Spark DataFrame.
        names: the model's input names (``["inputs"]`` for a single-input model).
        sequence_column: a column name (single input), or a dict by input name (or a
            list in the model's order) of column names.
        id_column: the column of sample ids (integers or strings).

    Raises:
        TypeError: ``sequence_column`` or ``id_column`` of the wrong kind, or a
            column of the wrong Spark type.
        ValueError: a column the DataFrame does not have.
    """
    if not isinstance(id_column, str):
        raise TypeError(
            f"`id_column` must be the name of the DataFrame's column of sample ids. "
            f"Received: {type(id_column).__name__}."
        )
    multi = names != [INPUT_NAME]
    if isinstance(sequence_column, str):
        if multi:
            raise TypeError(
                f"The model takes the inputs {names}: give `sequence_column` as a dict by "
                f"input name (or a list in that order). Received: {sequence_column!r}."
            )
        columns = {INPUT_NAME: sequence_column}
    elif multi and isinstance(sequence_column, Mapping | list | tuple):
        columns = per_input(sequence_column, names, "sequence_column")
        missing = [n for n, c in columns.items() if not isinstance(c, str)]
        if missing:
            raise TypeError(
                f"`sequence_column` needs a column name for the input(s) {missing}. "
                f"Received: sequence_column={sequence_column!r}."
            )
    else:
        raise TypeError(
            "`sequence_column` must be a column name (a dict by input name for a model of "
            f"several inputs). Received: {type(sequence_column).__name__}."
        )
    fields = {f.name: f.dataType for f in df.schema.fields}
    for label, column in [
        ("id_column", id_column),
        *(("sequence_column", c) for c in columns.values()),
    ]:
        if column not in fields:
            raise ValueError(
                f"The DataFrame has no column {column!r} (`{label}`); its columns are "
                f"{list(fields)}."
            )
    id_type = type(fields[id_column]).__name__
    if id_type not in _INTEGRAL and id_type != "StringType":
        raise TypeError(
            f"`id_column` {id_column!r} must hold integers or strings. Received: "
            f"{fields[id_column].simpleString()}."
        )
    for column in columns.values():
        rank = _array_rank(fields[column])
        if rank not in (1, 2):
            raise TypeError(
                f"Column {column!r} must be array<array<float>> (a sequence (T, F) per row) "
                f"or array<float> (a static input (S,) per row). Received: "
                f"{fields[column].simpleString()}."
            )
    return columns


def _array_rank(data_type) -> int | None:
    """1 for ``array<float>``, 2 for ``array<array<float>>``, None otherwise."""
    rank = 0
    while type(data_type).__name__ == "ArrayType":
        data_type, rank = data_type.elementType, rank + 1
    return rank if type(data_type).__name__ in _FLOATS else None


def frame_id_type(df, id_column: str) -> pa.DataType:
    """The ``sample`` column's Arrow type for a DataFrame's ids: int64 or string."""
    name = type(df.schema[id_column].dataType).__name__
    return pa.int64() if name in _INTEGRAL else pa.string()


class FrameSource(Source):
    """A Spark DataFrame as a job's source, described on the driver.

    Its shapes come from the first row (sequences may be shorter when the job pads),
    its count from ``df.count()``. Its rows are read on the executors (by
    :func:`~tf_tsexplain.jobs.spark.run_spark` and
    :func:`~tf_tsexplain.jobs.spark.explain_dataframe`), never through the driver, so
    :meth:`blocks` is not available.

    Args:
        df: the DataFrame.
        columns: ``{input name: column}`` from :func:`frame_columns`.
        id_column: the column of sample ids.
        feature_names: F names (a dict by input name for several inputs).
        count: whether to count the rows (a Spark job).
    """

    kind = "spark.DataFrame"
    has_ids = True

    def __init__(self, df, columns: dict[str, str], id_column: str, feature_names=None, count=True):
        self.columns = dict(columns)
        self.id_column = id_column
        self.names = list(columns)
        self.id_type = frame_id_type(df, id_column)
        given = (
            {INPUT_NAME: feature_names}
            if self.names == [INPUT_NAME]
            else per_input(feature_names, self.names, "feature_names")
        )
        first = df.select(*columns.values()).limit(1).toArrow()
        if first.num_rows == 0:
            raise ValueError("The DataFrame `source` holds no rows.")
        self.shapes, self.feature_names = {}, {}
        for name, column in columns.items():
            value = np.asarray(first.column(column)[0].as_py(), np.float32)
            if value.ndim == 2 and value.shape[0] == 0:
                raise ValueError(f"The first row of column {column!r} holds an empty sequence.")
            self.shapes[name] = value.shape
            self.feature_names[name] = feature_names_for(None, given[name], value.shape[-1])
        self.ragged = ()
        self._schema = df.schema.simpleString()
        self._files = sorted(df.inputFiles()) if hasattr(df, "inputFiles") else []
        self.count = df.count() if count else None

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "columns": dict(self.columns),
            "id_column": self.id_column,
            "schema": self._schema,
            "files": self._files,
            "rows": self.count,
        }


def arrow_inputs(batch, columns: Mapping[str, str]) -> dict:
    """``{input name: (n, T, F) float32}`` of an Arrow batch's sequence columns
    (a list of ``(T_i, F)`` arrays when the lengths differ), ``(n, S)`` for static
    columns.

    Raises:
        ValueError: a null sample or step, or steps of different sizes.
    """
    out = {}
    for name, column in columns.items():
        col = batch.column(column)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if col.null_count:
            raise ValueError(f"Column {column!r} holds a null sample.")
        n = len(col)
        inner = col.flatten()
        if not pa.types.is_list(inner.type) and not pa.types.is_large_list(inner.type):
            values = np.asarray(inner.to_numpy(zero_copy_only=False), np.float32)
            sizes = col.value_lengths().to_numpy(zero_copy_only=False)
            if n and sizes.min() != sizes.max():
                raise ValueError(f"Column {column!r} holds static rows of different sizes.")
            out[name] = values.reshape(n, -1)
            continue
        steps = col.value_lengths().to_numpy(zero_copy_only=False)
        widths = inner.value_lengths().to_numpy(zero_copy_only=False)
        if inner.null_count or (len(widths) and widths.min() != widths.max()):
            raise ValueError(
                f"Column {column!r} holds a time step that is null or of another number of "
                "features than the others."
            )
        width = int(widths[0]) if len(widths) else 0
        cells = np.asarray(inner.flatten().to_numpy(zero_copy_only=False), np.float32)
        cells = cells.reshape(-1, width)
        if n and steps.min() == steps.max():
            out[name] = cells.reshape(n, int(steps[0]), width)
        else:
            out[name] = np.split(cells, np.cumsum(steps)[:-1])
    return out


def arrow_block(batch, columns: Mapping[str, str], id_column: str, id_type, index=0) -> Block:
    """A :class:`Block` of an Arrow batch of DataFrame rows."""
    return Block(index, column_ids(batch.column(id_column), id_type), arrow_inputs(batch, columns))
