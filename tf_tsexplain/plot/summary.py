"""Summary (beeswarm) and scatter plots of attributions against feature values."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain._validation import check_bool, check_positive_int
from tf_tsexplain.plot._common import (
    AGGREGATION_LABELS,
    as_numeric,
    flatten_features,
    new_axes,
)

_EPS = 1e-8  # path_explain divides by std + 1e7, which flattens every colour to 0
MAX_ROWS = 20  # rows a summary plot shows unless plot_top_k asks for more
_SWARM_BINS = 100  # beeswarm: points closer than 1/100 of the x range share a stack
_HALF_ROW = 0.42  # the points of a row stay within +-0.42 of its centre


def _standardize(values: np.ndarray) -> np.ndarray:
    return (values - np.nanmean(values, axis=0)) / (np.nanstd(values, axis=0) + _EPS)


def _colour_bounds(values: np.ndarray) -> tuple[float, float]:
    """The 5th and 95th percentiles (wider ones if those are equal), as path_explain
    clips its colours."""
    for low_q, high_q in ((5, 95), (1, 99), (0, 100)):
        low, high = np.nanpercentile(values, [low_q, high_q])
        if low < high:
            return float(low), float(high)
    return float(low) - 0.5, float(high) + 0.5


def _select_interactions(interactions, index, attr_shape):
    """Interaction values with one position: ``(N, *x)`` as given, or a full
    ``(N, *x, *x)`` tensor indexed at ``index`` on its last axes."""
    gamma = as_numeric(interactions, "interactions", (len(attr_shape), 2 * len(attr_shape) - 1))
    if gamma.shape == attr_shape:
        return gamma
    x_shape = attr_shape[1:]
    if gamma.shape != attr_shape + x_shape:
        raise ValueError(
            f"`interactions` must have the attributions' shape {attr_shape} or the full "
            f"shape {attr_shape + x_shape}, got {gamma.shape}."
        )
    if index is None:
        raise ValueError("Full `interactions` need `interaction_feature` (the position to show).")
    index = (index,) if np.ndim(index) == 0 else tuple(index)
    if len(index) != len(x_shape) or not all(
        isinstance(i, int | np.integer) and 0 <= i < s for i, s in zip(index, x_shape, strict=True)
    ):
        raise ValueError(
            f"`interaction_feature` must be a position in the per-sample shape {x_shape}. "
            f"Received: interaction_feature={index!r}."
        )
    return gamma[(Ellipsis,) + index]


def _position_name(index, feature_names, attr_shape) -> str:
    """A readable name of an input position: "name" or "name@t"."""
    if index is None:
        return "the chosen feature"
    f = attr_shape[-1]
    names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(f)]
    position = (index,) if np.ndim(index) == 0 else tuple(index)
    if len(position) == 1:
        return str(names[position[0]])
    return f"{names[position[-1]]}@{position[0]}"


def swarm_offsets(values: np.ndarray, low: float, high: float, bins: int = _SWARM_BINS):
    """Beeswarm layers: points are binned along x and stacked in each bin.

    Points are stacked alternately above and below the centre (0, +1, -1, +2, ...),
    in order of value, so a stack's height is the local density; deterministic.

    Args:
        values: ``(P,)`` x positions (NaN: a padded cell, never drawn).
        low: the left end of the x range.
        high: the right end of the x range.
        bins: bins along x.

    Returns:
        ``(P,)`` integer layers, 0 at the centre.
    """
    span = high - low if high > low else 1.0
    missing = np.isnan(values)  # padded cells: a bin of their own, never drawn
    scaled = np.where(missing, 0.0, (values - low) / span * bins)
    cell = np.where(missing, bins, np.clip(scaled.astype(int), 0, bins - 1))
    order = np.lexsort((values, cell))
    sorted_cells = cell[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_cells)) + 1]
    counts = np.diff(np.r_[starts, len(values)])
    rank = np.empty(len(values), int)
    rank[order] = np.arange(len(values)) - np.repeat(starts, counts)
    return np.where(rank % 2 == 1, (rank + 1) // 2, -(rank // 2))


def summary_plot(
    attributions,
    feature_values,
    interactions=None,
    interaction_feature=None,
    feature_names: Sequence[str] | None = None,
    plot_top_k: int | None = None,
    standardize_features: bool = True,
    scale_x_ind: bool = False,
    scale_y_ind: bool = False,
    figsize=None,
    dpi=None,
    *,
    time_aggregation: str | None = None,
    ax=None,
    padding_mask=None,
    **kwargs,
):
    """One beeswarm row per feature: attribution on x, coloured by the feature value.

    path_explain's ``summary_plot``, with its arguments and their meaning, for tabular
    ``(N, D)`` and sequence ``(N, T, F)`` data. Points of a row are stacked by local
    density (a beeswarm: where many samples have similar attributions the stack is
    high), deterministically; no random jitter.

    **Sequences.** By default (``time_aggregation=None``) each of the F features is
    one row, its attributions aggregated over time by magnitude: ``sum_abs``, the sum
    of ``|attribution|`` over the T steps (how much the feature mattered in that
    sequence, whatever the sign at each step), coloured by the feature's mean value
    over time. Rows are ranked by their mean over samples. ``time_aggregation=
    "cells"`` shows (time, feature) cells instead (rows named ``name@t``, the top
    cells by mean |attribution|), "sum" / "mean" the signed net effect, "mean_abs" /
    "max_abs" other magnitudes (see ``tf_tsexplain.tables.aggregate``).

    At most 20 rows are drawn unless ``plot_top_k`` asks for more: the 20 most
    important, by mean |value|.

    Args:
        attributions: ``(N, D)`` or sequences ``(N, T, F)``.
        feature_values: the inputs, same shape.
        interactions: optional interactions with ``interaction_feature``; as in
            path_explain each point then sits in its row at a height given by its
            interaction value (x stays the attribution): either already selected
            (attributions' shape) or the full tensor ``(N, *x, *x)`` indexed at
            ``interaction_feature`` (an int for ``(N, D)``, a ``(t, f)`` tuple for
            sequences). With aggregated sequences the interactions are summed over
            time (signed). The heights share one scale across rows (see
            ``scale_y_ind``).
        interaction_feature: see ``interactions``.
        feature_names: D (or F) names.
        plot_top_k: rows to show, the most important first (mean |value|); None:
            all, at most 20.
        standardize_features: colour by z-scored feature values (per feature),
            clipped to their 5th-95th percentiles.
        scale_x_ind: scale each row's x independently: its values are divided by its
            largest |value| (path_explain gives each row its own x axis).
        scale_y_ind: with ``interactions``, scale each row's heights to its own
            largest |interaction| instead of one scale for all rows.
        figsize: the new figure's size (default: 8 inches wide, 0.35 inch per row).
        dpi: the new figure's resolution.
        time_aggregation: for sequences, see above (None = "sum_abs").
        ax: an Axes to draw on instead of a new figure.
        padding_mask: for sequences, ``(N, T)`` booleans, True on real steps:
            aggregates over time and mean feature values count real steps only;
            with ``"cells"`` padded cells are not drawn.
        **kwargs: passed to ``Axes.scatter`` (e.g. ``s``, ``cmap``, ``alpha``).

    Returns:
        ``(figure, axes)``; row k from the top is ``axes.collections[k]`` and its
        tick label ``axes.get_yticklabels()[k]``.

    Raises:
        TypeError: arrays that are not real numbers.
        ValueError: empty arrays, arrays of the wrong rank or of mismatched shapes,
            or names and indices that do not fit them.
    """
    standardize_features = check_bool(standardize_features, "standardize_features")
    scale_x_ind = check_bool(scale_x_ind, "scale_x_ind")
    scale_y_ind = check_bool(scale_y_ind, "scale_y_ind")
    attr = as_numeric(attributions, "attributions", (2, 3))
    how = time_aggregation
    if how is None:
        how = "sum_abs" if attr.ndim == 3 else "cells"
    x, values, names = flatten_features(
        attr, feature_values, feature_names, how, padding_mask=padding_mask
    )
    heights = None
    if interactions is not None:
        gamma = _select_interactions(interactions, interaction_feature, attr.shape)
        if attr.ndim == 3 and how != "cells":
            heights = gamma.sum(axis=1)  # signed: the height keeps the sign
        else:
            heights = gamma.reshape(len(gamma), -1)
    order = np.argsort(-np.nan_to_num(np.nanmean(np.abs(x), axis=0)), kind="stable")
    if plot_top_k is None:
        order = order[:MAX_ROWS]
    else:
        order = order[: check_positive_int(plot_top_k, "plot_top_k")]
    shown = x[:, order]
    if scale_x_ind:
        shown = shown / np.maximum(np.abs(shown).max(axis=0), _EPS)
    colours = _standardize(values) if standardize_features else values
    colours = colours[:, order]
    low, high = _colour_bounds(colours)
    if figsize is None:
        figsize = (8.0, max(2.5, 0.35 * len(order) + 1.2))
    fig, ax = new_axes(ax, figsize)
    if dpi:
        fig.set_dpi(dpi)
    if heights is None:
        x_low, x_high = float(np.nanmin(shown)), float(np.nanmax(shown))
        layers = np.stack(
            [swarm_offsets(shown[:, r], x_low, x_high) for r in range(len(order))], axis=1
        )
        step = min(0.08, _HALF_ROW / max(1, np.abs(layers).max()))
        offsets = layers * step
    else:
        h = heights[:, order]
        top = np.abs(h).max(axis=0) if scale_y_ind else np.full(len(order), np.abs(h).max())
        offsets = h / np.maximum(top, _EPS) * _HALF_ROW
    kwargs.setdefault("cmap", "coolwarm")
    kwargs.setdefault("s", 10 if len(x) <= 500 else 4)
    kwargs.setdefault("linewidths", 0)
    for row in range(len(order)):
        ax.axhline(-row, color="0.9", lw=0.6, zorder=0)
        points = ax.scatter(
            shown[:, row],
            -row + offsets[:, row],
            c=np.clip(colours[:, row], low, high),
            vmin=low,
            vmax=high,
            zorder=2,
            **kwargs,
        )
    ax.set_yticks(-np.arange(len(order)), [names[j] for j in order])
    ax.set_ylim(-len(order) + 0.5, 0.5)
    ax.axvline(0.0, color="grey", lw=0.8, zorder=1)
    label = AGGREGATION_LABELS["cells" if attr.ndim == 2 else how]
    if scale_x_ind:
        label += " (each row divided by its largest |value|)"
    ax.set_xlabel(label)
    if heights is not None:
        partner = _position_name(interaction_feature, feature_names, attr.shape)
        ax.set_title(
            f"height in each row: interaction with {partner}"
            + (" (scaled per row)" if scale_y_ind else ""),
            fontsize="small",
        )
    what = "feature value" if attr.ndim == 2 or how == "cells" else "mean feature value"
    fig.colorbar(points, ax=ax, label=what + (" (z-score)" * standardize_features))
    return fig, ax


def scatter_plot(
    attributions,
    feature_values,
    feature_index,
    interactions=None,
    color_by=None,
    feature_names: Sequence[str] | None = None,
    scale_x_ind: bool = False,
    scale_y_ind: bool = False,
    plot_main: bool = True,
    figsize=5,
    dpi=None,
    add_random_noise_x: bool = False,
    add_random_noise_y: bool = False,
    *,
    seed: int = 0,
    **kwargs,
):
    """Feature value against attribution, with interaction and main-effect panels.

    path_explain's ``scatter_plot``, with its arguments and their meaning; panels:
    the attribution to ``feature_index`` i; with ``interactions`` and ``color_by`` j,
    the interaction ``Gamma_ij`` of i with j and the main effect ``phi_i - Gamma_ij``
    (the two add up to the attribution; path_explain shows ``Gamma_ij + Gamma_ji``
    and subtracts that, which counts the interaction twice).

    Args:
        attributions: ``(N, D)`` or sequences ``(N, T, F)``.
        feature_values: the inputs, same shape.
        feature_index: the feature to plot: an int or a name for ``(N, D)``; a
            ``(t, f)`` tuple or a cell name ``"name@t"`` for sequences.
        interactions: optional interactions of ``feature_index`` with every feature
            (attributions' shape) or the full tensor ``(N, *x, *x)``.
        color_by: the feature (same forms as ``feature_index``) that colours the
            points (clipped to its 5th-95th percentiles); with ``interactions`` also
            the partner of the interaction panel.
        feature_names: D (or F) names.
        scale_x_ind: give each panel its own x range (default: the panels share
            it, so their values compare at a glance).
        scale_y_ind: give each panel its own y range.
        plot_main: with interactions, add the main-effect panel.
        figsize: height of each (square) panel in inches.
        dpi: figure resolution.
        add_random_noise_x: jitter the points by 5% of the values' standard
            deviation along x (for categorical features).
        add_random_noise_y: the same along y.
        seed: seed of that jitter.
        **kwargs: passed to ``Axes.scatter``.

    Returns:
        ``(figure, list of axes)``: attribution, then interaction and main effect.

    Raises:
        TypeError: arrays that are not real numbers.
        ValueError: empty arrays, arrays of the wrong rank or of mismatched shapes,
            or names and indices that do not fit them.
    """
    attr = as_numeric(attributions, "attributions", (2, 3))
    scale_x_ind = check_bool(scale_x_ind, "scale_x_ind")
    scale_y_ind = check_bool(scale_y_ind, "scale_y_ind")
    x, values, names = flatten_features(attr, feature_values, feature_names, "cells")
    main = _column(feature_index, names, attr.shape[1:], "feature_index")
    partner = None if color_by is None else _column(color_by, names, attr.shape[1:], "color_by")
    panels = [(f"attribution to {names[main]}", x[:, main])]
    if interactions is not None:
        if partner is None:
            raise ValueError("`interactions` need `color_by`: the interaction partner to show.")
        position = np.unravel_index(main, attr.shape[1:])
        gamma = _select_interactions(interactions, position, attr.shape)
        inter = gamma.reshape(len(x), -1)[:, partner]
        panels.append((f"interaction of {names[main]} with {names[partner]}", inter))
        if plot_main:
            panels.append((f"main effect of {names[main]}", x[:, main] - inter))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(figsize * len(panels) + 1, figsize),
        dpi=dpi,
        squeeze=False,
        sharex=not scale_x_ind,
        sharey=not scale_y_ind,
        layout="constrained",
    )
    axes = list(axes[0])
    rng = np.random.default_rng(seed)
    x_values = values[:, main]
    if add_random_noise_x:
        x_values = x_values + rng.normal(size=len(x_values)) * x_values.std() * 0.05
    colour = None
    if partner is not None:
        low, high = _colour_bounds(values[:, partner])
        colour = np.clip(values[:, partner], low, high)
        kwargs.setdefault("cmap", "coolwarm")
    kwargs.setdefault("s", 12)
    for ax, (label, y) in zip(axes, panels, strict=True):
        if add_random_noise_y:
            y = y + rng.normal(size=len(y)) * y.std() * 0.05
        colouring = {} if colour is None else {"c": colour}
        points = ax.scatter(x_values, y, **colouring, **kwargs)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel(f"{names[main]} value")
        ax.set_ylabel(label)
        if not scale_y_ind:
            ax.yaxis.set_tick_params(labelleft=True)
    if colour is not None:
        fig.colorbar(points, ax=axes, label=f"{names[partner]} value")
    return fig, axes


def _column(index, names, x_shape, argument) -> int:
    """Flat column of a feature given as an int, a name, or a (t, f) tuple."""
    if isinstance(index, str):
        if index not in names:
            raise ValueError(
                f"`{argument}` {index!r} is not one of the feature names. "
                f"Received: {argument}={index!r}."
            )
        return names.index(index)
    position = (index,) if np.ndim(index) == 0 else tuple(index)
    if len(position) != len(x_shape) or not all(
        isinstance(p, int | np.integer) and 0 <= p < s
        for p, s in zip(position, x_shape, strict=True)
    ):
        raise ValueError(
            f"`{argument}` {index!r} is not a valid position for per-sample shape {x_shape}."
        )
    return int(np.ravel_multi_index(position, x_shape))
