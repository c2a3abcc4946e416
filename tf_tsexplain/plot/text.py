"""Token plots: coloured text, token interaction matrices and bars of top pairs.

For token models explained with ``EmbeddingExplainerTF`` (attributions ``(T,)`` and
interactions ``(T, T)`` per sequence), with path_explain's call signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain._validation import check_positive_int
from tf_tsexplain.plot._common import MAX_WIDTH, as_numeric, label_step, new_axes, signed_limits


def _tokens(tokens, size: int, name: str) -> list[str]:
    labels = [str(t) for t in tokens]
    if len(labels) != size:
        raise ValueError(f"`{name}` has {len(labels)} tokens for {size} values.")
    return labels


def _square(matrix, tokens, zero_diagonals: bool) -> tuple[np.ndarray, list[str]]:
    gamma = as_numeric(matrix, "interaction_matrix", 2)
    if gamma.shape[0] != gamma.shape[1]:
        raise ValueError(f"`interaction_matrix` must be square, got shape {gamma.shape}.")
    labels = _tokens(tokens, gamma.shape[0], "tokens")
    if zero_diagonals:
        gamma = gamma.copy()
        np.fill_diagonal(gamma, 0.0)
    return gamma, labels


def _word_widths(words: list[str], fontsize: float, bold: int | None = None) -> np.ndarray:
    """Widths of the words in points at ``fontsize`` (measured on the font's glyphs);
    word ``bold`` is measured in bold."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure = TextToPath()
    props = FontProperties(size=fontsize), FontProperties(size=fontsize, weight="bold")
    return np.array(
        [
            measure.get_text_width_height_descent(w or " ", props[i == bold], ismath=False)[0]
            for i, w in enumerate(words)
        ]
    )


def _wrap(widths: np.ndarray, gap: float, line_width: float) -> list[tuple[int, float]]:
    """(line, x in points) of each word, filling lines of ``line_width`` points."""
    places, line, x = [], 0, 0.0
    for width in widths:
        if x > 0 and x + width > line_width:
            line, x = line + 1, 0.0
        places.append((line, x))
        x += width + gap
    return places


def text_plot(
    word_array: Sequence[str],
    attributions,
    include_legend: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    interaction_matrix=None,
    interaction_index: int | None = None,
    zero_diagonals: bool = True,
    *,
    ax=None,
    cmap: str = "RdBu_r",
    fontsize: float = 12,
    width: float | None = None,
    **kwargs,
):
    """Words on coloured backgrounds, wrapped into lines: path_explain's ``text_plot``.

    Each word's background is coloured by its attribution (red positive, blue
    negative). With ``interaction_matrix`` and ``interaction_index`` a second block
    follows, the same words coloured by their interaction with word
    ``interaction_index`` (outlined and bold in the first block), as path_explain
    draws a second line. Long texts wrap (path_explain puts them on one line).

    Args:
        word_array: T words.
        attributions: ``(T,)`` values.
        include_legend: add a colour bar.
        vmin: lower colour limit; by default symmetric around 0 at the largest
            |value| shown; when only ``vmax`` is given, the min attribution (as
            path_explain).
        vmax: upper colour limit, likewise (the max attribution when only ``vmin``
            is given).
        interaction_matrix: optional ``(T, T)`` interactions, see above.
        interaction_index: the word whose interactions are shown.
        zero_diagonals: leave self-interactions out (drawn as 0).
        ax: Axes to draw on (default: a new figure).
        cmap: colormap name.
        fontsize: font size of the words in points.
        width: width of a new figure in inches (default: the text's, at most 16).
        **kwargs: passed to ``Axes.text``.

    Returns:
        ``(figure, axes)``; ``axes.texts[i]`` is word i (of the attribution block;
        ``axes.texts[T + i]`` in the interaction block).

    Raises:
        TypeError: arrays that are not real numbers.
        ValueError: empty arrays, arrays of the wrong rank or of mismatched shapes,
            or names and indices that do not fit them.
    """
    values = as_numeric(attributions, "attributions", 1)
    words = _tokens(word_array, len(values), "word_array")
    blocks = [(None, values)]
    if interaction_matrix is not None:
        if interaction_index is None:
            raise ValueError(
                "`interaction_matrix` needs `interaction_index` (the word to explain)."
            )
        gamma, _ = _square(interaction_matrix, words, zero_diagonals)
        if not isinstance(interaction_index, int | np.integer) or not (
            0 <= interaction_index < len(words)
        ):
            raise ValueError(
                f"`interaction_index` must be a word index in [0, {len(words) - 1}]. "
                f"Received: interaction_index={interaction_index!r}."
            )
        heading = f"interactions with {words[interaction_index]!r} ({interaction_index})"
        blocks = [("attributions", values), (heading, gamma[interaction_index])]
    shown = np.concatenate([b[1] for b in blocks])
    bound = float(np.abs(shown).max()) or 1.0
    if vmin is None and vmax is None:
        vmin, vmax = -bound, bound
    elif vmin is None:
        vmin = float(values.min())
    elif vmax is None:
        vmax = float(values.max())
    norm = plt.Normalize(vmin, vmax)
    colormap = plt.get_cmap(cmap)
    pad = 2.0  # points of background around each word
    widths = _word_widths(words, fontsize, interaction_index if len(blocks) > 1 else None)
    widths = widths + 2 * pad
    gap = 0.35 * fontsize
    if ax is None:
        natural = (widths.sum() + gap * len(words)) / 72 + 0.6
        width = width or min(MAX_WIDTH, max(3.0, natural))
    else:
        width = ax.get_position().width * ax.figure.get_figwidth()
    line_width = (width - 0.4) * 72 if ax is None else width * 72
    places = _wrap(widths, gap, line_width)
    lines = places[-1][0] + 1
    line_height = 1.9 * fontsize / 72  # inches
    heading_height = 1.4 * fontsize / 72 if len(blocks) > 1 else 0.0
    block_height = lines * line_height + heading_height
    if ax is None:
        height = len(blocks) * block_height + 0.3 + (1.1 if include_legend else 0.0)
        fig = plt.figure(figsize=(width, height))
        bottom = (1.1 if include_legend else 0.0) / height
        ax = fig.add_axes((0.2 / width, bottom, 1 - 0.4 / width, 1 - bottom - 0.15 / height))
    fig = ax.figure
    ax.set_axis_off()
    ax.set_xlim(0, line_width)
    total = len(blocks) * block_height
    ax.set_ylim(total, 0)  # inches from the top
    headings = []
    for b, (heading, colour_values) in enumerate(blocks):
        top = b * block_height + heading_height
        if heading:
            headings.append((top - 0.2 * fontsize / 72, heading))
        for i, (word, value) in enumerate(zip(words, colour_values, strict=True)):
            line, x = places[i]
            background = colormap(norm(value))
            box = {"facecolor": background, "edgecolor": "none", "pad": pad}
            luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
            style = {"color": "white" if luminance < 0.5 else "black"}
            if b == 0 and len(blocks) > 1 and i == interaction_index:
                box.update(edgecolor="black", linewidth=1.5)
                style["fontweight"] = "bold"
            y = top + (line + 0.5) * line_height
            ax.text(
                x + pad, y, word, bbox=box, va="center", ha="left", fontsize=fontsize,
                **{**style, **kwargs},
            )  # fmt: skip
    for y, heading in headings:  # after the words: texts[i] stays word i
        ax.text(0, y, heading, va="bottom", ha="left", fontsize=0.8 * fontsize, color="0.3")
    if include_legend:
        mappable = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
        legend_ax = fig.add_axes(
            (0.25, 0.35 / fig.get_figheight(), 0.5, 0.12 / fig.get_figheight())
        )
        fig.colorbar(mappable, cax=legend_ax, orientation="horizontal", label="attribution")
    return fig, ax


def matrix_interaction_plot(
    interaction_matrix,
    tokens: Sequence[str],
    axis=None,
    cbar_kw: dict | None = None,
    cbarlabel: str = "Interaction Value",
    zero_diagonals: bool = True,
    **kwargs,
):
    """Heatmap of a ``(T, T)`` token interaction matrix with the tokens as labels.

    path_explain's ``matrix_interaction_plot``. The figure is at most 10 x 10
    inches; long texts get every k-th token as a label.

    Args:
        interaction_matrix: ``(T, T)`` interactions.
        tokens: T labels.
        axis: an Axes to draw on instead of a new figure.
        cbar_kw: keyword arguments of the colour bar.
        cbarlabel: the colour bar's label.
        zero_diagonals: leave self-interactions out (drawn as 0).
        **kwargs: passed to ``Axes.imshow``.

    Returns:
        ``(figure, axes)``; the drawn matrix is ``axes.images[0].get_array()``.

    Raises:
        TypeError: arrays that are not real numbers.
        ValueError: empty arrays, arrays of the wrong rank or of mismatched shapes,
            or names and indices that do not fit them.
    """
    gamma, labels = _square(interaction_matrix, tokens, zero_diagonals)
    side = min(10.0, max(4.0, 0.3 * len(labels) + 2))  # at most 10 x 10 inches
    fig, ax = new_axes(axis, (side + 1.2, side))
    low, high = signed_limits(gamma)
    kwargs.setdefault("cmap", "RdBu_r")
    image = ax.imshow(gamma, vmin=low, vmax=high, **kwargs)
    fig.colorbar(image, ax=ax, label=cbarlabel, **(cbar_kw or {}))
    length = ax.get_position().height * fig.get_figheight()
    step = label_step(len(labels), length, inches_per_label=0.16)  # every k-th token
    ticks = range(0, len(labels), step)
    ax.set_xticks(ticks, labels[::step], rotation=90)
    ax.set_yticks(ticks, labels[::step])
    return fig, ax


def bar_interaction_plot(
    interaction_matrix,
    tokens: Sequence[str],
    top_k: int = 5,
    text_kwargs: dict | None = None,
    pair_indices=None,
    zero_diagonals: bool = True,
    ax=None,
    **kwargs,
):
    """Horizontal bars of the token pairs with the largest |interaction|.

    Args:
        interaction_matrix: ``(T, T)``.
        tokens: T labels.
        top_k: number of pairs (distinct unordered pairs i < j, ranked by |value|).
        text_kwargs: passed to ``Axes.text`` for the value labels.
        pair_indices: ``(k, 2)`` pairs to show instead of the top ones.
        zero_diagonals: leave self-interactions out of the ranking.
        ax: Axes to draw on.
        **kwargs: passed to ``Axes.barh``.

    Returns:
        ``(figure, axes)``; bars from the top are the strongest pairs.

    Raises:
        TypeError: arrays that are not real numbers.
        ValueError: empty arrays, arrays of the wrong rank or of mismatched shapes,
            or names and indices that do not fit them.
    """
    gamma, labels = _square(interaction_matrix, tokens, zero_diagonals)
    if pair_indices is None:
        check_positive_int(top_k, "top_k")
        offset = 1 if zero_diagonals else 0
        i, j = np.triu_indices(len(labels), k=offset)
        order = np.argsort(-np.abs(gamma[i, j]), kind="stable")[:top_k]
        pairs = np.stack([i[order], j[order]], axis=1)
    else:
        pairs = np.asarray(pair_indices, dtype=int).reshape(-1, 2)
        if pairs.size == 0 or pairs.min() < 0 or pairs.max() >= len(labels):
            raise ValueError(f"`pair_indices` must be (k, 2) indices below {len(labels)}.")
    values = gamma[pairs[:, 0], pairs[:, 1]]
    names = [f"{labels[a]}, {labels[b]} ({a}, {b})" for a, b in pairs]
    fig, ax = new_axes(ax, (6, 0.4 * len(pairs) + 1))
    rows = np.arange(len(pairs))[::-1]  # strongest on top
    cmap = kwargs.pop("cmap", None)  # path_explain colours the bars through a colormap
    if cmap is None:
        colours = np.where(values >= 0, "tab:red", "tab:blue")
    else:
        low, high = signed_limits(gamma)
        colours = plt.get_cmap(cmap)(plt.Normalize(low, high)(values))
    ax.barh(rows, values, color=colours, **kwargs)
    ax.set_yticks(rows, names)
    ax.axvline(0.0, color="grey", lw=0.8)
    for row, value in zip(rows, values, strict=True):  # label outside the bar's end
        side = {"ha": "left" if value >= 0 else "right"}
        ax.text(value, row, f" {value:.3g} ", va="center", **side, **(text_kwargs or {}))
    ax.margins(x=0.25)
    ax.set_xlabel("interaction")
    return fig, ax
