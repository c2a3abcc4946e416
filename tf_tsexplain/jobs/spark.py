"""Apache Spark jobs (extra ``spark``): the Parquet layout of local jobs, shards on Spark.

:func:`run_spark` reads the source's blocks on the driver (``shard_size`` sequences
each, as :func:`~tf_tsexplain.jobs.local.explain_to_parquet` does), spreads them over
Spark tasks, and each task explains its blocks with the shared job explainer and
writes them as the same ``shard-KKKKK.parquet`` files: the output equals the local
job's bit for bit with the same seed (when TensorFlow computes the same way with the
workers' thread cap), and reads with :func:`~tf_tsexplain.jobs.layout.load_attributions`.
Each Python worker loads the model once (:mod:`~tf_tsexplain.jobs.spark_worker`).
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

from tf_tsexplain._validation import check_int
from tf_tsexplain.jobs.explainer import JobExplainer
from tf_tsexplain.jobs.fingerprints import describe_array
from tf_tsexplain.jobs.layout import (
    DEFAULT_SHARD_SIZE,
    complete_shards,
    job_settings,
    prepare_out_dir,
)
from tf_tsexplain.jobs.padding import block_masks, check_lengths, padding_masks
from tf_tsexplain.jobs.sources import open_source

_INSTALL = 'Spark jobs need pyspark: pip install "tf_tsexplain[spark]" (and Java 17).'


def _pyspark():
    try:
        import pyspark
    except ImportError as err:
        raise ImportError(_INSTALL) from err
    return pyspark


def _check_model_path(model) -> str:
    if not isinstance(model, str | os.PathLike):
        raise TypeError(
            "`model` must be a path (a .keras file or SavedModel directory) that every "
            "Spark worker can read: save an in-memory model with model.save('model.keras'). "
            f"Received: {type(model).__name__}."
        )
    path = str(model)
    if "://" not in path and not Path(path).exists():
        raise ValueError(f"`model` {path!r} does not exist: no Spark work was started.")
    return path


def _session(master, spark_conf):
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None and not spark_conf:
        return active, False
    builder = SparkSession.builder.master(master or "local[*]").appName("tf_tsexplain")
    for key, value in (spark_conf or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate(), active is None


def run_spark(
    model,
    source,
    out_dir,
    *,
    method: str | None = None,
    baseline=None,
    output_indices=None,
    batch_size: int | None = None,
    seed: int | None = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    feature_names=None,
    padding_mask=None,
    lengths=None,
    padding: str | None = None,
    resume: bool = True,
    safe_mode: bool = True,
    master: str | None = None,
    spark_conf: dict | None = None,
    tf_threads: int = 1,
    blocks_per_task: int = 1,
    **method_kwargs,
) -> dict:
    """Explain ``source`` on Spark and write the layout of :func:`explain_to_parquet`.

    Args:
        model: the model's path, readable from every worker.
        source: any source of :func:`~tf_tsexplain.jobs.sources.open_source` (arrays,
            ``.npy``, Parquet paths, TFRecord, ``tf.data``, a dict by input name).
        out_dir: the job's directory (a local or shared file system).
        method: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        baseline: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        output_indices: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        batch_size: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        seed: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        shard_size: sequences per shard (and per Spark record).
        feature_names: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        padding_mask: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        lengths: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        padding: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        resume: keep the complete shards of an interrupted job in ``out_dir``.
        safe_mode: load ``.keras`` files in Keras safe mode.
        master: the Spark master (``local[2]``, ``yarn``, ``k8s://...``); None uses
            the active session, else ``local[*]``.
        spark_conf: Spark settings ``{key: value}`` for a new session.
        tf_threads: threads per TensorFlow pool in each worker.
        blocks_per_task: shards per Spark task.
        **method_kwargs: the method's options.

    Returns:
        ``{"out_dir", "shards_written", "shards_skipped", "sequences_written",
        "seconds", "worker_loads"}`` (``worker_loads``: model loads per worker process).

    Raises:
        TypeError: ``model`` is not a path.
        ValueError: ``model`` does not exist (checked before Spark starts).
        ImportError: pyspark is not installed.
    """
    start_time = time.perf_counter()
    path = _check_model_path(model)
    _pyspark()
    shard_size = check_int(shard_size, "shard_size", min_val=1)
    settings = {
        "method": method,
        "baseline": baseline,
        "output_indices": output_indices,
        "batch_size": batch_size,
        "seed": seed,
        "safe_mode": safe_mode,
        "padding": padding,
        **method_kwargs,
    }
    explainer = JobExplainer(path, **settings)
    src = open_source(
        source,
        feature_names=feature_names,
        shape=explainer.input_shape,
        names=explainer.names if explainer.multi else None,
    )
    given = padding_masks(padding_mask, lengths, explainer.names, src.count)
    explainer.check_source(src, padded=set(given))
    check_lengths(given, explainer.input_shapes, explainer.padding)
    job = job_settings(explainer, src, shard_size, runner="local")
    job["padding_mask"] = {k: describe_array(a) for k, (_, a) in given.items()}
    out = Path(out_dir)
    prepare_out_dir(out, job, resume=resume)
    done = complete_shards(out)
    items, skipped = [], 0
    for block in src.blocks(shard_size, skip=done):
        if block is None:
            skipped += 1
            continue
        masks = block_masks(
            given,
            block.index * shard_size,
            len(block.ids),
            explainer.input_shapes,
            explainer.padding,
        )
        items.append((block, masks))
    spark, created = _session(master, spark_conf)
    work = partial(
        _explain_partition,
        model_path=path,
        settings=settings,
        tf_threads=tf_threads,
        out_dir=str(out),
        feature_names={n: list(src.feature_names[n]) for n in src.names},
        id_type=src.id_type,
        shapes=dict(explainer.input_shapes),
        padded=list(explainer.padded),
    )
    rows = []
    try:
        if items:
            slices = max(
                1, -(-len(items) // check_int(blocks_per_task, "blocks_per_task", min_val=1))
            )
            rdd = spark.sparkContext.parallelize(items, slices)
            rows = rdd.mapPartitions(work).collect()
    finally:
        if created:
            spark.stop()
    loads: dict[int, int] = {}
    for pid, _, _, count in rows:
        loads[pid] = max(loads.get(pid, 0), count)
    return {
        "out_dir": str(out),
        "shards_written": len(rows),
        "shards_skipped": skipped,
        "sequences_written": sum(r[2] for r in rows),
        "seconds": time.perf_counter() - start_time,
        "worker_loads": loads,
    }


def _explain_partition(items, **kwargs):
    from tf_tsexplain.jobs.spark_worker import explain_blocks

    return explain_blocks(items, **kwargs)
