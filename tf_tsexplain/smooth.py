"""Smooth surrogates of piecewise-linear Keras models, for meaningful interactions.

Autodiff Hessians of ReLU networks are zero almost everywhere (each linear piece has
no curvature) and TensorFlow's second derivative of max pooling is not even
symmetric, so integrated/expected Hessians of such models are dominated by noise and
their rows do not add up to the attributions. The usual remedy (path_explain's own
examples do it) is to explain a smooth copy of the network: the same weights, each
ReLU-family activation replaced by a softplus of sharpness ``beta`` and each max
pooling by a smooth maximum (log-sum-exp with a temperature).

- :func:`piecewise_linear_layers` lists the pieces of a Keras model that have no
  useful second derivative (ReLU-family activations, max pooling, ``abs``,
  clipping, element-wise maxima).
- :func:`smooth_surrogate` clones a model with smooth replacements, weights
  unchanged.
- :func:`surrogate_gap` says how far the surrogate's outputs are from the model's on
  the inputs explained.

Replacements, with ``sp(z) = softplus(beta * z) / beta`` (>= relu(z), at most
``log(2) / beta`` above it):

- relu -> ``sp(x)``; leaky ReLU (slope a) -> ``a x + (1 - a) sp(x)``;
  ReLU with ``max_value`` m (relu6) -> ``... - (1 - a) sp(x - m)``;
- ``clip(x, lo, hi)``, hard_tanh -> ``lo + sp(x - lo) - sp(x - hi)``;
  hard_sigmoid -> that clip of ``x / 6 + 1 / 2`` to [0, 1]; hard_silu -> ``x`` times it;
- ``abs(x)`` -> ``sp(x) + sp(-x) - 2 log(2) / beta`` (exact at 0);
- max pooling -> ``tau * logsumexp(window / tau)`` with ``tau = temperature``
  (default ``1 / beta``), at most ``tau * log(pool size)`` above the maximum.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._validation import as_float_array, check_positive_int

DEFAULT_BETA = 10.0

_RELU_FAMILY = {
    "relu": "relu",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "hard_sigmoid": "hard_sigmoid",
    "hard_silu": "hard_silu",
    "hard_swish": "hard_silu",
    "hard_tanh": "hard_tanh",
}
_MAX_POOLING = (keras.layers.MaxPooling1D, keras.layers.GlobalMaxPooling1D)
_OTHER_MAX_POOLING = (
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)
_PIECEWISE_OPS = {"Absolute": "abs", "Clip": "clip", "Maximum": "maximum", "Minimum": "minimum"}


@dataclasses.dataclass(frozen=True)
class PiecewiseLinearPiece:
    """One piece of a model without a useful second derivative.

    Attributes:
        name: the layer's (or operation's) name in the model.
        kind: what it is, e.g. "relu activation", "max pooling", "abs".
        smoothable: True when :func:`smooth_surrogate` replaces it.
    """

    name: str
    kind: str
    smoothable: bool

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


def _activation_name(fn) -> str | None:
    """The Keras name of an activation function (or None for a custom callable)."""
    if fn is None:
        return None
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # a custom callable Keras cannot name
        return getattr(fn, "__name__", None)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return name if isinstance(name, str) else None


def _walk(model):
    """Every layer and functional operation of ``model``, nested models included."""
    seen = set()
    stack = [model]
    while stack:
        node = stack.pop()
        for op in list(getattr(node, "operations", None) or getattr(node, "layers", [])):
            if id(op) in seen:
                continue
            seen.add(id(op))
            yield op
            if isinstance(op, keras.Model):
                stack.append(op)
            inner = getattr(op, "layer", None)  # wrappers such as TimeDistributed
            if isinstance(inner, keras.layers.Layer):
                yield inner


def _classify(op) -> PiecewiseLinearPiece | None:
    """The piece ``op`` is, if it is piecewise linear; else None."""
    name = getattr(op, "name", type(op).__name__)
    if isinstance(op, keras.layers.ReLU | keras.layers.LeakyReLU):
        return PiecewiseLinearPiece(name, "relu layer", _relu_layer_smoothable(op))
    if isinstance(op, _MAX_POOLING):
        return PiecewiseLinearPiece(name, "max pooling", True)
    if isinstance(op, _OTHER_MAX_POOLING):
        return PiecewiseLinearPiece(name, "max pooling", False)
    if isinstance(op, keras.layers.Maximum | keras.layers.Minimum):
        return PiecewiseLinearPiece(name, "element-wise maximum/minimum", False)
    op_kind = _PIECEWISE_OPS.get(type(op).__name__)
    if op_kind is not None and type(op).__module__.startswith("keras"):
        return PiecewiseLinearPiece(name, op_kind, op_kind in ("abs", "clip"))
    activation = _activation_name(getattr(op, "activation", None))
    if activation in _RELU_FAMILY:
        return PiecewiseLinearPiece(name, f"{activation} activation", True)
    return None


def _relu_layer_smoothable(layer) -> bool:
    return float(getattr(layer, "threshold", 0.0) or 0.0) == 0.0


def piecewise_linear_layers(model) -> list[PiecewiseLinearPiece]:
    """The pieces of a Keras model whose second derivative is zero or ill-defined.

    ReLU-family activations (relu, relu6, leaky ReLU, hard sigmoid/silu/tanh) as
    layers or as the ``activation`` of Dense/Conv layers, max pooling, and the
    functional operations ``abs``, ``clip``, ``maximum`` and ``minimum``. Nested
    models and wrappers are searched.

    Args:
        model: a Keras model or layer. Anything else (a plain callable, a
            SavedModel) cannot be inspected and gives an empty list.

    Returns:
        The pieces found, in model order: each has ``name``, ``kind`` and
        ``smoothable`` (whether :func:`smooth_surrogate` replaces it).
    """
    if not isinstance(model, keras.layers.Layer):
        return []
    if not isinstance(model, keras.Model):
        piece = _classify(model)
        return [piece] if piece is not None else []
    return [piece for piece in map(_classify, _walk(model)) if piece is not None]


# ---------------------------------------------------------------- smooth functions
def _sp(x, beta):
    """softplus(beta x) / beta: a smooth relu, at most log(2) / beta above it."""
    return tf.math.softplus(beta * x) / beta


def _smooth_clip(x, low, high, beta):
    return low + _sp(x - low, beta) - _sp(x - high, beta)


def _smooth_activation(name: str, beta: float, slope: float = 0.0, max_value=None):
    """A smooth stand-in for the ReLU-family activation ``name``."""

    def smooth(x):
        x = tf.convert_to_tensor(x)
        if name == "hard_tanh":
            return _smooth_clip(x, -1.0, 1.0, beta)
        if name in ("hard_sigmoid", "hard_silu"):
            gate = _smooth_clip(x / 6.0 + 0.5, 0.0, 1.0, beta)
            return gate if name == "hard_sigmoid" else x * gate
        out = slope * x + (1.0 - slope) * _sp(x, beta)
        cap = 6.0 if name == "relu6" else max_value
        if cap is not None:
            out = out - (1.0 - slope) * _sp(x - cap, beta)
        return out

    smooth.__name__ = f"smooth_{name}"
    return smooth


class SmoothMaxPooling1D(keras.layers.Layer):
    """Max pooling over time with the maximum replaced by ``tau * logsumexp(. / tau)``.

    Takes the configuration of ``keras.layers.MaxPooling1D`` (channels-last) and a
    ``temperature`` tau; the output is at most ``tau * log(pool_size)`` above the max.
    Inputs ``(N, T, C)`` -> ``(N, T_out, C)``, ``T_out`` as for max pooling.
    """

    def __init__(self, pool_size, strides, padding, temperature, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(np.ravel(pool_size)[0])
        self.strides = int(np.ravel(strides if strides is not None else pool_size)[0])
        self.padding = padding.lower()
        self.temperature = float(temperature)

    def call(self, x):
        tau = self.temperature
        if self.padding == "same":
            steps = tf.shape(x)[1]
            out_steps = -(-steps // self.strides)
            total = tf.maximum((out_steps - 1) * self.strides + self.pool_size - steps, 0)
            # Padded cells must not count: a very low value adds exp(-huge) = 0.
            x = tf.pad(
                x, [[0, 0], [total // 2, total - total // 2], [0, 0]], constant_values=-1e9 * tau
            )
        windows = tf.signal.frame(x, self.pool_size, self.strides, axis=1)  # (N, W, k, C)
        return tau * tf.reduce_logsumexp(windows / tau, axis=2)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            if self.padding == "same":
                steps = -(-steps // self.strides)
            else:
                steps = (steps - self.pool_size) // self.strides + 1
        return (input_shape[0], steps, input_shape[2])


class SmoothGlobalMaxPooling1D(keras.layers.Layer):
    """Global max pooling over time as ``tau * logsumexp(. / tau)`` over the steps.

    ``(N, T, C)`` -> ``(N, C)`` (``(N, 1, C)`` with ``keepdims``); at most
    ``tau * log(T)`` above the maximum.
    """

    def __init__(self, temperature, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.keepdims = bool(keepdims)

    def call(self, x):
        tau = self.temperature
        return tau * tf.reduce_logsumexp(x / tau, axis=1, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, input_shape[2])
        return (input_shape[0], input_shape[2])


class _SmoothAbs(keras.layers.Layer):
    def __init__(self, beta, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, x):
        return _sp(x, self.beta) + _sp(-x, self.beta) - 2.0 * math.log(2.0) / self.beta


class _SmoothClip(keras.layers.Layer):
    def __init__(self, low, high, beta, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.beta = float(low), float(high), float(beta)

    def call(self, x):
        return _smooth_clip(x, self.low, self.high, self.beta)


def _replacement(op, beta: float, temperature: float):
    """A smooth clone of ``op`` (a layer or functional operation) or a plain clone."""
    piece = _classify(op)
    is_layer = isinstance(op, keras.layers.Layer)
    if piece is None or not piece.smoothable:
        if not is_layer or isinstance(op, keras.layers.InputLayer):
            return op  # operations and inputs carry no state: reuse them
        return op.__class__.from_config(op.get_config())
    name = f"smooth_{op.name}"
    if isinstance(op, keras.layers.MaxPooling1D):
        if op.data_format != "channels_last":
            raise ValueError(
                f"smooth_surrogate supports channels-last max pooling only; layer "
                f"{op.name!r} has data_format={op.data_format!r}."
            )
        return SmoothMaxPooling1D(
            op.pool_size, op.strides, op.padding, temperature, name=name, dtype=op.dtype_policy
        )
    if isinstance(op, keras.layers.GlobalMaxPooling1D):
        if op.data_format != "channels_last":
            raise ValueError(
                f"smooth_surrogate supports channels-last max pooling only; layer "
                f"{op.name!r} has data_format={op.data_format!r}."
            )
        return SmoothGlobalMaxPooling1D(
            temperature, keepdims=op.keepdims, name=name, dtype=op.dtype_policy
        )
    if isinstance(op, keras.layers.LeakyReLU):
        slope = float(op.negative_slope)
        return keras.layers.Activation(_smooth_activation("leaky_relu", beta, slope), name=name)
    if isinstance(op, keras.layers.ReLU):
        fn = _smooth_activation(
            "relu", beta, float(op.negative_slope or 0.0), _none_or_float(op.max_value)
        )
        return keras.layers.Activation(fn, name=name)
    if piece.kind == "abs":
        return _SmoothAbs(beta, name=name)
    if piece.kind == "clip":
        return _SmoothClip(op.x_min, op.x_max, beta, name=name)
    # a layer whose `activation` is in the ReLU family (Dense, Conv1D, Activation, ...)
    activation = _activation_name(op.activation)
    slope = 0.2 if activation == "leaky_relu" else 0.0  # keras.activations.leaky_relu default
    config = op.get_config()
    clone = op.__class__.from_config(config)
    clone.activation = _smooth_activation(_RELU_FAMILY[activation], beta, slope)
    return clone


def _none_or_float(value):
    return None if value is None else float(value)


def smooth_surrogate(model, beta: float = DEFAULT_BETA, *, temperature: float | None = None):
    """A smooth copy of a piecewise-linear Keras model, with the same weights.

    Every ReLU-family activation becomes a softplus of sharpness ``beta`` and every
    1-D max pooling a log-sum-exp smooth maximum with temperature ``temperature``;
    ``abs`` and ``clip`` operations get the same softplus smoothing (see the module
    docstring for the formulas). All other layers are cloned unchanged and all
    weights copied, so the surrogate approaches the model as ``beta`` grows, while
    its Hessians exist, are symmetric and integrate to its gradients.

    Args:
        model: a Sequential or functional Keras model (nested models included).
        beta: sharpness of the softplus (> 0). Larger is closer to the model but
            with curvature concentrated near the kinks; choose it on the scale of
            the pre-activations (10 for standardised inputs and unit-scale layers),
            and check :func:`surrogate_gap`.
        temperature: of the smooth maximum (> 0); default ``1 / beta``.

    Returns:
        A new ``keras.Model`` taking the same inputs; ``model`` itself is unchanged.
        A warning names the pieces it could not smooth (2-D/3-D max pooling,
        element-wise maximum/minimum, ReLU layers with a nonzero threshold).

    Raises:
        TypeError: ``model`` is not a Sequential or functional Keras model
            (subclassed models and plain callables cannot be cloned).
        ValueError: ``beta`` or ``temperature`` is not a positive finite number, or a
            max pooling layer is channels-first.
    """
    beta = _check_positive_float(beta, "beta")
    temperature = (
        1.0 / beta if temperature is None else _check_positive_float(temperature, "temperature")
    )
    if not isinstance(model, keras.Sequential) and not _is_functional(model):
        raise TypeError(
            "smooth_surrogate needs a Sequential or functional Keras model (it clones "
            f"the layer graph). Received: model of type {type(model).__name__}. For a "
            "subclassed model, build the smooth version yourself (e.g. activation="
            "'softplus')."
        )
    surrogate = keras.models.clone_model(
        model,
        clone_function=lambda op: _replacement(op, beta, temperature),
        recursive=True,
    )
    surrogate.set_weights(model.get_weights())
    left = [piece for piece in piecewise_linear_layers(model) if not piece.smoothable]
    if left:
        warnings.warn(
            "smooth_surrogate kept these pieces as they are (no smooth replacement): "
            + ", ".join(map(str, left))
            + "; the surrogate's Hessians are not reliable there.",
            UserWarning,
            stacklevel=2,
        )
    return surrogate


def _is_functional(model) -> bool:
    return isinstance(model, keras.Model) and hasattr(model, "_run_through_graph")


def _check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"`{name}` must be a positive number. Received: {name}={value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive finite number. Received: {name}={value}.")
    return value


@dataclasses.dataclass(frozen=True)
class SurrogateGap:
    """How far a smooth surrogate's outputs are from the model's on some inputs.

    Attributes:
        max_abs: ``max |surrogate(x) - model(x)|`` over inputs and outputs.
        max_rel: ``max_abs`` divided by the range of the model's outputs on them
            (``max - min``, or ``max |model(x)|`` for one value).
        per_input: ``(N,)`` the largest absolute gap of each input.
    """

    max_abs: float
    max_rel: float
    per_input: np.ndarray

    def __str__(self) -> str:
        return (
            f"max |surrogate - model| = {self.max_abs:.3g} ({self.max_rel:.2%} of the output range)"
        )


def surrogate_gap(model, surrogate, inputs, *, batch_size: int = 256) -> SurrogateGap:
    """Compare a surrogate's outputs with the model's on ``inputs``.

    Args:
        model: the original model (any callable on a float batch).
        surrogate: its smooth copy (from :func:`smooth_surrogate`).
        inputs: ``(N, *x_shape)`` floats, e.g. the inputs (and baselines) explained.
        batch_size: rows per model call.

    Returns:
        A :class:`SurrogateGap`.

    Raises:
        ValueError: ``inputs`` are not a finite float array of rank >= 2.
    """
    x = as_float_array(inputs, "inputs", min_rank=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    outs, smooth = [], []
    for start in range(0, len(x), batch_size):
        chunk = tf.constant(x[start : start + batch_size])
        outs.append(np.asarray(_call(model, chunk), np.float64))
        smooth.append(np.asarray(_call(surrogate, chunk), np.float64))
    out, approx = np.concatenate(outs), np.concatenate(smooth)
    gap = np.abs(approx - out).reshape(len(x), -1)
    spread = float(out.max() - out.min()) if out.size > 1 and len(x) > 1 else 0.0
    scale = spread if spread > 0 else max(float(np.abs(out).max()), 1e-12)
    max_abs = float(gap.max()) if gap.size else 0.0
    return SurrogateGap(max_abs=max_abs, max_rel=max_abs / scale, per_input=gap.max(axis=1))


def _call(model, batch):
    if isinstance(model, keras.layers.Layer):
        return model(batch, training=False)
    return model(batch)
