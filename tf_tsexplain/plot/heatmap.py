"""Time x feature heatmaps: the basic picture of a sequence attribution."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)  # no display needed; an interactive backend set by the user wins

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_tsexplain._validation import check_labels  # noqa: E402


def plot_time_feature(
    attributions,
    feature_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str = "RdBu_r",
    colorbar: bool = True,
):
    """Heatmap of one ``(T, F)`` attribution map, features as rows, time as columns.

    For signed values the colour scale is symmetric around zero, so that red means
    the cell pushed the output up and blue pushed it down, with equal intensity for
    equal magnitude; non-negative values (magnitudes) span the scale from zero.

    Args:
        attributions: ``(T, F)``.
        feature_names: F row labels.
        ax: matplotlib Axes to draw on (a new figure by default).
        title: axes title.
        cmap: a diverging colormap name.
        colorbar: draw a colour bar.

    Returns:
        The matplotlib Axes.
    """
    attr = np.asarray(attributions, dtype=float)
    if attr.ndim != 2:
        raise ValueError(f"`attributions` must be (T, F), got shape {attr.shape}.")
    t, f = attr.shape
    names = check_labels(feature_names, f, "feature_names", (f"f{i}" for i in range(f)))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.25 * t + 2), max(2.0, 0.35 * f + 1)))
    limit = float(np.abs(attr).max()) or 1.0
    low = 0.0 if attr.min() >= 0 else -limit  # magnitudes use the whole colour range
    image = ax.imshow(
        attr.T, aspect="auto", cmap=cmap, vmin=low, vmax=limit, interpolation="nearest"
    )
    ax.set_yticks(range(f), names)
    ax.set_xlabel("time step")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="attribution")
    return ax
