"""Numeric helpers shared by the metrics and the masks: min-max, trapezoids, x log x, ranks."""

from __future__ import annotations

import numpy as np


def minmax_rows(flat: np.ndarray, real: np.ndarray | None = None) -> np.ndarray:
    """Each row of ``(N, D)`` scaled to [0, 1]; a constant row becomes 0. With
    ``real`` (``(N, D)`` booleans) the min and max are over the real cells and the
    other cells become 0."""
    if real is None:
        low = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - low
        return (flat - low) / np.where(span > 0, span, 1.0)
    low = np.where(real, flat, np.inf).min(axis=1, keepdims=True)
    span = np.where(real, flat, -np.inf).max(axis=1, keepdims=True) - low
    return np.where(real, (flat - low) / np.where(span > 0, span, 1.0), 0.0)


def real_cells(padding_mask, shape: tuple[int, ...]) -> np.ndarray | None:
    """``(N, D)`` True on the cells of real steps of maps of ``shape`` ``(N, T, ...)``,
    from a padding mask ``(N, T)`` (True on real steps); None for None."""
    if padding_mask is None:
        return None
    from tf_tsexplain._validation import check_padding_mask

    if len(shape) < 2:
        raise ValueError(
            f"`padding_mask` needs maps of shape (N, T, ...); the maps have shape {shape}."
        )
    real = check_padding_mask(padding_mask, shape[0], shape[1])
    cells = np.broadcast_to(real.reshape(real.shape + (1,) * (len(shape) - 2)), shape)
    return cells.reshape(shape[0], -1)


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoidal area of each row of ``y`` over ``x`` (numpy 1 and 2 alike)."""
    return ((y[..., 1:] + y[..., :-1]) / 2 * np.diff(x)).sum(axis=-1)


def xlogx(v) -> np.ndarray:
    """``v * log(v)`` with the limit 0 at ``v = 0`` (for binary entropies), in float64."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, tied values sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # 1-based rank of the last value of each distinct value
    return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]
