"""Apache Spark jobs (extra ``spark``): the Parquet layout of local jobs, and DataFrames.

:func:`run_spark` writes the layout of :func:`~tf_tsexplain.jobs.local.explain_to_parquet`
(``shard-KKKKK.parquet`` files of ``shard_size`` sequences, the job's settings with
runner ``"spark"``), each shard explained and written by a Spark task with the shared
job explainer: the output equals the local job's bit for bit with the same seed (when
TensorFlow computes the same way with the workers' thread cap), reads with
:func:`~tf_tsexplain.jobs.layout.load_attributions`, and an interrupted job resumes.
The toolkit's sources (arrays, ``.npy``, Parquet, TFRecord, ``tf.data``) are read on
the driver in waves of a few blocks per core, so that the driver holds one wave, not
the source; a Spark DataFrame source is read on the executors (rows numbered in the
DataFrame's order, grouped into the same shards).

:func:`explain_dataframe` returns the tidy attributions of a DataFrame as a DataFrame
(``mapInArrow``), for Spark pipelines that go on from there. The column layout of
DataFrames is in :mod:`~tf_tsexplain.jobs.spark_frame`. Each Python worker loads the
model once (:mod:`~tf_tsexplain.jobs.spark_worker`) and caps TensorFlow's threads;
nothing traced is pickled.
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
    attribution_schema,
    complete_shards,
    job_settings,
    prepare_out_dir,
)
from tf_tsexplain.jobs.padding import block_masks, check_lengths, padding_masks
from tf_tsexplain.jobs.sources import open_source
from tf_tsexplain.jobs.spark_frame import FrameSource, frame_columns, is_dataframe
from tf_tsexplain.jobs.spark_worker import (
    SHARD_ROW,
    explain_batches,
    explain_blocks,
    explain_frame_shards,
    plain_names,
)

__all__ = ["explain_dataframe", "run_spark"]

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

    if spark_conf is not None and not isinstance(spark_conf, dict):
        raise TypeError(
            f"`spark_conf` must be a dict {{key: value}}. Received: {type(spark_conf).__name__}."
        )
    active = SparkSession.getActiveSession()
    if active is not None and master is None and not spark_conf:
        return active, False
    builder = SparkSession.builder.master(master or "local[*]").appName("tf_tsexplain")
    for key, value in (spark_conf or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate(), active is None


def explain_dataframe(
    df,
    model,
    *,
    method: str | None = None,
    sequence_column="sequence",
    id_column: str = "sample",
    baseline=None,
    output_indices=None,
    batch_size: int | None = None,
    seed: int | None = 0,
    padding: str | None = None,
    feature_names=None,
    safe_mode: bool = True,
    tf_threads: int = 1,
    block_size: int = DEFAULT_SHARD_SIZE,
    **method_kwargs,
):
    """The tidy attributions of a Spark DataFrame's samples, as a Spark DataFrame.

    Lazy, as Spark transformations are: the model is checked against the DataFrame's
    first row now, and the work runs when the result is written or collected. Each
    Python worker loads the model once and explains the rows of its partitions through
    ``mapInArrow``, ``block_size`` samples per call of the method; a block's
    attributions equal those of :func:`~tf_tsexplain.jobs.local.explain_to_parquet`
    on the same samples with ``shard_size=block_size`` and the same seed.

    Args:
        df: the samples, one per row: ``id_column`` and the input column(s) (layout
            in :mod:`~tf_tsexplain.jobs.spark_frame`: ``array<array<float>>`` of shape
            ``(T, F)`` per sequence input, ``array<float>`` per static input).
        model: the model's path (a ``.keras`` file or SavedModel directory),
            readable from every worker.
        method: one of :data:`~tf_tsexplain.jobs.explainer.METHOD_NAMES`; default
            ``"integrated_gradients"``.
        sequence_column: the input column, or a dict by input name (or a list in the
            model's order) of columns for a model of several inputs.
        id_column: the column of sample ids (integers or strings), the output's
            ``sample``.
        baseline: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        output_indices: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        batch_size: most model rows per call (None: from the memory budget).
        seed: seed of stochastic methods, used in every block.
        padding: ``"post"`` or ``"pre"``: sequences with fewer than T steps are padded
            on that side (and their padded cells get no row); None: only when the
            model masks its input itself, else shorter sequences are an error.
        feature_names: F names of the ``feature`` column (default ``f0, f1, ...``); a
            dict by input name for several inputs.
        safe_mode: load ``.keras`` files in Keras safe mode.
        tf_threads: threads per TensorFlow pool in each worker.
        block_size: most samples per call of the method in a worker.
        **method_kwargs: the method's options, e.g. ``num_samples=32``.

    Returns:
        A DataFrame of columns ``sample`` (long, or string ids), ``input`` (string;
        models of several inputs only), ``time`` (int; null for static inputs),
        ``feature`` (string), ``attribution`` and ``value`` (float): the
        ``attributions`` table of :mod:`~tf_tsexplain.jobs.layout`, rows sample by
        sample in the DataFrame's order.

    Raises:
        TypeError: ``model`` is not a path; a column of the wrong type; an argument
            of the wrong kind.
        ValueError: ``model`` does not exist; a column the DataFrame lacks; samples
            that do not fit the model. Raised before any Spark work on the rows.
        ImportError: pyspark is not installed.
    """
    if not is_dataframe(df):
        raise TypeError(f"`df` must be a Spark DataFrame. Received: {type(df).__name__}.")
    path = _check_model_path(model)
    _pyspark()
    from pyspark.sql.pandas.types import from_arrow_schema

    tf_threads = check_int(tf_threads, "tf_threads", min_val=1)
    block_size = check_int(block_size, "block_size", min_val=1)
    settings = _settings(
        method, baseline, output_indices, batch_size, seed, safe_mode, padding, method_kwargs
    )
    explainer = JobExplainer(path, **settings)
    columns = frame_columns(df, explainer.names, sequence_column, id_column)
    src = FrameSource(df, columns, id_column, feature_names, count=False)
    explainer.check_source(src)
    schema = plain_names(attribution_schema(src.id_type, explainer.multi).empty_table()).schema
    work = partial(
        explain_batches,
        model_path=path,
        settings=settings,
        tf_threads=tf_threads,
        columns=columns,
        id_column=id_column,
        id_type=src.id_type,
        feature_names={n: list(src.feature_names[n]) for n in src.names},
        shapes=dict(explainer.input_shapes),
        padded=list(explainer.padded),
        block_size=block_size,
    )
    selected = df.select(id_column, *dict.fromkeys(columns.values()))
    return selected.mapInArrow(work, from_arrow_schema(schema))


def _settings(method, baseline, output_indices, batch_size, seed, safe_mode, padding, extra):
    """The JobExplainer's keyword arguments, plain values the workers rebuild it from."""
    return {
        "method": method,
        "baseline": baseline,
        "output_indices": output_indices,
        "batch_size": batch_size,
        "seed": seed,
        "safe_mode": safe_mode,
        "padding": padding,
        **extra,
    }


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
    wave_blocks: int | None = None,
    sequence_column="sequence",
    id_column: str = "sample",
    **method_kwargs,
) -> dict:
    """Explain ``source`` on Spark and write the layout of :func:`explain_to_parquet`.

    Args:
        model: the model's path, readable from every worker.
        source: any source of :func:`~tf_tsexplain.jobs.sources.open_source` (arrays,
            ``.npy``, Parquet paths, TFRecord, ``tf.data``, a dict by input name), read
            on the driver in waves; or a Spark DataFrame with an id column (layout in
            :mod:`~tf_tsexplain.jobs.spark_frame`), read on the executors by its own
            session; it must yield the same rows in the same partitions each time it
            is computed (rows are numbered, then grouped into shards).
        out_dir: the job's directory (a local or shared file system).
        method: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        baseline: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        output_indices: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        batch_size: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        seed: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        shard_size: sequences per shard (and per Spark record).
        feature_names: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        padding_mask: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet` (not with
            a DataFrame, whose shorter sequences are its padded ones).
        lengths: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet` (not with a
            DataFrame).
        padding: as :func:`~tf_tsexplain.jobs.local.explain_to_parquet`.
        resume: keep the complete shards of an interrupted job in ``out_dir``.
        safe_mode: load ``.keras`` files in Keras safe mode.
        master: the Spark master (``local[2]``, ``yarn``, ``k8s://...``); None uses
            the active session, else ``local[*]``. Not with a DataFrame.
        spark_conf: Spark settings ``{key: value}`` for a new session. Not with a
            DataFrame.
        tf_threads: threads per TensorFlow pool in each worker.
        blocks_per_task: shards per Spark task.
        wave_blocks: most shards read on the driver per Spark job (None: twice the
            session's default parallelism times ``blocks_per_task``); the driver holds
            one wave at a time.
        sequence_column: a DataFrame source's input column (a dict by input name for
            several inputs).
        id_column: a DataFrame source's column of sample ids.
        **method_kwargs: the method's options.

    Returns:
        ``{"out_dir", "shards_written", "shards_skipped", "sequences_written",
        "seconds", "worker_loads", "worker_peak_mib"}`` (``worker_loads``: model loads
        per worker process; ``worker_peak_mib``: each worker's peak resident memory).

    Raises:
        TypeError: ``model`` is not a path; an argument of the wrong kind.
        ValueError: ``model`` does not exist; a source that does not fit the model;
            an ``out_dir`` holding another job (all checked before Spark work starts).
        ImportError: pyspark is not installed.
    """
    start_time = time.perf_counter()
    path = _check_model_path(model)
    _pyspark()
    shard_size = check_int(shard_size, "shard_size", min_val=1)
    blocks_per_task = check_int(blocks_per_task, "blocks_per_task", min_val=1)
    tf_threads = check_int(tf_threads, "tf_threads", min_val=1)
    if wave_blocks is not None:
        wave_blocks = check_int(wave_blocks, "wave_blocks", min_val=1)
    frame = is_dataframe(source)
    if frame:
        given = {"master": master, "spark_conf": spark_conf}
        given.update(padding_mask=padding_mask, lengths=lengths)
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise ValueError(
                f"A DataFrame source runs on its own session and holds its padded sequences "
                f"with their real steps only; drop `{extra[0]}`. Received: {extra[0]}="
                f"{given[extra[0]]!r}."
            )
    settings = _settings(
        method, baseline, output_indices, batch_size, seed, safe_mode, padding, method_kwargs
    )
    explainer = JobExplainer(path, **settings)
    if frame:
        columns = frame_columns(source, explainer.names, sequence_column, id_column)
        src = FrameSource(source, columns, id_column, feature_names)
    else:
        src = open_source(
            source,
            feature_names=feature_names,
            shape=explainer.input_shape,
            names=explainer.names if explainer.multi else None,
        )
    given = padding_masks(padding_mask, lengths, explainer.names, src.count)
    explainer.check_source(src, padded=set(given))
    check_lengths(given, explainer.input_shapes, explainer.padding)
    job = job_settings(explainer, src, shard_size, runner="spark")
    job["padding_mask"] = {k: describe_array(a) for k, (_, a) in given.items()}
    out = Path(out_dir)
    prepare_out_dir(out, job, resume=resume)
    done = complete_shards(out)
    spark, created = (source.sparkSession, False) if frame else _session(master, spark_conf)
    common = {
        "model_path": path,
        "settings": settings,
        "tf_threads": tf_threads,
        "out_dir": str(out),
        "feature_names": {n: list(src.feature_names[n]) for n in src.names},
        "id_type": src.id_type,
        "shapes": dict(explainer.input_shapes),
        "padded": list(explainer.padded),
    }
    try:
        if frame:
            rows, skipped = _frame_job(source, src, done, shard_size, blocks_per_task, common)
        else:
            wave = wave_blocks or 2 * spark.sparkContext.defaultParallelism * blocks_per_task
            work = partial(explain_blocks, **common)
            rows, skipped = _waves(
                spark, src, given, explainer, done, shard_size, wave, work, blocks_per_task
            )
    finally:
        if created:
            spark.stop()
    loads: dict[int, int] = {}
    peaks: dict[int, float] = {}
    for pid, _, _, count, peak in rows:
        loads[pid] = max(loads.get(pid, 0), count)
        peaks[pid] = max(peaks.get(pid, 0.0), peak)
    return {
        "out_dir": str(out),
        "shards_written": len(rows),
        "shards_skipped": skipped,
        "sequences_written": sum(r[2] for r in rows),
        "seconds": time.perf_counter() - start_time,
        "worker_loads": loads,
        "worker_peak_mib": peaks,
    }


def _waves(spark, src, given, explainer, done, shard_size, wave, work, blocks_per_task):
    """Read the source's blocks on the driver and run them on Spark ``wave`` blocks
    per Spark job; ``(rows of the workers, blocks skipped)``."""
    rows, items, skipped = [], [], 0

    def run():
        slices = max(1, -(-len(items) // blocks_per_task))
        rows.extend(spark.sparkContext.parallelize(items, slices).mapPartitions(work).collect())
        items.clear()  # the driver holds one wave at a time

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
        if len(items) >= wave:
            run()
    if items:
        run()
    return rows, skipped


def _frame_job(df, src, done, shard_size, blocks_per_task, common):
    """Run a DataFrame source on the executors: rows numbered in the DataFrame's order
    (partition by partition), each shard's rows brought to one task, explained and
    written there; ``(rows of the workers, shards skipped)``."""
    from pyspark.sql import functions as sf

    n_blocks = -(-src.count // shard_size)
    todo = [k for k in range(n_blocks) if k not in done]
    if not todo:
        return [], n_blocks
    part, mid = sf.spark_partition_id(), sf.monotonically_increasing_id()
    numbered = df.select(src.id_column, *dict.fromkeys(src.columns.values()))
    numbered = numbered.withColumn("_part", part).withColumn("_mid", mid)
    counts = dict(numbered.groupBy("_part").count().collect())
    offsets, total = [], 0
    for k in range(max(counts) + 1):  # rows before each partition
        offsets.append(total)
        total += counts.get(k, 0)
    # monotonically_increasing_id is (partition << 33) + the row's place in it
    offset = sf.element_at(sf.array(*[sf.lit(o) for o in offsets]), sf.col("_part") + 1)
    index = offset + sf.col("_mid") - sf.shiftleft(sf.col("_part").cast("long"), 33)
    numbered = numbered.withColumn("_index", index).withColumn(
        "_block", sf.floor(sf.col("_index") / shard_size).cast("long")
    )
    if done:
        numbered = numbered.filter(~sf.col("_block").isin(sorted(done)))
    tasks = max(1, -(-len(todo) // blocks_per_task))
    work = partial(
        explain_frame_shards,
        columns=src.columns,
        id_column=src.id_column,
        block_column="_block",
        **common,
    )
    rows = (
        numbered.repartitionByRange(tasks, "_block")
        .sortWithinPartitions("_block", "_index")
        .mapInArrow(work, SHARD_ROW)
        .collect()
    )
    return [tuple(r) for r in rows], n_blocks - len(todo)
