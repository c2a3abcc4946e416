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

Several inputs (Keras functional models): sources, baselines and feature names are
matched to the model's inputs by name (:func:`open_source`), blocks and results are
dicts by input name (one name, ``"inputs"``, for single-input models), the
``attributions`` table gains a dictionary-encoded ``input`` column after ``sample``,
and the rows of a static input ``(N, S)`` have a null ``time`` (null, not 0: a 0
would read as the first step of a sequence).

Padding: variable-length sequences are padded to the model's T, and arrays may come
with ``padding_mask``/``lengths``; the explainers get the real steps as their
``padding_mask`` (padded cells keep their values and get zero attribution), padded
cells have no row in ``attributions`` (as ``tables.to_frame(padding_mask=)``), and
``instances`` records the real steps (``length``, or ``length_<input>``).
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

import keras
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import tensorflow as tf

from tf_tsexplain._batching import Progress
from tf_tsexplain._structure import mask_from_lengths, model_input_names
from tf_tsexplain._targets import PREDICTED, resolve_output_indices
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_bool,
    check_choice,
    check_int,
    check_padding_mask,
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
from tf_tsexplain.serving._common import attribution_names, check_baseline
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


def _check_baseline(kind: str, baseline, shape: tuple, label: str = "baseline"):
    """The baseline a method of kind ``kind`` uses for one input of per-sample
    ``shape``, as float32, or None."""
    if kind in ("none", "zeros"):
        if baseline is not None:
            raise ValueError(
                "This method takes no `baseline`"
                + (" (its error is taken around zeros)" if kind == "zeros" else "")
                + f". Received: {label} of shape {np.shape(baseline)}."
            )
        return np.zeros(shape, np.float32) if kind == "zeros" else None
    if kind == "references":
        return check_baseline("expected_gradients", baseline, shape, name=label)
    if baseline is None:
        return np.zeros(shape, np.float32)
    b = as_float_array(baseline, label, min_rank=0, dtype=np.float32)
    if b.shape == (1, *shape):
        b = b[0]
    if b.shape == shape:
        return b
    if kind == "fill":  # a number, or anything that broadcasts to one sequence
        try:
            return np.ascontiguousarray(np.broadcast_to(b, shape))
        except ValueError:
            pass
    dims = ", ".join(map(str, shape))
    raise ValueError(
        f"`{label}` must have shape ({dims}) or (1, {dims})"
        + (" or be a number" if kind == "fill" else "")
        + ": a job explains an unbounded stream, so no baseline per input. Received: "
        f"{label} of shape {b.shape}."
    )


def _per_input(value, names: list[str], label: str) -> dict:
    """A value given per model input (a dict by name or a list in the model's order)
    as a dict; ``None`` stays None for every input."""
    if value is None:
        return dict.fromkeys(names)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"`{label}` names inputs the model does not have: {unknown}; its inputs are "
                f"{names}. Received: {label} with keys {list(value)}."
            )
        return {k: value.get(k) for k in names}
    if isinstance(value, list | tuple) and len(value) == len(names):
        return dict(zip(names, value, strict=True))
    raise TypeError(
        f"`{label}` of a model with the inputs {names} must be a dict by input name (or a "
        f"list in that order). Received: {type(value).__name__}."
    )


# ---------------------------------------------------------------------------- models
def is_export_dir(model) -> bool:
    """Whether ``model`` is a directory written by ``export_explainer``."""
    if not isinstance(model, str | os.PathLike):
        return False
    p = Path(model)
    return (p / "saved_model.pb").is_file() and (p / "assets.extra" / "tf_tsexplain.json").is_file()


def _masking_values(model, names: list[str]) -> dict[str, float]:
    """The ``mask_value`` of each input a Keras ``Masking`` layer is applied to."""
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    found = {}
    for layer in getattr(model, "layers", []) if inputs else []:
        if isinstance(layer, keras.layers.Masking):
            for name, tensor in zip(names, inputs, strict=False):
                if layer.input is tensor:
                    found[name] = float(layer.mask_value)
    return found


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
            Multi-input models: a dict by input name (or a list in the model's
            order) of such baselines, each shaped like its input.
        output_indices: the explained output, one per sequence: None (single-output
            model), an int, a ``(time, class)`` tuple, or ``"predicted"``.
        batch_size: most model rows per call (None: from the memory budget).
        seed: seed given to every call of the method (stochastic methods draw the
            same way in every shard).
        safe_mode: load ``.keras`` files in Keras safe mode.
        padding: ``"post"`` (real steps first) or ``"pre"``: where variable-length
            sequences are padded, and how ``lengths`` are read. None: ``"post"``,
            and only sources of variable length by nature (lists, ``tf.data`` of
            ``(None, F)``) are padded; giving it declares every sequence input
            padded (e.g. Parquet samples with fewer steps).
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
        padding: str | None = None,
        **method_kwargs,
    ):
        self.batch_size = check_batch_size(batch_size)
        self.seed = check_seed(seed)
        safe_mode = check_bool(safe_mode, "safe_mode")
        self._declared = padding is not None
        self.padding = (
            "post" if padding is None else check_choice(padding, "padding", ("pre", "post"))
        )
        self.model_path = str(model) if isinstance(model, str | os.PathLike) else None
        self.export_info = None
        self.names = [INPUT_NAME]
        self.padded: list[str] = []  # inputs whose padded steps are dropped from the output
        self.input_shapes: dict[str, tuple] | None = None
        self._pad_values: dict[str, float] = {}
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
        names = model_input_names(model)
        if names is not None:
            self.names = names
            shapes = [tuple(t.shape[1:]) for t in model.inputs]
        else:
            shape = model_input_shape(model)
            shapes = [None if shape is None else tuple(shape)]
        self.model_shapes = dict(zip(self.names, shapes, strict=True))
        self._pad_values = _masking_values(model, self.names)
        self._baseline_input = baseline
        self.baseline = None
        self._baseline_outputs = None
        self.output_shape = None
        if all(s is not None and None not in s for s in shapes):
            self._prepare(self.model_shapes)

    @property
    def multi(self) -> bool:
        """Whether the model takes several inputs."""
        return self.names != [INPUT_NAME]

    @property
    def input_shape(self) -> tuple | None:
        """A single-input model's ``(T, F)`` (None when not known or multi-input)."""
        if self.multi or self.input_shapes is None:
            return None
        return self.input_shapes[INPUT_NAME]

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
        if info.get("input_names"):  # a model of several inputs, fed by name
            self.names = list(info["input_names"])
            self.model_shapes = {k: tuple(info["input_shapes"][k]) for k in self.names}
        else:
            self.model_shapes = {INPUT_NAME: tuple(info["input_shape"])}
        self.input_shapes = dict(self.model_shapes)
        self.output_shape = tuple(info["output_shape"])
        # the inputs the signature's padding_mask input covers (its settings list them)
        self._export_padded = list(info.get("padding_mask") or [])
        if not self.multi:
            self._export_padded = [INPUT_NAME] if self._export_padded else []
        self._loaded = tf.saved_model.load(str(path))
        self._signature = self._loaded.signatures["explain"]
        taken = sorted(self._signature.structured_input_signature[1])
        expected = sorted(self.names + (["padding_mask"] if self._export_padded else []))
        if taken != expected:
            raise ValueError(
                f"{path}: its explain signature takes the inputs {taken}, but its settings "
                f"({saved_model_info.__name__}) say {expected}; export it again."
            )

    def _explain_export(self, inputs: Mapping, real: Mapping) -> dict:
        """One block through the export's ``explain`` signature (inputs by name)."""
        feed = {k: tf.constant(v, tf.float32) for k, v in inputs.items()}
        if self._export_padded:  # one mask for the padded inputs (they share T)
            n = len(next(iter(inputs.values())))
            first = self._export_padded[0]
            mask = real.get(first, np.ones((n, self.input_shapes[first][0]), bool))
            feed["padding_mask"] = tf.constant(mask)
        out = self._signature(**feed)
        result = {k: out[k].numpy() for k in INSTANCE_COLUMNS}
        names = attribution_names(self.names if self.multi else None)
        result["attributions"] = {
            k: out[name].numpy() for k, name in zip(self.names, names, strict=True)
        }
        return result

    def _pack(self, parts: Mapping):
        """Per-input values as the explainers take them: one array, or a dict."""
        return dict(parts) if self.multi else parts[INPUT_NAME]

    def _prepare(self, shapes: Mapping) -> None:
        """Check the baseline and target against the model, once (before any job work)."""
        self.input_shapes = {name: tuple(shapes[name]) for name in self.names}
        kind = self._spec.baseline
        if self.multi:
            given = _per_input(self._baseline_input, self.names, "baseline")
            self.baseline = {
                name: _check_baseline(
                    kind, given[name], self.input_shapes[name], f"baseline[{name!r}]"
                )
                for name in self.names
            }
            if kind == "none":
                self.baseline = None
            elif kind == "references" and len({len(b) for b in self.baseline.values()}) > 1:
                sizes = {k: len(b) for k, b in self.baseline.items()}
                raise ValueError(f"The reference sets of `baseline` differ in size: {sizes}.")
        else:
            self.baseline = _check_baseline(kind, self._baseline_input, shapes[INPUT_NAME])
        probe = self._pack({n: np.zeros((1, *s), np.float32) for n, s in self.input_shapes.items()})
        self.output_shape = self._predictor.predict(probe).shape[1:]
        # checks the target once; "predicted" is resolved per shard
        self._resolve(np.zeros((1, *self.output_shape), np.float32))
        if self.baseline is not None and self._identity != "none":
            parts = self.baseline if self.multi else {INPUT_NAME: self.baseline}
            rows = {k: b if kind == "references" else b[None] for k, b in parts.items()}
            outputs = self._predictor.predict(self._pack(rows), batch_size=self.batch_size)
            self._baseline_outputs = outputs.reshape(len(outputs), -1).mean(axis=0)

    def check_source(self, source: Source, padded=()) -> None:
        """Raise before any work if the inputs of ``source`` do not fit the model.

        Fixes each input's per-sample shape (the model's, completed by the source's
        where the model leaves a size open) and which inputs are padded: those of
        variable length, those in ``padded`` (given masks), those the model masks
        itself, and with ``padding`` given, every sequence input.
        """
        if source.names != self.names:
            if not self.multi:
                raise ValueError(
                    f"The source yields several inputs {source.names}; the model takes one. "
                    "Give one array of sequences (N, T, F)."
                )
            got = "one array" if source.names == [INPUT_NAME] else f"the inputs {source.names}"
            raise ValueError(
                f"The model takes the inputs {self.names}; the source yields {got}. Give a "
                "dict by input name (or a list in the model's order)."
            )
        padded = {
            n
            for n in self.names
            if n in source.ragged
            or n in padded
            or n in self._pad_values
            or (self._declared and len(source.shapes[n]) == 2)
        }
        if self.export_info is not None and not padded <= set(self._export_padded):
            raise ValueError(
                f"The inputs {sorted(padded - set(self._export_padded))} are padded, but this "
                "export's explain signature takes no padding for them: export it with "
                "export_explainer(..., padding_mask=True), or explain padded sequences with "
                "the model itself (its .keras file or SavedModel)."
            )
        shapes = {}
        for name in self.names:
            got = tuple(source.shapes[name])
            want = self.model_shapes[name] or got
            label = "" if not self.multi else f" of input {name!r}"
            free = 1 if name in padded else 0  # the length of padded sequences may vary
            if len(got) != len(want) or any(
                g is not None and w is not None and g != w
                for g, w in zip(got[free:], want[free:], strict=True)
            ):
                axes = "(time steps, features)" if len(got) == 2 else "(features,)"
                raise ValueError(
                    f"The source holds samples{label} of shape {_shape_text(got)} {axes}; the "
                    f"model expects {_shape_text(want)}."
                )
            if free and None not in (got[0], want[0]) and got[0] > want[0]:
                raise ValueError(
                    f"The source holds a sequence{label} of {got[0]} time steps; the job pads "
                    f"sequences to the model's {want[0]}."
                )
            shape = tuple(w if w is not None else g for g, w in zip(got, want, strict=True))
            if None in shape:
                raise ValueError(
                    f"The sequences{label} have different lengths and the model takes any "
                    "length: give the model a fixed number of time steps (keras.Input((T, "
                    "F))) so that every shard is padded to the same T."
                )
            shapes[name] = shape
        self.configure(shapes, [n for n in self.names if n in padded])

    def configure(self, shapes: Mapping, padded) -> None:
        """Fix the per-sample shape of each input and the padded inputs (what
        :meth:`check_source` found; a Beam worker is given them)."""
        self.padded = [n for n in self.names if n in padded]
        shapes = {n: tuple(shapes[n]) for n in self.names}
        if self.input_shapes != shapes:
            self._prepare(shapes)

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
        shapes = self.input_shapes or {}
        return {
            "method": self.method,
            "options": _jsonable(self.options),
            "baseline": _jsonable(self.baseline),
            "output_indices": _jsonable(self.output_indices),
            "seed": self.seed,
            "input_shape": (
                {n: list(s) for n, s in shapes.items()}
                if self.multi
                else (list(shapes[INPUT_NAME]) if shapes else None)
            ),
            "padding": self.padding,
            "padded_inputs": list(self.padded),
        }

    def prepare(self, block: Block, masks: Mapping | None = None) -> tuple[dict, dict]:
        """``(inputs, real steps)`` of a block: shorter sequences of padded inputs padded
        to the job's T (on the ``padding`` side, with the model's ``Masking`` value or
        0), every input checked, and ``(n, T)`` real-step masks of the padded inputs
        (from the sequences' lengths, the given ``masks``, or the model's
        ``Masking`` layers; all True otherwise)."""
        n = len(block.ids)
        inputs, real = {}, {}
        for name in self.names:
            value = block.inputs[name]
            shape = self.input_shapes[name]
            label = "" if not self.multi else f" of input {name!r}"
            short = isinstance(value, list) or (
                value.ndim == 3 and len(shape) == 2 and value.shape[1] < shape[0]
            )
            if short and name in self.padded:
                value, real[name] = _pad_sequences(
                    value, shape[0], self.padding, self._pad_values.get(name, 0.0), block, label
                )
            elif short or value.shape[1:] != shape:
                got = (
                    "sequences of different lengths"
                    if isinstance(value, list)
                    else (f"a sample of shape {value.shape[1:]}")
                )
                raise ValueError(
                    f"The source holds {got}{label}; {shape} expected"
                    + (": pass padding='post' or 'pre' to pad shorter ones." if short else ".")
                )
            inputs[name] = value
            given = None if masks is None else masks.get(name)
            if given is not None:
                if name in real:
                    raise ValueError(
                        f"The sequences{label} have their own lengths; drop `padding_mask` "
                        "and `lengths`."
                    )
                real[name] = check_padding_mask(given, n, shape[0])
        if self._pad_values:
            own = self._predictor.real_steps([inputs[k] for k in self.names])
            for name, mask in zip(self.names, own, strict=True):
                if mask is not None and name not in real:
                    real[name] = mask
        # the same inputs in every block: a stable set of length columns
        return inputs, {
            k: real.get(k, np.ones((n, self.input_shapes[k][0]), bool)) for k in self.padded
        }

    def explain(self, inputs: Mapping, real: Mapping | None = None) -> dict:
        """Attributions and the per-instance values of one block of inputs.

        Args:
            inputs: ``{input name: (n, *shape)}`` (one name, ``"inputs"``, for
                single-input models), as :meth:`prepare` returns them.
            real: ``{input name: (n, T)}`` real steps of padded inputs.

        Returns:
            ``{"attributions": {input name: (n, *shape)}, "explained_index",
            "explained_prediction", "baseline_prediction", "approximation_error"}``.
        """
        real = dict(real or {})
        if self.export_info is not None:
            return self._explain_export(inputs, real)
        x = self._pack(inputs)
        n = len(next(iter(inputs.values())))
        predictions = self._predictor.predict(x, batch_size=self.batch_size)
        flat = predictions.reshape(n, -1)
        target = self._resolve(predictions)
        index = None  # the only output of a single-output model
        if flat.shape[1] > 1:  # one index (tuple) per input, as the explainers take them
            index = np.stack(np.unravel_index(target, self.output_shape), axis=-1)
            index = index[:, 0] if index.shape[1] == 1 else index
        kwargs = {**self._spec.fixed, **self._call}
        baseline = (
            self.baseline if self.multi or self.baseline is None else {INPUT_NAME: self.baseline}
        )
        if self._spec.takes_baseline and baseline is not None:
            one = self._spec.baseline == "one"
            kwargs["baseline"] = self._pack({k: b[None] if one else b for k, b in baseline.items()})
        if real:
            kwargs["padding_mask"] = self._pack({k: real.get(k) for k in self.names})
        attributions = self._explainer.attributions(
            x, output_indices=index, batch_size=self.batch_size, seed=self.seed, **kwargs
        )
        if not self.multi:
            attributions = {INPUT_NAME: attributions}
        attributions = {k: np.asarray(attributions[k], np.float32) for k in self.names}
        explained = flat[np.arange(n), target].astype(np.float32)
        if self._identity == "none":
            base = error = np.full(n, np.nan, np.float32)
        else:
            rows = baseline
            if real and self._spec.baseline != "references":  # padded cells keep x's values
                rows = {
                    k: np.where(real[k][:, :, None], b, inputs[k]) if k in real else b
                    for k, b in baseline.items()
                }
                outputs = self._predictor.predict(
                    self._pack({k: np.broadcast_to(r, inputs[k].shape) for k, r in rows.items()}),
                    batch_size=self.batch_size,
                )
                base = outputs.reshape(n, -1)[np.arange(n), target].astype(np.float32)
            else:
                base = self._baseline_outputs[target].astype(np.float32)
            total = np.zeros(n, np.float64)
            for k in self.names:
                weights = inputs[k] - rows[k] if self._identity == "taylor" else 1.0
                total += (attributions[k] * weights).reshape(n, -1).sum(axis=1)
            error = np.abs(total - (explained - base)).astype(np.float32)
        return {
            "attributions": attributions,
            "explained_index": target,
            "explained_prediction": explained,
            "baseline_prediction": base,
            "approximation_error": error,
        }


def _shape_text(shape) -> str:
    return (
        "("
        + ", ".join("T_i" if d is None else str(d) for d in shape)
        + (",)" if len(shape) == 1 else ")")
    )


def _pad_sequences(value, steps: int, padding: str, fill: float, block, label: str):
    """``(padded (n, steps, F), real steps (n, steps))`` of sequences of at most
    ``steps`` steps (a list of ``(T_i, F)`` arrays or an ``(n, T, F)`` array)."""
    seqs = list(value)
    lengths = np.array([len(s) for s in seqs])
    if lengths.max() > steps or lengths.min() < 1:
        i = int(np.flatnonzero((lengths > steps) | (lengths < 1))[0])
        raise ValueError(
            f"Sample {block.ids[i].tolist()!r} holds a sequence{label} of {int(lengths[i])} "
            f"time steps; the job pads sequences to the model's {steps} (and needs at least one)."
        )
    features = seqs[0].shape[1]
    out = np.full((len(seqs), steps, features), fill, np.float32)
    real = mask_from_lengths(lengths, steps, padding)
    for i, s in enumerate(seqs):
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, steps - len(s) :] = s
    return out, real


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


def _describe_array(array) -> dict:
    """An array in the settings: a memory-mapped one by its file (not read whole),
    others by their digest."""
    if isinstance(array, np.memmap) and array.filename:
        stat = os.stat(array.filename)
        return {
            "file": str(array.filename),
            "shape": list(array.shape),
            "bytes": stat.st_size,
            "modified": stat.st_mtime,
        }
    return _jsonable(array)


def _digest_list(arrays) -> dict:
    """What identifies a list of arrays (ragged sequences) in the settings."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return {"sequences": len(arrays), "blake2b": digest.hexdigest()}


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
    """A run of consecutive samples of a source: ids ``(n,)`` and named inputs.

    ``inputs`` maps input names to arrays ``(n, *shape)`` (one name, ``"inputs"``, for
    single-input models), or, for variable-length sequences, to a list of ``n``
    arrays ``(T_i, F)`` (padded by :meth:`JobExplainer.prepare`).
    """

    index: int
    ids: np.ndarray
    inputs: dict

    @property
    def x(self):
        return self.inputs[INPUT_NAME]


def block_from_records(index: int, ids: list, items: list, names: list[str], id_type) -> Block:
    """A block from per-sample records: each item one array (single input) or a dict
    by input name; an input's samples are stacked when their shapes agree, else kept
    as a list of sequences (variable length)."""
    dtype = np.int64 if pa.types.is_integer(id_type) else object
    inputs = {}
    for name in names:
        parts = [
            item if name == INPUT_NAME and not isinstance(item, Mapping) else item[name]
            for item in items
        ]
        parts = [np.asarray(p, np.float32) for p in parts]
        same = len({p.shape for p in parts}) == 1
        inputs[name] = np.stack(parts) if same else parts
    return Block(index, np.asarray(ids, dtype), inputs)


def sequence_list(value, name: str) -> list[np.ndarray] | None:
    """A list or tuple of ``(T_i, F)`` float arrays of different lengths (variable-
    length sequences), checked; None when ``value`` is not such a list."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None
    if not all(np.ndim(v) == 2 for v in value):
        return None
    shapes = [np.shape(v) for v in value]
    if len({s[1] for s in shapes}) > 1:
        counts = sorted({s[1] for s in shapes})
        first = next(i for i, s in enumerate(shapes) if s[1] != shapes[0][1])
        raise ValueError(
            f"The sequences of `{name}` must have the same number of features; they have "
            f"{counts}. Received: {name}[0] of shape {shapes[0]}, {name}[{first}] of shape "
            f"{shapes[first]}."
        )
    if len({s[0] for s in shapes}) == 1:
        return None  # one array (N, T, F)
    return [
        as_float_array(v, f"{name}[{i}]", min_rank=2, dtype=np.float32) for i, v in enumerate(value)
    ]


class Source:
    """A stream of samples read in blocks of ``shard_size``.

    Attributes:
        kind: ``"array"``, ``"npy"``, ``"parquet"``, ``"tfrecord"``, ``"tf.data"`` or
            ``"inputs"`` (one source per model input).
        names: the inputs' names (``["inputs"]`` for single-input sources).
        shapes: each input's per-sample shape: ``(T, F)`` sequences (T None when
            unknown before reading), ``(S,)`` static rows.
        ragged: names of the inputs whose sequences may differ in length.
        feature_names: each input's feature names (``f0, f1, ...`` when the source
            has none).
        id_type: ``pa.int64()`` or ``pa.string()`` (the ``sample`` column's type).
        has_ids: whether the source holds its own sample ids (else rows are counted).
        count: number of samples, or None when unknown before reading.
    """

    kind = ""
    id_type = pa.int64()
    has_ids = False
    count: int | None = None
    names = [INPUT_NAME]
    ragged: tuple = ()
    shapes: dict
    feature_names: dict

    @property
    def shape(self) -> tuple:
        """The single input's shape."""
        return self.shapes[INPUT_NAME]

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        raise NotImplementedError

    def blocks(self, shard_size: int, skip=frozenset()) -> Iterator[Block]:
        """Blocks ``0, 1, ...`` of ``shard_size`` samples (the last may be shorter);
        blocks whose index is in ``skip`` are passed over without being read where the
        source allows it (arrays, ``.npy``), and yielded as None."""
        raise NotImplementedError


def _single(source: Source, shape, feature_names, names=None, ragged=False) -> None:
    source.shapes = {INPUT_NAME: tuple(shape)}
    source.feature_names = {INPUT_NAME: feature_names_for(names, feature_names, shape[-1])}
    source.ragged = (INPUT_NAME,) if ragged else ()


class ArraySource(Source):
    """An in-memory array ``(N, T, F)`` (or ``(N, S)`` rows), or a list of ``(T_i, F)``
    sequences of different lengths."""

    kind = "array"

    def __init__(self, array, feature_names=None):
        seqs = sequence_list(array, "source")
        if seqs is not None:
            self._x = seqs
            self.count = len(seqs)
            _single(self, (max(len(s) for s in seqs), seqs[0].shape[1]), feature_names, ragged=True)
            return
        x = as_float_array(array, "source", min_rank=2, dtype=None)
        if x.ndim > 3:
            raise ValueError(f"`source` must be sequences (N, T, F). Received: shape {x.shape}.")
        self._x = x
        self.count = len(x)
        _single(self, x.shape[1:], feature_names)

    def describe(self) -> dict:
        data = _digest_list(self._x) if isinstance(self._x, list) else _jsonable(self._x)
        return {"kind": self.kind, "data": data}

    def blocks(self, shard_size, skip=frozenset()):
        for k, start in enumerate(range(0, self.count, shard_size)):
            if k in skip:
                yield None
                continue
            stop = min(start + shard_size, self.count)
            x = self._x[start:stop]
            x = x if isinstance(x, list) else np.asarray(x, np.float32)
            yield Block(k, np.arange(start, stop, dtype=np.int64), {INPUT_NAME: x})


class InputsSource(Source):
    """One source per model input, read in step: their samples must correspond (the
    same count, and the same ids where the sources hold ids)."""

    kind = "inputs"

    def __init__(self, sources: dict[str, Source]):
        self.sources = sources
        self.names = list(sources)
        self.shapes = {n: s.shape for n, s in sources.items()}
        self.feature_names = {n: s.feature_names[INPUT_NAME] for n, s in sources.items()}
        self.ragged = tuple(n for n, s in sources.items() if s.ragged)
        counts = {n: s.count for n, s in sources.items() if s.count is not None}
        if len(set(counts.values())) > 1:
            raise ValueError(f"The inputs of `source` hold different numbers of samples: {counts}.")
        self.count = next(iter(counts.values()), None) if len(counts) == len(sources) else None
        with_ids = [s for s in sources.values() if s.has_ids]
        self.has_ids = bool(with_ids)
        self.id_type = with_ids[0].id_type if with_ids else pa.int64()

    def describe(self) -> dict:
        return {"kind": self.kind, "inputs": {n: s.describe() for n, s in self.sources.items()}}

    def blocks(self, shard_size, skip=frozenset()):
        streams = {n: s.blocks(shard_size, skip) for n, s in self.sources.items()}
        while True:
            parts = {n: next(it, False) for n, it in streams.items()}
            ended = [n for n, p in parts.items() if p is False]
            if ended:
                if len(ended) < len(parts):
                    raise ValueError(
                        f"The inputs {ended} of `source` end before the others: the inputs "
                        "must hold the same samples."
                    )
                return
            first = next(iter(parts.values()))
            if first is None:
                yield None
                continue
            ids = first.ids
            for name, part in parts.items():
                source = self.sources[name]
                if source.has_ids:
                    ids = part.ids
                    break
            for name, part in parts.items():
                own = part.ids if self.sources[name].has_ids else None
                if len(part.ids) != len(ids) or (own is not None and not np.array_equal(own, ids)):
                    raise ValueError(
                        f"Input {name!r} of `source` holds other samples than the others in "
                        f"shard {first.index} ({part.ids[:3].tolist()}... against "
                        f"{ids[:3].tolist()}...): the inputs must list the same samples in the "
                        "same order."
                    )
            yield Block(first.index, ids, {n: p.x for n, p in parts.items()})


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


def check_npy(path: str, shape, dtype) -> None:
    """Raise unless a ``.npy`` file holds float samples ``(N, T, F)`` or ``(N, S)``."""
    if len(shape) not in (2, 3):
        raise ValueError(
            f"{path} holds an array of shape {shape}; sequences (N, T, F) (or rows (N, S)) needed."
        )
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{path} holds {dtype} values; float sequences needed.")


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
    """``.npy`` files ``(N_i, T, F)`` (or ``(N_i, S)``), memory-mapped and read one
    block at a time.

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
            check_npy(p, shape, dtype)
            self._files.append((p, shape, dtype, offset))
        shapes = {f[1][1:] for f in self._files}
        if len(shapes) > 1:
            raise ValueError(
                f"The .npy files hold sequences of different shapes: {sorted(shapes)}."
            )
        self.count = sum(f[1][0] for f in self._files)
        _single(self, self._files[0][1][1:], feature_names)

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


def parquet_layout(schema: pa.Schema, path, prefix: str | None = None) -> str:
    """``"tidy"`` or ``"wide"`` for a Parquet schema; ValueError naming missing columns.

    With ``prefix`` (an input of a multi-input table), only the wide columns
    ``prefix/feature`` count."""
    names = set(schema.names)
    if prefix is None and names & {"time", "feature", "value"}:
        missing = [c for c in _TIDY_COLUMNS if c not in names]
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
    lists = [f for f in fields if _is_list(f.type)]
    others = [f for f in fields if not _is_list(f.type) and not pa.types.is_floating(f.type)]
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


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def id_type_of(t: pa.DataType) -> pa.DataType:
    """The ``sample`` column's type for ids of type ``t``: int64 or string."""
    return pa.int64() if pa.types.is_integer(t) else pa.string()


def _ids(column, id_type) -> np.ndarray:
    if pa.types.is_integer(id_type):
        return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)
    return np.asarray(column.cast(pa.string()).to_numpy(zero_copy_only=False), object)


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
    ids = _ids(table.column("sample"), id_type) if "sample" in table.column_names else None
    first = table.column(columns[0]) if columns else None
    if first is None or not _is_list(first.type):
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
        "sample": _ids(table.column("sample"), id_type),
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
            if _is_list(schema.field(self._columns[0]).type):
                steps = len(first.column(0)[0]) if first is not None and first.num_rows else 0
                shape = (steps, len(names))
            else:
                shape = (len(names),)
            _single(self, shape, names, names)
            self.count = self.rows
        else:
            steps, names = self._first_sample()
            _single(self, (steps, len(names)), feature_names, names)
            self.count = self.rows // (steps * len(names)) if names else 0

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
            self.feature_names[INPUT_NAME],
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
    """Shared by the sources read sample by sample (TFRecord, tf.data)."""

    def _records(self) -> Iterator[tuple[object, object]]:
        raise NotImplementedError

    def blocks(self, shard_size, skip=frozenset()):
        ids, items, k = [], [], 0
        for sample, item in self._records():
            ids.append(sample)
            items.append(item)
            if len(ids) == shard_size:
                yield None if k in skip else self._block(k, ids, items)
                ids, items, k = [], [], k + 1
        if ids:
            yield None if k in skip else self._block(k, ids, items)

    def _block(self, k, ids, items):
        return block_from_records(k, ids, items, self.names, self.id_type)


class TFRecordSource(_RecordSource):
    """TFRecord files of ``tf.train.Example`` records (see :func:`write_tfrecord`)."""

    kind = "tfrecord"
    has_ids = True

    def __init__(self, paths, shape, feature_names=None):
        if shape is None:
            raise ValueError("A TFRecord source needs a model whose input shape (T, F) is known.")
        self.paths = [str(Path(p).resolve()) for p in paths]
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
        _single(self, shape, feature_names)
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
    """A ``tf.data.Dataset`` of samples: sequences ``(T, F)`` (``T`` may vary), batches
    ``(B, T, F)``, ``(id, sequence)`` pairs, or, for multi-input models, dicts by
    input name, tuples in the model's input order, or ``(id, dict)`` pairs (one
    sample per element)."""

    kind = "tf.data"

    def __init__(self, dataset, names: list[str] | None = None, feature_names=None):
        spec = dataset.element_spec
        self._with_ids = (
            isinstance(spec, tuple)
            and len(spec) == 2
            and isinstance(spec[0], tf.TensorSpec)
            and spec[0].shape.rank == 0
            and not spec[0].dtype.is_floating
        )
        value = spec[1] if self._with_ids else spec
        if names is not None and isinstance(value, tuple) and len(value) == len(names):
            value = dict(zip(names, value, strict=True))
            self._positional = True
        else:
            self._positional = False
        parts = value if isinstance(value, Mapping) else {INPUT_NAME: value}
        if not all(isinstance(p, tf.TensorSpec) for p in parts.values()) or (
            isinstance(spec, tuple) and not self._with_ids and not self._positional
        ):
            raise ValueError(
                "A tf.data source yields sequences (T, F), batches (B, T, F), (id, sequence) "
                "pairs, or for a model of several inputs dicts by input name, tuples in its "
                f"input order or (id, dict) pairs. Received: element_spec={spec}."
            )
        single = list(parts) == [INPUT_NAME]
        self._batched = single and parts[INPUT_NAME].shape.rank == 3
        self.names = list(parts)
        self.shapes, self.feature_names, ragged = {}, {}, []
        names_given = (
            feature_names if isinstance(feature_names, Mapping) else {INPUT_NAME: feature_names}
        )
        for name, part in parts.items():
            shape = part.shape[1:] if self._batched else part.shape
            if shape.rank not in (1, 2) or shape[-1] is None:
                raise ValueError(
                    f"The tf.data source's samples{'' if single else f' of input {name!r}'} "
                    "must be sequences (T, F) with a known F, or rows (S,). Received: "
                    f"element_spec={spec}."
                )
            if not part.dtype.is_floating:
                raise TypeError(
                    f"The tf.data source yields {part.dtype.name}; float sequences needed."
                )
            self.shapes[name] = tuple(shape.as_list())
            if shape.rank == 2 and shape[0] is None:
                ragged.append(name)
            given = names_given.get(name)
            self.feature_names[name] = feature_names_for(None, given, shape[-1])
        self.ragged = tuple(ragged)
        self._dataset = dataset
        self._spec = str(spec)
        if self._with_ids:
            self.has_ids = True
            self.id_type = pa.int64() if spec[0].dtype.is_integer else pa.string()

    def describe(self) -> dict:
        return {"kind": self.kind, "element_spec": self._spec}

    def _records(self):
        data = self._dataset.unbatch() if self._batched else self._dataset
        for i, item in enumerate(data.as_numpy_iterator()):
            sample = i
            if self._with_ids:
                sample, item = item
                sample = sample.decode() if isinstance(sample, bytes) else sample
            if self._positional:
                item = dict(zip(self.names, item, strict=True))
            yield sample, item


def open_source(source, *, feature_names=None, shape=None, names=None) -> Source:
    """The :class:`Source` for ``source`` (see the module docstring).

    Args:
        source: an array ``(N, T, F)`` or a list of ``(T_i, F)`` arrays; a ``.npy``
            path, glob or list of paths; a Parquet file (``.parquet``) or directory;
            a ``.tfrecord`` path, glob or list; or a ``tf.data.Dataset``. For a
            model of several inputs: a dict by input name (or a list in the model's
            order) of any of these but TFRecord, one per input; a Parquet table
            whose columns are named ``<input>/<feature>``; or a ``tf.data.Dataset``
            of dicts.
        feature_names: F names: checked against a Parquet source's names, else used
            as the names of the features (default ``f0, f1, ...``); a dict by input
            name for several inputs.
        shape: the model's ``(T, F)``, needed to read TFRecord sequences.
        names: the model's input names when it has several inputs.

    Raises:
        TypeError: ``source`` is none of these.
        ValueError: a path that does not exist or a file that cannot be read.
    """
    if names is not None and not isinstance(source, tf.data.Dataset):
        if isinstance(source, str | os.PathLike) and (
            Path(source).suffix == ".parquet" or Path(source).is_dir()
        ):
            per_input = _per_input(feature_names, names, "feature_names")
            if not Path(source).exists():
                raise ValueError(f"`source` {str(source)!r} does not exist.")
            return InputsSource({n: ParquetSource(source, per_input[n], prefix=n) for n in names})
        if isinstance(source, Mapping | list | tuple):
            parts = _per_input(source, names, "source")
            missing = [n for n, v in parts.items() if v is None]
            if missing:
                raise ValueError(
                    f"`source` holds no data for the model's input(s) {missing}; its inputs "
                    f"are {names}. Received: source with keys {list(source)}."
                    if isinstance(source, Mapping)
                    else f"`source` must hold one entry per model input {names}."
                )
            per_input = _per_input(feature_names, names, "feature_names")
            return InputsSource(
                {n: open_source(parts[n], feature_names=per_input[n]) for n in names}
            )
    if isinstance(feature_names, Mapping):
        raise TypeError(
            "`feature_names` is a dict by input name only for a model of several inputs; "
            f"give a list of names. Received: keys {list(feature_names)}."
        )
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
            return ParquetSource(p, feature_names)
        raise ValueError(
            f"`source` {str(source)!r} is not a .npy, .parquet or .tfrecord file, nor a "
            "directory of Parquet files."
        )
    if isinstance(source, tf.data.Dataset):
        return DatasetSource(source, names, feature_names)
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return ArraySource(source, feature_names)
    if sequence_list(source, "source") is not None:
        return ArraySource(source, feature_names)
    raise TypeError(
        "`source` must be an array (N, T, F) or a list of (T_i, F) arrays, a .npy / .parquet "
        "/ .tfrecord path (or a list or glob of them), a Parquet directory or a "
        f"tf.data.Dataset. Received: {type(source).__name__}."
    )


# ---------------------------------------------------------------------------- output
_NAMES_TYPE = pa.dictionary(pa.int32(), pa.string())


def attribution_schema(id_type: pa.DataType | None = None, multi: bool = False) -> pa.Schema:
    """Schema of the ``attributions`` tables (``sample`` int64 unless ``id_type``;
    ``multi``: with the ``input`` column of a model of several inputs)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [("sample", id_type)]
        + ([("input", _NAMES_TYPE)] if multi else [])
        + [
            ("time", pa.int32()),
            ("feature", _NAMES_TYPE),
            ("attribution", pa.float32()),
            ("value", pa.float32()),
        ]
    )


def length_columns(padded: list[str], multi: bool) -> list[str]:
    """The ``instances`` columns of the real steps of padded inputs: ``length`` for a
    single-input model, ``length_<input>`` per padded input otherwise."""
    if not multi:
        return ["length"] if padded else []
    return [f"length_{name}" for name in padded]


def instance_schema(id_type: pa.DataType | None = None, lengths=()) -> pa.Schema:
    """Schema of the ``instances`` tables (``sample`` int64 unless ``id_type``;
    ``lengths``: the names of int32 columns of real steps)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [
            ("sample", id_type),
            ("explained_index", pa.int32()),
            ("explained_prediction", pa.float32()),
            ("baseline_prediction", pa.float32()),
            ("approximation_error", pa.float32()),
        ]
        + [(name, pa.int32()) for name in lengths]
    )


def shard_tables(
    ids, inputs: Mapping, result: Mapping, feature_names: Mapping, id_type=None, real=None
):
    """``(attributions table, instances table)`` of one shard.

    Args:
        ids: ``(n,)`` sample ids.
        inputs: ``{input name: (n, T, F) or (n, S)}`` (``{"inputs": x}`` for one input).
        result: :meth:`JobExplainer.explain`'s output for ``inputs``.
        feature_names: ``{input name: names}``.
        id_type: the ``sample`` column's type (default int64).
        real: ``{input name: (n, T)}`` real steps of padded inputs: the cells of
            padded steps get no row, and ``instances`` records each input's length.

    Rows come input by input (in the order of ``inputs``), then sample by sample.
    Static inputs ``(n, S)`` have a null ``time``.
    """
    id_type = pa.int64() if id_type is None else id_type
    real = real or {}
    multi = list(inputs) != [INPUT_NAME]
    vocabulary = list(dict.fromkeys(n for names in feature_names.values() for n in names))
    lookup = {name: i for i, name in enumerate(vocabulary)}
    columns = {k: [] for k in ("take", "input", "time", "feature", "attribution", "value")}
    static = []
    for k, (name, x) in enumerate(inputs.items()):
        n = len(x)
        codes = np.array([lookup[f] for f in feature_names[name]], np.int32)
        f = x.shape[-1]
        steps = x.shape[1] if x.ndim == 3 else 1
        keep = None
        if name in real:
            keep = np.repeat(np.asarray(real[name]).ravel(), f)

        def cut(a, keep=keep):
            return a if keep is None else a[keep]

        count = n * steps * f if keep is None else int(keep.sum())
        columns["take"].append(cut(np.repeat(np.arange(n, dtype=np.int64), steps * f)))
        columns["input"].append(np.full(count, k, np.int32))
        columns["time"].append(cut(np.tile(np.repeat(np.arange(steps, dtype=np.int32), f), n)))
        static.append(np.full(count, x.ndim == 2))
        columns["feature"].append(cut(np.tile(codes, n * steps)))
        columns["attribution"].append(
            cut(np.asarray(result["attributions"][name], np.float32).ravel())
        )
        columns["value"].append(cut(np.asarray(x, np.float32).ravel()))
    cols = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in columns.items()}
    static = np.concatenate(static)
    id_array = pa.array(ids, type=id_type)
    data = {"sample": id_array.take(pa.array(cols["take"]))}
    if multi:
        data["input"] = pa.DictionaryArray.from_arrays(
            pa.array(cols["input"]), pa.array(list(inputs), pa.string())
        )
    data["time"] = pa.array(cols["time"], mask=static if static.any() else None)
    data["feature"] = pa.DictionaryArray.from_arrays(
        pa.array(cols["feature"]), pa.array(vocabulary, pa.string())
    )
    data["attribution"] = pa.array(cols["attribution"])
    data["value"] = pa.array(cols["value"])
    attributions = pa.table(data, schema=attribution_schema(id_type, multi))
    lengths = length_columns(list(real), multi)
    instances = pa.table(
        {
            "sample": id_array,
            "explained_index": pa.array(np.asarray(result["explained_index"], np.int32)),
            **{
                k: pa.array(np.asarray(result[k], np.float32))
                for k in ("explained_prediction", "baseline_prediction", "approximation_error")
            },
            **{
                column: pa.array(np.asarray(mask).sum(axis=1).astype(np.int32))
                for column, mask in zip(lengths, real.values(), strict=True)
            },
        },
        schema=instance_schema(id_type, lengths),
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


def load_attributions(out_dir):
    """A job's complete shards as dense arrays, sorted by sample (loads everything:
    for checks and moderate sizes).

    Returns:
        For a single-input model ``(sample ids (N,), attributions (N, T, F), feature
        names)``; for several inputs ``(sample ids (N,), {input: (N, *shape)},
        {input: feature names})``. Cells without a row (padded steps) hold 0, as
        the explainers give them.
    """
    table = read_attributions(out_dir)
    if table.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32), []
    job = Path(out_dir) / JOB_FILE
    stored = json.loads(job.read_text()).get("settings", {}) if job.is_file() else {}
    stored = stored.get("feature_names") or {}
    codes, vocabulary = _feature_codes(table.column("feature"))
    sample = _ids(table.column("sample"), table.schema.field("sample").type)
    ids, position = np.unique(sample, return_inverse=True)
    steps = table.column("time").fill_null(0).to_numpy()
    static = table.column("time").is_null().to_numpy(zero_copy_only=False)
    values = table.column("attribution").to_numpy()
    if "input" in table.column_names:
        input_codes, found = _feature_codes(table.column("input"))
        order = [n for n in stored if n in found] + [n for n in found if n not in stored]
        groups = [(name, input_codes == found.index(name)) for name in order]
    else:
        groups = [(INPUT_NAME, np.ones(len(values), bool))]
    arrays, names_out = {}, {}
    for name, rows in groups:
        present = [vocabulary[c] for c in np.unique(codes[rows])]
        names = stored.get(name) or [v for v in vocabulary if v in present]
        index = np.full(len(vocabulary), -1, np.int64)
        for i, v in enumerate(names):
            if v in vocabulary:
                index[vocabulary.index(v)] = i
        feature = index[codes[rows]]
        if static[rows].all():
            out = np.zeros((len(ids), len(names)), np.float32)
            out[position[rows], feature] = values[rows]
        else:
            out = np.zeros((len(ids), int(steps[rows].max()) + 1, len(names)), np.float32)
            out[position[rows], steps[rows], feature] = values[rows]
        arrays[name], names_out[name] = out, names
    if list(arrays) == [INPUT_NAME]:
        return ids, arrays[INPUT_NAME], names_out[INPUT_NAME]
    return ids, arrays, names_out


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
        "feature_names": {n: list(source.feature_names[n]) for n in source.names},
        "sample_type": str(source.id_type),
    }
    return json.loads(json.dumps(settings))  # as they read back from the file


def padding_masks(padding_mask, lengths, names: list[str], count: int | None) -> dict:
    """``{input name: padding mask (N, T) or lengths (N,)}`` given for a job's rows,
    checked (types, number of rows) before any work; lengths are turned into masks
    per block by :func:`block_masks`."""
    if padding_mask is not None and lengths is not None:
        raise ValueError("Give `padding_mask` or `lengths`, not both.")
    given, label = (padding_mask, "padding_mask") if lengths is None else (lengths, "lengths")
    if given is None:
        return {}
    multi = names != [INPUT_NAME]
    per_input = _per_input(given, names, label) if multi else {INPUT_NAME: given}
    out = {}
    for name, value in per_input.items():
        if value is None:
            continue
        arr = np.asarray(value) if not isinstance(value, np.memmap) else value
        what = f"{label}[{name!r}]" if multi else label
        want = 2 if label == "padding_mask" else 1
        kind = np.bool_ if want == 2 else np.integer
        if arr.ndim != want or not np.issubdtype(arr.dtype, kind):
            raise TypeError(
                f"`{what}` must be "
                + ("booleans (N, T), True on real steps" if want == 2 else "ints (N,)")
                + f". Received: dtype {arr.dtype}, shape {arr.shape}."
            )
        if count is not None and len(arr) != count:
            raise ValueError(f"`{what}` has {len(arr)} rows; the source holds {count} samples.")
        out[name] = (label, arr)
    return out


def block_masks(given: dict, start: int, n: int, shapes: dict, padding: str) -> dict:
    """The real steps ``(n, T)`` of the rows ``start : start + n`` from
    :func:`padding_masks`'s values."""
    masks = {}
    for name, (label, arr) in given.items():
        part = np.asarray(arr[start : start + n])
        if len(part) != n:
            raise ValueError(f"`{label}` has fewer rows than the source's samples.")
        masks[name] = (
            part if label == "padding_mask" else mask_from_lengths(part, shapes[name][0], padding)
        )
    return masks


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
            columns ``<input>/<feature>``; or a ``tf.data.Dataset`` of dicts.
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
        shape=explainer.input_shape,
        names=explainer.names if explainer.multi else None,
    )
    given = padding_masks(padding_mask, lengths, explainer.names, src.count)
    explainer.check_source(src, padded=set(given))
    for name, (label, arr) in given.items():  # in-memory lengths: checked before any work
        if label == "lengths" and not isinstance(arr, np.memmap) and len(arr):
            mask_from_lengths(
                arr[[int(np.argmin(arr)), int(np.argmax(arr))]],
                explainer.input_shapes[name][0],
                explainer.padding,
            )
    settings = job_settings(explainer, src, shard_size, runner="local")
    settings["padding_mask"] = {k: _describe_array(a) for k, (_, a) in given.items()}
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
    source = args.source
    parts = [part.split("=", 1) for part in source.split(",")]
    if len(parts) > 1 or "=" in source and not Path(source).exists():
        if not all(len(p) == 2 and p[0] and p[1] for p in parts):
            raise ValueError(
                f"SOURCE of a model of several inputs is NAME=PATH,NAME=PATH. Received: {source!r}."
            )
        source = dict(parts)
    padding = {"padding": args.padding} if args.padding else {}
    if args.lengths is not None:
        if args.runner == "beam":
            raise ValueError("--lengths is for local jobs; give Beam variable-length sequences.")
        padding["lengths"] = _cli_load(args.lengths, "--lengths")
    common = {
        "method": args.method,
        "baseline": baseline,
        "output_indices": output_index,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "shard_size": args.shard_size,
        "feature_names": names,
        "safe_mode": not args.unsafe,
        **padding,
        **options,
    }
    if args.runner == "beam":
        from tf_tsexplain.beam import run_pipeline

        summary = run_pipeline(
            args.model, source, args.out, pipeline_args=list(args.pipeline_args), **common
        )
    else:
        if args.pipeline_args:
            raise ValueError(
                "Beam pipeline options after '--' need --runner beam. Received: "
                f"{' '.join(args.pipeline_args)}."
            )
        summary = explain_to_parquet(
            args.model, source, args.out, resume=not args.no_resume, **common
        )
    print(
        " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
    )
    return summary


def _cli_load(path, flag):
    p = Path(path)
    if p.suffix != ".npy" or not p.is_file():
        raise ValueError(f"{flag} must be an existing .npy file. Received: {flag} {path}.")
    return np.load(p, mmap_mode="r", allow_pickle=False)


def _cli_baseline(args):
    if args.references is not None:
        if args.baseline not in (None, "zeros"):
            raise ValueError("Give --baseline or --references (expected gradients), not both.")
        return np.asarray(_cli_load(args.references, "--references"))
    if args.baseline in (None, "zeros"):
        return None
    return np.asarray(_cli_load(args.baseline, "--baseline"))


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
