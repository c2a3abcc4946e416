"""Apache Beam: explain sequences on many workers, into the Parquet layout of ``batch``.

Needs the optional extra: ``pip install "tf_tsexplain[beam]"`` (apache-beam >= 2.77).

- :class:`ExplainModelHandler`: a ``RunInference`` model handler. Each worker loads
  the model once in :meth:`~ExplainModelHandler.load_model` and builds the explainer
  there (only the model path and plain settings travel to workers: a traced
  ``tf.function`` does not pickle), with TensorFlow's thread pools capped so that the
  worker processes of a machine share its cores.
- :class:`ExplainToParquet`: reads samples (``.npy`` files, one per input for a
  model of several inputs; Parquet tidy or wide; TFRecord of ``tf.train.Example``;
  or ``(id, sample)`` pairs whose samples are arrays or dicts by input name, of any
  length) into blocks of samples (:class:`tf_tsexplain.batch.Block`: Beam's
  elements are blocks, so that its per-element costs are paid per block), explains
  them with ``RunInference`` (padding variable-length sequences) and writes
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
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
    """A ``RunInference`` model handler that explains blocks of samples.

    Each example is a :class:`tf_tsexplain.batch.Block` (sample ids and the inputs
    of many samples: elements are blocks, not single sequences, so that Beam's
    per-element work is paid once per block); its inference is ``(inputs, real
    steps, result)``: the block's inputs as explained (variable-length sequences
    padded), the real steps of padded inputs, and
    :meth:`~tf_tsexplain.batch.JobExplainer.explain`'s result. The blocks of one
    ``run_inference`` call are explained together.

    Args:
        model_path: a ``.keras`` file, a SavedModel directory, or a directory written
            by :func:`~tf_tsexplain.serving.export_explainer`, readable from every
            worker (a shared or cloud path).
        method, baseline, output_indices, batch_size, seed, safe_mode, **method_kwargs: as :func:`~tf_tsexplain.batch.explain_to_parquet`
            (``batch_size``: model rows per call inside a worker).
        min_batch_size, max_batch_size: samples per ``run_inference`` call (blocks
            are weighed by their samples), passed to Beam's ``BatchElements``, which
            grows batches from the minimum while the time per sample falls (None:
            Beam's defaults, 1 and 10,000). A block larger than the maximum is
            explained alone.
        source_shapes, ragged: each input's per-sample shape in the source (a dict
            by input name; T None for variable lengths) and the inputs of variable
            length: the worker fits them to the model with
            :meth:`~tf_tsexplain.batch.JobExplainer.check_source` (needed when the
            model leaves a size open, or for variable lengths).
        padding: ``"post"`` or ``"pre"`` (see :class:`~tf_tsexplain.batch.JobExplainer`).
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
            batch.check_method(method, method_kwargs)
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

    def load_model(self) -> batch.JobExplainer:
        """Load the model and build the explainer, once per worker."""
        if self._token in _BUILT:
            return _BUILT[self._token]
        _cap_threads(self.tf_threads)
        try:
            explainer = batch.JobExplainer(local_model(self.model_path), **self._settings)
            if self._source is not None:
                explainer.check_source(SimpleNamespace(**self._source))
            return explainer
        except Exception as err:
            raise ValueError(
                f"{_LOAD_ERROR} {self.model_path!r}: {type(err).__name__}: "
                + " ".join(str(err).split())
            ) from err

    def run_inference(self, batch_, model, inference_args=None):
        """Explain blocks of samples in one call; one result per block:
        ``(inputs, real steps, explain result)`` (see :mod:`tf_tsexplain.batch`)."""
        if not batch_:  # BatchElements may emit an empty batch before a heavy block
            return []
        prepared = [model.prepare(block) for block in batch_]
        inputs = {k: np.concatenate([p[0][k] for p in prepared]) for k in model.names}
        real = {k: np.concatenate([p[1][k] for p in prepared]) for k in model.padded}
        out = model.explain(inputs, real)
        results, start = [], 0
        for block, (part, own) in zip(batch_, prepared, strict=True):
            rows = slice(start, start + len(block.ids))
            start = rows.stop
            one = {k: out[k][rows] for k in batch.INSTANCE_COLUMNS}
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


def _block_size(block) -> int:
    """A block's weight in ``BatchElements``: its samples."""
    return len(block.ids)


# ---------------------------------------------------------------------------- sources
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


def _npy_files(source) -> list[tuple]:
    """``(path, shape, dtype str, data offset, first row)`` of ``.npy`` files, rows
    counted across the files in name order."""
    files, first = [], 0
    for path in _source_files(source):
        with FileSystems.open(path, mime_type="application/octet-stream") as fh:
            shape, dtype, offset = batch.npy_header(fh, path)
        batch.check_npy(path, shape, dtype)
        files.append((path, shape, dtype.str, offset, first))
        first += shape[0]
    if len({f[1][1:] for f in files}) > 1:
        raise ValueError(
            f"The .npy files hold samples of shapes {sorted({f[1][1:] for f in files})}."
        )
    return files


def _read_rows(files, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` (counted across ``files``) as float32."""
    parts = []
    for path, shape, dtype, offset, first in files:
        a, b = max(start, first), min(stop, first + shape[0])
        if a >= b:
            continue
        dtype = np.dtype(dtype)
        row = int(np.prod(shape[1:])) * dtype.itemsize
        with FileSystems.open(path, mime_type="application/octet-stream") as fh:
            fh.seek(offset + (a - first) * row)
            data = fh.read((b - a) * row)
        parts.append(np.frombuffer(data, dtype).reshape((b - a, *shape[1:])).astype(np.float32))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _read_npy_block(item, files: dict):
    """The block of rows ``start:stop`` of every input's ``.npy`` files."""
    start, stop = item
    inputs = {name: _read_rows(f, start, stop) for name, f in files.items()}
    return batch.Block(start, np.arange(start, stop, dtype=np.int64), inputs)


def _first_tfrecord(path: str) -> bytes:
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        head = fh.read(12)
        if len(head) < 12:
            raise ValueError(f"The TFRecord source {path} holds no record.")
        (length,) = struct.unpack("<Q", head[:8])
        return fh.read(length)


class ReadSequences(beam.PTransform):
    """Blocks of samples (:class:`tf_tsexplain.batch.Block`) from files, spread over
    workers.

    Args:
        source: a path, directory, glob or list of them: ``.npy`` files ``(N_i, T, F)``
            (read in ranges of ``block_size`` rows; ids count rows across the files
            in name order), Parquet files (tidy with columns ``sample, time, feature,
            value``, or wide with ``sample`` and one list column per feature; for a
            model of several inputs, columns ``<input>/<feature>``), or TFRecord
            files of ``tf.train.Example`` (features ``sample`` and ``sequence``; see
            :func:`tf_tsexplain.batch.write_tfrecord`). For a model of several
            inputs also a dict by input name of ``.npy`` paths or globs (the same
            rows in each).
        names: the model's input names when it has several.
        input_shape: ``(T, F)``; needed for TFRecord sources.
        feature_names: F names (checked against Parquet sources); a dict by input
            name for several inputs.
        block_size: samples per block (``.npy`` rows per read; samples of per-sample
            sources gathered into one block).

    Attributes (known at construction), as :class:`tf_tsexplain.batch.Source`:
    ``kind``, ``layout`` (Parquet), ``names``, ``shapes``, ``ragged``,
    ``feature_names``, ``id_type``, ``count`` (None if unknown), ``paths``.
    """

    def __init__(
        self, source, *, names=None, input_shape=None, feature_names=None, block_size=4096
    ):
        super().__init__()
        self.block_size = check_int(block_size, "block_size", min_val=1)
        self.names = list(names) if names else [batch.INPUT_NAME]
        multi = names is not None
        self.layout = None
        self.id_type = pa.int64()
        self.count = None
        self.ragged = ()
        self._source = source
        given = (
            batch._per_input(feature_names, self.names, "feature_names")
            if multi
            else {batch.INPUT_NAME: feature_names}
        )
        if isinstance(source, dict):
            if not multi:
                raise ValueError(
                    f"The source holds several inputs {list(source)}; the model takes one."
                )
            parts = batch._per_input(source, self.names, "source")
            missing = [n for n, v in parts.items() if v is None]
            if missing:
                raise ValueError(
                    f"`source` holds no data for the model's input(s) {missing}; its inputs "
                    f"are {self.names}. Received: source with keys {list(source)}."
                )
            self._npy = {n: _npy_files(p) for n, p in parts.items()}
            self.paths = [f[0] for files in self._npy.values() for f in files]
            counts = {n: sum(f[1][0] for f in files) for n, files in self._npy.items()}
            if len(set(counts.values())) > 1:
                raise ValueError(
                    f"The inputs of `source` hold different numbers of samples: {counts}."
                )
            self.kind = "npy"
            self.count = next(iter(counts.values()))
            self.shapes = {n: tuple(files[0][1][1:]) for n, files in self._npy.items()}
            names_of = dict.fromkeys(self.names)
        else:
            self.paths = _source_files(source)
            self.kind = _kind(self.paths)
            if multi and self.kind != "parquet":
                raise ValueError(
                    f"The model takes the inputs {self.names}; a Beam source of several "
                    "inputs is a dict of .npy files by input name or a Parquet table with "
                    f"columns '<input>/<feature>'. Received: {source!r}."
                )
            names_of = self._inspect(input_shape, multi)
        self.feature_names = {
            n: batch.feature_names_for(names_of[n], given[n], self.shapes[n][-1])
            for n in self.names
        }

    def _inspect(self, input_shape, multi) -> dict:
        """Shapes, ids and feature names of file sources; returns the source's names."""
        if self.kind == "npy":
            self._npy = {batch.INPUT_NAME: _npy_files(self.paths)}
            files = self._npy[batch.INPUT_NAME]
            self.count = sum(f[1][0] for f in files)
            self.shapes = {batch.INPUT_NAME: tuple(files[0][1][1:])}
            return {batch.INPUT_NAME: None}
        if self.kind == "tfrecord":
            if input_shape is None:
                raise ValueError("A TFRecord source needs `input_shape` (T, F).")
            self.shapes = {batch.INPUT_NAME: tuple(input_shape)}
            sample, _ = batch.parse_sequence_example(_first_tfrecord(self.paths[0]), input_shape)
            self.id_type = pa.int64() if isinstance(sample, int) else pa.string()
            return {batch.INPUT_NAME: None}
        with FileSystems.open(self.paths[0], mime_type="application/octet-stream") as fh:
            first = pq.ParquetFile(fh)
            schema = first.schema_arrow
            head = first.read_row_group(0) if first.num_row_groups else schema.empty_table()
        layouts = {
            n: batch.parquet_layout(schema, self.paths[0], n if multi else None) for n in self.names
        }
        self.layout = layouts[self.names[0]]
        if "sample" in schema.names:
            self.id_type = batch.id_type_of(schema.field("sample").type)
        elif self.layout == "wide":
            raise ValueError(
                f"The wide Parquet source {self.paths[0]} has no 'sample' column: Beam "
                "workers read rows in any order, so each sample needs its id."
            )
        names_of, self.shapes, self._columns = {}, {}, {}
        if self.layout == "tidy":
            steps, names = batch.tidy_first_sample(head, self.id_type, self.paths[0])
            self.shapes[batch.INPUT_NAME] = (steps, len(names))
            return {batch.INPUT_NAME: names}
        for n in self.names:
            columns = [f.name for f in batch.wide_fields(schema, n if multi else None)]
            self._columns[n] = columns
            names_of[n] = [c[len(n) + 1 :] if multi else c for c in columns]
            _, x = batch.wide_to_inputs(head.slice(0, 1), columns, self.id_type)
            self.shapes[n] = tuple(np.shape(x[0]))
        return names_of

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        return {"kind": self.kind, "layout": self.layout, "files": self.paths}

    def expand(self, pbegin):
        if self.kind == "npy":
            ranges = [
                (start, min(start + self.block_size, self.count))
                for start in range(0, self.count, self.block_size)
            ]
            return (
                pbegin
                | "Ranges" >> beam.Create(ranges)
                | "Spread" >> beam.Reshuffle()
                | "ReadNpy" >> beam.Map(_read_npy_block, self._npy)
            )
        if self.kind == "tfrecord":
            pairs = (
                pbegin | "ReadTFRecord" >> beam.io.ReadFromTFRecord(self.paths[0])
                if len(self.paths) == 1
                else pbegin
                | "Files" >> beam.Create(self.paths)
                | "ReadTFRecords" >> beam.io.ReadAllFromTFRecord()
            ) | "Parse" >> beam.Map(
                batch.parse_sequence_example, shape=self.shapes[batch.INPUT_NAME]
            )
            return pairs | "Blocks" >> ToBlocks(self.names, self.id_type, self.block_size)
        tables = (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "ReadParquet" >> beam.io.ReadAllFromParquetBatched()
        )
        if self.layout == "wide":
            return tables | "Rows" >> beam.Map(_wide_block, self._columns, self.id_type)
        names = self.feature_names[batch.INPUT_NAME]
        return (
            tables
            | "Cells" >> beam.FlatMap(_tidy_parts, self.id_type)
            | "BySample" >> beam.GroupByKey()
            | "Assemble" >> beam.Map(_tidy_sequence, names)
            | "Blocks" >> ToBlocks(self.names, self.id_type, self.block_size)
        )


class ToBlocks(beam.PTransform):
    """``(id, sample)`` pairs (an array, or a dict by input name) to blocks of
    ``block_size`` samples (variable-length sequences are padded when explained)."""

    def __init__(self, names, id_type, block_size: int):
        super().__init__()
        self._names, self._id_type, self._size = list(names), id_type, block_size

    def expand(self, pairs):
        return (
            pairs
            | "Gather" >> beam.BatchElements(min_batch_size=self._size, max_batch_size=self._size)
            | "Block" >> beam.Map(_pairs_block, self._names, self._id_type)
        )


def _pairs_block(pairs, names, id_type):
    ids = [key for key, _ in pairs]
    return batch.block_from_records(0, ids, [item for _, item in pairs], names, id_type)


def _wide_block(table, columns: dict, id_type):
    inputs = {}
    for name, cols in columns.items():
        ids, inputs[name] = batch.wide_to_inputs(table, cols, id_type)
    return batch.Block(0, ids, inputs)


def _tidy_parts(table, id_type):
    """The cells of each sample in a table, keyed by sample."""
    cols = batch.tidy_columns(table, id_type)
    order = np.argsort(cols["sample"], kind="stable")
    sample = cols["sample"][order]
    cuts = np.flatnonzero(sample[1:] != sample[:-1]) + 1
    for part in np.split(order, cuts):
        key = cols["sample"][part[0]]
        yield (key.item() if hasattr(key, "item") else key), {c: v[part] for c, v in cols.items()}


def _tidy_sequence(item, names):
    key, parts = item
    parts = list(parts)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    _, x = batch.tidy_to_sequences(
        cols["sample"], cols["time"], cols["feature"], cols["value"], names
    )
    return key, x[0]


def reader_shapes(reader) -> dict:
    """The per-sample shape of each input of a reader, in the model's input order."""
    return {n: tuple(reader.shapes[n]) for n in reader.names}


class _Elements:
    """The shapes of a PCollection (or list) of ``(id, sample)`` pairs, as a source's."""

    kind = "elements"

    def __init__(self, names, shapes, feature_names=None, id_type=None, digest=None):
        self.names = list(names)
        self.shapes = {n: tuple(shapes[n]) for n in self.names}
        self.ragged = tuple(
            n for n in self.names if len(self.shapes[n]) == 2 and self.shapes[n][0] is None
        )
        multi = self.names != [batch.INPUT_NAME]
        given = (
            batch._per_input(feature_names, self.names, "feature_names")
            if multi
            else {batch.INPUT_NAME: feature_names}
        )
        self.feature_names = {
            n: batch.feature_names_for(None, given[n], self.shapes[n][-1]) for n in self.names
        }
        self.id_type = pa.int64() if id_type is None else id_type
        self.count = None
        self._digest = digest

    @classmethod
    def of(cls, pairs: list, names, feature_names=None):
        """From in-memory pairs: shapes from the samples (T None where lengths vary)."""
        items = [item if isinstance(item, dict) else {batch.INPUT_NAME: item} for _, item in pairs]
        shapes = {}
        for n in names:
            found = {np.shape(item[n]) for item in items if n in item}
            if not found or any(n not in item for item in items):
                raise ValueError(f"Some samples of `source` have no input {n!r}.")
            first = next(iter(found))
            if len({s[1:] for s in found}) > 1:
                raise ValueError(
                    f"The samples of input {n!r} of `source` have different numbers of "
                    f"features: {sorted(found)}."
                )
            shapes[n] = first if len(found) == 1 else (None, *first[1:])
        ids = [key for key, _ in pairs]
        id_type = pa.int64() if all(isinstance(k, int | np.integer) for k in ids) else pa.string()
        arrays = [np.asarray(item[n]) for item in items for n in names]
        return cls(names, shapes, feature_names, id_type, batch._digest_list(arrays))

    def describe(self) -> dict:
        return {"kind": self.kind, "data": self._digest}


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
        attributions, instances = batch.shard_tables(
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
        input_shape: the model's ``(T, F)`` (needed for TFRecord sources).
        names: the model's input names when it has several.
        input_shapes: per-sample shape of each input (a dict by input name; T None
            for variable-length sequences) of a PCollection of pairs; and, as
            :meth:`~tf_tsexplain.batch.JobExplainer.check_source` fixed them, the
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
        shard_size: int = batch.DEFAULT_SHARD_SIZE,
        feature_names=None,
        input_shape=None,
        names=None,
        input_shapes=None,
        padded=None,
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
            names = list(names) if names else [batch.INPUT_NAME]
            if source is None:
                shapes = (
                    input_shapes
                    if isinstance(input_shapes, dict)
                    else {batch.INPUT_NAME: input_shapes}
                )
                self.reader = _Elements(names, shapes, feature_names)
            else:
                self.reader = _Elements.of(source, names, feature_names)
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
        self.handler = ExplainModelHandler(
            model_path,
            source_shapes=reader_shapes(self.reader),
            ragged=self.reader.ragged,
            **handler_kwargs,
        )
        self.padded = list(self.reader.ragged if padded is None else padded)
        self.out_dir = str(out_dir)

    def expand(self, pvalue):
        reader = self.reader
        if isinstance(reader, ReadSequences):
            blocks = pvalue | "Read" >> reader
        else:
            pairs = pvalue if self._pairs is None else pvalue | "Pairs" >> beam.Create(self._pairs)
            blocks = pairs | "Blocks" >> ToBlocks(reader.names, reader.id_type, self._block_size)
        results = (
            blocks
            | "Explain" >> RunInference(self.handler)
            | "ToArrow"
            >> beam.ParDo(
                _ToTables(reader.feature_names, reader.id_type, self.padded)
            ).with_outputs("instances", main="attributions")
        )
        multi = reader.names != [batch.INPUT_NAME]
        lengths = batch.length_columns(self.padded, multi)
        for name, schema in (
            (batch.ATTRIBUTIONS_DIR, batch.attribution_schema(reader.id_type, multi)),
            (batch.INSTANCES_DIR, batch.instance_schema(reader.id_type, lengths)),
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
    :func:`~tf_tsexplain.batch.explain_to_parquet`; the job's settings are written
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
        "padding": padding,
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
        names=explainer.names if explainer.multi else None,
        min_batch_size=min_batch_size,
        max_batch_size=max_batch_size,
        tf_threads=tf_threads,
        workers_per_machine=workers,
        **settings,
    )
    explainer.check_source(transform.reader)
    transform.padded = list(explainer.padded)  # with the inputs the model masks itself
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
