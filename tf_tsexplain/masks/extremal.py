"""``ExtremalMask``: a mask and a perturbation network learned together (Enguehard, ICML 2023).

Dynamask replaces the cells a mask drops by a fixed perturbation (a blur, a moving
average). ExtremalMask learns the replacement too: a small network ``NN`` maps the
series to replacement values and the perturbed series is

    preserve:  x' = m x + (1 - m) NN(x)        deletion:  x' = (1 - m) x + m NN(x)

Mask and network are fitted together, per series ``n``, by minimising

    error(f(x'_n), target_n) + lambda_area * area(m_n) + lambda_perturbation * mean |NN(x)_n|

with ``area`` the mean of the mask (``"l1"``) or Dynamask's sorted-area regulariser
``mean((r_a - sort(m))^2)`` (``"sorted"``, ``r_a`` = ``int((1 - a) D)`` zeros then
ones). In preserve mode ``target`` is ``f(x)``: keep the prediction with few cells. In
deletion mode it is ``f`` of the explained input set to zeros: the fewest cells whose
replacement destroys the prediction. The optimiser is Adam (``learning_rate``, betas
0.9 / 0.999, eps 1e-8), the mask clipped to [0, 1] after each step and started at
``initial_mask_coeff``.

Many series are fitted at once in one compiled loop, chunks of ``batch_size`` series
one after the other; ``jit_compile="auto"`` (default) times the loop with and
without XLA on the first chunk and runs the faster (``masks._compile``; on CPU XLA is
several times slower for GRU and Conv1D classifiers). The default network
(:class:`SeriesConvNet`) has its own weights per series, all started from the same
values, so a series' fit does not depend on the others fitted with it: a batched fit
equals one fit per series. A Keras model given as ``perturbation_network`` is shared
by the series of a chunk, as the original's (its weights are reset to their values at
the start of every chunk, so chunks do not depend on each other).

Padding (``padding_mask``, ``(N, T)``, True on real steps): padded cells are never
perturbed (during the fit their mask is fixed at "keep") and are left out of the area
and network penalties; as with :class:`Mask`, they hold mask value 0 in the results and
are left out of ``get_information`` and greyed in ``plot_mask``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks, rows_per_call
from tf_tsexplain._model import check_differentiable, probe_output, row_bytes
from tf_tsexplain._targets import resolve_output_indices, select_output
from tf_tsexplain._validation import (
    check_batch_size,
    check_choice,
    check_int,
    check_real,
    check_seed,
    check_verbose,
)
from tf_tsexplain.masks._compile import (
    Choice,
    check_finite,
    remember_choice,
    remembered_choice,
    run_fit,
)
from tf_tsexplain.masks._fit import (
    check_probabilities,
    resolve_target,
    sorted_area_penalty,
)
from tf_tsexplain.masks._inputs import explained_inputs
from tf_tsexplain.masks.base import FittedMasks
from tf_tsexplain.masks.losses import PROBABILITY_LOSSES, cross_entropy, log_loss_target, mse
from tf_tsexplain.masks.mask import Mask

AREA_PENALTIES = ("l1", "sorted")
_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


class SeriesConvNet(keras.layers.Layer):
    """The default perturbation network: two temporal convolutions, weights per series.

    ``(N, T, F) -> (N, T, F)``: a convolution over time (``kernel_size`` steps, "same"
    padding with zeros) to ``units`` channels with tanh, then a per-step linear map
    back to the ``F`` features. Series ``n`` has its own weights (their leading axis
    is N), all started from the same values drawn with ``seed``: fitted together, the
    series train independent networks.

    Args:
        units: hidden channels (>= 1).
        kernel_size: steps seen by the first convolution (odd, >= 1).
        seed: None or an int >= 0, for the initial weights.

    Input shape: ``(N, T, F)`` with N fixed at build time. Output shape: the same.
    """

    def __init__(self, units: int = 16, kernel_size: int = 3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", min_val=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", min_val=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be odd (a centred window). Received: "
                f"kernel_size={kernel_size}."
            )
        self.seed = check_seed(seed)

    def build(self, input_shape):
        n, _, nf = (int(d) for d in input_shape)
        rng = np.random.default_rng(self.seed)
        fan_in = self.kernel_size * nf
        limit1 = math.sqrt(6.0 / (fan_in + self.units))
        limit2 = 0.1 * math.sqrt(6.0 / (self.units + nf))
        first = rng.uniform(-limit1, limit1, (fan_in, self.units)).astype(np.float32)
        second = rng.uniform(-limit2, limit2, (self.units, nf)).astype(np.float32)
        self.initial = {
            "w1": np.repeat(first[None], n, axis=0),
            "b1": np.zeros((n, self.units), np.float32),
            "w2": np.repeat(second[None], n, axis=0),
            "b2": np.zeros((n, nf), np.float32),
        }
        for name, value in self.initial.items():
            setattr(
                self,
                name,
                self.add_weight(
                    shape=value.shape,
                    initializer=keras.initializers.Constant(value),
                    name=name,
                ),
            )

    def call(self, inputs):
        half = self.kernel_size // 2
        t = tf.shape(inputs)[1]
        padded = tf.pad(inputs, [[0, 0], [half, half], [0, 0]])
        windows = tf.concat(
            [padded[:, j : j + t] for j in range(self.kernel_size)], axis=-1
        )  # (N, T, k F)
        hidden = tf.tanh(tf.einsum("ntc,nch->nth", windows, self.w1) + self.b1[:, None])
        return tf.einsum("nth,nhf->ntf", hidden, self.w2) + self.b2[:, None]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_size": self.kernel_size,
            "seed": self.seed,
        }


class LearnedPerturbation(keras.layers.Layer):
    """A perturbation whose replacement values are learned: ``m x + (1 - m) NN(x)``.

    Called as the other perturbations, ``layer(inputs, mask)``.

    Args:
        network: a Keras layer or model, or a callable, mapping ``(N, T, F)`` to
            ``(N, T, F)``.
    """

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, mask):
        return mask * inputs + (1.0 - mask) * self.network(inputs)


def _check_network(network):
    if network is None or isinstance(network, keras.layers.Layer) or callable(network):
        return network
    raise TypeError(
        "`perturbation_network` must be None (the default SeriesConvNet), a Keras layer or "
        "model, or a callable mapping (N, T, F) to (N, T, F). Received: "
        f"perturbation_network={network!r} ({type(network).__name__})."
    )


def _check_network_output(network, x: np.ndarray) -> None:
    """The network maps ``x`` to its own shape and depends on it (checked before a fit)."""
    inputs = tf.constant(x)
    try:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = tf.convert_to_tensor(network(inputs))
    except Exception as err:  # user code: report what failed
        raise ValueError(
            f"`perturbation_network` failed on the series of shape {x.shape}: "
            f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        ) from None
    shape = tuple(out.shape)
    if shape != x.shape:
        raise ValueError(
            f"`perturbation_network` must return replacement values of the shape of its "
            f"input {x.shape} (N, T, F). Received: output shape {shape}."
        )
    with tape:
        total = tf.reduce_sum(tf.cast(out, inputs.dtype) * tf.constant(np.sin(x + 1.0)))
    grad = tape.gradient(total, inputs)
    moved = np.asarray(network(tf.constant(x * 1.5 + 1.0)))
    constant = np.array_equal(moved, np.asarray(out))
    if grad is None or (constant and not np.any(np.asarray(grad))):
        raise ValueError(
            "`perturbation_network` must compute its output from its input (the "
            "replacement values of ExtremalMask are learned functions of the series), but "
            "its output does not depend on the input"
            + (" (no gradient path)." if grad is None else " (the same output for another input).")
            + " A zero-initialised last layer also has this effect: initialise it with "
            "small random weights."
        )


class ExtremalMask(Mask):
    """Extremal mask: a mask and its perturbation network, learned together.

    See the module docstring for the objective. Results follow :class:`Mask`:
    ``mask_tensor`` (``(T, F)`` or ``(N, T, F)``, 1 = keep in preserve mode, 1 =
    delete in deletion mode), ``get_error()``, ``keep_ratio`` (the fitted area: the
    mean mask over real cells per series), ``X``, ``target``, ``loss_function``,
    ``get_smooth_mask``, ``extract_submask``, ``get_information``, ``get_entropy``,
    ``plot_mask``, and ``replacement`` (the learned ``NN(x)``). Before ``fit`` each
    raises :class:`tf_tsexplain._validation.NotFittedError`.

    Args:
        perturbation_network: None (default): a :class:`SeriesConvNet` per fit
            (``units``, ``kernel_size``, weights per series). Or a Keras layer / model
            (or a callable) mapping ``(B, T, F)`` to ``(B, T, F)``, e.g. a
            bidirectional GRU followed by a Dense layer; it is shared by the series
            fitted together (``batch_size``) and reset to its initial weights for
            each chunk.
        deletion_mode: learn the cells whose replacement destroys the prediction
            (``x' = (1 - m) x + m NN(x)``, target ``f`` of zeros) instead of those that
            keep it.
        area_penalty: "l1" (the mean of the mask) or "sorted" (Dynamask's sorted-area
            regulariser towards ``keep_ratio``).
        task: "regression" or "classification" (the log losses need the latter).
        eps: > 0, the default of ``get_information``.
        jit_compile: True (XLA), False (no XLA) or "auto" (default): whichever is
            faster for this model and these shapes, timed on the first fit and
            remembered (see :class:`~tf_tsexplain.masks.base.MaskBase`); the choice
            of the last fit is ``compilation``.
        units, kernel_size: of the default network.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: a wrong value.
    """

    def __init__(
        self,
        perturbation_network=None,
        *,
        deletion_mode: bool = False,
        area_penalty: str = "l1",
        task: str = "regression",
        eps: float = 1e-7,
        jit_compile: bool | str = "auto",
        units: int = 16,
        kernel_size: int = 3,
    ):
        network = _check_network(perturbation_network)
        super().__init__(
            LearnedPerturbation(
                network if network is not None else SeriesConvNet(units, kernel_size)
            ),
            task=task,
            deletion_mode=deletion_mode,
            eps=eps,
            jit_compile=jit_compile,
        )
        self.perturbation_network = network
        self.area_penalty = check_choice(area_penalty, "area_penalty", AREA_PENALTIES)
        self.units = check_int(units, "units", min_val=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", min_val=1)
        SeriesConvNet(self.units, self.kernel_size)  # checks kernel_size
        self._loops: dict = {}
        self._replacement = None

    def fit(
        self,
        X,
        f,
        loss_function=mse,
        target=None,
        n_epoch: int = 500,
        learning_rate: float = 0.01,
        lambda_area: float = 1.0,
        lambda_perturbation: float = 100.0,
        keep_ratio: float = 0.1,
        initial_mask_coeff: float = 0.5,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        output_indices=None,
        padding_mask=None,
        input_name=None,
        f_input: str = "auto",
    ) -> ExtremalMask:
        """Fit a mask and the perturbation network for each series.

        Args:
            X: one series ``(T, F)``, a batch ``(N, T, F)``, or, for a model with
                several inputs, a dict / list / tuple of arrays with the explained
                sequence input chosen by ``input_name`` (the others are held fixed).
            f: a Keras model or a callable (TensorFlow ops), called on batches of
                perturbed series (rows = series, which must not interact); a
                one-series black box is accepted as by :meth:`Mask.fit` (``f_input``).
            loss_function: ``mse``, ``cross_entropy``, ``log_loss``,
                ``log_loss_target`` or a callable with the per-row contract of
                ``tf_tsexplain.masks.losses``.
            target: what the perturbed predictions are compared with, shaped like the
                (chosen) outputs; default ``f(X)`` (preserve) or ``f`` of the explained
                input set to zeros (deletion).
            n_epoch: Adam steps (>= 1).
            learning_rate: Adam's step size (> 0).
            lambda_area: weight (>= 0) of the area penalty (the paper's lambda_1 = 1).
            lambda_perturbation: weight (>= 0) of ``mean |NN(x)|``. Default 100, not
                the paper's lambda_2 = 1, which suits its shared GRU network: the
                default per-series network copies cells more easily, and at 1 it left
                rare-feature recall at 0.49 (AUR, trapezoids, on an unscored seed)
                against 0.78 at 100, the best of {1, 10, 100} there and on rare time
                (``examples/benchmarks/bench_mask_defaults.py``). On State the learned
                replacement stays near 0 from 0.1 on, so 1 and 100 fit alike.
            keep_ratio: the area aimed at by ``area_penalty="sorted"``, in (0, 1].
            initial_mask_coeff: starting mask value, in [0, 1].
            batch_size: series fitted at once (model rows per call); None: from the
                memory budget.
            seed: None or an int >= 0: the default network's initial weights.
            verbose: a progress bar over epochs.
            output_indices: None (the loss sees ``f``'s whole output) or the
                package's ``output_indices`` (an int, one per series, a
                ``(time, class)`` tuple, one per series, or "predicted").
            padding_mask: None or ``(N, T)`` booleans, True on real steps (``(T,)``
                for one series): padded cells are never perturbed and are not
                counted in the penalties (reported as 0, as by :class:`Mask`). None:
                the model's own ``Masking`` layer, if it has one on the input.
            input_name: with several inputs, the key (dict) or index (list / tuple)
                of the explained sequence input.
            f_input: "auto", "batch" or "series", as for :meth:`Mask.fit` (one input).

        Returns:
            ``self``.

        Raises:
            TypeError: an argument of the wrong kind.
            ValueError: a wrong value or shape (named, with what was received): e.g.
                a perturbation network whose output does not have the input's shape
                or does not depend on the input; the loss becoming NaN or Inf during
                the fit (the error names the epoch and the series).
        """
        n_epoch = check_int(n_epoch, "n_epoch", min_val=1)
        learning_rate = check_real(learning_rate, "learning_rate", min_val=0.0, include_min=False)
        lambda_area = check_real(lambda_area, "lambda_area", min_val=0.0)
        lambda_perturbation = check_real(lambda_perturbation, "lambda_perturbation", min_val=0.0)
        keep_ratio = check_real(
            keep_ratio, "keep_ratio", min_val=0.0, max_val=1.0, include_min=False
        )
        initial_mask_coeff = check_real(
            initial_mask_coeff, "initial_mask_coeff", min_val=0.0, max_val=1.0
        )
        batch_size = check_batch_size(batch_size)
        seed = check_seed(seed)
        verbose = check_verbose(verbose)
        if not callable(loss_function):
            raise TypeError(
                f"`loss_function` must be callable. Received: loss_function={loss_function!r}."
            )
        inputs = explained_inputs(X, f, input_name, padding_mask)
        x, single = inputs.x, inputs.single
        n, t, nf = x.shape
        padding = np.ones((n, t), bool) if inputs.real is None else inputs.real
        call_f, _ = inputs.model_call(f, f_input)
        fixed_all = inputs.held_rows(np.arange(n))
        try:
            out_shape = probe_output(lambda b: call_f(b, fixed_all), x)
        except ValueError as err:
            raise ValueError(f"`f`: {err}") from None
        y = np.asarray(call_f(tf.constant(x), fixed_all))
        picks = None
        if output_indices is not None:
            if loss_function in (cross_entropy, log_loss_target):
                raise ValueError(
                    f"`loss_function={loss_function.__name__}` compares class probabilities, "
                    "but output_indices reduces the outputs of `f` to one value per row: use "
                    f"mse or log_loss. Received: output_indices={output_indices!r}."
                )
            outputs = y
            picks = resolve_output_indices(output_indices, out_shape, n, predict=lambda: outputs)[
                0
            ][0]
            y = np.asarray(select_output(tf.constant(y), tf.constant(picks)))
        if loss_function in PROBABILITY_LOSSES:
            check_probabilities(y, loss_function, self.task)
        if target is None and self.deletion_mode:
            zero = np.asarray(call_f(tf.zeros_like(x), fixed_all))
            if picks is not None:
                zero = np.asarray(select_output(tf.constant(zero), tf.constant(picks)))
            target = np.argmax(zero, -1) if loss_function is log_loss_target else zero
            target = target[0] if single else target
        target = resolve_target(target, y, loss_function, single)
        errors = np.asarray(loss_function(tf.constant(y), tf.constant(target)))
        if errors.shape != (n,):
            raise ValueError(
                f"`loss_function` must return one error per row (shape ({n},)), got shape "
                f"{errors.shape}; see tf_tsexplain.masks.losses for the contract."
            )
        try:
            check_differentiable(lambda b: call_f(b, fixed_all), x)
        except ValueError as err:
            raise ValueError(f"`f`: {err}") from None
        network = self.perturbation_network
        if network is not None:
            _check_network_output(network, x)
        rows = min(n, rows_per_call(batch_size, row_bytes(f, (t, nf), 4, order=1)))
        loop = self._loop(
            f,
            call_f,
            network,
            loss_function,
            (rows, t, nf),
            target,
            picks is not None,
            seed,
            inputs,
        )
        masks = np.empty((n, t, nf), np.float32)
        replacement = np.empty((n, t, nf), np.float32)
        final_errors = np.empty(n, np.float32)
        hyper = tf.constant(
            [learning_rate, lambda_area, lambda_perturbation, initial_mask_coeff], tf.float32
        )
        progress = Progress(n_epoch * math.ceil(n / rows), verbose, unit="epochs")
        tgt_all = target
        pick_all = np.zeros(n, np.int32) if picks is None else np.asarray(picks, np.int32)
        for start, stop in chunks(n, rows):
            take = np.r_[np.arange(start, stop), np.full(rows - (stop - start), start)]
            live = (np.arange(rows) < stop - start).astype(np.float32)
            real = padding[take].astype(np.float32)
            cells = real.sum(axis=1) * nf
            ones = cells - np.floor((1.0 - keep_ratio) * cells)
            fixed = inputs.held_rows(take)
            m, nn, err = loop.run(
                x[take],
                real,
                live,
                tgt_all[take],
                pick_all[take],
                ones.astype(np.float32),
                fixed,
                hyper,
                n_epoch=n_epoch,
                verbose=verbose,
                progress=progress,
                first_series=start,
            )
            k = stop - start
            masks[start:stop], replacement[start:stop], final_errors[start:stop] = (
                m[:k],
                nn[:k],
                err[:k],
            )
        self._fitted = FittedMasks(
            masks=masks[None],
            errors=final_errors[None],
            x=x,
            target=target,
            single=single,
            loss_function=loss_function,
            real=None if padding.all() else padding,
        )
        self._replacement = replacement
        self._compilation = loop.last_choice
        if self.jit_compile == "auto" and loop.choice is not None:
            remember_choice(self._choice_key(loop.key), loop.refs, loop.choice)
        area = (masks * padding[..., None]).sum(axis=(1, 2)) / (padding.sum(axis=1) * nf)
        self._keep_ratio = float(area[0]) if single else area
        return self

    # -------------------------------------------------------------------- helpers
    def _loop(self, f, call_f, network, loss_function, shape, target, select, seed, inputs):
        key = (
            id(f),
            id(loss_function),
            shape,
            tuple(np.shape(target)[1:]),
            np.asarray(target).dtype.str,
            bool(select),
            seed,
            inputs.key,
        )
        loop = self._loops.get(key)
        if loop is None:
            if network is None:
                network = SeriesConvNet(self.units, self.kernel_size, seed=seed)
            loop = _ExtremalLoop(
                (f, loss_function),
                call_f,
                network,
                loss_function,
                shape,
                deletion_mode=self.deletion_mode,
                area_penalty=self.area_penalty,
                select=select,
                jit_compile=self.jit_compile,
            )
            if self.jit_compile == "auto":  # another ExtremalMask timed these already
                loop.choice = remembered_choice(self._choice_key(key))
            while len(self._loops) >= 4:  # the loops of the last shapes fitted
                self._loops.pop(next(iter(self._loops)))
            self._loops[key] = loop
            loop.key = key
        return loop

    def _choice_key(self, key: tuple) -> tuple:
        """What the speed of a loop depends on: its key, the mode and the network."""
        network = self.perturbation_network
        return ("extremal", *key, self.deletion_mode, self.area_penalty) + (
            (self.units, self.kernel_size) if network is None else (id(network),)
        )

    # -------------------------------------------------------------------- results
    @property
    def replacement(self) -> np.ndarray:
        """The learned replacement values ``NN(x)``, shaped as ``mask_tensor``."""
        self._state()
        return self._squeeze(self._replacement, 0)

    def plot_mask(self, sample: int = 0, *args, title: str | None = None, **kwargs):
        """Heatmap of the mask, as :meth:`Mask.plot_mask`; returns ``(figure, axes)``."""
        if title is None:
            area = np.ravel(self.keep_ratio)
            title = f"Extremal mask (area {area[sample if area.size > 1 else 0]:.3g})"
        return super().plot_mask(sample, *args, title=title, **kwargs)


def _variables(network) -> list:
    """The trainable tf.Variables of a Keras layer / model (none for a plain callable)."""
    found = getattr(network, "trainable_variables", None) or []
    return [getattr(v, "value", v) for v in found]


class _ExtremalLoop:
    """Variables and the compiled epoch loop for one chunk shape ``(B, T, F)``."""

    def __init__(
        self,
        refs,
        call_f,
        network,
        loss_function,
        shape,
        *,
        deletion_mode,
        area_penalty,
        select,
        jit_compile,
    ):
        self.refs = refs  # keep the objects of the cache key alive
        self.call_f = call_f
        self.network = network
        self.loss_function = loss_function
        self.shape = shape
        self.deletion_mode = bool(deletion_mode)
        self.area_penalty = area_penalty
        self.select = bool(select)
        self.jit_compile = jit_compile
        network(tf.zeros(shape))  # builds the weights outside the compiled loop
        self.net_vars = _variables(network)
        self.initial = [v.numpy().copy() for v in self.net_vars]
        self.mask = tf.Variable(tf.zeros(shape))  # trainable: watched by the tape
        self.params = [self.mask] + self.net_vars
        self.slots = [
            (tf.Variable(tf.zeros_like(p), trainable=False), tf.Variable(tf.zeros_like(p)))
            for p in self.params
        ]
        self.step = tf.Variable(0, dtype=tf.int32, trainable=False)
        self.bad = tf.Variable([-1, -1], dtype=tf.int32, trainable=False)  # epoch, row
        self._epochs = {}  # one tf.function per mode (XLA or not)
        self.choice = None if jit_compile == "auto" else Choice(bool(jit_compile), reason="set")
        self.last_choice = self.choice

    def _parts(self, x, real, live, target, picks, ones, fixed, lam_area, lam_pert):
        """Per-row (total objective, error) and the replacement values."""
        b, t, nf = self.shape
        replacement = tf.cast(self.network(x), x.dtype)
        m = real[..., None] * self.mask + (1.0 - real[..., None])  # 1 on padded cells
        keep = 1.0 - m if self.deletion_mode else m
        if self.deletion_mode:  # padded cells: 1 - m = 0 would replace them; keep them
            keep = real[..., None] * keep + (1.0 - real[..., None])
        perturbed = keep * x + (1.0 - keep) * replacement
        y = self.call_f(perturbed, fixed)
        if self.select:
            y = select_output(y, picks)
        error = self.loss_function(y, target)
        cells = tf.reduce_sum(real, axis=1) * nf  # (B,)
        weights = real[..., None] * tf.ones_like(x)
        if self.area_penalty == "l1":
            area = tf.reduce_sum(self.mask * weights, axis=(1, 2)) / cells
        else:  # Dynamask's (r_a - sort(m))^2 over the real cells; ties share the ones
            flat = tf.reshape(self.mask * weights - (1.0 - weights), (b, t * nf))
            ranked = tf.sort(flat, axis=1, direction="DESCENDING")
            index = tf.cast(tf.maximum(ones, 1.0), tf.int32) - 1
            kth = tf.gather(ranked, index, axis=1, batch_dims=1)[:, None]
            flat_w = tf.reshape(weights, (b, t * nf))
            area = sorted_area_penalty(flat, kth, ones[:, None], flat_w)
        size = tf.reduce_sum(tf.abs(replacement) * weights, axis=(1, 2)) / cells
        total = error + lam_area * area + lam_pert * size
        return total, error, replacement

    def _function(self, xla: bool):
        if xla in self._epochs:
            return self._epochs[xla]

        def run_epochs(x, real, live, target, picks, ones, fixed, hyper, count):
            lr, lam_area, lam_pert = hyper[0], hyper[1], hyper[2]
            i = tf.constant(0)
            while tf.logical_and(i < count, self.bad[0] < 0):
                # the mask and the network only: the model's weights need no gradient
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(self.params)
                    total, _, _ = self._parts(
                        x, real, live, target, picks, ones, fixed, lam_area, lam_pert
                    )
                    objective = tf.reduce_sum(live * total)
                finite = tf.math.is_finite(total) | (live == 0.0)
                first = tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int32)
                # the first epoch (1-based) and row whose objective is not finite: the
                # loop stops there and ``run`` raises
                self.bad.assign(
                    tf.where(tf.reduce_all(finite), self.bad, tf.stack([self.step + 1, first]))
                )
                grads = tape.gradient(objective, self.params)
                self.step.assign_add(1)
                step = tf.cast(self.step, tf.float32)
                fix1 = 1.0 - tf.pow(_BETA1, step)
                fix2 = 1.0 - tf.pow(_BETA2, step)
                for param, grad, (first_m, second_m) in zip(
                    self.params, grads, self.slots, strict=True
                ):
                    if grad is None:  # a weight the objective does not use
                        continue
                    first_m.assign(_BETA1 * first_m + (1.0 - _BETA1) * grad)
                    second_m.assign(_BETA2 * second_m + (1.0 - _BETA2) * tf.square(grad))
                    param.assign_sub(lr * (first_m / fix1) / (tf.sqrt(second_m / fix2) + _ADAM_EPS))
                self.mask.assign(tf.clip_by_value(self.mask, 0.0, 1.0))
                i += 1
            return i

        self._epochs[xla] = tf.function(run_epochs, jit_compile=bool(xla))
        return self._epochs[xla]

    def _reset(self, initial_mask_coeff: float) -> None:
        self.mask.assign(tf.fill(self.shape, tf.constant(initial_mask_coeff, tf.float32)))
        for var, value in zip(self.net_vars, self.initial, strict=True):
            var.assign(value)
        for first_m, second_m in self.slots:
            first_m.assign(tf.zeros_like(first_m))
            second_m.assign(tf.zeros_like(second_m))
        self.step.assign(0)
        self.bad.assign([-1, -1])

    def run(
        self,
        x,
        real,
        live,
        target,
        picks,
        ones,
        fixed,
        hyper,
        *,
        n_epoch,
        verbose,
        progress,
        first_series,
    ):
        args = (
            tf.constant(x),
            tf.constant(real),
            tf.constant(live),
            tf.constant(target),
            tf.constant(picks),
            tf.constant(ones),
            fixed,
            hyper,
        )
        initial_mask_coeff = float(hyper[3])
        self._reset(initial_mask_coeff)

        def runner(xla: bool):
            def run(count: int) -> None:
                self._function(xla)(*args, tf.constant(count, tf.int32))
                check_finite(self.bad, "ExtremalMask", n_epoch, first_series)

            return run

        variables = [self.mask, self.step, self.bad, *self.net_vars]
        variables += [slot for pair in self.slots for slot in pair]

        def save():
            return [v.numpy() for v in variables]

        def restore(state) -> None:
            for var, value in zip(variables, state, strict=True):
                var.assign(value)

        def reset() -> None:
            self._reset(initial_mask_coeff)

        self.choice, self.last_choice = run_fit(
            self.choice, runner, save, restore, reset, n_epoch, verbose, progress
        )
        _, error, replacement = self._parts(*args[:7], hyper[1], hyper[2])
        real = np.asarray(real, np.float32)[..., None]
        mask = real * self.mask.numpy()  # padded cells hold no mask value: 0, as Mask
        return mask, replacement.numpy(), error.numpy()
