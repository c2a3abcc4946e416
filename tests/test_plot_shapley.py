"""Shapley plots render under Agg and show what they claim (data and pixels)."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from plot_support import every_figure_renders, pixel  # noqa: F401 (autouse fixture)

import tf_tsexplain
from tf_tsexplain.plot import (
    pruning_plot,
    shapley_beeswarm,
    shapley_cell_heatmap,
    shapley_event_heatmap,
    shapley_feature_bar,
)
from tf_tsexplain.plot.shapley import BLANK

RNG = np.random.default_rng(0)


def test_plots_are_exported():
    assert tf_tsexplain.plot.shapley_event_heatmap is shapley_event_heatmap


def test_event_heatmap_aligns_on_the_last_event_and_blanks_pruned_steps():
    values = RNG.normal(size=(3, 8)) * 0.1
    values[1, 7] = 1.0  # sequence 1's most recent event: the largest value
    start = np.array([5, 0, 6])
    values[0, :5] = values[2, :6] = 0.0  # pruned steps are not players
    pruned = np.array([0.2, 0.0, -0.3])
    fig, ax = shapley_event_heatmap(values, start, pruned, sample_labels=["a", "b", "c"])
    matrix = ax.images[0].get_array()
    assert matrix.shape == (3, 1 + 8)
    np.testing.assert_allclose(matrix[0, -3:], values[0, 5:])
    assert matrix[0, 1:-3].mask.all()  # before the window: blank
    assert matrix.mask[1, 0] and matrix[0, 0] == 0.2  # nothing pruned: blank
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["pruned events", "-8"]
    red = plt.get_cmap("RdBu_r")(1.0)[:3]
    np.testing.assert_allclose(pixel(fig, ax, 8, 1), red, atol=0.03)
    grey = matplotlib.colors.to_rgb(BLANK)
    np.testing.assert_allclose(pixel(fig, ax, 2, 0), grey, atol=0.03)
    _, one = shapley_event_heatmap(values[1], max_events=4)  # one sequence, last 4
    np.testing.assert_allclose(one.images[0].get_array(), values[1:2, 4:])
    with pytest.raises(ValueError, match=r"`window_start` must have one entry per sequence"):
        shapley_event_heatmap(values, [1, 2])


def test_feature_bar_orders_by_importance_with_the_pruned_bar():
    values = np.array([[0.1, -0.5, 0.2], [0.3, -0.7, -0.2]])
    fig, ax = shapley_feature_bar(values, pruned=[0.05, 0.01], feature_names=["a", "b", "c"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["b", "a", "c", "pruned events"]  # ties: in feature order
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [0.6, 0.2, 0.2, 0.03])
    _, signed = shapley_feature_bar(values[0], feature_names=["a", "b", "c"])
    assert [p.get_width() for p in signed.patches] == [-0.5, 0.2, 0.1]
    blue = signed.patches[0].get_facecolor()[:3]
    assert blue[2] > blue[0]  # negative: blue
    _, net = shapley_feature_bar(values, how="mean", top_k=1)
    np.testing.assert_allclose([p.get_width() for p in net.patches], [-0.6])
    with pytest.raises(ValueError, match="`how` must be one of"):
        shapley_feature_bar(values, how="median")


def test_cell_heatmap_labels_the_grid():
    grid = np.array([[0.4, -0.1, 0.0], [0.05, 0.2, -0.02], [0.1, 0.0, 0.03]])
    fig, ax = shapley_cell_heatmap(
        grid, [9, 7], [2, 0], pruned=0.01, feature_names=["a", "b", "c"], n_steps=10
    )
    np.testing.assert_allclose(ax.images[0].get_array(), grid)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t=9 (-1)", "t=7 (-3)", "other events"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "a", "other features"]
    assert "pruned events: +0.01" in ax.get_title()
    assert len(ax.texts) == 9 and ax.texts[0].get_text() == "0.4"
    _, missing = shapley_cell_heatmap(grid, [9, -1], [2, 0])  # a window of one event
    assert missing.images[0].get_array().mask[1].all()
    with pytest.raises(ValueError, match=r"must be \(E \+ 1, K \+ 1\) = \(3, 2\)"):
        shapley_cell_heatmap(grid, [9, 7], [2])


def test_beeswarm_rows_and_colours():
    values = RNG.normal(size=(40, 3)) * [0.1, 1.0, 0.5]
    colours = RNG.normal(size=(40, 3))
    fig, ax = shapley_beeswarm(values, colours, ["a", "b", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "a"]
    top = ax.collections[0]
    np.testing.assert_allclose(top.get_offsets()[:, 0], values[:, 1])
    assert np.abs(top.get_offsets()[:, 1]).max() <= 0.41  # stays in its row
    assert top.get_array() is not None
    _, plain = shapley_beeswarm(values, top_k=2)
    assert len(plain.collections) == 2
    with pytest.raises(ValueError, match="`feature_values` must have the shape"):
        shapley_beeswarm(values, colours[:, :2])


def test_pruning_plot_marks_the_windows():
    curves = np.array([[0.5, 0.2, 0.01, 0.0], [-0.4, -0.05, 0.02, 0.0]])
    fig, ax = pruning_plot(curves, tolerance=0.025, window_length=[2, 2])
    assert len(ax.lines) >= 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), curves[1])
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[2, 0.01], [2, 0.02]])


def test_pruned_column_clip_and_hide():
    """A dominant pruned player (global-pooling models) no longer washes out events."""
    values = RNG.normal(size=(3, 8)) * 0.1
    start = np.array([4, 4, 4])
    values[:, :4] = 0.0
    pruned = np.array([5.0, -4.0, 3.0])
    _, shown = shapley_event_heatmap(values, start, pruned)
    assert shown.images[0].get_clim()[1] >= 5.0  # "show": the pruned value sets the scale
    _, clipped = shapley_event_heatmap(values, start, pruned, pruned_column="clip")
    low, high = clipped.images[0].get_clim()
    assert high == pytest.approx(np.abs(values).max()) and low == -high
    assert [t.get_text() for t in clipped.texts] == ["5", "-4", "3"]  # its own numbers
    _, hidden = shapley_event_heatmap(values, start, pruned, pruned_column="hide")
    assert hidden.images[0].get_array().shape == (3, 4)
    assert "pruned events" not in [t.get_text() for t in hidden.get_xticklabels()]
    with pytest.raises(ValueError, match="pruned_column"):
        shapley_event_heatmap(values, start, pruned, pruned_column="shrink")


def test_plots_take_what_attributions_returns_on_a_four_class_model():
    """The guide's calls on a 4-class classifier, as written (issue 26)."""
    import keras

    from tf_tsexplain import SequenceShap

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 3)), keras.layers.LSTM(4), keras.layers.Dense(4, activation="softmax")]
    )
    x = RNG.normal(size=(5, 8, 3)).astype("float32")
    explainer = SequenceShap(model, 0.0)
    events = explainer.attributions(x, level="event", pruning_tolerance=0.05)
    np.testing.assert_array_equal(events.target, np.argmax(model.predict(x, verbose=0), 1))
    _, ax = shapley_event_heatmap(events)
    drawn = ax.images[0].get_array()
    np.testing.assert_allclose(drawn[:, -1], events.values[:, -1], rtol=1e-6)
    features = explainer.attributions(x, level="feature")
    _, bar = shapley_feature_bar(features, feature_names=["a", "b", "c"])
    np.testing.assert_allclose(
        sorted(p.get_width() for p in bar.patches), sorted(np.abs(features.values).mean(0))
    )
    with pytest.raises(ValueError, match="draws feature values"):
        shapley_feature_bar(events)
