"""Explain a forecaster with one prediction per time step: pick the target (time, class).

A causal LSTM predicts, at every step t, the mean of feature f0 over the last 4 steps
(a running average). Attributions for the forecasts at three steps show each one
looking back at its own window, and nothing after it.

    python examples/forecaster_sequence_output.py --out examples_out/forecaster
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.plot import comparison_grid


def running_mean_task(n: int, steps: int = 24, features: int = 3, window: int = 4, seed: int = 0):
    """Inputs (n, steps, features) and per-step targets (n, steps, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype("float32")
    padded = np.concatenate([np.zeros((n, window - 1)), x[:, :, 0]], axis=1)
    kernel = np.ones(window) / window
    y = np.stack([np.convolve(row, kernel, mode="valid") for row in padded])
    return x, y[:, :, None].astype("float32")


def main(out: Path, epochs: int = 20, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x, y = running_mean_task(2000, seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((24, 3)),
            keras.layers.LSTM(16, return_sequences=True),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x[:1800], y[:1800], epochs=epochs, batch_size=64, verbose=2)
    explainer = PathExplainerTF(model)
    sample = x[1800:1801]
    maps = {}
    for step in (8, 15, 23):  # explain the forecast made at this step
        phi = explainer.attributions(
            sample,
            np.zeros((1, 24, 3), "float32"),
            num_samples=64,
            use_expectation=False,
            output_indices=(step, 0),
        )
        maps[f"forecast at t={step}"] = phi[0]
    fig, _ = comparison_grid(maps, feature_names=["f0", "f1", "f2"])
    path = out / "forecast_targets.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close("all")
    print(f"wrote {path}")
    return {"maps": maps, "plot": path}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/forecaster"))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    main(args.out, args.epochs)
