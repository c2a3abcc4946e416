"""The worker side of Spark jobs: one model load per Python worker, then shards or rows.

Functions here run in Spark's Python workers. The model travels as a path string and
is loaded once per worker process (:data:`LOADS` counts the loads by path); the
explainer is built there from plain settings, so nothing traced is pickled.
:func:`explain_blocks` writes shards of the Parquet layout (``run_spark``);
:func:`explain_batches` turns Arrow batches of DataFrame rows into batches of tidy
attributions (``explain_dataframe``).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import numpy as np
import pyarrow as pa

from tf_tsexplain.jobs.spark_frame import arrow_block
from tf_tsexplain.jobs.workers import cap_threads

# model path -> number of times this process loaded it
LOADS: dict[str, int] = {}
_EXPLAINERS: dict[tuple, object] = {}


def worker_explainer(model_path: str, settings: dict, tf_threads: int = 1):
    """The :class:`~tf_tsexplain.jobs.explainer.JobExplainer` of ``model_path`` and
    ``settings`` in this process, built (and the model loaded) on first use.

    Args:
        model_path: the model's path, readable from the worker.
        settings: the explainer's keyword arguments (plain values).
        tf_threads: threads per TensorFlow pool in this worker.

    Returns:
        The cached explainer.
    """
    key = (model_path, json.dumps(settings, sort_keys=True, default=repr))
    if key not in _EXPLAINERS:
        cap_threads(tf_threads)
        from tf_tsexplain.jobs.explainer import JobExplainer

        _EXPLAINERS[key] = JobExplainer(model_path, **settings)
        LOADS[model_path] = LOADS.get(model_path, 0) + 1
    return _EXPLAINERS[key]


def explain_blocks(
    items, *, model_path, settings, tf_threads, out_dir, feature_names, id_type, shapes, padded
):
    """Explain ``(block, masks)`` pairs and write each as a local shard of ``out_dir``.

    Args:
        items: an iterator of ``(Block, {input: (n, T) real steps})`` pairs.
        model_path: the model's path.
        settings: the explainer's keyword arguments.
        tf_threads: threads per TensorFlow pool.
        out_dir: the job's directory.
        feature_names: ``{input: names}`` of the source.
        id_type: the ``sample`` column's Arrow type.
        shapes: ``{input: per-sample shape}`` fixed on the driver.
        padded: the padded inputs found on the driver.

    Yields:
        ``(process id, block index, sequences, loads of the model in this process,
        peak resident memory of this process in MiB)``.
    """
    from tf_tsexplain.jobs.layout import (
        ATTRIBUTIONS_DIR,
        INSTANCES_DIR,
        shard_name,
        shard_tables,
        write_atomic,
    )

    explainer = worker_explainer(model_path, settings, tf_threads)
    explainer.configure(shapes, padded)
    out = Path(out_dir)
    for block, masks in items:
        inputs, real = explainer.prepare(block, masks)
        result = explainer.explain(inputs, real)
        tables = shard_tables(block.ids, inputs, result, feature_names, id_type, real)
        name = shard_name(block.index)
        write_atomic(tables[0], out / ATTRIBUTIONS_DIR / name)
        write_atomic(tables[1], out / INSTANCES_DIR / name)
        yield os.getpid(), block.index, len(block.ids), LOADS[model_path], _peak_mib()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# the rows explain_frame_shards yields, one per shard written
SHARD_ROW = "pid long, block long, sequences long, loads long, peak_mib double"


def explain_frame_shards(batches, *, columns, id_column, block_column, **kwargs):
    """:func:`explain_blocks` of a DataFrame source's rows (the function of
    ``mapInArrow``): Arrow batches sorted by ``block_column``, then row order.

    Args:
        batches: an iterator of ``pyarrow.RecordBatch`` with ``id_column``, the input
            columns and ``block_column`` (the shard of each row).
        columns: ``{input name: column}``.
        id_column: the column of sample ids.
        block_column: the column of shard indices.
        **kwargs: the other arguments of :func:`explain_blocks`.

    Yields:
        One ``pyarrow.RecordBatch`` of :data:`SHARD_ROW` per shard written.
    """

    def blocks():
        pending, key = [], None
        for batch in batches:
            keys = batch.column(block_column).to_numpy(zero_copy_only=False)
            cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
            for start, stop in zip([0, *cuts], [*cuts, len(keys)], strict=True):
                if start == stop:
                    continue
                if pending and keys[start] != key:
                    yield _frame_block(pending, columns, id_column, kwargs["id_type"], key)
                    pending = []
                key = int(keys[start])
                pending.append(batch.slice(start, stop - start))
        if pending:
            yield _frame_block(pending, columns, id_column, kwargs["id_type"], key)

    names = ("pid", "block", "sequences", "loads", "peak_mib")
    for row in explain_blocks(blocks(), **kwargs):
        yield pa.RecordBatch.from_pydict({k: [v] for k, v in zip(names, row, strict=True)})


def _frame_block(batches, columns, id_column, id_type, key):
    table = pa.Table.from_batches(batches).combine_chunks()
    return arrow_block(table, columns, id_column, id_type, index=key), {}


def explain_batches(
    batches,
    *,
    model_path,
    settings,
    tf_threads,
    columns,
    id_column,
    id_type,
    feature_names,
    shapes,
    padded,
    block_size,
):
    """Tidy attributions of Arrow batches of DataFrame rows (the function of
    ``mapInArrow``).

    Args:
        batches: an iterator of ``pyarrow.RecordBatch`` with ``id_column`` and the
            input columns.
        model_path: the model's path.
        settings: the explainer's keyword arguments.
        tf_threads: threads per TensorFlow pool.
        columns: ``{input name: column}``.
        id_column: the column of sample ids.
        id_type: the ``sample`` column's Arrow type.
        feature_names: ``{input: names}``.
        shapes: ``{input: per-sample shape}`` fixed on the driver.
        padded: the padded inputs found on the driver.
        block_size: most samples per call of the method.

    Yields:
        ``pyarrow.RecordBatch`` es of the tidy attributions (``sample, [input,] time,
        feature, attribution, value``), names as plain strings.
    """
    from tf_tsexplain.jobs.layout import shard_tables

    explainer = worker_explainer(model_path, settings, tf_threads)
    explainer.configure(shapes, padded)
    for batch in batches:
        for start in range(0, batch.num_rows, block_size):
            part = batch.slice(start, block_size)
            block = arrow_block(part, columns, id_column, id_type)
            try:
                inputs, real = explainer.prepare(block)
                result = explainer.explain(inputs, real)
            except ValueError as err:  # say which samples
                first, last = block.ids[[0, -1]].tolist()
                raise ValueError(f"samples {first!r} to {last!r}: {err}") from err
            table = shard_tables(block.ids, inputs, result, feature_names, id_type, real)[0]
            yield from plain_names(table).to_batches()


def plain_names(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary-encoded columns (``input``, ``feature``) as
    strings, the types a Spark schema takes."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))
