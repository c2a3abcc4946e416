"""ContraLSP: toy problems with known answers, its claimed properties, seeds, bad inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain._validation import NotFittedError
from tf_tsexplain.masks import ContraLSP
from tf_tsexplain.masks.contralsp import counterfactual_network, triplet_hinge, two_means

T, F = 12, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, T, F)).astype(np.float32)
CELLS = np.zeros((T, F), bool)
CELLS[3:7, 1] = True  # the segment the toy model reads
# read cells far from 0 (where the learned counterfactuals start): replacing them matters
X[:, CELLS] = np.sign(X[:, CELLS]) * (1.0 + np.abs(X[:, CELLS]))


def reads_segment(batch):
    """A model of one segment: feature 1 at steps 3..6, one output per step."""
    return 2.0 * batch[:, 3:7, 1]


def linear_network():
    """A cheap counterfactual network (the default bidirectional GRU takes ~20 s to trace)
    that sees only feature 0, which the toy model ignores: it cannot copy the read cells,
    so replacing them changes the prediction (a network that copies the series makes any
    mask unnecessary)."""
    return keras.Sequential(
        [
            keras.Input((None, F)),
            keras.layers.Lambda(lambda v: v[..., :1]),
            keras.layers.Dense(F),
        ]
    )


@pytest.fixture(scope="module")
def explainer():
    return ContraLSP(linear_network(), jit_compile=False)


@pytest.fixture(scope="module")
def fitted(explainer):
    explainer.fit(X, reads_segment, n_epoch=100, seed=0)
    return explainer


def test_mask_finds_the_segment_the_model_reads(fitted):
    m = fitted.mask_tensor
    assert m.shape == X.shape and m.min() >= 0.0 and m.max() <= 1.0
    # every read cell ranks above every unread cell, in every series
    assert (m[:, CELLS].min(axis=1) > m[:, ~CELLS].max(axis=1)).all()
    assert m[:, CELLS].mean() > 0.6 and m[:, ~CELLS].mean() < 0.05  # sparse gates
    assert fitted.replacement.shape == X.shape
    np.testing.assert_allclose(fitted.keep_ratio, m.mean(axis=(1, 2)), rtol=1e-5)


def test_perturbed_prediction_is_kept(fitted):
    # the error of the final mask (with its counterfactuals) is small against f(X)'s scale
    assert fitted.get_error().max() < 0.1 * np.mean(np.asarray(reads_segment(X)) ** 2)


def test_seed_reproducible_and_one_series_drops_the_batch_axis(fitted):
    # (refits the fixture's explainer: the tests that read its first fit come before)
    masks = fitted.fit(X, reads_segment, n_epoch=20, seed=2).mask_tensor  # cached loop
    again = fitted.fit(X, reads_segment, n_epoch=20, seed=2).mask_tensor
    np.testing.assert_array_equal(again, masks)
    other = fitted.fit(X, reads_segment, n_epoch=20, seed=1).mask_tensor
    assert not np.array_equal(other, masks)
    one = ContraLSP(linear_network(), jit_compile=False).fit(X[0], reads_segment, n_epoch=2)
    assert one.mask_tensor.shape == (T, F) and one.replacement.shape == (T, F)


def test_default_network_maps_series_to_series_and_is_seeded():
    a, b = counterfactual_network(F, seed=1), counterfactual_network(F, seed=1)
    out = a(X[:2])
    assert tuple(out.shape) == (2, T, F)
    np.testing.assert_allclose(np.asarray(out), np.asarray(b(X[:2])), rtol=1e-6)
    assert not np.allclose(np.asarray(out), np.asarray(counterfactual_network(F, seed=2)(X[:2])))


def test_padding_is_never_perturbed_and_holds_zero(explainer):
    real = np.ones((len(X), T), bool)
    real[:, 9:] = False
    m = explainer.fit(X, reads_segment, n_epoch=60, seed=0, padding_mask=real)  # cached loop
    assert (m.mask_tensor[:, 9:] == 0).all() and (m.mask_tensor[:, 3:7, 1] > 0.5).mean() > 0.7
    np.testing.assert_array_equal(m.padding_mask, real)


def test_two_means_separates_two_clusters_and_ignores_dead_rows():
    pts = np.r_[RNG.normal(0, 0.1, (5, 4)), RNG.normal(5, 0.1, (4, 4)), [[100.0] * 4]]
    weights = np.r_[np.ones(9), 0.0].astype(np.float32)
    labels = two_means(tf.constant(pts, tf.float32), tf.constant(weights)).numpy()
    assert len(set(labels[:5])) == 1 and len(set(labels[5:9])) == 1
    assert labels[0] != labels[5]


def test_triplet_hinge_matches_brute_force():
    pts = np.r_[RNG.normal(0, 1, (4, 3)), RNG.normal(3, 1, (3, 3))].astype(np.float32)
    weights = np.ones(7, np.float32)
    got = triplet_hinge(tf.constant(pts), tf.constant(weights), -10.0).numpy()
    labels = two_means(tf.constant(pts), tf.constant(weights)).numpy()
    for i in range(7):
        d = np.abs(pts - pts[i]).mean(axis=1)
        same = (labels == labels[i]) & (np.arange(7) != i)
        other = labels != labels[i]
        want = max(0.0, d[other].mean() - d[same].mean() + 10.0)
        np.testing.assert_allclose(got[i], want, rtol=1e-5)


def test_deletion_mode_marks_the_segment_too():
    m = ContraLSP(linear_network(), deletion_mode=True, jit_compile=False).fit(
        X, reads_segment, n_epoch=60, seed=0, lambda_1=0.1
    )
    mt = m.mask_tensor
    assert mt[:, CELLS].mean() > mt[:, ~CELLS].mean() + 0.3


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(n_epoch=0), ValueError, "n_epoch"),
        (dict(sigma=0.0), ValueError, "sigma"),
        (dict(lambda_1=-1.0), ValueError, "lambda_1"),
        (dict(margin=-1.0), ValueError, "margin"),
        (dict(learning_rate="0.1"), TypeError, "learning_rate"),
        (dict(loss_function="mse"), TypeError, "loss_function"),
        (dict(padding_mask=np.ones((3, T), bool)), ValueError, "padding_mask"),
    ],
)
def test_bad_arguments_raise_before_fitting(kwargs, error, words):
    with pytest.raises(error, match=words):
        ContraLSP().fit(X[:2], reads_segment, **kwargs)


def test_bad_inputs_and_constructor():
    with pytest.raises(TypeError, match="perturbation_network"):
        ContraLSP(perturbation_network="gru")
    with pytest.raises(TypeError, match="one sequence input"):
        ContraLSP().fit({"a": X, "b": X}, reads_segment)
    with pytest.raises(ValueError, match="X"):
        ContraLSP().fit(np.full((2, T, F), np.nan, np.float32), reads_segment)
    with pytest.raises(NotFittedError):
        ContraLSP().mask_tensor  # noqa: B018


def test_switch_feature_logits_recovers_the_state_features():
    """Regression (bench_fidelity's Switch-Feature AUROC 0.33): on a per-step classifier
    of known truth (the logit of step t reads feature s_t), explained through its logits
    as the reference does, the default ContraLSP ranks the read cells well above chance."""
    from tf_tsexplain import metrics
    from tf_tsexplain.datasets import switch_feature_data

    x, _, _, _ = switch_feature_data(16, 30, seed=1)
    states = np.repeat([0, 1, 2], 10)
    read = np.eye(3, dtype=np.float32)[states]  # (T, 3): feature s_t at step t
    weights = tf.constant(read)

    def logits(batch):  # two-class logits per step: (0, 3 x[t, s_t])
        z = 3.0 * tf.reduce_sum(batch * weights, -1)
        return tf.stack([tf.zeros_like(z), z], -1)

    m = ContraLSP().fit(x, logits, n_epoch=150, seed=0).mask_tensor
    truth = np.broadcast_to(read.astype(bool), x.shape)
    assert metrics.auroc(truth, m) > 0.8
    assert metrics.area_under_precision(truth, m, integration="trapezoid") > 0.8


def test_explainer_reuses_its_compiled_loop_and_equals_the_fit(monkeypatch):
    import tf_tsexplain.masks._compile as compile_choice
    from tf_tsexplain.masks.contralsp import ContraLSPExplainer

    monkeypatch.setattr(compile_choice.tf.config, "list_physical_devices", lambda kind: [])

    network = linear_network()
    start = network.get_weights()
    explainer = ContraLSPExplainer(reads_segment, perturbation_network=network)
    first = explainer.attributions(X, seed=4, n_epoch=6)
    second = explainer.attributions(X, seed=4, n_epoch=6)
    np.testing.assert_array_equal(first, second)  # the network reset to its start
    (loop,) = explainer._fitter._loops.values()
    assert list(loop._epochs) == [False]  # no GPU: 'auto' runs without XLA
    assert loop._epochs[False].experimental_get_tracing_count() == 1  # traced once, two calls
    fresh = linear_network()
    fresh.set_weights(start)  # the network's weights before the explainer trained it
    direct = ContraLSP(fresh).fit(X, reads_segment, n_epoch=6, seed=4).mask_tensor
    np.testing.assert_allclose(first, direct, atol=1e-6)
    assert first.shape == X.shape and first.dtype == np.float32


@pytest.mark.parametrize("xla_seconds, xla_wins", [(5.0, False), (0.01, True)])
def test_auto_compilation_runs_the_mode_its_timings_favour(monkeypatch, xla_seconds, xla_wins):
    # timings injected (XLA 5 s or 10 ms per call against 1 s plain), timed on this CPU
    import tf_tsexplain.masks._compile as compile_choice

    def timed(call, xla):
        call()
        return xla_seconds if xla else 1.0

    monkeypatch.setattr(compile_choice, "timed", timed)
    monkeypatch.setattr(compile_choice, "TIME_WITHOUT_GPU", True)
    network = linear_network()
    start = network.get_weights()
    auto = ContraLSP(network).fit(X, reads_segment, n_epoch=12, seed=3)
    assert auto.compilation.xla is xla_wins and auto.compilation.reason == "measured"
    network.set_weights(start)
    fixed = ContraLSP(network, jit_compile=xla_wins).fit(X, reads_segment, n_epoch=12, seed=3)
    assert fixed.compilation.xla is xla_wins and fixed.compilation.reason == "set"
    # the chosen mode's masks: the kept plain epochs continue, or the fit restarts
    # under XLA from its initial state (the same XLA program as jit_compile=True)
    np.testing.assert_array_equal(auto.mask_tensor, fixed.mask_tensor)
    assert auto.compilation is auto.fit(X, reads_segment, n_epoch=12, seed=3).compilation


def test_auto_compilation_without_gpu_is_plain_and_untimed(monkeypatch):
    import tf_tsexplain.masks._compile as compile_choice

    def timed(call, xla):  # the rule decides before any trial
        raise AssertionError("timed a trial")

    monkeypatch.setattr(compile_choice, "timed", timed)
    monkeypatch.setattr(compile_choice.tf.config, "list_physical_devices", lambda kind: [])
    network = linear_network()
    start = network.get_weights()
    auto = ContraLSP(network).fit(X, reads_segment, n_epoch=12, seed=3)
    assert auto.compilation.xla is False and "no GPU" in auto.compilation.reason
    network.set_weights(start)
    plain = ContraLSP(network, jit_compile=False).fit(X, reads_segment, n_epoch=12, seed=3)
    np.testing.assert_array_equal(auto.mask_tensor, plain.mask_tensor)
