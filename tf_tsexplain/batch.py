"""Streaming explanation jobs on one machine: sequences from a source, attributions to Parquet.

:func:`explain_to_parquet` reads sequences ``(T, F)`` from a source in shards of
``shard_size``, explains each shard with one attribution method of the toolkit (or
the ``explain`` signature of a directory written by
:func:`~tf_tsexplain.serving.export_explainer`), and writes one Parquet file per
shard, so that memory is bounded by ``shard_size`` and ``batch_size``, not by the
number of sequences.

Sources (:func:`open_source`): an in-memory array ``(N, T, F)``; a ``.npy`` file (or a
list or glob of them), memory-mapped and read shard by shard; a Parquet file or
directory, tidy (columns ``sample, time, feature, value``, the rows of a sample
together) or wide (one row per sequence: a list column of ``T`` values per feature,
and optionally ``sample``); a TFRecord file (or list or glob) of ``tf.train.Example``
records (:func:`write_tfrecord`); a ``tf.data.Dataset`` of sequences, batches of
sequences, or ``(id, sequence)`` pairs.

Output layout under ``out_dir`` (shared with :mod:`tf_tsexplain.beam`):

- ``_job.json``: the job's settings (model, method, options, baseline, target,
  seed, shard size, source); a later call resumes only a job with the same settings.
- ``attributions/shard-KKKKK.parquet``: one row per cell, columns ``sample`` (int64,
  or string ids), ``time`` (int32 step), ``feature`` (dictionary-encoded names),
  ``attribution`` and ``value`` (float32: the input value).
- ``instances/shard-KKKKK.parquet``: one row per sequence: ``sample``,
  ``explained_index`` (flat index of the explained output), ``explained_prediction``
  f(x), ``baseline_prediction`` f(baseline) and ``approximation_error``
  ``|sum(attributions) - (f(x) - f(baseline))|`` (NaN where the method has no such
  identity, see :data:`METHODS`).

Each file is written under a hidden temporary name (``.shard-...``, which Parquet
readers skip) and renamed into place; a shard is complete once its ``instances``
file exists. A job killed mid-shard leaves no partial file visible, and
``resume=True`` redoes only the shards that are not complete.

Sources and results are handled as named arrays (one name, ``"inputs"``, today) so
that multi-input models can add names later without changing the flow.
"""

from __future__ import annotations

import glob
import hashlib
import json
import mmap
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import tensorflow as tf

from tf_tsexplain._batching import Progress
from tf_tsexplain._targets import PREDICTED, resolve_output_indices
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_bool,
    check_choice,
    check_int,
    check_seed,
    check_verbose,
)
from tf_tsexplain.path import PathExplainerTF
from tf_tsexplain.saliency import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from tf_tsexplain.serving import load_model, model_input_shape, saved_model_info
from tf_tsexplain.serving._common import check_baseline
from tf_tsexplain.tsr import TemporalSaliencyRescaling

JOB_FILE = "_job.json"
ATTRIBUTIONS_DIR = "attributions"
INSTANCES_DIR = "instances"
INSTANCE_COLUMNS = (
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "approximation_error",
)
DEFAULT_SHARD_SIZE = 10_000
INPUT_NAME = "inputs"  # the one named array of single-input models
_FORMAT = "tf_tsexplain.batch/1"
_TIDY_COLUMNS = ("sample", "time", "feature", "value")


# ---------------------------------------------------------------------------- methods
@dataclass(frozen=True)
class _Method:
    """How a job builds and calls one attribution method.

    ``constructor``: option names given to the explainer's constructor (the others go
    to ``attributions``). ``baseline``: ``"one"`` (one baseline ``(T, F)``, default
    zeros), ``"references"`` (a reference set ``(R, T, F)``, required), ``"fill"`` (a
    number or ``(T, F)`` fill value, default 0) or ``"none"``. ``identity``: how the
    approximation error is formed: ``"sum"`` (``sum(attr)`` against ``f(x) -
    f(baseline)``), ``"taylor"`` (``sum(attr * (x - baseline))``) or ``"none"``.
    """

    cls: type
    constructor: tuple[str, ...]
    call: tuple[str, ...]
    baseline: str
    identity: str
    fixed: Mapping = field(default_factory=dict)
    takes_baseline: bool = True  # False: the baseline only serves the error


METHODS = {
    "integrated_gradients": _Method(
        PathExplainerTF,
        ("hessian_method", "memory_budget"),
        ("num_samples",),
        "one",
        "sum",
        {"use_expectation": False},
    ),
    "expected_gradients": _Method(
        PathExplainerTF,
        ("hessian_method", "memory_budget"),
        ("num_samples",),
        "references",
        "sum",
        {"use_expectation": True},
    ),
    "saliency": _Method(
        Saliency, ("absolute", "memory_budget"), (), "one", "taylor", takes_baseline=False
    ),
    "input_x_gradient": _Method(
        InputXGradient, ("memory_budget",), (), "zeros", "sum", takes_baseline=False
    ),
    "smoothgrad": _Method(
        SmoothGrad,
        ("absolute", "memory_budget"),
        ("num_samples", "noise_level", "stdevs"),
        "none",
        "none",
    ),
    "occlusion": _Method(Occlusion, ("memory_budget",), ("window", "strides"), "fill", "sum"),
    "feature_ablation": _Method(
        FeatureAblation, ("memory_budget",), ("feature_mask",), "fill", "sum"
    ),
    "feature_permutation": _Method(
        FeaturePermutation, ("memory_budget",), ("feature_mask",), "none", "none"
    ),
}
_TSR_OPTIONS = (
    "mask_value",
    "threshold",
    "feature_groups",
    "variant",
    "below_threshold",
    "max_copies",
)
METHOD_NAMES = (*METHODS, "tsr")


def check_method(method, options: Mapping) -> None:
    """Check a method name and its options without a model (TypeError / ValueError)."""
    check_choice(method, "method", METHOD_NAMES)
    _split_options(method, dict(options))


def _split_options(method: str, options: dict) -> tuple[_Method, dict, dict, dict]:
    """``(base method, TSR options, constructor options, call options)``; an unknown
    option is a TypeError naming the options the method takes."""
    options = dict(options)
    tsr = {}
    wrapper = ("base_method", *_TSR_OPTIONS) if method == "tsr" else ()
    if method == "tsr":
        base = options.pop("base_method", "integrated_gradients")
        check_choice(base, "base_method", tuple(METHODS))
        tsr = {name: options.pop(name) for name in _TSR_OPTIONS if name in options}
        method = base
    spec = METHODS[method]
    known = spec.constructor + spec.call
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = (*wrapper, *known)
        raise TypeError(
            f"method {method!r} takes the options {', '.join(takes) or '(none)'}; got "
            f"{', '.join(unknown)}. Received: {unknown[0]}={options[unknown[0]]!r}."
        )
    constructor = {k: v for k, v in options.items() if k in spec.constructor}
    call = {k: v for k, v in options.items() if k in spec.call}
    return spec, tsr, constructor, call


def _check_baseline(kind: str, baseline, shape: tuple[int, int]) -> np.ndarray | None:
    """The baseline a method of kind ``kind`` uses, as float32, checked against (T, F)."""
    t, f = shape
    if kind in ("none", "zeros"):
        if baseline is not None:
            raise ValueError(
                "This method takes no `baseline`"
                + (" (its error is taken around zeros)" if kind == "zeros" else "")
                + f". Received: baseline of shape {np.shape(baseline)}."
            )
        return np.zeros(shape, np.float32) if kind == "zeros" else None
    if kind == "references":  # the same reference-set check as the exported signature's
        return check_baseline("expected_gradients", baseline, shape)
    if baseline is None:
        return np.zeros(shape, np.float32)
    b = as_float_array(baseline, "baseline", min_rank=0, dtype=np.float32)
    if b.shape == (1, t, f):
        b = b[0]
    if b.shape == shape:
        return b
    if kind == "fill":  # a number, or anything that broadcasts to one sequence
        try:
            return np.ascontiguousarray(np.broadcast_to(b, shape))
        except ValueError:
            pass
    raise ValueError(
        f"`baseline` must have shape ({t}, {f}) or (1, {t}, {f})"
        + (" or be a number" if kind == "fill" else "")
        + ": a job explains an unbounded stream, so no baseline per input. Received: "
        f"baseline of shape {b.shape}."
    )


# ---------------------------------------------------------------------------- models
def is_export_dir(model) -> bool:
    """Whether ``model`` is a directory written by ``export_explainer``."""
    if not isinstance(model, str | os.PathLike):
        return False
    p = Path(model)
    return (p / "saved_model.pb").is_file() and (p / "assets.extra" / "tf_tsexplain.json").is_file()


class JobExplainer:
    """The explainer a job runs, built in the process that runs it.

    A Beam worker builds its own from the same settings (the model path and plain
    values), so that no traced function is ever pickled.

    Args:
        model: a Keras model or callable; a ``.keras`` file or SavedModel directory
            (loaded with :func:`~tf_tsexplain.serving.load_model`); or a directory
            written by :func:`~tf_tsexplain.serving.export_explainer`, whose
            ``explain`` signature then does the work (method, baseline, target and
            rows per call are fixed at export and must not be given).
        method: one of :data:`METHOD_NAMES` (default ``"integrated_gradients"``).
            ``"tsr"`` wraps ``base_method`` (default ``"integrated_gradients"``) in
            :class:`~tf_tsexplain.TemporalSaliencyRescaling`.
        baseline: integrated gradients, saliency: one baseline ``(T, F)`` (default
            zeros); expected gradients: the reference set ``(R, T, F)`` (required);
            occlusion, feature ablation: a number or ``(T, F)`` fill (default 0).
        output_indices: the explained output, one per sequence: None (single-output
            model), an int, a ``(time, class)`` tuple, or ``"predicted"``.
        batch_size: most model rows per call (None: from the memory budget).
        seed: seed given to every call of the method (stochastic methods draw the
            same way in every shard).
        safe_mode: load ``.keras`` files in Keras safe mode.
        **method_kwargs: the method's options (e.g. ``num_samples``; for TSR its own
            options and the base method's).
    """

    def __init__(
        self,
        model,
        *,
        method: str | None = None,
        baseline=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = 0,
        safe_mode: bool = True,
        **method_kwargs,
    ):
        self.batch_size = check_batch_size(batch_size)
        self.seed = check_seed(seed)
        safe_mode = check_bool(safe_mode, "safe_mode")
        self.model_path = str(model) if isinstance(model, str | os.PathLike) else None
        self.export_info = None
        if is_export_dir(model):
            self._init_export(model, method, baseline, output_indices, method_kwargs)
            return
        self.method = "integrated_gradients" if method is None else method
        check_choice(self.method, "method", METHOD_NAMES)
        spec, tsr_options, constructor, self._call = _split_options(self.method, method_kwargs)
        self._spec = spec
        self.options = dict(method_kwargs)
        if isinstance(output_indices, list | np.ndarray):
            raise ValueError(
                "`output_indices` of a job is one target for every sequence (None, an int, "
                "a (time, class) tuple or 'predicted'), not one per input. Received: "
                f"output_indices of shape {np.shape(output_indices)}."
            )
        self.output_indices = output_indices
        if self.model_path is not None:
            model = load_model(self.model_path, safe_mode=safe_mode)
        self.model = model
        base = spec.cls(model, **constructor)
        self._predictor = base
        self._explainer = (
            TemporalSaliencyRescaling(base, **tsr_options) if self.method == "tsr" else base
        )
        self._identity = "none" if self.method == "tsr" else spec.identity
        if constructor.get("absolute"):
            self._identity = "none"
        shape = model_input_shape(model)
        self.input_shape = (
            tuple(shape) if shape is not None and None not in shape and len(shape) == 2 else None
        )
        self._baseline_input = baseline
        self.baseline = None
        self._baseline_outputs = None
        self.output_shape = None
        if self.input_shape is not None:
            self._prepare(self.input_shape)

    def _init_export(self, path, method, baseline, output_indices, options) -> None:
        info = saved_model_info(path)
        given = {"baseline": baseline, "output_indices": output_indices}
        given.update(options)
        if self.batch_size is not None:
            given["batch_size"] = self.batch_size
        fixed = sorted(k for k, v in given.items() if v is not None)
        if method not in (None, info["method"]) or fixed:
            name = fixed[0] if fixed else "method"
            value = given[name] if fixed else method
            raise ValueError(
                f"{path} is an export: its explain signature fixes the method "
                f"({info['method']}), baseline, output index and rows per call. Load it with "
                "tf_tsexplain.serving.load_model to explain its predictions another way. "
                f"Received: {name}={value!r}."
            )
        self.export_info = info
        self.method = info["method"]
        self.options = {"num_samples": info["num_samples"]}
        self.output_indices = info["output_indices"]
        self.baseline = None
        self.input_shape = tuple(info["input_shape"])
        self.output_shape = tuple(info["output_shape"])
        self._loaded = tf.saved_model.load(str(path))
        self._signature = self._loaded.signatures["explain"]

    def _prepare(self, shape: tuple[int, int]) -> None:
        """Check the baseline and target against the model, once (before any job work)."""
        self.input_shape = tuple(shape)
        spec = self._spec
        self.baseline = _check_baseline(spec.baseline, self._baseline_input, self.input_shape)
        probe = np.zeros((1, *self.input_shape), np.float32)
        self.output_shape = self._predictor.predict(probe).shape[1:]
        # checks the target once; "predicted" is resolved per shard
        self._resolve(np.zeros((1, *self.output_shape), np.float32))
        if self.baseline is not None and self._identity != "none":
            rows = self.baseline if self.baseline.ndim == 3 else self.baseline[None]
            outputs = self._predictor.predict(rows, batch_size=self.batch_size)
            self._baseline_outputs = outputs.reshape(len(rows), -1).mean(axis=0)

    def check_input_shape(self, shape) -> None:
        """Raise ValueError if sequences of ``shape`` (T, F) do not fit the model."""
        shape = tuple(int(d) for d in shape)
        if self.input_shape is None:
            self._prepare(shape)
            return
        if shape != self.input_shape:
            t, f = self.input_shape
            raise ValueError(
                f"The source holds sequences of shape {shape} (time steps, features); the "
                f"model expects ({t}, {f})."
            )

    def _resolve(self, predictions: np.ndarray) -> np.ndarray:
        n = len(predictions)
        targets, leading = resolve_output_indices(
            self.output_indices, self.output_shape, n, predict=lambda: predictions
        )
        if leading:
            raise ValueError(
                f"The model has {int(np.prod(self.output_shape))} outputs per sequence "
                f"(output shape (N, {', '.join(map(str, self.output_shape))})) and a job "
                "writes one attribution per cell: choose the output with `output_indices` "
                f"(an int, a (time, class) tuple or 'predicted'). Received: "
                f"output_indices={self.output_indices!r}."
            )
        return targets[0].astype(np.int32)

    def settings(self) -> dict:
        """The settings that define the job's numbers, as JSON values."""
        return {
            "method": self.method,
            "options": _jsonable(self.options),
            "baseline": _jsonable(self.baseline),
            "output_indices": _jsonable(self.output_indices),
            "seed": self.seed,
            "input_shape": list(self.input_shape) if self.input_shape else None,
        }

    def explain(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Attributions ``(n, T, F)`` and the per-instance values of ``x`` ``(n, T, F)``.

        Returns:
            ``{"attributions", "explained_index", "explained_prediction",
            "baseline_prediction", "approximation_error"}`` as numpy arrays.
        """
        if self.export_info is not None:
            out = self._signature(inputs=tf.constant(x, tf.float32))
            return {k: out[k].numpy() for k in ("attributions", *INSTANCE_COLUMNS)}
        n = len(x)
        predictions = self._predictor.predict(x, batch_size=self.batch_size)
        flat = predictions.reshape(n, -1)
        target = self._resolve(predictions)
        index = None  # the only output of a single-output model
        if flat.shape[1] > 1:  # one index (tuple) per input, as the explainers take them
            index = np.stack(np.unravel_index(target, self.output_shape), axis=-1)
            index = index[:, 0] if index.shape[1] == 1 else index
        kwargs = {**self._spec.fixed, **self._call}
        if self._spec.takes_baseline and self.baseline is not None:
            kwargs["baseline"] = (
                self.baseline[None] if self._spec.baseline == "one" else self.baseline
            )
        attributions = self._explainer.attributions(
            x, output_indices=index, batch_size=self.batch_size, seed=self.seed, **kwargs
        ).astype(np.float32)
        explained = flat[np.arange(n), target].astype(np.float32)
        if self._identity == "none":
            base = error = np.full(n, np.nan, np.float32)
        else:
            base = self._baseline_outputs[target].astype(np.float32)
            weights = x - self.baseline if self._identity == "taylor" else 1.0
            total = (attributions * weights).reshape(n, -1).sum(axis=1)
            error = np.abs(total - (explained - base)).astype(np.float32)
        return {
            "attributions": attributions,
            "explained_index": target,
            "explained_prediction": explained,
            "baseline_prediction": base,
            "approximation_error": error,
        }


def _jsonable(value):
    """Settings as JSON values; arrays become their shape and a digest."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    array = np.ascontiguousarray(value)
    return {
        "shape": list(array.shape),
        "dtype": array.dtype.name,
        "blake2b": hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest(),
    }


def model_fingerprint(model) -> dict:
    """What identifies the model of a job: a digest of the file(s) or of the weights."""
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(model, str | os.PathLike):
        p = Path(model)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            digest.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
            with open(q, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
        return {"path": str(p.resolve()), "blake2b": digest.hexdigest()}
    weights = getattr(model, "weights", None)
    if weights is not None:
        config = getattr(model, "get_config", dict)()
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        for w in weights:
            digest.update(np.asarray(w).tobytes())
        return {"object": type(model).__name__, "blake2b": digest.hexdigest()}
    return {"object": type(model).__name__, "id": f"{type(model).__module__}.{type(model)}"}


# ---------------------------------------------------------------------------- sources
@dataclass
class Block:
    """A run of consecutive sequences of a source: ids ``(n,)`` and named arrays.

    ``inputs`` maps input names to arrays ``(n, T, F)`` (one name, ``"inputs"``, for
    single-input models); ``mask`` is reserved for a boolean ``(n, T)`` mask of real
    steps of padded sequences.
    """

    index: int
    ids: np.ndarray
    inputs: dict[str, np.ndarray]
    mask: np.ndarray | None = None

    @property
    def x(self) -> np.ndarray:
        return self.inputs[INPUT_NAME]


class Source:
    """A stream of sequences read in blocks of ``shard_size``.

    Attributes:
        kind: ``"array"``, ``"npy"``, ``"parquet"``, ``"tfrecord"`` or ``"tf.data"``.
        shape: ``(T, F)``.
        feature_names: F names (``f0, f1, ...`` when the source has none).
        id_type: ``pa.int64()`` or ``pa.string()`` (the ``sample`` column's type).
        count: number of sequences, or None when unknown before reading.
    """

    kind = ""
    id_type = pa.int64()
    count: int | None = None
    shape: tuple[int, int]
    feature_names: list[str]

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        raise NotImplementedError

    def blocks(self, shard_size: int, skip=frozenset()) -> Iterator[Block]:
        """Blocks ``0, 1, ...`` of ``shard_size`` sequences (the last may be shorter);
        blocks whose index is in ``skip`` are passed over without being read where the
        source allows it (arrays, ``.npy``), and yielded as None."""
        raise NotImplementedError


class ArraySource(Source):
    """An in-memory array ``(N, T, F)``."""

    kind = "array"

    def __init__(self, array, feature_names=None):
        x = as_float_array(array, "source", min_rank=3, dtype=None)
        if x.ndim != 3:
            raise ValueError(f"`source` must be sequences (N, T, F). Received: shape {x.shape}.")
        self._x = x
        self.count = len(x)
        self.shape = tuple(x.shape[1:])
        self.feature_names = feature_names_for(None, feature_names, self.shape[1])

    def describe(self) -> dict:
        return {"kind": self.kind, "data": _jsonable(self._x)}

    def blocks(self, shard_size, skip=frozenset()):
        for k, start in enumerate(range(0, self.count, shard_size)):
            if k in skip:
                yield None
                continue
            stop = min(start + shard_size, self.count)
            x = np.asarray(self._x[start:stop], np.float32)
            yield Block(k, np.arange(start, stop, dtype=np.int64), {INPUT_NAME: x})


def feature_names_for(names, given, f: int) -> list[str]:
    """The F feature names of a source, in order: ``given`` (the same names as the
    source's own ``names`` when it has some, in any order), else ``names``, else
    ``f0, f1, ...``."""
    if given is None:
        return [f"f{i}" for i in range(f)] if names is None else list(names)
    given = [str(g) for g in given]
    if len(given) != f:
        raise ValueError(
            f"`feature_names` has {len(given)} entries for {f} features in the source. "
            f"Received: feature_names={given!r}."
        )
    if names is not None and sorted(map(str, names)) != sorted(given):
        raise ValueError(
            f"`feature_names` {given} do not match the source's features {list(names)}."
        )
    return given  # a named source's features are taken in this order


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


def npy_header(fh, name: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of an open ``.npy`` file."""
    version = np.lib.format.read_magic(fh)
    read = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }.get(version)
    if read is None:  # version 3.0 (utf8 field names) is read like 2.0
        read = np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    if fortran:
        raise ValueError(f"{name} is stored in Fortran order; save it in C order.")
    return tuple(shape), np.dtype(dtype), fh.tell()


def _expand_paths(source, suffixes: tuple[str, ...]) -> list[str] | None:
    """Files of ``source`` (a path, a glob or a list of paths) with one of ``suffixes``,
    or None when ``source`` is not such a thing."""
    if isinstance(source, str | os.PathLike):
        text = str(source)
        paths = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
    elif (
        isinstance(source, list | tuple)
        and source
        and all(isinstance(p, str | os.PathLike) for p in source)
    ):
        paths = [str(p) for p in source]
    else:
        return None
    if not paths or not all(p.endswith(suffixes) for p in paths):
        return None
    return paths


class NpySource(Source):
    """``.npy`` files ``(N_i, T, F)``, memory-mapped and read one block at a time.

    The pages of a block are released after reading, so the resident memory of the
    mapping stays about one block, whatever N.
    """

    kind = "npy"

    def __init__(self, paths: list[str], feature_names=None):
        self.paths = [str(Path(p).resolve()) for p in paths]
        self._files = []
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
            with open(p, "rb") as fh:
                try:
                    shape, dtype, offset = npy_header(fh, p)
                except ValueError as err:
                    raise ValueError(f"cannot read {p} as a .npy file: {err}") from None
            if len(shape) != 3:
                raise ValueError(
                    f"{p} holds an array of shape {shape}; sequences (N, T, F) needed."
                )
            if not np.issubdtype(dtype, np.floating):
                raise TypeError(f"{p} holds {dtype} values; float sequences needed.")
            self._files.append((p, shape, dtype, offset))
        shapes = {f[1][1:] for f in self._files}
        if len(shapes) > 1:
            raise ValueError(
                f"The .npy files hold sequences of different shapes: {sorted(shapes)}."
            )
        self.shape = tuple(self._files[0][1][1:])
        self.count = sum(f[1][0] for f in self._files)
        self.feature_names = feature_names_for(None, feature_names, self.shape[1])

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": p, "shape": list(s), "dtype": d.name} for p, s, d, _ in self._files],
        }

    def blocks(self, shard_size, skip=frozenset()):
        ranges = []  # (file index, start row, stop row) pieces of each block
        first = 0
        for i, (_, shape, _, _) in enumerate(self._files):
            ranges.append((i, first, first + shape[0]))
            first += shape[0]
        maps = {}
        try:
            for k, start in enumerate(range(0, self.count, shard_size)):
                stop = min(start + shard_size, self.count)
                if k in skip:
                    yield None
                    continue
                parts = []
                for i, lo, hi in ranges:
                    a, b = max(start, lo), min(stop, hi)
                    if a < b:
                        parts.append(self._read(maps, i, a - lo, b - lo))
                x = parts[0] if len(parts) == 1 else np.concatenate(parts)
                yield Block(k, np.arange(start, stop, dtype=np.int64), {INPUT_NAME: x})
        finally:
            for fh, mm in maps.values():
                mm.close()
                fh.close()

    def _read(self, maps, i, a, b) -> np.ndarray:
        path, shape, dtype, offset = self._files[i]
        if i not in maps:
            fh = open(path, "rb")
            maps[i] = (fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        mm = maps[i][1]
        row = int(np.prod(shape[1:])) * dtype.itemsize
        start, length = offset + a * row, (b - a) * row
        view = np.frombuffer(mm, dtype=dtype, count=(b - a) * row // dtype.itemsize, offset=start)
        x = view.reshape((b - a, *shape[1:])).astype(np.float32)  # a copy
        del view
        page = start - start % mmap.PAGESIZE
        if hasattr(mm, "madvise"):  # drop the block's pages from this process
            mm.madvise(mmap.MADV_DONTNEED, page, start + length - page)
        return x


def parquet_layout(schema: pa.Schema, path) -> str:
    """``"tidy"`` or ``"wide"`` for a Parquet schema; ValueError naming missing columns."""
    names = set(schema.names)
    if names & {"time", "feature", "value"}:
        missing = [c for c in _TIDY_COLUMNS if c not in names]
        if missing:
            raise ValueError(
                f"The Parquet source {path} is missing the column(s) {', '.join(missing)}: a "
                "tidy table has the columns sample, time, feature, value (one row per "
                f"cell). Its columns: {', '.join(schema.names)}."
            )
        return "tidy"
    lists = [f.name for f in schema if f.name != "sample" and _is_list(f.type)]
    others = [f.name for f in schema if f.name != "sample" and not _is_list(f.type)]
    if not lists or others:
        raise ValueError(
            f"The Parquet source {path} is neither tidy (columns sample, time, feature, "
            "value) nor wide (one row per sequence: a list column of T values per feature, "
            "and optionally sample). Its columns: "
            + ", ".join(f"{f.name} ({f.type})" for f in schema)
            + "."
        )
    return "wide"


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def id_type_of(t: pa.DataType) -> pa.DataType:
    """The ``sample`` column's type for ids of type ``t``: int64 or string."""
    return pa.int64() if pa.types.is_integer(t) else pa.string()


def _ids(column, id_type) -> np.ndarray:
    if pa.types.is_integer(id_type):
        return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)
    return np.asarray(column.cast(pa.string()).to_numpy(zero_copy_only=False), object)


def wide_to_sequences(table: pa.Table, feature_names: list[str], steps: int, id_type):
    """``(ids, x (n, T, F) float32)`` from a wide table (one list column per feature).

    Raises:
        ValueError: a missing feature column, or a list whose length is not ``steps``.
    """
    n = table.num_rows
    cols = []
    for name in feature_names:
        if name not in table.column_names:
            raise ValueError(
                f"The Parquet source has no column {name!r} (feature names: {feature_names})."
            )
        column = table.column(name).combine_chunks()
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        if n and (lengths.min() != steps or lengths.max() != steps):
            bad = int(np.flatnonzero(lengths != steps)[0])
            raise ValueError(
                f"Column {name!r} holds a list of {int(lengths[bad])} values in row {bad}; "
                f"every sequence needs {steps} time steps."
            )
        values = column.flatten().to_numpy(zero_copy_only=False)
        cols.append(np.asarray(values, np.float32).reshape(n, steps))
    x = np.stack(cols, axis=-1) if cols else np.zeros((n, steps, 0), np.float32)
    ids = _ids(table.column("sample"), id_type) if "sample" in table.column_names else None
    return ids, x


def tidy_columns(table, id_type) -> dict[str, np.ndarray]:
    """The tidy columns of a table or record batch as numpy arrays."""
    return {
        "sample": _ids(table.column("sample"), id_type),
        "time": np.asarray(table.column("time").to_numpy(zero_copy_only=False)),
        "feature": np.asarray(table.column("feature").to_numpy(zero_copy_only=False)),
        "value": np.asarray(table.column("value").to_numpy(zero_copy_only=False), np.float32),
    }


def tidy_first_sample(table, id_type, path) -> tuple[np.ndarray, list[str]]:
    """``(sorted time values, feature names in order of appearance)`` of the first
    sample of a tidy table that holds all of that sample's rows."""
    if table.num_rows == 0:
        raise ValueError(f"The Parquet source {path} holds no rows.")
    cols = tidy_columns(table, id_type)
    keep = cols["sample"] == cols["sample"][0]
    times = np.unique(cols["time"][keep])
    names = list(dict.fromkeys(str(v) for v in cols["feature"][keep]))
    return times, names


def tidy_to_sequences(
    sample, time_values, feature, value, times: np.ndarray, feature_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, x (n, T, F))`` from the tidy rows of whole samples (each sample's rows
    together, in any order within the sample).

    Args:
        sample, time_values, feature, value: the columns as numpy arrays.
        times: the sorted time values every sample has (T of them).
        feature_names: F names; ``feature`` values must be among them.

    Raises:
        ValueError: a sample without exactly one value per (time, feature), an
            unknown feature name or time value.
    """
    t, f = len(times), len(feature_names)
    change = np.flatnonzero(sample[1:] != sample[:-1]) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [len(sample)]]))
    ids = sample[starts]
    position = np.repeat(np.arange(len(starts)), counts)
    step = np.searchsorted(times, time_values)
    step = np.clip(step, 0, t - 1)
    bad_time = times[step] != time_values
    codes = _codes(feature, feature_names)
    bad = bad_time | (codes < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = (
            f"time {time_values[i]!r} (times of the first sample: {times.tolist()[:8]}...)"
            if bad_time[i]
            else f"feature {feature[i]!r} (features: {feature_names})"
        )
        raise ValueError(f"Sample {sample[i]!r} of the tidy Parquet source has an unknown {what}.")
    cell = (position * t + step) * f + codes
    filled = np.bincount(cell, minlength=len(starts) * t * f)
    if len(filled) != len(starts) * t * f or np.any(filled != 1):
        j = int(np.flatnonzero(filled != 1)[0]) // (t * f) if np.any(filled != 1) else 0
        raise ValueError(
            f"Sample {ids[j]!r} of the tidy Parquet source has {int(counts[j])} rows; it needs "
            f"one value per (time, feature), {t} x {f} = {t * f} rows, its rows together "
            "(sort the table by sample)."
        )
    x = np.empty(len(starts) * t * f, np.float32)
    x[cell] = value
    return ids, x.reshape(len(starts), t, f)


def _codes(feature, names) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    uniques, inverse = np.unique(np.asarray(feature, object).astype(str), return_inverse=True)
    mapped = np.array([lookup.get(u, -1) for u in uniques], np.int64)
    return mapped[inverse]


class ParquetSource(Source):
    """A Parquet file or directory of sequences, tidy or wide, read in record batches."""

    kind = "parquet"

    def __init__(self, path, feature_names=None, steps: int | None = None):
        self.path = str(Path(path).resolve())
        try:
            self._dataset = ds.dataset(self.path, format="parquet")
        except (OSError, pa.ArrowInvalid) as err:
            raise ValueError(f"cannot read the Parquet source {path}: {err}") from None
        schema = self._dataset.schema
        self.layout = parquet_layout(schema, path)
        if "sample" in schema.names:
            self.id_type = id_type_of(schema.field("sample").type)
        self.rows = self._dataset.count_rows()
        if self.layout == "wide":
            names = [f.name for f in schema if f.name != "sample"]
            self.feature_names = (
                names if feature_names is None else check_names_subset(names, feature_names)
            )
            first = next(iter(self._dataset.to_batches(batch_size=1)), None)
            steps = len(first.column(self.feature_names[0])[0]) if first is not None else steps
            self.shape = (int(steps or 0), len(self.feature_names))
            self.count = self.rows
        else:
            times, names = self._first_sample()
            self._times = times
            self.shape = (len(times), len(names))
            self.feature_names = feature_names_for(names, feature_names, self.shape[1])
            self.count = self.rows // (self.shape[0] * self.shape[1]) if self.shape[1] else 0

    def _first_sample(self):
        frames = []
        first = None
        for part in self._dataset.to_batches(columns=list(_TIDY_COLUMNS)):
            sample = _ids(part.column("sample"), self.id_type)
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
            "rows": self.rows,
            "files": sorted(Path(f).name for f in self._dataset.files),
        }

    def blocks(self, shard_size, skip=frozenset()):
        if self.layout == "wide":
            yield from self._wide_blocks(shard_size, skip)
        else:
            yield from self._tidy_blocks(shard_size, skip)

    def _wide_blocks(self, shard_size, skip):
        columns = self.feature_names + (
            ["sample"] if "sample" in self._dataset.schema.names else []
        )
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
        ids, x = wide_to_sequences(table, self.feature_names, self.shape[0], self.id_type)
        if ids is None:
            ids = np.arange(first, first + table.num_rows, dtype=np.int64)
        return Block(k, ids, {INPUT_NAME: x})

    def _tidy_blocks(self, shard_size, skip):
        k = 0
        carry = None  # rows of samples not yet complete or not yet in a block
        for batch in self._dataset.to_batches(columns=list(_TIDY_COLUMNS)):
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
            self._times,
            self.feature_names,
        )
        return Block(k, ids, {INPUT_NAME: x})


def parse_sequence_example(record: bytes, shape: tuple[int, int]):
    """``(sample id, sequence (T, F) float32)`` from a serialized ``tf.train.Example``
    with features ``sample`` (int64 or bytes) and ``sequence`` (``T * F`` floats,
    row-major), as :func:`write_tfrecord` writes them."""
    example = tf.train.Example.FromString(record)
    feats = example.features.feature
    if "sequence" not in feats or "sample" not in feats:
        raise ValueError(
            "A TFRecord of sequences holds tf.train.Example records with the features "
            f"'sample' and 'sequence'; found: {', '.join(sorted(feats)) or '(none)'}."
        )
    values = np.asarray(feats["sequence"].float_list.value, np.float32)
    ids = feats["sample"]
    sample = (
        int(ids.int64_list.value[0]) if ids.int64_list.value else ids.bytes_list.value[0].decode()
    )
    if values.size != shape[0] * shape[1]:
        raise ValueError(
            f"Sample {sample!r} of the TFRecord source holds {values.size} values; the model "
            f"takes sequences of {shape[0]} x {shape[1]} = {shape[0] * shape[1]}."
        )
    return sample, values.reshape(shape)


def write_tfrecord(path, x, ids=None) -> str:
    """Write sequences ``(N, T, F)`` as a TFRecord of ``tf.train.Example`` records
    (features ``sample`` and ``sequence``), the TFRecord layout jobs read."""
    x = as_float_array(x, "x", min_rank=3, dtype=np.float32)
    ids = np.arange(len(x)) if ids is None else np.asarray(ids)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, seq in zip(ids, x, strict=True):
            sample = (
                tf.train.Feature(int64_list=tf.train.Int64List(value=[int(i)]))
                if np.issubdtype(np.asarray(i).dtype, np.integer)
                else tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(i).encode()]))
            )
            feature = {
                "sample": sample,
                "sequence": tf.train.Feature(float_list=tf.train.FloatList(value=seq.ravel())),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return str(path)


class _RecordSource(Source):
    """Shared by the sources read record by record (TFRecord, tf.data)."""

    def _records(self) -> Iterator[tuple[object, np.ndarray]]:
        raise NotImplementedError

    def blocks(self, shard_size, skip=frozenset()):
        ids, seqs, k = [], [], 0
        for sample, seq in self._records():
            ids.append(sample)
            seqs.append(seq)
            if len(ids) == shard_size:
                yield self._block(k, ids, seqs, k in skip)
                ids, seqs, k = [], [], k + 1
        if ids:
            yield self._block(k, ids, seqs, k in skip)

    def _block(self, k, ids, seqs, skipped):
        if skipped:
            return None
        dtype = np.int64 if pa.types.is_integer(self.id_type) else object
        x = np.stack(seqs).astype(np.float32)
        if x.shape[1:] != self.shape:
            raise ValueError(
                f"The source holds a sequence of shape {x.shape[1:]}; {self.shape} expected."
            )
        return Block(k, np.asarray(ids, dtype), {INPUT_NAME: x})


class TFRecordSource(_RecordSource):
    """TFRecord files of ``tf.train.Example`` records (see :func:`write_tfrecord`)."""

    kind = "tfrecord"

    def __init__(self, paths, shape, feature_names=None):
        if shape is None:
            raise ValueError("A TFRecord source needs a model whose input shape (T, F) is known.")
        self.paths = [str(Path(p).resolve()) for p in paths]
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
        self.shape = tuple(shape)
        self.feature_names = feature_names_for(None, feature_names, self.shape[1])
        first = next(iter(tf.data.TFRecordDataset(self.paths[:1]).take(1)), None)
        if first is None:
            raise ValueError(f"The TFRecord source {self.paths[0]} holds no record.")
        sample, _ = parse_sequence_example(first.numpy(), self.shape)
        self.id_type = pa.int64() if isinstance(sample, int) else pa.string()

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": p, "bytes": os.path.getsize(p)} for p in self.paths],
        }

    def _records(self):
        for record in tf.data.TFRecordDataset(self.paths).as_numpy_iterator():
            yield parse_sequence_example(record, self.shape)


class DatasetSource(_RecordSource):
    """A ``tf.data.Dataset`` of sequences ``(T, F)``, batches ``(B, T, F)`` or ``(id,
    sequence)`` pairs."""

    kind = "tf.data"

    def __init__(self, dataset, feature_names=None):
        spec = dataset.element_spec
        self._with_ids = isinstance(spec, tuple) and len(spec) == 2
        seq_spec = spec[1] if self._with_ids else spec
        if not isinstance(seq_spec, tf.TensorSpec) or (isinstance(spec, tuple) and len(spec) != 2):
            raise ValueError(
                "A tf.data source yields sequences (T, F), batches (B, T, F) or (id, "
                f"sequence) pairs. Received: element_spec={spec}."
            )
        rank = seq_spec.shape.rank
        if rank not in (2, 3) or None in seq_spec.shape[-2:]:
            raise ValueError(
                "The tf.data source's sequences must have a known shape (T, F) (or batches "
                f"(B, T, F)). Received: element_spec={spec}."
            )
        if not seq_spec.dtype.is_floating:
            raise TypeError(
                f"The tf.data source yields {seq_spec.dtype.name}; float sequences needed."
            )
        self._batched = rank == 3
        self._dataset = dataset
        self._spec = str(spec)
        self.shape = tuple(int(d) for d in seq_spec.shape[-2:])
        self.feature_names = feature_names_for(None, feature_names, self.shape[1])
        if self._with_ids:
            self.id_type = pa.int64() if spec[0].dtype.is_integer else pa.string()

    def describe(self) -> dict:
        return {"kind": self.kind, "element_spec": self._spec}

    def _records(self):
        data = self._dataset.unbatch() if self._batched else self._dataset
        for i, item in enumerate(data.as_numpy_iterator()):
            if self._with_ids:
                sample, seq = item
                yield (sample.decode() if isinstance(sample, bytes) else sample), seq
            else:
                yield i, item


def open_source(source, *, feature_names=None, shape=None) -> Source:
    """The :class:`Source` for ``source`` (see the module docstring).

    Args:
        source: an array ``(N, T, F)``; a ``.npy`` path, glob or list of paths; a
            Parquet file (``.parquet``) or directory; a ``.tfrecord`` path, glob or
            list; or a ``tf.data.Dataset``.
        feature_names: F names: checked against a Parquet source's names, else used
            as the names of the features (default ``f0, f1, ...``).
        shape: the model's ``(T, F)``, needed to read TFRecord sequences.

    Raises:
        TypeError: ``source`` is none of these.
        ValueError: a path that does not exist or a file that cannot be read.
    """
    npy = _expand_paths(source, (".npy",))
    if npy is not None:
        return NpySource(npy, feature_names)
    records = _expand_paths(source, (".tfrecord", ".tfrecords"))
    if records is not None:
        return TFRecordSource(records, shape, feature_names)
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if p.suffix == ".parquet" or p.is_dir():
            if not p.exists():
                raise ValueError(f"`source` {str(p)!r} does not exist.")
            return ParquetSource(p, feature_names, steps=shape[0] if shape else None)
        raise ValueError(
            f"`source` {str(source)!r} is not a .npy, .parquet or .tfrecord file, nor a "
            "directory of Parquet files."
        )
    if type(source).__module__.startswith("tensorflow") and hasattr(source, "element_spec"):
        return DatasetSource(source, feature_names)
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return ArraySource(source, feature_names)
    raise TypeError(
        "`source` must be an array (N, T, F), a .npy / .parquet / .tfrecord path (or a list "
        "or glob of them), a Parquet directory or a tf.data.Dataset. Received: "
        f"{type(source).__name__}."
    )


# ---------------------------------------------------------------------------- output
def attribution_schema(id_type: pa.DataType | None = None) -> pa.Schema:
    """Schema of the ``attributions`` tables (``sample`` int64 unless ``id_type``)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [
            ("sample", id_type),
            ("time", pa.int32()),
            ("feature", pa.dictionary(pa.int32(), pa.string())),
            ("attribution", pa.float32()),
            ("value", pa.float32()),
        ]
    )


def instance_schema(id_type: pa.DataType | None = None) -> pa.Schema:
    """Schema of the ``instances`` tables (``sample`` int64 unless ``id_type``)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [
            ("sample", id_type),
            ("explained_index", pa.int32()),
            ("explained_prediction", pa.float32()),
            ("baseline_prediction", pa.float32()),
            ("approximation_error", pa.float32()),
        ]
    )


def shard_tables(ids, x, result: Mapping, feature_names, id_type=None):
    """``(attributions table, instances table)`` of one shard.

    Args:
        ids: ``(n,)`` sample ids.
        x: the inputs ``(n, T, F)``.
        result: :meth:`JobExplainer.explain`'s output for ``x``.
        feature_names: F names.
        id_type: the ``sample`` column's type (default int64).
    """
    id_type = pa.int64() if id_type is None else id_type
    n, t, f = x.shape
    id_array = pa.array(ids, type=id_type)
    cells = t * f
    take = pa.array(np.repeat(np.arange(n, dtype=np.int64), cells))
    codes = np.tile(np.arange(f, dtype=np.int32), n * t)
    attributions = pa.table(
        {
            "sample": id_array.take(take),
            "time": pa.array(np.tile(np.repeat(np.arange(t, dtype=np.int32), f), n)),
            "feature": pa.DictionaryArray.from_arrays(
                pa.array(codes), pa.array(list(feature_names), pa.string())
            ),
            "attribution": pa.array(np.asarray(result["attributions"], np.float32).ravel()),
            "value": pa.array(np.asarray(x, np.float32).ravel()),
        },
        schema=attribution_schema(id_type),
    )
    instances = pa.table(
        {
            "sample": id_array,
            "explained_index": pa.array(np.asarray(result["explained_index"], np.int32)),
            **{
                k: pa.array(np.asarray(result[k], np.float32))
                for k in ("explained_prediction", "baseline_prediction", "approximation_error")
            },
        },
        schema=instance_schema(id_type),
    )
    return attributions, instances


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.parquet"


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write under a hidden name in the same directory, flush to disk, rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def result_files(out_dir) -> tuple[list[Path], list[Path]]:
    """``(attribution files, instance files)`` of the complete shards of ``out_dir``,
    in name order (local shards ``shard-*``, Beam's ``part-*``)."""
    out = Path(out_dir)
    inst = {p.name: p for p in sorted((out / INSTANCES_DIR).glob("*.parquet"))}
    attr = {p.name: p for p in sorted((out / ATTRIBUTIONS_DIR).glob("*.parquet"))}
    if inst and any(name.startswith("part-") for name in inst):  # Beam: files are whole
        return list(attr.values()), list(inst.values())
    names = sorted(set(inst) & set(attr))
    return [attr[n] for n in names], [inst[n] for n in names]


def read_attributions(out_dir, columns=None) -> pa.Table:
    """The ``attributions`` table of a job's complete shards (all loaded: for checks
    and moderate sizes; read the files one by one otherwise)."""
    files, _ = result_files(out_dir)
    if not files:
        return attribution_schema().empty_table()
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in files])


def read_instances(out_dir) -> pa.Table:
    """The ``instances`` table of a job's complete shards."""
    _, files = result_files(out_dir)
    if not files:
        return instance_schema().empty_table()
    return pa.concat_tables([pq.read_table(p) for p in files])


def _feature_codes(feature: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes into one list of names for a dictionary column whose chunks (files) may
    each carry their own dictionary."""
    names: list[str] = []
    parts = []
    for chunk in feature.chunks:
        lookup = []
        for name in chunk.dictionary.to_pylist():
            if name not in names:
                names.append(name)
            lookup.append(names.index(name))
        parts.append(np.asarray(lookup, np.int64)[chunk.indices.to_numpy(zero_copy_only=False)])
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), names


def load_attributions(out_dir) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(sample ids (N,), attributions (N, T, F), feature names)`` of a job's complete
    shards, sorted by sample; loads everything (for checks and moderate sizes)."""
    table = read_attributions(out_dir)
    if table.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32), []
    codes, names = _feature_codes(table.column("feature"))
    sample = _ids(table.column("sample"), table.schema.field("sample").type)
    steps = table.column("time").to_numpy()
    order = np.lexsort((codes, steps, sample))
    t, f = int(steps.max()) + 1, len(names)
    values = table.column("attribution").to_numpy()[order]
    ids = sample[order][:: t * f]
    return ids, values.reshape(len(ids), t, f), names


# ---------------------------------------------------------------------------- jobs
def job_settings(explainer: JobExplainer, source: Source, shard_size: int, runner: str) -> dict:
    """The settings stored in ``_job.json``; a job resumes only with equal settings."""
    model = explainer.model_path if explainer.model_path is not None else explainer.model
    settings = {
        "format": _FORMAT,
        "runner": runner,
        "model": model_fingerprint(model),
        **explainer.settings(),
        "shard_size": shard_size,
        "source": source.describe(),
        "feature_names": list(source.feature_names),
        "sample_type": str(source.id_type),
    }
    return json.loads(json.dumps(settings))  # as they read back from the file


def prepare_out_dir(out_dir, settings: dict, *, resume: bool) -> bool:
    """Create ``out_dir`` for a job, or check that it holds the same job.

    Returns:
        True if ``out_dir`` already held this job (to be resumed).

    Raises:
        ValueError: ``out_dir`` is a file; it is not empty and holds no job file; it
            holds a job with other settings (the differing keys are named); or it
            holds this job and ``resume`` is False.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {str(out)!r} is a file; a job writes a directory.")
    if out.is_dir() and any(out.iterdir()):
        job = out / JOB_FILE
        if not job.is_file():
            raise ValueError(
                f"`out_dir` {str(out)!r} is not empty and holds no {JOB_FILE}: it is not the "
                "output of a tf_tsexplain job. Choose a new or empty directory."
            )
        stored = json.loads(job.read_text()).get("settings", {})
        differ = [
            k for k in sorted(set(stored) | set(settings)) if stored.get(k) != settings.get(k)
        ]
        if differ:
            raise ValueError(
                f"`out_dir` {str(out)!r} holds another job: its settings differ in "
                f"{', '.join(differ)} (stored: {stored.get(differ[0])!r}; this call: "
                f"{settings.get(differ[0])!r}). Choose a new out_dir."
            )
        if not resume:
            raise ValueError(
                f"`out_dir` {str(out)!r} already holds this job; pass resume=True to finish it "
                "(complete shards are kept) or choose a new out_dir. Received: resume=False."
            )
        return True
    for sub in (ATTRIBUTIONS_DIR, INSTANCES_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    import tf_tsexplain

    record = {"settings": settings, "version": tf_tsexplain.__version__, "created": time.time()}
    tmp = out / f".{JOB_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / JOB_FILE)
    return False


def _complete_shards(out: Path) -> set[int]:
    """Indices of the complete local shards; removes what an interrupted run left (hidden
    temporary files, an attributions file whose instances file is missing)."""
    for sub in (ATTRIBUTIONS_DIR, INSTANCES_DIR):
        for tmp in (out / sub).glob(".shard-*.tmp"):
            tmp.unlink()
    inst = {p.name for p in (out / INSTANCES_DIR).glob("shard-*.parquet")}
    for p in (out / ATTRIBUTIONS_DIR).glob("shard-*.parquet"):
        if p.name not in inst:
            p.unlink()
    return {int(name[len("shard-") : -len(".parquet")]) for name in inst}


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
        source: sequences ``(T, F)``: see :func:`open_source`.
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
            against the source's names).
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
        **method_kwargs,
    )
    src = open_source(source, feature_names=feature_names, shape=explainer.input_shape)
    explainer.check_input_shape(src.shape)
    settings = job_settings(explainer, src, shard_size, runner="local")
    out = Path(out_dir)
    prepare_out_dir(out, settings, resume=resume)
    done = _complete_shards(out)
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
            result = explainer.explain(block.x)
        except ValueError as err:  # e.g. NaN in a sequence: say where
            first, last = block.ids[[0, -1]].tolist()
            raise ValueError(f"shard {block.index} (samples {first!r} to {last!r}): {err}") from err
        tables = shard_tables(block.ids, block.x, result, src.feature_names, src.id_type)
        name = _shard_name(block.index)
        _write_atomic(tables[0], out / ATTRIBUTIONS_DIR / name)
        _write_atomic(tables[1], out / INSTANCES_DIR / name)  # the shard is complete
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


# ---------------------------------------------------------------------------- command line
def run_explain_batch(args) -> dict:
    """``tf-tsexplain explain-batch``: the parsed command line to a job (local or Beam)."""
    options = {}
    if args.num_samples is not None:
        options["num_samples"] = check_int(args.num_samples, "--num-samples", min_val=1)
    if args.base_method is not None:
        options["base_method"] = args.base_method
    baseline = _cli_baseline(args)
    output_index = _cli_output_index(args.output_index)
    names = args.feature_names.split(",") if args.feature_names else None
    common = {
        "method": args.method,
        "baseline": baseline,
        "output_indices": output_index,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "shard_size": args.shard_size,
        "feature_names": names,
        "safe_mode": not args.unsafe,
        **options,
    }
    if args.runner == "beam":
        from tf_tsexplain.beam import run_pipeline

        summary = run_pipeline(
            args.model, args.source, args.out, pipeline_args=list(args.pipeline_args), **common
        )
    else:
        if args.pipeline_args:
            raise ValueError(
                "Beam pipeline options after '--' need --runner beam. Received: "
                f"{' '.join(args.pipeline_args)}."
            )
        summary = explain_to_parquet(
            args.model, args.source, args.out, resume=not args.no_resume, **common
        )
    print(
        " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
    )
    return summary


def _cli_baseline(args):
    def load(path, flag):
        p = Path(path)
        if p.suffix != ".npy" or not p.is_file():
            raise ValueError(f"{flag} must be an existing .npy file. Received: {flag} {path}.")
        return np.load(p, allow_pickle=False)

    if args.references is not None:
        if args.baseline not in (None, "zeros"):
            raise ValueError("Give --baseline or --references (expected gradients), not both.")
        return load(args.references, "--references")
    if args.baseline in (None, "zeros"):
        return None
    return load(args.baseline, "--baseline")


def _cli_output_index(text):
    if text is None or text == PREDICTED:
        return text
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--output-index must be an int, 'T,C' or 'predicted'. Received: {text!r}."
        ) from None
    return values[0] if len(values) == 1 else values
