"""Base attribution methods against numpy references on models with known answers."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    Saliency,
    SmoothGrad,
)

T, F, C = 5, 3, 2
RNG = np.random.default_rng(0)
W = RNG.normal(size=(C, T, F))  # one weight map per output
X = RNG.normal(size=(4, T, F)).astype(np.float32)


def linear(x):
    """Outputs (N, C): f_c(x) = sum(W_c * x) + c."""
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    return tf.matmul(flat, tf.constant(W.reshape(C, -1).T, flat.dtype)) + 0.5


def linear_np(x):
    return np.einsum("ntf,ctf->nc", x.astype(np.float64), W) + 0.5


A = RNG.normal(size=(T, F))


def quadratic(x):
    """One output per row: sum(A * x^2) + x[0, 0] * x[1, 1] (gradients depend on x)."""
    a = tf.constant(A, x.dtype)
    return tf.reduce_sum(a * x * x, axis=[1, 2]) + x[:, 0, 0] * x[:, 1, 1]


def quadratic_np(x):
    x = x.astype(np.float64)
    return (A * x * x).sum((1, 2)) + x[:, 0, 0] * x[:, 1, 1]


def quadratic_grad(x):
    g = 2 * A * x.astype(np.float64)
    g[:, 0, 0] += x[:, 1, 1]
    g[:, 1, 1] += x[:, 0, 0]
    return g


def test_saliency_is_the_weights_of_the_explained_output():
    sal = Saliency(linear)
    np.testing.assert_allclose(
        sal.attributions(X, output_indices=1), np.broadcast_to(W[1], X.shape), rtol=1e-6
    )
    per_input = sal.attributions(X, output_indices=[0, 1, 1, 0], batch_size=3)
    for n, c in enumerate([0, 1, 1, 0]):
        np.testing.assert_allclose(per_input[n], W[c], rtol=1e-6)
    every = sal.attributions(X)  # None on a 2-output model: leading class axis
    assert every.shape == (C,) + X.shape and every.dtype == np.float32
    np.testing.assert_allclose(every[0, 2], W[0], rtol=1e-6)
    np.testing.assert_allclose(
        Saliency(linear, absolute=True).attributions(X, output_indices=0)[0],
        np.abs(W[0]),
        rtol=1e-6,
    )


def test_gradient_methods_on_a_nonlinear_model_and_batch_size_invariance():
    ref = quadratic_grad(X)
    np.testing.assert_allclose(Saliency(quadratic).attributions(X, batch_size=3), ref, rtol=1e-5)
    np.testing.assert_allclose(
        InputXGradient(quadratic).attributions(X, batch_size=1), X * ref, rtol=1e-5, atol=1e-6
    )


def test_smoothgrad_matches_numpy_noise_average():
    s, level, seed = 7, 0.2, 3
    smooth = SmoothGrad(quadratic)
    got = smooth.attributions(X, num_samples=s, noise_level=level, seed=seed, batch_size=5)
    # drawn time step by time step (so shorter sequences' draws are a prefix)
    z = np.random.default_rng(seed).standard_normal((T, s, F)).astype(np.float32)
    z = z.transpose(1, 0, 2)
    flat = X.reshape(len(X), -1)
    sigma = level * (flat.max(1) - flat.min(1))
    noisy = X[:, None] + sigma[:, None, None, None] * z[None]  # (N, S, T, F)
    ref = quadratic_grad(noisy.reshape(-1, T, F)).reshape(len(X), s, T, F).mean(1)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    again = smooth.attributions(X, num_samples=s, noise_level=level, seed=seed, batch_size=64)
    np.testing.assert_allclose(got, again, rtol=1e-6)
    assert not np.allclose(got, quadratic_grad(X), atol=1e-3)  # the noise did something
    absolute = SmoothGrad(quadratic, absolute=True).attributions(
        X, num_samples=s, noise_level=level, seed=seed
    )
    ref_abs = np.abs(quadratic_grad(noisy.reshape(-1, T, F))).reshape(len(X), s, T, F).mean(1)
    np.testing.assert_allclose(absolute, ref_abs, rtol=1e-4, atol=1e-5)
    # no noise: plain gradients
    np.testing.assert_allclose(
        smooth.attributions(X, num_samples=2, noise_level=0.0), quadratic_grad(X), rtol=1e-5
    )


def test_smoothgrad_absolute_noise_scale():
    s, seed = 5, 4
    smooth = SmoothGrad(quadratic)
    z = np.random.default_rng(seed).standard_normal((T, s, F)).astype(np.float32)
    z = z.transpose(1, 0, 2)  # time-major draws
    for stdevs in (0.3, np.array([0.1, 0.0, 0.5, 1.0])):
        got = smooth.attributions(X, num_samples=s, stdevs=stdevs, seed=seed, batch_size=6)
        sigma = np.broadcast_to(np.asarray(stdevs, np.float64), (len(X),))
        noisy = X[:, None] + sigma[:, None, None, None] * z[None]
        ref = quadratic_grad(noisy.reshape(-1, T, F)).reshape(len(X), s, T, F).mean(1)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    # an input's relative scale, given as an absolute one, reproduces noise_level
    level = smooth.attributions(X, num_samples=s, noise_level=0.2, seed=seed)
    flat = X.reshape(len(X), -1)
    np.testing.assert_allclose(smooth.noise_stdevs(X, 0.2), 0.2 * (flat.max(1) - flat.min(1)))
    absolute = smooth.attributions(X, num_samples=s, stdevs=smooth.noise_stdevs(X, 0.2), seed=seed)
    np.testing.assert_allclose(level, absolute, rtol=1e-6)
    default = smooth.attributions(X, num_samples=s, seed=seed)  # noise_level 0.15
    np.testing.assert_allclose(
        default, smooth.attributions(X, num_samples=s, noise_level=0.15, seed=seed), rtol=1e-6
    )
    with pytest.raises(ValueError, match="not both"):
        smooth.attributions(X, noise_level=0.1, stdevs=0.1)
    with pytest.raises(ValueError, match=r"one value per input, got shape \(3,\)"):
        smooth.attributions(X, stdevs=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="`stdevs` must be finite numbers >= 0"):
        smooth.attributions(X, stdevs=-0.1)


def test_occlusion_single_cells_are_exact_differences():
    got = Occlusion(quadratic).attributions(X, baseline=0.5, batch_size=7)
    ref = np.empty_like(got, dtype=np.float64)
    for t in range(T):
        for f in range(F):
            occluded = X.copy()
            occluded[:, t, f] = 0.5
            ref[:, t, f] = quadratic_np(X) - quadratic_np(occluded)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    # linear model: W * (x - b)
    lin = Occlusion(linear).attributions(X, baseline=0.0, output_indices=1)
    np.testing.assert_allclose(lin, W[1] * X, rtol=1e-4, atol=1e-5)


def test_occlusion_windows_average_over_covering_windows():
    window, strides = (2, 2), (1, 2)
    baseline = RNG.normal(size=(T, F)).astype(np.float32)
    got = Occlusion(quadratic).attributions(X, baseline, window=window, strides=strides)
    total = np.zeros(X.shape)
    count = np.zeros((T, F))
    for t0 in range(0, T - 1, 1):
        for f0 in range(0, F - 1, 2):  # F = 3, window 2, stride 2: start 0 only
            occluded = X.copy()
            occluded[:, t0 : t0 + 2, f0 : f0 + 2] = baseline[t0 : t0 + 2, f0 : f0 + 2]
            drop = quadratic_np(X) - quadratic_np(occluded)
            total[:, t0 : t0 + 2, f0 : f0 + 2] += drop[:, None, None]
            count[t0 : t0 + 2, f0 : f0 + 2] += 1
    ref = total / np.maximum(count, 1)
    assert (count[:, 2] == 0).all() and np.all(got[:, :, 2] == 0)  # never covered
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_feature_ablation_with_groups():
    groups = np.array([[0, 1, 0]])  # features 0 and 2 together, over all steps
    got = FeatureAblation(linear).attributions(
        X, baseline=-1.0, feature_mask=groups, output_indices=0
    )
    contrib = W[0] * (X - (-1.0))  # linear: drop = sum of the group's contributions
    g0 = contrib[:, :, [0, 2]].sum((1, 2))
    g1 = contrib[:, :, 1].sum(1)
    np.testing.assert_allclose(got[:, :, 0], np.repeat(g0[:, None], T, 1), rtol=1e-4)
    np.testing.assert_allclose(got[:, 3, 2], g0, rtol=1e-4)
    np.testing.assert_allclose(got[:, :, 1], np.repeat(g1[:, None], T, 1), rtol=1e-4)
    # default: each cell alone, equal to cell occlusion
    np.testing.assert_allclose(
        FeatureAblation(quadratic).attributions(X, 0.5),
        Occlusion(quadratic).attributions(X, 0.5),
        rtol=1e-6,
    )


def test_feature_permutation_against_numpy():
    ids = np.array([[0, 1, 2]])  # one group per feature
    seed = 5
    got = FeaturePermutation(linear).attributions(X, feature_mask=ids, output_indices=1, seed=seed)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(X)) for _ in range(F)]
    for f, p in enumerate(perms):
        ref = (W[1, :, f] * (X[:, :, f] - X[p, :, f])).sum(1)
        np.testing.assert_allclose(got[:, 0, f], ref, rtol=1e-4, atol=1e-5)
        assert np.all(got[:, :, f] == got[:, :1, f])


def test_base_method_errors():
    with pytest.raises(ValueError, match="`inputs` must have rank >= 2"):
        Saliency(linear).attributions(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="`inputs` must hold floating point"):
        Saliency(linear).attributions(np.zeros((2, T, F), int))
    with pytest.raises(ValueError, match="`noise_level` must be >= 0"):
        SmoothGrad(quadratic).attributions(X, noise_level=-1.0)
    with pytest.raises(ValueError, match="`num_samples` must be >= 1"):
        SmoothGrad(quadratic).attributions(X, num_samples=0)
    with pytest.raises(ValueError, match="`window` .* larger than the input on axis 1"):
        Occlusion(quadratic).attributions(X, window=(T + 1, 1))
    with pytest.raises(ValueError, match="`window` must have one entry per non-batch axis"):
        Occlusion(quadratic).attributions(X, window=(1, 1, 1))
    with pytest.raises(ValueError, match="`baseline` must be a number, an array broadcastable"):
        Occlusion(quadratic).attributions(X, baseline=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="`feature_mask` must be broadcastable"):
        FeatureAblation(quadratic).attributions(X, feature_mask=np.zeros((2, 2), int))
    with pytest.raises(TypeError, match="`feature_mask` must hold integer group ids"):
        FeatureAblation(quadratic).attributions(X, feature_mask=np.zeros((T, F)))
    with pytest.raises(ValueError, match="needs at least 2 rows"):
        FeaturePermutation(quadratic).attributions(X[:1])
    with pytest.raises(ValueError, match="out of range"):
        Saliency(linear).attributions(X, output_indices=C)


def test_keras_lstm_saliency_matches_a_direct_tape(lstm_model, lstm_data):
    x, _ = lstm_data
    got = Saliency(lstm_model).attributions(x, batch_size=3)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(lstm_model(xt, training=False))
    np.testing.assert_allclose(got, tape.gradient(y, xt).numpy(), rtol=1e-4, atol=1e-6)
    occ = Occlusion(lstm_model).attributions(x, window=(6, 1))  # whole features
    base = lstm_model(x).numpy()[:, 0]
    blank = x.copy()
    blank[:, :, 1] = 0
    np.testing.assert_allclose(occ[:, 0, 1], base - lstm_model(blank).numpy()[:, 0], atol=1e-5)
