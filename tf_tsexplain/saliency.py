"""Simple attribution methods: gradients and perturbations.

Every class is an :class:`~tf_tsexplain.Explainer` built from a model (a Keras model
or a callable on float batches) and has ``attributions(inputs, [baseline,] *, ...,
output_indices=None, batch_size=None, seed=None, verbose=False)``: ``inputs`` are
``(N, *x_shape)`` (``(N, T, F)`` sequences), results have the inputs' shape (with
leading output axes when ``output_indices=None`` on a model with several outputs),
float32 unless the inputs are float64. Everything after ``inputs`` (and ``baseline``
for the perturbation methods that have one) is keyword-only.

- :class:`Saliency`: the gradient ``d f / d x`` (optionally its absolute value).
- :class:`InputXGradient`: ``x * d f / d x``.
- :class:`SmoothGrad`: the gradient averaged over noisy copies ``x + N(0, s^2)``.
- :class:`Occlusion`: ``f(x) - f(x with a sliding window set to the baseline)``,
  averaged over the windows covering each cell.
- :class:`FeatureAblation`: ``f(x) - f(x with a group of cells set to the baseline)``.
- :class:`FeaturePermutation`: ``f(x) - f(x with a group of cells taken from another
  input of the batch)``.

Computation: one compiled ``tf.function`` per input shape and dtype, traced once
(the batch axis of its signature is ``None``); gradient rows (inputs, noisy copies)
and perturbed copies are built in batches of at most ``batch_size`` rows.
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import chunks
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._targets import select_output
from tf_tsexplain._validation import as_float_array, check_bool, check_positive_int, check_real

__all__ = [
    "FeatureAblation",
    "FeaturePermutation",
    "InputXGradient",
    "Occlusion",
    "Saliency",
    "SmoothGrad",
]


class _ModelMethod(Explainer):
    """Shared parts of the simple methods: checked inputs, targets and chunk size."""

    def _prepare(self, x, output_indices, batch_size, seed, verbose):
        """Checked ``(targets (runs, N), leading axes, rows per call, verbose)`` for
        rows ``x`` (from :meth:`_rows`)."""
        batch_size, _, verbose = self._check_common(batch_size, seed, verbose)
        targets, leading = self._targets(x, output_indices, batch_size)
        return targets, leading, self._rows_per_call(x, batch_size), verbose

    def _finish(self, result, leading, frozen):
        """Zero on padded cells, leading output axes, the inputs' structure."""
        if frozen is not None:
            result = np.where(frozen, 0.0, result).astype(result.dtype)
        return self._restructure(self._shape_result(result, leading))

    def _fn(self, kind: str, x: np.ndarray, builder):
        return self._function(
            (kind, x.shape[1:], x.dtype.name), lambda: builder(self._model_fn, x.shape[1:], x.dtype)
        )


# ---------------------------------------------------------------------- gradients
def _gradient_sums(model_fn, x_shape, dtype, absolute=False):
    """Compiled: per-input sums of ``weight * grad f(row)`` (or ``|grad|``) over a chunk."""
    tf_dtype = tf.as_dtype(dtype)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None,) + tuple(x_shape), tf_dtype),  # rows
            tf.TensorSpec((None,), tf_dtype),  # weight per row
            tf.TensorSpec((None,), tf.int32),  # target per row
            tf.TensorSpec((None,), tf.int32),  # input of the row, from 0 in the chunk
            tf.TensorSpec((), tf.int32),  # number of inputs in the chunk
        ]
    )
    def gradient_sums(rows, weights, target, segment, n_seg):
        with tf.GradientTape() as tape:
            tape.watch(rows)
            y = select_output(tf.cast(model_fn(rows), rows.dtype), target)
        grads = tape.gradient(y, rows)
        if absolute:  # Python bool: decided at trace time
            grads = tf.abs(grads)
        weighted = tf.reshape(weights, [-1] + [1] * len(x_shape)) * grads
        return tf.math.unsorted_segment_sum(weighted, segment, n_seg)

    return gradient_sums


class _GradientMethod(_ModelMethod):
    derivative_order = 1

    def _gradients(
        self,
        x,
        targets,
        batch_size,
        verbose,
        noise=None,
        sigma=None,
        absolute=False,
        frozen=None,
        step_of=None,
    ):
        """Mean gradient (or ``|gradient|``) per input over ``S`` rows ``x + sigma_n *
        noise[s]``.

        ``noise`` is ``(S, *x_shape)`` (None: one row per input, the input itself).
        With ``step_of`` (``(N, T)``, see ``_noise_draws``), the noise of row ``n`` at
        step t is ``noise[s, step_of[n, t]]``. Rows are ordered input by input, so
        each chunk covers consecutive inputs.
        """
        fn = self._function(
            ("gradients", x.shape[1:], x.dtype.name, absolute),
            lambda: _gradient_sums(self._model_fn, x.shape[1:], x.dtype, absolute),
        )
        n = len(x)
        s = 1 if noise is None else len(noise)
        n_rows = n * s
        runs = targets.shape[0]
        result = np.zeros((runs, n) + x.shape[1:], x.dtype)
        input_index = np.repeat(np.arange(n), s)
        sample_index = np.tile(np.arange(s), n)
        weights = np.full(n_rows, 1.0 / s, x.dtype)
        progress = self._progress(runs * n_rows, verbose)
        for run in range(runs):
            for start, stop in chunks(n_rows, batch_size):
                idx = input_index[start:stop]
                rows = x[idx]
                if noise is not None:
                    scale = sigma[idx].reshape((-1,) + (1,) * (x.ndim - 1))
                    samples = sample_index[start:stop]
                    if step_of is None:
                        draws = noise[samples]
                    else:
                        draws = noise[samples[:, None], step_of[idx]]
                    noisy = rows + scale * draws
                    # padded cells stay padding
                    rows = noisy if frozen is None else np.where(frozen[idx], rows, noisy)
                first = idx[0]
                summed = fn(
                    rows.astype(x.dtype),
                    weights[start:stop],
                    targets[run][idx].astype(np.int32),
                    (idx - first).astype(np.int32),
                    np.int32(idx[-1] - first + 1),
                )
                result[run, first : idx[-1] + 1] += summed.numpy()
                progress.advance(stop - start)
        return result


def _noise_draws(seed, samples: int, x: np.ndarray, frozen) -> tuple[np.ndarray, np.ndarray | None]:
    """``(noise (S, *x_shape), step_of)``: SmoothGrad's draws ``z_s``, shared by all inputs.

    For sequences ``(N, T, F)`` the draws are made time step by time step, so the
    draws of a shorter sequence are a prefix of those of a longer one; with padding,
    ``step_of`` (``(N, T)``) gives each step its rank among its sequence's real steps,
    so the j-th real step of every sequence gets draw j, wherever the padding is: a
    padded sequence gets the noise of the same sequence without padding.
    """
    rng = np.random.default_rng(seed)
    if x.ndim != 3:
        return rng.standard_normal((samples,) + x.shape[1:]).astype(x.dtype), None
    t, f = x.shape[1:]
    noise = rng.standard_normal((t, samples, f)).astype(x.dtype).transpose(1, 0, 2)
    if frozen is None:
        return noise, None
    real = ~frozen[:, :, 0]
    return noise, np.where(real, np.cumsum(real, axis=1) - 1, 0)


class Saliency(_GradientMethod):
    """The gradient of the explained output with respect to the input.

    Args:
        model: a Keras model or a callable mapping ``(rows, *x_shape)`` floats to
            ``(rows, *output_shape)`` with TensorFlow ops.
        absolute: return ``|d f / d x|`` (captum's default) instead of the signed
            gradient.
        allow_nonfinite: accept NaN/Inf inputs.

    Cost: one gradient row per input.
    """

    def __init__(
        self,
        model,
        absolute: bool = False,
        allow_nonfinite: bool = False,
        *,
        memory_budget: int | None = None,
    ):
        super().__init__(model, allow_nonfinite=allow_nonfinite, memory_budget=memory_budget)
        self.absolute = check_bool(absolute, "absolute")

    def attributions(
        self,
        inputs,
        *,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """Gradients ``(N, *x_shape)`` of the explained output at each input.

        Args:
            inputs: ``(N, *x_shape)`` floats, e.g. ``(N, T, F)``.
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: unused (deterministic method); accepted for a uniform signature.
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        ``inputs`` of a multi-input model are a list/tuple/dict of arrays; results
        come back in that structure. Every method of this module takes them (the
        perturbation methods occlude single cells over the flat layout of all
        inputs, see :mod:`tf_tsexplain._structure`).

        Returns:
            Gradients (``|gradients|`` if ``absolute``), shaped like ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
        """
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        grads = self._gradients(x, targets, rows, verbose)
        return self._finish(np.abs(grads) if self.absolute else grads, leading, frozen)


class InputXGradient(_GradientMethod):
    """Input times gradient, ``x * d f / d x``; one gradient row per input."""

    def attributions(
        self,
        inputs,
        *,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """``(N, *x_shape)`` input-times-gradient maps.

        Args:
            inputs: ``(N, *x_shape)`` floats, e.g. ``(N, T, F)``; a list/tuple/dict of
                arrays for a multi-input model.
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: unused (deterministic method); accepted for a uniform signature.
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        Returns:
            ``x * d f / d x``, shaped like the inputs ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
        """
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        return self._finish(x * self._gradients(x, targets, rows, verbose), leading, frozen)


class SmoothGrad(_GradientMethod):
    """The gradient averaged over noisy copies of the input (SmoothGrad).

    ``phi(x) = 1/S sum_s g(x + sigma(x) z_s)``, ``z_s ~ N(0, I)``. The noise standard
    deviation ``sigma`` is either

    - relative (default): ``sigma(x) = noise_level * (max(x) - min(x))``, the
      SmoothGrad paper's noise scale, relative to each input's value range (so it
      changes when cells holding an input's max or min change); or
    - absolute: ``stdevs``, a number for every input (captum's ``stdevs``) or one
      value per input ``(N,)``.

    The draws ``z_s`` depend on ``seed`` only, and the same ``S`` draws are used for
    every input (common random numbers): two inputs that differ in a few cells get
    maps that differ because of those cells, not because of different noise. This is
    what TSR's differences of maps need; :class:`TemporalSaliencyRescaling` also
    gives every masked copy the noise scale of its unmasked input (see
    :meth:`noise_stdevs`), so masking a cell that holds an input's max or min does not
    change the noise.

    Args:
        model: as :class:`Saliency`.
        absolute: average ``|g|`` instead of ``g``.
        allow_nonfinite: accept NaN/Inf inputs.

    Cost: ``num_samples`` gradient rows per input.
    """

    DEFAULT_NOISE_LEVEL = 0.15

    def __init__(
        self,
        model,
        absolute: bool = False,
        allow_nonfinite: bool = False,
        *,
        memory_budget: int | None = None,
    ):
        super().__init__(model, allow_nonfinite=allow_nonfinite, memory_budget=memory_budget)
        self.absolute = check_bool(absolute, "absolute")

    def attributions(
        self,
        inputs,
        *,
        num_samples: int = 50,
        noise_level: float | None = None,
        stdevs=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """``(N, *x_shape)`` smoothed gradients.

        Args:
            inputs: ``(N, *x_shape)`` floats, e.g. ``(N, T, F)``; a list/tuple/dict of
                arrays for a multi-input model.
            num_samples: S, noisy copies per input.
            noise_level: relative noise: the standard deviation as a fraction of each
                input's value range (>= 0; default 0.15 when ``stdevs`` is None).
            stdevs: absolute noise standard deviation (>= 0): a number for all inputs
                or an array ``(N,)`` with one per input. Give ``noise_level`` or
                ``stdevs``, not both.
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: seed of the noise draws (same seed, same result, whatever
                ``batch_size``).
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        Returns:
            The mean gradient over the noisy copies, shaped like the inputs ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
            ValueError: both ``noise_level`` and ``stdevs`` given.
        """
        s = check_positive_int(num_samples, "num_samples")
        if stdevs is not None and noise_level is not None:
            raise ValueError(
                "Give `noise_level` (relative to each input's range) or `stdevs` "
                "(absolute), not both."
            )
        if noise_level is not None:
            check_real(noise_level, "noise_level", min_val=0)
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        sigma = None if stdevs is None else _check_stdevs(stdevs, len(x)).astype(x.dtype)
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        if sigma is None:
            sigma = self._noise_scale(x, noise_level, frozen)
        noise, step_of = _noise_draws(seed, s, x, frozen)
        result = self._gradients(
            x,
            targets,
            rows,
            verbose,
            noise,
            sigma,
            absolute=self.absolute,
            frozen=frozen,
            step_of=step_of,
        )
        return self._finish(result, leading, frozen)

    def _per_input_arguments(self, inputs, arguments) -> dict:
        """Copies keep their input's noise scale: ``noise_level`` becomes per-input
        ``stdevs`` (so masking the cells holding an input's max or min does not
        change the noise), and per-input ``stdevs`` are repeated."""
        stdevs = arguments.get("stdevs")
        if stdevs is None:
            level = arguments.pop("noise_level", None)
            return {"stdevs": self._noise_scale(inputs, level, None)}
        if np.ndim(stdevs) == 1 and len(stdevs) == len(inputs):
            return {"stdevs": np.asarray(stdevs)}
        return {}

    def noise_stdevs(
        self, inputs, noise_level: float | None = None, padding_mask=None
    ) -> np.ndarray:
        """The absolute noise standard deviation ``(N,)`` that ``noise_level`` gives
        each input: ``noise_level * (max(x) - min(x))`` (default level 0.15).

        ``attributions(x, stdevs=self.noise_stdevs(x0, level))`` smooths ``x`` with the
        noise scale of ``x0``; TSR uses it to keep each input's scale for its masked
        copies.

        Args:
            inputs: ``(N, *x_shape)`` floats.
            noise_level: the fraction of each input's value range (>= 0; None: 0.15).
            padding_mask: ``(N, T)`` booleans, True on real steps: the range is taken
                over real cells only.

        Returns:
            ``(N,)`` standard deviations, in the inputs' dtype.
        """
        if noise_level is None:
            noise_level = self.DEFAULT_NOISE_LEVEL
        x, frozen = self._rows(inputs, padding_mask)
        return self._noise_scale(x, noise_level, frozen)

    def _noise_scale(self, x, noise_level, frozen) -> np.ndarray:
        """``noise_level * range`` per row of ``x`` (over its real cells)."""
        if noise_level is None:
            noise_level = self.DEFAULT_NOISE_LEVEL
        noise_level = check_real(noise_level, "noise_level", min_val=0)
        flat = x.reshape(len(x), -1)
        if frozen is not None:  # the range of the real cells only
            real = ~frozen.reshape(len(x), -1)
            high = np.where(real, flat, -np.inf).max(1)
            low = np.where(real, flat, np.inf).min(1)
            return (noise_level * (high - low)).astype(x.dtype)
        return (noise_level * (flat.max(1) - flat.min(1))).astype(x.dtype)


def _check_stdevs(stdevs, n: int) -> np.ndarray:
    """``stdevs`` as ``(n,)`` finite values >= 0 (a number is used for every input)."""
    if isinstance(stdevs, bool):
        raise TypeError(f"`stdevs` must be a number or one number per input, got {stdevs!r}.")
    try:
        arr = np.asarray(stdevs, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`stdevs` must be a number or one number per input, got {stdevs!r}."
        ) from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"`stdevs` must be a number or an array ({n},) with one value per input, "
            f"got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"`stdevs` must be finite numbers >= 0, got {stdevs!r}.")
    return arr


# ---------------------------------------------------------------------- perturbations
def _masked_outputs(model_fn, x_shape, dtype):
    """Compiled: ``f(where(mask, fill, x))`` for rows given by index triples."""
    tf_dtype = tf.as_dtype(dtype)
    shape = (None,) + tuple(x_shape)

    @tf.function(
        input_signature=[
            tf.TensorSpec(shape, tf_dtype),  # inputs
            tf.TensorSpec(shape, tf_dtype),  # fill values
            tf.TensorSpec(shape, tf.bool),  # masks: True = replaced by fill
            tf.TensorSpec(shape, tf.bool),  # cells of padded steps, per input: never replaced
            tf.TensorSpec((None,), tf.int32),  # input per row
            tf.TensorSpec((None,), tf.int32),  # fill per row
            tf.TensorSpec((None,), tf.int32),  # mask per row
            tf.TensorSpec((None,), tf.int32),  # target per row
        ]
    )
    def masked_outputs(
        x_all, fill_all, masks, frozen_all, input_index, fill_index, mask_index, target
    ):
        replaced = tf.gather(masks, mask_index) & ~tf.gather(frozen_all, input_index)
        rows = tf.where(
            replaced,
            tf.gather(fill_all, fill_index),
            tf.gather(x_all, input_index),
        )
        return select_output(tf.cast(model_fn(rows), rows.dtype), target)

    return masked_outputs


class _PerturbationMethod(_ModelMethod):
    """``f(x) - f(x perturbed by mask g)``, spread over the cells of each mask."""

    derivative_order = 0

    def _differences(self, x, fills, fill_of, masks, targets, batch_size, verbose, frozen=None):
        """Attributions ``(runs, N, *x_shape)`` from G boolean masks ``(G, *x_shape)``.

        Row (n, g) replaces the cells of mask g in input n by ``fills[fill_of[n, g]]``.
        Each cell gets the mean of ``f(x) - f(row)`` over the masks covering it (0 if
        none does).
        """
        fn = self._fn("masked", x, _masked_outputs)
        n, g = len(x), len(masks)
        runs = targets.shape[0]
        all_masks = np.concatenate([masks, np.zeros((1,) + masks.shape[1:], bool)])
        # rows: every (input, mask) pair, then each input unmasked (mask index g)
        input_index = np.concatenate([np.repeat(np.arange(n), g), np.arange(n)]).astype(np.int32)
        mask_index = np.concatenate([np.tile(np.arange(g), n), np.full(n, g)]).astype(np.int32)
        fill_index = np.concatenate([fill_of.reshape(-1), np.zeros(n, int)]).astype(np.int32)
        x_t, fill_t, masks_t = tf.constant(x), tf.constant(fills), tf.constant(all_masks)
        frozen_t = tf.constant(np.zeros(x.shape, bool) if frozen is None else frozen)
        flat_masks = masks.reshape(g, -1).astype(x.dtype)
        count = flat_masks.sum(0)
        count[count == 0] = 1.0
        result = np.empty((runs, n) + x.shape[1:], x.dtype)
        progress = self._progress(runs * len(input_index), verbose)
        for run in range(runs):
            values = np.empty(len(input_index), x.dtype)
            row_targets = targets[run][input_index].astype(np.int32)
            for start, stop in chunks(len(input_index), batch_size):
                values[start:stop] = fn(
                    x_t,
                    fill_t,
                    masks_t,
                    frozen_t,
                    input_index[start:stop],
                    fill_index[start:stop],
                    mask_index[start:stop],
                    row_targets[start:stop],
                ).numpy()
                progress.advance(stop - start)
            drops = values[n * g :, None] - values[: n * g].reshape(n, g)  # (N, G)
            result[run] = ((drops @ flat_masks) / count).reshape((n,) + x.shape[1:])
        return result

    @staticmethod
    def _fill_values(baseline, x) -> np.ndarray:
        """Baseline as ``(N, *x_shape)`` fill values (scalar, ``x_shape``, or per input)."""
        b = as_float_array(baseline, "baseline", min_rank=0, dtype=x.dtype)
        try:
            return np.ascontiguousarray(np.broadcast_to(b, x.shape))
        except ValueError:
            raise ValueError(
                f"`baseline` must be a number, an array broadcastable to one input "
                f"{x.shape[1:]}, or one per input {x.shape}; got shape {b.shape}."
            ) from None

    @staticmethod
    def _group_masks(feature_mask, x_shape) -> np.ndarray:
        """Boolean masks ``(G, *x_shape)``, one per distinct id of ``feature_mask``."""
        if feature_mask is None:
            d = int(np.prod(x_shape))
            return np.eye(d, dtype=bool).reshape((d,) + tuple(x_shape))
        ids = np.asarray(feature_mask)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"`feature_mask` must hold integer group ids, got dtype {ids.dtype}.")
        try:
            ids = np.broadcast_to(ids, x_shape)
        except ValueError:
            raise ValueError(
                f"`feature_mask` must be broadcastable to one input's shape {tuple(x_shape)} "
                f"(e.g. shape (1, F) to group features over all time steps); got {ids.shape}."
            ) from None
        return np.stack([ids == gid for gid in np.unique(ids)])


class Occlusion(_PerturbationMethod):
    """Sliding-window occlusion over time and features.

    A window of shape ``window`` (one size per non-batch axis, e.g. ``(time,
    features)``) slides with ``strides``; each position sets the covered cells to the
    baseline. A cell's attribution is the mean of ``f(x) - f(x occluded)`` over the
    windows covering it (cells no window covers get 0). With a ``(1, 1)`` window it is
    exactly ``f(x) - f(x with that cell set to the baseline)``.

    Cost: one model row per window position and input, plus one per input.
    """

    def attributions(
        self,
        inputs,
        baseline=0.0,
        *,
        window=None,
        strides=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """``(N, *x_shape)`` occlusion attributions.

        Args:
            inputs: ``(N, *x_shape)``.
            baseline: value of occluded cells: a number, an array broadcastable to
                one input, or one per input ``(N, *x_shape)``.
            window: window shape, one int per non-batch axis (default all ones: one
                cell at a time).
            strides: step of the window per axis (default 1 on every axis).
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: unused (deterministic method); accepted for a uniform signature.
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        Returns:
            Mean output drops of the windows over each cell, ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
            ValueError: a ``window`` or ``strides`` that does not fit the inputs.
        """
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        x_shape = x.shape[1:]
        window = self._axis_ints(window, x_shape, "window")
        strides = self._axis_ints(strides, x_shape, "strides")
        for axis, (w, size) in enumerate(zip(window, x_shape, strict=True)):
            if w > size:
                raise ValueError(
                    f"`window` {window} is larger than the input on axis {axis + 1} (size {size})."
                )
        fills = self._fill_values(baseline, x)
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        starts = [
            range(0, size - w + 1, s) for size, w, s in zip(x_shape, window, strides, strict=True)
        ]
        masks = []
        for corner in itertools.product(*starts):
            mask = np.zeros(x_shape, bool)
            mask[tuple(slice(c, c + w) for c, w in zip(corner, window, strict=True))] = True
            masks.append(mask)
        masks = np.stack(masks)
        fill_of = np.repeat(np.arange(len(x))[:, None], len(masks), axis=1)
        result = self._differences(x, fills, fill_of, masks, targets, rows, verbose, frozen)
        return self._finish(result, leading, frozen)

    @staticmethod
    def _axis_ints(value, x_shape, name) -> tuple[int, ...]:
        if value is None:
            return (1,) * len(x_shape)
        if isinstance(value, numbers.Integral):
            value = (value,) * len(x_shape)
        value = tuple(value)
        if len(value) != len(x_shape):
            raise ValueError(
                f"`{name}` must have one entry per non-batch axis ({len(x_shape)} for "
                f"inputs of shape (N, {', '.join(map(str, x_shape))})), got {value}."
            )
        return tuple(check_positive_int(v, name) for v in value)


class FeatureAblation(_PerturbationMethod):
    """Ablate groups of cells: ``f(x) - f(x with the group set to the baseline)``.

    ``feature_mask`` holds an integer group id per cell, broadcastable to one input:
    ``(T, F)`` for any grouping of cells, ``(1, F)`` to ablate whole features over
    all time steps, ``(T, 1)`` for whole time steps. Every cell of a group gets the
    group's output drop. Default: every cell is its own group.

    Cost: one model row per group and input, plus one per input.
    """

    def attributions(
        self,
        inputs,
        baseline=0.0,
        *,
        feature_mask=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """``(N, *x_shape)`` ablation attributions.

        Args:
            inputs: ``(N, *x_shape)``.
            baseline: as :class:`Occlusion`.
            feature_mask: integer group ids broadcastable to ``x_shape`` (None: each
                cell alone).
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: unused (deterministic method); accepted for a uniform signature.
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        Returns:
            Output drops of each cell's group, shaped like the inputs ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
            ValueError: a ``feature_mask`` that does not broadcast to one input.
        """
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        masks = self._group_masks(feature_mask, x.shape[1:])
        fills = self._fill_values(baseline, x)
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        fill_of = np.repeat(np.arange(len(x))[:, None], len(masks), axis=1)
        result = self._differences(x, fills, fill_of, masks, targets, rows, verbose, frozen)
        return self._finish(result, leading, frozen)


class FeaturePermutation(_PerturbationMethod):
    """Permute groups of cells within the batch: ``f(x) - f(x with the group's
    values taken from another input)``.

    For each group (``feature_mask`` as in :class:`FeatureAblation`; default every
    cell) one random permutation ``p`` of the N inputs is drawn (seeded), and input n
    gets the group's cells of input ``p[n]``. Needs N >= 2; inputs with ``p[n] == n``
    get 0 for that group. The explanation of an input therefore depends on the other
    inputs of the call.

    Cost: one model row per group and input, plus one per input.
    """

    def attributions(
        self,
        inputs,
        *,
        feature_mask=None,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """``(N, *x_shape)`` permutation attributions.

        Args:
            inputs: ``(N, *x_shape)``, N >= 2.
            feature_mask: integer group ids broadcastable to ``x_shape`` (None: each
                cell alone).
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None,
                an int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most rows sent to the model at once (None: from the memory
                budget).
            seed: seed of the permutations.
            verbose: show a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells are never perturbed
                and get exactly zero attribution.

        Returns:
            Output drops of each cell's group when permuted, ``(N, *x_shape)``.
            Float32 (float64 for float64 inputs); in the inputs' structure for a
            multi-input model; with the output axes first for ``output_indices=None``
            on a model with several outputs.

        Raises:
            TypeError: an argument of the wrong kind (e.g. integer inputs).
            ValueError: a wrong value or shape, an out-of-range target, or NaN/Inf in
                the inputs without ``allow_nonfinite``.
            ValueError: fewer than 2 inputs, or a ``feature_mask`` that does not
                broadcast to one input.
        """
        self._check_common(batch_size, seed, verbose)
        x, frozen = self._rows(inputs, padding_mask)
        if len(x) < 2:
            raise ValueError(
                "FeaturePermutation permutes values between the inputs of the batch: "
                f"`inputs` needs at least 2 rows, got {len(x)}."
            )
        masks = self._group_masks(feature_mask, x.shape[1:])
        targets, leading, rows, verbose = self._prepare(
            x, output_indices, batch_size, seed, verbose
        )
        rng = np.random.default_rng(seed)
        fill_of = np.stack([rng.permutation(len(x)) for _ in range(len(masks))], axis=1)
        result = self._differences(x, x, fill_of, masks, targets, rows, verbose, frozen)
        return self._finish(result, leading, frozen)
