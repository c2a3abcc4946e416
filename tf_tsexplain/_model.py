"""Model adapter: a Keras model or a plain callable becomes one function.

Every capability calls the model through ``as_model_fn`` so that Keras models (run in
inference mode), plain callables and, later, SavedModel signatures look the same:
``f(batch) -> tensor (batch, *output_shape)``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf


def as_model_fn(model) -> Callable[[tf.Tensor], tf.Tensor]:
    """Return ``f(batch) -> outputs`` for a Keras model or a callable.

    Keras models are called with ``training=False`` so that dropout and batch
    normalisation behave as at prediction time.
    """
    if isinstance(model, keras.Model | keras.layers.Layer):

        def keras_fn(batch):
            return model(batch, training=False)

        return keras_fn
    if callable(model):
        return model
    raise TypeError(
        f"`model` must be a Keras model or a callable mapping a float tensor batch to "
        f"outputs, got {type(model).__name__}."
    )


# Working memory of one model row per float of the activations estimated below,
# measured as the marginal peak RSS per row in fresh processes (TF 2.21, 2 CPU cores,
# LSTM(32)/GRU(32) over 100 x 6 and LSTM(64) over 20 x 5 inputs, two Conv1D(32) over
# 100 x 6): recurrent layers cost about 1.0x of the estimate with gradients and
# 7.8-8.6x with Hessian rows (the double backward pass through the while loop keeps
# every step's intermediates twice); other layers about 1.0x with Hessian rows. A wide
# layer costs more per float: GRU(200) over 200 x 3 with a per-step head took 1.21x the
# budget with gradients at 1.25 and 1.05x with outputs only at 0.5
# (examples/benchmarks/bench_callable_memory.py), hence 1.6 and 0.6.
# Factors round up; order 0 = outputs only, 1 = gradients, 2 = Hessian rows.
_RECURRENT_FACTOR = {0: 0.6, 1: 1.6, 2: 9.0}
_OTHER_FACTOR = {0: 0.5, 1: 1.25, 2: 2.5}
# When the model's layers cannot be read (callables, SavedModels) the activations are
# counted as recurrent, the costlier kind: 64 floats per input float, and at least
# what a 256-unit recurrent layer (8 floats per unit and step) and a 256-wide head on
# every step (3 per value) keep per time step. The floor matters for few features and
# many units: per input float alone, a callable around a GRU(200) over 200 x 3 was
# estimated at an eighth of the Keras model's cost per row, and integrated gradients'
# default call took 6.3x the memory budget (bench_callable_memory.py; now 0.61x).
_UNKNOWN_MODEL_FLOATS_PER_INPUT = 64
_UNKNOWN_MODEL_FLOATS_PER_STEP = (8 * 256, 3 * 256)  # (recurrent, other)


def activation_floats(model, x_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """Floats the forward pass of one row keeps for the backward pass (an estimate),
    as ``(recurrent, other)``.

    A recurrent layer keeps about 8 values per unit and step (gates, cell and hidden
    states); any other layer about 3 per output value (pre-activations and
    temporaries). None when the model is not a Keras model whose layers have known
    output shapes (subclassed models, callables, SavedModel signatures).
    """
    if not isinstance(model, keras.layers.Layer):
        return None
    try:
        return _layer_floats(model, x_shape[0] if x_shape else 1)
    except (AttributeError, ValueError, TypeError):  # shapes unknown: subclassed models
        return None


def _layer_floats(layer, steps: int) -> tuple[int, int]:
    if isinstance(layer, keras.layers.InputLayer):
        return 0, 0
    if isinstance(layer, keras.layers.Bidirectional):
        steps = _steps(layer, steps)
        rnns = (layer.forward_layer, layer.backward_layer)
        return sum(_rnn_floats(rnn, steps) for rnn in rnns), 0
    if isinstance(layer, keras.layers.RNN):
        return _rnn_floats(layer, _steps(layer, steps)), 0
    if isinstance(layer, keras.Model):  # Sequential, functional, nested models
        parts = [_layer_floats(inner, steps) for inner in layer.layers]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    out_shape = tuple(layer.output.shape[1:])
    return 0, 3 * int(np.prod([d or 1 for d in out_shape]))


def _steps(layer, default: int) -> int:
    shape = layer.input.shape
    return int(shape[1]) if len(shape) > 1 and shape[1] is not None else default


def _rnn_floats(layer, steps: int) -> int:
    units = getattr(layer.cell, "units", None) or int(layer.output.shape[-1])
    return 8 * steps * int(units)


def row_bytes(
    model, x_shape: tuple[int, ...], itemsize: int, order: int, steps: int | None = None
) -> int:
    """Estimated working memory of one model row in bytes.

    Args:
        model: the user's model (Keras model, callable, ...).
        x_shape: one input row's shape, ``(T, F)`` for a sequence.
        itemsize: bytes per float (4 or 8).
        order: 0 for model outputs only, 1 with gradients, 2 with Hessian rows.
        steps: time steps of the longest sequence in the row; None reads them from
            ``x_shape`` (its first axis when it has two or more). Flat rows of a
            multi-input model pass them, since their shape ``(D,)`` does not hold them.
    """
    inputs = int(np.prod(x_shape))
    if steps is None:
        steps = int(x_shape[0]) if len(x_shape) >= 2 else 1
    floats = activation_floats(model, x_shape)
    if floats is None:
        per_step_recurrent, per_step_other = _UNKNOWN_MODEL_FLOATS_PER_STEP
        recurrent = _UNKNOWN_MODEL_FLOATS_PER_INPUT * inputs
        if recurrent < per_step_recurrent * steps:
            floats = per_step_recurrent * steps, per_step_other * steps
        else:
            floats = recurrent, 0
    recurrent, other = floats
    other += 4 * inputs  # the row, its path point or copy, gradients and tangents
    return int(itemsize * (_RECURRENT_FACTOR[order] * recurrent + _OTHER_FACTOR[order] * other))


def probe_output(model_fn, batch: np.ndarray, allow_nonfinite: bool = False) -> tuple[int, ...]:
    """Run the model on a small batch; return the per-row output shape.

    Raises clear errors for outputs that are not a single float tensor with the
    batch on the first axis, or that are not finite.
    """
    try:
        out = model_fn(tf.constant(batch))
    except Exception as err:
        raise ValueError(
            f"Calling the model on a batch of shape {batch.shape} failed: "
            f"{type(err).__name__}: {err}"
        ) from err
    if isinstance(out, list | tuple | dict):
        raise ValueError(
            "The model returns several outputs (a list, tuple or dict); wrap it in a "
            "function that returns the one output tensor to explain."
        )
    out = tf.convert_to_tensor(out)
    if not out.dtype.is_floating:
        raise ValueError(
            f"The model output has dtype {out.dtype.name}; a float output is needed to "
            "take gradients (e.g. probabilities or logits, not argmax labels)."
        )
    if out.shape.rank == 0 or out.shape[0] != batch.shape[0]:
        raise ValueError(
            f"The model output has shape {tuple(out.shape)} for an input batch of "
            f"{batch.shape[0]} row(s); the first axis of the output must be the batch."
        )
    if not allow_nonfinite and not np.all(np.isfinite(out.numpy())):
        raise ValueError("The model output is NaN or Inf on the given inputs.")
    return tuple(int(d) for d in out.shape[1:])


def predict_in_chunks(model_fn, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``model_fn(x)`` as numpy, ``batch_size`` rows per call; shape ``(N, *out)``."""
    parts = [
        np.asarray(model_fn(tf.constant(x[start : start + batch_size])))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


NON_DIFFERENTIABLE_HINT = (
    "The model output does not depend differentiably on its input (the gradient is "
    "None). Common causes: an integer cast or rounding on the input (tf.cast to int, "
    "tf.round, argmax), an Embedding layer applied to the input (explain the embedded "
    "sequence with EmbeddingExplainerTF instead), or numpy code inside a callable "
    "(use TensorFlow ops so that gradients flow)."
)


def check_differentiable(model_fn, batch: np.ndarray) -> None:
    """Raise ValueError if the gradient of the output w.r.t. the input is None."""
    x = tf.constant(batch)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model_fn(x)
        total = tf.reduce_sum(tf.cast(out, x.dtype))
    if tape.gradient(total, x) is None:
        raise ValueError(NON_DIFFERENTIABLE_HINT)
