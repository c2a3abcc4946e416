"""Black boxes written for one series ``(T, F)``, as Dynamask's are: detection and vectorisation.

The fit calls ``f`` on batches ``(B, T, F)`` of perturbed series (the fast path). A
Dynamask user's black box often takes one series instead (``black_box(input): return
input[-1, :]``, with ``X`` of shape ``(T, F)``). ``batch_function`` tells the two apart
and turns a one-series ``f`` into a batch function with ``tf.vectorized_map`` (one
vectorised graph; ops it cannot vectorise run in a loop), or ``tf.map_fn`` if
vectorising fails altogether.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_tsexplain._validation import check_choice

F_INPUTS = ("auto", "batch", "series")

HOW_TO_WRITE_F = (
    "Write `f` for batches, mapping (B, T, F) to (B, ...) (e.g. `lambda batch: batch[:, -1, "
    ":]` for the last step), or for one series, mapping (T, F) to its outputs, and pass "
    "f_input='series'."
)


def _probe_rows(t: int, nf: int) -> int:
    """A batch size that no per-series ``f`` returns as its first axis by accident: the
    smallest B >= 2 that is neither T nor F."""
    b = 2
    while b in (t, nf):
        b += 1
    return b


def _call(fn, batch):
    """``fn(batch)`` as a tensor, or the reason it is not one (a string)."""
    try:
        out = fn(tf.constant(batch))
    except Exception as err:  # any failure of user code is a reason, reported below
        return f"failed ({type(err).__name__}: {' '.join(str(err).split())[:200]})"
    if isinstance(out, list | tuple | dict):
        return "returned several outputs (a list, tuple or dict), not one tensor"
    try:
        return tf.convert_to_tensor(out)
    except (TypeError, ValueError) as err:
        return f"returned something that is not a tensor ({err})"


def vectorize(series_fn, example: np.ndarray):
    """A batch function ``(B, T, F) -> (B, ...)`` from ``series_fn: (T, F) -> (...)``.

    ``tf.vectorized_map`` first; if it cannot run ``series_fn`` on ``example`` (a batch),
    ``tf.map_fn``. Raises ValueError if neither works.
    """

    # one tf.function each (any batch size: reduce_retracing), so that the calls of the
    # fit's checks do not each trace a new graph; inside the training loop it is inlined
    @tf.function(reduce_retracing=True)
    def vectorized(batch):
        return tf.vectorized_map(series_fn, batch)

    @tf.function(reduce_retracing=True)
    def looped(batch):
        spec = tf.TensorSpec.from_tensor(tf.convert_to_tensor(series_fn(batch[0])))
        return tf.map_fn(series_fn, batch, fn_output_signature=spec)

    reasons = []
    for candidate in (vectorized, looped):
        out = _call(candidate, example)
        if isinstance(out, tf.Tensor) and out.shape.rank and out.shape[0] == len(example):
            return candidate
        reasons.append(out if isinstance(out, str) else f"returned shape {tuple(out.shape)}")
    raise ValueError(
        f"`f` takes one series but could not be mapped over a batch of series: "
        f"tf.vectorized_map {reasons[0]}, tf.map_fn {reasons[1]}. Use TensorFlow ops only."
    )


def batch_function(model_fn, x: np.ndarray, single: bool, f_input: str):
    """``(batch function, "batch" or "series")`` for the fit.

    Args:
        model_fn: the user's ``f`` as a callable (``_model.as_model_fn``).
        x: the series as a batch ``(N, T, F)``.
        single: ``X`` was one series ``(T, F)`` (only then is ``"auto"`` detection done).
        f_input: "auto", "batch" or "series" (see ``Mask.fit``).
    """
    f_input = check_choice(f_input, "f_input", F_INPUTS)
    if f_input == "batch" or (f_input == "auto" and not single):
        return model_fn, "batch"
    if f_input == "series":
        return vectorize(model_fn, x), "series"
    # auto, one series: does f map a batch to a batch?
    _, t, nf = x.shape
    rows = _probe_rows(t, nf)
    on_batch = _call(model_fn, np.repeat(x, rows, axis=0))
    if isinstance(on_batch, tf.Tensor) and on_batch.shape.rank and on_batch.shape[0] == rows:
        return model_fn, "batch"
    on_series = _call(model_fn, x[0])
    if isinstance(on_series, tf.Tensor):
        return vectorize(model_fn, x), "series"
    if isinstance(on_batch, tf.Tensor):
        on_batch = f"returned shape {tuple(on_batch.shape)}"
    raise ValueError(
        f"`f` must map a batch of series to one output row per series, or one series to "
        f"its outputs: on a batch of shape {(rows, t, nf)} it {on_batch}, and on the "
        f"series of shape {(t, nf)} it {on_series}. {HOW_TO_WRITE_F}"
    )
