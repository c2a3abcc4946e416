"""Saliency-benchmark metrics (tf_tsexplain.metrics.tsr_benchmark)."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import metrics
from tf_tsexplain.metrics import (
    deletion_insertion_curves,
    tsr_accuracy_drop,
    tsr_aup_aur,
    weighted_precision_recall,
)


def test_weighted_precision_recall_by_hand():
    # one sample, 5 cells: saliency 4, 3, 2, 1, 0 ; truth on cells 0 and 2. Min-max
    # scaling (min 0, max 4) keeps the mass fractions: cumulative 0.4, 0.7, 0.9, 1.0
    sal = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    truth = np.array([[True, False, True, False, False]])
    lv, p, r = weighted_precision_recall(truth, sal, levels=[0.4, 0.5, 0.9, 1.0])
    # q=0.4 -> top 1; 0.5 -> top 2; 0.9 -> top 3; 1.0 -> top 4
    np.testing.assert_allclose(p[0], [1.0, 4 / 7, 6 / 9, 6 / 10])
    # recall = TP / (TP + FN) in saliency mass: the true cells weigh 4 and 2, so
    # 4 / (4 + 2) until cell 2 is selected, then 6 / 6
    np.testing.assert_allclose(r[0], [2 / 3, 2 / 3, 1.0, 1.0])
    np.testing.assert_allclose(
        weighted_precision_recall(truth, sal, levels=[0.4, 0.5, 0.9])[2][0],
        [0.667, 0.667, 1.0],
        atol=5e-4,
    )
    # signs ignored; an all-zero map scores 0
    lv, p, r = weighted_precision_recall(np.repeat(truth, 2, 0), np.stack([-sal[0], np.zeros(5)]))
    assert p[0, 0] == 1.0 and (p[1] == 0).all() and (r[1] == 0).all()
    assert np.allclose(lv, np.arange(1, 10) / 10)
    # perfect uniform map: precision 1 everywhere; recall 1/2 (one of the two true
    # cells, equal weights) up to q = 0.5, then 1: area (4 * 0.05 + 0.075 + 3 * 0.1) / 0.8
    aup, aur = tsr_aup_aur(truth, truth.astype(float))
    assert aup == 1.0 and aur == pytest.approx(0.575 / 0.8)
    aup, aur = tsr_aup_aur(truth, sal, levels=[0.4, 0.5])
    assert aup == pytest.approx((1.0 + 4 / 7) / 2) and aur == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="`truth` has shape"):
        tsr_aup_aur(truth[:, :3], sal)
    with pytest.raises(TypeError, match="`truth` must be a boolean mask"):
        tsr_aup_aur(truth.astype(int), sal)
    with pytest.raises(ValueError, match="`levels` must be increasing"):
        tsr_aup_aur(truth, sal, levels=[0.5, 0.2])
    # ground truth first, as scikit-learn's (y_true, y_score): maps first is refused
    with pytest.raises(TypeError, match="`truth` must be a boolean mask"):
        tsr_aup_aur(sal, truth)
    with pytest.raises(TypeError, match="`truth` must be a boolean mask"):
        weighted_precision_recall(sal, truth)


def test_weighted_precision_recall_min_max_scales_each_map_first():
    # saliency 5, 4, 3, 2, 1 ; truth on cells 0 and 4
    sal = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    truth = np.array([[True, False, False, False, True]])
    # rescaled: 1, .75, .5, .25, 0 (total 2.5): q = 0.4 -> top 1 (mass 0.4); the true
    # cell 4 weighs 0, so nothing true is missed: precision 1, recall 1
    _, p, r = weighted_precision_recall(truth, sal, levels=[0.4, 0.9])
    np.testing.assert_allclose(p[0], [1.0, 1 / 2.25])  # q=0.9: top 3 (2.25 / 2.5)
    np.testing.assert_allclose(r[0], [1.0, 1.0])
    # raw masses 5, 4, 3, 2, 1 (total 15): q = 0.4 -> top 2 (9 / 15); q = 0.9 -> top 4
    _, p, r = weighted_precision_recall(truth, sal, levels=[0.4, 0.9], rescale=False)
    np.testing.assert_allclose(p[0], [5 / 9, 5 / 14])
    np.testing.assert_allclose(r[0], [5 / 6, 5 / 6])
    # a constant map is all zeros once rescaled: scores 0
    _, p, r = weighted_precision_recall(truth, np.ones((1, 5)))
    assert (p == 0).all() and (r == 0).all()


def summing_classifier(x):
    """Two classes: logits (-s, s) with s the sum of cells 0 and 1 of each input."""
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    s = flat[:, 0] + flat[:, 1]
    return tf.stack([-s, s], axis=1)


def test_accuracy_drop_and_deletion_insertion_by_hand():
    x = np.zeros((4, 2, 2), np.float32)
    x[:, 0, 0] = [1.0, 2.0, -1.0, 3.0]  # cell 0 decides the class
    labels = np.array([1, 1, 0, 1])
    good = np.zeros_like(x)
    good[:, 0, 0] = 1.0  # points at cell 0
    bad = np.zeros_like(x)
    bad[:, 1, 1] = 1.0  # points at an unused cell
    replacement = np.full_like(x, -5.0)  # pushes every input to class 0
    fr, acc_good = tsr_accuracy_drop(
        summing_classifier, x, labels, good, replacement, fractions=[0, 0.25]
    )
    _, acc_bad = tsr_accuracy_drop(
        summing_classifier, x, labels, bad, replacement, fractions=[0, 0.25]
    )
    np.testing.assert_allclose(acc_good, [1.0, 0.25])  # only the class-0 input stays right
    np.testing.assert_allclose(acc_bad, [1.0, 1.0])
    curves = deletion_insertion_curves(summing_classifier, x, good, baseline=0.0, steps=4)
    # predicted classes 1, 1, 0, 1; output = +-cell 0; deleting cell 0 first -> 0
    np.testing.assert_allclose(curves["deletion"][:, 0], [1, 2, 1, 3])
    np.testing.assert_allclose(curves["deletion"][:, 1:], 0)
    np.testing.assert_allclose(curves["insertion"][:, 0], 0)
    np.testing.assert_allclose(curves["insertion"][:, 1:], np.repeat([[1, 2, 1, 3]], 4, 0).T)
    np.testing.assert_allclose(curves["deletion_auc"], np.array([1, 2, 1, 3]) * 0.125)
    worse = deletion_insertion_curves(summing_classifier, x, bad, steps=4, output_indices=1)
    assert np.all(worse["deletion_auc"][[0, 1, 3]] > curves["deletion_auc"][[0, 1, 3]])
    with pytest.raises(ValueError, match="`labels` must be 4 integers"):
        tsr_accuracy_drop(summing_classifier, x, labels[:2], good, replacement)


def test_accuracy_drop_removes_the_top_mass_cells_like_precision_recall():
    # the classifier reads flat cells 0 and 1: logits (-s, s), s = x_0 + x_1
    x = np.array([[2.0, 2.0, 0.0, 0.0], [1.0, 3.0, 0.0, 0.0]], np.float32).reshape(2, 2, 2)
    labels = np.array([1, 1])
    sal = np.array([[6.0, 3.0, 1.0, 0.0], [0.0, 8.0, 1.0, 1.0]], np.float32).reshape(2, 2, 2)
    replacement = np.full_like(x, -1.5)
    # rescaled maps: [1, 1/2, 1/6, 0] (cumulative mass 0.6, 0.9, 1.0) and
    # [0, 1, 1/8, 1/8] (0.8, 0.9, 1.0). Mass 0.5 removes cell 0 of input 0 (s = 0.5,
    # still right) and cell 1 of input 1 (s = -0.5, wrong); mass 0.7 removes cells 0
    # and 1 of input 0 (s = -3, wrong) and cell 1 of input 1 (wrong)
    fr, acc = tsr_accuracy_drop(summing_classifier, x, labels, sal, replacement, [0, 0.5, 0.7])
    np.testing.assert_allclose(acc, [1.0, 0.5, 0.0])
    # the same sets as weighted_precision_recall's selection at those levels
    truth = np.zeros((2, 2, 2), bool)
    truth[0, 0, 0] = truth[1, 0, 1] = True  # the first selected cell of each input
    _, p, _ = weighted_precision_recall(truth, sal, levels=[0.5, 0.7])
    np.testing.assert_allclose(p, [[1.0, 1 / 1.5], [1.0, 1.0]])
    # by count: round(0.5 * 4) = 2 cells already flips input 0 (cells 0, 1) and
    # input 1 (cells 1, 2)
    _, acc = tsr_accuracy_drop(
        summing_classifier, x, labels, sal, replacement, [0, 0.5, 0.7], by="count"
    )
    np.testing.assert_allclose(acc, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="`by` must be 'mass' or 'count'"):
        tsr_accuracy_drop(summing_classifier, x, labels, sal, replacement, by="cells")


def test_model_metrics_output_indices_predicted_none_and_an_index():
    x = np.zeros((4, 2, 2), np.float32)
    x[:, 0, 0] = [1.0, 2.0, -1.0, 3.0]
    labels = np.array([1, 1, 0, 1])
    sal = np.zeros_like(x)
    sal[:, 0, 0] = 1.0
    replacement = np.full_like(x, -5.0)
    drop = dict(fractions=[0, 0.25])
    _, default = tsr_accuracy_drop(summing_classifier, x, labels, sal, replacement, **drop)
    _, predicted = tsr_accuracy_drop(
        summing_classifier, x, labels, sal, replacement, output_indices="predicted", **drop
    )
    np.testing.assert_allclose(default, [1.0, 0.25])
    np.testing.assert_array_equal(predicted, default)
    curves = deletion_insertion_curves(summing_classifier, x, sal, steps=4)
    by_hand = deletion_insertion_curves(
        summing_classifier, x, sal, steps=4, output_indices=[1, 1, 0, 1]
    )
    explicit = deletion_insertion_curves(
        summing_classifier, x, sal, steps=4, output_indices="predicted"
    )
    for key in ("deletion", "insertion", "deletion_auc"):
        np.testing.assert_array_equal(curves[key], by_hand[key])
        np.testing.assert_array_equal(explicit[key], by_hand[key])

    # None: the only output of a single-output model...
    def positive(batch):  # (N,): the probability of class 1
        return tf.sigmoid(summing_classifier(batch)[:, 1])

    for indices in (None, "predicted"):
        _, acc = tsr_accuracy_drop(
            positive, x, labels, sal, replacement, output_indices=indices, **drop
        )
        np.testing.assert_allclose(acc, [1.0, 0.25])
    single = deletion_insertion_curves(
        lambda b: summing_classifier(b)[:, 1], x, sal, steps=4, output_indices=None
    )
    one = deletion_insertion_curves(summing_classifier, x, sal, steps=4, output_indices=1)
    np.testing.assert_array_equal(single["deletion"], one["deletion"])
    # ... and refused on several outputs: these metrics score one scalar per input
    with pytest.raises(ValueError, match=r"one output per input.*'predicted'"):
        tsr_accuracy_drop(summing_classifier, x, labels, sal, replacement, output_indices=None)
    with pytest.raises(ValueError, match=r"one output per input.*'predicted'"):
        deletion_insertion_curves(summing_classifier, x, sal, output_indices=None)

    # an index: that output is the probability of class 1 (labels 0 / 1)
    def softmax(batch):
        return tf.nn.softmax(summing_classifier(batch))

    _, acc = tsr_accuracy_drop(softmax, x, labels, sal, replacement, output_indices=1, **drop)
    np.testing.assert_allclose(acc, [1.0, 0.25])
    _, acc = tsr_accuracy_drop(softmax, x, 1 - labels, sal, replacement, output_indices=0, **drop)
    np.testing.assert_allclose(acc, [1.0, 0.25])
    with pytest.raises(ValueError, match="`labels` must be 0 or 1"):
        tsr_accuracy_drop(softmax, x, labels + 1, sal, replacement, output_indices=1)
    with pytest.raises(ValueError, match="Received: output_indices='argmax'"):
        deletion_insertion_curves(summing_classifier, x, sal, output_indices="argmax")


def test_padded_inputs_score_as_the_inputs_without_padding():
    """Weighted precision/recall, accuracy drop and deletion/insertion curves of
    pre- and post-padded inputs (junk saliency on padding) equal those of the inputs
    without padding, for a model that ignores zero padding."""
    rng = np.random.default_rng(6)
    w = rng.normal(size=(3,)).astype(np.float32)

    def model(batch):  # padded zero steps add tanh(0) = 0
        score = tf.reduce_sum(tf.tanh(tf.einsum("ntf,f->nt", batch, w)), axis=1)
        p = tf.sigmoid(score)
        return tf.stack([1 - p, p], axis=1)

    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    sal = rng.normal(size=(2, 6, 3))
    truth = rng.uniform(size=(2, 6, 3)) > 0.6
    px, ps = np.zeros((2, 9, 3), np.float32), rng.normal(size=(2, 9, 3)) * 5
    pt = rng.uniform(size=(2, 9, 3)) > 0.5
    px[0, 3:], ps[0, 3:], pt[0, 3:] = x[0], sal[0], truth[0]
    px[1, :6], ps[1, :6], pt[1, :6] = x[1], sal[1], truth[1]
    real = np.zeros((2, 9), bool)
    real[0, 3:], real[1, :6] = True, True
    np.testing.assert_allclose(model(px).numpy(), model(x).numpy(), rtol=1e-6)

    plain = metrics.tsr_aup_aur(truth, sal)
    assert metrics.tsr_aup_aur(pt, ps) != pytest.approx(plain)
    assert metrics.tsr_aup_aur(pt, ps, padding_mask=real) == pytest.approx(plain)
    labels = np.argmax(model(x).numpy(), axis=1)
    for by in ("mass", "count"):
        rep, prep = x[::-1] * 3, np.zeros_like(px)
        prep[0, 3:], prep[1, :6] = rep[0], rep[1]
        _, acc = metrics.tsr_accuracy_drop(model, x, labels, sal, rep, by=by)
        _, got = metrics.tsr_accuracy_drop(
            model, px, labels, ps, prep + 7 * ~real[:, :, None], by=by, padding_mask=real
        )
        np.testing.assert_array_equal(got, acc)
    curves = metrics.deletion_insertion_curves(model, x, sal, baseline=0.5, steps=6)
    padded = metrics.deletion_insertion_curves(
        model, px, ps, baseline=0.5, steps=6, padding_mask=real
    )
    for key in ("deletion", "insertion"):
        np.testing.assert_allclose(padded[key], curves[key], rtol=1e-5, atol=1e-6)
    assert not np.allclose(curves["deletion"][:, 0], curves["deletion"][:, -1])


def test_model_metrics_on_a_multi_input_model_rank_cells_of_all_inputs():
    """Multi-input inputs, maps and baselines equal the same metric on flat rows through
    a function that splits them (cells of both inputs compete)."""
    import keras

    keras.utils.set_random_seed(9)
    seq, static = keras.Input((4, 2), name="seq"), keras.Input((3,), name="static")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(2, activation="softmax")(h))
    rng = np.random.default_rng(2)
    x = {"seq": rng.normal(size=(5, 4, 2)), "static": rng.normal(size=(5, 3)) * 2}
    sal = {"seq": rng.normal(size=(5, 4, 2)), "static": rng.normal(size=(5, 3))}
    flat_x = np.concatenate([x["seq"].reshape(5, -1), x["static"]], axis=1).astype("float32")
    flat_sal = np.concatenate([sal["seq"].reshape(5, -1), sal["static"]], axis=1)

    def by_hand(rows):
        return model([tf.reshape(rows[:, :8], (-1, 4, 2)), rows[:, 8:]])

    base = {"seq": np.zeros((4, 2)), "static": np.full(3, 0.5)}
    flat_base = np.r_[np.zeros(8), np.full(3, 0.5)]
    got = deletion_insertion_curves(model, x, sal, baseline=base, steps=5)
    want = deletion_insertion_curves(by_hand, flat_x, flat_sal, baseline=flat_base, steps=5)
    for key in ("deletion", "insertion"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    assert not np.allclose(got["deletion"][:, 0], got["deletion"][:, -1])
    labels = np.argmax(model([x["seq"], x["static"]]).numpy(), axis=1)
    rep = {"seq": x["seq"][::-1], "static": x["static"][::-1]}
    flat_rep = flat_x[::-1]
    _, acc = tsr_accuracy_drop(model, x, labels, sal, rep, by="count")
    _, acc_hand = tsr_accuracy_drop(by_hand, flat_x, labels, flat_sal, flat_rep, by="count")
    np.testing.assert_array_equal(acc, acc_hand)
    with pytest.raises(ValueError, match="padding_mask"):
        deletion_insertion_curves(model, x, sal, padding_mask=np.ones((5, 4), bool))
