"""SequenceShap: exact values against brute force, efficiency, KernelSHAP, pruning,
the recurrent prefix state, and the explainer contract (results are not (N, T, F)
shaped, so the contract's checks are written out here)."""

import itertools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import SequenceShap
from tf_tsexplain.shapley import MAX_EXACT_PLAYERS, exact_design, kernel_design, kernel_solve

T, F = 6, 3
RNG = np.random.default_rng(0)
DECAY = np.repeat(0.4 ** np.arange(T)[::-1], F)  # older events matter less
W = (RNG.normal(size=T * F) * DECAY).reshape(T, F).astype(np.float32)
A = (RNG.normal(size=(T * F, T * F)) * np.outer(DECAY, DECAY) / 4).astype(np.float32)
X = RNG.normal(size=(4, T, F)).astype(np.float32)
BASE = RNG.normal(size=F).astype(np.float32)


class Quadratic:
    """``f(x) = sum(W x) + flat(x)' A flat(x)`` with a numpy twin; counts calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        flat = tf.reshape(x, [tf.shape(x)[0], T * F])
        quad = tf.reduce_sum(flat * tf.linalg.matvec(tf.cast(A, x.dtype), flat), axis=1)
        return tf.reduce_sum(x * tf.cast(W, x.dtype), axis=[1, 2]) + quad

    @staticmethod
    def numpy(x):
        flat = x.reshape(len(x), -1).astype(np.float64)
        return (x * W).sum((1, 2)) + np.einsum("ni,ij,nj->n", flat, A, flat)


def brute_force(f, x, baseline, ids):
    """Shapley values of the players ``ids`` ``(T, F)`` (-1: always kept), from the
    definition: the weighted marginal contribution over every coalition."""
    players = sorted(set(ids[ids >= 0].tolist()))
    p = len(players)

    def value(coalition):
        keep = np.isin(ids, list(coalition)) | (ids < 0)
        return f(np.where(keep, x, baseline)[None])[0]

    phi = {}
    for i in players:
        others = [j for j in players if j != i]
        total = 0.0
        for size in range(p):
            weight = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
            for coalition in itertools.combinations(others, size):
                total += weight * (value(coalition + (i,)) - value(coalition))
        phi[i] = total
    return phi


def event_ids(start):
    ids = np.repeat(np.arange(T)[:, None], F, axis=1)
    ids[:start] = T  # the pruned events: one player
    return ids


def feature_ids(start):
    ids = np.repeat(np.arange(F)[None, :], T, axis=0)
    ids[:start] = F
    return ids


# ---------------------------------------------------------------------- exact values
@pytest.mark.parametrize("tolerance", [None, 0.1])
def test_exact_event_and_feature_values_match_brute_force(tolerance):
    explainer = SequenceShap(Quadratic(), BASE)
    base = np.broadcast_to(BASE, (T, F))
    events = explainer.attributions(X, level="event", pruning_tolerance=tolerance)
    features = explainer.attributions(X, level="feature", pruning_tolerance=tolerance)
    if tolerance is not None:  # the tolerance is chosen so that something is pruned
        assert (events.window_start > 0).any()
    np.testing.assert_array_equal(events.window_start, features.window_start)
    for n in range(len(X)):
        start = events.window_start[n]
        phi = brute_force(Quadratic.numpy, X[n], base, event_ids(start))
        expected = [phi.get(t, 0.0) for t in range(T)]
        np.testing.assert_allclose(events.values[n], expected, atol=2e-5)
        np.testing.assert_allclose(events.pruned[n], phi.get(T, 0.0), atol=2e-5)
        phi = brute_force(Quadratic.numpy, X[n], base, feature_ids(start))
        np.testing.assert_allclose(features.values[n], [phi[j] for j in range(F)], atol=2e-5)
        np.testing.assert_allclose(features.pruned[n], phi.get(F, 0.0), atol=2e-5)
    assert events.exact.all() and features.exact.all()
    assert events.values.dtype == np.float32 and events.values.shape == (len(X), T)


def test_linear_events_get_their_own_contribution_and_a_product_splits_evenly():
    def linear(x):
        return tf.reduce_sum(x * W, axis=[1, 2])

    result = SequenceShap(linear, BASE).attributions(X, level="event")
    own = ((X - BASE) * W).sum(axis=2)
    np.testing.assert_allclose(result.values, own, rtol=1e-5, atol=1e-5)

    def product(x):  # event 1 times event 4: neither matters alone (baseline 0)
        return x[:, 1, 0] * x[:, 4, 2]

    result = SequenceShap(product, 0.0).attributions(X, level="event")
    half = X[:, 1, 0] * X[:, 4, 2] / 2
    np.testing.assert_allclose(result.values[:, 1], half, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.values[:, 4], half, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.delete(result.values, [1, 4], axis=1), 0.0, atol=1e-6)


def test_exact_cell_values_match_brute_force_on_the_grid():
    explainer = SequenceShap(Quadratic(), BASE)
    result = explainer.attributions(
        X, level="cell", pruning_tolerance=0.1, top_events=2, top_features=1
    )
    events = explainer.attributions(X, level="event", pruning_tolerance=0.1)
    features = explainer.attributions(X, level="feature", pruning_tolerance=0.1)
    assert result.values.shape == (len(X), 3, 2)
    for n in range(len(X)):
        start = result.window_start[n]
        # the top events and feature are the largest |value| of the two other levels
        top_e = np.argsort(-np.abs(events.values[n, start:]), kind="stable")[:2] + start
        assert set(result.top_events[n]) == set(top_e)
        assert result.top_features[n, 0] == np.argmax(np.abs(features.values[n]))
        row = np.full(T, 2)
        row[result.top_events[n]] = [0, 1]
        col = np.full(F, 1)
        col[result.top_features[n]] = 0
        ids = row[:, None] * 2 + col[None, :]
        ids[:start] = 6
        phi = brute_force(Quadratic.numpy, X[n], np.broadcast_to(BASE, (T, F)), ids)
        expected = np.array([phi.get(i, 0.0) for i in range(6)]).reshape(3, 2)
        np.testing.assert_allclose(result.values[n], expected, atol=2e-5)
        np.testing.assert_allclose(result.pruned[n], phi.get(6, 0.0), atol=2e-5)
    assert (result.evaluations > events.evaluations + features.evaluations - 2 * 2 * T).all()


@pytest.mark.parametrize("level", ["event", "feature", "cell"])
@pytest.mark.parametrize("num_samples", [None, 40])
def test_efficiency_at_every_level(level, num_samples):
    model = Quadratic()
    result = SequenceShap(model, BASE).attributions(
        X, level=level, pruning_tolerance=0.1, num_samples=num_samples, seed=0
    )
    f_x = Quadratic.numpy(X)
    f_b = Quadratic.numpy(np.broadcast_to(BASE, X.shape))
    np.testing.assert_allclose(result.prediction, f_x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.baseline_prediction, f_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.total(), f_x - f_b, rtol=1e-5, atol=1e-4)
    if num_samples is not None and level == "cell":
        assert not result.exact.any()  # 2**P - 2 > 40 coalitions: sampled


def test_exact_design_weights_are_the_shapley_formula():
    coalitions, weights = exact_design(4)
    assert coalitions.shape == (16, 4) and not coalitions[0].any() and coalitions[-1].all()
    # a player's weights sum to 0 and the total weight on the full coalition is 1
    np.testing.assert_allclose(weights.sum(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(weights[-1].sum() - weights[0].sum(), 1.0 + 1.0)


# ---------------------------------------------------------------------- KernelSHAP
def test_kernel_design_enumerates_what_fits_and_pairs_the_rest():
    rng = np.random.default_rng(0)
    coalitions, weights = kernel_design(10, 60, rng)
    assert len(coalitions) == 2 + 60
    sizes = coalitions[2:].sum(1)
    assert (sizes[:20] == np.r_[np.ones(10), np.full(10, 9)]).all()  # sizes 1 and 9 whole
    sampled = {tuple(row) for row in coalitions[22:]}
    assert len(sampled) == 40  # distinct, and each with its complement
    assert all(tuple(~np.array(row)) in sampled for row in sampled)
    np.testing.assert_allclose(weights.sum(), 1.0)
    # each size's coalitions carry that size's share of the kernel
    mass = 9 / (np.arange(1, 10) * (10 - np.arange(1, 10)))
    for size in range(1, 10):
        np.testing.assert_allclose(weights[2:][sizes == size].sum(), mass[size - 1] / mass.sum())
    all_of_them, _ = kernel_design(6, 62, rng)  # 2**6 - 2 = 62: every coalition
    assert len({tuple(r) for r in all_of_them}) == 64


def test_kernel_solve_is_exact_on_an_additive_game():
    rng = np.random.default_rng(1)
    coalitions, weights = kernel_design(12, 200, rng)
    phi = rng.normal(size=(3, 12))
    values = 0.7 + coalitions.astype(float) @ phi.T
    np.testing.assert_allclose(kernel_solve(coalitions, weights, values.T), phi, atol=1e-10)


@pytest.fixture(scope="module")
def lstm():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((12, 3)), keras.layers.LSTM(8), keras.layers.Dense(1, activation="sigmoid")]
    )
    x = np.random.default_rng(4).normal(size=(3, 12, 3)).astype(np.float32) * 2
    return model, x


def test_kernelshap_is_within_tolerance_of_exact(lstm):
    """12 events + nothing pruned: 4,096 exact coalitions; 1,000 sampled ones (a
    quarter) are within 5% of the largest value, and far closer on average."""
    model, x = lstm
    explainer = SequenceShap(model, 0.0)
    exact = explainer.attributions(x, level="event")
    approx = explainer.attributions(x, level="event", num_samples=1000, seed=0)
    assert exact.exact.all() and not approx.exact.any()
    assert (exact.evaluations == 2 * 12 + 4096).all() and (
        approx.evaluations == 2 * 12 + 1002
    ).all()
    scale = np.abs(exact.values).max(axis=1, keepdims=True)
    error = np.abs(approx.values - exact.values) / scale
    assert error.max() < 0.05 and error.mean() < 0.01
    np.testing.assert_allclose(approx.total(), exact.total(), atol=1e-5)


def test_seed_and_batch_size_invariance(lstm):
    model, x = lstm
    explainer = SequenceShap(model, 0.0)
    kwargs = dict(level="feature", pruning_tolerance=0.01, num_samples=6)
    default = explainer.attributions(x, seed=3, **kwargs)
    for batch_size in (1, 7):
        again = explainer.attributions(x, seed=3, batch_size=batch_size, **kwargs)
        np.testing.assert_allclose(again.values, default.values, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(again.window_start, default.window_start)
    assert not np.allclose(explainer.attributions(x, seed=4, **kwargs).values, default.values)
    exact = explainer.attributions(x, level="feature", seed=1)  # the seed does not matter
    again = explainer.attributions(x, level="feature", seed=2, batch_size=5)
    np.testing.assert_allclose(again.values, exact.values, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- pruning
def test_pruning_keeps_the_known_window_of_a_white_box():
    """Only the last 4 events matter (older ones 1000x less): the older events'
    contribution falls below the tolerance exactly when the window holds the 4."""

    def recent(x):
        weights = np.r_[np.full(T - 4, 1e-3), np.ones(4)].astype(np.float32)
        return tf.reduce_sum(x[:, :, 0] * weights, axis=1)

    x = np.ones((2, T, F), np.float32)
    x[1, -1] = 0.0  # the most recent event of sequence 1 is at the baseline
    explainer = SequenceShap(recent, 0.0)
    pruning = explainer.prune(x, 0.01)
    # additive model: the older part of a window of L events contributes the rest
    per_event = np.r_[np.full(T - 4, 1e-3), np.ones(4)][::-1]  # from the most recent
    expected = np.stack([per_event[L:].sum() for L in range(T + 1)])
    np.testing.assert_allclose(pruning.contribution[0], expected, atol=1e-6)
    np.testing.assert_array_equal(pruning.window_length, [4, 4])
    np.testing.assert_array_equal(pruning.window_start, [T - 4, T - 4])
    assert (pruning.evaluations == 2 * T).all()
    result = explainer.attributions(x, level="event", pruning_tolerance=0.01)
    np.testing.assert_allclose(result.pruned, (T - 4) * 1e-3, rtol=1e-4)
    np.testing.assert_allclose(result.values[0], np.r_[np.zeros(T - 4), np.ones(4)], atol=1e-6)
    # nothing can be pruned under a tolerance smaller than any older part
    assert (explainer.prune(x, 1e-4).window_start == 0).all()
    assert (explainer.prune(x, None).window_length == T).all()


# ---------------------------------------------------------------------- recurrent state
@pytest.mark.parametrize("layer", [keras.layers.LSTM, keras.layers.GRU])
def test_reusing_the_prefix_state_changes_nothing(layer):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((10, 3)), layer(6), keras.layers.Dense(2, activation="softmax")]
    )
    x = np.random.default_rng(6).normal(size=(3, 10, 3)).astype(np.float32)
    fast = SequenceShap(model, 0.0, reuse_prefix_state=True)
    slow = SequenceShap(model, 0.0, reuse_prefix_state=False)
    for level, tolerance, num_samples in [
        ("feature", 0.02, None),  # the window from the prefix's two states
        ("event", 0.02, None),  # shared prefixes: exact ...
        ("event", 0.02, 60),  # ... and sampled coalitions
        ("event", None, None),  # nothing pruned: from the initial state
    ]:
        kwargs = dict(level=level, pruning_tolerance=tolerance, num_samples=num_samples)
        a = fast.attributions(x, output_indices=1, seed=0, batch_size=700, **kwargs)
        b = slow.attributions(x, output_indices=1, seed=0, **kwargs)
        assert tolerance is None or (a.window_start > 0).any()
        np.testing.assert_allclose(a.values, b.values, atol=2e-6)
        np.testing.assert_allclose(a.pruned, b.pruned, atol=2e-6)
        np.testing.assert_allclose(a.prediction, model(x).numpy()[:, 1], atol=1e-6)
        np.testing.assert_array_equal(a.evaluations, b.evaluations)


# ---------------------------------------------------------------------- contract
C = 3
WC = np.random.default_rng(7).normal(size=(T * F, C)).astype(np.float32)


class Classifier:
    """A smooth 3-class model that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        flat = tf.reshape(x, [tf.shape(x)[0], T * F])
        return tf.nn.softmax(tf.matmul(tf.tanh(flat), tf.cast(WC, x.dtype)))


def test_contract_shapes_dtypes_and_targets():
    explainer = SequenceShap(Classifier(), 0.0)
    result = explainer.attributions(X, level="feature", output_indices=1)
    assert result.values.shape == (4, F) and result.values.dtype == np.float32
    assert (
        explainer.attributions(X.astype(np.float64), level="feature", output_indices=1).values.dtype
        == np.float64
    )
    per_class = [explainer.attributions(X, level="event", output_indices=c) for c in range(C)]
    chosen = np.array([2, 0, 1, 2])
    per_input = explainer.attributions(X, level="event", output_indices=chosen)
    expected = np.stack([per_class[c].values[i] for i, c in enumerate(chosen)])
    np.testing.assert_allclose(per_input.values, expected, rtol=1e-5, atol=1e-6)
    predicted = np.argmax(Classifier()(tf.constant(X)).numpy(), axis=1)
    np.testing.assert_allclose(
        explainer.attributions(X, level="event", output_indices="predicted").values,
        explainer.attributions(X, level="event", output_indices=predicted).values,
    )
    # a classifier without output_indices: each sequence's predicted class (issue 26)
    default = explainer.attributions(X, level="event")
    assert default.values.shape == (4, T)
    np.testing.assert_array_equal(default.target, predicted)
    np.testing.assert_allclose(
        default.values, np.stack([per_class[c].values[i] for i, c in enumerate(predicted)])
    )
    assert explainer.prune(X, 0.01).contribution.shape == (4, T + 1)


def test_every_output_of_a_sequence_model_gets_leading_axes():
    """Outputs (N, T, C) are not one vector of classes: None explains each of them."""

    def per_step(x):
        return tf.nn.softmax(tf.tanh(x[..., :2]) * 3.0)  # (N, T, 2)

    explainer = SequenceShap(per_step, 0.0)
    every = explainer.attributions(X, level="feature", output_indices=None)
    assert every.values.shape == (T, 2, 4, F) and every.target is None
    one = explainer.attributions(X, level="feature", output_indices=(T - 1, 1))
    np.testing.assert_allclose(every.values[T - 1, 1], one.values, atol=1e-6)


BAD = [
    (dict(batch_size=0), ValueError, r"`batch_size` must be >= 1. Received: batch_size=0"),
    (dict(seed="7"), TypeError, r"`seed` must be an integer. Received: seed='7'"),
    (dict(verbose="yes"), TypeError, r"`verbose` must be True or False"),
    (dict(output_indices=1.5), TypeError, r"`output_indices` must be None, integers"),
    (dict(batch_size=2.5), TypeError, r"`batch_size` must be an integer. Received: batch_size=2.5"),
    (dict(seed=-1), ValueError, r"`seed` must be >= 0. Received: seed=-1"),
    (dict(output_indices="argmax"), ValueError, r"Received: output_indices='argmax'"),
    (dict(output_indices=C), ValueError, r"`output_indices` value 3 is out of range"),
    (dict(level="time"), ValueError, r"`level` must be one of .*Received: level='time'"),
    (dict(level=1), TypeError, r"`level` must be one of"),
    (dict(pruning_tolerance=1.0), ValueError, r"`pruning_tolerance` must be in \[0, 1\)"),
    (dict(pruning_tolerance=-0.1), ValueError, r"Received: pruning_tolerance=-0.1"),
    (dict(pruning_tolerance="0.1"), TypeError, r"`pruning_tolerance` must be a number"),
    (dict(num_samples=1), ValueError, r"`num_samples` must be >= 2. Received: num_samples=1"),
    (dict(num_samples=2.5), TypeError, r"`num_samples` must be an integer"),
    (dict(top_events=0), ValueError, r"`top_events` must be >= 1"),
    (dict(level="cell", top_events=4, top_features=3), ValueError, r"would need 20 players"),
]


@pytest.mark.parametrize("bad, error, match", BAD)
def test_bad_arguments_fail_before_any_model_call(bad, error, match):
    model = Classifier()
    explainer = SequenceShap(model, 0.0)
    kwargs = dict(output_indices=1)
    kwargs.update(bad)
    with pytest.raises(error, match=match):
        explainer.attributions(X, **kwargs)
    # argument checks come first; a wrong target value is found by the one-row probe
    assert model.calls <= (2 if "output_indices" in bad else 0)


def test_bad_inputs_and_baselines():
    model = Classifier()
    with pytest.raises(ValueError, match=r"Received: baseline.shape=\(2, 2, 3, 4\)"):
        SequenceShap(model, np.zeros((2, 2, 3, 4)))
    with pytest.raises(TypeError, match="`baseline` must hold floating point"):
        SequenceShap(model, np.zeros(3, int))
    with pytest.raises(TypeError, match="`reuse_prefix_state` must be 'auto', True or False"):
        SequenceShap(model, 0.0, reuse_prefix_state="yes")
    with pytest.raises(ValueError, match="reuse_prefix_state=True needs a keras.Sequential"):
        SequenceShap(model, 0.0, reuse_prefix_state=True)
    for baseline in (np.zeros(F + 1), np.zeros((T + 1, F))):
        with pytest.raises(ValueError, match=r"`baseline` must be a number, one event \(3,\)"):
            SequenceShap(model, baseline).attributions(X, output_indices=1)
    with pytest.raises(ValueError, match=r"sequences \(N, T, F\). Received: inputs.shape"):
        SequenceShap(model, 0.0).attributions(X[..., None], output_indices=1)
    with pytest.raises(ValueError, match="rank >= 3"):
        SequenceShap(model, 0.0).attributions(X[0], output_indices=1)
    assert model.calls == 0


def test_too_many_exact_players():
    long = np.random.default_rng(8).normal(size=(2, MAX_EXACT_PLAYERS + 1, 2)).astype(np.float32)
    model = Quadratic()

    def additive(x):
        model.calls += 1
        return tf.reduce_sum(x, axis=[1, 2])

    explainer = SequenceShap(additive, 0.0)
    with pytest.raises(ValueError, match=r"would need 15 players.*Received: num_samples=None"):
        explainer.attributions(long)  # known before any model call
    assert model.calls == 0
    # with pruning the count is known after pruning; nothing is prunable here
    with pytest.raises(ValueError, match="15 players after pruning"):
        explainer.attributions(long, pruning_tolerance=1e-9)
    result = explainer.attributions(long, num_samples=500, seed=0)  # KernelSHAP
    np.testing.assert_allclose(result.values, long.sum(2), atol=1e-4)  # additive: exact


def test_result_tables():
    explainer = SequenceShap(Quadratic(), BASE)
    events = explainer.attributions(X, level="event", pruning_tolerance=0.1)
    frame = events.to_frame(sample_ids=list("abcd"))
    kept = events.window_length.sum()
    assert len(frame) == kept + (events.window_start > 0).sum()
    np.testing.assert_allclose(frame.groupby("sample")["shapley"].sum(), events.total(), atol=1e-5)
    features = explainer.attributions(X, level="feature", pruning_tolerance=0.1)
    table = features.to_frame(feature_names=["a", "b", "c"])
    assert set(table["feature"]) == {"a", "b", "c", "pruned events"}
    with pytest.raises(ValueError, match="cells are per sequence"):
        explainer.attributions(X, level="cell").to_frame()
    default = SequenceShap(Classifier(), 0.0).attributions(X, level="feature")
    assert len(default.to_frame()) == 4 * F  # the predicted class: one table

    def per_step(x):
        return tf.nn.softmax(tf.tanh(x[..., :2]))  # (N, T, 2): every output explained

    every = SequenceShap(per_step, 0.0).attributions(X, level="feature")
    with pytest.raises(ValueError, match="index one output first"):
        every.to_frame()


def test_padded_steps_stay_padding():
    """The mechanisms take a mask of real steps (the explainer base will carry it):
    padded steps are never players and keep their values in every coalition."""
    real = np.ones((len(X), T), bool)
    real[1, :2] = False  # sequence 1 is left-padded with two steps

    class Padded(SequenceShap):
        @staticmethod
        def _real_steps(x):
            return real

    explainer = Padded(Quadratic(), BASE)
    events = explainer.attributions(X, level="event", pruning_tolerance=0.1)
    features = explainer.attributions(X, level="feature", pruning_tolerance=0.1)
    base = np.broadcast_to(BASE, (T, F)).copy()
    padded_base = base.copy()
    padded_base[:2] = X[1, :2]  # the baseline sequence keeps the padding
    f_b = Quadratic.numpy(padded_base[None])[0]
    np.testing.assert_allclose(events.baseline_prediction[1], f_b, rtol=1e-5)
    np.testing.assert_allclose(events.total()[1], Quadratic.numpy(X[1:2])[0] - f_b, atol=1e-4)
    assert events.window_length[1] <= T - 2 and (events.values[1, :2] == 0).all()
    start = events.window_start[1]
    ids = event_ids(start)
    ids[:2] = -1
    phi = brute_force(Quadratic.numpy, X[1], base, ids)
    np.testing.assert_allclose(events.values[1], [phi.get(t, 0.0) for t in range(T)], atol=2e-5)
    ids = feature_ids(start)
    ids[:2] = -1
    phi = brute_force(Quadratic.numpy, X[1], base, ids)
    np.testing.assert_allclose(features.values[1], [phi[j] for j in range(F)], atol=2e-5)
    np.testing.assert_allclose(features.pruned[1], phi.get(F, 0.0), atol=2e-5)
