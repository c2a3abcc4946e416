"""ExtremalMask: white box, identity network, batched = one at a time, padding, multi-input,
bad input."""

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import metrics
from tf_tsexplain._validation import NotFittedError
from tf_tsexplain.datasets import rare_feature, saliency_white_box
from tf_tsexplain.masks import ExtremalMask, SeriesConvNet

matplotlib.use("Agg")

FAST = dict(jit_compile=False)  # tiny shapes: tracing without XLA is quicker


def shared_box(weights):
    """A white box shared by every row: per step, the sum of w * x^2."""
    w = tf.constant(np.asarray(weights, np.float32))
    return lambda batch: tf.reduce_sum(w * batch**2, axis=-1)


def away_from_zero(shape, seed):
    """Values in +-[1, 2]: under a sum-of-squares white box every salient cell matters."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1, 2, shape)).astype(np.float32)


def test_white_box_salient_cells_on_top_and_results():
    _, truth = rare_feature(n_samples=3, n_steps=12, n_features=6, n_salient=2, seed=0)
    x = away_from_zero(truth.shape, 0)
    mask = ExtremalMask(**FAST)
    with pytest.raises(NotFittedError, match="call fit"):
        _ = mask.mask_tensor
    mask.fit(x, saliency_white_box(truth), n_epoch=150, learning_rate=0.05, seed=0)
    m = mask.mask_tensor
    assert m.shape == x.shape and m.min() >= 0 and m.max() <= 1
    # the salient cells rank above every other cell, for each series
    for n in range(3):
        top = np.argsort(-m[n].ravel())[: truth[n].sum()]
        assert truth[n].ravel()[top].all()
    assert metrics.auroc(truth, m) == 1.0
    assert metrics.area_under_precision(truth, m) > 0.99
    assert np.all(mask.get_error() < 0.05)
    assert mask.replacement.shape == x.shape
    area = np.asarray(mask.keep_ratio)
    np.testing.assert_allclose(area, m.mean(axis=(1, 2)), rtol=1e-5)
    info = mask.get_information()
    assert info.shape == (3,) and (info > 0).all()
    assert mask.get_entropy().shape == (3,)
    fig, ax = mask.plot_mask(sample=1)
    assert ax.get_title().startswith("Extremal mask")
    fig.clf()


def test_identity_network_gives_the_unperturbed_prediction():
    x = np.random.default_rng(0).normal(size=(2, 8, 3)).astype(np.float32)
    f = shared_box(np.ones((8, 3)))
    mask = ExtremalMask(keras.layers.Identity(), **FAST)
    mask.fit(x, f, n_epoch=30, learning_rate=0.1)
    m, nn = mask.mask_tensor, mask.replacement
    np.testing.assert_allclose(nn, x)
    perturbed = m * x + (1 - m) * nn
    np.testing.assert_allclose(f(perturbed), f(x), rtol=1e-6)
    np.testing.assert_allclose(mask.get_error(), 0.0, atol=1e-10)
    # nothing is needed to keep the prediction, so the area penalty empties the mask
    assert m.max() < 1e-6


def test_batched_fit_equals_one_series_at_a_time():
    x, truth = rare_feature(n_samples=3, n_steps=10, n_features=5, n_salient=2, seed=1)
    f = shared_box(truth[0])
    mask = ExtremalMask(**FAST)
    settings = dict(n_epoch=25, learning_rate=0.05, seed=3)
    batched = mask.fit(x, f, **settings).mask_tensor
    errors = mask.get_error()
    chunked = mask.fit(x, f, batch_size=2, **settings).mask_tensor  # chunks of 2 and 1
    alone = np.stack([mask.fit(x[n], f, **settings).mask_tensor for n in range(3)])
    # the same fits up to float rounding (batches of other shapes round differently:
    # 6e-8 after one epoch, which Adam's normalised steps amplify over many epochs)
    for other in (chunked, alone):
        np.testing.assert_allclose(other, batched, atol=1e-4)
    assert float(mask.get_error()) == pytest.approx(errors[2], rel=1e-4)
    assert errors.max() < 0.05 and batched.min() < 0.1 and batched.max() > 0.9  # it moved
    assert not np.allclose(batched[0], batched[1], atol=1e-2)  # the series differ


def test_padding_multi_input_and_deletion():
    x, truth = rare_feature(n_samples=2, n_steps=10, n_features=4, n_salient=1, seed=2)
    pad = np.ones((2, 10), bool)
    pad[0, 7:] = False
    f = shared_box(truth[0])
    mask = ExtremalMask(area_penalty="sorted", **FAST)
    mask.fit(x, f, n_epoch=40, learning_rate=0.05, keep_ratio=0.2, padding_mask=pad)
    m = mask.mask_tensor
    assert (m[0, 7:] == 0).all() and (m[0, :7] > 0).any()  # padding: 0, as Mask reports it
    area = (m[0, :7]).mean()
    assert mask.keep_ratio[0] == pytest.approx(area, rel=1e-5)
    # padded cells (at 1) carry no information
    real_only = -np.log2(1 + mask.eps - m[0, :7].astype(np.float64)).sum()
    assert mask.get_information()[0] == pytest.approx(real_only, rel=1e-6)
    np.testing.assert_array_equal(mask.padding_mask, pad)

    # the model's own Masking layer gives the padding when padding_mask is None
    masked_model = keras.Sequential(
        [
            keras.Input((10, 4)),
            keras.layers.Masking(0.0),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
    )
    padded_x = np.where(pad[..., None], away_from_zero(x.shape, 3), 0.0).astype(np.float32)
    own = ExtremalMask(**FAST).fit(padded_x, masked_model, n_epoch=3)
    np.testing.assert_array_equal(own.padding_mask, pad)
    assert (own.mask_tensor[0, 7:] == 0).all()

    # two inputs: the sequence is explained, the static input is held fixed
    static = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    seen = []

    def two_inputs(inputs):
        seen.append(inputs["static"].shape)
        return f(inputs["seq"]) * tf.reduce_sum(inputs["static"], axis=1, keepdims=True)

    multi = ExtremalMask(**FAST).fit(
        {"seq": x, "static": static}, two_inputs, n_epoch=5, input_name="seq", seed=0
    )
    assert multi.mask_tensor.shape == x.shape and seen[-1] == (2, 2)
    # the inputs are parsed as by Mask: None picks the only sequence input
    only = ExtremalMask(**FAST).fit({"seq": x, "static": static}, two_inputs, n_epoch=5, seed=0)
    np.testing.assert_array_equal(only.mask_tensor, multi.mask_tensor)
    with pytest.raises(ValueError, match="`input_name` must be one of"):
        ExtremalMask(**FAST).fit({"seq": x, "static": static}, two_inputs, input_name="s")
    with pytest.raises(ValueError, match=r"input_name.*an index below 2"):
        ExtremalMask(**FAST).fit([x, static], lambda v: f(v[0]), input_name=2)
    with pytest.raises(ValueError, match="2 sequence inputs"):
        ExtremalMask(**FAST).fit([x, x[:, :, :2]], lambda v: f(v[0]), n_epoch=2)
    with pytest.raises(ValueError, match="not a sequence input"):
        ExtremalMask(**FAST).fit([x, static], lambda v: f(v[0]), input_name=1)

    # deletion mode: the mask marks what to replace to reach f(zeros)
    wide = away_from_zero(x.shape, 1)
    deleted = ExtremalMask(deletion_mode=True, **FAST).fit(
        wide, f, n_epoch=40, learning_rate=0.05, padding_mask=pad
    )
    np.testing.assert_allclose(deleted.target, np.zeros((2, 10)))
    assert (deleted.mask_tensor[0, 7:] == 0).all()
    assert metrics.auroc(truth[0], deleted.mask_tensor[1]) == 1.0
    assert metrics.auroc(truth[0, :7], deleted.mask_tensor[0, :7]) == 1.0


def test_bad_input_is_refused_before_the_fit():
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype(np.float32)
    f = shared_box(np.ones((6, 3)))
    with pytest.raises(TypeError, match="perturbation_network"):
        ExtremalMask(3)
    with pytest.raises(ValueError, match="area_penalty"):
        ExtremalMask(area_penalty="l2")
    with pytest.raises(ValueError, match="kernel_size"):
        SeriesConvNet(kernel_size=2)
    with pytest.raises(ValueError, match=r"shape of its input \(2, 6, 3\).*\(2, 6, 2\)"):
        ExtremalMask(keras.layers.Dense(2), **FAST).fit(x, f, n_epoch=2)
    with pytest.raises(ValueError, match="does not depend on the input"):
        ExtremalMask(lambda b: tf.zeros_like(b), **FAST).fit(x, f, n_epoch=2)
    with pytest.raises(ValueError, match="does not depend on the input"):
        ExtremalMask(lambda b: 0.0 * b + 1.0, **FAST).fit(x, f, n_epoch=2)
    with pytest.raises(TypeError, match="`learning_rate` must be a number"):
        ExtremalMask(**FAST).fit(x, f, learning_rate="0.1")
    with pytest.raises(ValueError, match="`padding_mask` must have shape"):
        ExtremalMask(**FAST).fit(x, f, padding_mask=np.ones((2, 5), bool))
    total = float(np.sum(x**2, axis=(1, 2)).min())

    def fragile(batch):  # finite on X, NaN once the perturbation shrinks the series
        return tf.math.log(tf.reduce_sum(batch**2, axis=(1, 2)) - 0.9 * total)[:, None]

    with pytest.raises(ValueError, match="NaN or Inf at epoch 1 of 5"):
        ExtremalMask(**FAST).fit(x, fragile, n_epoch=5)
