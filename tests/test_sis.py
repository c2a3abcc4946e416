"""SIS: the reference's worked cases exactly, broadcast masks, the batched Keras path."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain.sis import (
    SISCollection,
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
    by_keyword = SISResult(  # the reference's field names, in another order
        mask=a.mask,
        values_over_entire_backselect=a.values_over_entire_backselect,
        sis=a.sis,
        ordering_over_entire_backselect=a.ordering_over_entire_backselect,
    )
    assert by_keyword == a and by_keyword == SISResult(*a)
    assert by_keyword.ordering_over_entire_backselect is a.ordering_over_entire_backselect


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
    with_xla = SISExplainer(
        model, threshold=threshold, fully_masked_input=0.0, mask_over=mask_over, jit_compile=True
    ).explain(x, batch_size=8)  # padded power-of-two shapes, XLA-compiled
    assert [len(c) for c in with_xla] == [len(c) for c in batched]
    for ours, theirs in zip(with_xla, batched, strict=True):
        assert all(
            a.approx_equal(b, rtol=1e-4, atol=1e-5) for a, b in zip(ours, theirs, strict=True)
        )
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


def test_inputs_below_the_threshold_are_reported(classifier):
    """No silently empty collections (issue 26): a warning names them with f(x), and
    each collection carries f(x) and ``below_threshold``."""
    model, x = classifier
    top = model(x).numpy().max(1)
    threshold = float(np.median(top))
    explainer = SISExplainer(model, threshold=threshold, fully_masked_input=0.0)
    with pytest.warns(UserWarning, match="below the threshold") as caught:
        collections = explainer.explain(x)
    below = np.flatnonzero(top < threshold)
    message = str([w.message for w in caught if "below" in str(w.message)][0])
    for i in below:
        assert f"{i} (f = {top[i]:.4g})" in message
    for i, collection in enumerate(collections):
        assert isinstance(collection, SISCollection) and isinstance(collection, list)
        assert collection.initial_value == pytest.approx(float(top[i]), rel=1e-6)
        assert collection.below_threshold == (i in below)
        assert (len(collection) == 0) == (i in below)
    assert collections[int(below[0])] == []  # still compares as the list it is


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


# ----------------------------------------------------------------- degenerate case
def _reference_collection(f, threshold, x, masked, mask):
    """The reference's procedure written out plainly (our own port of the published
    semantics): backward selection one position at a time (ties: lowest index), the
    SIS read from the end of the stack; when f with every position masked reaches
    the threshold, one empty SIS (mask all False) ends the collection."""
    collection, current = [], mask.copy()
    while current.any() and f(np.where(current, x, masked)[None])[0] >= threshold:
        present, order, values = current.copy(), [], []
        while present.any():
            candidates = np.flatnonzero(present.ravel())
            rows = np.repeat(present.ravel()[None], len(candidates), axis=0)
            rows[np.arange(len(candidates)), candidates] = False
            rows = rows.reshape((-1,) + mask.shape)
            scores = f(np.where(rows, x[None], masked[None]))
            best = int(np.argmax(scores))  # first maximum: lowest index
            present = rows[best]
            order.append(candidates[best])
            values.append(scores[best])
        cut = len(values)
        if values[-1] < threshold:
            cut = max(i for i in range(len(values)) if i == 0 or values[i - 1] >= threshold)
        sis_mask = np.zeros(mask.size, bool)
        sis_mask[order[cut:]] = True
        collection.append((order, values, sis_mask.reshape(mask.shape)))
        if cut == len(values):
            break
        current &= ~sis_mask.reshape(mask.shape)
    return collection


def _smooth_function(seed, shape):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(int(np.prod(shape)), 4))
    w2 = rng.normal(size=4)
    bias = rng.normal()

    def f(batch):
        hidden = np.tanh(batch.reshape(len(batch), -1) @ w1)
        return 1.0 / (1.0 + np.exp(-(hidden @ w2 + bias)))

    return f


def test_fully_masked_input_reaching_the_threshold_gives_one_empty_sis():
    def shifted(batch):  # f(all masked) = 1 >= threshold 0.5
        return 1.0 + l2(batch)

    x = np.array([0.1, 10, 5])
    found = find_sis(shifted, 0.5, x, np.ones(3, bool), np.zeros(3))
    assert len(found) == 0 and found.sis.shape == (0, 1)
    assert not found.mask.any()  # the reference's mask is accidentally all True
    # the whole backward selection is kept, as the reference keeps it
    np.testing.assert_array_equal(found.ordering_over_entire_backselect, [[0], [2], [1]])
    np.testing.assert_allclose(found.values_over_entire_backselect, [1 + np.sqrt(125), 11, 1])
    collection = sis_collection(shifted, 0.5, x, np.zeros(3))
    assert collection == [found]  # the collection ends after the empty SIS
    # another threshold re-reads the same selection: 11.5 needs cells 1 and 2
    np.testing.assert_array_equal(found.for_threshold(11.5).sis, [[1], [2]])


@pytest.mark.parametrize("mask_kind", ["cells", "time", "features"])
def test_collections_equal_the_reference_procedure_on_random_smooth_functions(mask_kind):
    shape = (4, 3)
    mask = {
        "cells": make_empty_boolean_mask(shape),
        "time": make_empty_boolean_mask_broadcast_over_axis(shape, 1),
        "features": make_empty_boolean_mask_broadcast_over_axis(shape, 0),
    }[mask_kind]
    degenerate = 0
    for seed in range(20):
        f = _smooth_function(seed, shape)
        rng = np.random.default_rng(100 + seed)
        x, masked = rng.normal(size=shape) * 2, np.zeros(shape)
        threshold = float(np.clip(f(x[None])[0] - 0.05, 0.05, 0.95))
        ours = sis_collection(f, threshold, x, masked, mask)
        theirs = _reference_collection(f, threshold, x, masked, mask)
        degenerate += f(masked[None])[0] >= threshold and f(x[None])[0] >= threshold
        assert len(ours) == len(theirs)
        for result, (order, values, sis_mask) in zip(ours, theirs, strict=True):
            flat = np.ravel_multi_index(tuple(result.ordering_over_entire_backselect.T), mask.shape)
            np.testing.assert_array_equal(flat, order)
            np.testing.assert_allclose(result.values_over_entire_backselect, values)
            np.testing.assert_array_equal(result.mask, sis_mask)
            if len(result):  # sufficient, and the one-shorter tail is not (brute force)
                assert f(np.where(result.mask, x, masked)[None])[0] >= threshold
                shorter = result.mask.copy()
                shorter[tuple(result.sis[-1])] = False
                assert f(np.where(shorter, x, masked)[None])[0] < threshold
    assert degenerate >= 3  # the case of the issue is covered


@pytest.fixture(scope="module")
def saturated():
    """An LSTM whose output on the all-zero input is above 0.7 for class 0."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input((6, 3)), keras.layers.LSTM(4), keras.layers.Dense(2, activation="softmax")]
    )
    last = model.layers[-1]
    kernel, _ = last.get_weights()
    last.set_weights([kernel * 0.1, np.array([2.0, -2.0], np.float32)])  # zeros -> ~0.98
    x = np.random.default_rng(5).normal(size=(3, 6, 3)).astype("float32") * 0.5
    return model, x


def test_explainer_degenerate_case_warns_once_and_returns_one_empty_sis(saturated):
    model, x = saturated
    assert model(np.zeros((1, 6, 3), "float32")).numpy()[0, 0] >= 0.7
    explainer = SISExplainer(model, threshold=0.7, fully_masked_input=0.0)
    with pytest.warns(UserWarning, match=r"for 3 of 3 input\(s\) \(indices 0, 1, 2\)") as caught:
        collections = explainer.explain(x, output_indices=0)
    assert len([w for w in caught if "fully masked input" in str(w.message)]) == 1
    for i, collection in enumerate(collections):
        assert len(collection) == 1 and len(collection[0]) == 0 and not collection[0].mask.any()

        def f(batch):
            return model(batch.astype("float32")).numpy()[:, 0]

        assert collection[0].approx_equal(
            find_sis(f, 0.7, x[i], np.ones((6, 3), bool), np.zeros((6, 3))), rtol=1e-4, atol=1e-5
        )
    approximate = SISExplainer(model, threshold=0.7, approximate=True, k=4)
    with pytest.warns(UserWarning, match="fully masked input"):
        assert all(len(c) == 1 and len(c[0]) == 0 for c in approximate.explain(x, output_indices=0))


def test_max_sis_truncates_collections_and_approximate_mode_runs_in_lockstep(classifier):
    model, x = classifier
    threshold = 0.52  # collections of 1 to 4 SIS on this model (all-zero input: 0.5)
    explainer = SISExplainer(model, threshold=threshold)
    full = explainer.explain(x)
    assert max(len(c) for c in full) >= 2
    first = explainer.explain(x, max_sis=1)
    assert all(c == f[:1] for c, f in zip(first, full, strict=True))
    with pytest.raises(ValueError, match="`max_sis` must be >= 1"):
        explainer.explain(x, max_sis=0)
    approximate = SISExplainer(model, threshold=threshold, approximate=True, k=2)
    together = approximate.explain(x)
    for i in range(len(x)):  # one input alone gives the same collection as in the batch
        alone = approximate.explain(
            x[i : i + 1], output_indices=[int(model(x[i : i + 1]).numpy().argmax())]
        )
        assert len(alone[0]) == len(together[i])
        assert all(
            a.approx_equal(b, rtol=1e-4, atol=1e-5)
            for a, b in zip(alone[0], together[i], strict=True)
        )


def test_auto_falls_back_without_xla_for_ops_xla_cannot_compile(monkeypatch):
    from tf_tsexplain import sis as sis_module

    def numpy_model(batch):  # tf.numpy_function: XLA cannot compile it
        score = tf.numpy_function(lambda b: l2(b).astype("float32"), [batch], tf.float32)
        return tf.reshape(score, [-1])

    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    plain = SISExplainer(numpy_model, threshold=1.0, jit_compile=False).explain(
        x, output_indices=None
    )
    monkeypatch.setattr(sis_module._Scorer, "XLA_MIN_ROWS", 0)  # "auto" tries XLA here
    explainer = SISExplainer(numpy_model, threshold=1.0, jit_compile="auto")
    assert explainer.explain(x, output_indices=None) == plain
    assert explainer._xla_failed
    with pytest.raises(tf.errors.OpError):
        SISExplainer(numpy_model, threshold=1.0, jit_compile=True).explain(x, output_indices=None)


# ----------------------------------------------------------------- multi-input models
@pytest.fixture(scope="module")
def two_input_classifier():
    keras.utils.set_random_seed(11)
    seq, static = keras.Input((6, 2), name="seq"), keras.Input((3,), name="static")
    h = keras.layers.Concatenate()([keras.layers.GRU(4)(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(2, activation="softmax")(h))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 2)).astype("float32") * 3
    s = rng.normal(size=(3, 3)).astype("float32") * 0.2
    return model, x, s


@pytest.mark.parametrize("mask_over", ["cells", "time"])
def test_multi_input_sis_mask_one_sequence_input_with_the_others_held(
    two_input_classifier, mask_over
):
    """Each input's collection equals the reference procedure on f(seq) = model(seq,
    that input's static covariates), and dict inputs give the same collections."""
    model, x, s = two_input_classifier
    explainer = SISExplainer(model, threshold=0.52, mask_over=mask_over)
    got = explainer.explain([x, s])  # the predicted class of each input
    as_dict = SISExplainer(model, threshold=0.52, mask_over=mask_over).explain(
        {"seq": x, "static": s}, input_name="seq"
    )
    predicted = np.argmax(model([x, s]).numpy(), axis=1)
    mask = make_empty_boolean_mask((6, 2))
    if mask_over == "time":
        mask = make_empty_boolean_mask_broadcast_over_axis((6, 2), 1)
    for i in range(len(x)):

        def f(batch, i=i):
            held = np.repeat(s[i : i + 1], len(batch), axis=0)
            return model([batch.astype("float32"), held]).numpy()[:, predicted[i]]

        expected = sis_collection(f, 0.52, x[i], np.zeros((6, 2)), initial_mask=mask)
        assert len(got[i]) == len(expected)
        for a, b, c in zip(got[i], expected, as_dict[i], strict=True):
            assert a.approx_equal(b, rtol=1e-4, atol=1e-5)
            assert a == c
    assert all(len(c) > 0 and len(c[0]) > 0 for c in got)  # not vacuous, not degenerate


def test_multi_input_sis_bad_input_name(two_input_classifier):
    model, x, s = two_input_classifier
    explainer = SISExplainer(model, threshold=0.4)
    with pytest.raises(ValueError, match="not a sequence input"):
        explainer.explain([x, s], output_indices=1, input_name="static")
    with pytest.raises(ValueError, match=r"must be one of \['seq', 'static'\]"):
        explainer.explain([x, s], output_indices=1, input_name="other")
    with pytest.raises(ValueError, match="`input_name` chooses an input"):
        SISExplainer(model.layers[0], threshold=0.4).explain(x, input_name="seq")
