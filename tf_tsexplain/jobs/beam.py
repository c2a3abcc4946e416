"""Apache Beam: explain sequences on many workers, into the jobs' Parquet layout.

Needs the optional extra: ``pip install "tf_tsexplain[beam]"`` (apache-beam >= 2.77).

- :class:`ExplainModelHandler`: a ``RunInference`` model handler. Each worker loads
  the model once in :meth:`~ExplainModelHandler.load_model` and builds the explainer
  there (only the model path and plain settings travel to workers: a traced
  ``tf.function`` does not pickle), with TensorFlow's thread pools capped so that the
  worker processes of a machine share its cores.
- :class:`ExplainToParquet`: reads samples (``.npy`` files, one per input for a
  model of several inputs; Parquet tidy or wide; TFRecord of ``tf.train.Example``;
  or ``(id, sample)`` pairs whose samples are arrays or dicts by input name, of any
  length) into blocks of samples (:class:`tf_tsexplain.jobs.Block`: Beam's
  elements are blocks, so that its per-element costs are paid per block), explains
  them with ``RunInference`` (padding variable-length sequences; ``padding_mask`` or
  ``lengths`` of padded arrays reach the workers as a side input) and writes
  ``attributions/`` and ``instances/`` with ``WriteToParquetBatched``: the columns of
  :func:`tf_tsexplain.jobs.explain_to_parquet`, read back with the same functions
  (:func:`~tf_tsexplain.jobs.read_attributions`, ...).
- :func:`run_pipeline`: builds and runs that pipeline with the given Beam options;
  without ``--runner`` (or with ``--runner=FnApiRunner``) it runs on Beam's
  ``FnApiRunner`` in this machine
  (``--direct_num_workers=2 --direct_running_mode=multi_processing`` for two worker
  processes).

Unlike local jobs, a Beam job does not resume: the runner retries failed work, and
``out_dir`` must hold no results yet.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np

try:
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import (
        ModelHandler,
        PredictionResult,
        RunInference,
    )
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "tf_tsexplain.jobs.beam needs Apache Beam: pip install 'tf_tsexplain[beam]' "
        f"(apache-beam>=2.77). ({err})"
    ) from None

from tf_tsexplain._validation import check_batch_size, check_int, check_seed
from tf_tsexplain.jobs.beam_read import (
    AttachMasks,
    ElementsSource,
    ReadSequences,
    ToBlocks,
    reader_shapes,
)
from tf_tsexplain.jobs.explainer import JobExplainer, check_method
from tf_tsexplain.jobs.fingerprints import describe_array
from tf_tsexplain.jobs.layout import (
    ATTRIBUTIONS_DIR,
    DEFAULT_SHARD_SIZE,
    INSTANCE_COLUMNS,
    INSTANCES_DIR,
    JOB_FILE,
    attribution_schema,
    instance_schema,
    job_settings,
    length_columns,
    prepare_out_dir,
    result_files,
    shard_tables,
)
from tf_tsexplain.jobs.names import INPUT_NAME
from tf_tsexplain.jobs.padding import block_masks, check_lengths, padding_masks
from tf_tsexplain.jobs.workers import cap_threads

_LOAD_ERROR = "A Beam worker could not load the model"
# Explainers that run_pipeline built (to check the settings) in this process, by token:
# a worker running in the same process (Beam's in-process runner) uses it instead of
# loading the model again. Only the token travels with the handler.
_BUILT: dict[str, JobExplainer] = {}


class ExplainModelHandler(ModelHandler):
    """A ``RunInference`` model handler that explains blocks of samples.

    Each example is a :class:`tf_tsexplain.jobs.Block` (sample ids and the inputs
    of many samples: elements are blocks, not single sequences, so that Beam's
    per-element work is paid once per block); its inference is ``(inputs, real
    steps, result)``: the block's inputs as explained (variable-length sequences
    padded), the real steps of padded inputs, and
    :meth:`~tf_tsexplain.jobs.JobExplainer.explain`'s result. The blocks of one
    ``run_inference`` call are explained together.

    Args:
        model_path: a ``.keras`` file, a SavedModel directory, or a directory written
            by :func:`~tf_tsexplain.serving.export_explainer`, readable from every
            worker (a shared or cloud path).
        method, baseline, output_indices, batch_size, seed, safe_mode, **method_kwargs: as
            :func:`~tf_tsexplain.jobs.explain_to_parquet`
            (``batch_size``: model rows per call inside a worker).
        min_batch_size, max_batch_size: samples per ``run_inference`` call (blocks
            are weighed by their samples), passed to Beam's ``BatchElements``, which
            grows batches from the minimum while the time per sample falls (None:
            Beam's defaults, 1 and 10,000). A block larger than the maximum is
            explained alone.
        source_shapes, ragged: each input's per-sample shape in the source (a dict
            by input name; T None for variable lengths) and the inputs of variable
            length: the worker fits them to the model with
            :meth:`~tf_tsexplain.jobs.JobExplainer.check_source` (needed when the
            model leaves a size open, or for variable lengths).
        masked: the inputs whose real steps the blocks carry
            (:attr:`~tf_tsexplain.jobs.Block.masks`, from ``padding_mask`` or
            ``lengths``; with ``source_shapes``).
        padding: ``"post"`` or ``"pre"`` (see :class:`~tf_tsexplain.jobs.JobExplainer`).
        tf_threads: threads of each TensorFlow pool in a worker process; None: the
            machine's cores divided by ``workers_per_machine``.
        workers_per_machine: worker processes sharing a machine (for ``tf_threads``).

    Raises:
        TypeError, ValueError: bad settings, at construction (before any worker
            starts). A worker that cannot load the model raises a ValueError naming
            the path.
    """

    def __init__(
        self,
        model_path,
        *,
        method: str | None = None,
        baseline=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = 0,
        safe_mode: bool = True,
        min_batch_size: int | None = 512,
        max_batch_size: int | None = 4096,
        tf_threads: int | None = None,
        workers_per_machine: int = 1,
        source_shapes=None,
        ragged=(),
        masked=(),
        padding: str | None = None,
        **method_kwargs,
    ):
        if not isinstance(model_path, str | os.PathLike):
            raise TypeError(
                "`model_path` must be the path of a .keras file or SavedModel directory that "
                "every worker can read (workers load the model themselves; save it with "
                f"model.save('model.keras')). Received: {type(model_path).__name__}."
            )
        if min_batch_size is not None:
            check_int(min_batch_size, "min_batch_size", min_val=1)
        if max_batch_size is not None:
            check_int(max_batch_size, "max_batch_size", min_val=min_batch_size or 1)
        workers = check_int(workers_per_machine, "workers_per_machine", min_val=1)
        if tf_threads is None:
            tf_threads = max(1, (os.cpu_count() or 1) // workers)
        self.tf_threads = check_int(tf_threads, "tf_threads", min_val=1)
        if method is not None:
            check_method(method, method_kwargs)
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            element_size_fn=_block_size,
        )
        self._source = (
            None
            if source_shapes is None
            else {
                "names": list(source_shapes),
                "shapes": {k: tuple(v) for k, v in source_shapes.items()},
                "ragged": tuple(ragged),
            }
        )
        self._masked = tuple(masked)
        self.model_path = str(model_path)
        self._token = None  # see _BUILT
        self._settings = {
            "method": method,
            "baseline": baseline,
            "output_indices": output_indices,
            "batch_size": check_batch_size(batch_size),
            "seed": check_seed(seed),
            "safe_mode": safe_mode,
            "padding": padding,
            **method_kwargs,
        }

    def load_model(self) -> JobExplainer:
        """Load the model and build the explainer, once per worker."""
        if self._token in _BUILT:
            return _BUILT[self._token]
        cap_threads(self.tf_threads)
        try:
            explainer = JobExplainer(local_model(self.model_path), **self._settings)
            if self._source is not None:
                explainer.check_source(SimpleNamespace(**self._source), padded=self._masked)
            return explainer
        except Exception as err:
            raise ValueError(
                f"{_LOAD_ERROR} {self.model_path!r}: {type(err).__name__}: "
                + " ".join(str(err).split())
            ) from err

    def run_inference(self, batch_, model, inference_args=None):
        """Explain blocks of samples in one call; one result per block:
        ``(inputs, real steps, explain result)`` (see :mod:`tf_tsexplain.jobs.layout`)."""
        if not batch_:  # BatchElements may emit an empty batch before a heavy block
            return []
        prepared = [model.prepare(block, _given_masks(block, model)) for block in batch_]
        inputs = {k: np.concatenate([p[0][k] for p in prepared]) for k in model.names}
        real = {k: np.concatenate([p[1][k] for p in prepared]) for k in model.padded}
        out = model.explain(inputs, real)
        results, start = [], 0
        for block, (part, own) in zip(batch_, prepared, strict=True):
            rows = slice(start, start + len(block.ids))
            start = rows.stop
            one = {k: out[k][rows] for k in INSTANCE_COLUMNS}
            one["attributions"] = {k: v[rows] for k, v in out["attributions"].items()}
            results.append(PredictionResult(block, (part, own, one)))
        return results

    def validate_inference_args(self, inference_args):
        if inference_args:
            raise ValueError(
                "ExplainModelHandler takes its settings at construction, not as "
                f"inference_args. Received: inference_args={inference_args!r}."
            )

    def get_num_bytes(self, batch_) -> int:
        values = [v for b in batch_ for v in b.inputs.values()]
        return int(sum(a.nbytes for v in values for a in (v if isinstance(v, list) else [v])))

    def get_metrics_namespace(self) -> str:
        return "tf_tsexplain"


def _given_masks(block, explainer: JobExplainer) -> dict | None:
    """The real steps ``(n, T)`` given for a block's samples (None if none)."""
    if not block.masks:
        return None
    shapes, padding = explainer.input_shapes, explainer.padding
    return block_masks(block.masks, 0, len(block.ids), shapes, padding)


def _block_size(block) -> int:
    """A block's weight in ``BatchElements``: its samples."""
    return len(block.ids)


# ---------------------------------------------------------------------------- output
class _ToTables(beam.DoFn):
    """A block's ``PredictionResult`` to one attributions and one instances table."""

    def __init__(self, feature_names, id_type, padded):
        self._padded = list(padded)
        self._names = dict(feature_names)
        self._id_type = id_type
        self._count = beam.metrics.Metrics.counter("tf_tsexplain", "sequences")

    def process(self, prediction):
        block = prediction.example
        inputs, real, result = prediction.inference
        real = {k: real[k] for k in self._padded if k in real}
        attributions, instances = shard_tables(
            block.ids, inputs, result, self._names, self._id_type, real
        )
        self._count.inc(len(block.ids))
        yield attributions
        yield beam.pvalue.TaggedOutput("instances", instances)


class ExplainToParquet(beam.PTransform):
    """Read, explain and write: ``pipeline | ExplainToParquet(...)``, or
    ``pairs | ExplainToParquet(..., source=None, input_shapes=...)`` on a
    PCollection of ``(id, sample)`` pairs (an array, or a dict by input name;
    sequences may differ in length).

    Args:
        model_path: as :class:`ExplainModelHandler`.
        source: as :class:`ReadSequences`; a list of ``(id, sample)`` pairs; or None
            to explain the PCollection the transform is applied to.
        out_dir: directory (local or cloud) of ``attributions/`` and ``instances/``.
        shard_size: most samples per block (and per written table).
        feature_names: F names of the ``feature`` column (a dict by input name for
            several inputs).
        padding_mask, lengths: real steps of the source's samples in its order, as
            :func:`~tf_tsexplain.jobs.explain_to_parquet` takes them (``(N, T)``
            booleans True on real steps, or ``(N,)`` lengths; a dict by input name for
            several inputs): rows counted across ``.npy`` files, the pairs of a
            list, or the samples of Parquet and TFRecord files in name order (their
            ids, read once here, must be unique). They reach the workers as a side
            input; a PCollection of pairs has no order and takes neither.
        input_shape: the model's ``(T, F)``, or a dict by input name of per-sample
            shapes for several inputs (needed for TFRecord sources).
        names: the model's input names when it has several.
        input_shapes: per-sample shape of each input (a dict by input name; T None
            for variable-length sequences) of a PCollection of pairs; and, as
            :meth:`~tf_tsexplain.jobs.JobExplainer.check_source` fixed them, the
            shapes the workers explain (with ``padded``).
        padded: the padded inputs, whose rows of padded steps are dropped and whose
            lengths ``instances`` records (default: the inputs of variable length;
            :func:`run_pipeline` adds those the model masks itself).
        **handler_kwargs: the settings of :class:`ExplainModelHandler`.
    """

    def __init__(
        self,
        model_path,
        source,
        out_dir,
        *,
        shard_size: int = DEFAULT_SHARD_SIZE,
        feature_names=None,
        input_shape=None,
        names=None,
        input_shapes=None,
        padded=None,
        padding_mask=None,
        lengths=None,
        **handler_kwargs,
    ):
        super().__init__()
        self.shard_size = check_int(shard_size, "shard_size", min_val=1)
        size = min(self.shard_size, 4096)  # blocks small enough to balance workers
        self._pairs = None
        if source is None or isinstance(source, list):
            if source is None and input_shapes is None:
                raise ValueError(
                    "ExplainToParquet on a PCollection of (id, sample) pairs needs "
                    "`input_shapes` (a dict by input name, T None for variable lengths)."
                )
            names = list(names) if names else [INPUT_NAME]
            if source is None:
                shapes = (
                    input_shapes if isinstance(input_shapes, dict) else {INPUT_NAME: input_shapes}
                )
                self.reader = ElementsSource(names, shapes, feature_names)
            else:
                self.reader = ElementsSource.of(source, names, feature_names)
                self._pairs = source
        else:
            self.reader = ReadSequences(
                source,
                names=names,
                input_shape=input_shape,
                feature_names=feature_names,
                block_size=size,
            )
        self._block_size = size
        self.given, self._ids = {}, None
        if padding_mask is not None or lengths is not None:
            self._ids = self.reader.sample_ids()
            count = self.reader.count if self._ids is None else len(self._ids)
            given = padding_masks(padding_mask, lengths, self.reader.names, count)
            # in memory (a memory-mapped file does not travel), checked on the driver
            self.given = {k: (label, np.array(a)) for k, (label, a) in given.items()}
        self.handler = ExplainModelHandler(
            model_path,
            source_shapes=reader_shapes(self.reader),
            ragged=self.reader.ragged,
            masked=list(self.given),
            **handler_kwargs,
        )
        self.padded = (
            [n for n in self.reader.names if n in self.reader.ragged or n in self.given]
            if padded is None
            else list(padded)
        )
        self.out_dir = str(out_dir)

    def expand(self, pvalue):
        reader = self.reader
        if isinstance(reader, ReadSequences):
            blocks = pvalue | "Read" >> reader
        else:
            pairs = pvalue if self._pairs is None else pvalue | "Pairs" >> beam.Create(self._pairs)
            blocks = pairs | "Blocks" >> ToBlocks(reader.names, reader.id_type, self._block_size)
        if self.given:
            blocks = blocks | "Masks" >> AttachMasks(self.given, self._ids)
        results = (
            blocks
            | "Explain" >> RunInference(self.handler)
            | "ToArrow"
            >> beam.ParDo(
                _ToTables(reader.feature_names, reader.id_type, self.padded)
            ).with_outputs("instances", main="attributions")
        )
        multi = reader.names != [INPUT_NAME]
        lengths = length_columns(self.padded, multi)
        for name, schema in (
            (ATTRIBUTIONS_DIR, attribution_schema(reader.id_type, multi)),
            (INSTANCES_DIR, instance_schema(reader.id_type, lengths)),
        ):
            tables = results.attributions if name == ATTRIBUTIONS_DIR else results.instances
            _ = tables | f"Write{name.title()}" >> beam.io.WriteToParquetBatched(
                FileSystems.join(self.out_dir, name, "part"),
                schema=schema,
                file_name_suffix=".parquet",
            )
        return results.attributions


def run_pipeline(
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
    safe_mode: bool = True,
    min_batch_size: int | None = 512,
    max_batch_size: int | None = 4096,
    tf_threads: int | None = None,
    pipeline_args: list[str] | None = None,
    **method_kwargs,
) -> dict:
    """Explain ``source`` with a Beam pipeline and write the Parquet layout to ``out_dir``.

    The settings are checked and the model is loaded once here, before the pipeline
    starts, so that bad input fails early with the same errors as
    :func:`~tf_tsexplain.jobs.explain_to_parquet`; the job's settings are written
    to ``out_dir/_job.json``.

    Args:
        model: the model's path (a ``.keras`` file, a SavedModel or export
            directory), readable from every worker.
        source: see :class:`ReadSequences`; or a list of ``(id, sample)`` pairs
            (an array, or a dict by input name; sequences may differ in length).
        out_dir: a new or empty directory (or one holding only this job's
            ``_job.json``).
        pipeline_args: Beam pipeline options, e.g. ``["--runner=DataflowRunner",
            "--project=...", ...]``. Without ``--runner`` the pipeline runs on Beam's
            ``FnApiRunner`` in this machine (``--direct_num_workers=N
            --direct_running_mode=multi_processing`` for N worker processes).
        padding_mask, lengths: as :func:`~tf_tsexplain.jobs.explain_to_parquet`
            (the rows in the source's order: see :class:`ExplainToParquet`); padded
            steps are never perturbed, get no row in ``attributions``, and
            ``instances`` records the lengths.
        min_batch_size, max_batch_size, tf_threads: see :class:`ExplainModelHandler`.
        Other arguments: as :func:`~tf_tsexplain.jobs.explain_to_parquet`.

    Returns:
        ``{"out_dir", "runner", "sequences", "state"}``.
    """
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    if not isinstance(model, str | os.PathLike):
        raise TypeError(
            "`model` must be a path (a .keras file or SavedModel directory) that every "
            "worker can read: save an in-memory model with model.save('model.keras'). "
            f"Received: {type(model).__name__}."
        )
    args = list(pipeline_args or [])
    options = PipelineOptions(args)
    runner_name = options.view_as(StandardOptions).runner
    local = runner_name is None or runner_name in ("DirectRunner", "FnApiRunner")
    workers = (
        (options.view_as(DirectOptions).direct_num_workers or os.cpu_count() or 1) if local else 1
    )
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
    # built here once, on a local copy of a cloud model: the settings and the source
    # are checked before any worker starts, and the job file records them
    explainer = JobExplainer(local_model(str(model)), **settings)
    transform = ExplainToParquet(
        model,
        source,
        out_dir,
        shard_size=shard_size,
        feature_names=feature_names,
        input_shape=explainer.input_shapes if explainer.multi else explainer.input_shape,
        names=explainer.names if explainer.multi else None,
        padding_mask=padding_mask,
        lengths=lengths,
        min_batch_size=min_batch_size,
        max_batch_size=max_batch_size,
        tf_threads=tf_threads,
        workers_per_machine=workers,
        **settings,
    )
    explainer.check_source(transform.reader, padded=set(transform.given))
    check_lengths(transform.given, explainer.input_shapes, explainer.padding)
    transform.padded = list(explainer.padded)  # with the inputs the model masks itself
    settings = job_settings(explainer, transform.reader, shard_size, runner="beam")
    settings["padding_mask"] = {k: describe_array(a) for k, (_, a) in transform.given.items()}
    settings["model"]["path"] = str(model)  # not the local copy's
    _prepare_out_dir(str(out_dir), settings)
    if runner_name in (None, "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        pipeline = beam.Pipeline(runner=FnApiRunner(), options=options)
    else:
        pipeline = beam.Pipeline(options=options)
    _ = pipeline | "ExplainToParquet" >> transform
    transform.handler._token = uuid.uuid4().hex
    _BUILT[transform.handler._token] = explainer
    try:
        result = pipeline.run()
        state = result.wait_until_finish()
    except Exception as err:
        message = " ".join(str(err).split())
        if _LOAD_ERROR in message:
            start = message.index(_LOAD_ERROR)
            end = message.find(" [while running", start)
            raise ValueError(message[start : end if end > 0 else None]) from err
        raise
    finally:
        _BUILT.pop(transform.handler._token, None)
    sequences = None
    try:
        counters = result.metrics().query(
            beam.metrics.MetricsFilter().with_namespace("tf_tsexplain").with_name("sequences")
        )["counters"]
        sequences = int(sum(c.committed or c.attempted or 0 for c in counters))
    except Exception:  # some runners report no metrics
        pass
    return {
        "out_dir": str(out_dir),
        "runner": runner_name or "FnApiRunner",
        "sequences": sequences,
        "state": str(state),
    }


def _is_local(path: str) -> bool:
    return "://" not in path


def local_model(path: str) -> str:
    """``path`` itself if local; else a copy of the ``.keras`` file or SavedModel
    directory in a new temporary directory, through Beam's file systems (``gs://``,
    ``s3://``, ...), since Keras and ``tf.saved_model`` load local files."""
    if _is_local(path):
        return path
    import tempfile

    root = path.rstrip("/")
    target = Path(tempfile.mkdtemp(prefix="tf_tsexplain_model_"))
    if root.endswith(".keras"):
        files = [root]
        target = target / root.rsplit("/", 1)[-1]
    else:
        files = [m.path for m in FileSystems.match([root + "/**"])[0].metadata_list]
    if not files:
        raise ValueError(f"`model` {path!r} matches no file.")
    for name in files:
        dest = target if root.endswith(".keras") else target / name[len(root) + 1 :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        with FileSystems.open(name, mime_type="application/octet-stream") as src:
            with open(dest, "wb") as out:
                for block in iter(lambda src=src: src.read(1 << 22), b""):
                    out.write(block)
    return str(target)


def _prepare_out_dir(out: str, settings: dict) -> None:
    """Write the job file; refuse an ``out_dir`` holding other files or results."""
    if not _is_local(out):  # cloud storage: refuse any existing object under it
        try:
            existing = FileSystems.match([FileSystems.join(out, "*")])[0].metadata_list
        except Exception:  # BeamIOError: nothing there
            existing = []
        if existing:
            raise ValueError(f"`out_dir` {out!r} is not empty; Beam jobs write a new directory.")
        with FileSystems.create(FileSystems.join(out, JOB_FILE)) as fh:
            fh.write(json.dumps({"settings": settings}, indent=1).encode())
        return
    prepare_out_dir(out, settings, resume=True)
    files = result_files(out)
    if files[0] or files[1]:
        raise ValueError(
            f"`out_dir` {out!r} already holds results of this job; Beam jobs do not resume "
            "(the runner retries failed work). Choose a new out_dir."
        )
