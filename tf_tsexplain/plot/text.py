"""Token plots: coloured text, token interaction matrices and bars of top pairs.

For token models explained with ``EmbeddingExplainerTF`` (attributions ``(T,)`` and
interactions ``(T, T)`` per sequence), with path_explain's call signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain._validation import check_positive_int
from tf_tsexplain.plot._common import as_numeric, new_axes, signed_limits


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


def text_plot(
    word_array: Sequence[str],
    attributions,
    include_legend: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    interaction_matrix=None,
    interaction_index: int | None = None,
    zero_diagonals: bool = True,
    ax=None,
    cmap: str = "RdBu_r",
    **kwargs,
):
    """Words on a line, each on a background coloured by its attribution.

    Args:
        word_array: T words.
        attributions: ``(T,)`` values.
        include_legend: add a colour bar.
        vmin, vmax: colour limits (default symmetric around 0).
        interaction_matrix: optional ``(T, T)``; with ``interaction_index`` the words
            are coloured by their interaction with that word instead (the word itself
            is outlined).
        interaction_index: see ``interaction_matrix``.
        zero_diagonals: ignore self-interactions when colouring by interactions.
        ax: Axes to draw on (default: a new figure).
        cmap: colormap name.
        **kwargs: passed to ``Axes.text``.

    Returns:
        ``(figure, axes)``; ``axes.texts[i]`` is word i.
    """
    values = as_numeric(attributions, "attributions", 1)
    words = _tokens(word_array, len(values), "word_array")
    if interaction_matrix is not None:
        if interaction_index is None:
            raise ValueError(
                "`interaction_matrix` needs `interaction_index` (the word to explain)."
            )
        gamma, _ = _square(interaction_matrix, words, zero_diagonals)
        if not 0 <= interaction_index < len(words):
            raise ValueError(f"`interaction_index` {interaction_index} is out of range.")
        values = gamma[interaction_index]
    low, high = signed_limits(values)
    low = low if vmin is None else vmin
    high = high if vmax is None else vmax
    norm = plt.Normalize(low, high)
    colormap = plt.get_cmap(cmap)
    fig, ax = new_axes(ax, (max(4.0, 0.12 * sum(len(w) + 1 for w in words)), 1.2))
    ax.set_axis_off()
    total = sum(len(w) + 1 for w in words)
    position = 0.0
    for i, (word, value) in enumerate(zip(words, values, strict=True)):
        box = {"facecolor": colormap(norm(value)), "edgecolor": "none", "pad": 2}
        if interaction_matrix is not None and i == interaction_index:
            box.update(edgecolor="black", linewidth=1.5)
        ax.text(position / total, 0.5, word, bbox=box, va="center", ha="left", **kwargs)
        position += len(word) + 1
    if include_legend:
        mappable = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
        fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.3)
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

    Returns:
        ``(figure, axes)``; the drawn matrix is ``axes.images[0].get_array()``.
    """
    gamma, labels = _square(interaction_matrix, tokens, zero_diagonals)
    fig, ax = new_axes(axis, (max(4.0, 0.4 * len(labels) + 2),) * 2)
    low, high = signed_limits(gamma)
    kwargs.setdefault("cmap", "RdBu_r")
    image = ax.imshow(gamma, vmin=low, vmax=high, **kwargs)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    fig.colorbar(image, ax=ax, label=cbarlabel, **(cbar_kw or {}))
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
    colours = np.where(values >= 0, "tab:red", "tab:blue")
    ax.barh(rows, values, color=colours, **kwargs)
    ax.set_yticks(rows, names)
    ax.axvline(0.0, color="grey", lw=0.8)
    for row, value in zip(rows, values, strict=True):  # label outside the bar's end
        side = {"ha": "left" if value >= 0 else "right"}
        ax.text(value, row, f" {value:.3g} ", va="center", **side, **(text_kwargs or {}))
    ax.margins(x=0.25)
    ax.set_xlabel("interaction")
    return fig, ax
