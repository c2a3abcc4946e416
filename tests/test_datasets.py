"""Synthetic datasets with ground truth: box datasets, backgrounds, rare feature / time,
the white box and State."""

import numpy as np
import pytest

from tf_tsexplain.datasets import (
    BACKGROUNDS,
    BOX_DATASETS,
    SWITCH_FEATURE_MEANS,
    SWITCH_FEATURE_TRANSITIONS,
    arma_features,
    background_process,
    box_dataset,
    rare_feature,
    rare_time,
    saliency_white_box,
    sequence_regression,
    state_data,
    switch_feature_data,
)

FIXED = {  # (time start, time length, feature start, feature length) at T = F = 50
    "Middle": (10, 30, 10, 30),
    "SmallMiddle": (18, 14, 18, 14),
    "RareTime": (22, 6, 5, 40),
    "RareFeature": (5, 40, 22, 6),
}


def box_of(mask):
    cells = np.argwhere(mask)
    (t0, f0), (t1, f1) = cells.min(0), cells.max(0)
    assert mask.sum() == (t1 - t0 + 1) * (f1 - f0 + 1)  # a full rectangle
    return int(t0), int(t1 - t0 + 1), int(f0), int(f1 - f0 + 1)


@pytest.mark.parametrize("name", BOX_DATASETS)
def test_box_datasets_put_the_box_where_they_say(name):
    x, y, truth = box_dataset(name, n_samples=40, seed=3)
    assert x.shape == truth.shape == (40, 50, 50) and x.dtype == np.float32
    assert set(np.unique(y)) == {0, 1} and y.sum() == 20
    noise = box_dataset(name, n_samples=40, seed=3, shift=1e-3)[0]
    boxes = [box_of(truth[i]) for i in range(40)]
    if name in FIXED:
        assert all(b == FIXED[name] for b in boxes)
    elif name.startswith("Moving_"):
        size = FIXED[name.removeprefix("Moving_")]
        assert all((b[1], b[3]) == (size[1], size[3]) for b in boxes)
        assert len({(b[0], b[2]) for b in boxes}) > 10  # the box moves
    else:  # positional: the place encodes the label, the shift is always +
        for i, b in enumerate(boxes):
            start = b[0] if name == "PositionalTime" else b[2]
            assert start == (5 if y[i] == 1 else 35)
    # the box cells, and only they, were shifted by +-1 for class 1 / 0
    shifted = x.astype(np.float64) - noise
    sign = np.where(y == 1, 1.0, -1.0)[:, None, None]
    if name.startswith("Positional"):
        sign = np.ones_like(sign)
    np.testing.assert_allclose(shifted, np.where(truth, sign * (1 - 1e-3), 0), atol=1e-5)


def test_backgrounds_are_seeded_unit_scale_and_structured():
    for name in BACKGROUNDS:
        x = background_process(name, 64, 50, 8, seed=1)
        assert x.shape == (64, 50, 8) and np.isfinite(x).all()
        assert abs(x.mean()) < 0.15 and 0.8 < x.std() < 1.2, name
        np.testing.assert_array_equal(x, background_process(name, 64, 50, 8, seed=1))
        assert not np.allclose(x, background_process(name, 64, 50, 8, seed=2))
    lag1 = {
        name: np.corrcoef(
            background_process(name, 200, 50, 4, 0)[:, :-1].ravel(),
            background_process(name, 200, 50, 4, 0)[:, 1:].ravel(),
        )[0, 1]
        for name in BACKGROUNDS
    }
    assert abs(lag1["gaussian"]) < 0.05 and 0.85 < lag1["ar"] < 0.95 and lag1["gp"] > 0.9
    with pytest.raises(ValueError, match="`background` must be one of"):
        box_dataset("Middle", 4, background="brownian")
    with pytest.raises(ValueError, match="`name` must be one of"):
        box_dataset("Middel", 4)


def test_rare_datasets_and_white_box():
    x, truth = rare_feature(n_samples=4, n_steps=20, n_features=10, n_salient=3, seed=0)
    assert x.shape == truth.shape == (4, 20, 10) and x.dtype == np.float32
    assert (truth.sum(axis=(1, 2)) == 3 * 10).all() and truth[:, 5:15].any(axis=1).sum() == 12
    again, truth_again = rare_feature(n_samples=4, n_steps=20, n_features=10, n_salient=3, seed=0)
    np.testing.assert_array_equal(x, again)
    np.testing.assert_array_equal(truth, truth_again)
    assert not np.allclose(x, rare_feature(4, 20, 10, 3, seed=1)[0])
    xt, tt = rare_time(n_samples=4, n_steps=20, n_features=8, n_salient=5, seed=0)
    steps = tt.any(axis=2)
    assert (steps.sum(1) == 5).all() and (tt.any(axis=1)[:, 2:6]).all()
    box = saliency_white_box(truth)
    rows = np.concatenate([x, x[:2]])  # rows 4, 5 are series 0, 1 again
    out = np.asarray(box(rows))
    expected = (truth[np.arange(6) % 4] * rows**2).sum(-1)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    # the ARMA recursion: 2 x_t + .5 x_{t-1} + .2 x_{t-2} + .1 x_{t-3} = 2 e_t
    rng = np.random.default_rng(7)
    a = arma_features(1, 6, 1, rng)[0, :, 0]
    e = np.random.default_rng(7).standard_normal((1, 6, 1))[0, :, 0]
    assert a[3] == pytest.approx(e[3] - (0.5 * a[2] + 0.2 * a[1] + 0.1 * a[0]) / 2)


def test_state_data():
    x, y, truth, states = state_data(n_samples=20, n_steps=50, seed=0)
    assert x.shape == truth.shape == (20, 50, 3) and y.shape == states.shape == (20, 50)
    assert (truth.sum(-1) == 1).all() and not truth[..., 0].any()
    np.testing.assert_array_equal(truth[..., 2], states == 1)
    assert set(np.unique(y)) == {0, 1} and 0 < (np.diff(states, axis=1) != 0).mean() < 0.2
    np.testing.assert_array_equal(x, state_data(n_samples=20, n_steps=50, seed=0)[0])


def test_sequence_regression_target_and_truth():
    x, y, truth = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    assert x.shape == truth.shape == (50, 12, 3) and x.dtype == np.float32
    # w = 2, t0 = 4, t1 = 8
    np.testing.assert_allclose(y, x[:, 4:6, 0].mean(1) - x[:, 8:10, 2].mean(1), rtol=1e-5)
    assert truth[0, 4:6, 0].all() and truth[0, 8:10, 2].all() and truth.sum() == 50 * 4
    again, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    np.testing.assert_array_equal(x, again)
    other, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=5)
    assert not np.allclose(x, other)
    with pytest.raises(ValueError, match="`n_steps` must be >= 6"):
        sequence_regression(10, n_steps=4)


def test_dynamask_state_data_follows_its_definition():
    from tf_tsexplain.datasets import (
        DYNAMASK_STATE_MEANS,
        dynamask_state_covariances,
        dynamask_state_data,
    )

    x, y, truth, states = dynamask_state_data(600, 200, standardize=False, seed=1)
    assert x.shape == truth.shape == (600, 200, 3) and y.shape == states.shape == (600, 200)
    # switch rates: 0 -> 1 at 0.05 whatever the duration; 1 stays with 0.95 - d / 500,
    # d = steps already stayed (counted from an observed switch into the state)
    prev, nxt = states[:, :-1], states[:, 1:]
    from_zero = prev == 0
    rate = (nxt[from_zero] == 1).mean()
    assert abs(rate - 0.05) < 4 * np.sqrt(0.05 * 0.95 / from_zero.sum())
    entered = np.full(states.shape, -1)
    for step in range(1, 200):
        switched = states[:, step] != states[:, step - 1]
        entered[:, step] = np.where(switched, step, entered[:, step - 1])
    d = np.arange(199)[None, :] - entered[:, :-1]
    observed = (entered[:, :-1] >= 0) & (prev == 1)
    for low, high in ((0, 5), (5, 12), (12, 40)):
        cells = observed & (d >= low) & (d < high)
        expected = (0.95 - d[cells] / 500).mean()
        stay = (nxt[cells] == 1).mean()
        assert cells.sum() > 300 and abs(stay - expected) < 4 * np.sqrt(0.05 / cells.sum())
    assert (d[observed] > 20).any()  # long stays in state 1 happen
    # means and covariances by state, within sampling error
    cov = dynamask_state_covariances()
    assert cov[0, 0, 1] == cov[1, 0, 2] == 0.01 and cov[0, 0, 2] == 0 and cov[0, 1, 1] == 0.801
    for state in (0, 1):
        cells = x[states == state]
        se = np.sqrt(0.801 / len(cells))
        np.testing.assert_allclose(cells.mean(0), DYNAMASK_STATE_MEANS[state], atol=5 * se)
        np.testing.assert_allclose(np.cov(cells.T), cov[state], atol=0.03)
    # truth: the important feature (1 in state 0, 2 in state 1) at every step
    np.testing.assert_array_equal(truth.argmax(-1), 1 + states)
    assert (truth.sum(-1) == 1).all()
    # labels: Bernoulli(sigmoid(2 x[important])) of the raw features
    drive = np.where(states == 0, x[..., 1], x[..., 2])
    p = 1 / (1 + np.exp(-2 * drive))
    assert abs(y.mean() - p.mean()) < 4 * np.sqrt(0.25 / y.size)
    high = p > 0.9
    assert y[high].mean() > 0.9 and y[p < 0.1].mean() < 0.1
    # standardised with the statistics of the first n_train series
    xs = dynamask_state_data(600, 200, n_train=400, seed=1)[0]
    train = x[:400].reshape(-1, 3)
    np.testing.assert_allclose(xs, (x - train.mean(0)) / train.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xs[:400].reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xs[:400].reshape(-1, 3).std(0), 1, atol=1e-4)
    with pytest.raises(ValueError, match="`n_train` must be <="):
        dynamask_state_data(10, 20, n_train=11)


# ------------------------------------------------------------------ Switch-Feature
@pytest.fixture(scope="module")
def switch():
    return switch_feature_data(1000, 100, seed=0)


def test_switch_feature_shapes_and_truth_follow_the_state(switch):
    x, y, truth, states = switch
    assert x.shape == truth.shape == (1000, 100, 3) and x.dtype == np.float32
    assert y.shape == states.shape == (1000, 100) and set(np.unique(y)) == {0, 1}
    assert (truth.sum(axis=-1) == 1).all()  # one salient feature per step
    np.testing.assert_array_equal(np.argmax(truth, axis=-1), states)


def test_switch_feature_chain_statistics(switch):
    _, _, _, states = switch
    first = np.bincount(states[:, 0], minlength=3) / len(states)
    # the original's first state: binomial(1, 1/3), so state 2 never starts a series
    assert first[2] == 0 and abs(first[1] - 1 / 3) < 0.05
    prev, nxt = states[:, :-1].ravel(), states[:, 1:].ravel()
    counts = np.zeros((3, 3))
    np.add.at(counts, (prev, nxt), 1)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(empirical, SWITCH_FEATURE_TRANSITIONS, atol=0.01)


def test_switch_feature_values_and_labels(switch):
    x, y, _, states = switch
    for s in range(3):
        cells = x[states == s]  # (cells, 3)
        np.testing.assert_allclose(cells.mean(axis=0), SWITCH_FEATURE_MEANS[s], atol=0.02)
        np.testing.assert_allclose(cells.var(axis=0), 0.1, rtol=0.06)
    # lengthscale 0.2 steps: neighbouring steps of one run are practically independent
    same = states[:, 1:] == states[:, :-1]
    a, b = (x[:, :-1, 0] - x[:, :-1, 0].mean())[same], (x[:, 1:, 0] - x[:, 1:, 0].mean())[same]
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.8  # not a slowly varying process
    drive = np.take_along_axis(x, states[..., None], axis=-1)[..., 0]
    p = 1.0 / (1.0 + np.exp(-3.0 * drive))
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for k in range(5):
        chosen = bins == k
        assert abs(y[chosen].mean() - p[chosen].mean()) < 0.02  # Bernoulli(sigmoid(3 x))


def test_switch_feature_is_seeded_and_checks_arguments():
    a = switch_feature_data(5, 20, seed=1)
    b = switch_feature_data(5, 20, seed=1)
    c = switch_feature_data(5, 20, seed=2)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="n_samples"):
        switch_feature_data(0)
    with pytest.raises(ValueError, match="lengthscale"):
        switch_feature_data(5, 20, lengthscale=0.0)
