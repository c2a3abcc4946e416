"""A two-input model: a sequence and static covariates, with known true drivers.

Synthetic customers: a sequence of 20 weeks x 3 activity features and 4 static
covariates. The target is ``x_seq[weeks 14-16, feature 0].mean() + 1.5 * static[2]``
plus noise: one window of one feature and one static covariate drive it, nothing
else. A Keras functional model (LSTM on the sequence, concatenated with the static
inputs) learns it; integrated gradients with the inputs given as a list return one
map per input, and completeness holds across both together.

    python examples/sequence_and_static.py --out examples_out/two_inputs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_tsexplain import PathExplainerTF  # noqa: E402

WEEKS, FEATURES, STATIC = 20, 3, 4


def make_data(n, rng):
    seq = rng.normal(size=(n, WEEKS, FEATURES)).astype(np.float32)
    static = rng.normal(size=(n, STATIC)).astype(np.float32)
    y = seq[:, 14:17, 0].mean(1) + 1.5 * static[:, 2] + 0.05 * rng.normal(size=n)
    return seq, static, y.astype(np.float32)


def main(out: Path, epochs: int = 40, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seq, static, y = make_data(3000, rng)
    keras.utils.set_random_seed(seed)
    seq_in, static_in = (
        keras.Input((WEEKS, FEATURES), name="activity"),
        keras.Input((STATIC,), name="profile"),
    )
    h = keras.layers.Concatenate()([keras.layers.LSTM(16)(seq_in), static_in])
    model = keras.Model(
        [seq_in, static_in], keras.layers.Dense(1)(keras.layers.Dense(16, "relu")(h))
    )
    model.compile(keras.optimizers.Adam(0.005), "mse")
    model.fit([seq[:2500], static[:2500]], y[:2500], epochs=epochs, batch_size=64, verbose=0)
    r2 = 1 - np.mean(
        (model.predict([seq[2500:], static[2500:]], verbose=0)[:, 0] - y[2500:]) ** 2
    ) / np.var(y[2500:])
    print(f"test R^2 {r2:.3f}")

    x = [seq[2500:2532], static[2500:2532]]
    baseline = [np.zeros((WEEKS, FEATURES), np.float32), np.zeros(STATIC, np.float32)]
    seq_ig, static_ig = PathExplainerTF(model).attributions(
        x, baseline, num_samples=64, use_expectation=False
    )
    f = model(x).numpy()[:, 0]
    f0 = model([np.zeros_like(x[0]), np.zeros_like(x[1])]).numpy()[:, 0]
    gap = np.abs(seq_ig.reshape(32, -1).sum(1) + static_ig.sum(1) - (f - f0)).max()
    mass_seq, mass_static = np.abs(seq_ig).sum(0), np.abs(static_ig).sum(0)
    total = mass_seq.sum() + mass_static.sum()
    window_share = mass_seq[14:17, 0].sum() / total
    static_share = mass_static[2] / total
    print(f"completeness across both inputs: max |sum - (f(x) - f(0))| = {gap:.1e}")
    print(
        f"share of |attribution|: window (weeks 14-16, feature 0) {window_share:.1%}, "
        f"static covariate 2 {static_share:.1%}, everything else "
        f"{1 - window_share - static_share:.1%}"
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [4, 1]})
    image = left.imshow(mass_seq.T, aspect="auto", cmap="Reds")
    left.set(
        title="mean |IG|, sequence input", xlabel="week", ylabel="feature", yticks=range(FEATURES)
    )
    fig.colorbar(image, ax=left, fraction=0.03)
    right.barh(range(STATIC), mass_static, color="tab:red")
    right.set(title="static input", xlabel="sum |IG|", yticks=range(STATIC), ylabel="covariate")
    fig.tight_layout()
    path = out / "sequence_and_static.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return {
        "r2": r2,
        "gap": float(gap),
        "window_share": float(window_share),
        "static_share": float(static_share),
        "figure": path,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/two_inputs"))
    args = parser.parse_args()
    main(args.out)
