"""Shared fixtures: small models with known or checkable explanations."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MPLBACKEND"] = "Agg"  # no display in CI

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

T, F = 3, 2
D = T * F


class Quadratic:
    """f(x) = x^T A x + w.x + c on flattened (T, F) inputs, with TensorFlow ops.

    Gradient 2 A x + w, Hessian 2 A (A symmetric): integrated gradients and
    Hessians are known in closed form.
    """

    def __init__(self, seed=0, d=D):
        rng = np.random.default_rng(seed)
        a = rng.normal(size=(d, d))
        self.A = (a + a.T) / 2
        self.w = rng.normal(size=d)
        self.c = 0.3
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        a = tf.constant(self.A, flat.dtype)
        w = tf.constant(self.w, flat.dtype)
        quad = tf.reduce_sum(flat * tf.linalg.matvec(a, flat), axis=1)
        return quad + tf.linalg.matvec(flat, w) + self.c

    def numpy(self, x):
        flat = x.reshape(len(x), -1).astype(np.float64)
        return np.einsum("ni,ij,nj->n", flat, self.A, flat) + flat @ self.w + self.c

    def integrated_gradients(self, x, base):
        """Delta_i (2 A x' + A Delta + w)_i, flattened."""
        x = x.reshape(len(x), -1).astype(np.float64)
        b = np.broadcast_to(base.reshape(-1, x.shape[1]), x.shape).astype(np.float64)
        delta = x - b
        return delta * (2 * b @ self.A + delta @ self.A + self.w)

    def integrated_hessians(self, x, base):
        """Off-diagonal Delta_i Delta_j A_ij / 2; diagonal adds the main effect."""
        x = x.reshape(len(x), -1).astype(np.float64)
        b = np.broadcast_to(base.reshape(-1, x.shape[1]), x.shape).astype(np.float64)
        delta = x - b
        out = delta[:, :, None] * delta[:, None, :] * self.A / 2
        main = delta * (2 * b @ self.A + delta @ self.A / 2 + self.w)
        idx = np.arange(x.shape[1])
        out[:, idx, idx] += main
        return out


@pytest.fixture(scope="session")
def quadratic():
    return Quadratic()


@pytest.fixture(scope="session")
def lstm_model():
    """A small random LSTM regressor on (T=6, F=3) inputs."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(8), keras.layers.Dense(1)])


@pytest.fixture(scope="session")
def lstm_data():
    rng = np.random.default_rng(2)
    return rng.normal(size=(4, 6, 3)).astype("float32"), rng.normal(size=(10, 6, 3)).astype(
        "float32"
    )


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Serving and CLI tests: a small LSTM classifier on (6, 3) inputs, saved as .keras
    and exported with integrated gradients, and five test inputs (see serving_support)."""
    from serving_support import build_artifacts

    return build_artifacts(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="session")
def two_input_artifacts(tmp_path_factory):
    """Multi-input serving and CLI tests: a sequence + static-covariate model, saved as
    .keras and exported once with a padding_mask input (see serving_support)."""
    from serving_support import build_two_input_artifacts

    return build_two_input_artifacts(tmp_path_factory.mktemp("serving_two"))
