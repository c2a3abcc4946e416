"""Interactions of piecewise-linear models: detection, the warning, smooth surrogates,
symmetrisation and its report (tf_tsexplain.smooth and PathExplainerTF.interactions)."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import D, F, T

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.path import ASYMMETRY_TOLERANCE
from tf_tsexplain.smooth import (
    SmoothMaxPooling1D,
    piecewise_linear_layers,
    smooth_surrogate,
    surrogate_gap,
)

STEPS, CHANNELS = 8, 2
RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, STEPS, CHANNELS)).astype("float32")
ZERO = np.zeros((STEPS, CHANNELS), "float32")


def _softplus(z, beta):
    return np.logaddexp(0.0, beta * z) / beta


@pytest.fixture(scope="module")
def pooling_model():
    """Conv1D(relu) -> overlapping max pooling -> Dense(tanh): InceptionTime's pieces."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((STEPS, CHANNELS))
    h = keras.layers.Conv1D(3, 3, activation="relu", padding="same", name="conv")(inputs)
    h = keras.layers.MaxPooling1D(3, strides=1, padding="same", name="pool")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(1, activation="tanh")(h))


def test_piecewise_linear_pieces_are_found_and_named():
    inputs = keras.Input((STEPS, CHANNELS))
    h = keras.layers.Conv1D(3, 3, activation="relu", padding="same", name="conv")(inputs)
    h = keras.layers.MaxPooling1D(2, name="pool")(h)
    h = keras.layers.ReLU(max_value=6.0, name="relu6")(h)
    h = keras.layers.LeakyReLU(0.1, name="leaky")(h)
    h = keras.ops.clip(keras.ops.abs(h), 0.0, 2.0)
    h = keras.layers.GlobalMaxPooling1D(name="gmax")(h)
    h = keras.layers.Dense(4, activation="tanh", name="smooth_dense")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="relu6", name="head")(h))
    found = {p.name: p.kind for p in piecewise_linear_layers(model)}
    assert found.pop("conv") == "relu activation" and found.pop("head") == "relu6 activation"
    assert found.pop("pool") == found.pop("gmax") == "max pooling"
    assert found.pop("relu6") == found.pop("leaky") == "relu layer"
    assert sorted(found.values()) == ["abs", "clip"]  # the functional operations
    assert all(p.smoothable for p in piecewise_linear_layers(model))
    smooth = keras.Sequential(
        [keras.Input((STEPS, CHANNELS)), keras.layers.LSTM(3), keras.layers.Dense(1, "tanh")]
    )
    assert piecewise_linear_layers(smooth) == []
    assert piecewise_linear_layers(lambda x: x) == []  # a callable cannot be inspected


def test_smooth_surrogate_keeps_weights_and_matches_the_closed_form():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((STEPS, CHANNELS)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    beta = 4.0
    surrogate = smooth_surrogate(model, beta=beta)
    for a, b in zip(model.get_weights(), surrogate.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    (w1, b1, w2, b2) = model.get_weights()
    hidden = X.reshape(len(X), -1).astype(np.float64) @ w1 + b1
    expected = _softplus(hidden, beta) @ w2 + b2
    np.testing.assert_allclose(surrogate(X).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert model.layers[1].activation is keras.activations.relu  # the model is untouched
    # the gap shrinks as beta grows; softplus is at most log(2) / beta above relu
    gaps = [surrogate_gap(model, smooth_surrogate(model, beta=b), X).max_abs for b in (2, 20, 200)]
    assert gaps[0] > gaps[1] > gaps[2]
    bound = np.log(2) / 200 * np.abs(w2).sum()
    assert gaps[2] <= bound + 1e-6


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_smooth_max_pooling_is_log_sum_exp_over_the_windows(padding):
    tau, pool, stride = 0.3, 3, 2
    layer = SmoothMaxPooling1D(pool, stride, padding, tau)
    x = RNG.normal(size=(2, 9, 2)).astype("float32")
    out = layer(x).numpy()
    reference = keras.layers.MaxPooling1D(pool, stride, padding=padding)(x).numpy()
    assert out.shape == reference.shape
    padded = x.astype(np.float64)
    if padding == "same":  # TensorFlow pads so that T_out = ceil(T / stride)
        total = max((reference.shape[1] - 1) * stride + pool - x.shape[1], 0)
        pads = ((0, 0), (total // 2, total - total // 2), (0, 0))
        padded = np.pad(padded, pads, constant_values=-np.inf)
    windows = np.stack(
        [padded[:, i * stride : i * stride + pool] for i in range(reference.shape[1])], axis=1
    )
    high = windows.max(axis=2)
    expected = high + tau * np.log(np.exp((windows - high[:, :, None]) / tau).sum(axis=2))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert np.all(out >= reference - 1e-6) and np.all(out <= reference + tau * np.log(pool) + 1e-6)


def test_warning_fires_once_for_piecewise_models_and_never_for_smooth_ones(pooling_model):
    # the tiled route traces fastest: this test is about the warning, not the route
    explainer = PathExplainerTF(pooling_model, hessian_method="tiled")
    kw = dict(num_samples=1, use_expectation=False, interaction_index=(0, 0))
    with pytest.warns(UserWarning, match=r"piecewise linear.*conv \(relu.*pool \(max") as record:
        explainer.interactions(X, ZERO, **kw)
    assert len([w for w in record if "piecewise" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per explainer: not again
        explainer.interactions(X, ZERO, **kw)
    # (tanh and LSTM models raise no warning: see test_path.py's interaction tests,
    # which run under warnings-as-errors)
    info = explainer.last_interactions_info
    assert [p.name for p in info.piecewise_linear] == ["conv", "pool"]
    assert info.asymmetry is None and not info.symmetrised  # one row: not checkable


def test_smooth_interactions_of_a_max_pooling_model_are_symmetric_and_complete(pooling_model):
    explainer = PathExplainerTF(pooling_model, hessian_method="tiled")
    kw = dict(use_expectation=False)
    beta = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the surrogate is smooth: no warning
        gamma = explainer.interactions(X, ZERO, num_samples=32, smooth=beta, **kw)
    info = explainer.last_interactions_info
    assert info.smooth_beta == beta and info.symmetrised
    assert info.asymmetry < 1e-5  # float32 rounding, before symmetrising
    flat = gamma.reshape(len(X), STEPS * CHANNELS, STEPS * CHANNELS)
    np.testing.assert_array_equal(flat, flat.transpose(0, 2, 1))
    surrogate = smooth_surrogate(pooling_model, beta=beta)
    ig = PathExplainerTF(surrogate).attributions(X, ZERO, num_samples=128, **kw)
    # the quadrature error of the path: the change from 16 to 32 nodes bounds it
    coarse = explainer.interactions(X, ZERO, num_samples=16, smooth=beta, **kw)
    quadrature = np.abs(coarse.sum(axis=(-2, -1)) - gamma.sum(axis=(-2, -1))).max()
    row_gap = np.abs(gamma.sum(axis=(-2, -1)) - ig).max()
    assert row_gap <= max(2 * quadrature, 1e-5 * np.abs(ig).max())
    assert row_gap < 1e-3 * np.abs(ig).max()
    # the gap between surrogate and model on the explained inputs, as reported
    expected_gap = np.abs(surrogate(X).numpy() - pooling_model(X).numpy()).max()
    assert info.surrogate_gap.max_abs == pytest.approx(expected_gap, rel=1e-4)
    assert info.surrogate_gap.per_input.shape == (len(X),)
    assert len(explainer._surrogates) == 1  # built once per beta


def test_relu_interactions_miss_the_attributions_the_surrogate_does_not():
    """On a ReLU network autodiff Hessians are zero almost everywhere: the rows of the
    model's integrated Hessians sum to the wrong values, the surrogate's do not."""
    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [
            keras.Input((STEPS, CHANNELS)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    base = RNG.normal(size=(STEPS, CHANNELS)).astype("float32")  # kinks on the path
    kw = dict(num_samples=32, use_expectation=False)
    explainer = PathExplainerTF(model, hessian_method="tiled")
    with pytest.warns(UserWarning, match="piecewise linear"):
        raw = explainer.interactions(X, base, **kw)
    ig = explainer.attributions(X, base, num_samples=128, use_expectation=False)
    raw_gap = np.abs(raw.sum(axis=(-2, -1)) - ig).max() / np.abs(ig).max()
    smooth = explainer.interactions(X, base, smooth=20.0, **kw)
    smooth_ig = explainer._surrogates[20.0].attributions(
        X, base, num_samples=128, use_expectation=False
    )
    smooth_gap = np.abs(smooth.sum(axis=(-2, -1)) - smooth_ig).max() / np.abs(smooth_ig).max()
    assert raw_gap > 0.02 and smooth_gap < 1e-3


class _AsymmetricGradient:
    """f(x) = x^T A x / 2 with a custom gradient A x for a NON-symmetric A: the
    Jacobian of the 'gradient' is A, so the computed matrix is not symmetric."""

    def __init__(self, a):
        self.a = tf.constant(a, tf.float32)

    def __call__(self, x):
        a = self.a

        @tf.custom_gradient
        def f(flat):
            value = 0.5 * tf.reduce_sum(flat * tf.linalg.matvec(a, flat), axis=1)

            def grad(upstream):
                return upstream[:, None] * tf.linalg.matvec(a, flat)

            return value, grad

        return f(tf.reshape(x, [tf.shape(x)[0], -1]))


def test_full_matrices_are_symmetrised_and_asymmetry_is_reported(quadratic):
    x = RNG.normal(size=(2, T, F)).astype("float32")
    base = np.zeros((T, F), "float32")
    explainer = PathExplainerTF(quadratic)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gamma = explainer.interactions(x, base, num_samples=4, use_expectation=False)
    info = explainer.last_interactions_info
    assert info.symmetrised and info.asymmetry < 1e-6 and info.piecewise_linear == ()
    np.testing.assert_allclose(
        gamma, quadratic.integrated_hessians(x, base).reshape(gamma.shape), rtol=1e-4, atol=1e-5
    )
    a = RNG.normal(size=(D, D)).astype("float32")
    asymmetric = PathExplainerTF(_AsymmetricGradient(a))
    with pytest.warns(UserWarning, match="asymmetric by"):
        sym = asymmetric.interactions(x, base, num_samples=4, use_expectation=False)
    info = asymmetric.last_interactions_info
    assert info.asymmetry > ASYMMETRY_TOLERANCE
    flat = sym.reshape(2, D, D)
    np.testing.assert_array_equal(flat, flat.transpose(0, 2, 1))
    # off the diagonal: delta_i delta_j (A + A^T) / 2 times int int a b da db = 1 / 4
    delta = x.reshape(2, D)
    off = delta[:, :, None] * delta[:, None, :] * (a + a.T) / 8
    mask = ~np.eye(D, dtype=bool)
    np.testing.assert_allclose(flat[:, mask], off[:, mask], rtol=1e-4, atol=1e-5)


def test_smooth_argument_errors(quadratic, pooling_model):
    explainer = PathExplainerTF(pooling_model)
    with pytest.raises(ValueError, match=r"Received: smooth=-1"):
        explainer.interactions(X, ZERO, smooth=-1)
    with pytest.raises(TypeError, match=r"Received: smooth='yes'"):
        explainer.interactions(X, ZERO, smooth="yes")
    with pytest.raises(TypeError, match="Sequential or functional Keras model"):
        PathExplainerTF(quadratic).interactions(
            RNG.normal(size=(1, T, F)), np.zeros((T, F)), smooth=True
        )
    with pytest.raises(ValueError, match=r"Received: beta=0.0"):
        smooth_surrogate(pooling_model, beta=0.0)
    with pytest.raises(TypeError, match=r"Received: temperature='hot'"):
        smooth_surrogate(pooling_model, temperature="hot")
