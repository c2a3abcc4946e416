"""SIS: the reference's worked cases exactly, broadcast masks, the batched Keras path."""

import keras
import numpy as np
import pytest

from tf_tsexplain.sis import (
    SISExplainer,
    SISResult,
    find_sis,
    make_empty_boolean_mask,
    make_empty_boolean_mask_broadcast_over_axis,
    produce_masked_inputs,
    sis_collection,
)


def l2(batch):
    return np.linalg.norm(batch.reshape(len(batch), -1), axis=1)


def total(batch):
    return batch.reshape(len(batch), -1).sum(axis=1)


# ----------------------------------------------------------------- worked cases
def test_l2_two_values():
    (result,) = sis_collection(l2, 1.0, np.array([0.1, 10]), np.zeros(2))
    np.testing.assert_array_equal(result.sis, [[1]])
    np.testing.assert_array_equal(result.ordering_over_entire_backselect, [[0], [1]])
    np.testing.assert_allclose(result.values_over_entire_backselect, [10, 0])
    assert len(result) == 1


def test_l2_three_values_collection_and_other_threshold():
    x = np.array([0.1, 10, 5])
    first, second = sis_collection(l2, 1.0, x, np.zeros(3))
    np.testing.assert_array_equal(first.sis, [[1]])
    np.testing.assert_array_equal(first.ordering_over_entire_backselect, [[0], [2], [1]])
    np.testing.assert_allclose(first.values_over_entire_backselect, [np.sqrt(125), 10, 0])
    np.testing.assert_array_equal(first.mask, [False, True, False])
    np.testing.assert_array_equal(second.sis, [[2]])  # the seed's example: [1] and [2]
    assert not np.any(first.mask & second.mask)  # a collection is disjoint
    higher = find_sis(l2, 10.5, x, make_empty_boolean_mask(3), np.zeros(3))
    np.testing.assert_array_equal(higher.sis, [[1], [2]])
    # the stored backward selection gives the same SIS without new calls to f
    assert first.for_threshold(10.5) == higher
    assert first.for_threshold(20.0) is None


def test_below_threshold_has_no_sis():
    assert sis_collection(l2, 5.1, np.array([3.0, 4.0]), np.zeros(2)) == []
    assert find_sis(l2, 5.1, np.array([3.0, 4.0]), np.ones(2, bool), np.zeros(2)) is None
    assert find_sis(l2, 1.0, np.array([3.0, 4.0]), np.zeros(2, bool), np.zeros(2)) is None


def test_sum_two_by_two_ties_and_order():
    x = np.array([[10.0, 5.0], [2.0, 3.0]])
    collection = sis_collection(total, 4.0, x, np.zeros((2, 2)))
    first = collection[0]
    np.testing.assert_array_equal(first.sis, [[0, 0]])
    np.testing.assert_array_equal(
        first.ordering_over_entire_backselect, [[1, 0], [1, 1], [0, 1], [0, 0]]
    )
    np.testing.assert_allclose(first.values_over_entire_backselect, [18, 15, 10, 0])
    union = np.zeros((2, 2), bool)
    for result in collection:
        assert not np.any(union & result.mask)
        union |= result.mask
        assert total((x * result.mask)[None])[0] >= 4.0  # each SIS suffices alone


def test_ties_mask_the_lowest_index_first():
    result = find_sis(total, 2.0, np.ones(4), np.ones(4, bool), np.zeros(4))
    np.testing.assert_array_equal(result.ordering_over_entire_backselect.ravel(), [0, 1, 2, 3])
    np.testing.assert_array_equal(result.sis.ravel(), [3, 2])  # larger index first


def test_broadcast_masks_mask_rows_and_columns():
    x = np.array([[1.0, 9.0, 1.0], [1.0, 9.0, 2.0]])
    columns = make_empty_boolean_mask_broadcast_over_axis(x.shape, 0)
    rows = make_empty_boolean_mask_broadcast_over_axis(x.shape, 1)
    assert columns.shape == (1, 3) and rows.shape == (2, 1)
    (by_column, *_) = sis_collection(total, 15.0, x, np.zeros_like(x), columns)
    np.testing.assert_array_equal(by_column.sis, [[0, 1]])  # the whole middle column
    np.testing.assert_array_equal(by_column.mask, [[False, True, False]])
    by_row = sis_collection(total, 12.0, x, np.zeros_like(x), rows)[0]
    np.testing.assert_array_equal(by_row.mask, [[False], [True]])
    masked = produce_masked_inputs(x, np.zeros_like(x), np.array([by_column.mask]))
    np.testing.assert_array_equal(masked[0], [[0, 9, 0], [0, 9, 0]])


def test_result_equality_and_tolerance():
    a = sis_collection(l2, 1.0, np.array([0.1, 10, 5]), np.zeros(3))[0]
    b = SISResult(
        a.sis, a.ordering_over_entire_backselect, a.values_over_entire_backselect + 1e-9, a.mask
    )
    assert a != b and a.approx_equal(b) and not a.approx_equal(b, rtol=0, atol=1e-12)
    sis, ordering, values, mask = a  # unpacks like the reference's namedtuple
    assert np.array_equal(sis, a.sis) and mask is a.mask


# ----------------------------------------------------------------- bad input
def test_bad_input():
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="must return one score per input"):
        sis_collection(lambda b: np.ones((len(b), 2)), 1.0, x, np.zeros(2))
    with pytest.raises(ValueError, match="NaN or Inf scores"):
        sis_collection(lambda b: np.full(len(b), np.nan), 1.0, x, np.zeros(2))
    with pytest.raises(ValueError, match="not broadcastable"):
        sis_collection(l2, 1.0, x, np.zeros(2), np.ones(3, bool))
    with pytest.raises(ValueError, match="same shape"):
        sis_collection(l2, 1.0, x, np.zeros(3))
    with pytest.raises(ValueError, match="`threshold` must be finite"):
        sis_collection(l2, float("nan"), x, np.zeros(2))
    with pytest.raises(TypeError, match="one more axis"):
        produce_masked_inputs(x, np.zeros(2), np.ones(2, bool))


# ----------------------------------------------------------------- Keras front
@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [keras.Input((6, 3)), keras.layers.LSTM(6), keras.layers.Dense(2, activation="softmax")]
    )
    x = np.random.default_rng(3).normal(size=(5, 6, 3)).astype("float32") * 2
    return model, x


@pytest.mark.parametrize("mask_over", ["cells", "time", "features"])
def test_batched_keras_path_equals_plain_function_path(classifier, mask_over):
    model, x = classifier
    predicted = model(x).numpy().argmax(1)
    threshold = float(np.median(model(x).numpy().max(1)))  # some inputs below it
    explainer = SISExplainer(
        model, threshold=threshold, fully_masked_input=0.0, mask_over=mask_over
    )
    batched = explainer.explain(x, batch_size=16)
    assert explainer.explain(x) == batched  # default: automatic batch size, same SIS
    mask = {
        "cells": make_empty_boolean_mask((6, 3)),
        "time": make_empty_boolean_mask_broadcast_over_axis((6, 3), 1),
        "features": make_empty_boolean_mask_broadcast_over_axis((6, 3), 0),
    }[mask_over]
    assert any(len(c) == 0 for c in batched) and any(len(c) > 0 for c in batched)
    for i in range(len(x)):

        def f(batch, c=predicted[i]):
            return model(batch.astype("float32")).numpy()[:, c]

        reference = sis_collection(f, threshold, x[i], np.zeros_like(x[i]), mask)
        assert len(reference) == len(batched[i])
        for ours, theirs in zip(batched[i], reference, strict=True):
            np.testing.assert_array_equal(ours.sis, theirs.sis)
            assert ours.approx_equal(theirs, rtol=1e-4, atol=1e-5)


def test_approximate_mode_is_sufficient_and_close(classifier):
    model, x = classifier
    probabilities = model(x).numpy()
    threshold = float(probabilities.max(1).min()) * 0.98  # every input has a SIS
    exact = SISExplainer(model, threshold=threshold).explain(x)
    k = 3
    approx = SISExplainer(model, threshold=threshold, approximate=True, k=k).explain(x)
    predicted = probabilities.argmax(1)
    for i in range(len(x)):
        assert len(approx[i]) >= 1
        first = approx[i][0]
        kept = np.where(first.mask, x[i], 0.0)[None]
        assert model(kept).numpy()[0, predicted[i]] >= threshold  # sufficient, measured
        # gradient-guided selection masking k at a time: at most a few k larger
        assert len(first) <= len(exact[i][0]) + 2 * k


def test_explainer_bad_input(classifier):
    model, x = classifier
    with pytest.raises(ValueError, match="`mask_over` must be one of"):
        SISExplainer(model, mask_over="rows")
    with pytest.raises(ValueError, match="`fully_masked_input` must be a scalar"):
        SISExplainer(model, fully_masked_input=np.zeros((2, 2))).explain(x)
    with pytest.raises(ValueError, match=r"`inputs` must be \(N, T, F\)"):
        SISExplainer(model).explain(x[..., None])
    with pytest.raises(ValueError, match="out of range"):
        SISExplainer(model).explain(x, output_indices=5)
    with pytest.raises(ValueError, match="SIS explains one output per input"):
        SISExplainer(model).explain(x, output_indices=None)
    with pytest.raises(TypeError, match="`threshold` must be a number"):
        SISExplainer(model, threshold="0.5")
    with pytest.raises(TypeError, match="`batch_size` must be an integer"):
        SISExplainer(model).explain(x, batch_size=1.5)
