"""Every explainer on the kinds of models users bring, and padded sequences.

Small untrained models of each kind (stacked LSTM, GRU, Bidirectional LSTM, a dilated
causal Conv1D (TCN), a Transformer block, Conv1D + BatchNormalization + Dropout,
Masking + LSTM on padded data, an LSTM with one prediction per step, a sequence +
static two-input model, and the standard deep time-series classifier families at tiny
sizes: Inception-style multi-kernel Conv1D with max pooling and bottlenecks, a
ResNet-style residual Conv1D, an FCN and a LITE-like depthwise-separable model):
shapes, integrated-gradients completeness, zero attribution on padding and identical
repeated calls; on the ReLU families, the piecewise-linear warning and symmetric
interactions of the smooth surrogate. Then padded vs unpadded: the attributions
of a sequence padded with k steps equal, on its real steps, those of the same
sequence unpadded, on a model whose Masking makes the two equivalent.
"""

import warnings

import keras
import numpy as np
import pytest

from tf_tsexplain import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    PathExplainerTF,
    Saliency,
    SISExplainer,
    SmoothGrad,
    TemporalSaliencyRescaling,
    TimingExplainer,
)
from tf_tsexplain.masks.contralsp import ContraLSPExplainer
from tf_tsexplain.smooth import piecewise_linear_layers

N, T, F, S = 3, 8, 3, 2
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, F)).astype("float32")
STATIC = RNG.normal(size=(N, S)).astype("float32")
PADDED = X.copy()
PADDED[0, :3] = 0.0  # pre-padded: 3 padding steps
PADDED[1, -2:] = 0.0  # post-padded: 2 padding steps
REAL = np.any(PADDED != 0, axis=-1)


def _head(h):
    return keras.layers.Dense(2, activation="softmax")(h)


def _transformer(inputs):
    h = keras.layers.Dense(8)(inputs)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = keras.layers.LayerNormalization()(h + attended)
    return _head(keras.layers.GlobalAveragePooling1D()(h))


def _conv_bn_relu(h, filters, kernel, **kwargs):
    h = keras.layers.Conv1D(filters, kernel, padding="same", **kwargs)(h)
    return keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))


def _inception(inputs):
    """InceptionTime's module, tiny: a bottleneck, parallel kernels and a max-pool branch."""
    bottleneck = keras.layers.Conv1D(2, 1, padding="same", use_bias=False)(inputs)
    branches = [
        keras.layers.Conv1D(2, k, padding="same", use_bias=False)(bottleneck) for k in (1, 3, 5)
    ]
    pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same")(inputs)
    branches.append(keras.layers.Conv1D(2, 1, padding="same", use_bias=False)(pooled))
    h = keras.layers.Concatenate()(branches)
    h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
    return _head(keras.layers.GlobalAveragePooling1D()(h))


def _resnet(inputs):
    """One residual block of the ResNet classifier (Wang et al.), tiny."""
    h = _conv_bn_relu(inputs, 4, 3)
    h = keras.layers.BatchNormalization()(keras.layers.Conv1D(4, 3, padding="same")(h))
    shortcut = keras.layers.BatchNormalization()(keras.layers.Conv1D(4, 1)(inputs))
    h = keras.layers.Activation("relu")(keras.layers.Add()([h, shortcut]))
    return _head(keras.layers.GlobalAveragePooling1D()(h))


def _fcn(inputs):
    h = _conv_bn_relu(_conv_bn_relu(inputs, 4, 5), 4, 3)
    return _head(keras.layers.GlobalAveragePooling1D()(h))


def _lite(inputs):
    """LITE-like: a multiplexing Conv1D, then dilated depthwise-separable convolutions."""
    h = keras.layers.Concatenate()(
        [keras.layers.Conv1D(2, k, padding="same", activation="relu")(inputs) for k in (2, 4)]
    )
    h = keras.layers.SeparableConv1D(4, 3, padding="same", dilation_rate=2)(h)
    h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
    h = keras.layers.DepthwiseConv1D(3, padding="same", activation="relu")(h)
    return _head(keras.layers.GlobalAveragePooling1D()(h))


CLASSIFIER_FAMILIES = {"inception": _inception, "resnet": _resnet, "fcn": _fcn, "lite": _lite}


def build(kind):
    keras.utils.set_random_seed(1)
    seq = keras.Input((T, F), name="seq")
    if kind == "stacked_lstm":
        h = keras.layers.LSTM(4)(keras.layers.LSTM(4, return_sequences=True)(seq))
        out = _head(h)
    elif kind == "gru":
        out = _head(keras.layers.GRU(4)(seq))
    elif kind == "bidirectional":
        out = _head(keras.layers.Bidirectional(keras.layers.LSTM(3))(seq))
    elif kind == "tcn":
        h = keras.layers.Conv1D(4, 2, padding="causal", dilation_rate=1, activation="relu")(seq)
        h = keras.layers.Conv1D(4, 2, padding="causal", dilation_rate=2, activation="relu")(h)
        out = _head(keras.layers.GlobalAveragePooling1D()(h))
    elif kind == "transformer":
        out = _transformer(seq)
    elif kind in CLASSIFIER_FAMILIES:
        out = CLASSIFIER_FAMILIES[kind](seq)
    elif kind == "conv_bn_dropout":
        h = keras.layers.Conv1D(4, 3, padding="same")(seq)
        h = keras.layers.Dropout(0.5)(keras.layers.BatchNormalization()(h))
        out = _head(keras.layers.Flatten()(h))
    elif kind == "masking_lstm":
        out = _head(keras.layers.LSTM(4)(keras.layers.Masking(0.0)(seq)))
    elif kind == "sequence_output":
        h = keras.layers.LSTM(4, return_sequences=True)(seq)
        out = keras.layers.Dense(2, activation="softmax")(h)  # (N, T, 2)
    elif kind == "two_inputs":
        static = keras.Input((S,), name="static")
        h = keras.layers.Concatenate()([keras.layers.LSTM(4)(seq), static])
        return keras.Model([seq, static], _head(h))
    return keras.Model(seq, out)


KINDS = [
    "stacked_lstm",
    "gru",
    "bidirectional",
    "tcn",
    "transformer",
    "conv_bn_dropout",
    "masking_lstm",
    "sequence_output",
    "two_inputs",
    *CLASSIFIER_FAMILIES,
]


def _inputs(kind):
    if kind == "two_inputs":
        return [X, STATIC]
    return PADDED if kind == "masking_lstm" else X


def _zeros_like(inputs):
    if isinstance(inputs, list):
        return [np.zeros(a.shape[1:], "float32") for a in inputs]
    return np.zeros(inputs.shape[1:], "float32")


def _references(inputs):
    rng = np.random.default_rng(7)  # the same reference set on every call
    if isinstance(inputs, list):
        return [rng.normal(size=(4,) + a.shape[1:]).astype("float32") for a in inputs]
    return rng.normal(size=(4,) + inputs.shape[1:]).astype("float32")


def explainers(model, x, kind=None):
    """name -> call(output_indices): each explainer built once (repeated calls reuse
    its compiled functions)."""
    path, sal = PathExplainerTF(model), Saliency(model)
    zeros, refs = _zeros_like(x), _references(x)
    built = {
        "input_x_gradient": InputXGradient(model),
        "smoothgrad": SmoothGrad(model),
        "occlusion": Occlusion(model),
        "feature_ablation": FeatureAblation(model),
        "feature_permutation": FeaturePermutation(model),
        "tsr": TemporalSaliencyRescaling(sal),
    }
    table = {
        "ig": lambda t: path.attributions(
            x, zeros, num_samples=16, use_expectation=False, output_indices=t
        ),
        "eg": lambda t: path.attributions(x, refs, num_samples=16, output_indices=t, seed=0),
        "saliency": lambda t: sal.attributions(x, output_indices=t),
        "input_x_gradient": lambda t: built["input_x_gradient"].attributions(x, output_indices=t),
        "smoothgrad": lambda t: built["smoothgrad"].attributions(
            x, num_samples=4, output_indices=t, seed=0
        ),
        "occlusion": lambda t: built["occlusion"].attributions(x, output_indices=t),
        "feature_ablation": lambda t: built["feature_ablation"].attributions(x, output_indices=t),
        "feature_permutation": lambda t: built["feature_permutation"].attributions(
            x, output_indices=t, seed=0
        ),
        "tsr": lambda t: built["tsr"].attributions(x, output_indices=t),
    }
    if not isinstance(x, list):  # TIMING masks segments of one sequence input
        timing = TimingExplainer(model)
        table["timing"] = lambda t: timing.attributions(
            x, num_samples=8, num_segments=4, output_indices=t, seed=0
        )
    if kind in ("masking_lstm", "sequence_output"):  # a fit traces its loop: two kinds
        # (padding, a (time, class) target); a linear counterfactual network: the
        # default bidirectional GRU's trace adds ~6 s per kind and is tested elsewhere
        network = keras.Sequential([keras.Input((None, F)), keras.layers.Dense(F)])
        contralsp = ContraLSPExplainer(model, perturbation_network=network)
        table["contralsp"] = lambda t: contralsp.attributions(
            x, n_epoch=3, output_indices=t, seed=0
        )
    return table


def _target(kind):
    return (T - 1, 1) if kind == "sequence_output" else 1


def _shapes(result):
    return [a.shape for a in result] if isinstance(result, list) else [result.shape]


@pytest.mark.parametrize("kind", KINDS)
def test_every_explainer_on_every_model_kind(kind):
    model = build(kind)
    x, target = _inputs(kind), _target(kind)
    expected = _shapes(x)
    for name, method in explainers(model, x, kind).items():
        result = method(target)
        if name == "tsr" and kind == "two_inputs":  # TSR explains the sequence input
            assert result.shape == X.shape, name
        else:
            assert _shapes(result) == expected, name
        parts = result if isinstance(result, list) else [result]
        assert all(np.all(np.isfinite(p)) for p in parts), name
        again = method(target)
        for a, b in zip(parts, again if isinstance(again, list) else [again], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: repeated call differs")
        if kind == "masking_lstm":  # padded cells: exactly zero
            assert np.all(result[~REAL] == 0.0), name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sis = SISExplainer(model, threshold=0.0, mask_over="time").explain(
            x, output_indices=target, max_sis=1
        )  # a two-input model: SIS over its sequence input
    assert len(sis) == N and all(len(c) == 1 and c[0].mask.shape == (T, 1) for c in sis)
    if kind == "masking_lstm":  # SIS never select padded steps
        for i, collection in enumerate(sis):
            assert all(REAL[i, t] for result in collection for t, _ in result.sis)


@pytest.mark.parametrize("kind", KINDS)
def test_integrated_gradients_complete_on_every_model_kind(kind):
    model = build(kind)
    x, target = _inputs(kind), _target(kind)
    baseline = _zeros_like(x)
    ig = PathExplainerTF(model).attributions(
        x, baseline, num_samples=64, use_expectation=False, output_indices=target
    )
    total = sum(p.reshape(N, -1).sum(1) for p in (ig if isinstance(ig, list) else [ig]))
    zero = [np.zeros_like(a) for a in x] if isinstance(x, list) else np.zeros_like(x)
    if kind == "masking_lstm":  # the baseline keeps the padding: f(padding only)
        zero = np.where(REAL[:, :, None], 0.0, PADDED).astype("float32")
    out, out0 = model(x).numpy(), model(zero).numpy()
    pick = (slice(None), T - 1, 1) if kind == "sequence_output" else (slice(None), 1)
    gap = total - (out[pick] - out0[pick])
    assert np.max(np.abs(gap)) < 1e-2 * max(np.max(np.abs(out[pick] - out0[pick])), 1e-2)


def test_multi_input_with_a_zero_weighted_static_input_equals_the_single_input_model():
    keras.utils.set_random_seed(3)
    seq, static = keras.Input((T, F)), keras.Input((S,))
    lstm, dense = keras.layers.LSTM(4), keras.layers.Dense(2)
    two = keras.Model([seq, static], dense(keras.layers.Concatenate()([lstm(seq), static])))
    kernel, bias = dense.get_weights()
    kernel[4:] = 0.0  # the static input has no effect
    dense.set_weights([kernel, bias])
    dense_one = keras.layers.Dense(2)
    one = keras.Model(seq, dense_one(lstm(seq)))  # the same LSTM, the sequence's weights
    dense_one.set_weights([kernel[:4], bias])
    kw = dict(num_samples=32, use_expectation=False, output_indices=1)
    seq_ig, static_ig = PathExplainerTF(two).attributions(
        [X, STATIC], [np.zeros((T, F)), np.zeros(S)], **kw
    )
    alone = PathExplainerTF(one).attributions(X, np.zeros((T, F)), **kw)
    np.testing.assert_allclose(seq_ig, alone, rtol=1e-5, atol=1e-6)
    assert np.all(static_ig == 0.0)
    names = [layer.name for layer in two.layers if isinstance(layer, keras.layers.InputLayer)]
    as_dict = PathExplainerTF(two).attributions(
        {names[0]: X, names[1]: STATIC}, {names[0]: np.zeros((T, F)), names[1]: np.zeros(S)}, **kw
    )
    np.testing.assert_allclose(as_dict[names[0]], seq_ig, rtol=1e-6)


# ----------------------------------------------------------------- padded vs unpadded
@pytest.fixture(scope="module")
def variable_length_model():
    keras.utils.set_random_seed(4)
    return keras.Sequential(
        [
            keras.Input((None, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(4),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def _pad(x, k):
    return np.concatenate([np.zeros((len(x), k, F), "float32"), x], axis=1)  # pre-padding


@pytest.mark.parametrize("method", ["ig", "eg", "smoothgrad", "occlusion", "tsr", "sis"])
def test_padded_sequences_explain_like_unpadded_ones(variable_length_model, method):
    model, k = variable_length_model, 3
    short = X[:, :5]
    padded = _pad(short, k)
    np.testing.assert_allclose(model(padded).numpy(), model(short).numpy(), rtol=1e-5)
    refs = RNG.normal(size=(4, 5, F)).astype("float32")
    if method == "sis":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = SISExplainer(model, threshold=0.5).explain(short, output_indices=1)
            b = SISExplainer(model, threshold=0.5).explain(padded, output_indices=1)
        for ca, cb in zip(a, b, strict=True):
            assert len(ca) == len(cb)
            for ra, rb in zip(ca, cb, strict=True):
                np.testing.assert_array_equal(ra.sis + [k, 0], rb.sis)
                np.testing.assert_allclose(
                    ra.values_over_entire_backselect, rb.values_over_entire_backselect, rtol=1e-4
                )
        return
    run = {
        "ig": lambda x, r: PathExplainerTF(model).attributions(
            x, np.zeros(x.shape[1:]), num_samples=16, use_expectation=False, output_indices=1
        ),
        "eg": lambda x, r: PathExplainerTF(model).attributions(
            x, r, num_samples=16, output_indices=1, seed=0
        ),
        "smoothgrad": lambda x, r: SmoothGrad(model).attributions(
            x, num_samples=8, output_indices=1, seed=3
        ),
        "occlusion": lambda x, r: Occlusion(model).attributions(x, output_indices=1),
        "tsr": lambda x, r: TemporalSaliencyRescaling(PathExplainerTF(model)).attributions(
            x, np.zeros(x.shape[1:]), num_samples=8, use_expectation=False, output_indices=1
        ),
    }[method]
    unpadded, with_padding = run(short, refs), run(padded, _pad(refs, k))
    assert np.all(with_padding[:, :k] == 0.0)
    np.testing.assert_allclose(with_padding[:, k:], unpadded, rtol=1e-4, atol=1e-6)


def test_explicit_padding_mask_and_ragged_inputs():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    real = np.ones((N, T), bool)
    real[0, :2] = False
    sal = Saliency(model).attributions(X, output_indices=0, padding_mask=real)
    assert np.all(sal[0, :2] == 0.0) and np.all(sal[0, 2:] != 0.0)
    ig = PathExplainerTF(model).attributions(
        X, np.zeros((T, F)), use_expectation=False, output_indices=0, padding_mask=real
    )
    assert np.all(ig[0, :2] == 0.0)
    ragged = [X[0, :5], X[1], X[2, :7]]
    out = Saliency(model).attributions(ragged, output_indices=0)  # post-padded for the user
    assert out.shape == (N, T, F) and np.all(out[0, 5:] == 0.0) and np.all(out[2, 7:] == 0.0)
    with pytest.raises(ValueError, match=r"`padding_mask` must have shape \(3, 8\)"):
        Saliency(model).attributions(X, padding_mask=real[:, :4])
    with pytest.raises(ValueError, match="rows without any real step"):
        Saliency(model).attributions(X, padding_mask=np.zeros((N, T), bool))
    with pytest.raises(TypeError, match="`padding_mask` must be booleans"):
        Saliency(model).attributions(X, padding_mask=real.astype(int))
    with pytest.raises(ValueError, match="same F"):
        Saliency(model).attributions([X[0, :5], X[1, :, :2]])


def test_multi_input_bad_structures():
    model = build("two_inputs")
    explainer = PathExplainerTF(model)
    with pytest.raises(ValueError, match=r"takes 2 inputs \['seq', 'static'\]"):
        explainer.attributions([X, STATIC, STATIC], [np.zeros((T, F))] * 3)
    with pytest.raises(ValueError, match="missing \\['static'\\]"):
        explainer.attributions({"seq": X}, {"seq": np.zeros((T, F))})
    with pytest.raises(ValueError, match=r"`baseline\['static'\]` must have shape \(R, 2\)"):
        explainer.attributions([X, STATIC], [np.zeros((T, F)), np.zeros(5)], use_expectation=False)
    with pytest.raises(TypeError, match="`baseline` must be a list of 2 arrays"):
        explainer.attributions([X, STATIC], np.zeros((T, F)))


@pytest.mark.parametrize("kind", list(CLASSIFIER_FAMILIES))
def test_relu_classifier_families_are_flagged(kind):
    kinds = {p.kind for p in piecewise_linear_layers(build(kind))}
    assert "relu activation" in kinds
    assert ("max pooling" in kinds) == (kind == "inception")


def test_smooth_surrogate_of_the_inception_family_interacts_symmetrically():
    """Inception's ReLU and max pooling, smoothed: symmetric interactions that sum to
    the surrogate's output difference (completeness of interactions). One family
    only, to keep the zoo fast; tests/test_path_smooth.py has the details."""
    model = build("inception")
    explainer = PathExplainerTF(model, hessian_method="tiled")  # the fastest trace here
    x, zeros = X[:1], np.zeros((T, F), "float32")
    gamma = explainer.interactions(
        x, zeros, num_samples=16, use_expectation=False, output_indices=1, smooth=True
    )
    info = explainer.last_interactions_info
    assert gamma.shape == (1, T, F, T, F) and info.asymmetry < 1e-4
    surrogate = explainer._surrogates[10.0].model
    gap = surrogate(x).numpy()[0, 1] - surrogate(zeros[None]).numpy()[0, 1]
    assert abs(gamma.sum() - gap) < 1e-3 * max(abs(gap), 1e-2)
    assert info.surrogate_gap.max_abs < 0.1  # beta = 10 on unit-scale inputs
