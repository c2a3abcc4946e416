"""Helpers of the serving and CLI tests: the artifacts' shapes and reference attributions."""

import os

import keras
import numpy as np

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.serving import export_explainer

T, F, C = 6, 3, 2
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def build_artifacts(root):
    """A small LSTM classifier, saved as .keras, exported with IG, and test inputs."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(5), keras.layers.Dense(C, activation="softmax")]
    )
    x = np.random.default_rng(0).normal(size=(5, T, F)).astype(np.float32)
    np.save(root / "x.npy", x)
    model.save(root / "model.keras")
    export_explainer(model, root / "ig", num_samples=32, output_indices=1, batch_size=40)
    return {"root": root, "model": model, "x": x}


def ig(model, x, index=1, num_samples=32, baseline=None):
    """Integrated gradients from zeros by PathExplainerTF: what the exports must serve."""
    b = np.zeros((1, T, F), np.float32) if baseline is None else baseline
    return PathExplainerTF(model).attributions(
        x, b, output_indices=index, num_samples=num_samples, use_expectation=False
    )


# Two-input model (a sequence and static covariates) for the multi-input serving tests.
TS, FS, S = 5, 2, 3


def build_two_input_artifacts(root):
    """A GRU over a sequence ``(5, 2)`` joined with static covariates ``(3,)``, saved as
    .keras and exported with integrated gradients, a baseline per input and a
    ``padding_mask`` input; test inputs with padded steps."""
    keras.utils.set_random_seed(4)
    sequence = keras.Input((TS, FS), name="sequence")
    static = keras.Input((S,), name="static")
    joined = keras.layers.Concatenate()([keras.layers.GRU(4)(sequence), static])
    model = keras.Model([sequence, static], keras.layers.Dense(2, activation="softmax")(joined))
    rng = np.random.default_rng(7)
    x = {
        "sequence": rng.normal(size=(4, TS, FS)).astype(np.float32),
        "static": rng.normal(size=(4, S)).astype(np.float32),
    }
    lengths = np.array([5, 3, 1, 4])
    mask = np.arange(TS)[None] < lengths[:, None]  # post padding
    x["sequence"][~mask] = -1.0  # the pad value: not the baseline, so padding matters
    baseline = {"sequence": np.zeros((TS, FS), np.float32), "static": np.full(S, 0.5, np.float32)}
    model.save(root / "two.keras")
    np.save(root / "seq.npy", x["sequence"])
    np.save(root / "static.npy", x["static"])
    np.savez(root / "both.npz", **x)
    np.savez(root / "baseline.npz", **baseline)
    np.save(root / "mask.npy", mask)
    np.save(root / "lengths.npy", lengths)
    export_explainer(
        model, root / "two_ig", baseline=baseline, num_samples=16, output_indices=1,
        padding_mask=True,
    )  # fmt: skip
    return {
        "root": root, "model": model, "x": x, "mask": mask, "lengths": lengths,
        "baseline": baseline,
    }  # fmt: skip


def two_input_ig(model, x, mask=None, baseline=None, num_samples=16):
    """In-process integrated gradients of output 1 of the two-input model, per input."""
    baseline = baseline or {"sequence": np.zeros((TS, FS)), "static": np.full(S, 0.5)}
    return PathExplainerTF(model).attributions(
        x, baseline, output_indices=1, num_samples=num_samples, use_expectation=False,
        padding_mask=mask,
    )  # fmt: skip
