"""Attributions as tidy tables: per cell, per feature, per time step.

Uses a linear model on sequences, whose integrated gradients are exactly
weight * (x - baseline), to show `to_frame` and `aggregate`, and why signed sums can
hide an important feature that magnitudes reveal. Writes CSV files.

    python examples/tables.py --out examples_out/tables
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.tables import aggregate, to_frame


def main(out: Path, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 5, 3)).astype("float32")
    weights = np.zeros((5, 3), "float32")
    weights[:, 0] = [2, -2, 2, -2, 0]  # f0 matters a lot, with alternating signs
    weights[:, 1] = 0.3  # f1 matters a little
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.layers[-1].set_weights([weights.reshape(15, 1), np.zeros(1, "float32")])
    x[:, :, 0] = 1.0  # so f0 contributes +2, -2, +2, -2, 0: its signed sum is 0
    phi = PathExplainerTF(model).attributions(
        x, np.zeros((1, 5, 3), "float32"), num_samples=4, use_expectation=False
    )
    frame = to_frame(phi, feature_names=["f0", "f1", "f2"], inputs=x)
    frame.to_csv(out / "cells.csv", index=False)
    per_feature = {how: aggregate(phi, over="time", how=how).mean(0) for how in ("sum", "sum_abs")}
    print("per-feature importance, signed sum over time :", np.round(per_feature["sum"], 3))
    print("per-feature importance, |.| summed over time :", np.round(per_feature["sum_abs"], 3))
    print(f"wrote {out / 'cells.csv'} ({len(frame)} rows)")
    return {"frame": frame, **per_feature}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/tables"))
    main(parser.parse_args().out)
