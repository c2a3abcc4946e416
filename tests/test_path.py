"""PathExplainerTF and EmbeddingExplainerTF against closed forms and their promises."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import D, F, Quadratic, T

from tf_tsexplain import EmbeddingExplainerTF, PathExplainerTF, split_embedding
from tf_tsexplain._quadrature import gauss_legendre_01, gauss_log_01


def _inputs(n=5, seed=3):
    return np.random.default_rng(seed).normal(size=(n, T, F)).astype("float32")


# ----------------------------------------------------------------- quadrature rules
@pytest.mark.parametrize("n", [1, 2, 7, 50, 100])
def test_gauss_log_rule_integrates_polynomials_exactly(n):
    nodes, weights = gauss_log_01(n)
    assert np.all((nodes > 0) & (nodes < 1)) and np.all(weights > 0)
    for k in range(2 * n):  # int_0^1 s^k (-log s) ds = 1 / (k + 1)^2
        assert np.sum(weights * nodes**k) == pytest.approx(1 / (k + 1) ** 2, rel=1e-9)
    if n <= 7:  # degree 2n is not exact: a genuine n-point Gauss rule (tiny error for big n)
        assert abs(np.sum(weights * nodes ** (2 * n)) - 1 / (2 * n + 1) ** 2) > 1e-16


def test_gauss_legendre_rule_on_unit_interval():
    nodes, weights = gauss_legendre_01(5)
    for k in range(10):
        assert np.sum(weights * nodes**k) == pytest.approx(1 / (k + 1), rel=1e-12)


# ----------------------------------------------------------------- exact results
def test_integrated_gradients_exact_on_quadratic(quadratic):
    x = _inputs()
    base = np.full((T, F), 0.5, "float32")
    phi = PathExplainerTF(quadratic).attributions(x, base, num_samples=3, use_expectation=False)
    assert phi.shape == x.shape and phi.dtype == np.float32
    expected = quadratic.integrated_gradients(x, base).reshape(x.shape)
    np.testing.assert_allclose(phi, expected, rtol=1e-4, atol=1e-5)


def test_integrated_gradients_one_baseline_per_input(quadratic):
    x = _inputs()
    bases = _inputs(seed=9)
    phi = PathExplainerTF(quadratic).attributions(x, bases, num_samples=2, use_expectation=False)
    expected = np.stack(
        [quadratic.integrated_gradients(x[i : i + 1], bases[i])[0] for i in range(len(x))]
    )
    np.testing.assert_allclose(phi, expected.reshape(x.shape), rtol=1e-4, atol=1e-5)


def test_integrated_hessians_exact_on_quadratic(quadratic):
    x = _inputs()
    base = np.zeros((1, T, F), "float32")
    gamma = PathExplainerTF(quadratic).interactions(x, base, num_samples=4, use_expectation=False)
    assert gamma.shape == (len(x), T, F, T, F)
    expected = quadratic.integrated_hessians(x, base).reshape(gamma.shape)
    np.testing.assert_allclose(gamma, expected, rtol=1e-4, atol=1e-5)


def test_linear_model_has_no_interactions_and_exact_attributions():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(T, F)).astype("float32")
    model = keras.Sequential([keras.Input((T, F)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.layers[-1].set_weights([w.reshape(D, 1), np.array([0.7], "float32")])
    x, base = _inputs(), _inputs(n=1, seed=5)
    explainer = PathExplainerTF(model)
    np.testing.assert_allclose(
        explainer.attributions(x, base, use_expectation=False, num_samples=5),
        w * (x - base),
        rtol=1e-5,
        atol=1e-6,
    )
    # expected gradients with a one-row reference set are exact for linear models
    np.testing.assert_allclose(
        explainer.attributions(x, base, num_samples=7, seed=0), w * (x - base), rtol=1e-5, atol=1e-6
    )
    gamma = explainer.interactions(x, base, use_expectation=False, num_samples=3).reshape(-1, D, D)
    off = gamma * (1 - np.eye(D))
    np.testing.assert_allclose(off, 0, atol=1e-6)
    np.testing.assert_allclose(
        np.diagonal(gamma, axis1=1, axis2=2), (w * (x - base)).reshape(-1, D), rtol=1e-5, atol=1e-6
    )


def test_float64_inputs_give_float64_results(quadratic):
    x = _inputs().astype("float64")
    phi = PathExplainerTF(quadratic).attributions(
        x, np.zeros((T, F)), num_samples=2, use_expectation=False
    )
    assert phi.dtype == np.float64
    expected = quadratic.integrated_gradients(x, np.zeros((T, F))).reshape(x.shape)
    np.testing.assert_allclose(phi, expected, rtol=1e-10)


# ----------------------------------------------------------------- expectations
def test_expected_gradients_converge_to_the_expectation_over_references(quadratic):
    x = _inputs(n=2)
    refs = _inputs(n=2, seed=11)
    phi = PathExplainerTF(quadratic).attributions(x, refs, num_samples=4000, seed=1)
    # E over a uniformly drawn reference of its integrated gradients
    expected = np.mean([quadratic.integrated_gradients(x, r) for r in refs], axis=0)
    scale = np.abs(expected).max()
    assert np.abs(phi.reshape(2, -1) - expected).max() < 0.05 * scale


def test_expected_hessians_converge_to_integrated_hessians(quadratic):
    x = _inputs(n=2)
    base = np.zeros((1, T, F), "float32")
    gamma = PathExplainerTF(quadratic).interactions(x, base, num_samples=4000, seed=2)
    expected = quadratic.integrated_hessians(x, base)
    assert np.abs(gamma.reshape(2, D, D) - expected).max() < 0.05 * np.abs(expected).max()


def test_seed_reproducible_and_independent_of_batch_size(lstm_model, lstm_data):
    x, refs = lstm_data
    explainer = PathExplainerTF(lstm_model)
    a = explainer.attributions(x, refs, num_samples=30, seed=5, batch_size=50)
    b = explainer.attributions(x, refs, num_samples=30, seed=5, batch_size=7)
    c = explainer.attributions(x, refs, num_samples=30, seed=6, batch_size=50)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert np.abs(a - c).max() > 1e-4  # another seed draws other paths


# ----------------------------------------------------------------- LSTM properties
def test_lstm_completeness_of_integrated_gradients(lstm_model, lstm_data):
    x, refs = lstm_data
    base = refs[:1]
    phi = PathExplainerTF(lstm_model).attributions(x, base, num_samples=64, use_expectation=False)
    gap = lstm_model(x).numpy()[:, 0] - lstm_model(base).numpy()[0, 0]
    # Gauss-Legendre with 64 nodes on a smooth LSTM: error far below float32 noise
    np.testing.assert_allclose(phi.reshape(len(x), -1).sum(1), gap, atol=1e-4)


def test_lstm_interactions_rows_sum_to_attributions_and_are_symmetric(lstm_model, lstm_data):
    x, refs = lstm_data
    x, base = x[:2], refs[:1]
    explainer = PathExplainerTF(lstm_model)
    phi = explainer.attributions(x, base, num_samples=32, use_expectation=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an LSTM is smooth: no piecewise-linear warning
        gamma = explainer.interactions(
            x, base, num_samples=32, use_expectation=False, batch_size=16
        )
    assert explainer.last_interactions_info.asymmetry < 1e-5
    assert gamma.shape == (2, 6, 3, 6, 3)
    row_sums = gamma.sum(axis=(-2, -1))
    assert np.abs(row_sums - phi).max() < 0.01 * np.abs(phi).max()
    flat = gamma.reshape(2, 18, 18)
    np.testing.assert_allclose(flat, flat.transpose(0, 2, 1), atol=1e-5 * np.abs(flat).max())
    # interaction_index gives exactly the row (slice) of the full matrix
    row = explainer.interactions(
        x, base, num_samples=32, use_expectation=False, interaction_index=(4, 1)
    )
    assert row.shape == x.shape
    np.testing.assert_allclose(row, gamma[:, 4, 1], rtol=1e-4, atol=1e-6)


def test_interaction_index_slice_for_expected_hessians(quadratic):
    x = _inputs(n=3)
    refs = _inputs(n=4, seed=8)
    explainer = PathExplainerTF(quadratic)
    full = explainer.interactions(x, refs, num_samples=20, seed=3)
    for index in [(0, 0), (2, 1)]:
        row = explainer.interactions(x, refs, num_samples=20, seed=3, interaction_index=index)
        np.testing.assert_allclose(row, full[:, index[0], index[1]], rtol=1e-5, atol=1e-6)


def test_flat_inputs_take_an_int_interaction_index():
    q = Quadratic(seed=4, d=5)
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    explainer = PathExplainerTF(q)
    full = explainer.interactions(x, np.zeros(5, "float32"), num_samples=3, use_expectation=False)
    row = explainer.interactions(
        x, np.zeros(5, "float32"), num_samples=3, use_expectation=False, interaction_index=2
    )
    assert full.shape == (3, 5, 5)
    np.testing.assert_allclose(row, full[:, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full, q.integrated_hessians(x, np.zeros(5)), rtol=1e-4, atol=1e-5)


def test_compiled_once_per_shape(lstm_model, lstm_data):
    x, refs = lstm_data
    explainer = PathExplainerTF(lstm_model)
    for n, bs in [(4, 50), (3, 7), (1, 11)]:
        explainer.attributions(x[:n], refs, num_samples=10, batch_size=bs, seed=0)
    (fn,) = explainer._compiled.values()
    assert fn.experimental_get_tracing_count() == 1


# ----------------------------------------------------------------- targets
def _multi_output_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((T, F))
    hidden = keras.layers.Dense(4, activation="tanh")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


def test_multi_output_all_classes_and_per_input_indices():
    model = _multi_output_model()
    x, base = _inputs(n=4), np.zeros((1, T, F), "float32")
    explainer = PathExplainerTF(model)
    kw = dict(num_samples=16, use_expectation=False)
    every = explainer.attributions(x, base, **kw)
    assert every.shape == (3, 4, T, F)
    for c in range(3):
        np.testing.assert_allclose(
            every[c], explainer.attributions(x, base, output_indices=c, **kw), atol=1e-6
        )
    per_input = np.array([2, 0, 1, 2])
    picked = explainer.attributions(x, base, output_indices=per_input, **kw)
    np.testing.assert_allclose(picked, every[per_input, np.arange(4)], atol=1e-6)
    gap = model(x).numpy() - model(base).numpy()
    np.testing.assert_allclose(
        picked.reshape(4, -1).sum(1), gap[np.arange(4), per_input], atol=1e-4
    )


def test_sequence_output_time_class_targets():
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.LSTM(6, return_sequences=True), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype("float32")
    base = np.zeros((5, 2), "float32")
    explainer = PathExplainerTF(model)
    phi = explainer.attributions(
        x, base, output_indices=(2, 1), num_samples=48, use_expectation=False
    )
    assert phi.shape == x.shape
    gap = model(x).numpy()[:, 2, 1] - model(base[None]).numpy()[0, 2, 1]
    np.testing.assert_allclose(phi.reshape(3, -1).sum(1), gap, atol=1e-4)
    # a causal LSTM's output at t = 2 cannot depend on later steps
    np.testing.assert_array_equal(phi[:, 3:], 0)
    assert np.abs(phi[:, :3]).max() > 0
    targets = np.array([[4, 0], [2, 1], [0, 1]])
    per_input = explainer.attributions(
        x, base, output_indices=targets, num_samples=48, use_expectation=False
    )
    np.testing.assert_allclose(per_input[1], phi[1], atol=1e-6)
    np.testing.assert_array_equal(per_input[2, 1:], 0)
    every = explainer.attributions(x, base, num_samples=8, use_expectation=False)
    assert every.shape == (5, 2, 3, 5, 2)


# ----------------------------------------------------------------- model kinds
class SubclassedLinear(keras.Model):
    def __init__(self):
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(self.flatten(x))


def test_sequential_functional_subclassed_and_callable_agree():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(D, 1)).astype("float32"), np.array([0.1], "float32")
    sequential = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    sequential.layers[-1].set_weights([kernel, bias])
    inp = keras.Input((T, F))
    functional = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    functional.layers[-1].set_weights([kernel, bias])
    subclassed = SubclassedLinear()
    subclassed(np.zeros((1, T, F), "float32"))
    subclassed.dense.set_weights([kernel, bias])

    def plain(x):
        return tf.reshape(x, [-1, D]) @ kernel + bias

    x, base = _inputs(), np.zeros((T, F), "float32")
    expected = kernel.reshape(T, F) * x
    for model in (sequential, functional, subclassed, plain):
        phi = PathExplainerTF(model).attributions(x, base, num_samples=2, use_expectation=False)
        np.testing.assert_allclose(phi, expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- embeddings
def test_embedding_explainer_sums_over_embedding_axis():
    q = Quadratic(seed=5, d=4 * 3)  # T=4 tokens, E=3 embedding dims

    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    base = np.zeros((4, 3), "float32")
    plain, emb = PathExplainerTF(q), EmbeddingExplainerTF(q)
    kw = dict(num_samples=4, use_expectation=False)
    np.testing.assert_allclose(
        emb.attributions(x, base, **kw), plain.attributions(x, base, **kw).sum(-1), atol=1e-6
    )
    full = emb.interactions(x, base, **kw)
    assert full.shape == (2, 4, 4)
    expected = q.integrated_hessians(x, base).reshape(2, 4, 3, 4, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(full, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(full.sum(-1), emb.attributions(x, base, **kw), atol=1e-5)
    for t in range(4):
        row = emb.interactions(x, base, interaction_index=t, **kw)
        assert row.shape == (2, 4)
        np.testing.assert_allclose(row, full[:, t], rtol=1e-5, atol=1e-6)


def test_embedding_explainer_on_a_keras_token_model():
    keras.utils.set_random_seed(5)
    embedding = keras.layers.Embedding(20, 4)
    head = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(6), keras.layers.Dense(1)])
    tokens = np.array([[1, 5, 7, 2, 0], [3, 3, 9, 1, 4]])
    embedded = embedding(tokens).numpy()
    base = np.zeros((1, 5, 4), "float32")
    explainer = EmbeddingExplainerTF(head)
    phi = explainer.attributions(embedded, base, num_samples=32, use_expectation=False)
    assert phi.shape == (2, 5)
    gap = head(embedded).numpy()[:, 0] - head(base).numpy()[0, 0]
    np.testing.assert_allclose(phi.sum(1), gap, atol=1e-4)


# ----------------------------------------------------------------- Hessian methods
def test_hessian_methods_agree_and_auto_picks_by_model_kind(quadratic):
    keras.utils.set_random_seed(6)
    conv = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Conv1D(4, 2, activation="tanh", padding="causal"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    recurrent = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(2), keras.layers.Dense(1)])
    assert PathExplainerTF(conv).hessian_method == "jacobian"
    assert PathExplainerTF(recurrent).hessian_method == "tiled"
    assert PathExplainerTF(quadratic).hessian_method == "tiled"
    x, base = _inputs(n=3), np.zeros((1, T, F), "float32")
    kw = dict(num_samples=6, use_expectation=False, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tanh is smooth: no piecewise-linear warning
        by_jacobian = PathExplainerTF(conv, hessian_method="jacobian").interactions(x, base, **kw)
        by_tiling = PathExplainerTF(conv, hessian_method="tiled").interactions(x, base, **kw)
    assert np.abs(by_jacobian).max() > 1e-3
    np.testing.assert_allclose(by_jacobian, by_tiling, rtol=1e-4, atol=1e-6)
    # a recurrent model: the loop route against tiling, full and one row
    loop = PathExplainerTF(recurrent, hessian_method="loop")
    tiled = PathExplainerTF(recurrent, hessian_method="tiled")
    full = loop.interactions(x, base, **kw)
    assert loop.last_interactions_info.hessian_method == "loop"
    assert np.abs(full).max() > 1e-4
    np.testing.assert_allclose(full, tiled.interactions(x, base, **kw), rtol=1e-4, atol=1e-7)
    one = loop.interactions(x, base, interaction_index=(2, 1), **kw)
    np.testing.assert_allclose(one, full[:, 2, 1], rtol=1e-4, atol=1e-7)
    for method in ("jacobian", "loop"):
        exact = PathExplainerTF(quadratic, hessian_method=method).interactions(
            x, base, num_samples=3, use_expectation=False
        )
        np.testing.assert_allclose(
            exact, quadratic.integrated_hessians(x, base).reshape(exact.shape), rtol=1e-4, atol=1e-5
        )
    with pytest.raises(
        ValueError,
        match=r"`hessian_method` must be one of \('auto', 'loop', 'tiled', 'jacobian'\)",
    ):
        PathExplainerTF(conv, hessian_method="pfor")


def test_split_embedding_keeps_the_mask_of_a_mask_zero_token_model():
    """The head of a mask_zero model masks padding as the whole model does; padded
    tokens get zero attribution and pre-padding changes nothing on real tokens."""
    keras.utils.set_random_seed(8)
    model = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            keras.layers.Embedding(20, 3, mask_zero=True),
            keras.layers.LSTM(4),
            keras.layers.Dense(1),
        ]
    )
    short = np.array([[4, 9, 2, 7], [1, 3, 3, 8]])
    ids = np.concatenate([np.zeros((2, 3), int), short], axis=1)  # pre-padded to 7
    embed, head = split_embedding(model)
    x = embed(ids)
    np.testing.assert_allclose(head(x).numpy(), model(ids).numpy(), rtol=1e-5, atol=1e-6)
    # a head made of the layers alone reads padding as data: the split matters
    naive = keras.Sequential([keras.Input((7, 3))] + model.layers[1:])
    assert not np.allclose(naive(embedding_of(model, ids)).numpy(), model(ids).numpy(), atol=1e-4)
    kw = dict(num_samples=16, use_expectation=False)
    phi = EmbeddingExplainerTF(head).attributions(x, np.zeros((7, 3)), **kw)
    assert np.all(phi[:, :3] == 0.0) and np.all(phi[:, 3:] != 0.0)
    embed4, head4 = split_embedding(
        keras.Sequential([keras.Input((4,), dtype="int32")] + model.layers)
    )
    alone = EmbeddingExplainerTF(head4).attributions(embed4(short), np.zeros((4, 3)), **kw)
    np.testing.assert_allclose(phi[:, 3:], alone, rtol=1e-4, atol=1e-6)
    with pytest.raises(TypeError, match="must be an Embedding"):
        split_embedding(keras.Sequential([keras.Input((7, 3)), keras.layers.LSTM(2)]))
    with pytest.raises(ValueError, match="integer ids of shape"):
        embed(x)


def embedding_of(model, ids):
    return model.layers[0](ids).numpy()
