"""Box datasets, background processes and the saliency benchmark metrics."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain.datasets import (
    BACKGROUNDS,
    BOX_DATASETS,
    background_process,
    box_dataset,
)
from tf_tsexplain.metrics import (
    deletion_insertion_curves,
    tsr_accuracy_drop,
    tsr_aup_aur,
    weighted_precision_recall,
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


def test_weighted_precision_recall_by_hand():
    # one sample, 5 cells: saliency 4, 3, 2, 1, 0 ; truth on cells 0 and 2
    sal = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    truth = np.array([[True, False, True, False, False]])
    lv, p, r = weighted_precision_recall(sal, truth, levels=[0.4, 0.5, 0.9, 1.0])
    # masses 0.4, 0.7, 0.9, 1.0: q=0.4 -> top 1; 0.5 -> top 2; 0.9 -> top 3; 1.0 -> top 4
    np.testing.assert_allclose(p[0], [1.0, 4 / 7, 6 / 9, 6 / 10])
    np.testing.assert_allclose(r[0], [0.5, 0.5, 1.0, 1.0])
    # signs ignored; an all-zero map scores 0
    lv, p, r = weighted_precision_recall(np.stack([-sal[0], np.zeros(5)]), np.repeat(truth, 2, 0))
    assert p[0, 0] == 1.0 and (p[1] == 0).all() and (r[1] == 0).all()
    assert np.allclose(lv, np.arange(1, 10) / 10)
    # perfect uniform map: precision 1 everywhere; recall 1/2 (one of the two true
    # cells) up to q = 0.5, then 1: area (4 * 0.05 + 0.075 + 3 * 0.1) / 0.8
    aup, aur = tsr_aup_aur(truth.astype(float), truth)
    assert aup == 1.0 and aur == pytest.approx(0.575 / 0.8)
    aup, aur = tsr_aup_aur(sal, truth, levels=[0.4, 0.5])
    assert aup == pytest.approx((1.0 + 4 / 7) / 2) and aur == pytest.approx(0.5)
    with pytest.raises(ValueError, match="`truth` has shape"):
        tsr_aup_aur(sal, truth[:, :3])
    with pytest.raises(TypeError, match="`truth` must be a boolean mask"):
        tsr_aup_aur(sal, truth.astype(int))
    with pytest.raises(ValueError, match="`levels` must be increasing"):
        tsr_aup_aur(sal, truth, levels=[0.5, 0.2])


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
