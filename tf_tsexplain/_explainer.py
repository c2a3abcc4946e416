"""The explainer contract: the base class every explainer of the toolkit builds on.

Every explainer is built from a model and explains inputs ``(N, *x_shape)`` (``(N, T,
F)`` sequences) with one call convention::

    explainer.method(inputs, [baseline,] ..., *, output_indices=None,
                     batch_size=None, seed=None, verbose=False)

- ``output_indices``: which scalar of the model output is explained, with one meaning
  everywhere (see :mod:`tf_tsexplain._targets`): None, an int, one per input, a
  ``(time, class)`` tuple or one per input, or ``"predicted"``.
- ``batch_size``: the most rows the model sees in one call (path points, noisy or
  masked copies, Hessian tiles). None picks it from the memory budget (1 GiB by
  default; ``memory_budget=`` per explainer or
  :func:`tf_tsexplain.set_memory_budget`), so that default calls stay fast and
  within memory; an int is honoured as given.
- ``seed``: None or an int >= 0; the same seed gives the same result, whatever
  ``batch_size``. Deterministic methods accept and ignore it.
- ``verbose``: a progress bar (keras' Progbar) over model rows.

Results are numpy arrays shaped like the inputs (with leading output axes when
``output_indices=None`` on a model with several outputs), float32 unless the inputs
are float64. Bad arguments raise before any model call: ``TypeError`` for a value of
the wrong kind, ``ValueError`` for a wrong value or shape, naming the argument.

The base holds what every method shares: argument checks, the output probe (once per
input shape), target resolution, the cache of compiled functions (one trace per
kind and input signature), the chunk size and the progress bar, and the
per-input argument handling that wrappers such as TSR need.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, check_memory_budget, rows_per_call
from tf_tsexplain._model import as_model_fn, check_differentiable, probe_output, row_bytes
from tf_tsexplain._structure import (
    InputStructure,
    is_ragged,
    is_structured,
    keras_padding,
    pad_ragged,
    structure_of,
)
from tf_tsexplain._targets import PREDICTED, resolve_output_indices
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_bool,
    check_padding_mask,
    check_seed,
    check_verbose,
)


class Explainer:
    """Base class of the explainers: the shared contract.

    The contract (targets, ``batch_size``, ``seed``, ``verbose``, errors, result
    shapes) is described in this module's docstring and on the documentation's
    "explainer contract" page.

    Args:
        model: a Keras model (called with ``training=False``) or any callable mapping
            a float tensor batch ``(rows, *x_shape)`` to ``(rows, *output_shape)``
            with TensorFlow ops. Rows must not interact (no computation across the
            batch axis at inference).
        allow_nonfinite: accept NaN/Inf in inputs and baselines (results then hold
            NaN). By default they are an error.
        memory_budget: bytes of working memory per model call when ``batch_size`` is
            None (>= 1 MiB); None uses the process-wide budget (1 GiB unless changed
            with :func:`tf_tsexplain.set_memory_budget`).

    Raises:
        TypeError: an ``allow_nonfinite`` that is not a bool, or a ``memory_budget``
            that is not an int.
        ValueError: a ``memory_budget`` below 1 MiB.

    Subclasses set :attr:`derivative_order` (0: model outputs only, 1: gradients, 2:
    Hessian rows; used for the memory estimate and the differentiability check) and
    :attr:`positional_arguments` (the names of the arguments a caller may give by
    position after ``inputs``, for :meth:`bind_arguments`).
    """

    derivative_order = 1
    positional_arguments: tuple[str, ...] = ()

    def __init__(self, model, *, allow_nonfinite: bool = False, memory_budget: int | None = None):
        self.model = model
        self.allow_nonfinite = check_bool(allow_nonfinite, "allow_nonfinite")
        self.memory_budget = None if memory_budget is None else check_memory_budget(memory_budget)
        self._raw_model_fn = as_model_fn(model)
        self._model_fn = self._raw_model_fn
        self._structure: InputStructure | None = None  # set by the first multi-input call
        self._compiled: dict = {}
        self._output_shapes: dict = {}

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_common(batch_size, seed, verbose) -> tuple[int | None, int | None, bool]:
        """The common keyword arguments, checked (before any model call)."""
        return check_batch_size(batch_size), check_seed(seed), check_verbose(verbose)

    def _check_inputs(self, inputs, name: str = "inputs", min_rank: int = 2) -> np.ndarray:
        """``inputs`` as a float array ``(N, *x_shape)`` (float32 unless float64); the
        inputs of a multi-input model flattened to rows ``(N, D)`` (see
        :mod:`tf_tsexplain._structure`)."""
        return self._rows(inputs, None, name, min_rank)[0]

    def _rows(self, inputs, padding_mask=None, name: str = "inputs", min_rank: int = 2):
        """``(x, frozen)``: checked rows and the cells of padded steps (or None).

        ``inputs``: one array ``(N, *x_shape)``; a list/tuple/dict of arrays for a
        multi-input model (flattened to ``(N, D)``); or a ragged list of ``(T_i, F)``
        sequences (post-padded with zeros; results come back padded). Padding comes
        from ``padding_mask`` (``(N, T)``, True on real steps; for several inputs one
        mask per sequence input, as a list/dict, or one mask for every input of T
        steps), else from the model's own ``Masking`` layers.
        """
        if is_structured(inputs, self.model):
            structure = structure_of(inputs, self.model)
            if self._structure is None:
                self._structure = structure
                self._model_fn = structure.model_fn(
                    self._raw_model_fn, as_list=isinstance(self.model, keras.Model)
                )
            elif self._structure.key[1:] != structure.key[1:]:
                raise ValueError(
                    f"These inputs {structure.names} with shapes {structure.shapes} differ "
                    f"from the earlier ones {self._structure.names} with shapes "
                    f"{self._structure.shapes}; use one explainer per input structure."
                )
            self._structure.kind = structure.kind  # results come back as given
            parts = structure.parts(
                inputs, name, allow_nonfinite=self.allow_nonfinite, per_row=False
            )
            dtype = np.result_type(*[p.dtype for p in parts])
            parts = [p.astype(dtype, copy=False) for p in parts]
            if len({len(p) for p in parts}) > 1:
                raise ValueError(
                    f"The arrays of `{name}` must have the same number of rows; received "
                    f"{[len(p) for p in parts]}."
                )
            masks = self._padding_parts(parts, padding_mask, structure)
            frozen = None
            if any(m is not None for m in masks):
                frozen = structure.flatten(
                    [
                        np.zeros(p.shape, bool)
                        if m is None
                        else np.broadcast_to(~m[:, :, None], p.shape)
                        for p, m in zip(parts, masks, strict=True)
                    ]
                )
            return structure.flatten(parts), frozen
        if self._structure is not None:
            raise ValueError(
                f"This explainer was used with the multi-input structure {self._structure.names}; "
                f"`{name}` must be a list or dict of arrays in that structure."
            )
        if is_ragged(inputs):
            x, real = pad_ragged(inputs)
            if padding_mask is not None:
                raise ValueError("Ragged `inputs` carry their own lengths; drop `padding_mask`.")
            padding_mask = real
        else:
            x = as_float_array(
                inputs, name, min_rank=min_rank, allow_nonfinite=self.allow_nonfinite
            )
        (real,) = self._padding_parts([x], padding_mask, None)
        frozen = (
            None
            if real is None
            else np.ascontiguousarray(np.broadcast_to(~real[:, :, None], x.shape))
        )
        return x, frozen

    def _padding_parts(self, parts, padding_mask, structure) -> list:
        """Real-step masks ``(N, T)`` (or None) for each of ``parts``."""
        if padding_mask is None:
            return keras_padding(self.model, parts)
        if structure is not None and isinstance(padding_mask, dict | list | tuple):
            values = (
                [padding_mask.get(k) for k in structure.names]
                if isinstance(padding_mask, dict)
                else list(padding_mask)
            )
            if len(values) != len(parts):
                raise ValueError(
                    f"`padding_mask` must hold one mask (or None) per input {structure.names}."
                )
            return [
                None if m is None else check_padding_mask(m, len(p), p.shape[1])
                for m, p in zip(values, parts, strict=True)
            ]
        sequences = [p for p in parts if p.ndim == 3]
        if not sequences:
            raise ValueError("`padding_mask` was given but no input is a sequence (N, T, F).")
        masks = []
        for p in parts:
            if p.ndim == 3 and np.shape(padding_mask)[1:] == (p.shape[1],):
                masks.append(check_padding_mask(padding_mask, len(p), p.shape[1]))
            else:
                masks.append(None)
        if all(m is None for m in masks):
            check_padding_mask(padding_mask, len(sequences[0]), sequences[0].shape[1])
        return masks

    # ------------------------------------------------------------------ for wrappers
    def input_rows(self, inputs, padding_mask=None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rows, frozen)``: ``inputs`` as this explainer computes on them.

        For wrappers (TSR, batch jobs).

        Args:
            inputs: ``(N, *x_shape)`` floats; a list/tuple/dict of arrays for a
                multi-input model; or a ragged list of ``(T_i, F)`` sequences.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from the
                model's ``Masking`` layers).

        Returns:
            ``(rows, frozen)``: rows ``(N, *x_shape)`` (the inputs of a multi-input
            model flattened to ``(N, D)``) and the cells of padded steps
            (``(N, *x_shape)`` booleans, or None without padding).

        Raises:
            TypeError: inputs that are not floats.
            ValueError: inputs of the wrong shape, NaN/Inf without
                ``allow_nonfinite``, or a ``padding_mask`` that does not fit.
        """
        return self._rows(inputs, padding_mask)

    def real_steps(self, parts: list, padding_mask=None, structure=None) -> list:
        """The real steps of each array of ``parts``.

        Args:
            parts: the arrays of one call, e.g. ``[(N, T, F), (N, S)]``.
            padding_mask: ``(N, T)`` booleans (one mask for every input of T steps),
                or one mask (or None) per part as a list or dict; None: from the
                model's ``Masking`` layers.
            structure: the inputs' structure, for a multi-input model.

        Returns:
            Per part, its real steps ``(N, T)`` booleans, or None (no padding, or not
            a sequence).
        """
        return self._padding_parts(parts, padding_mask, structure)

    def rows_per_call(self, inputs, batch_size: int | None = None) -> int:
        """The model rows per call of a default gradient call on ``inputs``.

        Args:
            inputs: ``(N, *x_shape)`` floats (or a multi-input structure).
            batch_size: rows per call if given.

        Returns:
            ``batch_size`` if given, else the rows that fit in the memory budget.
        """
        return self._rows_per_call(self.input_rows(inputs)[0], batch_size)

    def _restructure(self, result: np.ndarray):
        """Results over flat rows ``(..., N, D)`` back in the inputs' structure."""
        return result if self._structure is None else self._structure.unflatten(result)

    def _output_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """Per-row output shape, after checking the model on one row.

        The eager probe (and gradient check) costs about 0.2 s on an LSTM, so it runs
        once per input shape and dtype, like the compiled functions.
        """
        key = (x.shape[1:], x.dtype.name)
        if key not in self._output_shapes:
            shape = probe_output(self._model_fn, x[:1], self.allow_nonfinite)
            if self.derivative_order > 0:
                check_differentiable(self._model_fn, x[:1])
            self._output_shapes[key] = shape
        return self._output_shapes[key]

    def _targets(self, x: np.ndarray, output_indices, batch_size: int | None):
        """``(targets (runs, N) int32, leading axes)`` for ``output_indices``."""
        shape = self._output_shape(x)
        return resolve_output_indices(
            output_indices, shape, len(x), predict=lambda: self._predict_rows(x, batch_size)
        )

    def _rows_per_call(
        self, x: np.ndarray, batch_size: int | None, order: int | None = None
    ) -> int:
        """Model rows per call: ``batch_size``, or what fits in the memory budget."""
        order = self.derivative_order if order is None else order
        # flat rows (N, D) of a multi-input model: the steps come from the structure
        steps = None if self._structure is None else self._structure.steps
        cost = row_bytes(self.model, x.shape[1:], x.dtype.itemsize, order, steps=steps)
        return rows_per_call(batch_size, cost, self.memory_budget)

    # ------------------------------------------------------------------ execution
    def _function(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        """The compiled function for ``key`` (kind, shapes, dtype), built once."""
        if key not in self._compiled:
            self._compiled[key] = build()
        return self._compiled[key]

    def predict(self, inputs, *, batch_size: int | None = None) -> np.ndarray:
        """Model outputs ``(N, *output_shape)`` through one compiled function, chunked.

        Args:
            inputs: ``(N, *x_shape)`` floats (or a multi-input structure).
            batch_size: most rows per model call (None: from the memory budget).

        Returns:
            The model's outputs ``(N, *output_shape)``.

        Raises:
            TypeError: inputs that are not floats, or a ``batch_size`` that is not an
                int.
            ValueError: inputs of the wrong shape, or a ``batch_size`` below 1.
        """
        batch_size = check_batch_size(batch_size)
        return self._predict_rows(self._check_inputs(inputs), batch_size)

    def _predict_rows(self, x: np.ndarray, batch_size: int | None) -> np.ndarray:
        """Model outputs of checked rows ``x`` (flat rows for a multi-input model)."""
        rows = self._rows_per_call(x, batch_size, order=0)
        model_fn = self._model_fn

        def build():
            spec = tf.TensorSpec((None,) + x.shape[1:], tf.as_dtype(x.dtype))
            return tf.function(lambda batch: model_fn(batch), input_signature=[spec])

        fn = self._function(("predict", x.shape[1:], x.dtype.name), build)
        parts = [np.asarray(fn(x[start : start + rows])) for start in range(0, len(x), rows)]
        return np.concatenate(parts)

    @staticmethod
    def _progress(total: int | None, verbose: bool, unit: str = "rows") -> Progress:
        return Progress(total, verbose, unit=unit)

    @staticmethod
    def _shape_result(result: np.ndarray, leading: tuple[int, ...]) -> np.ndarray:
        """``(runs, N, ...)`` -> ``(*leading, N, ...)``, or ``(N, ...)`` for one run."""
        return result.reshape(leading + result.shape[1:]) if leading else result[0]

    # ------------------------------------------------------------------ wrappers
    def bind_arguments(self, args: tuple, kwargs: dict) -> dict:
        """Arguments after ``inputs`` as one dict of names, for wrappers (TSR).

        Positional arguments are named by :attr:`positional_arguments` (the method's
        documented order).

        Args:
            args: the positional arguments after ``inputs``.
            kwargs: the keyword arguments.

        Returns:
            ``{name: value}`` of every argument given.

        Raises:
            TypeError: an argument given twice, or more positional arguments than the
                method takes.
        """
        if len(args) > len(self.positional_arguments):
            raise TypeError(
                f"{type(self).__name__} takes at most {len(self.positional_arguments)} "
                f"positional argument(s) after `inputs` ({', '.join(self.positional_arguments)}"
                f"); received {len(args)}. Pass the others by keyword."
            )
        bound = dict(zip(self.positional_arguments, args, strict=False))
        for name in kwargs:
            if name in bound:
                raise TypeError(f"Argument `{name}` given by position and by keyword.")
        bound.update(kwargs)
        return bound

    def copies_arguments(self, inputs: np.ndarray, arguments: dict) -> Callable[[np.ndarray], dict]:
        """For wrappers that explain modified copies of inputs (TSR, ...).

        Per-input arguments are repeated for each input's copies: ``output_indices``
        with one entry per input (a list or array; a tuple is one target for all),
        ``"predicted"`` (resolved once on the unmodified inputs, so that every copy
        explains its input's predicted class), and a baseline with one row per input.

        Args:
            inputs: the unmodified inputs ``(N, *x_shape)``, as rows.
            arguments: the method's arguments by name (from :meth:`bind_arguments`).

        Returns:
            ``for_copies(owner) -> arguments``: the arguments for copies whose inputs
            are ``inputs[owner]`` (``owner`` an int array of input indices).
        """
        n = len(inputs)
        per_input = {}
        oi = arguments.get("output_indices")
        if isinstance(oi, str) and oi == PREDICTED:
            shape = self._output_shape(inputs)
            if int(np.prod(shape)) > 1:
                targets, _ = self._targets(inputs, oi, arguments.get("batch_size"))
                per_input["output_indices"] = targets[0]  # outputs (N, C): flat == class
            else:
                arguments = {**arguments, "output_indices": None}
        elif oi is not None and not isinstance(oi, tuple):
            arr = np.asarray(oi)
            if arr.ndim >= 1 and arr.shape[0] == n:
                per_input["output_indices"] = arr
        mask = arguments.get("padding_mask")
        if mask is not None and np.ndim(mask) == 2 and np.shape(mask)[0] == n:
            per_input["padding_mask"] = np.asarray(mask)
        per_input.update(self._per_input_arguments(inputs, arguments))

        def for_copies(owner: np.ndarray) -> dict:
            copied = dict(arguments)
            for name, value in per_input.items():
                copied[name] = value[owner]
            return copied

        return for_copies

    def _per_input_arguments(self, inputs: np.ndarray, arguments: dict) -> dict:
        """Method-specific per-input arguments ``name -> array (N, ...)``.

        The default: a ``baseline`` shaped like ``inputs`` (one per input) when the
        method takes a baseline. Subclasses extend it (a reference set is shared, not
        per input; SmoothGrad's noise scale is per input).
        """
        baseline = arguments.get("baseline")
        if "baseline" in self.positional_arguments and baseline is not None and len(inputs) > 1:
            if np.shape(baseline) == inputs.shape:
                return {"baseline": np.asarray(baseline)}
        return {}
