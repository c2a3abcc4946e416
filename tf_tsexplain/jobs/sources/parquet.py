"""Parquet sources: tidy tables (one row per cell) and wide tables (one row per sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from tf_tsexplain.jobs.arrow import column_ids, id_type_of, is_list_type
from tf_tsexplain.jobs.names import INPUT_NAME
from tf_tsexplain.jobs.sources.base import Block, Source, set_single_input

TIDY_COLUMNS = ("sample", "time", "feature", "value")


def check_names_subset(names: list[str], given) -> list[str]:
    """``given`` names of a wide Parquet source's feature columns, in the given order."""
    given = [str(g) for g in given]
    missing = [g for g in given if g not in names]
    extra = [n for n in names if n not in given]
    if missing or extra:
        raise ValueError(
            f"`feature_names` {given} do not match the Parquet source's feature columns "
            f"{names}" + (f" (not in the source: {missing})" if missing else "") + "."
        )
    return given


def parquet_layout(schema: pa.Schema, path, prefix: str | None = None) -> str:
    """``"tidy"`` or ``"wide"`` for a Parquet schema; ValueError naming missing columns.

    With ``prefix`` (an input of a multi-input table), only the wide columns
    ``prefix/feature`` count."""
    names = set(schema.names)
    if prefix is None and names & {"time", "feature", "value"}:
        missing = [c for c in TIDY_COLUMNS if c not in names]
        if missing:
            raise ValueError(
                f"The Parquet source {path} is missing the column(s) {', '.join(missing)}: a "
                "tidy table has the columns sample, time, feature, value (one row per "
                f"cell). Its columns: {', '.join(schema.names)}."
            )
        return "tidy"
    fields = wide_fields(schema, prefix)
    if prefix is not None and not fields:
        raise ValueError(
            f"The Parquet source {path} has no columns of the input {prefix!r}: a table of "
            f"several inputs names its columns '<input>/<feature>' (e.g. '{prefix}/f0'). "
            f"Its columns: {', '.join(schema.names)}."
        )
    lists = [f for f in fields if is_list_type(f.type)]
    others = [f for f in fields if not is_list_type(f.type) and not pa.types.is_floating(f.type)]
    if not fields or others or 0 < len(lists) < len(fields):
        raise ValueError(
            f"The Parquet source {path} is neither tidy (columns sample, time, feature, "
            "value) nor wide (one row per sample: a list column of T values per feature, "
            "or float columns of static features, and optionally sample). Its columns: "
            + ", ".join(f"{f.name} ({f.type})" for f in schema)
            + "."
        )
    return "wide"


def wide_fields(schema: pa.Schema, prefix: str | None = None) -> list:
    """The feature columns of a wide table (of the input ``prefix``, if given)."""
    if prefix is None:
        return [f for f in schema if f.name != "sample"]
    return [f for f in schema if f.name.startswith(prefix + "/")]


def wide_to_inputs(table: pa.Table, columns: list[str], id_type):
    """``(ids or None, x)`` from a wide table: ``x`` is ``(n, T, F)`` float32 from list
    columns (a list of ``(T_i, F)`` arrays when the lengths differ between samples),
    or ``(n, S)`` from float columns.

    Raises:
        ValueError: a missing column, or lists of different lengths within a sample.
    """
    n = table.num_rows
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(
            f"The Parquet source has no column(s) {missing} (feature columns: {columns})."
        )
    ids = column_ids(table.column("sample"), id_type) if "sample" in table.column_names else None
    first = table.column(columns[0]) if columns else None
    if first is None or not is_list_type(first.type):
        x = np.stack([table.column(c).to_numpy().astype(np.float32) for c in columns], axis=-1)
        return ids, x.reshape(n, len(columns))
    lengths = None
    values = []
    for name in columns:
        column = table.column(name).combine_chunks()
        own = column.value_lengths().to_numpy(zero_copy_only=False)
        if lengths is None:
            lengths = own
        elif n and np.any(own != lengths):
            bad = int(np.flatnonzero(own != lengths)[0])
            raise ValueError(
                f"Column {name!r} holds a list of {int(own[bad])} values in row {bad}, column "
                f"{columns[0]!r} {int(lengths[bad])}: every feature of a sequence needs the "
                "same time steps."
            )
        values.append(np.asarray(column.flatten().to_numpy(zero_copy_only=False), np.float32))
    cells = np.stack(values, axis=-1)  # (sum T_i, F)
    if n and lengths.min() == lengths.max():
        return ids, cells.reshape(n, int(lengths[0]), len(columns))
    return ids, np.split(cells, np.cumsum(lengths)[:-1])


def tidy_columns(table, id_type) -> dict[str, np.ndarray]:
    """The tidy columns of a table or record batch as numpy arrays."""
    return {
        "sample": column_ids(table.column("sample"), id_type),
        "time": np.asarray(table.column("time").to_numpy(zero_copy_only=False)),
        "feature": np.asarray(table.column("feature").to_numpy(zero_copy_only=False)),
        "value": np.asarray(table.column("value").to_numpy(zero_copy_only=False), np.float32),
    }


def tidy_first_sample(table, id_type, path) -> tuple[int, list[str]]:
    """``(time steps, feature names in order of appearance)`` of the first sample of
    a tidy table that holds all of that sample's rows."""
    if table.num_rows == 0:
        raise ValueError(f"The Parquet source {path} holds no rows.")
    cols = tidy_columns(table, id_type)
    keep = cols["sample"] == cols["sample"][0]
    steps = len(np.unique(cols["time"][keep]))
    names = list(dict.fromkeys(str(v) for v in cols["feature"][keep]))
    return steps, names


def tidy_to_sequences(sample, time_values, feature, value, feature_names: list[str]):
    """``(ids, x)`` from the tidy rows of whole samples (each sample's rows together,
    in any order within the sample): ``x`` is ``(n, T, F)``, or a list of ``(T_i,
    F)`` arrays when samples have different numbers of time steps. A sample's steps
    are its distinct time values in increasing order.

    Raises:
        ValueError: a sample without exactly one value per (time, feature), an
            unknown feature name.
    """
    f = len(feature_names)
    change = np.flatnonzero(sample[1:] != sample[:-1]) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [len(sample)]]))
    ids = sample[starts]
    n = len(starts)
    position = np.repeat(np.arange(n), counts)
    codes = _codes(feature, feature_names)
    if np.any(codes < 0):
        i = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(
            f"Sample {sample[i]!r} of the tidy Parquet source has an unknown feature "
            f"{feature[i]!r} (features: {feature_names})."
        )
    order = np.lexsort((time_values, position))
    p, t = position[order], time_values[order]
    new = np.ones(len(p), bool)
    new[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1])
    distinct = np.cumsum(new) - 1  # index of the (sample, time) pair
    steps = np.bincount(p[new], minlength=n)
    cell = distinct * f + codes[order]
    filled = np.bincount(cell, minlength=int(steps.sum()) * f)
    if np.any(filled != 1):
        pair = int(np.flatnonzero(filled != 1)[0]) // f
        j = int(np.searchsorted(np.cumsum(steps), pair, side="right"))
        raise ValueError(
            f"Sample {ids[j]!r} of the tidy Parquet source has {int(counts[j])} rows for "
            f"{int(steps[j])} time steps; it needs one value per (time, feature), "
            f"{int(steps[j])} x {f} = {int(steps[j]) * f} rows, its rows together (sort the "
            "table by sample)."
        )
    x = np.empty(int(steps.sum()) * f, np.float32)
    x[cell] = value[order]
    x = x.reshape(-1, f)
    if steps.min() == steps.max():
        return ids, x.reshape(n, int(steps[0]), f)
    return ids, np.split(x, np.cumsum(steps)[:-1])


def _codes(feature, names) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    uniques, inverse = np.unique(np.asarray(feature, object).astype(str), return_inverse=True)
    mapped = np.array([lookup.get(u, -1) for u in uniques], np.int64)
    return mapped[inverse]


class ParquetSource(Source):
    """A Parquet file or directory of samples, tidy or wide, read in record batches.

    With ``prefix``, the input of that name in a wide table of several inputs
    (columns ``prefix/feature``)."""

    kind = "parquet"

    def __init__(self, path, feature_names=None, prefix: str | None = None):
        self.path = str(Path(path).resolve())
        try:
            self._dataset = ds.dataset(self.path, format="parquet")
        except (OSError, pa.ArrowInvalid) as err:
            raise ValueError(f"cannot read the Parquet source {path}: {err}") from None
        schema = self._dataset.schema
        self.prefix = prefix
        self.layout = parquet_layout(schema, path, prefix)
        if "sample" in schema.names:
            self.id_type = id_type_of(schema.field("sample").type)
            self.has_ids = True
        self.rows = self._dataset.count_rows()
        if self.layout == "wide":
            columns = [f.name for f in wide_fields(schema, prefix)]
            cut = 0 if prefix is None else len(prefix) + 1
            names = [c[cut:] for c in columns]
            if feature_names is not None:
                names = check_names_subset(names, feature_names)
            self._columns = [c if prefix is None else f"{prefix}/{c}" for c in names]
            first = next(
                iter(self._dataset.to_batches(columns=self._columns[:1], batch_size=1)), None
            )
            if is_list_type(schema.field(self._columns[0]).type):
                steps = len(first.column(0)[0]) if first is not None and first.num_rows else 0
                shape = (steps, len(names))
            else:
                shape = (len(names),)
            set_single_input(self, shape, names, names)
            self.count = self.rows
        else:
            steps, names = self._first_sample()
            set_single_input(self, (steps, len(names)), feature_names, names)
            self.count = self.rows // (steps * len(names)) if names else 0

    def _first_sample(self):
        frames = []
        first = None
        for part in self._dataset.to_batches(columns=list(TIDY_COLUMNS)):
            sample = column_ids(part.column("sample"), self.id_type)
            if first is None and len(sample):
                first = sample[0]
            frames.append(part)
            if len(sample) and sample[-1] != first:
                break
        return tidy_first_sample(pa.Table.from_batches(frames), self.id_type, self.path)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "path": self.path,
            "layout": self.layout,
            "input": self.prefix,
            "rows": self.rows,
            "files": sorted(Path(f).name for f in self._dataset.files),
        }

    def blocks(self, shard_size, skip=frozenset()):
        if self.layout == "wide":
            yield from self._wide_blocks(shard_size, skip)
        else:
            yield from self._tidy_blocks(shard_size, skip)

    def _wide_blocks(self, shard_size, skip):
        columns = self._columns + (["sample"] if self.has_ids else [])
        k, seen, pending = 0, 0, []
        for batch in self._dataset.to_batches(columns=columns, batch_size=shard_size):
            pending.append(batch)
            while sum(b.num_rows for b in pending) >= shard_size:
                table = pa.Table.from_batches(pending).combine_chunks()
                head, rest = table.slice(0, shard_size), table.slice(shard_size)
                yield self._wide_block(k, head, seen, k in skip)
                k, seen = k + 1, seen + shard_size
                pending = rest.to_batches()
        table = pa.Table.from_batches(pending, schema=None) if pending else None
        if table is not None and table.num_rows:
            yield self._wide_block(k, table, seen, k in skip)

    def _wide_block(self, k, table, first, skipped):
        if skipped:
            return None
        ids, x = wide_to_inputs(table, self._columns, self.id_type)
        if ids is None:
            ids = np.arange(first, first + table.num_rows, dtype=np.int64)
        return Block(k, ids, {INPUT_NAME: x})

    def _tidy_blocks(self, shard_size, skip):
        k = 0
        carry = None  # rows of samples not yet complete or not yet in a block
        for batch in self._dataset.to_batches(columns=list(TIDY_COLUMNS)):
            cols = tidy_columns(batch, self.id_type)
            carry = (
                cols if carry is None else {c: np.concatenate([carry[c], cols[c]]) for c in cols}
            )
            sample = carry["sample"]
            if not len(sample):
                continue
            starts = np.concatenate([[0], np.flatnonzero(sample[1:] != sample[:-1]) + 1])
            while len(starts) > shard_size:  # a whole block of complete samples is held
                cut = starts[shard_size]
                yield self._tidy_block(k, {c: v[:cut] for c, v in carry.items()}, k in skip)
                k += 1
                carry = {c: v[cut:] for c, v in carry.items()}
                starts = starts[shard_size:] - cut
        if carry is not None and len(carry["sample"]):
            yield self._tidy_block(k, carry, k in skip)

    def _tidy_block(self, k, cols, skipped):
        if skipped:
            return None
        ids, x = tidy_to_sequences(
            cols["sample"],
            cols["time"],
            cols["feature"],
            cols["value"],
            self.feature_names[INPUT_NAME],
        )
        return Block(k, ids, {INPUT_NAME: x})
