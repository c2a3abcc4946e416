"""Input checks shared by every public entry point.

Each public function calls these first, so that bad input is reported the same way
everywhere (the argument's name, what was expected, what was given) and before any
long computation starts.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

# TensorFlow is not imported here: the command line checks its arguments with these
# functions before it imports TensorFlow (seconds). A value can only be a tf.Tensor
# once TensorFlow is loaded, so ``as_float_array`` looks it up in ``sys.modules``.


def compute_dtype(array: np.ndarray) -> np.dtype:
    """The dtype computations on ``array`` use.

    Args:
        array: a float array.

    Returns:
        float64 for float64 arrays; float32 for every other float type.
    """
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

    Returns:
        The checked float array (float32 or float64).

    Raises:
        TypeError: if the values are not real floating point numbers (integers,
            booleans, strings and complex numbers are refused so that a forgotten
            cast or a token-id input is caught instead of silently converted).
        ValueError: on a rank below ``min_rank``, an empty array, or non-finite
            values when not allowed.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, tf.Tensor | tf.Variable):
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
    array = np.asarray(array, dtype=target, order="C")  # (ascontiguousarray makes 0-d 1-d)
    if not allow_nonfinite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or Inf value(s). Clean the data, or pass "
            "allow_nonfinite=True to accept non-finite results."
        )
    return array


class NotFittedError(ValueError, AttributeError):
    """A result of a fit (a mask, a collection) was asked for before the fit ran.

    Subclasses ``ValueError`` and ``AttributeError``, as scikit-learn's error of the
    same name, so that either ``except`` clause catches it.
    """


def _kind(value) -> str:
    return type(value).__name__


def check_int(value, name: str, *, min_val: int | None = None, max_val: int | None = None) -> int:
    """``value`` as an int in ``[min_val, max_val]``.

    Args:
        value: the value to check.
        name: the argument's name, for the error message.
        min_val: the smallest value allowed (None: no bound).
        max_val: the largest value allowed (None: no bound).

    Returns:
        ``value`` as a Python int.

    Raises:
        TypeError: if ``value`` is not an integer (bools, floats and strings are
            refused, even ``2.0``).
        ValueError: if it is outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an integer. Received: {name}={value!r} ({_kind(value)})."
        )
    if min_val is not None and value < min_val:
        raise ValueError(f"`{name}` must be >= {min_val}. Received: {name}={value}.")
    if max_val is not None and value > max_val:
        raise ValueError(f"`{name}` must be <= {max_val}. Received: {name}={value}.")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """``value`` as an int >= 1.

    Args:
        value: the value to check.
        name: the argument's name, for the error message.

    Returns:
        ``value`` as a Python int.

    Raises:
        TypeError: if ``value`` is not an integer.
        ValueError: if it is below 1.
    """
    return check_int(value, name, min_val=1)


def check_real(
    value,
    name: str,
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
) -> float:
    """``value`` as a finite float in the given interval.

    Args:
        value: the value to check.
        name: the argument's name, for the error message.
        min_val: the interval's lower end (None: no bound).
        max_val: the interval's upper end (None: no bound).
        include_min: whether ``min_val`` itself is allowed.
        include_max: whether ``max_val`` itself is allowed.

    Returns:
        ``value`` as a Python float.

    Raises:
        TypeError: if ``value`` is not a real number (bools and strings refused).
        ValueError: if it is NaN, infinite or outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. Received: {name}={value!r} ({_kind(value)}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value}.")
    low_bad = min_val is not None and (value < min_val or (not include_min and value == min_val))
    high_bad = max_val is not None and (value > max_val or (not include_max and value == max_val))
    if low_bad or high_bad:
        if max_val is None:
            bound = f"{'>=' if include_min else '>'} {min_val:g}"
        elif min_val is None:
            bound = f"{'<=' if include_max else '<'} {max_val:g}"
        else:
            low, high = "[" if include_min else "(", "]" if include_max else ")"
            bound = f"in {low}{min_val:g}, {max_val:g}{high}"
        raise ValueError(f"`{name}` must be {bound}. Received: {name}={value:g}.")
    return value


def check_bool(value, name: str) -> bool:
    """``value`` as a bool; Python and numpy bools only (``verbose`` also takes 0/1).

    Args:
        value: the value to check.
        name: the argument's name, for the error message.

    Returns:
        ``value`` as a Python bool.

    Raises:
        TypeError: if ``value`` is not a bool.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r} ({_kind(value)}).")


def check_verbose(verbose) -> bool:
    """``verbose`` as a bool: True/False, or Keras' 0/1.

    Args:
        verbose: the value to check.

    Returns:
        ``verbose`` as a Python bool.

    Raises:
        TypeError: anything but a bool, 0 or 1.
    """
    if (
        isinstance(verbose, numbers.Integral)
        and not isinstance(verbose, bool)
        and verbose in (0, 1)
    ):
        return bool(verbose)
    return check_bool(verbose, "verbose")


def check_choice(value, name: str, choices) -> str:
    """``value`` as one of the strings ``choices``.

    Args:
        value: the value to check.
        name: the argument's name, for the error message.
        choices: the strings allowed.

    Returns:
        ``value``.

    Raises:
        TypeError: if ``value`` is not a string.
        ValueError: if it is not one of ``choices``.
    """
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be one of {tuple(choices)}. "
            f"Received: {name}={value!r} ({_kind(value)})."
        )
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}.")
    return value


def check_seed(seed) -> int | None:
    """None or a non-negative integer seed.

    Args:
        seed: the value to check.

    Returns:
        None or the seed as a Python int.

    Raises:
        TypeError: a seed that is not an integer.
        ValueError: a negative seed.
    """
    if seed is None:
        return None
    return check_int(seed, "seed", min_val=0)


def check_batch_size(batch_size) -> int | None:
    """None (chosen from the memory budget) or an integer >= 1.

    Args:
        batch_size: the value to check.

    Returns:
        None or the batch size as a Python int.

    Raises:
        TypeError: a batch size that is not an integer.
        ValueError: a batch size below 1.
    """
    if batch_size is None:
        return None
    return check_int(batch_size, "batch_size", min_val=1)


def check_labels(labels, size: int, name: str, default) -> list:
    """``labels`` as a list of ``size`` entries, or ``default`` when None.

    Args:
        labels: the labels given, or None.
        size: the number of labels needed.
        name: the argument (``feature_names``, ``time_index``, ``sample_ids``); the
            error names what was counted, e.g. "`feature_names` has 3 entries for 2
            features".
        default: the labels used when ``labels`` is None.

    Returns:
        A list of ``size`` labels.

    Raises:
        ValueError: ``labels`` with another number of entries.
    """
    if labels is None:
        return list(default)
    labels = list(labels)
    if len(labels) != size:
        counted = name.split("_")[0] + "s"
        raise ValueError(f"`{name}` has {len(labels)} entries for {size} {counted}.")
    return labels


def check_padding_mask(mask, n: int, steps: int, name: str = "padding_mask") -> np.ndarray:
    """``(N, T)`` booleans, True on real steps, with at least one real step per row.

    Args:
        mask: the mask to check.
        n: N, the rows.
        steps: T, the steps.
        name: the argument's name, for the error message.

    Returns:
        ``mask`` as a boolean numpy array ``(N, T)``.

    Raises:
        TypeError: a mask that is not boolean.
        ValueError: a mask of another shape, or a row without a real step.
    """
    arr = np.asarray(mask)
    if arr.dtype != bool:
        raise TypeError(
            f"`{name}` must be booleans (True on real steps). Received dtype {arr.dtype}."
        )
    if arr.shape != (n, steps):
        raise ValueError(f"`{name}` must have shape ({n}, {steps}). Received: shape {arr.shape}.")
    if not arr.any(axis=1).all():
        empty = np.flatnonzero(~arr.any(axis=1))[:10].tolist()
        raise ValueError(f"`{name}` has rows without any real step: {empty}.")
    return arr
