"""Plots render under Agg and show what they claim (checked on their data and pixels)."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

import tf_tsexplain
from tf_tsexplain.plot import (
    attribution_over_time,
    bar_interaction_plot,
    comparison_grid,
    interaction_heatmap,
    matrix_interaction_plot,
    scatter_plot,
    sis_plot,
    summary_plot,
    text_plot,
    time_feature_heatmap,
)

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _every_figure_renders(tmp_path):
    """After each test, every figure it made is saved as a PNG that is not blank."""
    yield
    for number in plt.get_fignums():
        path = tmp_path / f"figure_{number}.png"
        plt.figure(number).savefig(path)
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.std() > 0.01, f"figure {number} is blank"
    plt.close("all")


def _pixel(fig, ax, x, y):
    """RGB (0..1) of the rendered pixel at data coordinates (x, y)."""
    fig.canvas.draw()
    buffer = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return buffer[int(buffer.shape[0] - py), int(px), :3] / 255.0


def _saved_png(fig, tmp_path):
    path = tmp_path / "plot.png"
    fig.savefig(path)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.std() > 0.01  # rendered something
    return image


def test_package_exposes_plot_module():
    assert tf_tsexplain.plot.summary_plot is summary_plot


# ----------------------------------------------------------------- sequence views
def test_time_feature_heatmap_colours_and_overlay(tmp_path):
    attr = RNG.normal(size=(12, 3)) * 0.1
    attr[7, 2] = 1.0  # the largest attribution
    attr[3, 0] = -0.5
    inputs = RNG.normal(size=(12, 3))
    fig, ax = time_feature_heatmap(attr, inputs=inputs, feature_names=["a", "b", "c"])
    np.testing.assert_array_equal(ax.images[0].get_array(), attr.T)
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    # the cell of the largest attribution has the extreme colour of the scale
    np.testing.assert_allclose(
        _pixel(fig, ax, 7.3, 2.2), plt.get_cmap("RdBu_r")(1.0)[:3], atol=0.03
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert len(ax.lines) == 3  # one input series per feature row
    highest = np.argmax(inputs[:, 1])
    assert ax.lines[1].get_ydata()[highest] == pytest.approx(1 - 0.4)  # top of row 1
    _saved_png(fig, tmp_path)
    _, magnitudes = time_feature_heatmap(np.abs(attr), colorbar=False)
    assert magnitudes.images[0].get_clim() == (0.0, 1.0)


def test_attribution_over_time_lines():
    attr = RNG.normal(size=(4, 6, 3))
    attr[:, :, 1] *= 10  # feature 1 dominates
    fig, ax = attribution_over_time(attr, ["a", "b", "c"], top_k=2)
    assert len(ax.lines) == 3  # two features and the zero line
    assert ax.lines[0].get_label() == "b"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), attr[:, :, 1].mean(0))
    _, ax_abs = attribution_over_time(attr, how="mean_abs")
    np.testing.assert_allclose(ax_abs.lines[0].get_ydata(), np.abs(attr[:, :, 1]).mean(0))
    with pytest.raises(ValueError, match="`how` must be 'mean' or 'mean_abs'"):
        attribution_over_time(attr, how="median")


def test_interaction_heatmap_aggregates_like_numpy():
    gamma = RNG.normal(size=(5, 2, 5, 2))
    _, ax = interaction_heatmap(gamma, between="time")
    expected = gamma.sum(axis=(1, 3))
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    _, ax = interaction_heatmap(gamma, between="features", how="sum_abs", zero_diagonal=False)
    np.testing.assert_allclose(ax.images[0].get_array(), np.abs(gamma).sum(axis=(0, 2)))
    with pytest.raises(ValueError, match=r"must be \(T, F, T, F\)"):
        interaction_heatmap(np.zeros((5, 2, 4, 2)))
    with pytest.raises(ValueError, match="`between` must be 'time' or 'features'"):
        interaction_heatmap(gamma, between="cells")


def test_comparison_grid_one_panel_per_method(tmp_path):
    maps = {
        "IG": RNG.normal(size=(8, 3)),
        "mask": RNG.uniform(size=(8, 3)),
        "SIS": RNG.uniform(size=(8, 3)) > 0.7,
    }
    fig, axes = comparison_grid(maps, inputs=RNG.normal(size=(8, 3)), ncols=2)
    visible = [ax for ax in axes.flat if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["IG", "mask", "SIS"]
    np.testing.assert_array_equal(visible[2].images[0].get_array(), maps["SIS"].T.astype(float))
    _saved_png(fig, tmp_path)
    with pytest.raises(ValueError, match="same \\(T, F\\) shape"):
        comparison_grid({"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})


# ----------------------------------------------------------------- summary / scatter
def test_summary_plot_rows_order_and_standardized_colours(tmp_path):
    attr = RNG.normal(size=(40, 4)) * np.array([0.1, 3.0, 1.0, 0.5])
    values = RNG.normal(size=(40, 4)) * 5 + 2
    fig, ax = summary_plot(attr, values, feature_names=["a", "b", "c", "d"], plot_top_k=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "d"]
    assert len(ax.collections) == 3
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], attr[:, 1])
    colours = ax.collections[0].get_array()
    # z-scored with a tiny epsilon (path_explain's std + 1e7 would give ~0 everywhere)
    assert np.std(colours) == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_allclose(colours, (values[:, 1] - values[:, 1].mean()) / values[:, 1].std())
    _saved_png(fig, tmp_path)


def test_summary_plot_takes_sequences_and_interactions():
    attr = RNG.normal(size=(10, 3, 2))
    values = RNG.normal(size=(10, 3, 2))
    _, ax = summary_plot(attr, values, feature_names=["x", "y"])
    assert len(ax.collections) == 6
    assert {t.get_text() for t in ax.get_yticklabels()} == {
        f"{n}@{t}" for t in range(3) for n in "xy"
    }
    _, ax = summary_plot(attr, values, feature_names=["x", "y"], time_aggregation="sum_abs")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["x", "y"]
    row = labels.index("y")
    np.testing.assert_allclose(
        ax.collections[row].get_offsets()[:, 0], np.abs(attr[:, :, 1]).sum(1)
    )
    gamma = RNG.normal(size=(10, 3, 2, 3, 2))
    _, ax = summary_plot(attr, values, interactions=gamma, interaction_feature=(1, 0))
    column = [t.get_text() for t in ax.get_yticklabels()].index("f1@2")
    np.testing.assert_allclose(ax.collections[column].get_offsets()[:, 0], gamma[:, 2, 1, 1, 0])
    with pytest.raises(ValueError, match="`time_aggregation` must be one of"):
        summary_plot(attr, values, time_aggregation="median")
    with pytest.raises(ValueError, match="need `interaction_feature`"):
        summary_plot(attr, values, interactions=gamma)
    with pytest.raises(ValueError, match=r"`feature_values` must have the shape"):
        summary_plot(attr, values[:, :2])


def test_scatter_plot_panels():
    attr = RNG.normal(size=(30, 3))
    values = RNG.normal(size=(30, 3))
    gamma = RNG.normal(size=(30, 3, 3))
    gamma = gamma + gamma.transpose(0, 2, 1)  # interactions are symmetric
    fig, axes = scatter_plot(
        attr, values, "b", interactions=gamma, color_by=2, feature_names=["a", "b", "c"]
    )
    assert len(axes) == 3
    np.testing.assert_allclose(
        axes[0].collections[0].get_offsets(), np.c_[values[:, 1], attr[:, 1]]
    )
    np.testing.assert_allclose(axes[1].collections[0].get_offsets()[:, 1], gamma[:, 1, 2])
    np.testing.assert_allclose(
        axes[2].collections[0].get_offsets()[:, 1], attr[:, 1] - gamma[:, 1, 2]
    )
    seq_attr = attr.reshape(30, 3, 1)
    _, axes = scatter_plot(seq_attr, values.reshape(30, 3, 1), (2, 0))
    assert len(axes) == 1
    np.testing.assert_allclose(axes[0].collections[0].get_offsets()[:, 1], attr[:, 2])
    with pytest.raises(ValueError, match="not one of the feature names"):
        scatter_plot(attr, values, "z")
    with pytest.raises(ValueError, match="need `color_by`"):
        scatter_plot(attr, values, 0, interactions=gamma)


# ----------------------------------------------------------------- text plots
def test_text_plot_colours_words_by_attribution():
    words = ["the", "movie", "was", "great"]
    attr = np.array([0.0, 0.2, -0.5, 1.0])
    fig, ax = text_plot(words, attr, include_legend=True)
    assert [t.get_text() for t in ax.texts] == words
    cmap = plt.get_cmap("RdBu_r")
    np.testing.assert_allclose(ax.texts[3].get_bbox_patch().get_facecolor(), cmap(1.0))
    np.testing.assert_allclose(ax.texts[2].get_bbox_patch().get_facecolor(), cmap(0.25))
    gamma = np.outer(attr, attr)
    _, ax = text_plot(words, attr, interaction_matrix=gamma, interaction_index=3)
    # coloured by row 3 without its diagonal: "movie" (0.2) vs "was" (-0.5) at scale 0.5
    np.testing.assert_allclose(ax.texts[2].get_bbox_patch().get_facecolor(), cmap(0.0))
    with pytest.raises(ValueError, match="`word_array` has 3 tokens for 4 values"):
        text_plot(words[:3], attr)


def test_matrix_and_bar_interaction_plots():
    tokens = ["a", "b", "c", "d"]
    gamma = np.array(
        [[9.0, 1.0, -4.0, 0.0], [1.0, 9.0, 0.5, 2.0], [-4.0, 0.5, 9.0, 0.1], [0.0, 2.0, 0.1, 9.0]]
    )
    _, ax = matrix_interaction_plot(gamma, tokens)
    assert np.all(np.diag(ax.images[0].get_array()) == 0)
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    # no pair_indices: path_explain crashes here (np.flatten)
    _, ax = bar_interaction_plot(gamma, tokens, top_k=3)
    bars = ax.patches
    assert len(bars) == 3
    top = max(bars, key=lambda b: b.get_y())
    assert top.get_width() == -4.0  # the strongest pair, (a, c), is on top
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["a, c (0, 2)", "b, d (1, 3)", "a, b (0, 1)"]  # ticks from the top
    _, ax = bar_interaction_plot(gamma, tokens, pair_indices=[[1, 3]])
    assert [b.get_width() for b in ax.patches] == [2.0]
    with pytest.raises(ValueError, match="must be square"):
        matrix_interaction_plot(np.zeros((2, 3)), tokens[:2])
    with pytest.raises(ValueError, match="`interaction_matrix` is empty"):
        bar_interaction_plot(np.zeros((0, 0)), [])


def test_magnitudes_get_a_sequential_colour_map():
    _, ax = time_feature_heatmap(np.abs(RNG.normal(size=(4, 2))))
    assert ax.images[0].get_cmap().name == "Reds"
    _, ax = interaction_heatmap(RNG.normal(size=(3, 2, 3, 2)), how="sum_abs")
    assert ax.images[0].get_cmap().name == "Reds"
    _, ax = interaction_heatmap(RNG.normal(size=(3, 2, 3, 2)))
    assert ax.images[0].get_cmap().name == "RdBu_r"


def test_top_k_must_be_a_positive_int():
    with pytest.raises(ValueError, match="`top_k` must be >= 1. Received: top_k=0"):
        bar_interaction_plot(np.eye(3), ["a", "b", "c"], top_k=0)
    with pytest.raises(TypeError, match="`plot_top_k` must be an integer"):
        summary_plot(np.ones((3, 2)), np.ones((3, 2)), plot_top_k=1.5)


def test_sis_plot_outlines_every_sis_cell():
    from tf_tsexplain.sis import sis_collection

    x = np.zeros((6, 2))
    x[1, 0], x[4, 1] = 5.0, 3.0

    def total(batch):
        return batch.reshape(len(batch), -1).sum(1)

    collection = sis_collection(total, 2.5, x, np.zeros_like(x))
    assert len(collection) == 2
    fig, ax = sis_plot(x, collection, feature_names=["a", "b"])
    corners = sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches)
    assert corners == [(1.0, 0.0), (4.0, 1.0)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SIS 1", "SIS 2"]
    steps = np.ones((6, 1), bool)
    steps[:] = False
    steps[2] = True
    from tf_tsexplain.sis import SISResult

    whole_step = SISResult(np.array([[2, 0]]), np.array([[2, 0]]), np.zeros(1), steps)
    _, ax = sis_plot(x, whole_step)
    assert len(ax.patches) == 2  # the time-step mask covers both features of step 2
    with pytest.raises(ValueError, match="does not fit inputs"):
        sis_plot(
            x, SISResult(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.ones((3, 2), bool))
        )
