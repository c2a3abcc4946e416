"""Tidy pandas tables and aggregation of sequence attributions.

``to_frame`` gives one row per (sample, time, feature) cell; ``aggregate`` reduces
``(N, T, F)`` attributions over one axis; ``interactions_frame`` ranks the pairs of an
interaction matrix by magnitude; ``shapley_events_frame``, ``shapley_features_frame`` and
``shapley_importance`` tabulate Shapley values of events and features and their global
importance over many sequences.
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

    Raises:
        TypeError: values that are not numeric.
        ValueError: empty arrays, arrays of the wrong shape, or names, labels and
            options that do not fit them.
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


def aggregate(
    attributions, over: str = "time", how: str = "mean_abs", padding_mask=None
) -> np.ndarray:
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
        padding_mask: ``(N, T)`` booleans, True on real steps (``(T,)`` for one
            map): padded cells are left out, so means are over real cells; a value
            with no real cell to reduce (a padded step with ``over="feature"``, a
            step no sample reaches with ``over="sample"``) is NaN.

    Returns:
        The reduced array, float: ``(N, F)``, ``(N, T)`` or ``(T, F)`` as ``over``
        says.

    Raises:
        TypeError: values that are not numeric.
        ValueError: empty arrays, arrays of the wrong shape, or names, labels and
            options that do not fit them.
    """
    if over not in _AXES:
        raise ValueError(f"`over` must be one of {sorted(_AXES)}, got {over!r}.")
    if how not in _HOW:
        raise ValueError(f"`how` must be one of {sorted(_HOW)}, got {how!r}.")
    attr = _as_sequences(attributions)
    axis = _AXES[over]
    if padding_mask is None:
        return _HOW[how](attr, axis)
    mask = np.asarray(padding_mask)
    real = check_padding_mask(mask[None] if mask.ndim == 1 else mask, len(attr), attr.shape[1])
    cells = np.broadcast_to(real[:, :, None], attr.shape)
    count = cells.sum(axis=axis)
    values = np.abs(attr) if how.endswith("_abs") else attr
    if how == "max_abs":
        reduced = np.where(cells, values, -np.inf).max(axis=axis)
    else:
        reduced = np.where(cells, values, 0.0).sum(axis=axis)
        if how.startswith("mean"):
            reduced = reduced / np.maximum(count, 1)
    return np.where(count > 0, reduced, np.nan)


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

    Raises:
        TypeError: values that are not numeric.
        ValueError: empty arrays, arrays of the wrong shape, or names, labels and
            options that do not fit them.
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


# ---------------------------------------------------------------------- Shapley values
PRUNED_EVENTS = "pruned events"


def _per_sample(values, name: str) -> np.ndarray:
    """``(N, D)`` float array from ``(N, D)`` or one sample's ``(D,)``."""
    array = np.asarray(values)
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}).")
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"`{name}` must be numeric, got dtype {array.dtype}.")
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be (N, D) or (D,), got shape {array.shape}.")
    return array.astype(float)


def _per_sample_vector(value, n: int, name: str, default) -> np.ndarray:
    if value is None:
        return np.full(n, default)
    array = np.atleast_1d(np.asarray(value))
    if array.shape != (n,):
        raise ValueError(f"`{name}` must have one entry per sample ({n}), got shape {array.shape}.")
    return array


def shapley_events_frame(values, window_start=None, pruned=None, sample_ids=None) -> pd.DataFrame:
    """Event Shapley values as a tidy table, one row per (sample, kept event).

    Args:
        values: ``(N, T)`` event values (``ShapleyValues.values`` at the event level),
            or ``(T,)`` for one sequence.
        window_start: ``(N,)`` first kept time step of each sequence (default 0: every
            event kept); earlier steps are not listed on their own.
        pruned: ``(N,)`` value of the pruned events as one player; each sequence with
            ``window_start > 0`` gets one more row for them.
        sample_ids: N identifiers (default ``0..N-1``).

    Returns:
        DataFrame with columns ``sample``, ``position`` (from the end: -1 is the most
        recent event; missing for the pruned row), ``time`` (the step's index; missing
        for the pruned row), ``pruned`` (True on the pruned row) and ``shapley``; per
        sample, the most recent event first and the pruned events last.

    Raises:
        TypeError: values that are not numeric.
        ValueError: empty arrays, arrays of the wrong shape, or names, labels and
            options that do not fit them.
    """
    phi = _per_sample(values, "values")
    n, t = phi.shape
    start = _per_sample_vector(window_start, n, "window_start", 0).astype(int)
    pruned_values = _per_sample_vector(pruned, n, "pruned", 0.0).astype(float)
    samples = check_labels(sample_ids, n, "sample_ids", range(n))
    columns = {"sample": [], "position": [], "time": [], "pruned": [], "shapley": []}
    for i in range(n):
        steps = np.arange(t - 1, start[i] - 1, -1)
        columns["sample"] += [samples[i]] * len(steps)
        columns["position"] += list(steps - t)
        columns["time"] += list(steps)
        columns["pruned"] += [False] * len(steps)
        columns["shapley"] += list(phi[i, steps])
        if start[i] > 0:
            columns["sample"].append(samples[i])
            columns["position"].append(pd.NA)
            columns["time"].append(pd.NA)
            columns["pruned"].append(True)
            columns["shapley"].append(pruned_values[i])
    frame = pd.DataFrame(columns)
    frame["position"] = frame["position"].astype("Int64")
    frame["time"] = frame["time"].astype("Int64")
    frame["sample"] = frame["sample"].infer_objects()
    return frame


def shapley_features_frame(
    values, pruned=None, feature_names: Sequence[str] | None = None, sample_ids=None
) -> pd.DataFrame:
    """Feature Shapley values as a tidy table, one row per (sample, feature).

    Args:
        values: ``(N, F)`` feature values (``ShapleyValues.values`` at the feature
            level), or ``(F,)`` for one sequence.
        pruned: ``(N,)`` value of the pruned events; when given, each sample gets one
            more row, feature ``"pruned events"`` (none where the value is NaN: nothing
            was pruned).
        feature_names: F names (default ``f0, f1, ...``).
        sample_ids: N identifiers (default ``0..N-1``).

    Returns:
        DataFrame with columns ``sample``, ``feature``, ``pruned`` (True on the pruned
        events' row) and ``shapley``, ordered by sample then feature.

    Raises:
        TypeError: values that are not numeric.
        ValueError: empty arrays, arrays of the wrong shape, or names, labels and
            options that do not fit them.
    """
    phi = _per_sample(values, "values")
    n, f = phi.shape
    names = check_labels(feature_names, f, "feature_names", (f"f{i}" for i in range(f)))
    samples = check_labels(sample_ids, n, "sample_ids", range(n))
    extra = 0 if pruned is None else 1
    table = phi
    if pruned is not None:
        table = np.concatenate([phi, _per_sample_vector(pruned, n, "pruned", 0.0)[:, None]], 1)
        names = names + [PRUNED_EVENTS]
    frame = pd.DataFrame(
        {
            "sample": np.repeat(np.array(samples, dtype=object), f + extra),
            "feature": np.tile(np.array(names, dtype=object), n),
            "pruned": np.tile(np.r_[np.zeros(f, bool), np.ones(extra, bool)], n),
            "shapley": table.ravel(),
        }
    )
    frame = frame[~(frame["pruned"] & frame["shapley"].isna())].reset_index(drop=True)
    frame["sample"] = frame["sample"].infer_objects()
    return frame


def shapley_importance(frame: pd.DataFrame) -> pd.DataFrame:
    """Global importance over many sequences from a Shapley frame.

    Args:
        frame: from :func:`shapley_events_frame` (grouped by position from the end;
            the pruned events form one group) or :func:`shapley_features_frame`
            (grouped by feature).

    Returns:
        DataFrame with the group column (``position`` with ``pruned``, or
        ``feature``) and ``mean_abs`` (mean |Shapley value|: how much it matters),
        ``mean`` (signed: the net direction) and ``count`` (sequences having it).
        Events are ordered from the most recent (-1) back, the pruned events last;
        features by decreasing ``mean_abs``.

    Raises:
        ValueError: a frame that neither :func:`shapley_events_frame` nor
            :func:`shapley_features_frame` made.
    """
    if not isinstance(frame, pd.DataFrame) or "shapley" not in frame:
        raise ValueError("`frame` must come from shapley_events_frame or shapley_features_frame.")
    stats = {"mean_abs": ("abs", "mean"), "mean": ("shapley", "mean"), "count": ("shapley", "size")}
    work = frame.assign(abs=frame["shapley"].abs())
    if "position" in frame:
        table = work.groupby(["pruned", "position"], dropna=False).agg(**stats).reset_index()
        table = table.sort_values(["pruned", "position"], ascending=[True, False])
        return table[["position", "pruned", "mean_abs", "mean", "count"]].reset_index(drop=True)
    table = work.groupby(["feature", "pruned"], sort=False).agg(**stats).reset_index()
    table = table.sort_values("mean_abs", ascending=False, kind="stable")
    return table[["feature", "pruned", "mean_abs", "mean", "count"]].reset_index(drop=True)
