"""Shapley values of an LSTM classifier's events, features and cells (TimeSHAP-style).

A synthetic "transactions" task: each sequence is 30 events of 6 features and the
label is decided by the last few events (amount minus velocity, decaying with age, and
risk times new_device over the last two events), tenure adding a little over the whole
sequence. An LSTM(16) learns it; ``SequenceShap`` then explains 60 test sequences with
temporal pruning (the older events become one player once they matter less than 0.025
of the probability):

- event level: which events, counted from the most recent, carried the prediction;
- feature level: which features, over the kept window;
- cell level for one sequence: its top events x top features.

It prints the global importance tables and writes four figures:
``shapley_events.png`` (event values of 30 sequences aligned on their last event),
``shapley_features.png`` (mean |value| per feature and a beeswarm over sequences),
``shapley_cells.png`` and ``shapley_pruning.png``.

    python examples/shapley_lstm.py --out examples_out/shapley
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain import SequenceShap
from tf_tsexplain.plot import (
    pruning_plot,
    shapley_beeswarm,
    shapley_cell_heatmap,
    shapley_event_heatmap,
    shapley_feature_bar,
)
from tf_tsexplain.tables import shapley_importance

STEPS = 30
NAMES = ["amount", "velocity", "risk", "new_device", "tenure", "noise"]


def transactions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, len(NAMES))).astype("float32")
    recent = x[:, ::-1][:, :6]  # the last 6 events, most recent first
    logit = (
        (0.7 ** np.arange(6) * (recent[:, :, 0] - recent[:, :, 1])).sum(1)
        + 0.8 * recent[:, 0, 2] * recent[:, 1, 3]
        + 0.3 * x[:, :, 4].mean(1)
    )
    return x, (logit > 0).astype("float32")


def main(out: Path, epochs: int = 6, seed: int = 0, n_explain: int = 60) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x, y = transactions(3000 + n_explain, seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((STEPS, len(NAMES))),
            keras.layers.LSTM(16),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:3000], y[:3000], epochs=epochs, batch_size=64, verbose=2)
    explained = x[3000:]

    # absent events and features take the mean event of the training set
    shap = SequenceShap(model, baseline=x[:3000].mean(axis=(0, 1)))
    settings = dict(pruning_tolerance=0.025, num_samples=4096, seed=seed)
    events = shap.attributions(explained, level="event", verbose=True, **settings)
    features = shap.attributions(explained, level="feature", **settings)
    one = int(np.argmax(events.prediction))  # the most confident positive
    cells = shap.attributions(explained[one : one + 1], level="cell", **settings)
    pruning = shap.prune(explained[:8], 0.025)
    print(
        f"kept events: median {int(np.median(events.window_length))}, "
        f"exact for {int(events.exact.sum())} of {len(explained)} sequences, "
        f"{int(events.evaluations.mean())} model rows per sequence (event level)"
    )
    event_table = shapley_importance(events.to_frame())
    feature_table = shapley_importance(features.to_frame(feature_names=NAMES))
    print(event_table.head(8).to_string(index=False))
    print(feature_table.to_string(index=False))

    figures = {}
    fig, _ = shapley_event_heatmap(
        events.values[:30],
        events.window_start[:30],
        events.pruned[:30],
        max_events=12,
        title="Event Shapley values (30 sequences, aligned on their last event)",
    )
    figures["events"] = out / "shapley_events.png"
    fig.savefig(figures["events"], dpi=110, bbox_inches="tight")

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), width_ratios=[1, 1.4])
    shapley_feature_bar(features.values, features.pruned, NAMES, ax=left, title="Global")
    window_means = np.stack(
        [explained[i, start:].mean(0) for i, start in enumerate(features.window_start)]
    )
    shapley_beeswarm(
        features.values, window_means, NAMES, ax=right, title="Per sequence (colour: value)"
    )
    fig.tight_layout()
    figures["features"] = out / "shapley_features.png"
    fig.savefig(figures["features"], dpi=110, bbox_inches="tight")

    fig, _ = shapley_cell_heatmap(
        cells.values[0],
        cells.top_events[0],
        cells.top_features[0],
        pruned=cells.pruned[0],
        feature_names=NAMES,
        n_steps=STEPS,
        title=f"Cells of sequence {one} (p = {cells.prediction[0]:.2f})",
    )
    figures["cells"] = out / "shapley_cells.png"
    fig.savefig(figures["cells"], dpi=110, bbox_inches="tight")

    fig, _ = pruning_plot(
        pruning.contribution,
        tolerance=0.025,
        window_length=pruning.window_length,
        title="Pruning: older events' contribution by window length",
    )
    figures["pruning"] = out / "shapley_pruning.png"
    fig.savefig(figures["pruning"], dpi=110, bbox_inches="tight")
    plt.close("all")
    for path in figures.values():
        print(f"wrote {path}")
    return {
        "events": events,
        "features": features,
        "cells": cells,
        "event_table": event_table,
        "feature_table": feature_table,
        "figures": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/shapley"))
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    main(args.out, args.epochs)
