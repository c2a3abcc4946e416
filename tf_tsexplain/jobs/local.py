"""Local batch jobs: stream a source through the job explainer into the Parquet layout.

:func:`explain_to_parquet` reads sequences from a source in shards of ``shard_size``,
explains each shard with one attribution method of the toolkit (or the ``explain``
signature of a directory written by :func:`~tf_tsexplain.serving.export_explainer`),
and writes one Parquet file per shard (:mod:`tf_tsexplain.jobs.layout`), so that
memory is bounded by ``shard_size`` and ``batch_size``, not by the number of
sequences; a job killed mid-shard resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from tf_tsexplain._batching import Progress
from tf_tsexplain._validation import check_bool, check_int, check_verbose
from tf_tsexplain.jobs.explainer import JobExplainer
from tf_tsexplain.jobs.fingerprints import describe_array
from tf_tsexplain.jobs.layout import (
    ATTRIBUTIONS_DIR,
    DEFAULT_SHARD_SIZE,
    INSTANCES_DIR,
    complete_shards,
    job_settings,
    prepare_out_dir,
    shard_name,
    shard_tables,
    write_atomic,
)
from tf_tsexplain.jobs.padding import block_masks, check_lengths, padding_masks
from tf_tsexplain.jobs.sources import open_source


def explain_to_parquet(
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
    verbose: bool = True,
    safe_mode: bool = True,
    **method_kwargs,
) -> dict:
    """Explain every sequence of ``source`` and write the results to Parquet, shard by shard.

    Memory is bounded by ``shard_size`` (sequences read, explained and written at
    once) and ``batch_size`` (model rows per call), not by the number of sequences.
    Each shard is one call of the method on the shard's sequences, so a shard's
    attributions are those of the in-process call on them with the same ``seed``:
    bit for bit when the model sees the same chunks (``shard_size`` times the rows
    per sequence a multiple of ``batch_size``), else to float32 rounding. Stochastic
    methods draw the same way in every shard.

    Args:
        model: a Keras model or callable, a ``.keras`` file, a SavedModel directory,
            or a directory written by :func:`~tf_tsexplain.serving.export_explainer`
            (its ``explain`` signature does the work; ``method``, ``baseline``,
            ``output_indices`` and ``batch_size`` are then fixed by the export).
        source: sequences ``(T, F)``: see :func:`open_source`. For a model of several
            inputs (matched by name): a dict by input name (or a list in the model's
            order) of arrays, ``.npy`` or Parquet paths; one Parquet table with
            columns ``<input>/<feature>``; a ``tf.data.Dataset`` of dicts; or
            TFRecord files whose records hold one feature per input, named by it
            (see :func:`~tf_tsexplain.jobs.write_tfrecord`).
            Variable-length sequences (a list of ``(T_i, F)`` arrays, a dataset of
            ``(None, F)`` sequences, Parquet samples with fewer steps when
            ``padding`` is given) are padded to the model's T.
        out_dir: the job's directory (layout in the module docstring); created if
            needed. A non-empty directory must hold this same job (and ``resume``).
        method: one of :data:`METHOD_NAMES`; default ``"integrated_gradients"``.
        baseline: see :class:`JobExplainer` (one baseline, a reference set or a fill
            value; never one per input).
        output_indices: None, an int, a ``(time, class)`` tuple or ``"predicted"``.
        batch_size: most model rows per call; None picks it from the memory budget.
        seed: seed of stochastic methods (default 0, so that a resumed job draws as
            the interrupted one did).
        shard_size: sequences per shard (and per output file).
        feature_names: F names for the ``feature`` column (Parquet sources: checked
            against the source's names); a dict by input name for several inputs.
        padding_mask: ``(N, T)`` booleans, True on real steps, of the source's
            samples in order (a dict by input name for several inputs; a
            memory-mapped array is read shard by shard).
        lengths: ``(N,)`` real steps per sample instead of ``padding_mask``.
        padding: ``"post"`` or ``"pre"``: the side of padding (for ``lengths``, and
            for padding variable-length sequences; default ``"post"``). Giving it
            declares the source padded (Parquet samples may then have fewer steps).
            Padded cells keep their values (the explainers' ``padding_mask``), get
            no row in ``attributions``, and ``instances`` gets ``length`` columns.
        resume: if ``out_dir`` holds this job, keep its complete shards and do the
            rest. Jobs with other settings are refused either way.
        verbose: a progress bar over sequences, with their rate and the ETA.
        safe_mode: load ``.keras`` files in Keras safe mode.
        **method_kwargs: the method's options, e.g. ``num_samples=32``; ``"tsr"``
            takes ``base_method`` and TemporalSaliencyRescaling's options.

    Returns:
        ``{"out_dir", "shards_written", "shards_skipped", "sequences_written",
        "seconds"}``.

    Raises:
        TypeError: an argument of the wrong kind, an unknown method option.
        ValueError: a wrong value; a source whose shape or feature names do not
            match the model or ``feature_names``; a Parquet source missing columns;
            an ``out_dir`` holding another job. All raised before any shard is
            explained.
    """
    start_time = time.perf_counter()
    shard_size = check_int(shard_size, "shard_size", min_val=1)
    resume = check_bool(resume, "resume")
    verbose = check_verbose(verbose)
    explainer = JobExplainer(
        model,
        method=method,
        baseline=baseline,
        output_indices=output_indices,
        batch_size=batch_size,
        seed=seed,
        safe_mode=safe_mode,
        padding=padding,
        **method_kwargs,
    )
    src = open_source(
        source,
        feature_names=feature_names,
        shape=explainer.input_shapes if explainer.multi else explainer.input_shape,
        names=explainer.names if explainer.multi else None,
    )
    given = padding_masks(padding_mask, lengths, explainer.names, src.count)
    explainer.check_source(src, padded=set(given))
    check_lengths(given, explainer.input_shapes, explainer.padding)
    settings = job_settings(explainer, src, shard_size, runner="local")
    settings["padding_mask"] = {k: describe_array(a) for k, (_, a) in given.items()}
    out = Path(out_dir)
    prepare_out_dir(out, settings, resume=resume)
    done = complete_shards(out)
    remaining = None
    if src.count is not None:
        n_shards = -(-src.count // shard_size)
        remaining = sum(
            min(shard_size, src.count - k * shard_size) for k in range(n_shards) if k not in done
        )
    progress = Progress(remaining, verbose and remaining != 0, unit="sequences")
    written = skipped = sequences = 0
    for block in src.blocks(shard_size, skip=done):
        if block is None:
            skipped += 1
            continue
        try:
            masks = block_masks(
                given,
                block.index * shard_size,
                len(block.ids),
                explainer.input_shapes,
                explainer.padding,
            )
            inputs, real = explainer.prepare(block, masks)
            result = explainer.explain(inputs, real)
        except ValueError as err:  # e.g. NaN in a sequence: say where
            first, last = block.ids[[0, -1]].tolist()
            raise ValueError(f"shard {block.index} (samples {first!r} to {last!r}): {err}") from err
        tables = shard_tables(block.ids, inputs, result, src.feature_names, src.id_type, real)
        name = shard_name(block.index)
        write_atomic(tables[0], out / ATTRIBUTIONS_DIR / name)
        write_atomic(tables[1], out / INSTANCES_DIR / name)  # the shard is complete
        written += 1
        sequences += len(block.ids)
        progress.advance(len(block.ids))
    if remaining is None:
        progress.finish()
    return {
        "out_dir": str(out),
        "shards_written": written,
        "shards_skipped": skipped,
        "sequences_written": sequences,
        "seconds": time.perf_counter() - start_time,
    }
