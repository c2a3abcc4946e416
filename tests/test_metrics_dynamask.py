"""Ground-truth mask metrics (tf_tsexplain.metrics.dynamask) and the shared helpers."""

import numpy as np
import pytest

from tf_tsexplain import metrics
from tf_tsexplain.metrics._numeric import average_ranks


def test_metrics_against_hand_computed_cases():
    truth = np.array([True, False, True, False])
    s = np.array([0.9, 0.8, 0.3, 0.1])
    # cells scored strictly above 0.1, 0.3, 0.8, 0.9: precision 2/3, 1/2, 1, 1 (none
    # selected at the top); recall 1, 1/2, 1/2, 0
    aup = 0.2 * (2 / 3 + 0.5) / 2 + 0.5 * (0.5 + 1) / 2 + 0.1 * (1 + 1) / 2
    aur = 0.2 * (1 + 0.5) / 2 + 0.5 * 0.5 + 0.1 * 0.5 / 2
    kw = dict(normalize=False, integration="trapezoid")
    assert metrics.area_under_precision(truth, s, **kw) == pytest.approx(aup)
    assert metrics.area_under_recall(truth, s, **kw) == pytest.approx(aur)
    # the exact integral of the step functions
    step_aup = 0.2 * 2 / 3 + 0.5 * 0.5 + 0.1 * 1
    assert metrics.area_under_precision(truth, s, normalize=False) == pytest.approx(step_aup)
    assert metrics.area_under_recall(truth, s, normalize=False) == pytest.approx(
        0.2 * 1 + 0.5 * 0.5 + 0.1 * 0.5
    )  # = mean score of the salient cells (0.9, 0.3) minus the lowest score 0.1
    # a perfect binary map: AUP 1; AUR 1 exactly, 1/2 with trapezoids
    assert metrics.area_under_precision(truth, truth * 3.0) == pytest.approx(1.0)
    assert metrics.area_under_recall(truth, truth * 3.0) == pytest.approx(1.0)
    trapezoid = metrics.area_under_recall(truth, truth * 3.0, integration="trapezoid")
    assert trapezoid == pytest.approx(0.5)
    assert metrics.auroc(truth, s) == pytest.approx(0.75)
    vals = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 3.0])
    np.testing.assert_allclose(average_ranks(vals), [5, 1.5, 5, 3, 1.5, 5])
    assert metrics.auprc(truth, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # ties count as one threshold; AUROC gives ties half a pair
    tied = np.array([0.5, 0.5, 0.5, 0.0])
    assert metrics.auroc(truth, tied) == pytest.approx((1 + 0.5 + 0.5 + 1) / 4)
    t_, p_, r_ = metrics.precision_recall_by_threshold(truth, tied, normalize=False)
    np.testing.assert_allclose(t_, [0.0, 0.5])
    np.testing.assert_allclose(p_, [2 / 3, 1.0])
    np.testing.assert_allclose(r_, [1.0, 0.0])
    eps = 1e-5
    info = -np.log2(1 + eps - 0.9) - np.log2(1 + eps - 0.3)
    assert metrics.mask_information(truth, s, normalize=False) == pytest.approx(info)
    h = [-v * np.log2(v) - (1 - v) * np.log2(1 - v) for v in (0.9, 0.3)]
    assert metrics.mask_entropy(truth, s, normalize=False) == pytest.approx(sum(h))
    # per-sample min-max scaling: two samples on different scales
    two = np.array([[1.0, 3.0], [10.0, 30.0]])[:, None, :]  # (N=2, T=1, F=2)
    np.testing.assert_allclose(metrics.minmax_per_sample(two), [[[0, 1]], [[0, 1]]])
    truth2 = np.array([[False, True], [True, False]])[:, None, :]
    assert metrics.mask_information(truth2, two) == pytest.approx(-np.log2(eps) - np.log2(1 + eps))
    with pytest.raises(ValueError, match="shape of `truth`"):
        metrics.auroc(truth, s[:3])
    with pytest.raises(ValueError, match="boolean"):
        metrics.auprc(np.array([0, 2, 1, 0]), s)


def test_metrics_of_one_map_equal_those_of_its_batch_of_one():
    # a single (T, F) map (e.g. Mask.mask_tensor of one series) is one sample: it is
    # min-max scaled as a whole, not per time step
    rng = np.random.default_rng(0)
    truth = np.zeros((6, 3), bool)
    truth[2:4, 0] = True
    s = rng.uniform(0.0, 0.05, size=(6, 3))
    s[2:4, 0] = [1.0, 0.9]
    s[0, 1] = 0.3
    np.testing.assert_allclose(metrics.minmax_per_sample(s), metrics.minmax_per_sample(s[None])[0])
    np.testing.assert_allclose(metrics.minmax_per_sample(s).max(), 1.0)
    np.testing.assert_allclose(
        metrics.minmax_per_sample(s[:, 0]), metrics.minmax_per_sample(s[None, :, :1])[0, :, 0]
    )
    for name in ("area_under_precision", "area_under_recall", "mask_information", "mask_entropy"):
        fn = getattr(metrics, name)
        assert fn(truth, s) == pytest.approx(fn(truth[None], s[None])), name
    for kw in (dict(integration="trapezoid"),):
        for fn in (metrics.area_under_precision, metrics.area_under_recall):
            assert fn(truth, s, **kw) == pytest.approx(fn(truth[None], s[None], **kw))


def test_padded_maps_score_as_the_maps_without_padding():
    """Cells of padded steps (holding arbitrary saliency) are left out: a pre-padded and
    a post-padded map score as the two maps without their padding, also after the
    per-sample min-max scaling."""
    rng = np.random.default_rng(4)
    sal = rng.normal(size=(2, 6, 3))
    truth = rng.uniform(size=(2, 6, 3)) > 0.6
    padded_sal = rng.normal(size=(2, 9, 3)) * 5  # junk on padding
    padded_truth = rng.uniform(size=(2, 9, 3)) > 0.5
    padded_sal[0, 3:], padded_truth[0, 3:] = sal[0], truth[0]  # pre-padding
    padded_sal[1, :6], padded_truth[1, :6] = sal[1], truth[1]  # post-padding
    real = np.zeros((2, 9), bool)
    real[0, 3:], real[1, :6] = True, True
    for metric in (
        metrics.area_under_precision,
        metrics.area_under_recall,
        metrics.auroc,
        metrics.auprc,
        metrics.mask_information,
        metrics.mask_entropy,
    ):
        plain = metric(truth, np.abs(sal))
        assert metric(padded_truth, np.abs(padded_sal)) != pytest.approx(plain)
        assert metric(padded_truth, np.abs(padded_sal), padding_mask=real) == pytest.approx(plain)
    one = metrics.area_under_recall(padded_truth[0], np.abs(padded_sal[0]), padding_mask=real[0])
    assert one == pytest.approx(metrics.area_under_recall(truth[0], np.abs(sal[0])))
    with pytest.raises(ValueError, match="padding_mask"):
        metrics.auroc(padded_truth, padded_sal, padding_mask=real[:, :4])
