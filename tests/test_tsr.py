"""Temporal saliency rescaling: known relevant steps, batching, variants, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import PathExplainerTF, Saliency, TemporalSaliencyRescaling

T, F = 10, 4
RELEVANT = [2, 5, 6]
WEIGHTS = np.random.default_rng(1).uniform(0.5, 2.0, size=F)


def white_box(x):
    """Depends only on the steps in RELEVANT: sum_{t in RELEVANT, f} w_f x_tf^2."""
    w = tf.constant(WEIGHTS, x.dtype)
    picked = tf.gather(x, RELEVANT, axis=1)
    return tf.reduce_sum(w * picked * picked, axis=[1, 2])


def min_max(v, axis):
    low = v.min(axis, keepdims=True)
    span = v.max(axis, keepdims=True) - low
    return (v - low) / np.where(span > 0, span, 1)


def test_white_box_selects_exactly_the_relevant_steps():
    x = np.random.default_rng(0).normal(size=(3, T, F)).astype(np.float32)
    tsr = TemporalSaliencyRescaling(Saliency(white_box))
    rel = tsr.attributions(x)
    assert rel.shape == x.shape and rel.dtype == np.float32 and (rel >= 0).all()
    nonzero_steps = np.nonzero(np.abs(rel).sum(2).sum(0))[0]
    assert nonzero_steps.tolist() == RELEVANT
    # kept steps = RELEVANT exactly: 1 + T + 3 * F evaluations per input
    assert tsr.last_evaluations == 3 * (1 + T + len(RELEVANT) * F)
    # closed form: gradient 2 w x on relevant steps; masking (to 0) removes it
    g = np.zeros(x.shape)
    g[:, RELEVANT] = np.abs(2 * WEIGHTS * x[:, RELEVANT])
    time_rel = min_max(g.sum(2), 1)
    ref = time_rel[:, :, None] * min_max(g, 2)
    np.testing.assert_allclose(rel, ref, rtol=1e-5, atol=1e-6)


def test_below_threshold_constant_and_variants():
    x = np.random.default_rng(3).normal(size=(2, T, F)).astype(np.float32)
    g = np.zeros(x.shape)
    g[:, RELEVANT] = np.abs(2 * WEIGHTS * x[:, RELEVANT])
    time_rel = min_max(g.sum(2), 1)
    groups = [[0, 2], [1], [3]]
    grouped = TemporalSaliencyRescaling(
        Saliency(white_box), variant="feature_grouping", feature_groups=groups
    ).attributions(x)
    scores = np.stack([g[:, :, grp].sum(2) for grp in groups], 2)  # (N, T, G)
    per_group = min_max(scores, 2)
    ref = time_rel[:, :, None] * per_group[:, :, [0, 1, 0, 2]]
    np.testing.assert_allclose(grouped, ref, rtol=1e-5, atol=1e-6)
    temporal = TemporalSaliencyRescaling(Saliency(white_box), variant="temporal_feature")
    out = temporal.attributions(x)
    per_feature = min_max(g.sum(1), 1)  # masking feature f at every step
    np.testing.assert_allclose(out, time_rel[:, :, None] * per_feature[:, None], atol=1e-6)
    assert temporal.last_evaluations == 2 * (1 + T + F)
    # a threshold keeping fewer steps: the others get time_rel * below_threshold
    strict = TemporalSaliencyRescaling(Saliency(white_box), threshold=0.85, below_threshold=0.3)
    rel = strict.attributions(x)
    for n in range(2):
        cutoff = np.quantile(time_rel[n], 0.85)
        dropped = [t for t in RELEVANT if time_rel[n, t] <= cutoff]
        assert dropped  # the 0.85 quantile lies among the relevant steps
        expected = np.repeat(0.3 * time_rel[n, dropped, None], F, axis=1)
        np.testing.assert_allclose(rel[n, dropped], expected, atol=1e-6)


def one_copy_at_a_time(explainer, x, mask_value, threshold, below, **kwargs):
    """TSR written plainly: one base-method call per masked copy of one input."""
    out = np.zeros(x.shape)
    for n in range(len(x)):
        per_input = {
            k: (v[n : n + 1] if k in ("baseline", "output_indices") or np.ndim(v) == 1 else v)
            for k, v in kwargs.items()
        }
        xn = x[n : n + 1]
        ref = explainer.attributions(xn, **per_input)
        score = np.zeros(T)
        for t in range(T):
            c = xn.copy()
            c[:, t, :] = mask_value
            score[t] = np.abs(ref - explainer.attributions(c, **per_input)).sum()
        time_rel = min_max(score, 0)
        cutoff = np.quantile(time_rel, threshold)
        for t in range(T):
            feat = np.full(F, below)
            if time_rel[t] > cutoff:
                s = np.zeros(F)
                for f in range(F):
                    c = xn.copy()
                    c[:, t, f] = mask_value
                    s[f] = np.abs(ref - explainer.attributions(c, **per_input)).sum()
                feat = min_max(s, 0)
            out[n, t] = time_rel[t] * feat
    return out


def test_batched_tsr_equals_one_copy_at_a_time_with_integrated_gradients():
    import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(6), keras.layers.Dense(3, activation="softmax")]
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, T, F)).astype(np.float32)
    base = rng.normal(size=(3, T, F)).astype(np.float32) * 0.1  # one baseline per input
    targets = np.array([0, 2, 1])  # one target per input
    ig = PathExplainerTF(model)
    kwargs = dict(use_expectation=False, num_samples=6, output_indices=targets, batch_size=500)
    tsr = TemporalSaliencyRescaling(ig, mask_value=0.25, max_copies=17)
    batched = tsr.attributions(x, base, **kwargs)
    ref = one_copy_at_a_time(ig, x, 0.25, 0.55, 0.1, baseline=base, **kwargs)
    np.testing.assert_allclose(batched, ref, rtol=1e-4, atol=1e-5)
    assert (
        tsr.last_evaluations == 3 * tsr.evaluations_per_input(T, F) == 3 * (1 + T + 5 * F)
    )  # K = 5 of 10 kept


def test_first_cell_mask_value_and_counting_calls():
    calls = []

    class Counting:
        def attributions(self, inputs, output_indices=None):
            calls.append(len(inputs))
            return Saliency(white_box).attributions(inputs)

    x = np.random.default_rng(6).normal(size=(5, T, F)).astype(np.float32)
    tsr = TemporalSaliencyRescaling(Counting(), mask_value="first_cell", max_copies=1000)
    rel = tsr.attributions(x, output_indices=None)
    assert sum(calls) == tsr.last_evaluations == 5 * (1 + T + 3 * F)
    assert len(calls) == 3  # originals, time copies, cell copies: batched, not per copy
    assert np.nonzero(rel.sum((0, 2)))[0].tolist() == RELEVANT


def test_bad_input():
    class NoAttributions:
        pass

    with pytest.raises(TypeError, match="`explainer` must have an `attributions"):
        TemporalSaliencyRescaling(NoAttributions())
    sal = Saliency(white_box)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="`threshold` must be in \\[0, 1\\)"):
            TemporalSaliencyRescaling(sal, threshold=bad)
    with pytest.raises(ValueError, match="`threshold` must be finite"):
        TemporalSaliencyRescaling(sal, threshold=float("nan"))
    with pytest.raises(TypeError, match="`threshold` must be a number. Received: threshold='0.5'"):
        TemporalSaliencyRescaling(sal, threshold="0.5")
    with pytest.raises(ValueError, match="`variant` must be one of"):
        TemporalSaliencyRescaling(sal, variant="two_step")
    with pytest.raises(ValueError, match="needs `feature_groups`"):
        TemporalSaliencyRescaling(sal, variant="feature_grouping")
    with pytest.raises(ValueError, match="more than one group"):
        TemporalSaliencyRescaling(sal, variant="feature_grouping", feature_groups=[[0, 1], [1]])
    with pytest.raises(ValueError, match="`mask_value` must be one of \\('first_cell',\\)"):
        TemporalSaliencyRescaling(sal, mask_value="mean")

    calls = []

    class Counting:
        def attributions(self, inputs):
            calls.append(1)
            return np.zeros_like(inputs)

    x = np.zeros((2, T, F), np.float32)
    partial = TemporalSaliencyRescaling(
        Counting(), variant="feature_grouping", feature_groups=[[0, 1], [3]]
    )
    with pytest.raises(ValueError, match=r"must partition the 4 features.*missing \[2\]"):
        partial.attributions(x)
    too_many = TemporalSaliencyRescaling(
        Counting(), variant="temporal_feature", feature_groups=[[0, 1, 2, 3, 4]]
    )
    with pytest.raises(ValueError, match=r"out of range \[4\]"):
        too_many.attributions(x)
    with pytest.raises(ValueError, match=r"`inputs` must be sequences of shape \(N, T, F\)"):
        TemporalSaliencyRescaling(Counting()).attributions(np.zeros((2, T), np.float32))
    assert calls == []  # all raised before any base-method call

    class Wrong:
        def attributions(self, inputs):
            return np.zeros((2,) + inputs.shape)

    with pytest.raises(ValueError, match="TSR needs one map per input"):
        TemporalSaliencyRescaling(Wrong()).attributions(x)


def two_output_white_box(x):
    """Outputs (N, 2) using only the steps in RELEVANT: the quadratic white box and a
    linear one, so that the explained output changes the maps."""
    w = tf.constant(WEIGHTS, x.dtype)
    picked = tf.gather(x, RELEVANT, axis=1)
    return tf.stack(
        [tf.reduce_sum(w * picked * picked, axis=[1, 2]), tf.reduce_sum(w * picked, axis=[1, 2])],
        axis=1,
    )


def test_explainer_arguments_are_bound_by_name():
    x = np.random.default_rng(7).normal(size=(3, T, F)).astype(np.float32)
    tsr = TemporalSaliencyRescaling(Saliency(two_output_white_box))
    # Saliency.attributions(inputs, *, output_indices, ...): keyword-only, per input
    keyword = tsr.attributions(x, output_indices=[0, 1, 0])
    assert not np.allclose(keyword[1], tsr.attributions(x, output_indices=[0, 0, 0])[1])
    with pytest.raises(TypeError, match="at most 0 positional argument"):
        tsr.attributions(x, [0, 1, 0])
    # "predicted" is resolved once on the unmasked inputs: each copy explains its
    # input's predicted class, not the class predicted for the masked copy
    predicted = np.argmax(two_output_white_box(tf.constant(x)).numpy(), axis=1)
    np.testing.assert_array_equal(
        tsr.attributions(x, output_indices="predicted"),
        tsr.attributions(x, output_indices=predicted),
    )
    # PathExplainerTF.attributions(inputs, baseline, batch_size, num_samples,
    # use_expectation, output_indices): use_expectation=False given by position
    # makes the (N, T, F) baseline one per input, as with keywords
    ig = PathExplainerTF(two_output_white_box)
    base = np.random.default_rng(8).normal(size=x.shape).astype(np.float32) * 0.1
    tsr_ig = TemporalSaliencyRescaling(ig)
    by_position = tsr_ig.attributions(x, base, 500, 4, False, [1, 0, 1])
    by_keyword = tsr_ig.attributions(
        x,
        baseline=base,
        batch_size=500,
        num_samples=4,
        use_expectation=False,
        output_indices=[1, 0, 1],
    )
    np.testing.assert_allclose(by_position, by_keyword, rtol=1e-6, atol=1e-7)
    ref = one_copy_at_a_time(
        ig,
        x,
        0.0,
        0.55,
        0.1,
        baseline=base,
        batch_size=500,
        num_samples=4,
        use_expectation=False,
        output_indices=np.array([1, 0, 1]),
    )
    np.testing.assert_allclose(by_keyword, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="given by position and by keyword"):
        tsr_ig.attributions(x, base, baseline=base)


def test_smoothgrad_under_tsr_keeps_each_inputs_noise_scale():
    from tf_tsexplain import SmoothGrad

    x = np.random.default_rng(9).normal(size=(3, T, F)).astype(np.float32)
    x[:, 8, 1] = 12.0  # a spike on an irrelevant step holds every input's max
    sg = SmoothGrad(white_box)
    kwargs = dict(num_samples=16, noise_level=0.15, seed=0)
    rel = TemporalSaliencyRescaling(sg).attributions(x, **kwargs)
    outside = [t for t in range(T) if t not in RELEVANT]
    # masking step 8 (or any irrelevant step) leaves each input's noise, hence its
    # map, unchanged: no relevance outside the relevant steps
    assert np.abs(rel[:, outside]).max() < 1e-6
    assert np.nonzero(rel.sum((0, 2)))[0].tolist() == RELEVANT
    # the same with an absolute noise scale, shared or one per input
    for stdevs in (0.5, np.array([0.2, 0.5, 1.0])):
        rel = TemporalSaliencyRescaling(sg).attributions(x, num_samples=16, stdevs=stdevs, seed=0)
        assert np.abs(rel[:, outside]).max() < 1e-6
        ref = one_copy_at_a_time(sg, x, 0.0, 0.55, 0.1, num_samples=16, seed=0, stdevs=stdevs)
        np.testing.assert_allclose(rel, ref, rtol=1e-4, atol=1e-6)
