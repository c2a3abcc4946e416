"""Explain an LSTM on a real data set: UEA BasicMotions, as bundled with aeon.

BasicMotions: 80 recordings (40 train, 40 test) of 100 steps x 6 channels (a smart
watch's 3-axis accelerometer and 3-axis gyroscope) while a person is standing,
walking, running or playing badminton. aeon ships the data inside its package
(``aeon.datasets.load_basic_motions``), so nothing is downloaded.

The script trains a small LSTM classifier and explains its test predictions with
expected gradients (summary over all test sequences, heatmap and attribution over
time), temporal saliency rescaling (TSR) of integrated gradients, the sufficient input
subsets over time steps (SIS) and a dynamic mask group of one sequence, drawn side by
side. It runs in about a minute on 2 CPU cores.

    pip install ".[examples]"       # aeon
    python examples/basic_motions.py --out examples/figures

``main(out, data=synthetic_motions())`` runs the same steps on synthetic sequences of
the same layout (what the tests do, without aeon).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_tsexplain import PathExplainerTF, SISExplainer, TemporalSaliencyRescaling  # noqa: E402
from tf_tsexplain.masks import GaussianBlur, MaskGroup  # noqa: E402
from tf_tsexplain.plot import (  # noqa: E402
    attribution_over_time,
    comparison_grid,
    sis_plot,
    summary_plot,
    time_feature_heatmap,
)

CHANNELS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
FIGURES = ("summary", "heatmap", "over_time", "sis", "mask", "comparison")


def load_basic_motions() -> dict:
    """BasicMotions from aeon's bundled files: ``(N, 100, 6)`` float32 sequences,
    integer labels and the class names. Needs ``pip install aeon``; reads no network."""
    from aeon.datasets import load_basic_motions as load

    parts = {}
    for split in ("train", "test"):
        x, y = load(split=split)  # x: (40, 6, 100) channels first
        parts[split] = (np.transpose(x, (0, 2, 1)).astype("float32"), np.asarray(y))
    classes = sorted(set(parts["train"][1]))
    return {
        "x_train": parts["train"][0],
        "y_train": np.array([classes.index(c) for c in parts["train"][1]]),
        "x_test": parts["test"][0],
        "y_test": np.array([classes.index(c) for c in parts["test"][1]]),
        "classes": classes,
        "name": "UEA BasicMotions (aeon)",
    }


def synthetic_motions(n_train=40, n_test=40, n_steps=100, seed=0) -> dict:
    """Sequences laid out like BasicMotions: class k has a burst on channel k in the
    second half of the sequence, over noise (the truth a test can check)."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = np.arange(n) % 4
        x = rng.normal(0.0, 0.3, size=(n, n_steps, len(CHANNELS)))
        steps = np.arange(n_steps // 2, n_steps)
        burst = 2.0 * np.sin(steps * 0.8)
        x[np.arange(n)[:, None], steps[None, :], y[:, None]] += burst
        return x.astype("float32"), y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "classes": ["motion 0", "motion 1", "motion 2", "motion 3"],
        "name": "synthetic motions",
    }


def train(x, y, n_classes, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.LSTM(32),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
    return model


def main(out: Path, data: dict | None = None, epochs: int = 60, seed: int = 0, quick=False):
    """Train, explain, draw; returns the arrays and the figure paths.

    ``quick`` shrinks the explanation settings (path points, mask epochs) for tests.
    """
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = load_basic_motions() if data is None else data
    # standardise each channel with the training statistics
    mean = data["x_train"].mean(axis=(0, 1))
    std = data["x_train"].std(axis=(0, 1)) + 1e-6
    x_train = (data["x_train"] - mean) / std
    x_test = (data["x_test"] - mean) / std
    model = train(x_train, data["y_train"], len(data["classes"]), epochs, seed)
    probs = model.predict(x_test, verbose=0)
    predicted = probs.argmax(1)
    accuracy = float((predicted == data["y_test"]).mean())
    print(f"{data['name']}: test accuracy {accuracy:.2f} ({time.perf_counter() - start:.0f} s)")

    # expected gradients of the predicted class, every test sequence
    explainer = PathExplainerTF(model)
    eg = explainer.attributions(
        x_test, x_train, num_samples=16 if quick else 64, output_indices=predicted, seed=seed
    )
    # The reference ("nothing there"): every channel at its training mean, a sequence
    # without motion. The sequence explained in detail: the most confident correct
    # prediction of a class other than the reference's (for the reference's class,
    # here "standing", a sequence without motion is already sufficient: no SIS).
    reference = np.zeros((1, *x_test.shape[1:]), np.float32)  # standardised means
    reference_class = int(model.predict(reference, verbose=0).argmax())
    chosen = (predicted == data["y_test"]) & (predicted != reference_class)
    pool = np.flatnonzero(chosen) if chosen.any() else np.arange(len(x_test))
    i = int(pool[np.argmax(probs[pool, predicted[pool]])])
    label = data["classes"][predicted[i]]
    # TSR of integrated gradients (from the reference) for that sequence
    tsr = TemporalSaliencyRescaling(PathExplainerTF(model)).attributions(
        x_test[i : i + 1],
        reference,
        use_expectation=False,
        num_samples=4 if quick else 8,
        output_indices=predicted[i : i + 1],
    )[0]
    # SIS over time steps: the fewest steps that alone (the others replaced by the
    # reference) keep the predicted class at 90% of its probability
    threshold = 0.9 * float(probs[i, predicted[i]])
    sis = SISExplainer(
        model, threshold=threshold, fully_masked_input=reference[0], mask_over="time"
    ).explain(x_test[i : i + 1], max_sis=2, output_indices=predicted[i : i + 1])[0]
    # a group of dynamic masks; the extremal one: the smallest area whose error is small
    # (quick: no XLA, whose compilation of the LSTM's loop outlasts 100 epochs)
    group = MaskGroup(GaussianBlur(), jit_compile="auto" if not quick else False).fit(
        x_test[i],
        model,
        area_list=[0.05, 0.1, 0.2, 0.3],
        n_epoch=100 if quick else 300,
        output_indices=int(predicted[i]),
    )
    mask = group.get_extremal_mask(threshold=0.1 * float(probs[i, predicted[i]]) ** 2)
    print(
        f"sequence {i} ({label}, p = {probs[i, predicted[i]]:.2f}): SIS of "
        f"{[len(r.sis) for r in sis]} time steps, extremal mask of area {mask.keep_ratio:g}; "
        f"explained in {time.perf_counter() - start:.0f} s in total"
    )

    paths = {name: out / f"basic_motions_{name}.png" for name in FIGURES}
    fig, _ = summary_plot(eg, x_test, feature_names=CHANNELS)
    fig.suptitle(f"Expected gradients of the predicted class, {len(x_test)} test sequences")
    fig.savefig(paths["summary"], dpi=90, bbox_inches="tight")
    fig, _ = time_feature_heatmap(
        eg[i], x_test[i], feature_names=CHANNELS, title=f"Expected gradients: sequence {i}, "
        f"predicted {label} (p = {probs[i, predicted[i]]:.2f}); lines: the channels",
    )  # fmt: skip
    fig.savefig(paths["heatmap"], dpi=90, bbox_inches="tight")
    fig, _ = attribution_over_time(
        eg, CHANNELS, how="mean_abs", title="Mean |expected gradients| over the test sequences"
    )
    fig.savefig(paths["over_time"], dpi=90, bbox_inches="tight")
    fig, _ = sis_plot(
        x_test[i], sis, feature_names=CHANNELS,
        title=f"Sufficient input subsets over time steps (threshold p >= {threshold:.2f})",
    )  # fmt: skip
    fig.savefig(paths["sis"], dpi=90, bbox_inches="tight")
    fig, _ = mask.plot_mask(feature_names=CHANNELS)
    fig.savefig(paths["mask"], dpi=90, bbox_inches="tight")
    sis_map = np.zeros(x_test[i].shape)
    for result in sis:
        sis_map += np.broadcast_to(result.mask, sis_map.shape)
    fig, _ = comparison_grid(
        {
            "expected gradients": eg[i],
            "TSR (integrated gradients)": tsr,
            f"extremal mask (area {mask.keep_ratio:g})": mask.mask_tensor,
            "SIS over time steps": sis_map,
        },
        inputs=x_test[i],
        feature_names=CHANNELS,
    )
    fig.suptitle(f"Sequence {i}, predicted {label}: four explanations", y=1.01)
    fig.savefig(paths["comparison"], dpi=90, bbox_inches="tight")
    plt.close("all")
    for path in paths.values():
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return {
        "model": model,
        "accuracy": accuracy,
        "x_test": x_test,
        "predicted": predicted,
        "index": i,
        "expected_gradients": eg,
        "tsr": tsr,
        "sis": sis,
        "threshold": threshold,
        "reference": reference[0],
        "mask": mask,
        "paths": paths,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/basic_motions"))
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    main(args.out, epochs=args.epochs)
