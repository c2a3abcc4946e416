"""Input checks shared by every public entry point.

Each public function calls these first, so that bad input is reported the same way
everywhere (the argument's name, what was expected, what was given) and before any
long computation starts.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf


def compute_dtype(array: np.ndarray) -> np.dtype:
    """float64 stays float64; every other float type is computed in float32."""
    return np.dtype(np.float64) if array.dtype == np.float64 else np.dtype(np.float32)


def as_float_array(
    value,
    name: str,
    *,
    min_rank: int = 1,
    allow_nonfinite: bool = False,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Convert ``value`` to a float numpy array and check it.

    Args:
        value: array-like, numpy array or tensor.
        name: argument name used in error messages.
        min_rank: the smallest accepted rank.
        allow_nonfinite: accept NaN and Inf values.
        dtype: cast to this float dtype; by default float64 stays float64 and any
            other float type becomes float32.

    Raises:
        TypeError: if the values are not real floating point numbers (integers,
            booleans, strings and complex numbers are refused so that a forgotten
            cast or a token-id input is caught instead of silently converted).
        ValueError: on a rank below ``min_rank``, an empty array, or non-finite
            values when not allowed.
    """
    if isinstance(value, tf.Tensor | tf.Variable):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except Exception as err:  # ragged lists and the like
        raise TypeError(
            f"`{name}` must be an array of floats; could not convert it: {err}"
        ) from None
    if array.dtype == object:
        raise TypeError(f"`{name}` must be an array of floats, got a ragged or object array.")
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"`{name}` must hold floating point values, got dtype {array.dtype}. "
            "Cast it with `.astype('float32')` if the values are real-valued features; "
            "token ids need an embedding first (see EmbeddingExplainerTF)."
        )
    if array.ndim < min_rank:
        raise ValueError(f"`{name}` must have rank >= {min_rank}, got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}).")
    target = dtype if dtype is not None else compute_dtype(array)
    array = np.ascontiguousarray(array, dtype=target)
    if not allow_nonfinite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or Inf value(s). Clean the data, or pass "
            "allow_nonfinite=True to accept non-finite results."
        )
    return array


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int, raising if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= 1, got {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1, got {value}.")
    return int(value)


def check_seed(seed) -> int | None:
    """Accept None or a non-negative integer seed."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be None or a non-negative integer, got {seed!r}.")
    return int(seed)


def check_labels(labels, size: int, name: str, default) -> list:
    """``labels`` as a list of ``size`` entries, or ``default`` when None.

    ``name`` is the argument (``feature_names``, ``time_index``, ``sample_ids``); the
    error names what was counted, e.g. "`feature_names` has 3 entries for 2 features".
    """
    if labels is None:
        return list(default)
    labels = list(labels)
    if len(labels) != size:
        counted = name.split("_")[0] + "s"
        raise ValueError(f"`{name}` has {len(labels)} entries for {size} {counted}.")
    return labels
