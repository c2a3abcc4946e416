"""The demo command, the synthetic data, tidy tables and the heatmap."""

import subprocess
import sys

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from tf_tsexplain.cli import main
from tf_tsexplain.datasets import sequence_regression
from tf_tsexplain.tables import aggregate, interactions_frame, to_frame


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
    assert str(out / "sis.png") in printed and "SIS 1 (" in printed
    assert matplotlib.image.imread(out / "sis.png").std() > 0.01
    # TSR beside IG: relevances in [0, 1], each map's top cell exactly 1 (top step x
    # top feature of that step), steps below the threshold scaled by 0.1
    assert str(out / "tsr.npy") in printed and str(out / "tsr.png") in printed
    assert "[3/6] temporal saliency rescaling" in printed and "(plain IG:" in printed
    tsr = np.load(out / "tsr.npy")
    assert tsr.shape == ig.shape and tsr.min() >= 0
    np.testing.assert_allclose(tsr.max(axis=(1, 2)), 1.0, rtol=1e-6)
    kept = (tsr.max(axis=2) > 0.1 + 1e-6).sum(axis=1)  # at most 29 - floor(0.55 * 29)
    assert kept.max() <= 14
    assert matplotlib.image.imread(out / "tsr.png").std() > 0.01
    mask = np.load(out / "mask.npy")
    assert mask.shape == (30, 4) and mask.min() >= 0.0 and mask.max() <= 1.0
    assert 0.05 < mask.mean() < 0.2  # the size regulariser's 10% area
    assert "[5/6] dynamic mask" in printed and str(out / "mask.png") in printed
    assert matplotlib.image.imread(out / "mask.png").std() > 0.01


def test_demo_refuses_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "0"]) == 1
    assert "`--epochs` must be >= 1. Received: --epochs=0." in capsys.readouterr().err


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


def test_to_frame_round_trip_and_labels():
    attr = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    frame = to_frame(
        attr, feature_names=["a", "b"], time_index=[10, 20, 30], sample_ids=["x", "y"], inputs=-attr
    )
    assert len(frame) == 12
    np.testing.assert_array_equal(frame.attribution.to_numpy().reshape(attr.shape), attr)
    row = frame.iloc[7]  # sample 1, time 0, feature b
    assert (row["sample"], row["time"], row["feature"]) == ("y", 10, "b")
    assert row["value"] == -attr[1, 0, 1]
    assert to_frame(attr)["time"].dtype.kind == "i"
    with pytest.raises(ValueError, match="`feature_names` has 3 entries for 2 features"):
        to_frame(attr, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="`time_index` has 2 entries for 3 times"):
        to_frame(attr, time_index=[0, 1])
    with pytest.raises(ValueError, match=r"`inputs` must have the attributions' shape"):
        to_frame(attr, inputs=np.zeros(5))
    with pytest.raises(ValueError, match=r"`attributions` is empty"):
        to_frame(np.zeros((0, 3, 2)))


def test_aggregate_against_numpy_and_cancellation():
    attr = np.random.default_rng(0).normal(size=(4, 5, 3))
    np.testing.assert_allclose(aggregate(attr, "time", "mean_abs"), np.abs(attr).mean(1))
    np.testing.assert_allclose(aggregate(attr, "feature", "sum"), attr.sum(2))
    np.testing.assert_allclose(aggregate(attr, "sample", "max_abs"), np.abs(attr).max(0))
    np.testing.assert_allclose(aggregate(attr, "time", "sum_abs"), np.abs(attr).sum(1))
    np.testing.assert_allclose(aggregate(attr[0], "time", "mean"), attr[:1].mean(1))
    # a feature pushing up then down: its signed sum cancels, its magnitude does not
    flip = np.zeros((1, 2, 1))
    flip[0, :, 0] = [1.0, -1.0]
    assert (
        aggregate(flip, "time", "sum")[0, 0] == 0 and aggregate(flip, "time", "sum_abs")[0, 0] == 2
    )
    with pytest.raises(ValueError, match="`over` must be one of"):
        aggregate(attr, over="times")
    with pytest.raises(ValueError, match="`how` must be one of"):
        aggregate(attr, how="median")


def test_interactions_frame_ranks_pairs():
    gamma = np.zeros((2, 2, 2, 2))
    gamma[0, 1, 1, 0] = gamma[1, 0, 0, 1] = -3.0  # (t0, b) with (t1, a)
    gamma[0, 0, 1, 1] = gamma[1, 1, 0, 0] = 1.0  # (t0, a) with (t1, b)
    gamma[0, 0, 0, 0] = 100.0  # a main effect: not a pair
    table = interactions_frame(gamma, feature_names=["a", "b"])
    assert len(table) == 6  # 4 cells -> 6 unordered pairs
    top = table.iloc[0]
    assert (top.time_i, top.feature_i, top.time_j, top.feature_j) == (0, "b", 1, "a")
    assert top.interaction == -6.0 and table.iloc[1].interaction == 2.0
    assert len(interactions_frame(gamma, top_k=2)) == 2
    with pytest.raises(ValueError, match=r"must be \(T, F, T, F\)"):
        interactions_frame(np.zeros((2, 2, 2)))
