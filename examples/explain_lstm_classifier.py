"""Explain an LSTM classifier: which features, at which time steps, drove each class.

Trains a 2-class LSTM on synthetic sequences (the class is the sign of a target that
depends on feature f0 mid-sequence and f2 near the end), explains the predicted class
of 64 test sequences with expected gradients, and writes a summary plot per feature,
a summary plot of the top (time, feature) cells, a time x feature heatmap and the
attribution over time.

    python examples/explain_lstm_classifier.py --out examples_out/classifier
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib.pyplot as plt

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.datasets import sequence_regression
from tf_tsexplain.plot import attribution_over_time, summary_plot, time_feature_heatmap

NAMES = ["f0 (mid)", "f1", "f2 (late)", "f3"]


def main(out: Path, epochs: int = 15, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x, y, _ = sequence_regression(3200, n_steps=30, n_features=4, seed=seed)
    labels = (y > 0).astype("int32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((30, 4)), keras.layers.LSTM(32), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:3000], labels[:3000], epochs=epochs, batch_size=64, verbose=2)
    x_test = x[3000:3064]
    predicted = model.predict(x_test, verbose=0).argmax(1)
    accuracy = float((predicted == labels[3000:3064]).mean())
    print(f"test accuracy on the explained sequences: {accuracy:.2f}")

    phi = PathExplainerTF(model).attributions(
        x_test,
        x[:200],
        num_samples=100,
        batch_size=3200,
        output_indices=predicted,
        seed=seed,
        verbose=True,
    )
    paths = {name: out / f"{name}.png" for name in ("summary", "cells", "heatmap", "over_time")}
    fig, _ = summary_plot(phi, x_test, feature_names=NAMES, time_aggregation="sum")
    fig.savefig(paths["summary"], dpi=110, bbox_inches="tight")
    fig, _ = summary_plot(
        phi, x_test, feature_names=NAMES, time_aggregation="cells", plot_top_k=12, figsize=(8, 5)
    )
    fig.savefig(paths["cells"], dpi=110, bbox_inches="tight")
    fig, _ = time_feature_heatmap(
        phi[0],
        inputs=x_test[0],
        feature_names=NAMES,
        title=f"Sequence 0, predicted class {predicted[0]}",
    )
    fig.savefig(paths["heatmap"], dpi=110, bbox_inches="tight")
    fig, _ = attribution_over_time(phi, NAMES, how="mean_abs", title="Mean |attribution| over time")
    fig.savefig(paths["over_time"], dpi=110, bbox_inches="tight")
    plt.close("all")
    for path in paths.values():
        print(f"wrote {path}")
    return {"attributions": phi, "accuracy": accuracy, **paths}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/classifier"))
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    main(args.out, args.epochs)
