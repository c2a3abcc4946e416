"""The job explainer: one attribution method of the toolkit run on blocks of samples.

:class:`JobExplainer` is built in the process that runs the work (a local job, a Beam
or Spark worker) from the model (or its path) and plain settings, so that no traced
function is ever pickled. It checks a source against the model, pads and masks
blocks, and returns attributions with the per-instance values of the ``instances``
table. The method table (:data:`METHODS`, :data:`METHOD_NAMES`) comes from
:mod:`tf_tsexplain.jobs.methods` and is importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._structure import model_input_names
from tf_tsexplain._targets import resolve_output_indices
from tf_tsexplain._validation import (
    check_batch_size,
    check_bool,
    check_choice,
    check_padding_mask,
    check_seed,
)
from tf_tsexplain.jobs.fingerprints import jsonable
from tf_tsexplain.jobs.layout import INSTANCE_COLUMNS
from tf_tsexplain.jobs.methods import (
    METHOD_NAMES,
    METHODS,
    check_method,
    check_method_baseline,
    split_options,
)
from tf_tsexplain.jobs.names import INPUT_NAME, per_input
from tf_tsexplain.jobs.padding import pad_sequences
from tf_tsexplain.jobs.sources import Block, Source
from tf_tsexplain.serving import load_model, model_input_shape, saved_model_info
from tf_tsexplain.serving._common import attribution_names
from tf_tsexplain.tsr import TemporalSaliencyRescaling

__all__ = ["METHODS", "METHOD_NAMES", "JobExplainer", "check_method", "is_export_dir"]


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
        spec, tsr_options, constructor, self._call = split_options(self.method, method_kwargs)
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
            given = per_input(self._baseline_input, self.names, "baseline")
            self.baseline = {
                name: check_method_baseline(
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
            self.baseline = check_method_baseline(kind, self._baseline_input, shapes[INPUT_NAME])
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
            "options": jsonable(self.options),
            "baseline": jsonable(self.baseline),
            "output_indices": jsonable(self.output_indices),
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
                value, real[name] = pad_sequences(
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
