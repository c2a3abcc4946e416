"""Helpers shared by the plot functions: checked arrays, axes, colour scales."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def as_numeric(values, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """A float array of the given rank(s), non-empty; clear errors otherwise.

    Args:
        values: array-like of real numbers.
        name: the argument's name, for the error message.
        ndim: the rank, or the ranks, accepted.

    Returns:
        ``values`` as a float64 array.

    Raises:
        TypeError: values that are not real numbers.
        ValueError: an empty array or another rank.
    """
    array = np.asarray(values)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}).")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"`{name}` must be real numbers, got dtype {array.dtype}.")
    if array.ndim not in allowed:
        ranks = " or ".join(str(r) for r in allowed)
        raise ValueError(f"`{name}` must have rank {ranks}, got shape {array.shape}.")
    return array.astype(float)


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Refuse ``b`` unless it has ``a``'s shape.

    Args:
        a: the reference array.
        b: the array checked.
        name_a: ``a``'s argument name, for the error message.
        name_b: ``b``'s argument name.

    Raises:
        ValueError: the shapes differ.
    """
    if a.shape != b.shape:
        raise ValueError(f"`{name_b}` must have the shape of `{name_a}` {a.shape}, got {b.shape}.")


MAX_WIDTH = 16.0  # inches: the widest figure a default size gives
MAX_HEIGHT = 10.0


def heatmap_size(t: int, f: int) -> tuple[float, float]:
    """Default size of a time x feature heatmap.

    About 0.1 inch per step and 0.4 per feature, at most MAX_WIDTH x MAX_HEIGHT
    inches (long sequences get fewer ticks).

    Args:
        t: T, the steps.
        f: F, the features.

    Returns:
        ``(width, height)`` in inches.
    """
    width = min(MAX_WIDTH, max(5.0, 0.1 * t + 3.0))
    height = min(MAX_HEIGHT, max(2.0, 0.4 * f + 1.2))
    return width, height


def label_step(count: int, length_inches: float, inches_per_label: float = 0.18) -> int:
    """Label every k-th row/column so that labels do not overlap.

    Args:
        count: the rows (or columns) along the axis.
        length_inches: the axis' length.
        inches_per_label: the least distance between two labels.

    Returns:
        k, 1, 2 or 5 times a power of ten.
    """
    fits = max(1, int(length_inches / inches_per_label))
    if count <= fits:
        return 1
    need = count / fits
    scale = 10 ** np.floor(np.log10(need))
    for m in (1, 2, 5, 10):
        if m * scale >= need:
            return int(m * scale)
    return int(10 * scale)  # pragma: no cover


def set_time_ticks(ax, t: int) -> None:
    """Integer time-step ticks at 1-2-5 multiples, as many as fit the axis' width.

    Args:
        ax: the Axes whose x axis is the time step.
        t: T, the steps.
    """
    from matplotlib.ticker import MaxNLocator

    width = ax.get_position().width * ax.figure.get_figwidth()
    ax.xaxis.set_major_locator(
        MaxNLocator(nbins=max(3, int(width / 0.9)), integer=True, steps=[1, 2, 5, 10])
    )
    ax.set_xlim(-0.5, t - 0.5)


def new_axes(ax, figsize):
    """The given Axes, or a new figure's single Axes.

    Args:
        ax: an Axes, or None for a new figure.
        figsize: the new figure's size in inches.

    Returns:
        ``(figure, axes)``.
    """
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def signed_limits(values: np.ndarray) -> tuple[float, float]:
    """Colour limits: symmetric around 0 for signed data, from 0 for magnitudes.

    Args:
        values: the values drawn (NaN ignored).

    Returns:
        ``(vmin, vmax)``.
    """
    top = float(np.nanmax(np.abs(values))) or 1.0
    return (0.0 if np.nanmin(values) >= 0 else -top), top


def auto_cmap(values: np.ndarray, cmap: str | None) -> str:
    """The given colormap, or diverging for signed data and sequential for magnitudes.

    Args:
        values: the values drawn.
        cmap: a colormap name, or None to choose.

    Returns:
        The colormap name.
    """
    if cmap is not None:
        return cmap
    return "Reds" if np.nanmin(values) >= 0 else "RdBu_r"


def cell_names(feature_names, n_steps: int) -> list[str]:
    """Names of (time, feature) cells in C order: "name@t".

    Args:
        feature_names: F names.
        n_steps: T.

    Returns:
        T * F names, time-major.
    """
    return [f"{name}@{t}" for t in range(n_steps) for name in feature_names]


TIME_AGGREGATIONS = ("cells", "sum", "mean", "sum_abs", "mean_abs", "max_abs")
AGGREGATION_LABELS = {
    "cells": "attribution",
    "sum": "attribution summed over time",
    "mean": "mean attribution over time",
    "sum_abs": "|attribution| summed over time",
    "mean_abs": "mean |attribution| over time",
    "max_abs": "largest |attribution| over time",
}


def flatten_features(
    attributions, feature_values, feature_names, time_aggregation="cells", padding_mask=None
):
    """Sequence arrays ``(N, T, F)`` -> per-feature columns ``(N, D)`` and D names.

    ``time_aggregation="cells"`` keeps every (time, feature) cell as a column named
    ``"name@t"``; "sum", "mean", "sum_abs", "mean_abs" or "max_abs" reduce the
    attributions over time (see ``tf_tsexplain.tables.aggregate``), and the feature
    values are then averaged over time. ``(N, D)`` arrays pass through. With
    ``padding_mask`` (``(N, T)``, True on real steps) padded cells are NaN in "cells"
    columns and left out of the reductions.

    Args:
        attributions: ``(N, T, F)`` or ``(N, D)``.
        feature_values: the inputs, same shape.
        feature_names: F (or D) names, or None.
        time_aggregation: ``"cells"`` or a reduction over time (see above).
        padding_mask: ``(N, T)`` booleans, True on real steps.

    Returns:
        ``(attributions (N, D), feature values (N, D), D names)``.

    Raises:
        ValueError: shapes that differ, or an unknown ``time_aggregation``.
    """
    from tf_tsexplain._validation import check_labels
    from tf_tsexplain.tables import aggregate  # plots take arrays; tables own aggregation

    attr = as_numeric(attributions, "attributions", (2, 3))
    values = as_numeric(feature_values, "feature_values", attr.ndim)
    check_same_shape(attr, values, "attributions", "feature_values")
    f = attr.shape[-1]
    names = check_labels(feature_names, f, "feature_names", [f"f{i}" for i in range(f)])
    if attr.ndim == 2:
        if padding_mask is not None:
            raise ValueError("`padding_mask` is for sequences (N, T, F); these are (N, D).")
        return attr, values, names
    if time_aggregation not in TIME_AGGREGATIONS:
        raise ValueError(
            f"`time_aggregation` must be one of {TIME_AGGREGATIONS}, got {time_aggregation!r}."
        )
    n, t, _ = attr.shape
    real = check_steps_padding(padding_mask, t, n)
    if time_aggregation == "cells":
        if real is not None:
            attr = np.where(real[:, :, None], attr, np.nan)
            values = np.where(real[:, :, None], values, np.nan)
        return attr.reshape(n, -1), values.reshape(n, -1), cell_names(names, t)
    reduced = aggregate(attr, "time", time_aggregation, padding_mask=real)
    if real is None:
        return reduced, values.mean(axis=1), names
    weights = real[:, :, None] * 1.0
    return reduced, (values * weights).sum(axis=1) / weights.sum(axis=1), names


PADDING_COLOUR = "0.85"  # padded steps: light grey, hatched, in every sequence plot


def check_steps_padding(padding_mask, steps: int, samples: int | None = None) -> np.ndarray | None:
    """A padding mask for a plot, True on real steps.

    Args:
        padding_mask: ``(T,)`` (one sequence) or ``(N, T)`` (with ``samples``), or
            None.
        steps: T.
        samples: N, for a mask per sample; None for one sequence.

    Returns:
        The mask as booleans, or None for None.

    Raises:
        TypeError: a mask that is not boolean.
        ValueError: a mask of another shape, or without a real step.
    """
    if padding_mask is None:
        return None
    from tf_tsexplain._validation import check_padding_mask

    mask = np.asarray(padding_mask)
    if samples is None or mask.ndim == 1:
        if mask.ndim != 1:
            raise ValueError(
                f"`padding_mask` must have shape ({steps},) for one sequence. Received: "
                f"shape {mask.shape}."
            )
        return check_padding_mask(mask[None], 1, steps)[0]
    return check_padding_mask(mask, samples, steps)


def shade_padding(ax, real: np.ndarray, label: bool = True) -> None:
    """Grey, hatched spans over the runs of padded steps of an axes.

    The spans are collections, not patches, labelled "padding".

    Args:
        ax: an Axes whose x axis is the time step.
        real: ``(T,)`` booleans, False on padded steps.
        label: label the first span "padding" (for a legend).
    """
    edges = np.flatnonzero(np.diff(np.r_[False, ~real, False].astype(int)))
    for n, (start, stop) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        ax.fill_between(
            [start - 0.5, stop - 0.5],
            0,
            1,
            transform=ax.get_xaxis_transform(),
            facecolor=PADDING_COLOUR,
            edgecolor="0.6",
            hatch="//",
            lw=0,
            zorder=3,
            label="padding" if n == 0 and label else None,
        )
