"""Shared by export and in-process explanation: methods, baselines, targets, path points."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from tf_tsexplain._model import as_model_fn
from tf_tsexplain._quadrature import gauss_legendre_01
from tf_tsexplain._structure import masking_values
from tf_tsexplain._targets import resolve_output_indices
from tf_tsexplain._validation import as_float_array

METHODS = ("integrated_gradients", "expected_gradients", "saliency")
EXPLAIN_OUTPUTS = (
    "predictions",
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "attributions",
    "approximation_error",
)


PADDING_MASK = "padding_mask"


def attribution_names(input_names: list[str] | None) -> list[str]:
    """The ``explain`` outputs holding attributions: ``attributions`` for a model with
    one input (``input_names`` None), else ``attributions_<input name>`` per input."""
    if input_names is None:
        return ["attributions"]
    return [f"attributions_{name}" for name in input_names]


def check_baseline(method: str, baseline, shape: tuple[int, ...], name: str = "baseline"):
    """The reference set ``(R, *shape)`` for expected gradients (required), else one
    baseline ``shape`` (default zeros; ``(1, *shape)`` accepted)."""
    dims = ", ".join(map(str, shape))
    if method == "expected_gradients":
        if baseline is None:
            raise ValueError(
                f"method='expected_gradients' needs `{name}`: the reference set "
                f"(R, {dims}), e.g. a few hundred training sequences."
            )
        refs = as_float_array(baseline, name, min_rank=len(shape) + 1, dtype=np.float32)
        if refs.shape[1:] != shape:
            raise ValueError(
                f"`{name}` (the reference set) must have shape (R, {dims}); got {refs.shape}."
            )
        return refs
    if baseline is None:
        return np.zeros(shape, np.float32)
    b = as_float_array(baseline, name, min_rank=max(len(shape), 1), dtype=np.float32)
    if b.shape == (1, *shape):
        b = b[0]
    if b.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape} or (1, {dims}); got {b.shape}.")
    return b


def check_input_names(value: Mapping, names: list[str], label: str) -> None:
    """Raise ValueError unless the keys of ``value`` are exactly ``names`` (any order)."""
    missing = [k for k in names if k not in value]
    extra = [k for k in value if k not in names]
    if missing or extra:
        raise ValueError(
            f"{label} must have the model's input names {list(names)} as keys; missing "
            f"{missing}, unexpected {extra}."
        )


def check_baselines(method: str, baseline, names: list[str] | None, shapes: list[tuple]):
    """Per input, :func:`check_baseline` of its part of ``baseline``.

    ``names`` None: one input, ``baseline`` one array. Else ``baseline`` is None
    (zeros; refused for expected gradients), a dict by input name or a list in the
    inputs' order; reference sets of expected gradients must have the same R (row r
    of every input is one reference instance).
    """
    if names is None:
        return [check_baseline(method, baseline, shapes[0])]
    if baseline is None:
        parts = [None] * len(names)
    elif isinstance(baseline, Mapping):
        check_input_names(baseline, names, "`baseline`")
        parts = [baseline[k] for k in names]
    elif isinstance(baseline, list | tuple):
        if len(baseline) != len(names):
            raise ValueError(
                f"`baseline` must hold {len(names)} arrays, one per model input {names}. "
                f"Received: {len(baseline)}."
            )
        parts = list(baseline)
    else:
        raise TypeError(
            f"`baseline` of a model with inputs {names} must be a dict by input name (or a "
            f"list of {len(names)} arrays in that order). Received: {type(baseline).__name__}."
        )
    checked = [
        check_baseline(method, part, shape, f"baseline[{name!r}]")
        for part, name, shape in zip(parts, names, shapes, strict=True)
    ]
    if method == "expected_gradients" and len({len(r) for r in checked}) > 1:
        counts = {name: len(r) for name, r in zip(names, checked, strict=True)}
        raise ValueError(
            "The reference sets of `baseline` must have the same number of rows (row r of "
            f"every input is one reference instance). Received: {counts}."
        )
    return checked


def resolve_target(output_indices, output_shape, n_inputs: int, predict=None) -> np.ndarray:
    """One flat output index per input, int32 ``(n_inputs,)``.

    ``output_indices`` has the toolkit's one meaning (see :mod:`tf_tsexplain._targets`)
    and goes through its shared resolution, ``"predicted"`` included (``predict``
    returns the model outputs of the inputs). Serving explains one scalar per input,
    so ``None`` on a model with several outputs is refused.

    Raises:
        ValueError: ``None`` on several outputs; a tuple whose length is not the
            number of output axes; anything the shared resolution refuses.
    """
    output_shape = tuple(output_shape)
    if isinstance(output_indices, tuple) and len(output_indices) != len(output_shape):
        # (1, 0) for outputs (N, C) would otherwise read as one class per input when N = 2
        raise ValueError(
            f"`output_indices` {output_indices} has {len(output_indices)} entries, but the "
            f"model output has {len(output_shape)} axis/axes per input (shape "
            f"{output_shape}): give one index per output axis."
        )
    targets, leading = resolve_output_indices(output_indices, output_shape, n_inputs, predict)
    if leading:
        raise ValueError(
            f"The model has {int(np.prod(output_shape))} outputs per instance (output shape "
            f"(N, {', '.join(map(str, output_shape))})) and serving explains one of them: "
            "choose the one to explain with `output_indices` (an int, a (time, class) "
            f"tuple or 'predicted'). Received: output_indices={output_indices!r}."
        )
    return targets[0].astype(np.int32)


def path_points(method: str, bases: list[np.ndarray], num_samples: int, seed: int):
    """The path of the explained rows from baselines checked by :func:`check_baselines`.

    Returns ``(stored, index, alphas, weights, mode)``: per input the distinct
    baselines ``(B, *shape)`` (B = 1 for integrated gradients and saliency, the
    ``num_samples`` drawn references for expected gradients), the stored baseline of
    each path point ``(K,)``, positions ``(K,)``, weights ``(K,)`` and the mode
    (``"path"`` or ``"gradient"``). Expected gradients draw their (reference,
    position) pairs from ``seed``, the same reference row for every input: the draws
    the export stores.
    """
    if method == "expected_gradients":
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, bases[0].shape[0], size=num_samples)
        alphas = rng.uniform(size=num_samples).astype(np.float32)
        weights = np.full(num_samples, 1.0 / num_samples, np.float32)
        index = np.arange(num_samples, dtype=np.int32)
        return [b[picks] for b in bases], index, alphas, weights, "path"
    stored = [b[None] for b in bases]
    if method == "saliency":
        one = np.ones(1, np.float32)
        return stored, np.zeros(1, np.int32), one, one, "gradient"
    nodes, node_weights = gauss_legendre_01(num_samples)
    return (
        stored,
        np.zeros(num_samples, np.int32),
        nodes.astype(np.float32),
        node_weights.astype(np.float32),
        "path",
    )


def structured_call(model, labels: list[str], multi: bool):
    """``call(x) -> outputs`` with ``x`` a tensor (one input) or a dict by input name
    (``multi``): Keras models get a list in their input order, other models the dict."""
    model_fn = as_model_fn(model)
    if multi and isinstance(model, keras.Model):
        return lambda x: model_fn([x[k] for k in labels])
    return model_fn


def masking_of(model, labels: list[str]) -> dict:
    """Mask value by input name for the inputs a Keras ``Masking`` layer reads."""
    values = masking_values(model)
    return {k: v for k, v in zip(labels, values, strict=False) if v is not None}
