"""Apache Beam: explain sequences on many workers, into the Parquet layout of ``batch``.

Needs the optional extra: ``pip install "tf_tsexplain[beam]"`` (apache-beam >= 2.77).

- :class:`ExplainModelHandler`: a ``RunInference`` model handler. Each worker loads
  the model once in :meth:`~ExplainModelHandler.load_model` and builds the explainer
  there (only the model path and plain settings travel to workers: a traced
  ``tf.function`` does not pickle), with TensorFlow's thread pools capped so that the
  worker processes of a machine share its cores.
- :class:`ExplainToParquet`: reads sequences (``.npy`` files, Parquet tidy or wide,
  TFRecord of ``tf.train.Example``), explains them with ``RunInference`` and writes
  ``attributions/`` and ``instances/`` with ``WriteToParquetBatched``: the columns of
  :func:`tf_tsexplain.batch.explain_to_parquet`, read back with the same functions
  (:func:`~tf_tsexplain.batch.read_attributions`, ...).
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
import struct
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import (
        KeyedModelHandler,
        ModelHandler,
        PredictionResult,
        RunInference,
    )
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "tf_tsexplain.beam needs Apache Beam: pip install 'tf_tsexplain[beam]' "
        f"(apache-beam>=2.77). ({err})"
    ) from None

from tf_tsexplain import batch
from tf_tsexplain._validation import check_batch_size, check_int, check_seed

_LOAD_ERROR = "A Beam worker could not load the model"
# Explainers that run_pipeline built (to check the settings) in this process, by token:
# a worker running in the same process (Beam's in-process runner) uses it instead of
# loading the model again. Only the token travels with the handler.
_BUILT: dict[str, batch.JobExplainer] = {}


def _cap_threads(threads: int) -> None:
    """At most ``threads`` threads per TensorFlow pool in this process.

    Takes effect only before TensorFlow starts its runtime (a fresh worker process);
    in a process where it already runs (Beam's in-process runner) the pools stay.
    """
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # "cannot be modified after initialization"
        pass


class ExplainModelHandler(ModelHandler):
    """A ``RunInference`` model handler that explains sequences ``(T, F)``.

    Each example is one float sequence ``(T, F)``; its inference is a dict with the
    sequence's ``attributions`` ``(T, F)`` and its ``explained_index``,
    ``explained_prediction``, ``baseline_prediction`` and ``approximation_error``
    (see :mod:`tf_tsexplain.batch`). Wrap it in ``KeyedModelHandler`` for ``(id,
    sequence)`` pairs.

    Args:
        model_path: a ``.keras`` file, a SavedModel directory, or a directory written
            by :func:`~tf_tsexplain.serving.export_explainer`, readable from every
            worker (a shared or cloud path).
        method, baseline, output_indices, batch_size, seed, safe_mode,
            **method_kwargs: as :func:`~tf_tsexplain.batch.explain_to_parquet`
            (``batch_size``: model rows per call inside a worker).
        min_batch_size, max_batch_size: sequences per ``run_inference`` call, passed
            to Beam's ``BatchElements``, which grows batches from the minimum while
            the time per sequence falls (None: Beam's defaults, 1 and 10,000).
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
            batch.check_method(method, method_kwargs)
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model_path = str(model_path)
        self._token = None  # see _BUILT
        self._settings = {
            "method": method,
            "baseline": baseline,
            "output_indices": output_indices,
            "batch_size": check_batch_size(batch_size),
            "seed": check_seed(seed),
            "safe_mode": safe_mode,
            **method_kwargs,
        }

    def load_model(self) -> batch.JobExplainer:
        """Load the model and build the explainer, once per worker."""
        if self._token in _BUILT:
            return _BUILT[self._token]
        _cap_threads(self.tf_threads)
        try:
            return batch.JobExplainer(local_model(self.model_path), **self._settings)
        except Exception as err:
            raise ValueError(
                f"{_LOAD_ERROR} {self.model_path!r}: {type(err).__name__}: "
                + " ".join(str(err).split())
            ) from err

    def run_inference(self, batch_, model, inference_args=None):
        x = np.stack([np.asarray(e, np.float32) for e in batch_])
        out = model.explain(x)
        keys = ("attributions", *batch.INSTANCE_COLUMNS)
        return [PredictionResult(e, {k: out[k][i] for k in keys}) for i, e in enumerate(batch_)]

    def validate_inference_args(self, inference_args):
        if inference_args:
            raise ValueError(
                "ExplainModelHandler takes its settings at construction, not as "
                f"inference_args. Received: inference_args={inference_args!r}."
            )

    def get_num_bytes(self, batch_) -> int:
        return int(sum(np.asarray(e).nbytes for e in batch_))

    def get_metrics_namespace(self) -> str:
        return "tf_tsexplain"


# ---------------------------------------------------------------------------- sources
class SequenceArray:
    """Type hint of the sequences between transforms: float arrays ``(T, F)``.

    Beam picks an element's coder from its type hint; without one, numpy arrays go
    through pickle, also when the runner samples element sizes for its metrics (about
    1 s per 20,000 sequences). :class:`SequenceCoder` writes the raw bytes instead.
    """


class SequenceCoder(beam.coders.Coder):
    """Coder of numpy arrays: dtype, shape and raw bytes (sizes estimated for free)."""

    def encode(self, value) -> bytes:
        a = np.ascontiguousarray(value)
        dtype = a.dtype.str.encode()
        head = struct.pack(f"<B{len(dtype)}sB{a.ndim}q", len(dtype), dtype, a.ndim, *a.shape)
        return head + a.tobytes()

    def decode(self, encoded: bytes) -> np.ndarray:
        n = encoded[0]
        dtype = np.dtype(encoded[1 : 1 + n].decode())
        ndim = encoded[1 + n]
        start = 2 + n + 8 * ndim
        shape = struct.unpack(f"<{ndim}q", encoded[2 + n : start])
        return np.frombuffer(encoded, dtype, offset=start).reshape(shape)

    def estimate_size(self, value) -> int:
        return int(np.asarray(value).nbytes) + 24

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self):
        return SequenceArray


beam.coders.registry.register_coder(SequenceArray, SequenceCoder)
_PAIR = beam.typehints.Tuple[beam.typehints.Any, SequenceArray]


def _match(pattern: str) -> list[str]:
    """Files of a path, directory or glob, through Beam's file systems (local or cloud)."""
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # BeamIOError: nothing matched
        raise ValueError(f"`source` {pattern!r} matches no file ({err}).") from None
    paths = sorted(m.path for m in found if not os.path.basename(m.path).startswith((".", "_")))
    if not paths:
        raise ValueError(f"`source` {pattern!r} matches no file.")
    return paths


def _source_files(source) -> list[str]:
    if isinstance(source, list | tuple):
        return [p for s in source for p in _match(str(s))]
    text = str(source)
    if "://" not in text and Path(text).is_dir():
        return _match(str(Path(text) / "*"))
    return _match(text)


def _kind(paths: list[str]) -> str:
    for kind, suffixes in (
        ("npy", (".npy",)),
        ("parquet", (".parquet",)),
        ("tfrecord", (".tfrecord", ".tfrecords")),
    ):
        if all(p.endswith(suffixes) for p in paths):
            return kind
    raise ValueError(
        "A Beam source is .npy files, Parquet files or TFRecord files (one kind). "
        f"Received: {', '.join(paths[:4])}{' ...' if len(paths) > 4 else ''}."
    )


def _npy_info(path: str):
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        shape, dtype, offset = batch.npy_header(fh, path)
    if len(shape) != 3:
        raise ValueError(f"{path} holds an array of shape {shape}; sequences (N, T, F) needed.")
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{path} holds {dtype} values; float sequences needed.")
    return shape, dtype, offset


def _read_npy_range(item):
    """``(id, sequence)`` pairs of rows ``start:stop`` of a ``.npy`` file."""
    path, offset, shape, dtype, start, stop, first_id = item
    dtype = np.dtype(dtype)
    row = int(np.prod(shape)) * dtype.itemsize
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        fh.seek(offset + start * row)
        data = fh.read((stop - start) * row)
    x = np.frombuffer(data, dtype).reshape((stop - start, *shape)).astype(np.float32)
    for i in range(stop - start):
        yield first_id + start + i, x[i]


def _first_tfrecord(path: str) -> bytes:
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        head = fh.read(12)
        if len(head) < 12:
            raise ValueError(f"The TFRecord source {path} holds no record.")
        (length,) = struct.unpack("<Q", head[:8])
        return fh.read(length)


class ReadSequences(beam.PTransform):
    """``(sample id, sequence (T, F) float32)`` pairs from files, spread over workers.

    Args:
        source: a path, directory, glob or list of them: ``.npy`` files ``(N_i, T, F)``
            (read in ranges of ``block_size`` rows; ids count rows across the files
            in name order), Parquet files (tidy with columns ``sample, time, feature,
            value``, or wide with ``sample`` and one list column per feature), or
            TFRecord files of ``tf.train.Example`` (features ``sample`` and
            ``sequence``; see :func:`tf_tsexplain.batch.write_tfrecord`).
        input_shape: ``(T, F)``; needed for TFRecord sources, checked for the others.
        feature_names: F names (checked against Parquet sources).
        block_size: rows of ``.npy`` files per read.

    Attributes (known at construction): ``kind``, ``layout`` (Parquet),
    ``shape``, ``feature_names``, ``id_type``, ``count`` (None if unknown),
    ``paths``.
    """

    def __init__(self, source, *, input_shape=None, feature_names=None, block_size=4096):
        super().__init__()
        self.paths = _source_files(source)
        self.kind = _kind(self.paths)
        self.block_size = check_int(block_size, "block_size", min_val=1)
        self.layout = None
        self.id_type = pa.int64()
        self.count = None
        if self.kind == "npy":
            self._npy = [(p, *_npy_info(p)) for p in self.paths]
            shapes = {tuple(s[1:]) for _, s, _, _ in self._npy}
            if len(shapes) > 1:
                raise ValueError(f"The .npy files hold sequences of shapes {sorted(shapes)}.")
            self.shape = shapes.pop()
            self.count = sum(s[0] for _, s, _, _ in self._npy)
            names = None
        elif self.kind == "parquet":
            with FileSystems.open(self.paths[0], mime_type="application/octet-stream") as fh:
                first = pq.ParquetFile(fh)
                schema = first.schema_arrow
                self.layout = batch.parquet_layout(schema, self.paths[0])
                head = first.read_row_group(0) if first.num_row_groups else schema.empty_table()
            if "sample" in schema.names:
                self.id_type = batch.id_type_of(schema.field("sample").type)
            elif self.layout == "wide":
                raise ValueError(
                    f"The wide Parquet source {self.paths[0]} has no 'sample' column: Beam "
                    "workers read rows in any order, so each sequence needs its id."
                )
            if self.layout == "wide":
                names = [f.name for f in schema if f.name != "sample"]
                if feature_names is not None:
                    batch.check_names_subset(names, feature_names)
                    names = list(feature_names)
                steps = len(head.column(names[0])[0]) if head.num_rows else None
                self.shape = (steps or (input_shape or (0,))[0], len(names))
            else:
                self._times, names = batch.tidy_first_sample(head, self.id_type, self.paths[0])
                self.shape = (len(self._times), len(names))
        else:
            if input_shape is None:
                raise ValueError("A TFRecord source needs `input_shape` (T, F).")
            self.shape = tuple(input_shape)
            sample, _ = batch.parse_sequence_example(_first_tfrecord(self.paths[0]), self.shape)
            self.id_type = pa.int64() if isinstance(sample, int) else pa.string()
            names = None
        if input_shape is not None and tuple(input_shape) != tuple(self.shape):
            t, f = input_shape
            raise ValueError(
                f"The source holds sequences of shape {tuple(self.shape)} (time steps, "
                f"features); the model expects ({t}, {f})."
            )
        self.feature_names = batch.feature_names_for(names, feature_names, self.shape[1])

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        return {"kind": self.kind, "layout": self.layout, "files": self.paths}

    def expand(self, pbegin):
        if self.kind == "npy":
            ranges, first = [], 0
            for path, shape, dtype, offset in self._npy:
                for start in range(0, shape[0], self.block_size):
                    stop = min(start + self.block_size, shape[0])
                    ranges.append((path, offset, shape[1:], dtype.str, start, stop, first))
                first += shape[0]
            return (
                pbegin
                | "Ranges" >> beam.Create(ranges)
                | "Spread" >> beam.Reshuffle()
                | "ReadNpy" >> beam.FlatMap(_read_npy_range).with_output_types(_PAIR)
            )
        if self.kind == "tfrecord":
            return (
                pbegin | "ReadTFRecord" >> beam.io.ReadFromTFRecord(self.paths[0])
                if len(self.paths) == 1
                else pbegin
                | "Files" >> beam.Create(self.paths)
                | "ReadTFRecords" >> beam.io.ReadAllFromTFRecord()
            ) | "Parse" >> beam.Map(
                batch.parse_sequence_example, shape=self.shape
            ).with_output_types(_PAIR)
        tables = (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "ReadParquet" >> beam.io.ReadAllFromParquetBatched()
        )
        names, steps, id_type = self.feature_names, self.shape[0], self.id_type
        if self.layout == "wide":
            return tables | "Rows" >> beam.FlatMap(
                _wide_pairs, names, steps, id_type
            ).with_output_types(_PAIR)
        return (
            tables
            | "Cells" >> beam.FlatMap(_tidy_parts, id_type)
            | "BySample" >> beam.GroupByKey()
            | "Assemble" >> beam.Map(_tidy_sequence, self._times, names).with_output_types(_PAIR)
        )


def _wide_pairs(table, names, steps, id_type):
    ids, x = batch.wide_to_sequences(table, names, steps, id_type)
    yield from zip(ids.tolist(), x, strict=True)


def _tidy_parts(table, id_type):
    """The cells of each sample in a table, keyed by sample."""
    cols = batch.tidy_columns(table, id_type)
    order = np.argsort(cols["sample"], kind="stable")
    sample = cols["sample"][order]
    cuts = np.flatnonzero(sample[1:] != sample[:-1]) + 1
    for part in np.split(order, cuts):
        key = cols["sample"][part[0]]
        yield (key.item() if hasattr(key, "item") else key), {c: v[part] for c, v in cols.items()}


def _tidy_sequence(item, times, names):
    key, parts = item
    parts = list(parts)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    _, x = batch.tidy_to_sequences(
        cols["sample"], cols["time"], cols["feature"], cols["value"], times, names
    )
    return key, x[0]


# ---------------------------------------------------------------------------- output
class _ToTables(beam.DoFn):
    """A list of ``(id, PredictionResult)`` to one attributions and one instances table."""

    def __init__(self, feature_names, id_type):
        self._names = list(feature_names)
        self._id_type = id_type
        self._count = beam.metrics.Metrics.counter("tf_tsexplain", "sequences")

    def process(self, items):
        ids = [key for key, _ in items]
        x = np.stack([np.asarray(r.example, np.float32) for _, r in items])
        result = {
            k: np.stack([np.asarray(r.inference[k]) for _, r in items])
            for k in ("attributions", *batch.INSTANCE_COLUMNS)
        }
        ids = np.asarray(ids, np.int64 if pa.types.is_integer(self._id_type) else object)
        attributions, instances = batch.shard_tables(ids, x, result, self._names, self._id_type)
        self._count.inc(len(items))
        yield attributions
        yield beam.pvalue.TaggedOutput("instances", instances)


class ExplainToParquet(beam.PTransform):
    """Read, explain and write: ``pipeline | ExplainToParquet(...)``.

    Args:
        model_path: as :class:`ExplainModelHandler`.
        source: as :class:`ReadSequences`.
        out_dir: directory (local or cloud) of ``attributions/`` and ``instances/``.
        shard_size: most sequences per written table (a worker's file holds one or
            more of them).
        feature_names: F names of the ``feature`` column.
        input_shape: the model's ``(T, F)`` (needed for TFRecord sources).
        **handler_kwargs: the settings of :class:`ExplainModelHandler`.
    """

    def __init__(
        self,
        model_path,
        source,
        out_dir,
        *,
        shard_size: int = batch.DEFAULT_SHARD_SIZE,
        feature_names=None,
        input_shape=None,
        **handler_kwargs,
    ):
        super().__init__()
        self.shard_size = check_int(shard_size, "shard_size", min_val=1)
        self.handler = ExplainModelHandler(model_path, **handler_kwargs)
        self.reader = ReadSequences(
            source,
            input_shape=input_shape,
            feature_names=feature_names,
            block_size=min(self.shard_size, 1024),  # ranges small enough to balance
        )
        self.out_dir = str(out_dir)

    def expand(self, pbegin):
        reader = self.reader
        results = (
            pbegin
            | "Read" >> reader
            | "Explain" >> RunInference(KeyedModelHandler(self.handler))
            | "Shard"
            >> beam.BatchElements(min_batch_size=self.shard_size, max_batch_size=self.shard_size)
            | "ToArrow"
            >> beam.ParDo(_ToTables(reader.feature_names, reader.id_type)).with_outputs(
                "instances", main="attributions"
            )
        )
        for name, schema in (
            (batch.ATTRIBUTIONS_DIR, batch.attribution_schema(reader.id_type)),
            (batch.INSTANCES_DIR, batch.instance_schema(reader.id_type)),
        ):
            tables = results.attributions if name == batch.ATTRIBUTIONS_DIR else results.instances
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
    shard_size: int = batch.DEFAULT_SHARD_SIZE,
    feature_names=None,
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
    :func:`~tf_tsexplain.batch.explain_to_parquet`; the job's settings are written
    to ``out_dir/_job.json``.

    Args:
        model: the model's path (a ``.keras`` file, a SavedModel or export
            directory), readable from every worker.
        source: see :class:`ReadSequences`.
        out_dir: a new or empty directory (or one holding only this job's
            ``_job.json``).
        pipeline_args: Beam pipeline options, e.g. ``["--runner=DataflowRunner",
            "--project=...", ...]``. Without ``--runner`` the pipeline runs on Beam's
            ``FnApiRunner`` in this machine (``--direct_num_workers=N
            --direct_running_mode=multi_processing`` for N worker processes).
        min_batch_size, max_batch_size, tf_threads: see :class:`ExplainModelHandler`.
        Other arguments: as :func:`~tf_tsexplain.batch.explain_to_parquet`.

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
        **method_kwargs,
    }
    # built here once, on a local copy of a cloud model: the settings and the source
    # are checked before any worker starts, and the job file records them
    explainer = batch.JobExplainer(local_model(str(model)), **settings)
    transform = ExplainToParquet(
        model,
        source,
        out_dir,
        shard_size=shard_size,
        feature_names=feature_names,
        input_shape=explainer.input_shape,
        min_batch_size=min_batch_size,
        max_batch_size=max_batch_size,
        tf_threads=tf_threads,
        workers_per_machine=workers,
        **settings,
    )
    explainer.check_input_shape(transform.reader.shape)
    settings = batch.job_settings(explainer, transform.reader, shard_size, runner="beam")
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
        with FileSystems.create(FileSystems.join(out, batch.JOB_FILE)) as fh:
            fh.write(json.dumps({"settings": settings}, indent=1).encode())
        return
    batch.prepare_out_dir(out, settings, resume=True)
    files = batch.result_files(out)
    if files[0] or files[1]:
        raise ValueError(
            f"`out_dir` {out!r} already holds results of this job; Beam jobs do not resume "
            "(the runner retries failed work). Choose a new out_dir."
        )
