"""Tidy pandas tables and aggregation of sequence attributions.

``to_frame`` gives one row per (sample, time, feature) cell; ``aggregate`` reduces
``(N, T, F)`` attributions over one axis; ``interactions_frame`` ranks the pairs of an
interaction matrix by magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tf_tsexplain._validation import check_labels, check_padding_mask, check_positive_int

_AXES = {"sample": 0, "time": 1, "feature": 2}
_HOW = {
    "sum_abs": lambda a, axis: np.abs(a).sum(axis=axis),
    "mean_abs": lambda a, axis: np.abs(a).mean(axis=axis),
    "sum": lambda a, axis: a.sum(axis=axis),
    "mean": lambda a, axis: a.mean(axis=axis),
    "max_abs": lambda a, axis: np.abs(a).max(axis=axis),
}


def _as_sequences(attributions, name: str = "attributions") -> np.ndarray:
    """(N, T, F) array from (N, T, F) or one (T, F) map; clear errors otherwise."""
    attr = np.asarray(attributions)
    if attr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {attr.shape}).")
    if attr.ndim == 2:
        attr = attr[None]
    if attr.ndim != 3:
        raise ValueError(f"`{name}` must be (N, T, F) or (T, F), got shape {attr.shape}.")
    if not np.issubdtype(attr.dtype, np.number):
        raise TypeError(f"`{name}` must be numeric, got dtype {attr.dtype}.")
    return attr


def to_frame(
    attributions,
    feature_names: Sequence[str] | None = None,
    time_index: Sequence | None = None,
    sample_ids: Sequence | None = None,
    inputs=None,
    padding_mask=None,
) -> pd.DataFrame:
    """Long-format table of sequence attributions.

    Args:
        attributions: ``(N, T, F)`` (or ``(T, F)`` for one sample).
        feature_names: F names (default ``f0, f1, ...``).
        time_index: T labels for the time axis, e.g. timestamps (default ``0..T-1``).
        sample_ids: N identifiers (default ``0..N-1``).
        inputs: optional input values of the same shape, added as column ``value``.
        padding_mask: optional ``(N, T)`` booleans, True on real steps: the rows of
            padded steps are dropped.

    Returns:
        DataFrame with columns ``sample, time, feature, attribution`` (and ``value``
        when ``inputs`` is given), N * T * F rows ordered by sample, time, feature,
        so that ``frame.attribution.to_numpy().reshape(N, T, F)`` is the input array
        (without ``padding_mask``; with it, only the rows of real steps, same order).
    """
    attr = _as_sequences(attributions)
    n, t, f = attr.shape
    features = check_labels(feature_names, f, "feature_names", (f"f{i}" for i in range(f)))
    times = check_labels(time_index, t, "time_index", range(t))
    samples = check_labels(sample_ids, n, "sample_ids", range(n))
    frame = pd.DataFrame(
        {
            "sample": np.repeat(np.array(samples, dtype=object), t * f),
            "time": np.tile(np.repeat(np.array(times, dtype=object), f), n),
            "feature": np.tile(np.array(features, dtype=object), n * t),
            "attribution": attr.ravel(),
        }
    )
    for column in ("sample", "time"):  # keep integer labels integer
        frame[column] = frame[column].infer_objects()
    if inputs is not None:
        values = np.asarray(inputs)
        if values.size != attr.size:
            raise ValueError(
                f"`inputs` must have the attributions' shape {attr.shape}, got {values.shape}."
            )
        frame["value"] = values.reshape(attr.shape).ravel()
    if padding_mask is not None:
        real = check_padding_mask(padding_mask, n, t)
        frame = frame[np.repeat(real.ravel(), f)].reset_index(drop=True)
    return frame


def aggregate(attributions, over: str = "time", how: str = "mean_abs") -> np.ndarray:
    """Reduce ``(N, T, F)`` attributions over one axis.

    Signed sums and means let positive and negative contributions cancel: a feature
    that pushes the output up at one time step and down at another, or up for some
    samples and down for others, can sum to about zero although it matters a great
    deal. Use them to ask about the *net* effect (for integrated gradients, summing
    everything gives f(x) - f(baseline)). To ask *how much* a feature or time step
    matters, use magnitudes (``"sum_abs"``, ``"mean_abs"``, ``"max_abs"``), which
    cannot cancel.

    Args:
        attributions: ``(N, T, F)`` (or ``(T, F)`` for one sample).
        over: the axis reduced away: ``"time"`` -> ``(N, F)`` (one value per feature
            and sample), ``"feature"`` -> ``(N, T)``, ``"sample"`` -> ``(T, F)``.
        how: ``"sum_abs"``, ``"mean_abs"`` (default), ``"sum"``, ``"mean"`` or
            ``"max_abs"``.

    Returns:
        The reduced array.
    """
    if over not in _AXES:
        raise ValueError(f"`over` must be one of {sorted(_AXES)}, got {over!r}.")
    if how not in _HOW:
        raise ValueError(f"`how` must be one of {sorted(_HOW)}, got {how!r}.")
    return _HOW[how](_as_sequences(attributions), _AXES[over])


def interactions_frame(
    interactions, feature_names: Sequence[str] | None = None, top_k: int | None = None
) -> pd.DataFrame:
    """Rank the pairs of one sequence's interaction tensor by magnitude.

    Args:
        interactions: ``(T, F, T, F)`` for one sequence (as returned per input by
            ``PathExplainerTF.interactions``).
        feature_names: F names (default ``f0, f1, ...``).
        top_k: keep the k strongest pairs (default: all).

    Returns:
        DataFrame with columns ``time_i, feature_i, time_j, feature_j, interaction``,
        one row per unordered pair of distinct cells (the matrix is symmetric; the
        value is ``Gamma_ij + Gamma_ji``, the pair's total share of the attributions),
        sorted by decreasing ``|interaction|``. The diagonal (main effects) is left
        out.
    """
    gamma = np.asarray(interactions)
    if gamma.size == 0:
        raise ValueError("`interactions` is empty.")
    if gamma.ndim != 4 or gamma.shape[:2] != gamma.shape[2:]:
        raise ValueError(
            f"`interactions` must be (T, F, T, F) for one sequence, got shape {gamma.shape}."
        )
    t, f = gamma.shape[:2]
    features = np.array(
        check_labels(feature_names, f, "feature_names", (f"f{i}" for i in range(f))), dtype=object
    )
    flat = gamma.reshape(t * f, t * f)
    i, j = np.triu_indices(t * f, k=1)
    values = flat[i, j] + flat[j, i]
    order = np.argsort(-np.abs(values), kind="stable")
    if top_k is not None:
        check_positive_int(top_k, "top_k")
        order = order[:top_k]
    i, j, values = i[order], j[order], values[order]
    return pd.DataFrame(
        {
            "time_i": i // f,
            "feature_i": features[i % f],
            "time_j": j // f,
            "feature_j": features[j % f],
            "interaction": values,
        }
    )
