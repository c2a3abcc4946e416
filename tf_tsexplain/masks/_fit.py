"""The training loop shared by ``Mask`` and ``MaskGroup``: checks, then one compiled fit.

Masks ``m`` of shape ``(A, N, T, F)`` (A areas, N series) are fitted together. Each
epoch minimises, summed over the A x N masks (the masks do not share parameters, so
each one receives exactly the gradient of its own objective),

    (+/-) error(f(perturbed), target) + lam_e * size_reg + time_reg_factor * time_reg

with ``size_reg = mean((r_a - sort(m))^2)`` (``r_a``: ``int((1 - a) T F)`` zeros then
ones), ``time_reg = mean |m[t+1] - m[t]|`` and
``lam_e = size_reg_factor_init * size_reg_factor_dilation ** (e / n_epoch)``, by SGD with
momentum (``v <- momentum v + grad``, ``m <- clip(m - lr v, 0, 1)``). The minus sign
is the deletion mode, where the perturbation uses ``1 - m``.

``f`` receives the perturbed series as one batch ``(A * N, T, F)``, area-major: row
``a * N + n`` is series ``n`` perturbed by its mask for area ``a`` (so
``row % N`` is the series index). With one area (``Mask``) the rows are the series.
An ``f`` written for one series ``(T, F)`` is vectorised first (``masks._series``).

With ``output_indices`` (see ``tf_tsexplain._targets``), ``f``'s output is reduced to
the chosen output of each row (``select_output``, one flat index per series, the same
for its A rows) before the loss; without it the loss sees ``f``'s whole output.

Padded sequences (``padding_mask``, or the model's ``Masking`` layer): padded cells
are never perturbed (the perturbation sees only real steps) and hold no mask value
(reported as 0); the size regulariser pairs the ``k_a = D_n - int((1 - a) D_n)``
largest entries with 1 among the ``D_n = T_n F`` real cells of series n, its mean and
the time regulariser's are over real cells (pairs of real steps), so a padded series is
fitted as the same series without its padding.

Multi-input models: the masks cover one sequence input (``input_name``); ``f`` sees
the other inputs of each series at their values (``masks._inputs``, shared with
``ExtremalMask``).

Chunks: the ``A x N`` masks are independent, so they are fitted ``A' x N'`` at a time
(:func:`plan_chunks`: the areas are split first, so each call still sees every series
in the order above; the series only below an explicit ``batch_size`` of N rows), one
chunk after the other, each for all the epochs: the masks of one joint fit, with
memory bounded by ``batch_size`` model rows. For a GRU(200) on 2 CPU cores calls of
400 rows are also about twice as fast per row as one call of 2,000.

Compilation: ``jit_compile="auto"`` times the loop with and without XLA on the first
fit of each cached loop and keeps the faster (``masks._compile``).

The compiled loops are cached across fits (see ``_cached_loop``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks, rows_per_call
from tf_tsexplain._model import check_differentiable, probe_output, row_bytes
from tf_tsexplain._targets import resolve_output_indices, select_output
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_int,
    check_real,
    check_seed,
    check_verbose,
)
from tf_tsexplain.masks._compile import Choice, choose, forget_choices
from tf_tsexplain.masks._inputs import check_series as check_series  # re-exported
from tf_tsexplain.masks._inputs import explained_inputs
from tf_tsexplain.masks._series import HOW_TO_WRITE_F
from tf_tsexplain.masks.layer import MaskLayer
from tf_tsexplain.masks.losses import (
    PROBABILITY_LOSSES,
    cross_entropy,
    log_loss_target,
)

TASKS = ("regression", "classification")
_TIE = 1e-6  # mask values this close to the k-th largest count as tied with it


@dataclass
class FitResult:
    masks: np.ndarray  # (A, N, T, F)
    errors: np.ndarray  # (A, N): error of each final mask (without regularisers)
    target: np.ndarray  # (N, ...)
    x: np.ndarray  # (N, T, F) float32: the series the masks cover
    real: np.ndarray | None  # (N, T) True on real steps, None without padding
    choice: Choice | None = None  # the compilation used (see masks._compile)


def _check_probabilities(y: np.ndarray, loss_function, task: str) -> None:
    name = getattr(loss_function, "__name__", "this loss")
    if task != "classification":
        raise ValueError(
            f"`loss_function={name}` compares class probabilities; it needs "
            "task='classification' and a model whose outputs are probabilities in [0, 1]. "
            "Use mse for regression outputs."
        )
    if y.min() < -1e-6 or y.max() > 1 + 1e-6:
        raise ValueError(
            f"`loss_function={name}` expects probabilities in [0, 1] from `f`, but its outputs "
            f"range over [{y.min():.3g}, {y.max():.3g}]: end the model with a softmax (or "
            "sigmoid), or use mse."
        )
    if loss_function in (cross_entropy, log_loss_target):
        sums = y.sum(axis=-1)
        if np.abs(sums - 1).max() > 1e-3:
            raise ValueError(
                f"`loss_function={name}` expects class probabilities on the last axis of the "
                f"outputs of `f` (summing to 1); they sum to values in "
                f"[{sums.min():.3g}, {sums.max():.3g}]: end the model with a softmax."
            )


def _resolve_target(target, y: np.ndarray, loss_function, single: bool) -> np.ndarray:
    n = y.shape[0]
    if loss_function is log_loss_target:
        if target is None:
            return np.argmax(y, axis=-1).astype(np.int32)
        ids = np.asarray(target)
        if single and ids.shape == y.shape[1:-1]:
            ids = ids[None]
        if ids.shape != y.shape[:-1] or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"`target` for log_loss_target must be integer class ids of shape "
                f"{y.shape[1:-1] if single else y.shape[:-1]}, got {ids.shape} ({ids.dtype})."
            )
        if ids.min() < 0 or ids.max() >= y.shape[-1]:
            raise ValueError(f"`target` class ids must be in [0, {y.shape[-1] - 1}].")
        return ids.astype(np.int32)
    if target is None:
        return y
    tgt = as_float_array(target, "target", min_rank=0 if single else 1, dtype=y.dtype)
    if single and tgt.shape == y.shape[1:]:
        tgt = tgt[None]
    if tgt.shape != y.shape:
        expected = y.shape[1:] if single else y.shape
        raise ValueError(
            f"`target` must have the shape of the outputs of `f` {expected} "
            f"(N = {n}), got {np.shape(target)}."
        )
    return tgt


# The target and probability checks of a fit, shared with ``masks.extremal``.
resolve_target = _resolve_target
check_probabilities = _check_probabilities


def plan_chunks(areas: int, series: int, rows: int) -> tuple[int, int]:
    """``(areas per call, series per call)`` for ``areas x series`` masks, ``rows``
    model rows per call at most.

    Areas are split first, so that every call sees all the series (row ``a * N + n``
    is series n, the order a white box may rely on); among the area counts that fit,
    the one computing the fewest padded rows (then the larger) is taken, e.g. 10
    areas of 200 series in calls of at most 663 rows: 5 calls of 2 areas (400 rows).
    Only when the series alone exceed ``rows`` are they split too (one area per
    call, chunks of equal size).
    """
    if series > rows:
        calls = math.ceil(series / rows)
        return 1, math.ceil(series / calls)
    cap = min(areas, max(1, rows // series))
    per = min(range(1, cap + 1), key=lambda c: (math.ceil(areas / c) * c, -c))
    return per, series


def _padded_take(start: int, stop: int, size: int) -> np.ndarray:
    """Indices ``start..stop-1``, padded to ``size`` by repeating ``start``."""
    return np.r_[np.arange(start, stop), np.full(size - (stop - start), start)].astype(int)


def fit_masks(
    X,
    f,
    keep_ratios: list[float],
    perturbation,
    loss_function,
    target,
    *,
    task: str,
    deletion_mode: bool,
    n_epoch: int,
    initial_mask_coeff: float,
    size_reg_factor_init: float,
    size_reg_factor_dilation: float,
    time_reg_factor: float,
    learning_rate: float,
    momentum: float,
    seed: int | None,
    verbose: bool,
    jit_compile: bool | str,
    output_indices=None,
    f_input: str = "auto",
    padding_mask=None,
    input_name=None,
    batch_size: int | None = None,
) -> tuple[FitResult, bool]:
    """Check everything, then fit ``len(keep_ratios) x N`` masks in one compiled loop.

    The loop runs the masks of as many areas as ``batch_size`` model rows allow at
    once (see :func:`plan_chunks`; None: from the memory budget, never splitting
    the series); the masks are independent, so the chunks give the masks of one
    joint fit. The constructor arguments (``perturbation``, ``task``,
    ``deletion_mode``, ``jit_compile``) and the keep ratios are checked by the
    callers.
    """
    n_epoch = check_int(n_epoch, "n_epoch", min_val=1)
    check_seed(seed)
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    initial_mask_coeff = check_real(
        initial_mask_coeff, "initial_mask_coeff", min_val=0.0, max_val=1.0
    )
    size_reg_factor_init = check_real(size_reg_factor_init, "size_reg_factor_init", min_val=0.0)
    size_reg_factor_dilation = check_real(
        size_reg_factor_dilation, "size_reg_factor_dilation", min_val=0.0, include_min=False
    )
    time_reg_factor = check_real(time_reg_factor, "time_reg_factor", min_val=0.0)
    learning_rate = check_real(learning_rate, "learning_rate", min_val=0.0, include_min=False)
    momentum = check_real(momentum, "momentum", min_val=0.0, max_val=1.0)
    if not callable(loss_function):
        raise TypeError(
            f"`loss_function` must be callable. Received: loss_function={loss_function!r}."
        )
    inputs = explained_inputs(X, f, input_name, padding_mask)
    x, single, real = inputs.x, inputs.single, inputs.real
    n, t, nf = x.shape
    if real is not None and not getattr(perturbation, "handles_padding", False):
        raise ValueError(
            f"These series are padded, but the perturbation {type(perturbation).__name__} "
            "does not take a padding mask (`handles_padding`), so it would mix padding into "
            "real steps: use one of tf_tsexplain.masks' perturbations, or give it a `real` "
            "argument (see tf_tsexplain.masks.perturbations)."
        )
    call, f_input = inputs.model_call(f, f_input)
    held_all = inputs.held_rows(np.arange(n))

    def model_fn(batch):  # f on rows of all N series (the checks below)
        return call(batch, held_all)

    try:
        out_shape = probe_output(model_fn, x)
    except ValueError as err:
        hint = f" {HOW_TO_WRITE_F}" if f_input == "batch" and inputs.structure is None else ""
        raise ValueError(f"`f`: {err}{hint}") from None
    a = len(keep_ratios)
    rows = rows_per_call(batch_size, row_bytes(f, (t, nf), 4, order=1))
    areas_per_call, series_per_call = plan_chunks(a, n, rows if batch_size else max(rows, n))
    if areas_per_call > 1:  # during the fit f receives several perturbed copies at once
        tiled = np.tile(x, (areas_per_call, 1, 1))
        try:
            tiled_shape = probe_output(model_fn, tiled)
        except ValueError as err:
            raise ValueError(
                f"`f` must return one row per input row: during the fit it is called on "
                f"batches of A * N = {areas_per_call} x {n} = {areas_per_call * n} rows "
                f"({areas_per_call} areas x {n} series), but on such a batch: {err}"
            ) from None
        if tiled_shape != out_shape:
            raise ValueError(
                f"`f` must return one row per input row, of the same shape for any batch "
                f"size: its rows have shape {out_shape} for {n} rows but {tiled_shape} for "
                f"A * N = {areas_per_call * n} rows."
            )
    y = np.asarray(model_fn(tf.constant(x)))
    picks = None  # the flat output index of each series, with output_indices
    if output_indices is not None:
        if loss_function in (cross_entropy, log_loss_target):
            raise ValueError(
                f"`loss_function={loss_function.__name__}` compares class probabilities, but "
                "output_indices reduces the outputs of `f` to one value per row: use mse or "
                f"log_loss, or leave output_indices=None. Received: "
                f"output_indices={output_indices!r}."
            )
        outputs = y
        picks = resolve_output_indices(output_indices, out_shape, n, predict=lambda: outputs)[0][0]
        y = np.asarray(select_output(tf.constant(y), tf.constant(picks)))
    if loss_function in PROBABILITY_LOSSES:
        _check_probabilities(y, loss_function, task)
    target = _resolve_target(target, y, loss_function, single)
    errors = np.asarray(loss_function(tf.constant(y), tf.constant(target)))
    if errors.shape != (n,):
        raise ValueError(
            f"`loss_function` must return one error per row (shape ({n},) for {n} rows), got "
            f"shape {errors.shape}; see tf_tsexplain.masks.losses for the contract."
        )
    scored_fn = model_fn
    if picks is not None:
        series_picks = tf.constant(picks)

        def scored_fn(batch):
            return select_output(model_fn(batch), series_picks)

    try:
        check_differentiable(scored_fn, x)
    except ValueError as err:
        raise ValueError(f"`f`: {err}") from None
    loop = _cached_loop(
        f,
        call,
        (areas_per_call, series_per_call, t, nf),
        perturbation,
        loss_function,
        target,
        deletion_mode=deletion_mode,
        jit_compile=jit_compile,
        select=picks is not None,
        f_input=f_input,
        padded=real is not None,
        inputs_key=inputs.key,
    )
    ratios = np.asarray(keep_ratios, np.float64)
    picks = np.zeros(n, np.int32) if picks is None else np.asarray(picks, np.int32)
    settings = dict(
        n_epoch=n_epoch,
        initial_mask_coeff=initial_mask_coeff,
        size_reg_factor_init=size_reg_factor_init,
        size_reg_factor_dilation=size_reg_factor_dilation,
        time_reg_factor=time_reg_factor,
        learning_rate=learning_rate,
        momentum=momentum,
        verbose=verbose,
        k_max=top_k_size(keep_ratios, t * nf),
    )
    series_chunks = list(chunks(n, series_per_call))
    area_chunks = list(chunks(a, areas_per_call))
    progress = Progress(n_epoch * len(series_chunks) * len(area_chunks), verbose, unit="epochs")
    masks = np.empty((a, n, t, nf), np.float32)
    final_errors = np.empty((a, n), np.float32)
    for s0, s1 in series_chunks:
        take = _padded_take(s0, s1, series_per_call)
        chunk_real = None if real is None else real[take]
        for a0, a1 in area_chunks:
            m, e = loop.run(
                x[take],
                chunk_real,
                target[take],
                picks[take],
                ratios[_padded_take(a0, a1, areas_per_call)],
                inputs.held_rows(take),
                progress=progress,
                **settings,
            )
            masks[a0:a1, s0:s1] = m[: a1 - a0, : s1 - s0]
            final_errors[a0:a1, s0:s1] = e[: a1 - a0, : s1 - s0]
    return FitResult(masks, final_errors, target, x, real, loop.last_choice), single


# ------------------------------------------------------------------ compiled loops
# Building and (XLA-)compiling the training loop costs about a second, whatever
# n_epoch: the loops are cached, keyed by what their graph depends on (the objects
# ``f``, ``perturbation`` and ``loss_function`` by identity, the mode, the shapes and
# the size of the top_k), while the data, the keep ratios and every hyper-parameter are
# tensor arguments. So repeated fits of the same shapes (e.g. one Mask.fit per series)
# reuse one compiled loop. The cache holds at most CACHE_SIZE loops (least recently
# used first out); each one keeps its objects alive, so ids cannot be reused while it
# is cached. A callable ``f`` (or perturbation) whose Python state changes between fits
# would keep its traced behaviour: call ``clear_fit_cache()`` after such a change.
CACHE_SIZE = 8
_CACHE: OrderedDict = OrderedDict()
TRACES = [0]  # how many times a training loop was traced (for tests)


def sorted_area_penalty(flat, kth, ones, cells=None):
    """Dynamask's sorted-area regulariser ``mean((r_a - sort(m))^2)`` per row.

    ``r_a`` (``int((1 - a) D)`` zeros then ones) pairs the ``ones`` largest entries of
    ``flat`` (``(..., D)``) with 1 and the others with 0, so the regulariser is
    ``mean((r - m)^2)`` with ``r = 1`` above the ``ones``-th largest value ``kth``
    (``(..., 1)``) and 0 below. Cells tied at ``kth`` (within 1e-6, so that float noise
    cannot split a tie) share the ones left evenly (``r`` = ones left / tied cells): a
    subgradient of the same objective that favours no cell by its position (with a
    plain sort, equal values, e.g. every cell at the start, get 1 or 0 by index).
    ``cells`` (``(..., D)``, 1 on real cells, 0 on padded ones whose ``flat`` value is
    below every real one) restricts the mean to real cells.
    """
    above = tf.cast(flat > kth + _TIE, flat.dtype)
    tied = tf.cast(tf.abs(flat - kth) <= _TIE, flat.dtype)
    if cells is not None:
        above, tied = above * cells, tied * cells
    left = ones - tf.reduce_sum(above, axis=-1, keepdims=True)
    share = left / tf.maximum(tf.reduce_sum(tied, axis=-1, keepdims=True), 1.0)
    ref = tf.stop_gradient(above + tied * share)
    if cells is None:
        return tf.reduce_mean(tf.square(ref - flat), axis=-1)
    return tf.reduce_sum(tf.square(ref - flat) * cells, axis=-1) / tf.reduce_sum(cells, axis=-1)


def clear_fit_cache() -> None:
    """Forget the compiled training loops of ``Mask.fit`` / ``MaskGroup.fit`` and the
    compilation choices of "auto" (also those of ``ExtremalMask``)."""
    _CACHE.clear()
    forget_choices()


def cached_loops() -> int:
    """How many compiled training loops are cached (at most ``CACHE_SIZE``)."""
    return len(_CACHE)


def top_k_size(keep_ratios, d: int) -> int:
    """The top_k size for these areas: the largest count of ones, rounded up to a power
    of two (at most D), so that fits of different areas share a few compiled loops."""
    k_max = max(1, max(d - int((1 - ratio) * d) for ratio in keep_ratios))
    return min(d, 1 << (k_max - 1).bit_length())


def _cached_loop(
    f,
    call,
    shape,
    perturbation,
    loss_function,
    target,
    *,
    deletion_mode,
    jit_compile,
    select,
    f_input="batch",
    padded=False,
    inputs_key=(),
):
    key = (
        id(f),
        f_input,  # a one-series f is called through its vectorised wrapper
        inputs_key,  # several inputs: which one is explained, the others' shapes
        id(perturbation),
        id(loss_function),
        bool(deletion_mode),
        jit_compile,
        shape,
        tuple(target.shape[1:]),
        target.dtype.str,
        bool(select),
        bool(padded),
    )
    loop = _CACHE.get(key)
    if loop is None:
        loop = _Loop(
            f,
            call,
            shape,
            perturbation,
            loss_function,
            deletion_mode,
            jit_compile,
            select,
            padded,
        )
        _CACHE[key] = loop
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return loop


class _Loop:
    """Variables and the compiled epoch loop for one key of the cache.

    ``jit_compile`` True or False fixes the mode; "auto" times both on the first fit
    (``masks._compile.choose``) and keeps the choice for the later fits of this loop.
    """

    def __init__(
        self,
        f,
        call,
        shape,
        perturbation,
        loss_function,
        deletion_mode,
        jit_compile,
        select,
        padded=False,
    ):
        self.refs = (f, perturbation, loss_function)  # keep the ids of the key valid
        self.shape = shape
        self.call = call  # call(batch, held): f on perturbed rows, other inputs held
        self.select = bool(select)  # reduce f's output to one flat index per row
        self.padded = bool(padded)  # the objective weighs cells by `real`
        self.loss_function = loss_function
        self.sign = -1.0 if deletion_mode else 1.0
        self.layer = MaskLayer(shape, perturbation, 0.5, deletion_mode)
        self.mask = self.layer.mask.value  # the tf.Variable under the Keras variable
        self.velocity = tf.Variable(tf.zeros(shape), trainable=False)
        self.jit_compile = jit_compile
        self.choice = None if jit_compile == "auto" else Choice(bool(jit_compile), reason="set")
        self._epochs = {}  # one tf.function per (top_k size, XLA)

    def _outputs(self, x, real, picks, held):
        """``f`` on the perturbed series, ``(A * N, ...)``; with ``select``, the output
        ``picks[row]`` of each row (``picks``: ``(A * N,)`` flat indices); ``real``:
        ``(N, T, 1)``, 1 on real steps (used when the loop is ``padded``)."""
        a, n, t, nf = self.shape
        perturbed = self.layer(x, real) if self.padded else self.layer(x)  # (A, N, T, F)
        y = self.call(tf.reshape(perturbed, (a * n, t, nf)), held)
        return select_output(y, picks) if self.select else y

    def _objective(self, x, real, target, picks, held, k_max, kth, ones, lam, time_reg_factor):
        a, n, t, nf = self.shape
        y = self._outputs(x, real, picks, held)
        error = tf.reshape(self.loss_function(y, target), (a, n))
        m = self.mask
        flat = tf.reshape(m, (a, n, t * nf))
        cells = None
        if self.padded:  # padded cells rank below every real one and weigh nothing
            cells = tf.reshape(tf.broadcast_to(real, (n, t, nf)), (1, n, t * nf))
            flat = tf.where(cells > 0, flat, -tf.ones_like(flat))
        # The k_a = D - int((1 - a) D) largest entries pair with 1 (see
        # sorted_area_penalty): a top_k of k_max >= max k_a (cheap for small areas)
        # replaces the sort.
        top = tf.math.top_k(flat, k=k_max, sorted=True).values  # (A, N, k_max)
        kth = tf.gather(top, tf.broadcast_to(kth, (a, n)), axis=2, batch_dims=2)
        kth = kth[..., None]  # (A, N, 1): the k_a-th largest value
        size_reg = sorted_area_penalty(flat, kth, ones, cells)
        if cells is None:
            time_reg = tf.reduce_mean(tf.abs(m[:, :, 1:] - m[:, :, :-1]), axis=(2, 3))
        else:
            pairs = real[None, :, 1:] * real[None, :, :-1]  # (1, N, T - 1, 1)
            steps = tf.abs(m[:, :, 1:] - m[:, :, :-1]) * pairs
            count = tf.maximum(tf.reduce_sum(pairs, axis=(2, 3)) * nf, 1.0)
            time_reg = tf.reduce_sum(steps, axis=(2, 3)) / count
        total = self.sign * error + lam * size_reg + time_reg_factor * time_reg
        return tf.reduce_sum(total), error

    def _function(self, k_max: int, xla: bool):
        key = (k_max, bool(xla))
        if key in self._epochs:
            return self._epochs[key]

        def run_epochs(x, real, target, picks, held, kth, ones, hyper, start, count):
            TRACES[0] += 1  # Python side effect: runs once per trace
            lam0, log_growth, time_reg_factor, lr, momentum = tf.unstack(hyper)
            for i in tf.range(count):
                # only the mask is watched: the model's weights need no gradient
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(self.mask)
                    epoch = tf.cast(start + i, tf.float32)
                    lam = lam0 * tf.exp(epoch * log_growth)
                    total, _ = self._objective(
                        x, real, target, picks, held, k_max, kth, ones, lam, time_reg_factor
                    )
                grad = tape.gradient(total, self.mask)
                self.velocity.assign(momentum * self.velocity + grad)
                self.mask.assign(tf.clip_by_value(self.mask - lr * self.velocity, 0.0, 1.0))
            return start + count

        self._epochs[key] = tf.function(run_epochs, jit_compile=bool(xla))
        return self._epochs[key]

    def run(
        self,
        x,
        real,
        target,
        picks,
        keep_ratios,
        held,
        *,
        n_epoch,
        initial_mask_coeff,
        size_reg_factor_init,
        size_reg_factor_dilation,
        time_reg_factor,
        learning_rate,
        momentum,
        verbose: bool,
        k_max: int,
        progress,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit the masks of one chunk: ``x`` ``(N, T, F)``, ``real`` ``(N, T)`` or None,
        ``target`` ``(N, ...)``, ``picks`` ``(N,)``, ``keep_ratios`` ``(A,)``, ``held``
        the other inputs' tensors; returns masks ``(A, N, T, F)`` and errors ``(A, N)``."""
        a, n, t, nf = self.shape
        d = t * nf
        real_cells = np.full(n, d) if real is None else real.sum(axis=1) * nf  # (N,): D_n
        ones = np.array(
            [[dn - int((1 - ratio) * dn) for dn in real_cells] for ratio in keep_ratios]
        )
        kth = tf.constant(np.maximum(ones, 1).astype(np.int32) - 1)  # (A, N)
        ones = tf.constant(ones.astype(np.float32)[:, :, None])  # (A, N, 1)
        real_steps = np.ones((n, t), bool) if real is None else real
        initial = tf.constant(
            np.broadcast_to(real_steps[:, :, None], self.shape) * initial_mask_coeff, tf.float32
        )
        hyper = tf.constant(
            [
                size_reg_factor_init,
                math.log(size_reg_factor_dilation) / n_epoch,
                time_reg_factor,
                learning_rate,
                momentum,
            ],
            tf.float32,
        )
        x = tf.constant(x)
        real_t = tf.constant(real_steps[:, :, None].astype(np.float32))  # (N, T, 1)
        target = tf.constant(np.tile(target, (a,) + (1,) * (target.ndim - 1)))
        picks = tf.constant(np.tile(np.asarray(picks, np.int32), a))  # (A * N,): row a * N + n
        args = (x, real_t, target, picks, tuple(held), kth, ones, hyper)
        done = [0]

        def runner(xla: bool):
            def run(count: int) -> None:
                self._function(k_max, xla)(
                    *args, tf.constant(done[0], tf.int32), tf.constant(count, tf.int32)
                )
                done[0] += count

            return run

        def reset() -> None:
            self.mask.assign(initial)
            self.velocity.assign(tf.zeros(self.shape))
            done[0] = 0

        def save():
            return self.mask.numpy(), self.velocity.numpy(), done[0]

        def restore(state) -> None:
            self.mask.assign(state[0])
            self.velocity.assign(state[1])
            done[0] = state[2]

        reset()
        if self.choice is None:  # "auto", first fit: time both modes
            choice, kept = choose(runner(False), runner(True), save, restore, n_epoch)
            if choice.reason == "measured" or choice.reason.startswith("XLA failed"):
                self.choice = choice  # fits too short to time decide again next time
            if kept == 0:
                reset()
            progress.advance(kept)
            used = choice
        else:
            used = self.choice
        self.last_choice = used
        run = runner(used.xla)
        step = n_epoch if not verbose else max(1, n_epoch // 50)
        while done[0] < n_epoch:
            count = min(step, n_epoch - done[0])
            run(count)
            progress.advance(count)
        y = self._outputs(x, real_t, picks, tuple(held))
        errors = tf.reshape(self.loss_function(y, target), (a, n)).numpy()
        return self.mask.numpy().copy(), errors
