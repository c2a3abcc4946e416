"""The demo: train a small LSTM on synthetic sequences with a known ground truth, explain it.

Integrated and expected gradients, temporal saliency rescaling of the integrated
gradients, the sufficient input subsets and the dynamic mask of one sequence; the
attributions (``.npy``, tidy ``.csv``) and plots (``.png``) are written into a folder.
Run it with ``tf-tsexplain demo --out DIR``.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tf_tsexplain._validation import check_int
from tf_tsexplain.datasets import sequence_regression
from tf_tsexplain.masks import FadeMovingAverage, Mask
from tf_tsexplain.path import PathExplainerTF
from tf_tsexplain.plot import comparison_grid, sis_plot, time_feature_heatmap
from tf_tsexplain.sis import SISExplainer
from tf_tsexplain.tables import to_frame
from tf_tsexplain.tsr import TemporalSaliencyRescaling


def run_demo(out, seed: int = 0, epochs: int = 25, n_explain: int = 8) -> dict:
    """Train, explain and write the demo outputs into ``out``; return their paths.

    Args:
        out: output folder (created if needed).
        seed: seed of the data, the training and the explanations.
        epochs: training epochs.
        n_explain: test sequences to explain.

    Returns:
        ``{name: path}`` of the files written (``.npy`` attributions, the tidy
        ``attributions.csv`` and the ``.png`` plots).

    Raises:
        TypeError: an argument of the wrong kind (e.g. ``seed="1"``).
        ValueError: an argument of the wrong value (e.g. ``epochs=0``).
    """
    seed = check_int(seed, "seed", min_val=0)
    epochs = check_int(epochs, "epochs", min_val=1)
    n_explain = check_int(n_explain, "n_explain", min_val=1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = ["f0 (mid)", "f1", "f2 (late)", "f3"]
    n_train = 3000
    x, y, truth = sequence_regression(n_train + 200, n_steps=30, n_features=4, seed=seed)
    x_train, y_train, x_test, y_test = x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    print(f"[1/6] training an LSTM on {len(x_train)} synthetic sequences (30 steps x 4 features)")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((30, 4)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=2)
    pred = model.predict(x_test, verbose=0)[:, 0]
    r2 = 1 - np.mean((pred - y_test) ** 2) / np.var(y_test)
    print(f"      test R^2 = {r2:.3f}")

    print(f"[2/6] explaining {n_explain} test predictions")
    explained = x_test[:n_explain]
    explainer = PathExplainerTF(model)
    baseline = np.zeros((1, 30, 4), np.float32)
    ig = explainer.attributions(
        explained, baseline, num_samples=64, use_expectation=False, verbose=True
    )
    eg = explainer.attributions(
        explained,
        x_train[:200],
        num_samples=200,
        use_expectation=True,
        batch_size=1600,
        seed=seed,
        verbose=True,
    )
    gap = model.predict(explained, verbose=0)[:, 0] - model.predict(baseline, verbose=0)[0, 0]
    completeness = np.abs(ig.reshape(n_explain, -1).sum(1) - gap).max()
    inside = np.abs(ig)[truth[n_train : n_train + n_explain]].sum() / np.abs(ig).sum()
    print(f"      integrated gradients: max |sum(attr) - (f(x) - f(0))| = {completeness:.2e}")
    print(
        f"      {inside:.0%} of |attribution| lies on the {truth[0].sum()} truly relevant "
        f"cells ({truth[0].mean():.0%} of all cells)"
    )

    # Temporal saliency rescaling of the same integrated gradients: which steps matter
    # (mask a whole step), then which features within the kept steps (mask one cell).
    tsr_wrapper = TemporalSaliencyRescaling(explainer)
    tsr_started = time.perf_counter()
    tsr = tsr_wrapper.attributions(
        explained, baseline, use_expectation=False, num_samples=16, batch_size=4096
    )
    per_input = tsr_wrapper.last_evaluations // n_explain
    true_cells = truth[n_train : n_train + n_explain]
    tsr_inside = tsr[true_cells].sum() / tsr.sum()
    print(
        f"[3/6] temporal saliency rescaling of the integrated gradients ({per_input} "
        f"IG runs per sequence, batched: {time.perf_counter() - tsr_started:.1f} s)"
    )
    print(
        f"      {tsr_inside:.0%} of the TSR relevance lies on the truly relevant cells "
        f"(plain IG: {inside:.0%})"
    )

    # Sufficient input subset of the sequence with the strongest prediction: the cells
    # that alone (others set to the training mean) keep 80% of its predicted value.
    strongest = int(np.argmax(np.abs(pred[:n_explain])))
    sign = 1.0 if pred[strongest] >= 0 else -1.0
    print(
        f"[4/6] sufficient input subsets of test sequence {strongest} "
        f"(f = {pred[strongest]:.2f}; cells that alone keep 80% of it)"
    )
    sis_explainer = SISExplainer(
        lambda batch: sign * model(batch, training=False),
        threshold=0.8 * abs(float(pred[strongest])),
        fully_masked_input=x_train.mean(axis=0),
    )
    collection = sis_explainer.explain(
        explained[strongest : strongest + 1], output_indices="predicted", verbose=True
    )[0]
    for k, result in enumerate(collection):
        cells = ", ".join(f"{names[f_idx]}@{t_idx}" for t_idx, f_idx in result.sis)
        print(f"      SIS {k + 1} ({len(result)} cells): {cells}")

    # Dynamic mask of test sequence 0: the cells to keep (the others faded to their
    # mean over time) so that the prediction stays put, with a tenth of the cells.
    print("[5/6] dynamic mask (Dynamask) of test sequence 0, keeping 10% of the cells")
    mask = Mask(FadeMovingAverage()).fit(
        explained[0],
        f=model,
        keep_ratio=0.1,
        n_epoch=300,
        size_reg_factor_init=1.0,
        size_reg_factor_dilation=1000,
        learning_rate=1.0,
        seed=seed,
        verbose=True,
    )
    kept = np.argsort(-mask.mask_tensor.ravel(), kind="stable")[: int(truth[0].sum())]
    hits = truth[n_train].ravel()[kept].mean()
    print(
        f"      mask error {mask.get_error():.2e}; {hits:.0%} of its {len(kept)} highest "
        "cells are truly relevant"
    )

    print("[6/6] writing results")
    paths = {
        "integrated_gradients": out / "integrated_gradients.npy",
        "expected_gradients": out / "expected_gradients.npy",
        "table": out / "attributions.csv",
        "plot": out / "attributions.png",
        "sis_plot": out / "sis.png",
        "tsr": out / "tsr.npy",
        "tsr_plot": out / "tsr.png",
        "mask": out / "mask.npy",
        "mask_plot": out / "mask.png",
    }
    np.save(paths["integrated_gradients"], ig)
    np.save(paths["expected_gradients"], eg)
    np.save(paths["tsr"], tsr)
    np.save(paths["mask"], mask.mask_tensor)
    frames = []
    for method, values in (("integrated_gradients", ig), ("expected_gradients", eg)):
        frame = to_frame(values, feature_names=names, inputs=explained)
        frame.insert(0, "method", method)
        frames.append(frame)
    pd.concat(frames).to_csv(paths["table"], index=False)

    fig, axes = plt.subplots(3, 1, figsize=(10, 8), constrained_layout=True)
    time_feature_heatmap(
        ig[0],
        inputs=explained[0],
        feature_names=names,
        ax=axes[0],
        title=f"Integrated gradients, test sequence 0 (f = {pred[0]:.2f}; lines: inputs)",
    )
    time_feature_heatmap(
        eg[0], feature_names=names, ax=axes[1], title="Expected gradients, test sequence 0"
    )
    time_feature_heatmap(
        np.abs(ig).mean(0),
        feature_names=names,
        ax=axes[2],
        title=f"Mean |integrated gradients| over {n_explain} sequences (boxes: ground truth)",
    )
    for t_idx, f_idx in zip(*np.nonzero(truth[0]), strict=True):
        axes[2].add_patch(
            plt.Rectangle((t_idx - 0.5, f_idx - 0.5), 1, 1, fill=False, edgecolor="black", lw=0.8)
        )
    fig.savefig(paths["plot"], dpi=110)
    plt.close(fig)
    fig, _ = sis_plot(
        explained[strongest],
        collection,
        feature_names=names,
        title=f"Sufficient input subsets of test sequence {strongest} (grey: input values)",
    )
    fig.savefig(paths["sis_plot"], dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig, _ = comparison_grid(
        {
            "Integrated gradients, test sequence 0": ig[0],
            "TSR of integrated gradients (relevance in [0, 1])": tsr[0],
            "Ground truth (cells entering the target)": true_cells[0],
        },
        inputs=explained[0],
        feature_names=names,
    )
    fig.savefig(paths["tsr_plot"], dpi=110)
    plt.close(fig)
    fig, ax = mask.plot_mask(
        feature_names=names, title="Dynamic mask of test sequence 0 (boxes: ground truth)"
    )
    for t_idx, f_idx in zip(*np.nonzero(truth[n_train]), strict=True):
        ax.add_patch(
            plt.Rectangle((t_idx - 0.5, f_idx - 0.5), 1, 1, fill=False, edgecolor="black", lw=0.8)
        )
    fig.savefig(paths["mask_plot"], dpi=110, bbox_inches="tight")
    plt.close(fig)
    for key, path in paths.items():
        print(f"      {key:>22}: {path}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return paths
