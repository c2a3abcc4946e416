"""Sequence views: time x feature heatmaps, attribution over time, interaction
heatmaps between time steps or features, and a grid comparing methods."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.text import Text

from tf_tsexplain._validation import check_labels, check_positive_int
from tf_tsexplain.plot._common import (
    MAX_WIDTH,
    as_numeric,
    auto_cmap,
    check_same_shape,
    check_steps_padding,
    heatmap_size,
    label_step,
    new_axes,
    set_time_ticks,
    shade_padding,
    signed_limits,
)

MAX_LINES = 10  # features attribution_over_time draws unless top_k asks for more


def _default_names(f: int) -> list[str]:
    return [f"f{i}" for i in range(f)]


def _feature_ticks(ax, names: list[str]) -> None:
    """Feature rows labelled, every k-th one when they would not fit the height."""
    height = ax.get_position().height * ax.figure.get_figheight()
    step = label_step(len(names), height, inches_per_label=0.16)
    ax.set_yticks(range(0, len(names), step), names[::step])


def time_feature_heatmap(
    attributions,
    inputs=None,
    feature_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str | None = None,
    colorbar: bool = True,
    figsize=None,
    colorbar_label: str = "attribution",
    padding_mask=None,
):
    """Heatmap of one ``(T, F)`` attribution map: time on x, features on y.

    Signed values get a diverging colour scale centred on 0 (red pushed the output
    up, blue down, equal intensity for equal magnitude); non-negative values
    (magnitudes) span the scale from 0.

    Args:
        attributions: ``(T, F)``.
        inputs: optional ``(T, F)`` input values; each feature's series is drawn over
            its row, scaled to the row's height.
        feature_names: F row labels.
        ax: Axes to draw on (default: a new figure).
        title: axes title.
        cmap: colormap name (default: "RdBu_r" for signed values, "Reds" for
            magnitudes).
        colorbar: draw a colour bar.
        figsize: size of a new figure (default: grows with T and F, at most 16 x
            10 inches; long sequences get a tick every 10, 20, 50, ... steps).
        colorbar_label: the colour bar's label.
        padding_mask: ``(T,)`` booleans, True on real steps: padded steps are drawn
            grey and hatched and left out of the colour scale.

    Returns:
        ``(figure, axes)``.
    """
    attr = as_numeric(attributions, "attributions", 2)
    t, f = attr.shape
    names = check_labels(feature_names, f, "feature_names", _default_names(f))
    real = check_steps_padding(padding_mask, t)
    values = None
    if inputs is not None:
        values = as_numeric(inputs, "inputs", 2)
        check_same_shape(attr, values, "attributions", "inputs")
    if real is not None:
        attr = np.where(real[:, None], attr, np.nan)
        values = None if values is None else np.where(real[:, None], values, np.nan)
    fig, ax = new_axes(ax, figsize or heatmap_size(t, f))
    low, high = signed_limits(attr)
    image = ax.imshow(
        np.ma.masked_invalid(attr.T),
        aspect="auto",
        cmap=auto_cmap(attr, cmap),
        vmin=low,
        vmax=high,
        interpolation="nearest",
    )
    if values is not None:
        low_v = np.nanmin(values, axis=0)
        span = np.nanmax(values, axis=0) - low_v
        scaled = (values - low_v) / np.where(span > 0, span, 1.0)
        for row in range(f):  # row centre at y = row; draw within +-0.4, higher values up
            lw = 1.0 if t <= 200 else 0.6
            ax.plot(np.arange(t), row + 0.4 - 0.8 * scaled[:, row], color="black", lw=lw)
    if real is not None:
        shade_padding(ax, real)
    _feature_ticks(ax, names)
    set_time_ticks(ax, t)
    ax.set_xlabel("time step" if real is None or real.all() else "time step (hatched: padding)")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, label=colorbar_label)
    return fig, ax


def attribution_over_time(
    attributions,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = None,
    how: str = "mean",
    ax=None,
    title: str | None = None,
    figsize=None,
    padding_mask=None,
):
    """One line per feature: its attribution at every time step.

    Args:
        attributions: ``(T, F)`` for one sequence, or ``(N, T, F)``, averaged over
            samples with ``how``: "mean" (signed: effects of opposite sign cancel) or
            "mean_abs" (magnitudes).
        feature_names: F names for the legend.
        top_k: draw only the k features with the largest total |attribution|; None:
            all of them, at most 10 (the 10 largest).
        how: "mean" or "mean_abs" (used for ``(N, T, F)``).
        ax, title: as usual.
        figsize: size of a new figure (default: 7 x 3.5 inches, wider for long
            sequences, at most 16); the legend sits right of the axes.
        padding_mask: True on real steps, ``(T,)`` for one sequence or ``(N, T)``:
            averages over samples count each step's real samples only; steps with
            none are cut from the lines and shaded.

    Returns:
        ``(figure, axes)``; the lines are ``axes.lines`` in decreasing importance.
    """
    attr = as_numeric(attributions, "attributions", (2, 3))
    if how not in ("mean", "mean_abs"):
        raise ValueError(f"`how` must be 'mean' or 'mean_abs', got {how!r}.")
    steps = attr.shape[-2]
    real = check_steps_padding(padding_mask, steps, attr.shape[0] if attr.ndim == 3 else None)
    if attr.ndim == 3:
        values = np.abs(attr) if how == "mean_abs" else attr
        if real is None:
            attr = values.mean(0)
        else:
            weights = np.broadcast_to(real.reshape(-1, steps, 1) * 1.0, values.shape)
            count = weights.sum(0)
            attr = np.where(count > 0, (values * weights).sum(0) / np.maximum(count, 1), np.nan)
            real = real.reshape(-1, steps).any(axis=0)
    elif real is not None:
        attr = np.where(real[:, None], attr, np.nan)
    t, f = attr.shape
    names = check_labels(feature_names, f, "feature_names", _default_names(f))
    order = np.argsort(-np.nansum(np.abs(attr), axis=0), kind="stable")
    order = order[: MAX_LINES if top_k is None else check_positive_int(top_k, "top_k")]
    fig, ax = new_axes(ax, figsize or (min(MAX_WIDTH, max(7.0, 0.02 * t + 5.5)), 3.5))
    lw = 1.5 if t <= 100 else 1.0
    for j in order:
        ax.plot(np.arange(t), attr[:, j], label=names[j], lw=lw)
    ax.axhline(0.0, color="grey", lw=0.8)
    padded = real is not None and not real.all()
    if padded:
        shade_padding(ax, real, label=False)  # the legend holds features only
    ax.set_xlim(0, t - 1)
    ax.set_xlabel("time step (hatched: padding)" if padded else "time step")
    ax.set_ylabel(
        "mean |attribution|" if how == "mean_abs" and np.ndim(attributions) == 3 else "attribution"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig, ax


def interaction_heatmap(
    interactions,
    between: str = "time",
    how: str = "sum",
    zero_diagonal: bool = True,
    feature_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str | None = None,
    figsize=(5, 4.5),
    *,
    labels: Sequence[str] | None = None,
):
    """Interactions of one sequence aggregated between time steps or features.

    Args:
        interactions: ``(T, F, T, F)`` for one sequence.
        between: "time" -> a ``(T, T)`` matrix summing over features on both sides;
            "features" -> ``(F, F)`` summing over time on both sides.
        how: "sum" (signed, rows still sum to the aggregated attributions when the
            diagonal is kept) or "sum_abs" (magnitudes, no cancellation).
        zero_diagonal: hide the diagonal (main effects and within-step or
            within-feature interactions), which otherwise dominates the colours.
        feature_names: names of the rows/columns, as in every other plot: F
            feature names with ``between="features"``; with ``between="time"``, T
            time-step labels (default ``0 .. T-1``).
        ax: the axes to draw on (default: a new figure).
        title: the axes title.
        figsize: the size of a new figure (inches).
        cmap: colormap (default: diverging for signed values, "Reds" for magnitudes).
        labels: deprecated alias of ``feature_names`` (a DeprecationWarning; it goes
            in the next release).

    Returns:
        ``(figure, axes)``; the aggregated matrix is ``axes.images[0].get_array()``.

    Raises:
        ValueError: ``interactions`` is not ``(T, F, T, F)``, ``between`` or ``how``
            is unknown, the names do not match the matrix, or both
            ``feature_names`` and ``labels`` are given.
    """
    if labels is not None:
        warnings.warn(
            "interaction_heatmap(labels=...) is deprecated; use feature_names=..., as in "
            "every other plot.",
            DeprecationWarning,
            stacklevel=2,
        )
        if feature_names is not None:
            raise ValueError(
                "Give `feature_names` only (`labels` is its deprecated alias). Received both."
            )
        feature_names = labels
    gamma = as_numeric(interactions, "interactions", 4)
    if gamma.shape[:2] != gamma.shape[2:]:
        raise ValueError(f"`interactions` must be (T, F, T, F), got shape {gamma.shape}.")
    if between not in ("time", "features"):
        raise ValueError(f"`between` must be 'time' or 'features', got {between!r}.")
    if how not in ("sum", "sum_abs"):
        raise ValueError(f"`how` must be 'sum' or 'sum_abs', got {how!r}.")
    values = np.abs(gamma) if how == "sum_abs" else gamma
    matrix = values.sum(axis=(1, 3)) if between == "time" else values.sum(axis=(0, 2))
    if zero_diagonal:
        np.fill_diagonal(matrix, 0.0)
    size = matrix.shape[0]
    default = [str(i) for i in range(size)] if between == "time" else _default_names(size)
    names = check_labels(feature_names, size, "feature_names", default)
    fig, ax = new_axes(ax, figsize)
    low, high = signed_limits(matrix)
    image = ax.imshow(
        matrix, cmap=auto_cmap(matrix, cmap), vmin=low, vmax=high, interpolation="nearest"
    )
    side = min(
        ax.get_position().width * fig.get_figwidth(), ax.get_position().height * fig.get_figheight()
    )
    step = label_step(size, side, inches_per_label=0.18)
    ax.set_xticks(range(0, size, step), names[::step], rotation=90)
    ax.set_yticks(range(0, size, step), names[::step])
    axis_name = "time step" if between == "time" else "feature"
    ax.set_xlabel(axis_name)
    ax.set_ylabel(axis_name)
    fig.colorbar(image, ax=ax, label="interaction")
    if title:
        ax.set_title(title)
    return fig, ax


def comparison_grid(
    maps: Mapping[str, np.ndarray],
    inputs=None,
    feature_names: Sequence[str] | None = None,
    ncols: int = 1,
    figsize=None,
    padding_mask=None,
):
    """Several methods' ``(T, F)`` maps of the same input, side by side.

    Each panel has its own colour scale (methods differ in units and scale: IG sums
    to an output difference, masks live in [0, 1], SIS is boolean).

    Args:
        maps: method name -> ``(T, F)`` map (booleans are drawn as 0/1).
        inputs: optional ``(T, F)`` input, overlaid on every panel.
        feature_names: F row labels.
        ncols: panels per row.
        figsize: figure size (default: a heatmap's size per panel, at most 16 inches
            wide in all).
        padding_mask: ``(T,)`` booleans, True on real steps: padding hatched grey
            on every panel.

    Returns:
        ``(figure, axes array)`` with one Axes per method, in the order given.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError("`maps` must be a non-empty dict of method name -> (T, F) map.")
    arrays = {
        name: as_numeric(np.asarray(m, float), f"maps[{name!r}]", 2) for name, m in maps.items()
    }
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"All maps must have the same (T, F) shape, got {sorted(shapes)}.")
    (t, f), n = shapes.pop(), len(arrays)
    nrows = -(-n // ncols)
    width, height = heatmap_size(t, f)
    width = min(width, MAX_WIDTH / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=figsize or (width * ncols, height * nrows), squeeze=False
    )
    for ax, (name, values) in zip(axes.flat, arrays.items(), strict=False):
        time_feature_heatmap(
            values, inputs=inputs, feature_names=feature_names, ax=ax, title=name,
            colorbar_label="",  # units differ by method; the title names it
            padding_mask=padding_mask,
        )  # fmt: skip
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig, axes


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first index, length)`` of each run of consecutive True values."""
    edges = np.flatnonzero(np.diff(np.r_[False, flags, False].astype(int)))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _outlines(mask: np.ndarray, t: int, f: int) -> list[tuple[float, float, int, int]]:
    """Rectangles ``(x, y, width, height)`` around the cells of a SIS mask: a time-step
    mask ``(T, 1)`` gives one rectangle per run of steps over all features, a feature
    mask ``(1, F)`` one per run of features over all steps, a cell mask one per run of
    steps of each feature."""
    if mask.shape == (t, 1):
        return [(start - 0.5, -0.5, length, f) for start, length in _runs(mask[:, 0])]
    if mask.shape == (1, f):
        return [(-0.5, start - 0.5, t, length) for start, length in _runs(mask[0])]
    cells = np.broadcast_to(mask, (t, f))
    return [
        (start - 0.5, feature - 0.5, length, 1)
        for feature in range(f)
        for start, length in _runs(cells[:, feature])
    ]


LINESTYLES = ("-", "--", ":", "-.")


def sis_plot(
    inputs,
    collection,
    feature_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    figsize=None,
    padding_mask=None,
):
    """A sequence with the cells of its sufficient input subsets outlined.

    Args:
        inputs: ``(T, F)`` input values, drawn as a heatmap (time on x).
        collection: one ``SISResult`` or a list of them (a SIS collection, e.g. the
            ``SISCollection`` of ``SISExplainer.explain``); masks over cells
            ``(T, F)``, time steps ``(T, 1)`` or features ``(1, F)`` are broadcast to
            cells. SIS k gets the k-th colour of the "tab10" cycle and its own line
            style, inset a little so that overlapping outlines stay visible. An
            empty ``SISCollection`` below its threshold gets the note "no sufficient
            subset: f(x) = ... < threshold ...".
        feature_names: F row labels.
        ax, title, figsize: as usual.
        padding_mask: ``(T,)`` booleans, True on real steps: padded steps are
            hatched grey (a SIS never holds them).

    Returns:
        ``(figure, axes)``; the outlines are ``axes.patches``: one per run of
        consecutive time steps (over all features) for a SIS over time steps, per run
        of features for one over features, per run of steps of a feature for cells.
    """
    values = as_numeric(inputs, "inputs", 2)
    t, f = values.shape
    results = [collection] if hasattr(collection, "mask") else list(collection)
    names = check_labels(feature_names, f, "feature_names", _default_names(f))
    cells = []
    for result in results:
        mask = np.asarray(result.mask, bool)
        if mask.ndim != 2 or any(m not in (1, s) for m, s in zip(mask.shape, (t, f), strict=True)):
            raise ValueError(f"A SIS mask of shape {mask.shape} does not fit inputs {(t, f)}.")
        cells.append(mask)
    real = check_steps_padding(padding_mask, t)
    if real is not None:
        values = np.where(real[:, None], values, np.nan)
    fig, ax = new_axes(ax, figsize or heatmap_size(t, f))
    image = ax.imshow(
        np.ma.masked_invalid(values.T), aspect="auto", cmap="Greys", interpolation="nearest"
    )
    colours = plt.get_cmap("tab10")
    for k, mask in enumerate(cells):
        # SIS of a collection are disjoint, but their outlines (runs of steps) can
        # overlap: each later SIS is inset a little and dashed differently, so that
        # none hides another
        inset = 0.12 * (k % 3)
        for n, (x0, y0, width, height) in enumerate(_outlines(mask, t, f)):
            outline = plt.Rectangle(
                (x0 + inset, y0 + inset),
                max(width - 2 * inset, 0.2),
                max(height - 2 * inset, 0.2),
                fill=False,
                lw=2 if t <= 200 else 1.2,
                edgecolor=colours(k % 10),
                linestyle=LINESTYLES[k % len(LINESTYLES)],
            )
            outline.set_label(f"SIS {k + 1}" if n == 0 else None)  # one legend entry per SIS
            ax.add_patch(outline)
    if real is not None and not real.all():
        shade_padding(ax, real)
    if not cells and getattr(collection, "below_threshold", False):
        ax.text(
            0.5,
            0.5,
            f"no sufficient subset: f(x) = {collection.initial_value:.4g} < threshold "
            f"{collection.threshold:.4g}",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize="medium",
            bbox={"facecolor": "white", "edgecolor": "#c0392b", "alpha": 0.9},
        )
    legend = None
    if ax.patches:
        legend = ax.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=min(len(cells), 6),
            fontsize="small",
            frameon=False,
        )
    _feature_ticks(ax, names)
    set_time_ticks(ax, t)
    ax.set_xlabel("time step")
    fig.colorbar(image, ax=ax, label="input value")
    if title:
        ax.set_title(title, loc="left" if ax.patches else "center")  # legend on the right
        if legend is not None:
            _legend_clear_of_title(fig, ax, legend, title)
    return fig, ax


def _legend_clear_of_title(fig, ax, legend, title: str) -> None:
    """Move a legend drawn above the axes on the right below the time-axis label when a
    long title (or narrow axes) would make the two overlap."""
    fig.draw_without_rendering()  # text extents need a layout
    # the title artist: set_title(loc="left") draws a Text other than ``ax.title``
    texts = [c for c in ax.get_children() if isinstance(c, Text) and c.get_text() == title]
    if not any(legend.get_window_extent().overlaps(t.get_window_extent()) for t in texts):
        return
    label = ax.xaxis.label.get_window_extent()
    below = ax.transAxes.inverted().transform((0.0, label.y0))[1]
    legend.set_loc("upper right")
    legend.set_bbox_to_anchor((1.0, below), transform=ax.transAxes)
