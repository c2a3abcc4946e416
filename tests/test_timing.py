"""TIMING: closed forms on linear models, completeness as it holds, toys, seeds, bad inputs."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import PathExplainerTF, TimingExplainer

T, F = 16, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, T, F)).astype(np.float32)
W = RNG.normal(size=(T, F)).astype(np.float32)
B = RNG.normal(size=(T, F)).astype(np.float32)
SEGMENTS = dict(num_samples=20, num_segments=4, max_seg_len=6)


def linear(batch):
    return tf.reduce_sum(batch * W, axis=(1, 2))[:, None]


def reads_one_cell(batch):
    return tf.tanh(batch[:, 7, 2])[:, None] ** 3


def test_linear_model_equals_integrated_gradients_with_the_papers_normalisation():
    explainer = TimingExplainer(linear)
    got = explainer.attributions(X, B, seed=0, **SEGMENTS)
    free = explainer.free_cells(len(X), T, F, seed=0, **SEGMENTS)
    assert free.any(axis=1).all()  # every cell free at least once: IG exactly
    np.testing.assert_allclose(got, W * (X - B), rtol=1e-4, atol=1e-5)
    ig = PathExplainerTF(linear).attributions(X, B[None], num_samples=20, use_expectation=False)
    np.testing.assert_allclose(got.sum(axis=(1, 2)), ig.sum(axis=(1, 2)), rtol=1e-4)


def test_completeness_in_expectation_over_the_masks_with_steps_normalisation():
    explainer = TimingExplainer(linear)
    got = explainer.attributions(X, B, seed=1, normalize="steps", **SEGMENTS)
    free = explainer.free_cells(len(X), T, F, seed=1, **SEGMENTS)  # (N, S, T, F)
    f_x = linear(X).numpy()[:, 0]
    # f(x) - mean_k f(x with the cells free at point k set to the baseline)
    held_at_baseline = np.where(free, B, X[:, None])
    expected = f_x - np.mean(
        [linear(held_at_baseline[:, k]).numpy()[:, 0] for k in range(free.shape[1])], axis=0
    )
    np.testing.assert_allclose(got.sum(axis=(1, 2)), expected, rtol=1e-4, atol=1e-5)


def test_one_cell_model_gets_attribution_on_that_cell_only():
    a = TimingExplainer(reads_one_cell).attributions(X, seed=0, num_segments=2, max_seg_len=3)
    others = np.ones((T, F), bool)
    others[7, 2] = False
    assert (a[:, others] == 0).all()
    assert (np.abs(a[:, 7, 2]) > 0).all()
    # held-out cells move less often, but the paper's normalisation averages each
    # cell's gradients over its own free points: close to IG on this one-cell model
    ig = PathExplainerTF(reads_one_cell).attributions(
        X, np.zeros((1, T, F), np.float32), num_samples=50, use_expectation=False
    )
    np.testing.assert_allclose(a[:, 7, 2], ig[:, 7, 2], rtol=0.2, atol=1e-3)


def test_segments_follow_the_sampling_rules():
    free = TimingExplainer(linear).free_cells(
        200, T, F, num_samples=3, num_segments=1, min_seg_len=2, max_seg_len=5, seed=0
    )
    held = ~free  # one segment per point: one feature, 2..5 consecutive steps
    for cells in held.reshape(-1, T, F):
        feats = np.flatnonzero(cells.any(axis=0))
        assert len(feats) == 1
        steps = np.flatnonzero(cells[:, feats[0]])
        assert 2 <= len(steps) <= 5 and np.all(np.diff(steps) == 1)
    starts = [np.flatnonzero(c.any(axis=1))[0] for c in held.reshape(-1, T, F)]
    assert max(starts) >= T - 5 and min(starts) == 0  # segments reach both ends


def test_seed_reproducible_and_independent_of_batch_size():
    e = TimingExplainer(lambda b: tf.reduce_sum(tf.sin(b) * W, axis=(1, 2))[:, None])
    a = e.attributions(X, seed=5, **SEGMENTS)
    b = e.attributions(X, seed=5, batch_size=7, **SEGMENTS)
    c = e.attributions(X, seed=6, **SEGMENTS)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, c)


def test_zero_segments_is_left_riemann_integrated_gradients():
    def model(b):
        return tf.reduce_sum(b**2 * W, axis=(1, 2))[:, None]

    a = TimingExplainer(model).attributions(X, B, num_samples=8, num_segments=0)
    alphas = np.arange(8) / 8
    grads = np.mean([2 * (B + al * (X - B)) * W for al in alphas], axis=0)
    np.testing.assert_allclose(a, grads * (X - B), rtol=1e-4, atol=1e-5)


def test_padding_gets_exactly_zero():
    real = np.ones((len(X), T), bool)
    real[:, 12:] = False
    a = TimingExplainer(linear).attributions(X, seed=0, padding_mask=real, **SEGMENTS)
    assert (a[:, 12:] == 0).all() and (a[:, :12] != 0).any()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(num_samples=0), ValueError, "num_samples"),
        (dict(num_segments=-1), ValueError, "num_segments"),
        (dict(max_seg_len=T + 1), ValueError, "max_seg_len"),
        (dict(min_seg_len=5, max_seg_len=3), ValueError, "max_seg_len"),
        (dict(normalize="mean"), ValueError, "normalize"),
        (dict(baseline=np.zeros((2, T, F))), ValueError, "baseline"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(num_segments=1.5), TypeError, "num_segments"),
    ],
)
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        TimingExplainer(linear).attributions(X, **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="N, T, F"):
        TimingExplainer(lambda b: tf.reduce_sum(b, 1, keepdims=True)).attributions(X[:, :, 0])
    with pytest.raises(ValueError, match="inputs"):
        TimingExplainer(linear).attributions(np.full((2, T, F), np.inf, np.float32))


def test_batch_job_method_table_runs_timing_as_the_explainer_does():
    import keras

    from tf_tsexplain.jobs.explainer import JobExplainer
    from tf_tsexplain.jobs.methods import check_method

    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Flatten(), keras.layers.Dense(1, activation="tanh")]
    )
    job = JobExplainer(model, method="timing", seed=3, num_samples=10, num_segments=2)
    out = job.explain({"inputs": X})
    direct = TimingExplainer(model).attributions(
        X, seed=3, num_samples=10, num_segments=2, output_indices=0
    )
    np.testing.assert_allclose(out["attributions"]["inputs"], direct, rtol=1e-5, atol=1e-7)
    assert np.isnan(out["approximation_error"]).all()  # no completeness claimed
    check_method("contralsp", {"n_epoch": 5, "sigma": 0.8})
    with pytest.raises(TypeError, match="num_segments"):
        check_method("contralsp", {"num_segments": 5})


def test_default_segments_scale_with_the_features():
    from tf_tsexplain.timing import default_num_segments

    # the reference's 50 segments on 31 features, the same density for other F
    assert [default_num_segments(f) for f in (1, 3, 31, 62)] == [2, 5, 50, 100]
    explainer = TimingExplainer(reads_one_cell)
    by_default = explainer.attributions(X, seed=5, num_samples=10)
    explicit = explainer.attributions(X, seed=5, num_samples=10, num_segments=5)
    np.testing.assert_array_equal(by_default, explicit)
    free = explainer.free_cells(len(X), T, F, num_samples=10, seed=5)
    np.testing.assert_array_equal(
        free, explainer.free_cells(len(X), T, F, num_samples=10, num_segments=5, seed=5)
    )
    assert free.mean() > 0.1  # cells do move: 5 segments leave many of the 48 free
