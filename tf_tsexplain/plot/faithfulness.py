"""Deletion and insertion curves of compared explainers (from ``compare_explainers``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

CURVE_COLUMNS = ("explainer", "curve", "fraction", "mean", "sem")
_RANDOM_STYLE = {"color": "0.35", "ls": "--", "lw": 1.6}
# 8 methods and the control stay apart: tab10 without its grey (kept for the control)
_COLOURS = [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")


def _curves_frame(table_or_curves) -> tuple[pd.DataFrame, list[str]]:
    """The tidy curves and the explainers in display order (the table's rank order)."""
    if not isinstance(table_or_curves, pd.DataFrame):
        raise TypeError(
            "`table_or_curves` must be the DataFrame of compare_explainers (with "
            "attrs['curves']) or a tidy DataFrame with columns "
            f"{', '.join(CURVE_COLUMNS)}. Received: {type(table_or_curves).__name__}."
        )
    frame = table_or_curves
    if set(CURVE_COLUMNS) <= set(frame.columns):
        curves = frame
        order = list(dict.fromkeys(curves["explainer"]))
    elif isinstance(frame.attrs.get("curves"), pd.DataFrame):
        curves = frame.attrs["curves"]
        order = [str(k) for k in frame.index if k in set(curves["explainer"])]
    else:
        raise ValueError(
            "`table_or_curves` has neither the columns "
            f"{', '.join(CURVE_COLUMNS)} nor attrs['curves'] (the table of "
            f"compare_explainers). Received: columns {list(frame.columns)}."
        )
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"The curves lack the columns {missing}.")
    if curves.empty:
        raise ValueError("The curves are empty.")
    return curves, order


def faithfulness_plot(
    table_or_curves,
    ax=None,
    *,
    curves=("deletion", "insertion"),
    band: bool = True,
    random_name: str = "random",
    title: str | None = None,
    figsize=None,
):
    """Deletion and insertion curves of every compared explainer, mean and band.

    One panel per curve: the explained output (mean over inputs) against the fraction
    of cells removed (deletion: a faithful map makes it fall early, low area) or put
    back into the baseline (insertion: it rises early, high area). The band is one
    standard error either side of the mean; the random control is dashed grey. The
    legend gives each explainer's area under both curves, explainers in the table's
    rank order (best first). Readable with 8 methods and the control (distinct
    colours and markers).

    Args:
        table_or_curves: the DataFrame of
            :func:`~tf_tsexplain.metrics.compare_explainers` (its
            ``attrs["curves"]`` is drawn), or a tidy DataFrame with columns
            ``explainer, curve, fraction, mean, sem``.
        ax: an Axes per drawn curve (one Axes for one curve, a sequence of two for
            both); None makes a new figure.
        curves: which curves, ``("deletion", "insertion")`` (default) or one of them.
        band: draw the standard-error bands.
        random_name: the control's name (drawn dashed grey).
        title: the figure's title.
        figsize: size of a new figure (default 6 x 4.2 inches per panel).

    Returns:
        ``(figure, axes)``: an array of Axes, one per curve, in the order of ``curves``.

    Raises:
        TypeError, ValueError: on a table without curves or bad ``curves`` / ``ax``.
    """
    frame, order = _curves_frame(table_or_curves)
    wanted = [curves] if isinstance(curves, str) else list(curves)
    if not wanted or any(c not in ("deletion", "insertion") for c in wanted):
        raise ValueError(
            f"`curves` must be 'deletion', 'insertion' or both. Received: curves={curves!r}."
        )
    if ax is None:
        size = figsize or (6.0 * len(wanted) + 0.2, 5.2)
        fig, axes = plt.subplots(1, len(wanted), figsize=size, squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object))
        if len(axes) != len(wanted):
            raise ValueError(
                f"`ax` must hold one Axes per curve ({len(wanted)}). Received: {len(axes)}."
            )
        fig = axes[0].figure
    areas = {}
    for panel, curve in zip(axes, wanted, strict=True):
        part = frame[frame["curve"] == curve]
        k = 0
        for name in order:
            rows = part[part["explainer"] == name].sort_values("fraction")
            if rows.empty:
                continue
            fr = rows["fraction"].to_numpy(float)
            mean = rows["mean"].to_numpy(float)
            sem = np.nan_to_num(rows["sem"].to_numpy(float))
            area = float(((mean[1:] + mean[:-1]) / 2 * np.diff(fr)).sum())
            areas.setdefault(name, {})[curve] = area
            if name == random_name:
                style = dict(_RANDOM_STYLE)
            else:
                style = {
                    "color": _COLOURS[k % len(_COLOURS)],
                    "marker": _MARKERS[k % len(_MARKERS)],
                    "markevery": max(1, len(fr) // 6),
                    "ms": 5,
                    "lw": 1.8,
                }
                k += 1
            (line,) = panel.plot(
                fr, mean, label=name, zorder=3 if name != random_name else 2, **style
            )
            if band:
                panel.fill_between(
                    fr, mean - sem, mean + sem, color=line.get_color(), alpha=0.14, lw=0
                )
        panel.set_xlim(0, 1)
        panel.set_xlabel(
            "fraction of cells removed (most salient first)"
            if curve == "deletion"
            else "fraction of cells inserted into the baseline (most salient first)"
        )
        panel.set_ylabel("explained output (mean ± s.e.)")
        better = "low area is better" if curve == "deletion" else "high area is better"
        panel.set_title(f"{curve.capitalize()} ({better})")
        panel.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    texts = []
    for name in labels:
        given = areas.get(name, {})
        bits = [f"{c[:3]}. AUC {given[c]:.3f}" for c in wanted if c in given]
        texts.append(f"{name}  ({', '.join(bits)})" if bits else name)
    columns = 1 if len(labels) <= 3 else (2 if len(wanted) == 1 else 3)
    fig.legend(
        handles,
        texts,
        loc="lower center",
        ncol=columns,
        fontsize="small",
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    if ax is None:  # room for the x labels (0.6 inch) and the legend's rows (0.2 each)
        rows_of_legend = int(np.ceil(len(labels) / columns))
        bottom = min(0.5, (0.62 + 0.2 * rows_of_legend) / fig.get_figheight())
        fig.subplots_adjust(bottom=bottom, top=0.88 if title else 0.92, wspace=0.22)
    if title:
        fig.suptitle(title)
    return fig, axes
