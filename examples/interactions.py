"""Feature interactions of a sequence model with integrated Hessians.

The target multiplies feature f0 at step 3 with feature f1 at step 8 (plus a little
linear signal): the interaction between those two cells is what the model must learn.
Integrated Hessians recover the pair; the script draws the interaction heatmap
between time steps, a bar plot of the strongest (time, feature) pairs, and prints the
ranked pairs as a table.

    python examples/interactions.py --out examples_out/interactions
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.plot import bar_interaction_plot, interaction_heatmap
from tf_tsexplain.tables import interactions_frame

STEPS, FEATURES = 10, 3
NAMES = ["f0", "f1", "f2"]


def product_task(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    y = x[:, 3, 0] * x[:, 8, 1] + 0.1 * x[:, 5, 2]
    return x, y.astype("float32")


def main(out: Path, epochs: int = 30, seed: int = 0, n_explain: int = 4) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x, y = product_task(3000, seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x[:2800], y[:2800], epochs=epochs, batch_size=64, verbose=2)
    explained = x[2800 : 2800 + n_explain]
    gamma = PathExplainerTF(model).interactions(
        explained,
        np.zeros((1, STEPS, FEATURES), "float32"),
        num_samples=32,
        use_expectation=False,
        verbose=True,
    )
    table = interactions_frame(gamma[0], NAMES, top_k=5)
    print(table.to_string(index=False))
    fig, _ = interaction_heatmap(
        np.abs(gamma).mean(0), between="time", title="Mean |interaction| between time steps"
    )
    heatmap = out / "interaction_heatmap.png"
    fig.savefig(heatmap, dpi=110, bbox_inches="tight")
    cells = [f"{name}@{t}" for t in range(STEPS) for name in NAMES]
    flat = gamma[0].reshape(STEPS * FEATURES, STEPS * FEATURES)
    fig, _ = bar_interaction_plot(flat, cells, top_k=5)
    bars = out / "top_pairs.png"
    fig.savefig(bars, dpi=110, bbox_inches="tight")
    plt.close("all")
    print(f"wrote {heatmap}\nwrote {bars}")
    return {"interactions": gamma, "table": table, "heatmap": heatmap, "bars": bars}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/interactions"))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    main(args.out, args.epochs)
