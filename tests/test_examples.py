"""The example scripts run and show what their docstrings claim."""

import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_example_shows_signed_sums_cancelling(tmp_path):
    result = _load("tables").main(tmp_path)
    # linear model: f0 contributes +2, -2, +2, -2, 0 per sample (exact)
    assert abs(result["sum"][0]) < 1e-5 and result["sum_abs"][0] == np.float32(8.0)
    assert len(result["frame"]) == 6 * 5 * 3 and (tmp_path / "cells.csv").exists()


def test_forecaster_example_attributions_are_causal(tmp_path):
    result = _load("forecaster_sequence_output").main(tmp_path, epochs=1)
    for step, phi in zip((8, 15, 23), result["maps"].values(), strict=True):
        assert np.all(phi[step + 1 :] == 0) and np.abs(phi[: step + 1]).max() > 0
    assert result["plot"].stat().st_size > 0


def test_interactions_example_finds_the_product_pair(tmp_path):
    result = _load("interactions").main(tmp_path, epochs=30, n_explain=2)
    top = result["table"].iloc[0]
    assert (top.time_i, top.feature_i, top.time_j, top.feature_j) == (3, "f0", 8, "f1")


def test_variable_length_example_keeps_padding_out(tmp_path):
    rng = np.random.default_rng(0)

    def ragged(n):  # speaker k shifts channel k: learnable, lengths 5-12
        y = rng.integers(0, 3, size=n)
        x = []
        for label in y:
            s = rng.normal(size=(rng.integers(5, 13), 4)).astype("float32")
            s[:, label] += 2.0
            x.append(s)
        return x, y

    data = (*ragged(120), *ragged(20))
    result = _load("variable_length_vowels").main(
        tmp_path, data=data, epochs=15, n_explain=3, mask_epochs=40
    )
    assert result["accuracy"] > 0.8
    real = result["real"]
    assert result["on_padding"] == {"expected gradients": 0.0, "TSR": 0.0, "dynamic mask": 0.0}
    assert result["mask"][real].max() > 0.5  # the mask keeps some real cells
    assert np.abs(result["eg"][real]).sum() > 0
    for frames, row in zip(result["sis_frames"], real, strict=True):
        assert all(row[t] for t in frames)  # SIS never select padded frames
    assert all(p.stat().st_size > 0 for p in result["figures"])


def test_sequence_and_static_example_finds_both_drivers(tmp_path):
    result = _load("sequence_and_static").main(tmp_path, epochs=25)
    assert result["r2"] > 0.9
    assert result["gap"] < 1e-2  # completeness across both inputs together
    assert result["window_share"] > 0.25 and result["static_share"] > 0.25
    assert result["window_share"] + result["static_share"] > 0.75


def test_basic_motions_example_on_synthetic_sequences(tmp_path):
    """The real-data example's steps, on synthetic sequences of its layout (class k: a
    burst on channel k in the second half), so CI runs them without aeon."""
    example = _load("basic_motions")
    data = example.synthetic_motions(n_train=40, n_test=12, n_steps=30)
    result = example.main(tmp_path, data=data, epochs=30, quick=True)
    assert result["accuracy"] >= 0.9
    i, predicted, x = result["index"], result["predicted"], result["x_test"]
    # expected gradients (from training sequences, which hold bursts on other channels
    # too) rank the sequence's class channel among the first two, inside the burst
    eg = np.abs(result["expected_gradients"][i])
    assert predicted[i] == data["y_test"][i]
    assert predicted[i] in np.argsort(-eg.sum(0))[:2]
    assert eg.sum(1).argmax() >= 15
    assert result["tsr"].shape == (30, 6) and 0 <= result["tsr"].min() <= result["tsr"].max() <= 1
    # every SIS over time steps alone keeps the predicted class above the threshold
    assert result["sis"]
    for sis in result["sis"]:
        assert sis.mask.shape == (30, 1)
        kept = np.where(sis.mask, x[i], result["reference"])
        p = result["model"](kept[None]).numpy()[0, predicted[i]]
        assert p >= result["threshold"] - 1e-6
    mask = result["mask"].mask_tensor
    assert mask.shape == (30, 6) and 0 <= mask.min() and mask.max() <= 1
    for name, path in result["paths"].items():
        width, height = plt.imread(path).shape[1::-1]
        assert width <= 16 * 90 + 200, name  # at most 16 inches at 90 dpi, and the margins


def _fake_aeon(monkeypatch, **loaders):
    """aeon.datasets with the given loaders (aeon is an optional extra, not in CI)."""
    import sys
    import types

    datasets = types.ModuleType("aeon.datasets")
    for name, loader in loaders.items():
        setattr(datasets, name, loader)
    package = types.ModuleType("aeon")
    package.datasets = datasets
    monkeypatch.setitem(sys.modules, "aeon", package)
    monkeypatch.setitem(sys.modules, "aeon.datasets", datasets)


def test_loaders_turn_aeon_layouts_into_ours(monkeypatch):
    rng = np.random.default_rng(0)
    motions = {  # aeon: (N, channels, time) and string labels
        split: (rng.normal(size=(8, 6, 100)), np.repeat(["walking", "badminton"], 4))
        for split in ("train", "test")
    }
    vowels = {  # aeon: a list of (channels, T_i) and labels "1".."9"
        split: ([rng.normal(size=(12, t)) for t in (7, 20, 29)], np.array(["1", "9", "3"]))
        for split in ("TRAIN", "TEST")
    }
    _fake_aeon(
        monkeypatch,
        load_basic_motions=lambda split: motions[split],
        load_japanese_vowels=lambda split: vowels[split],
    )
    data = _load("basic_motions").load_basic_motions()
    assert data["x_train"].shape == (8, 100, 6) and data["x_train"].dtype == np.float32
    np.testing.assert_allclose(data["x_train"][3, :, 2], motions["train"][0][3, 2])
    assert data["classes"] == ["badminton", "walking"]
    assert data["y_train"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    x_train, y_train, x_test, y_test = _load("variable_length_vowels").load_vowels()
    assert [s.shape for s in x_train] == [(7, 12), (20, 12), (29, 12)]
    np.testing.assert_allclose(x_test[1][:, 4], vowels["TEST"][0][1][4])
    assert y_train.tolist() == [0, 8, 2]


def test_shapley_example_finds_the_recent_events_and_features(tmp_path):
    result = _load("shapley_lstm").main(tmp_path, epochs=2, n_explain=12)
    events, features = result["events"], result["features"]
    for result_ in (events, features):
        np.testing.assert_allclose(
            result_.total(), result_.prediction - result_.baseline_prediction, atol=1e-5
        )
    # the label lives in the last events' amount and velocity
    assert result["event_table"]["position"].iloc[0] == -1
    assert set(result["feature_table"]["feature"].iloc[:2]) == {"amount", "velocity"}
    assert all(path.stat().st_size > 0 for path in result["figures"].values())


def test_sis_box_example_finds_cells_of_the_box(tmp_path):
    example = _load("sis_box")
    result = example.main(tmp_path, epochs=4, n_train=800)
    assert result["accuracy"] > 0.9
    collection, x, model = result["collection"], result["x"], result["model"]
    assert len(collection) >= 1 and result["probability"] >= example.THRESHOLD
    for sis in collection:  # each SIS alone (the rest masked to 0) keeps p >= 0.9
        kept = np.where(sis.mask, x, 0.0)[None].astype("float32")
        assert float(model(kept)[0, 1]) >= example.THRESHOLD
        assert 0 < len(sis) < 20
    assert result["in_box"] >= 0.5  # mostly cells of the raised box
    assert result["figure"].stat().st_size > 0
