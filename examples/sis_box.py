"""Sufficient input subsets of an LSTM classifier whose class 1 raises a box of cells.

Sequences are 30 steps x 6 features of standard normal noise; in class 1 a box of 6
steps (12-17) x 2 features (f2, f3) is raised by 1.5. An LSTM(16) learns the task;
``SISExplainer`` (threshold 0.9 on the predicted probability, masked cells set to 0,
at most 3 SIS) then explains the most confident class-1 test sequence. The SIS are the
smallest sets of cells that alone keep the probability above 0.9, so they should be
cells of the box.

It writes ``sis_collection.png``: the sequence with its SIS outlined, and the backward
selection that SIS 1 was read from (f against the number of cells still kept), the
figure of the SIS page of the user guide.

    python examples/sis_box.py --out examples/figures
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain import SISExplainer
from tf_tsexplain.plot import sis_plot

STEPS, FEATURES = 30, 6
BOX_STEPS, BOX_FEATURES = slice(12, 18), slice(2, 4)
THRESHOLD = 0.9


def box_data(n: int, seed: int = 0):
    """``(x, y)``: ``(n, 30, 6)`` noise, the box raised by 1.5 where ``y == 1``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    y = rng.integers(0, 2, size=n)
    x[y == 1, BOX_STEPS, BOX_FEATURES] += 1.5
    return x, y


def main(out: Path, epochs: int = 8, n_train: int = 2000, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x, y = box_data(n_train + 200, seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.LSTM(16),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[:n_train], y[:n_train], epochs=epochs, batch_size=64, verbose=2)
    x_test, y_test = x[n_train:], y[n_train:]
    probs = np.asarray(model.predict(x_test, verbose=0))
    accuracy = float((probs.argmax(1) == y_test).mean())
    i = int(np.argmax(np.where(y_test == 1, probs[:, 1], -1.0)))  # most confident class 1

    explainer = SISExplainer(model, threshold=THRESHOLD, fully_masked_input=0.0)
    collection = explainer.explain(x_test[i : i + 1], max_sis=3, output_indices=1)[0]
    box = np.zeros((STEPS, FEATURES), bool)
    box[BOX_STEPS, BOX_FEATURES] = True
    cells = np.concatenate([r.sis for r in collection]) if collection else np.empty((0, 2))
    in_box = float(box[tuple(cells.T.astype(int))].mean()) if len(cells) else 0.0
    print(
        f"accuracy {accuracy:.3f}; sequence {i}: p(class 1) = {probs[i, 1]:.3f}, "
        f"{len(collection)} SIS of {[len(r) for r in collection]} cells, "
        f"{in_box:.0%} of them in the box"
    )

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(14, 2.8), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    sis_plot(
        x_test[i], collection, ax=left,
        title=f"SIS collection over cells (threshold p >= {THRESHOLD}, p = {probs[i, 1]:.3f})",
    )  # fmt: skip
    if collection:
        first = collection[0]
        values = np.asarray(first.values_over_entire_backselect)
        kept = len(values) - 1 - np.arange(len(values))  # cells still kept after each step
        right.plot(kept, values, color="tab:blue")
        right.axhline(THRESHOLD, color="tab:red", ls="--", lw=1, label="threshold")
        right.axvline(len(first), color="grey", lw=0.8, label=f"SIS 1: {len(first)} cells")
        right.set_xscale("symlog", linthresh=10)
        right.set_xlim(0, len(values))
        right.set_ylim(-0.05, 1.05)
        right.legend(loc="lower right", fontsize="small")
    right.set_xlabel("cells kept during backward selection")
    right.set_ylabel("f (predicted class prob.)")
    right.set_title("Backward selection of SIS 1")
    path = out / "sis_collection.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")
    return {
        "model": model,
        "x": x_test[i],
        "accuracy": accuracy,
        "collection": collection,
        "in_box": in_box,
        "probability": float(probs[i, 1]),
        "figure": path,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"))
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    main(args.out, epochs=args.epochs)
