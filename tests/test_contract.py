"""One contract for every explainer: shapes, dtypes, targets, seeds, batching, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    PathExplainerTF,
    Saliency,
    SmoothGrad,
    TemporalSaliencyRescaling,
)
from tf_tsexplain.sis import SISExplainer

N, T, F, C = 4, 6, 3, 3
W = np.random.default_rng(0).normal(size=(T * F, C)).astype(np.float32)


class CountingModel:
    """A smooth 3-class model that counts its calls (eager calls and traces)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        flat = tf.reshape(x, [tf.shape(x)[0], T * F])
        logits = tf.matmul(tf.tanh(flat), tf.cast(W, x.dtype))
        return tf.nn.softmax(logits)


def _inputs(dtype="float32"):
    return np.random.default_rng(1).normal(size=(N, T, F)).astype(dtype)


REFS = np.random.default_rng(2).normal(size=(5, T, F)).astype(np.float32)

# name -> (build explainer from model, call(explainer, x, **common))
EXPLAINERS = {
    "integrated_gradients": (
        PathExplainerTF,
        lambda e, x, **kw: e.attributions(
            x, np.zeros((T, F), x.dtype), num_samples=8, use_expectation=False, **kw
        ),
    ),
    "expected_gradients": (
        PathExplainerTF,
        lambda e, x, **kw: e.attributions(x, REFS.astype(x.dtype), num_samples=16, **kw),
    ),
    "saliency": (Saliency, lambda e, x, **kw: e.attributions(x, **kw)),
    "input_x_gradient": (InputXGradient, lambda e, x, **kw: e.attributions(x, **kw)),
    "smoothgrad": (SmoothGrad, lambda e, x, **kw: e.attributions(x, num_samples=6, **kw)),
    "occlusion": (Occlusion, lambda e, x, **kw: e.attributions(x, 0.0, window=(2, 1), **kw)),
    "feature_ablation": (
        FeatureAblation,
        lambda e, x, **kw: e.attributions(x, 0.0, feature_mask=np.arange(F)[None], **kw),
    ),
    "feature_permutation": (FeaturePermutation, lambda e, x, **kw: e.attributions(x, **kw)),
    "tsr_saliency": (
        lambda m: TemporalSaliencyRescaling(Saliency(m)),
        lambda e, x, **kw: e.attributions(x, **kw),
    ),
}
RANDOM = {"expected_gradients", "smoothgrad", "feature_permutation"}


@pytest.fixture(params=sorted(EXPLAINERS))
def method(request):
    build, call = EXPLAINERS[request.param]
    model = CountingModel()
    return request.param, model, build(model), call


def test_shape_dtype_and_float64(method):
    name, model, explainer, call = method
    x = _inputs()
    result = call(explainer, x, output_indices=1, seed=0)
    assert result.shape == x.shape and result.dtype == np.float32
    assert np.all(np.isfinite(result)) and np.abs(result).max() > 0
    if name != "tsr_saliency":  # TSR's relevances are min-max scaled: float64 kept too
        assert call(explainer, x.astype("float64"), output_indices=1, seed=0).dtype == np.float64


def test_output_indices_forms(method):
    name, model, explainer, call = method
    x = _inputs()
    per_class = [call(explainer, x, output_indices=c, seed=0) for c in range(C)]
    assert not np.allclose(per_class[0], per_class[1])
    chosen = np.array([2, 0, 1, 2])
    per_input = call(explainer, x, output_indices=chosen, seed=0)
    expected = np.stack([per_class[c][i] for i, c in enumerate(chosen)])
    np.testing.assert_allclose(per_input, expected, rtol=1e-5, atol=1e-6)
    predicted = np.argmax(CountingModel()(tf.constant(x)).numpy(), axis=1)
    np.testing.assert_allclose(
        call(explainer, x, output_indices="predicted", seed=0),
        call(explainer, x, output_indices=predicted, seed=0),
        rtol=1e-6,
        atol=1e-7,
    )
    if name == "tsr_saliency":  # TSR needs one map per input: None on 3 outputs is refused
        with pytest.raises(ValueError, match="one map per input"):
            call(explainer, x, output_indices=None, seed=0)
        return
    every = call(explainer, x, output_indices=None, seed=0)  # leading class axis
    assert every.shape == (C,) + x.shape
    np.testing.assert_allclose(every, np.stack(per_class), rtol=1e-5, atol=1e-6)


def test_seed_and_batch_size_do_not_change_results(method):
    name, model, explainer, call = method
    x = _inputs()
    default = call(explainer, x, output_indices=1, seed=3)
    for batch_size in (1, 7):
        np.testing.assert_allclose(
            call(explainer, x, output_indices=1, seed=3, batch_size=batch_size),
            default,
            rtol=1e-5,
            atol=1e-5,  # TSR's min-max scaling magnifies float32 rounding a little
        )
    if name in RANDOM:
        assert not np.allclose(call(explainer, x, output_indices=1, seed=4), default)


BAD_COMMON = [
    (dict(batch_size=0), ValueError, r"`batch_size` must be >= 1. Received: batch_size=0"),
    (dict(batch_size=2.5), TypeError, r"`batch_size` must be an integer. Received: batch_size=2.5"),
    (dict(seed=-1), ValueError, r"`seed` must be >= 0. Received: seed=-1"),
    (dict(seed="7"), TypeError, r"`seed` must be an integer. Received: seed='7'"),
    (dict(verbose="yes"), TypeError, r"`verbose` must be True or False. Received: verbose='yes'"),
    (dict(output_indices=1.5), TypeError, r"`output_indices` must be None, integers"),
    (dict(output_indices="argmax"), ValueError, r"Received: output_indices='argmax'"),
    (dict(output_indices=C), ValueError, r"`output_indices` value 3 is out of range"),
]


@pytest.mark.parametrize("bad, error, match", BAD_COMMON)
def test_bad_common_arguments_fail_before_long_work(method, bad, error, match):
    name, model, explainer, call = method
    x = _inputs()
    kwargs = dict(output_indices=1, seed=0)
    kwargs.update(bad)
    with pytest.raises(error, match=match):
        call(explainer, x, **kwargs)
    # argument checks come first; a wrong target value is found by the one-row probe
    assert model.calls <= (2 if "output_indices" in bad else 0)


@pytest.mark.parametrize("bad, error, match", BAD_COMMON)
def test_sis_shares_the_common_arguments(bad, error, match):
    model = CountingModel()
    kwargs = dict(output_indices=1)
    kwargs.update(bad)
    with pytest.raises(error, match=match):
        SISExplainer(model, threshold=0.9).explain(_inputs(), **kwargs)
    assert model.calls <= (2 if "output_indices" in bad else 0)


def test_memory_budget_decides_the_default_chunk_and_too_small_says_so():
    model = CountingModel()
    x = _inputs()
    small = Saliency(model, memory_budget=1 << 20)
    np.testing.assert_allclose(
        small.attributions(x, output_indices=0), Saliency(model).attributions(x, output_indices=0)
    )
    huge = np.zeros((1, 64, 8192), np.float32)  # one row needs more than 1 MiB
    with pytest.raises(ValueError, match="too small for one model row"):
        Saliency(lambda b: tf.reduce_sum(b, axis=[1, 2]), memory_budget=1 << 20).attributions(huge)
    with pytest.raises(ValueError, match=r"`memory_budget` must be >= 1048576"):
        Saliency(model, memory_budget=1000)
    with pytest.raises(TypeError, match="`memory_budget` must be an integer"):
        Saliency(model, memory_budget=1e9)


def test_predicted_targets_on_a_multi_input_model():
    """ "predicted" on a multi-input model picks the argmax of the model on all inputs."""

    def two_inputs(parts):
        seq, static = parts
        return CountingModel()(seq) * tf.nn.softmax(static)

    rng = np.random.default_rng(5)
    x, static = _inputs(), rng.normal(size=(N, C)).astype(np.float32) * 3
    explainer = Saliency(two_inputs)
    predicted = np.argmax(two_inputs([x, static]).numpy(), axis=1)
    assert len(set(predicted.tolist())) > 1  # the static input changes the class
    got = explainer.attributions([x, static], output_indices="predicted")
    want = explainer.attributions([x, static], output_indices=predicted.tolist())
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
