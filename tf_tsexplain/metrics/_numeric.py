"""Numeric helpers shared by the metrics and the masks: min-max, trapezoids, x log x, ranks."""

from __future__ import annotations

import numpy as np


def minmax_rows(flat: np.ndarray) -> np.ndarray:
    """Each row of ``(N, D)`` scaled to [0, 1]; a constant row becomes 0."""
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    return (flat - low) / np.where(span > 0, span, 1.0)


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
