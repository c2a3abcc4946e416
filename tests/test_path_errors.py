"""Bad input is refused with a clear message, before any long computation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import F, Quadratic, T

from tf_tsexplain import EmbeddingExplainerTF, PathExplainerTF

X = np.random.default_rng(0).normal(size=(4, T, F)).astype("float32")
BASE = np.zeros((1, T, F), "float32")


@pytest.fixture()
def counting():
    """A quadratic model that counts its calls: errors must come before real work."""
    return Quadratic()


def _multi_output(x):
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    return tf.stack([tf.reduce_sum(flat, 1), tf.reduce_sum(flat**2, 1)], axis=1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(inputs=X[0, 0]), ValueError, r"`inputs` must have rank >= 2"),
        (
            dict(baseline=np.zeros((1, T + 1, F), "float32")),
            ValueError,
            r"`baseline` must have shape \(R, 3, 2\)",
        ),
        (
            dict(inputs=X.astype("int32")),
            TypeError,
            r"`inputs` must hold floating point values, got dtype int32",
        ),
        (
            dict(baseline=BASE.astype(bool)),
            TypeError,
            r"`baseline` must hold floating point values",
        ),
        (dict(inputs=np.where(X > 1, np.nan, X)), ValueError, r"`inputs` contains \d+ NaN or Inf"),
        (
            dict(baseline=np.full((1, T, F), np.inf, "float32")),
            ValueError,
            r"`baseline` contains 6 NaN or Inf",
        ),
        (dict(num_samples=0), ValueError, r"`num_samples` must be >= 1. Received: num_samples=0"),
        (dict(num_samples=2.5), TypeError, r"`num_samples` must be an integer"),
        (dict(batch_size=0), ValueError, r"`batch_size` must be >= 1. Received: batch_size=0"),
        (dict(seed=-1), ValueError, r"`seed` must be >= 0. Received: seed=-1"),
        (dict(seed="1"), TypeError, r"`seed` must be an integer"),
        (dict(batch_size=2.0), TypeError, r"`batch_size` must be an integer"),
        (dict(output_indices=0), ValueError, r"model returns one scalar per input"),
        (
            dict(baseline=np.zeros((3, T, F), "float32"), use_expectation=False),
            ValueError,
            r"one baseline .* or one per input \(shape \(4, \.\.\.\)\); got 3 baselines",
        ),
    ],
)
def test_bad_arguments(counting, kwargs, error, match):
    call = dict(inputs=X, baseline=BASE, num_samples=5)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        PathExplainerTF(counting).attributions(**call)
    assert counting.calls <= 2  # at most the output probe and the gradient check


def test_nonfinite_inputs_accepted_when_opted_in(quadratic):
    x = X.copy()
    x[0, 0, 0] = np.nan
    phi = PathExplainerTF(quadratic, allow_nonfinite=True).attributions(
        x, BASE, num_samples=2, use_expectation=False
    )
    assert np.isnan(phi[0]).any() and np.isfinite(phi[1:]).all()


@pytest.mark.parametrize(
    "indices, match",
    [
        (2, r"value 2 is out of range for output axis 1 of size 2"),
        (np.array([0, 1, 2, 0]), r"value 2 is out of range"),
        (np.array([0, 1]), r"one int per input \(shape \(4,\)\)"),
        (0.5, r"must be None, integers or .predicted."),
        (-1, r"value -1 is out of range"),
    ],
)
def test_bad_output_indices(indices, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PathExplainerTF(_multi_output).attributions(X, BASE, num_samples=2, output_indices=indices)


def test_sequence_output_needs_time_class_target():
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(2, return_sequences=True), keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match=r"index tuple of length 2 such as \(time, class\)"):
        PathExplainerTF(model).attributions(X, BASE, num_samples=2, output_indices=1)
    with pytest.raises(ValueError, match=r"value 3 is out of range for output axis 1 of size 3"):
        PathExplainerTF(model).attributions(X, BASE, num_samples=2, output_indices=(3, 0))


def test_non_differentiable_model_is_explained():
    def rounded(x):
        return tf.reduce_sum(tf.cast(tf.cast(x * 10, tf.int32), tf.float32), axis=[1, 2])

    with pytest.raises(ValueError, match=r"gradient is None.*integer cast.*Embedding"):
        PathExplainerTF(rounded).attributions(X, BASE, num_samples=2)


def test_model_with_embedding_layer_on_token_input_is_refused():
    model = keras.Sequential(
        [
            keras.Input((T,)),
            keras.layers.Embedding(10, 2),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    tokens = np.array([[1, 2, 3]], "float32")
    with pytest.raises(ValueError, match=r"gradient is None"):
        PathExplainerTF(model).attributions(tokens, np.zeros((1, T), "float32"), num_samples=2)


def test_bad_models_and_outputs():
    with pytest.raises(TypeError, match=r"`model` must be a Keras model or a callable"):
        PathExplainerTF(42)
    with pytest.raises(ValueError, match=r"several outputs"):
        PathExplainerTF(lambda x: [x, x]).attributions(X, BASE, num_samples=2)
    with pytest.raises(ValueError, match=r"first axis of the output must be the batch"):
        PathExplainerTF(lambda x: tf.reduce_sum(x)).attributions(X, BASE, num_samples=2)
    with pytest.raises(ValueError, match=r"output is NaN or Inf"):
        PathExplainerTF(lambda x: tf.reduce_sum(x, [1, 2]) / 0.0).attributions(
            X, BASE, num_samples=2
        )


@pytest.mark.parametrize(
    "index, error, match",
    [
        (1, ValueError, r"index tuple of length 2 such as \(t, f\)"),
        ((0, 5), ValueError, r"out of range on axis 2 of size 2"),
        ((0,), ValueError, r"has 1 coordinate"),
        ("a", ValueError, r"invalid literal|must be an int"),
    ],
)
def test_bad_interaction_index(quadratic, index, error, match):
    with pytest.raises(error, match=match):
        PathExplainerTF(quadratic).interactions(X, BASE, num_samples=2, interaction_index=index)


def test_embedding_explainer_bad_index(quadratic):
    with pytest.raises(ValueError, match=r"out of range for 3 tokens"):
        EmbeddingExplainerTF(quadratic).interactions(X, BASE, num_samples=2, interaction_index=3)
    with pytest.raises(TypeError, match=r"token position \(int\)"):
        EmbeddingExplainerTF(quadratic).interactions(
            X, BASE, num_samples=2, interaction_index=(0, 1)
        )
