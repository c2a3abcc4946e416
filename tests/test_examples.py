"""The example scripts run and show what their docstrings claim."""

import importlib.util
from pathlib import Path

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
