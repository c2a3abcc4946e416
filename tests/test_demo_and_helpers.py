"""The demo command, the synthetic data, tidy tables and the heatmap."""

import subprocess
import sys

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from tf_tsexplain.cli import main
from tf_tsexplain.datasets import sequence_regression
from tf_tsexplain.plot import plot_time_feature
from tf_tsexplain.tables import attributions_frame


def test_demo_writes_attributions_table_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--n-explain", "3"]) == 0
    printed = capsys.readouterr().out
    for name in ["integrated_gradients.npy", "expected_gradients.npy", "attributions.csv"]:
        assert str(out / name) in printed
    ig = np.load(out / "integrated_gradients.npy")
    eg = np.load(out / "expected_gradients.npy")
    assert ig.shape == eg.shape == (3, 30, 4) and np.isfinite(ig).all()
    table = pd.read_csv(out / "attributions.csv")
    assert list(table.columns) == ["method", "sample", "time", "feature", "attribution", "value"]
    assert len(table) == 2 * 3 * 30 * 4
    ig_rows = table[table.method == "integrated_gradients"]
    np.testing.assert_allclose(ig_rows.attribution.to_numpy().reshape(ig.shape), ig, rtol=1e-5)
    image = matplotlib.image.imread(out / "attributions.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.01  # not blank


def test_demo_refuses_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "0"]) == 1
    assert "--epochs and --n-explain must be >= 1" in capsys.readouterr().err


def test_cli_help_lists_the_demo():
    done = subprocess.run(
        [sys.executable, "-m", "tf_tsexplain.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "demo" in done.stdout


def test_sequence_regression_target_and_truth():
    x, y, truth = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    assert x.shape == truth.shape == (50, 12, 3) and x.dtype == np.float32
    # w = 2, t0 = 4, t1 = 8
    np.testing.assert_allclose(y, x[:, 4:6, 0].mean(1) - x[:, 8:10, 2].mean(1), rtol=1e-5)
    assert truth[0, 4:6, 0].all() and truth[0, 8:10, 2].all() and truth.sum() == 50 * 4
    again, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    np.testing.assert_array_equal(x, again)
    other, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=5)
    assert not np.allclose(x, other)
    with pytest.raises(ValueError, match="`n_steps` must be >= 6"):
        sequence_regression(10, n_steps=4)


def test_attributions_frame_round_trip():
    attr = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    frame = attributions_frame(attr, inputs=-attr, feature_names=["a", "b"], sample_ids=["x", "y"])
    assert len(frame) == 12
    row = frame.iloc[7]  # sample 1, time 0, feature b
    assert (row["sample"], row["time"], row["feature"]) == ("y", 0, "b")
    assert row["attribution"] == attr[1, 0, 1] and row["value"] == -attr[1, 0, 1]
    with pytest.raises(ValueError, match="`feature_names` has 3 names for 2 features"):
        attributions_frame(attr, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`inputs` must have the attributions' shape"):
        attributions_frame(attr, inputs=np.zeros(5))


def test_heatmap_draws_features_as_rows_with_symmetric_scale():
    attr = np.array([[1.0, -3.0], [0.5, 2.0], [0.0, 0.0]])  # T=3, F=2
    ax = plot_time_feature(attr, ["a", "b"])
    image = ax.images[0]
    np.testing.assert_array_equal(image.get_array(), attr.T)
    assert image.get_clim() == (-3.0, 3.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    magnitudes = plot_time_feature(np.abs(attr), colorbar=False)
    assert magnitudes.images[0].get_clim() == (0.0, 3.0)
    with pytest.raises(ValueError, match=r"must be \(T, F\)"):
        plot_time_feature(np.zeros((2, 3, 4)))
