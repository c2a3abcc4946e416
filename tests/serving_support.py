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
