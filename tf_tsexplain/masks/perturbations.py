"""Perturbation operators: Keras layers mapping ``(inputs, mask)`` to perturbed inputs.

Every operator is called as ``layer(inputs, mask)`` with ``inputs`` of shape
``(..., T, F)`` and ``mask`` of shape ``(..., T, F)``, the leading axes broadcasting
against each other the numpy way (aligned from the right). That vectorises over a
batch of series and over several masks per series at once: inputs ``(N, T, F)`` with
masks ``(A, N, T, F)`` give perturbed series ``(A, N, T, F)``. Time is axis -2.

A mask value m = 1 keeps a cell, m = 0 replaces it by its perturbed version; every
operator returns its input exactly where m = 1 (for GaussianBlur up to the ``eps``
width of the kernel, i.e. exactly in float32).

Padded sequences: the operators of this module take ``real`` (``(..., T, 1)``, 1 on
real steps, 0 on padded ones; they say so with ``handles_padding = True``) and then
perturb each series as if it held only its real steps: averages and blurs see no
padded step. The caller (the mask layer) keeps padded cells themselves unchanged.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._validation import check_int, check_real


def _time_steps(x: tf.Tensor) -> int:
    t = x.shape[-2]
    if t is None:
        raise ValueError("The time axis (axis -2) of the inputs must have a static length.")
    return int(t)


def _window_average(x: tf.Tensor, inside: np.ndarray, real=None) -> tf.Tensor:
    """``out[..., t, f]``: the mean of ``x[..., s, f]`` over the steps s with
    ``inside[t, s]`` (a ``(T, T)`` 0/1 window) that are real (all without ``real``)."""
    if real is None:
        w = tf.constant(inside / inside.sum(axis=1, keepdims=True), x.dtype)
        return tf.einsum("ts,...sf->...tf", w, x)
    w = tf.constant(inside, x.dtype)
    real = tf.cast(real, x.dtype)
    num = tf.einsum("ts,...sf->...tf", w, x * real)
    den = tf.einsum("ts,...sf->...tf", w, real)
    # a padded step far from real ones has none in its window; its value is not used
    return num / tf.where(den > 0, den, tf.ones_like(den))


class Perturbation(keras.layers.Layer):
    """Base class: ``call(inputs, mask)`` returns the perturbed inputs.

    Subclasses implement ``call``; the result has the broadcast shape of
    ``inputs`` and ``mask``. A subclass that can perturb padded sequences takes a
    third argument ``real`` (see the module docstring) and sets ``handles_padding``.
    """

    handles_padding = False

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)

    def compute_output_shape(self, inputs_shape, mask_shape=None):
        if mask_shape is None:
            return inputs_shape
        return tuple(np.broadcast_shapes(tuple(inputs_shape), tuple(mask_shape)))


class FadeMovingAverage(Perturbation):
    """Fade each cell towards its feature's mean over time.

    ``X'[t, f] = m[t, f] X[t, f] + (1 - m[t, f]) mean_s X[s, f]`` (s over real steps).
    """

    handles_padding = True

    def call(self, inputs, mask, real=None):
        mask = tf.cast(mask, inputs.dtype)
        if real is None:
            mean = tf.reduce_mean(inputs, axis=-2, keepdims=True)
        else:
            real = tf.cast(real, inputs.dtype)
            total = tf.reduce_sum(inputs * real, axis=-2, keepdims=True)
            mean = total / tf.reduce_sum(real, axis=-2, keepdims=True)
        return mask * inputs + (1.0 - mask) * mean


class FadeReference(Perturbation):
    """Fade each cell towards a reference value.

    ``X'[t, f] = R[t, f] + m[t, f] (X[t, f] - R[t, f])``.

    Args:
        reference: an array broadcastable to the inputs: a scalar, ``(F,)``,
            ``(T, F)`` or ``(N, T, F)``.
    """

    handles_padding = True  # nothing crosses time steps

    def __init__(self, reference, **kwargs):
        super().__init__(**kwargs)
        ref = np.asarray(reference)
        if ref.dtype == bool or not (
            np.issubdtype(ref.dtype, np.integer) or np.issubdtype(ref.dtype, np.floating)
        ):
            raise TypeError(
                f"`reference` must be real numbers. Received: reference={reference!r} "
                f"(dtype {ref.dtype})."
            )
        if not np.all(np.isfinite(ref)):
            raise ValueError(f"`reference` must be finite. Received: reference={reference!r}.")
        self.reference = ref.astype(np.float32)

    def call(self, inputs, mask, real=None):
        mask = tf.cast(mask, inputs.dtype)
        ref = tf.constant(self.reference, inputs.dtype)
        return ref + mask * (inputs - ref)

    def get_config(self):
        return {**super().get_config(), "reference": self.reference.tolist()}


class FadeMovingAverageWindow(Perturbation):
    """Fade each cell towards a centred moving average of its feature.

    ``A[t, f] = mean_{s : |s - t| <= W, 0 <= s < T} X[s, f]`` and
    ``X'[t, f] = A[t, f] + m[t, f] (X[t, f] - A[t, f])``.

    Near the edges the average is over the steps that exist (the reference divides by
    ``2W + 1`` there, shrinking edge averages towards 0).

    Args:
        window_size: W >= 0, steps on each side.
    """

    handles_padding = True

    def __init__(self, window_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.window_size = check_int(window_size, "window_size", min_val=0)

    def _window(self, t: int) -> np.ndarray:
        idx = np.arange(t)
        return (np.abs(idx[:, None] - idx[None, :]) <= self.window_size) * 1.0

    def call(self, inputs, mask, real=None):
        mask = tf.cast(mask, inputs.dtype)
        avg = _window_average(inputs, self._window(_time_steps(inputs)), real)
        return avg + mask * (inputs - avg)

    def get_config(self):
        return {**super().get_config(), "window_size": self.window_size}


class FadeMovingAveragePastWindow(FadeMovingAverageWindow):
    """Fade each cell towards a causal moving average (past and present only).

    ``A[t, f] = mean_{s : t - W <= s <= t, s >= 0} X[s, f]`` and
    ``X'[t, f] = A[t, f] + m[t, f] (X[t, f] - A[t, f])``: the perturbed value at t
    never depends on a future step (the reference averages over all past steps).

    Args:
        window_size: W >= 0, past steps included besides t itself.
    """

    def _window(self, t: int) -> np.ndarray:
        idx = np.arange(t)
        lag = idx[:, None] - idx[None, :]
        return ((lag >= 0) & (lag <= self.window_size)) * 1.0


def _unbroadcast(grad: tf.Tensor, shape: tf.TensorShape) -> tf.Tensor:
    """Sum ``grad`` over the axes along which a tensor of ``shape`` was broadcast."""
    extra = grad.shape.rank - shape.rank
    if extra:
        grad = tf.reduce_sum(grad, axis=list(range(extra)))
    axes = [i for i, d in enumerate(shape) if d == 1 and grad.shape[i] != 1]
    if axes:
        grad = tf.reduce_sum(grad, axis=axes, keepdims=True)
    return grad


def _folded_blur(inv: tf.Tensor, pairs: list, counts: list) -> tf.Tensor:
    """``sum_j w_j pairs[j] / sum_j w_j counts[j]`` with ``w_j = exp(-inv j^2)``.

    One elementwise pass per lag, accumulated: compiled with XLA this fuses into one
    loop over the cells with no ``(..., K+1)`` intermediate, which is what makes
    large batches of masks fast. The gradient is written out the same way:
    ``d out / d inv = -(sum j^2 w_j pairs[j] - out sum j^2 w_j counts[j]) / den``.
    """

    def sums(inv, weight_of_lag):
        num = den = 0.0
        for j, (pair, count) in enumerate(zip(pairs, counts, strict=True)):
            w = weight_of_lag(j)
            num, den = num + w * pair, den + w * count
        return num, den

    @tf.custom_gradient
    def blur(inv, *pair_args):
        num, den = sums(inv, lambda j: tf.exp(-inv * float(j * j)))
        out = num / den

        def grad(upstream):
            g = upstream / den
            num2, den2 = sums(inv, lambda j: float(j * j) * tf.exp(-inv * float(j * j)))
            d_inv = _unbroadcast(-g * (num2 - out * den2), inv.shape)
            d_pairs = []
            for j, pair in enumerate(pair_args):
                w = tf.exp(-inv * float(j * j)) if j else tf.ones_like(inv)
                d_pairs.append(_unbroadcast(g * w, pair.shape))
            return (d_inv, *d_pairs)

        return out, grad

    return blur(inv, *pairs)


class GaussianBlur(Perturbation):
    """Blur each cell over time with a Gaussian whose width grows as the mask falls.

    ``sigma[t, f] = sigma_max (1 + eps - m[t, f])`` and
    ``X'[t, f] = sum_s w(t, s, f) X[s, f] / sum_s w(t, s, f)`` with
    ``w(t, s, f) = exp(-(t - s)^2 / (2 sigma[t, f]^2))``, s over ``0..T-1``.

    m = 1 gives a kernel of width ``sigma_max * eps``: the cell itself. Lags
    ``|t - s| > K`` with ``K = ceil(6.5 (1 + eps) sigma_max)`` are skipped: their weight
    is below ``exp(-21) ~ 1e-9`` of the central weight, so the result equals the full
    sum to float32 precision, at a cost proportional to ``2K + 1`` instead of T per cell.

    Args:
        sigma_max: the widest kernel (m = 0), in time steps.
        eps: keeps the width positive at m = 1; must be > 0.
    """

    handles_padding = True

    def __init__(self, sigma_max: float = 2.0, eps: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.sigma_max = check_real(sigma_max, "sigma_max", min_val=0.0, include_min=False)
        # eps keeps the kernel width positive at m = 1
        self.eps = check_real(eps, "eps", min_val=0.0, include_min=False)

    def call(self, inputs, mask, real=None):
        mask = tf.cast(mask, inputs.dtype)
        t = _time_steps(inputs)
        k = min(t - 1, math.ceil(6.5 * (1.0 + self.eps) * self.sigma_max))
        sigma = self.sigma_max * (1.0 + self.eps - mask)
        inv = 0.5 / tf.square(sigma)  # (..., T, F)
        # Lags +j and -j share a weight: add their values first. pairs[j][..., t, f] =
        # X[t + j, f] + X[t - j, f] (each 0 outside the series; X[t] once for j = 0),
        # counts[j][t] = how many of the two exist.
        # With padding, padded steps count as outside the series: their values and
        # counts are 0 (the cell itself keeps weight 1 so that the sums of padded
        # cells, whose values are not used, stay finite).
        values = inputs if real is None else inputs * tf.cast(real, inputs.dtype)
        pad = [[0, 0]] * (inputs.shape.rank - 2) + [[k, k], [0, 0]]
        padded = tf.pad(values, pad)
        pairs = [inputs]
        pairs += [
            padded[..., k + j : k + j + t, :] + padded[..., k - j : k - j + t, :]
            for j in range(1, k + 1)
        ]
        if real is None:
            steps = np.arange(t)
            counts = [np.ones(t)]
            counts += [(steps + j < t) * 1.0 + (steps - j >= 0) for j in range(1, k + 1)]
            counts = [tf.constant(c.astype(np.float64)[:, None], inputs.dtype) for c in counts]
        else:
            exists = tf.pad(
                tf.cast(real, inputs.dtype), [[0, 0]] * (real.shape.rank - 2) + pad[-2:]
            )
            counts = [tf.ones_like(exists[..., k : k + t, :])]
            counts += [
                exists[..., k + j : k + j + t, :] + exists[..., k - j : k - j + t, :]
                for j in range(1, k + 1)
            ]
        return _folded_blur(inv, pairs, counts)

    def get_config(self):
        return {**super().get_config(), "sigma_max": self.sigma_max, "eps": self.eps}
