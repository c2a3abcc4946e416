"""interaction_heatmap: names like every other plot (feature_names=), labels= deprecated,
and a rendered figure of smooth-surrogate interactions."""

import warnings

import numpy as np
import pytest
from plot_support import every_figure_renders  # noqa: F401

from tf_tsexplain.plot import interaction_heatmap

RNG = np.random.default_rng(0)
GAMMA = RNG.normal(size=(6, 3, 6, 3))
NAMES = ["acc_x", "acc_y", "gyro_z"]


def _tick_texts(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def test_feature_names_label_the_rows_and_columns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, ax = interaction_heatmap(GAMMA, between="features", feature_names=NAMES)
    assert _tick_texts(ax) == NAMES
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    np.testing.assert_allclose(ax.images[0].get_array(), GAMMA.sum(axis=(0, 2)) * (1 - np.eye(3)))
    steps = [f"t={t}" for t in range(6)]
    _, ax = interaction_heatmap(GAMMA, between="time", feature_names=steps)
    assert _tick_texts(ax) == steps
    with pytest.raises(ValueError, match="feature_names"):
        interaction_heatmap(GAMMA, between="features", feature_names=NAMES[:2])


def test_labels_is_a_deprecated_alias():
    with pytest.deprecated_call(match="use feature_names"):
        _, ax = interaction_heatmap(GAMMA, between="features", labels=NAMES)
    assert _tick_texts(ax) == NAMES
    with pytest.raises(ValueError, match="Received both"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        interaction_heatmap(GAMMA, between="features", labels=NAMES, feature_names=NAMES)
