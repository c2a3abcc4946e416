"""Plots of Shapley values of sequences: events, features, cells, and pruning.

They take the arrays of :class:`tf_tsexplain.shapley.ShapleyValues` (``values``,
``window_start``, ``pruned``, ``top_events``, ``top_features``) and
:class:`tf_tsexplain.shapley.Pruning`, for one sequence or many.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain._validation import check_choice, check_labels, check_positive_int
from tf_tsexplain.plot._common import as_numeric, new_axes, signed_limits

PRUNED = "pruned events"
BLANK = "#c8c8c8"  # cells that are not players (outside the window): mid grey


def _per_sequence(value, n: int, name: str, default) -> np.ndarray:
    if value is None:
        return np.full(n, default)
    array = np.atleast_1d(np.asarray(value))
    if array.shape != (n,):
        raise ValueError(f"`{name}` must have one entry per sequence ({n}), got {array.shape}.")
    return array


def _unpack(values, level: str, **given):
    """A :class:`~tf_tsexplain.shapley.ShapleyValues` as its arrays (what
    ``SequenceShap.attributions`` returns), the explicit arguments winning."""
    if not hasattr(values, "values") or not hasattr(values, "level"):
        return values, given
    if values.level != level:
        raise ValueError(
            f"This plot draws {level} values. Received: ShapleyValues of level {values.level!r}."
        )
    values._one_target()  # the result's own check: one output, no leading axes
    filled = {k: getattr(values, k) if v is None else v for k, v in given.items()}
    if "pruned" in filled and given.get("pruned") is None and not np.any(values.window_start):
        filled["pruned"] = None  # nothing was pruned: no pruned column
    return values.values, filled


PRUNED_COLUMN = ("show", "clip", "hide")


def shapley_event_heatmap(
    values,
    window_start=None,
    pruned=None,
    max_events: int | None = None,
    sample_labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str = "RdBu_r",
    figsize=None,
    pruned_column: str = "show",
):
    """Event Shapley values of one or many sequences, aligned on the most recent event.

    Columns are positions from the end (-1 is the most recent event, on the right);
    the pruned events, one player, get the leftmost column. Events outside a
    sequence's kept window are left blank (grey). Colours are diverging around 0.

    Args:
        values: ``(N, T)`` event values, ``(T,)`` for one sequence, or the
            ``ShapleyValues`` of ``SequenceShap.attributions(level="event")`` (its
            ``window_start`` and ``pruned`` are then used unless given).
        window_start: ``(N,)`` first kept step (default 0).
        pruned: ``(N,)`` value of the pruned events (default: no pruned column).
        max_events: show at most this many positions from the end.
        sample_labels: N row labels (default ``0..N-1``; none for one sequence).
        ax: the axes to draw on (default: a new figure).
        title: the axes' title.
        cmap: a diverging colormap.
        figsize: the new figure's size in inches.
        pruned_column: ``"show"`` (default: the pruned events' column on the colour
            scale of the events), ``"clip"`` (the colour scale from the kept events
            only, the pruned column clipped to its ends and its values written in
            the cells: when one pruned player of a global-pooling model would
            otherwise wash out every event) or ``"hide"`` (no pruned column).

    Returns:
        ``(figure, axes)``; the drawn matrix (NaN where blank) is
        ``axes.images[0].get_array()``.
    """
    values, got = _unpack(values, "event", window_start=window_start, pruned=pruned)
    window_start, pruned = got["window_start"], got["pruned"]
    pruned_column = check_choice(pruned_column, "pruned_column", PRUNED_COLUMN)
    if pruned_column == "hide":
        pruned = None
    phi = as_numeric(values, "values", (1, 2))
    single = phi.ndim == 1
    phi = np.atleast_2d(phi)
    n, t = phi.shape
    start = _per_sequence(window_start, n, "window_start", 0).astype(int)
    kept = int((t - start).max())
    if max_events is not None:
        kept = min(kept, check_positive_int(max_events, "max_events"))
    matrix = np.full((n, kept), np.nan)
    for i in range(n):
        length = min(t - start[i], kept)
        matrix[i, kept - length :] = phi[i, t - length :]
    labels = [str(-k) for k in range(kept, 0, -1)]
    if pruned is not None:
        column = _per_sequence(pruned, n, "pruned", 0.0).astype(float)
        column = np.where(start > 0, column, np.nan)
        matrix = np.concatenate([column[:, None], matrix], axis=1)
        labels = [PRUNED] + labels
    fig, ax = new_axes(ax, figsize or (max(4.0, 0.3 * len(labels) + 2.5), max(1.6, 0.3 * n + 1.4)))
    clipped = pruned is not None and pruned_column == "clip"
    low, high = signed_limits(np.nan_to_num(matrix[:, 1:] if clipped else matrix))
    colours = plt.get_cmap(cmap).with_extremes(bad=BLANK)
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        aspect="auto",
        cmap=colours,
        vmin=low,
        vmax=high,
        interpolation="nearest",
    )
    step = max(1, len(labels) // 25)
    ticks = [0] if pruned is not None else []
    ticks += [j for j in range(len(labels) - 1, -1, -step) if j not in ticks]
    ax.set_xticks(sorted(ticks), [labels[j] for j in sorted(ticks)], rotation=90)
    if pruned is not None:
        ax.axvline(0.5, color="black", lw=1.0)
    if clipped and n <= 40:  # the clipped column's own numbers
        for i in range(n):
            if np.isfinite(matrix[i, 0]):
                dark = abs(matrix[i, 0]) > 0.6 * high  # saturated colour: white text
                ax.text(
                    0,
                    i,
                    f"{matrix[i, 0]:.2g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
    if single:
        ax.set_yticks([])
    else:
        rows = check_labels(sample_labels, n, "sample_labels", [str(i) for i in range(n)])
        every = max(1, n // 25)
        ax.set_yticks(range(0, n, every), rows[::every])
        ax.set_ylabel("sequence")
    ax.set_xlabel("event (position from the end)")
    fig.colorbar(image, ax=ax, label="Shapley value")
    if title:
        ax.set_title(title)
    return fig, ax


def shapley_feature_bar(
    values,
    pruned=None,
    feature_names: Sequence[str] | None = None,
    how: str = "mean_abs",
    top_k: int | None = None,
    ax=None,
    title: str | None = None,
    figsize=None,
):
    """Feature Shapley values as horizontal bars, the most important on top.

    Args:
        values: ``(F,)`` for one sequence (signed bars: red raises the output, blue
            lowers it), ``(N, F)`` for many, reduced with ``how``, or the
            ``ShapleyValues`` of ``SequenceShap.attributions(level="feature")`` (its
            ``pruned`` is used unless given, when events were pruned).
        pruned: the pruned events' value (a number, or ``(N,)``), one more bar.
        feature_names: F names.
        how: for ``(N, F)``: ``"mean_abs"`` (how much each feature matters; with the
            spread over sequences as error bars) or ``"mean"`` (the net direction).
        top_k: the k most important bars only.
        ax, title, figsize: as usual.

    Returns:
        ``(figure, axes)``; bar k from the top is ``axes.patches[k]``.
    """
    values, got = _unpack(values, "feature", pruned=pruned)
    pruned = got["pruned"]
    phi = as_numeric(values, "values", (1, 2))
    how = check_choice(how, "how", ("mean_abs", "mean"))
    f = phi.shape[-1]
    names = check_labels(feature_names, f, "feature_names", [f"f{i}" for i in range(f)])
    if pruned is not None:
        extra = np.asarray(pruned, float).reshape(-1)
        if phi.ndim == 2 and extra.shape != (phi.shape[0],):
            raise ValueError(f"`pruned` must have one entry per sequence ({phi.shape[0]}).")
        if phi.ndim == 1 and extra.size != 1:
            raise ValueError("`pruned` must be one number for one sequence.")
        phi = np.concatenate([phi, extra if phi.ndim == 1 else extra[:, None]], axis=-1)
        names = names + [PRUNED]
    spread = None
    if phi.ndim == 2:
        reduced = np.abs(phi) if how == "mean_abs" else phi
        shown, spread = reduced.mean(0), reduced.std(0)
        label = "mean |Shapley value|" if how == "mean_abs" else "mean Shapley value"
    else:
        shown, label = phi, "Shapley value"
    order = np.argsort(-np.abs(shown), kind="stable")
    if top_k is not None:
        order = order[: check_positive_int(top_k, "top_k")]
    fig, ax = new_axes(ax, figsize or (6.0, max(2.0, 0.35 * len(order) + 1.0)))
    colours = ["#c0392b" if v >= 0 else "#2e6da4" for v in shown[order]]
    if phi.ndim == 2 and how == "mean_abs":
        colours = ["#7f7f7f" if names[j] == PRUNED else "#c0392b" for j in order]
    ax.barh(
        -np.arange(len(order)),
        shown[order],
        color=colours,
        xerr=None if spread is None else spread[order],
        error_kw={"ecolor": "#444444", "lw": 0.8, "capsize": 2},
    )
    ax.set_yticks(-np.arange(len(order)), [names[j] for j in order])
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel(label)
    if title:
        ax.set_title(title)
    return fig, ax


def shapley_cell_heatmap(
    values,
    top_events,
    top_features,
    pruned=None,
    feature_names: Sequence[str] | None = None,
    n_steps: int | None = None,
    annotate: bool = True,
    ax=None,
    title: str | None = None,
    cmap: str = "RdBu_r",
    figsize=None,
):
    """Cell Shapley values of one sequence on its grid of top events x top features.

    Args:
        values: ``(E + 1, K + 1)``: one sequence's ``ShapleyValues.values`` at the cell
            level; the last row holds the other events, the last column the other
            features.
        top_events: ``(E,)`` their time steps (-1: none, left blank).
        top_features: ``(K,)`` their feature indices.
        pruned: the pruned events' value, shown in the title.
        feature_names: names of all F features (default ``f0, f1, ...``).
        n_steps: T, to label events by position from the end too (``t=47 (-3)``).
        annotate: write each value in its cell.
        ax, title, figsize, cmap: as usual.

    Returns:
        ``(figure, axes)``; the matrix is ``axes.images[0].get_array()``.
    """
    grid = as_numeric(values, "values", 2)
    events = np.asarray(top_events).astype(int).reshape(-1)
    features = np.asarray(top_features).astype(int).reshape(-1)
    if grid.shape != (len(events) + 1, len(features) + 1):
        raise ValueError(
            f"`values` must be (E + 1, K + 1) = ({len(events) + 1}, {len(features) + 1}) for "
            f"{len(events)} top events and {len(features)} top features, got {grid.shape}."
        )
    if feature_names is None:
        names = [f"f{j}" for j in features] + ["other features"]
    else:
        names = [feature_names[j] if j >= 0 else "-" for j in features] + ["other features"]
    rows = []
    for t in events:
        if t < 0:
            rows.append("-")
        else:
            rows.append(f"t={t}" + (f" ({t - n_steps})" if n_steps is not None else ""))
    rows.append("other events")
    shown = grid.copy()
    shown[np.r_[events < 0, False]] = np.nan
    fig, ax = new_axes(ax, figsize or (1.3 * len(names) + 2.5, 0.6 * len(rows) + 1.4))
    low, high = signed_limits(np.nan_to_num(shown))
    colours = plt.get_cmap(cmap).with_extremes(bad=BLANK)
    image = ax.imshow(
        np.ma.masked_invalid(shown), cmap=colours, vmin=low, vmax=high, interpolation="nearest"
    )
    if annotate:
        for (i, j), value in np.ndenumerate(shown):
            if np.isfinite(value):
                dark = abs(value) > 0.6 * max(abs(low), abs(high))
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    fig.colorbar(image, ax=ax, label="Shapley value")
    heading = title or ""
    if pruned is not None:
        heading += ("\n" if heading else "") + f"pruned events: {float(pruned):+.3g}"
    if heading:
        ax.set_title(heading)
    return fig, ax


def _swarm_offsets(x: np.ndarray, width: float = 0.4, bins: int = 60) -> np.ndarray:
    """Vertical offsets stacking points that fall in the same bin of x, alternately
    up and down, scaled so that the densest bin fills ``width``."""
    span = np.ptp(x) or 1.0
    which = np.minimum(((x - x.min()) / span * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    rank = np.zeros(len(x), int)
    for b in np.flatnonzero(counts > 1):
        members = np.flatnonzero(which == b)
        rank[members] = np.arange(len(members))
    offsets = np.where(rank % 2 == 0, 1, -1) * ((rank + 1) // 2)
    return offsets * (width / max(1, counts.max() // 2))


def shapley_beeswarm(
    values,
    feature_values=None,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = None,
    ax=None,
    title: str | None = None,
    figsize=None,
    **kwargs,
):
    """Beeswarm of feature Shapley values over many sequences: one row per feature.

    Each point is one sequence; points with close values stack vertically. Rows are
    ordered by mean |Shapley value|.

    Args:
        values: ``(N, F)`` feature values.
        feature_values: optional ``(N, F)`` values colouring the points (e.g. each
            feature's mean over the sequence's kept window); the colour scale spans
            their 5th to 95th percentile, per feature.
        feature_names: F names.
        top_k: the k most important features only.
        ax, title, figsize: as usual.
        **kwargs: passed to ``Axes.scatter``.

    Returns:
        ``(figure, axes)``; row k from the top is ``axes.collections[k]``.
    """
    phi = as_numeric(values, "values", 2)
    n, f = phi.shape
    names = check_labels(feature_names, f, "feature_names", [f"f{i}" for i in range(f)])
    colour = None
    if feature_values is not None:
        colour = as_numeric(feature_values, "feature_values", 2)
        if colour.shape != phi.shape:
            raise ValueError(
                f"`feature_values` must have the shape of `values` {phi.shape}, got {colour.shape}."
            )
        low, high = np.percentile(colour, [5, 95], axis=0)
        colour = np.clip((colour - low) / np.where(high > low, high - low, 1.0), 0, 1)
    order = np.argsort(-np.abs(phi).mean(0), kind="stable")
    if top_k is not None:
        order = order[: check_positive_int(top_k, "top_k")]
    fig, ax = new_axes(ax, figsize or (7.0, max(2.0, 0.45 * len(order) + 1.2)))
    points = None
    for row, j in enumerate(order):
        y = -row + _swarm_offsets(phi[:, j])
        style = (
            {} if colour is None else {"c": colour[:, j], "cmap": "coolwarm", "vmin": 0, "vmax": 1}
        )
        points = ax.scatter(phi[:, j], y, s=12, **style, **kwargs)
    ax.set_yticks(-np.arange(len(order)), [names[j] for j in order])
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("Shapley value")
    if colour is not None:
        bar = fig.colorbar(points, ax=ax, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
    if title:
        ax.set_title(title)
    return fig, ax


def pruning_plot(
    contribution, tolerance=None, window_length=None, ax=None, title=None, figsize=(6, 3.5)
):
    """The older events' contribution against the kept window's length (TimeSHAP's
    pruning view), for one or many sequences.

    Args:
        contribution: ``(T + 1,)`` or ``(N, T + 1)`` from ``Pruning.contribution``.
        tolerance: draws the band ``|contribution| <= tolerance`` (dashed edges).
        window_length: ``(N,)`` or a number, the chosen windows, marked on the lines.
        ax, title, figsize: as usual.

    Returns:
        ``(figure, axes)``; one line per sequence in ``axes.lines`` (first ones).
    """
    curves = np.atleast_2d(as_numeric(contribution, "contribution", (1, 2)))
    n, width = curves.shape
    fig, ax = new_axes(ax, figsize)
    lengths = np.arange(width)
    for i in range(n):
        ax.plot(lengths, curves[i], lw=1.2, color=plt.get_cmap("tab10")(i % 10))
    if window_length is not None:
        chosen = _per_sequence(window_length, n, "window_length", 0).astype(int)
        ax.scatter(
            chosen, curves[np.arange(n), chosen], color="black", zorder=3, s=18, label="kept"
        )
    ax.axhline(0.0, color="grey", lw=0.8)
    if tolerance is not None:
        ax.axhspan(-tolerance, tolerance, color="#2ca02c", alpha=0.2, lw=0)
        for edge in (-tolerance, tolerance):
            ax.axhline(edge, color="#2ca02c", lw=1.0, ls="--")
        ax.lines[-1].set_label(f"tolerance ±{tolerance:g}")
    if window_length is not None or tolerance is not None:
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("kept events (window length)")
    ax.set_ylabel("older events' Shapley value")
    if title:
        ax.set_title(title)
    return fig, ax
