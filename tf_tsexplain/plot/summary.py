"""Summary (beeswarm) and scatter plots of attributions against feature values."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain._validation import check_positive_int
from tf_tsexplain.plot._common import as_numeric, flatten_features, new_axes

_EPS = 1e-8  # path_explain divides by std + 1e7, which flattens every colour to 0


def _standardize(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / (values.std(axis=0) + _EPS)


def _select_interactions(interactions, index, attr_shape):
    """Interaction values with one position: ``(N, *x)`` as given, or a full
    ``(N, *x, *x)`` tensor indexed at ``index`` on its last axes."""
    gamma = np.asarray(interactions, dtype=float)
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
    if len(index) != len(x_shape):
        raise ValueError(f"`interaction_feature` {index} must have {len(x_shape)} coordinate(s).")
    return gamma[(Ellipsis,) + index]


def summary_plot(
    attributions,
    feature_values,
    interactions=None,
    interaction_feature=None,
    feature_names: Sequence[str] | None = None,
    plot_top_k: int | None = None,
    standardize_features: bool = True,
    time_aggregation: str = "cells",
    ax=None,
    figsize=(8, 4),
    dpi=None,
    seed: int = 0,
    **kwargs,
):
    """One beeswarm row per feature: attribution on x, coloured by the feature value.

    Args:
        attributions: ``(N, D)`` or sequences ``(N, T, F)``.
        feature_values: the inputs, same shape.
        interactions: optional; plot interactions with ``interaction_feature`` instead
            of attributions: either already selected (attributions' shape) or the full
            tensor ``(N, *x, *x)``, indexed at ``interaction_feature`` (an int for
            ``(N, D)``, a ``(t, f)`` tuple for sequences).
        interaction_feature: see ``interactions``.
        feature_names: D (or F) names.
        plot_top_k: rows to show, the most important first (mean |value|).
        standardize_features: colour by z-scored feature values (per feature).
        time_aggregation: for sequences: "cells" (a row per (time, feature) cell named
            ``name@t``) or "sum", "mean", "sum_abs", "mean_abs", "max_abs" over time (a
            row per feature; colours use the mean value over time).
        ax, figsize, dpi: matplotlib Axes to draw on, or the new figure's size and dpi.
        seed: seed of the vertical jitter.
        **kwargs: passed to ``Axes.scatter``.

    Returns:
        ``(figure, axes)``; row k from the top is ``axes.collections[k]``.
    """
    attr_shape = np.shape(attributions)
    shown = attributions
    if interactions is not None:
        as_numeric(attributions, "attributions", (2, 3))
        shown = _select_interactions(interactions, interaction_feature, attr_shape)
    x, values, names = flatten_features(shown, feature_values, feature_names, time_aggregation)
    order = np.argsort(-np.abs(x).mean(axis=0), kind="stable")
    if plot_top_k is not None:
        check_positive_int(plot_top_k, "plot_top_k")
        order = order[:plot_top_k]
    colours = _standardize(values) if standardize_features else values
    low, high = np.percentile(colours[:, order], [5, 95]) if colours.size else (0, 1)
    fig, ax = new_axes(ax, figsize)
    if dpi:
        fig.set_dpi(dpi)
    rng = np.random.default_rng(seed)
    for row, j in enumerate(order):
        y = -row + rng.uniform(-0.3, 0.3, size=len(x))
        points = ax.scatter(
            x[:, j], y, c=colours[:, j], cmap="coolwarm", vmin=low, vmax=high, s=10, **kwargs
        )
    ax.set_yticks(-np.arange(len(order)), [names[j] for j in order])
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("interaction value" if interactions is not None else "attribution")
    fig.colorbar(points, ax=ax, label="feature value" + (" (z-score)" * standardize_features))
    return fig, ax


def scatter_plot(
    attributions,
    feature_values,
    feature_index,
    interactions=None,
    color_by=None,
    feature_names: Sequence[str] | None = None,
    plot_main: bool = True,
    figsize=5,
    dpi=None,
    **kwargs,
):
    """Feature value against attribution, with interaction and main-effect panels.

    Args:
        attributions: ``(N, D)`` or sequences ``(N, T, F)``.
        feature_values: the inputs, same shape.
        feature_index: the feature to plot: an int or a name for ``(N, D)``; a
            ``(t, f)`` tuple or a cell name ``"name@t"`` for sequences.
        interactions: optional interactions of ``feature_index`` with every feature
            (attributions' shape) or the full tensor ``(N, *x, *x)``.
        color_by: the feature (same forms as ``feature_index``) that colours the
            points; with ``interactions`` also the partner of the interaction panel.
        feature_names: D (or F) names.
        plot_main: with interactions, add the main-effect panel: attribution minus
            the interaction with ``color_by``.
        figsize: height of each (square) panel in inches.
        dpi: figure resolution.
        **kwargs: passed to ``Axes.scatter``.

    Returns:
        ``(figure, list of axes)``: attribution, then interaction and main effect.
    """
    attr = as_numeric(attributions, "attributions", (2, 3))
    x, values, names = flatten_features(attr, feature_values, feature_names, "cells")
    main = _column(feature_index, names, attr.shape[1:], "feature_index")
    partner = None if color_by is None else _column(color_by, names, attr.shape[1:], "color_by")
    panels = [("attribution", x[:, main])]
    if interactions is not None:
        if partner is None:
            raise ValueError("`interactions` need `color_by`: the interaction partner to show.")
        position = np.unravel_index(main, attr.shape[1:])
        gamma = _select_interactions(interactions, position, attr.shape)
        inter = gamma.reshape(len(x), -1)[:, partner]
        panels.append((f"interaction with {names[partner]}", inter))
        if plot_main:
            panels.append(("main effect", x[:, main] - inter))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(figsize * len(panels) + 1, figsize), dpi=dpi, squeeze=False
    )
    axes = list(axes[0])
    colour = None if partner is None else values[:, partner]
    for ax, (label, y) in zip(axes, panels, strict=True):
        colouring = {} if colour is None else {"c": colour, "cmap": "coolwarm"}
        points = ax.scatter(values[:, main], y, s=12, **colouring, **kwargs)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel(f"{names[main]} value")
        ax.set_ylabel(label)
    if colour is not None:
        fig.colorbar(points, ax=axes, label=f"{names[partner]} value")
    return fig, axes


def _column(index, names, x_shape, argument) -> int:
    """Flat column of a feature given as an int, a name, or a (t, f) tuple."""
    if isinstance(index, str):
        if index not in names:
            raise ValueError(f"`{argument}` {index!r} is not one of the feature names.")
        return names.index(index)
    position = (index,) if np.ndim(index) == 0 else tuple(index)
    if len(position) != len(x_shape) or not all(
        0 <= p < s for p, s in zip(position, x_shape, strict=True)
    ):
        raise ValueError(
            f"`{argument}` {index!r} is not a valid position for per-sample shape {x_shape}."
        )
    return int(np.ravel_multi_index(position, x_shape))
