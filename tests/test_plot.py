"""Plots render under Agg and show what they claim (checked on their data and pixels)."""

import matplotlib.image
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pytest
from plot_support import every_figure_renders, pixel  # noqa: F401 (autouse fixture)

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


def _saved_png(fig, tmp_path):
    path = tmp_path / "plot.png"
    fig.savefig(path)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.std() > 0.01  # rendered something
    return image


def test_package_exposes_plot_module():
    assert tf_tsexplain.plot.summary_plot is summary_plot
    # path_explain's exports, from the package itself
    from tf_tsexplain import bar_interaction_plot as bar
    from tf_tsexplain import matrix_interaction_plot as matrix
    from tf_tsexplain import scatter_plot as scatter
    from tf_tsexplain import summary_plot as summary
    from tf_tsexplain import text_plot as text

    assert (summary, scatter, text, matrix, bar) == (
        summary_plot, scatter_plot, text_plot, matrix_interaction_plot, bar_interaction_plot,
    )  # fmt: skip
    exported = {*tf_tsexplain._EXPORTS, *tf_tsexplain._SUBMODULES, "__version__"}
    assert set(tf_tsexplain.__all__) == exported


def test_plots_import_without_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; import tf_tsexplain; from tf_tsexplain import summary_plot, text_plot; "
        "import tf_tsexplain.plot; print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


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
    np.testing.assert_allclose(pixel(fig, ax, 7.3, 2.2), plt.get_cmap("RdBu_r")(1.0)[:3], atol=0.03)
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
    # z-scored with a tiny epsilon (path_explain's std + 1e7 would give ~0 everywhere),
    # then clipped to the 5th..95th percentiles of the shown colours
    z = (values[:, 1:4] - values[:, 1:4].mean(0)) / values[:, 1:4].std(0)
    low, high = np.percentile(z[:, [0, 1, 2]], [5, 95])
    np.testing.assert_allclose(colours, np.clip(z[:, 0], low, high))
    assert ax.collections[0].get_clim() == pytest.approx((low, high))
    _saved_png(fig, tmp_path)


def test_summary_plot_takes_sequences_and_interactions():
    attr = RNG.normal(size=(10, 3, 2))
    values = RNG.normal(size=(10, 3, 2))
    # sequences: by default one row per feature, |attribution| summed over time
    _, ax = summary_plot(attr, values, feature_names=["x", "y"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["x", "y"] and "|attribution| summed" in ax.get_xlabel()
    np.testing.assert_allclose(
        ax.collections[labels.index("y")].get_offsets()[:, 0], np.abs(attr[:, :, 1]).sum(1)
    )
    _, ax = summary_plot(attr, values, feature_names=["x", "y"], time_aggregation="cells")
    assert len(ax.collections) == 6
    assert {t.get_text() for t in ax.get_yticklabels()} == {
        f"{n}@{t}" for t in range(3) for n in "xy"
    }
    # interactions (path_explain's meaning): x stays the attribution, the height in the
    # row is the interaction with interaction_feature, one scale for all rows
    gamma = RNG.normal(size=(10, 3, 2, 3, 2))
    _, ax = summary_plot(
        attr, values, interactions=gamma, interaction_feature=(1, 0), time_aggregation="cells"
    )
    labels = [t.get_text() for t in ax.get_yticklabels()]
    row = labels.index("f1@2")
    points = ax.collections[row].get_offsets()
    np.testing.assert_allclose(points[:, 0], attr[:, 2, 1])
    selected = gamma[..., 1, 0].reshape(10, -1)
    np.testing.assert_allclose(
        points[:, 1] + row, gamma[:, 2, 1, 1, 0] / np.abs(selected).max() * 0.42, atol=1e-12
    )
    assert "interaction with f0@1" in ax.get_title()
    _, ax = summary_plot(attr, values, interactions=gamma, interaction_feature=(1, 0))
    assert len(ax.collections) == 2  # aggregated rows; interactions summed over time
    with pytest.raises(ValueError, match="`time_aggregation` must be one of"):
        summary_plot(attr, values, time_aggregation="median")
    with pytest.raises(ValueError, match="need `interaction_feature`"):
        summary_plot(attr, values, interactions=gamma)
    with pytest.raises(ValueError, match="`interaction_feature` must be a position"):
        summary_plot(attr, values, interactions=gamma, interaction_feature=(5, 0))
    with pytest.raises(ValueError, match=r"`feature_values` must have the shape"):
        summary_plot(attr, values[:, :2])
    with pytest.raises(TypeError, match="`scale_x_ind` must be True or False"):
        summary_plot(attr, values, scale_x_ind="yes")


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
    assert ax.texts[3].get_color() == "white"  # dark background, light text
    # path_explain's one-sided limits: the other limit is the min / max attribution
    _, ax = text_plot(words, attr, vmax=2.0)
    np.testing.assert_allclose(ax.texts[2].get_bbox_patch().get_facecolor(), cmap(0.0))
    gamma = np.outer(attr, attr)
    _, ax = text_plot(words, attr, interaction_matrix=gamma, interaction_index=3)
    # a second block: the words coloured by their interaction with word 3 (row 3, no
    # diagonal: "was" at -0.5 is the extreme of the shared scale +-1)
    assert [t.get_text() for t in ax.texts[:8]] == words + words
    np.testing.assert_allclose(ax.texts[4 + 2].get_bbox_patch().get_facecolor(), cmap(0.25))
    np.testing.assert_allclose(ax.texts[4 + 3].get_bbox_patch().get_facecolor(), cmap(0.5))
    assert ax.texts[3].get_fontweight() == "bold"  # the explained word
    assert "interactions with 'great' (3)" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="`word_array` has 3 tokens for 4 values"):
        text_plot(words[:3], attr)
    with pytest.raises(ValueError, match="Received: interaction_index=7"):
        text_plot(words, attr, interaction_matrix=gamma, interaction_index=7)


def test_long_text_wraps_within_16_inches():
    words = [f"word{i % 17}" for i in range(128)]
    fig, ax = text_plot(words, RNG.normal(size=128), include_legend=True)
    assert fig.get_figwidth() <= 16.0
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    rows = sorted({round(b.y0) for b in boxes})
    assert len(rows) >= 3  # wrapped into lines
    assert max(b.x1 for b in boxes) <= fig.bbox.width
    for a, b in zip(boxes, boxes[1:], strict=False):  # no overlap on a line
        if round(a.y0) == round(b.y0):
            assert b.x0 >= a.x1


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
    corners = [(p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches]
    np.testing.assert_allclose(corners, [(1.0, 0.0), (4.12, 1.12)])  # SIS 2 inset
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SIS 1", "SIS 2"]
    steps = np.ones((6, 1), bool)
    steps[:] = False
    steps[2] = True
    from tf_tsexplain.sis import SISResult

    whole_step = SISResult(np.array([[2, 0]]), np.array([[2, 0]]), np.zeros(1), steps)
    _, ax = sis_plot(x, whole_step)
    (outline,) = ax.patches  # the time-step mask: one outline over both features
    assert (outline.get_x(), outline.get_y(), outline.get_width(), outline.get_height()) == (
        1.5, -0.5, 1, 2,
    )  # fmt: skip
    with pytest.raises(ValueError, match="does not fit inputs"):
        sis_plot(
            x, SISResult(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.ones((3, 2), bool))
        )


def test_sis_plot_overlapping_sis_stay_visible_and_empty_collections_say_why():
    from tf_tsexplain.sis import SISCollection, SISResult

    x = np.arange(20.0).reshape(10, 2)
    first = np.zeros((10, 2), bool)
    first[2:6, 0] = True
    second = np.zeros((10, 2), bool)
    second[3:5, 0] = True  # inside the first one's run of steps (as outlines go)
    second[:, 1] = False
    results = [
        SISResult(np.argwhere(m), np.argwhere(m), np.zeros(m.sum()), m) for m in (first, second)
    ]
    # the runs overlap on the drawing: SIS 2 inset and dashed, SIS 1 solid
    _, ax = sis_plot(x, results, title="two SIS")
    one, two = ax.patches
    assert one.get_linestyle() == "-" and two.get_linestyle() == "--"
    assert two.get_x() > one.get_x() and two.get_y() > one.get_y()
    assert two.get_x() + two.get_width() < 6 - 0.5  # inside SIS 1's box, not on its edge
    fig = ax.figure
    fig.canvas.draw()  # the legend clear of the title: their boxes do not intersect
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    (title,) = [
        child.get_window_extent(renderer)
        for child in ax.get_children()
        if isinstance(child, matplotlib.text.Text) and child.get_text() == "two SIS"
    ]
    assert not legend.overlaps(title)
    # a long title over narrow axes: the legend moves below the time axis instead
    long_title = "SIS collection over cells (threshold p >= 0.9, p = 1.000), one input"
    _, ax = sis_plot(x, results, title=long_title, figsize=(5, 2.5))
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.title.get_window_extent(renderer))
    assert not legend.overlaps(ax.get_window_extent(renderer))  # clear of the cells too
    assert not legend.overlaps(ax.xaxis.label.get_window_extent(renderer))
    empty = SISCollection([], initial_value=0.31, threshold=0.5)
    _, ax = sis_plot(x, empty)
    assert [t.get_text() for t in ax.texts] == ["no sufficient subset: f(x) = 0.31 < threshold 0.5"]
    _, ax = sis_plot(x, [])  # a plain empty list: nothing is known, no note
    assert not ax.texts


# ----------------------------------------------------------------- real lengths: T = 100
T_LONG, F_LONG = 100, 6
NAMES = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]


@pytest.fixture(scope="module")
def long_sequences():
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.normal(size=(40, T_LONG, F_LONG)), axis=1) * 0.1
    attr = rng.normal(size=x.shape) * 0.01
    attr[:, 50:60, 1] += 0.2 * x[:, 50:60, 1]
    return attr, x


def _labels(ax):
    return [t.get_text() for t in ax.get_yticklabels() if t.get_text()]


def test_summary_plot_of_long_sequences_shows_at_most_20_labelled_rows(long_sequences):
    attr, x = long_sequences
    fig, ax = summary_plot(attr, x, feature_names=NAMES)  # 600 cells: one row per feature
    assert sorted(_labels(ax)) == sorted(NAMES) and len(ax.collections) == 6
    assert _labels(ax)[0] == "acc_y"  # the feature that matters comes first
    fig, ax = summary_plot(attr, x, feature_names=NAMES, time_aggregation="cells")
    labels = _labels(ax)
    assert len(labels) == 20 == len(ax.collections)  # the 20 top cells, not 600
    assert all(label.startswith("acc_y@5") for label in labels[:10])
    assert fig.get_figwidth() <= 16 and fig.get_figheight() <= 10
    _, ax = summary_plot(attr, x, time_aggregation="cells", plot_top_k=30)
    assert len(_labels(ax)) == 30  # asked for explicitly


def test_summary_plot_beeswarm_stacks_by_density():
    rng = np.random.default_rng(1)
    dense = rng.normal(0.0, 0.01, size=150)  # 150 points around 0
    sparse = np.linspace(2.0, 5.0, 10)  # 10 points spread out
    attr = np.r_[dense, sparse][:, None]
    _, ax = summary_plot(attr, attr)
    heights = ax.collections[0].get_offsets()[:, 1]
    assert np.abs(heights[:150]).max() > 10 * max(np.abs(heights[150:]).max(), 1e-3)
    np.testing.assert_array_equal(heights[150:], 0.0)  # alone in their bin: on the centre line
    assert np.abs(heights).max() <= 0.42 + 1e-12  # within the row
    _, again = summary_plot(attr, attr)  # deterministic: no random jitter
    np.testing.assert_array_equal(
        again.collections[0].get_offsets(), ax.collections[0].get_offsets()
    )


@pytest.mark.parametrize("t", [100, 500])
def test_sequence_views_of_long_sequences_stay_readable(t):
    rng = np.random.default_rng(t)
    attr, x = rng.normal(size=(t, F_LONG)), rng.normal(size=(t, F_LONG))
    fig, ax = time_feature_heatmap(attr, x, feature_names=NAMES)
    assert fig.get_figwidth() <= 16 and fig.get_figheight() <= 10
    ticks = [tick for tick in ax.get_xticks() if 0 <= tick < t]
    assert 5 <= len(ticks) <= 25 and np.diff(ticks).min() >= 5  # every k steps
    assert _labels(ax) == NAMES
    fig, ax = attribution_over_time(rng.normal(size=(4, t, 15)))
    assert len(ax.get_legend().get_texts()) == 10  # at most 10 lines unless top_k says
    assert fig.get_figwidth() <= 16
    fig, axes = comparison_grid({"a": attr, "b": np.abs(attr), "c": attr > 1}, inputs=x, ncols=3)
    assert fig.get_figwidth() <= 16
    from tf_tsexplain.sis import SISResult

    steps = np.zeros((t, 1), bool)
    steps[40:48] = True
    result = SISResult(np.zeros((8, 1)), np.zeros((8, 1)), np.zeros(8), steps)
    fig, ax = sis_plot(x, result, feature_names=NAMES)
    assert fig.get_figwidth() <= 16
    (outline,) = ax.patches  # one outline around the 8 steps, over every feature
    assert (outline.get_x(), outline.get_width(), outline.get_height()) == (39.5, 8, F_LONG)


def test_many_features_and_tokens_thin_their_labels():
    fig, ax = time_feature_heatmap(RNG.normal(size=(50, 80)))
    assert fig.get_figheight() <= 10 and 10 <= len(_labels(ax)) < 80
    tokens = [f"t{i}" for i in range(128)]
    fig, ax = matrix_interaction_plot(RNG.normal(size=(128, 128)), tokens)
    assert max(fig.get_size_inches()) <= 16 and 10 <= len(_labels(ax)) < 128


def test_scatter_plot_path_explain_arguments():
    attr = RNG.normal(size=(30, 3))
    values = RNG.normal(size=(30, 3))
    gamma = RNG.normal(size=(30, 3, 3)) * 0.01
    names = ["a", "b", "c"]
    _, axes = scatter_plot(attr, values, "b", interactions=gamma, color_by="c", feature_names=names)
    assert axes[0].get_ylim() == axes[1].get_ylim()  # shared by default
    _, axes = scatter_plot(
        attr, values, 1, interactions=gamma, color_by=2, feature_names=names, scale_y_ind=True
    )
    assert axes[1].get_ylim()[1] < 0.2 < axes[0].get_ylim()[1]  # each panel its own scale
    _, axes = scatter_plot(attr, values, 0, add_random_noise_x=True, s=3)
    jittered = axes[0].collections[0].get_offsets()[:, 0]
    assert not np.allclose(jittered, values[:, 0]) and np.allclose(jittered, values[:, 0], atol=1)
    _, ax = bar_interaction_plot(gamma[0], names, top_k=2, cmap="viridis")
    assert len(ax.patches) == 2


# ----------------------------------------------------------------- padding
def test_padded_steps_are_hatched_grey_and_left_out_of_the_colour_scale():
    t, f = 120, 6
    real = np.ones(t, bool)
    real[:30] = False  # pre-padding
    attr = RNG.normal(size=(t, f))
    attr[~real] = 50.0  # junk on padding must not set the colour scale
    fig, ax = time_feature_heatmap(attr, inputs=RNG.normal(size=(t, f)), padding_mask=real)
    data = ax.images[0].get_array()
    assert np.all(data.mask[:, :30]) and not np.any(data.mask[:, 30:])
    assert ax.images[0].get_clim()[1] == pytest.approx(np.abs(attr[real]).max())
    assert len(ax.collections) == 1  # one hatched span over the run of padding
    rgb = pixel(fig, ax, 10, 2)
    assert np.allclose(rgb, rgb[0], atol=0.08) and 0.6 < rgb[0] < 0.95  # grey
    assert "padding" in ax.get_xlabel()
    with pytest.raises(ValueError, match="padding_mask"):
        time_feature_heatmap(attr, padding_mask=real[:50])
    with pytest.raises(ValueError, match="padding_mask"):
        time_feature_heatmap(attr, padding_mask=np.zeros(t, bool))


def test_attribution_over_time_averages_real_samples_and_cuts_padding():
    n, t, f = 5, 40, 3
    attr = RNG.normal(size=(n, t, f))
    real = np.ones((n, t), bool)
    real[0, :20], real[1, :30] = False, False
    real[:, :5] = False  # no sample is real there
    attr[~real] = 100.0
    fig, ax = attribution_over_time(attr, padding_mask=real, how="mean")
    line = ax.lines[0]
    j = ["f0", "f1", "f2"].index(line.get_label())
    want = np.array(
        [attr[real[:, s], s, j].mean() if real[:, s].any() else np.nan for s in range(t)]
    )
    np.testing.assert_allclose(line.get_ydata(), want)
    assert np.all(np.isnan(line.get_ydata()[:5]))
    assert len(ax.collections) == 1


def test_sis_and_comparison_plots_with_padding():
    from tf_tsexplain.sis import SISResult

    t, f = 100, 4
    real = np.ones(t, bool)
    real[80:] = False  # post-padding
    mask = np.zeros((t, 1), bool)
    mask[[10, 11, 40]] = True
    result = SISResult(np.argwhere(mask), np.argwhere(mask), np.zeros(3), mask)
    x = RNG.normal(size=(t, f))
    fig, ax = sis_plot(x, [result], padding_mask=real)
    assert len(ax.patches) == 2  # the SIS outlines only: runs 10-11 and 40
    assert len(ax.collections) == 1
    assert np.all(ax.images[0].get_array().mask[:, 80:])
    fig, axes = comparison_grid({"a": x, "b": np.abs(x)}, padding_mask=real)
    assert all(len(a.collections) == 1 for a in axes.flat)


def test_summary_plot_with_padding_counts_real_steps_only():
    from tf_tsexplain.tables import aggregate

    n, t, f = 30, 12, 3
    attr, values = RNG.normal(size=(n, t, f)), RNG.normal(size=(n, t, f))
    real = np.ones((n, t), bool)
    real[: n // 2, :6] = False
    junk = np.where(real[:, :, None], attr, 30.0)
    fig, ax = summary_plot(junk, values, time_aggregation="mean_abs", padding_mask=real)
    want = aggregate(attr, "time", "mean_abs", padding_mask=real)
    row_name = ax.get_yticklabels()[0].get_text()
    column = ["f0", "f1", "f2"].index(row_name)
    np.testing.assert_allclose(
        np.sort(ax.collections[0].get_offsets()[:, 0]), np.sort(want[:, column])
    )
    fig, ax = summary_plot(junk, values, time_aggregation="cells", padding_mask=real)
    drawn = [np.isfinite(c.get_offsets()[:, 0]).sum() for c in ax.collections[: -0 or None]]
    names = [label.get_text() for label in ax.get_yticklabels()]
    for count, name in zip(drawn, names, strict=False):
        step = int(name.split("@")[1])
        assert count == real[:, step].sum()  # padded cells are not drawn
    assert np.nanmax(np.abs(np.concatenate([c.get_offsets()[:, 0] for c in ax.collections]))) < 30
