"""serving.explain: explain_instances, the explain signature's numbers in process."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_support import F, T

import tf_tsexplain.serving._common as common
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving import explain_instances


def test_in_process_explain_matches_the_signature(artifacts):
    model, x = artifacts["model"], artifacts["x"]
    sig = tf.saved_model.load(str(artifacts["root"] / "ig")).signatures["explain"]
    served = {k: v.numpy() for k, v in sig(inputs=tf.constant(x)).items()}
    local = explain_instances(model, x, num_samples=32, output_indices=1)
    for key in ("attributions", "explained_prediction", "baseline_prediction"):
        np.testing.assert_allclose(local[key], served[key], atol=1e-6)
    np.testing.assert_array_equal(local["explained_index"], served["explained_index"])


def test_none_on_several_outputs_is_refused(artifacts):
    model, x = artifacts["model"], artifacts["x"]
    with pytest.raises(ValueError, match=r"choose the one to explain with `output_indices`"):
        explain_instances(model, x, "saliency")
    with pytest.raises(ValueError, match="2 entries"):
        explain_instances(model, x[:2], "saliency", output_indices=(1, 0))
    with pytest.raises(ValueError, match="out of range"):
        explain_instances(model, x, "saliency", output_indices=2)


def test_predicted_through_the_shared_resolution(artifacts, lstm_model, monkeypatch):
    model, x = artifacts["model"], artifacts["x"]
    calls = []
    shared = common.resolve_output_indices

    def recording(output_indices, *args, **kwargs):
        calls.append(output_indices)
        return shared(output_indices, *args, **kwargs)

    monkeypatch.setattr(common, "resolve_output_indices", recording)
    got = explain_instances(model, x, "saliency", output_indices="predicted")
    assert calls == ["predicted"]
    arg_max = model(x).numpy().argmax(axis=1)
    np.testing.assert_array_equal(got["explained_index"], arg_max)
    np.testing.assert_allclose(
        got["explained_prediction"], model(x).numpy()[np.arange(len(x)), arg_max], atol=1e-6
    )
    np.testing.assert_allclose(
        got["attributions"], Saliency(model).attributions(x, output_indices=arg_max), atol=1e-6
    )
    # one output: 'predicted' is that output, as None
    xs = np.random.default_rng(5).normal(size=(3, 6, 3)).astype(np.float32)
    one = explain_instances(lstm_model, xs, "saliency", output_indices="predicted")
    none = explain_instances(lstm_model, xs, "saliency")
    np.testing.assert_array_equal(one["explained_index"], 0)
    np.testing.assert_allclose(one["attributions"], none["attributions"], atol=1e-7)
    # sequence outputs (N, T, C) have no single arg-max class
    sequence_model = keras.Sequential([keras.Input((T, F)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="'predicted' picks the arg-max class"):
        explain_instances(sequence_model, x, "saliency", output_indices="predicted")


def test_wrong_kinds_name_the_argument(artifacts):
    model, x = artifacts["model"], artifacts["x"]
    wrong_kinds = {
        "batch_size": 2.5,
        "seed": "a",
        "num_samples": 8.0,
        "verbose": "yes",
        "allow_nonfinite": 1.0,
        "method": None,
    }
    for name, value in wrong_kinds.items():
        with pytest.raises(TypeError, match=rf"`{name}`.*Received: {name}="):
            explain_instances(model, x, output_indices=0, **{name: value})
    with pytest.raises(ValueError, match="`seed` must be >= 0. Received: seed=-1"):
        explain_instances(model, x, output_indices=0, seed=-1)
    with pytest.raises(ValueError, match="`method` must be one of"):
        explain_instances(model, x, method="shap", output_indices=0)
    with pytest.raises(TypeError, match="`inputs`"):
        explain_instances(model, [["a"]], output_indices=0)


def test_multi_input_in_process_equals_the_signature(two_input_artifacts):
    art = two_input_artifacts
    model, x, mask = art["model"], art["x"], art["mask"]
    sig = tf.saved_model.load(str(art["root"] / "two_ig")).signatures["explain"]
    served = {k: v.numpy() for k, v in sig(**x, padding_mask=tf.constant(mask)).items()}
    local = explain_instances(
        model, x, baseline=art["baseline"], num_samples=16, output_indices=1, padding_mask=mask
    )
    assert sorted(local) == sorted(served)
    for key in served:
        np.testing.assert_allclose(local[key], served[key], atol=1e-6, err_msg=key)
    # saliency: the gradient, exactly zero on padded steps; Taylor error over both inputs
    sal = explain_instances(model, x, "saliency", output_indices=1, padding_mask=mask)
    parts = [tf.constant(x["sequence"]), tf.constant(x["static"])]
    with tf.GradientTape() as tape:
        tape.watch(parts)
        y = model(parts)[:, 1]
    seq_grad, static_grad = (g.numpy() for g in tape.gradient(y, parts))
    assert np.all(sal["attributions_sequence"][~mask] == 0.0)
    np.testing.assert_allclose(sal["attributions_sequence"][mask], seq_grad[mask], atol=1e-6)
    np.testing.assert_allclose(sal["attributions_static"], static_grad, atol=1e-6)
    taylor = (sal["attributions_sequence"] * x["sequence"]).sum(axis=(1, 2)) + (
        sal["attributions_static"] * x["static"]
    ).sum(axis=1)
    gap = sal["explained_prediction"] - sal["baseline_prediction"]
    np.testing.assert_allclose(sal["approximation_error"], np.abs(taylor - gap), atol=1e-5)


def test_multi_input_bad_input(two_input_artifacts):
    model, x = two_input_artifacts["model"], two_input_artifacts["x"]
    with pytest.raises(ValueError, match=r"`padding_mask` must have shape \(4, 5\)"):
        explain_instances(model, x, output_indices=1, padding_mask=np.ones((4, 6), bool))
    with pytest.raises(ValueError, match=r"`baseline\['sequence'\]` must have shape \(5, 2\)"):
        explain_instances(
            model,
            x,
            baseline={"sequence": np.zeros((4, 2)), "static": 0 * x["static"][0]},
            output_indices=1,
        )
    with pytest.raises(ValueError, match=r"needs `baseline\['sequence'\]`: the reference set"):
        explain_instances(
            model,
            x,
            "expected_gradients",
            {"sequence": None, "static": x["static"]},
            output_indices=1,
        )
    with pytest.raises(
        ValueError, match=r"input names \['sequence', 'static'\] as keys; missing \['static'\]"
    ):
        explain_instances(model, {"sequence": x["sequence"]}, output_indices=1)
