"""The worker side of Spark jobs: one model load per Python worker, then shards.

Functions here run in Spark's Python workers. The model travels as a path string and
is loaded once per worker process (:data:`LOADS` counts the loads by path); the
explainer is built there from plain settings, so nothing traced is pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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
        ``(process id, block index, sequences, loads of the model in this process)``.
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
        yield os.getpid(), block.index, len(block.ids), LOADS[model_path]
