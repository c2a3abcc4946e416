"""serving.export: the SavedModel with serving_default and explain signatures."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_support import ENV, F, T, ig, two_input_ig

from tf_tsexplain.serving import explain_instances, export_explainer, saved_model_info


def test_exported_signatures_in_a_fresh_process(artifacts, tmp_path):
    root, model, x = artifacts["root"], artifacts["model"], artifacts["x"]
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(root / "ig")!r})
        x = tf.constant(np.load({str(root / "x.npy")!r}))
        out = {{"serving_" + k: v.numpy()
               for k, v in loaded.signatures["serving_default"](inputs=x).items()}}
        out.update({{k: v.numpy() for k, v in loaded.signatures["explain"](inputs=x).items()}})
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=ENV, timeout=300)
    got = dict(np.load(tmp_path / "out.npz"))
    expected_pred = model(x).numpy()
    np.testing.assert_allclose(got["serving_predictions"], expected_pred, atol=1e-6)
    np.testing.assert_allclose(got["predictions"], expected_pred, atol=1e-6)
    np.testing.assert_allclose(got["attributions"], ig(model, x), atol=1e-6)
    assert got["attributions"].shape == x.shape
    np.testing.assert_array_equal(got["explained_index"], np.ones(len(x)))
    np.testing.assert_allclose(got["explained_prediction"], expected_pred[:, 1], atol=1e-6)
    base = model(np.zeros((1, T, F), np.float32)).numpy()[0, 1]
    np.testing.assert_allclose(got["baseline_prediction"], np.full(len(x), base), atol=1e-6)
    gap = expected_pred[:, 1] - base
    recomputed = np.abs(got["attributions"].sum(axis=(1, 2)) - gap)
    np.testing.assert_allclose(got["approximation_error"], recomputed, atol=1e-6)
    assert got["approximation_error"].max() < 1e-4 * max(1.0, np.abs(gap).max())
    assert saved_model_info(root / "ig")["method"] == "integrated_gradients"


def test_saved_model_cli_runs_the_explain_signature(artifacts, tmp_path):
    root, model, x = artifacts["root"], artifacts["model"], artifacts["x"]
    command = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run"]
    done = subprocess.run(
        command
        + ["--dir", str(root / "ig"), "--tag_set", "serve", "--signature_def", "explain"]
        + ["--inputs", f"inputs={root / 'x.npy'}", "--outdir", str(tmp_path / "cli")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    attributions = np.load(tmp_path / "cli" / "attributions.npy")
    np.testing.assert_allclose(attributions, ig(model, x), atol=1e-6)


def test_expected_gradients_and_saliency_exports(artifacts, tmp_path):
    model, x = artifacts["model"], artifacts["x"]
    refs = np.random.default_rng(1).normal(size=(30, T, F)).astype(np.float32)
    export_explainer(
        model, tmp_path / "eg", "expected_gradients", refs, num_samples=64,
        output_indices="predicted",
    )  # fmt: skip
    eg = tf.saved_model.load(str(tmp_path / "eg")).signatures["explain"]
    full = {k: v.numpy() for k, v in eg(inputs=tf.constant(x)).items()}
    one = eg(inputs=tf.constant(x[2:3]))["attributions"].numpy()
    again = eg(inputs=tf.constant(x))["attributions"].numpy()
    np.testing.assert_array_equal(full["explained_index"], model(x).numpy().argmax(1))
    np.testing.assert_allclose(one[0], full["attributions"][2], atol=1e-6)  # batch-independent
    np.testing.assert_array_equal(again, full["attributions"])  # deterministic
    gap = full["explained_prediction"] - full["baseline_prediction"]
    err = np.abs(full["attributions"].sum(axis=(1, 2)) - gap)
    np.testing.assert_allclose(full["approximation_error"], err, atol=1e-6)
    local = explain_instances(
        model, x, "expected_gradients", refs, num_samples=64, output_indices="predicted"
    )  # the CLI's numbers: the same stored draws as the export (seed 0)
    for key in ("attributions", "baseline_prediction", "approximation_error"):
        np.testing.assert_allclose(local[key], full[key], atol=1e-6)

    export_explainer(model, tmp_path / "sal", "saliency", output_indices=0)
    sal = tf.saved_model.load(str(tmp_path / "sal")).signatures["explain"]
    got = {k: v.numpy() for k, v in sal(inputs=tf.constant(x)).items()}
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = model(xt)[:, 0]
    np.testing.assert_allclose(got["attributions"], tape.gradient(y, xt).numpy(), atol=1e-6)
    taylor = np.abs(
        (got["attributions"] * x).sum(axis=(1, 2)) - (y.numpy() - got["baseline_prediction"])
    )
    np.testing.assert_allclose(got["approximation_error"], taylor, atol=1e-5)
    local = explain_instances(model, x, "saliency", output_indices=0)
    for key in ("attributions", "approximation_error", "baseline_prediction"):
        np.testing.assert_allclose(local[key], got[key], atol=1e-5)


def test_export_explainer_bad_input(artifacts, tmp_path):
    model = artifacts["model"]
    with pytest.raises(ValueError, match="choose the one to explain"):
        export_explainer(model, tmp_path / "a")
    with pytest.raises(ValueError, match="`method` must be one of"):
        export_explainer(model, tmp_path / "b", method="shap", output_indices=0)
    with pytest.raises(ValueError, match="reference set"):
        export_explainer(model, tmp_path / "c", method="expected_gradients", output_indices=0)
    with pytest.raises(ValueError, match=r"`baseline` must have shape \(6, 3\)"):
        export_explainer(model, tmp_path / "d", baseline=np.zeros((5, 3)), output_indices=0)
    with pytest.raises(ValueError, match="out of range"):
        export_explainer(model, tmp_path / "e", output_indices=2)
    with pytest.raises(TypeError, match="tf.Module"):
        export_explainer(lambda b: model(b), tmp_path / "f", output_indices=0, input_shape=(T, F))
    assert not any((tmp_path / name).exists() for name in "abcdef")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a SavedModel directory"):
        export_explainer(model, precious, output_indices=0, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging


def test_overwrite_replaces_an_earlier_export(artifacts, tmp_path):
    model, x = artifacts["model"], artifacts["x"]
    export_explainer(model, tmp_path / "e", output_indices=0, num_samples=8)
    export_explainer(model, tmp_path / "e", output_indices=1, num_samples=8, overwrite=True)
    assert saved_model_info(tmp_path / "e")["output_indices"] == 1
    sig = tf.saved_model.load(str(tmp_path / "e")).signatures["explain"]
    np.testing.assert_array_equal(sig(inputs=tf.constant(x))["explained_index"], 1)


def test_float64_model_exports_in_float32(tmp_path):
    model = keras.Sequential(
        [keras.Input((T, F), dtype="float64"), keras.layers.Flatten(dtype="float64")]
        + [keras.layers.Dense(2, dtype="float64")]
    )
    x = np.random.default_rng(2).normal(size=(3, T, F)).astype(np.float32)
    export_explainer(model, tmp_path / "f64", output_indices=1, num_samples=4)
    out = tf.saved_model.load(str(tmp_path / "f64")).signatures["explain"](inputs=tf.constant(x))
    weights = model.layers[-1].kernel.numpy()[:, 1].reshape(T, F)
    expected = x * weights  # a linear model's integrated gradients from 0, exactly
    np.testing.assert_allclose(out["attributions"].numpy(), expected, atol=1e-5)
    assert out["approximation_error"].numpy().max() < 1e-5


def test_export_targets_and_argument_kinds(artifacts, tmp_path):
    model = artifacts["model"]
    # one output per instance: None on two outputs is refused, naming output_indices
    with pytest.raises(ValueError, match=r"`output_indices`.*Received: output_indices=None"):
        export_explainer(model, tmp_path / "a")
    with pytest.raises(ValueError, match="output_indices"):
        export_explainer(model, tmp_path / "a", output_indices="largest")
    sequence_model = keras.Sequential([keras.Input((T, F)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="'predicted' picks the arg-max class"):
        export_explainer(sequence_model, tmp_path / "a", output_indices="predicted")
    with pytest.raises(ValueError, match="2 entries"):
        export_explainer(model, tmp_path / "a", output_indices=(1, 0))
    wrong_kinds = {
        "batch_size": 2.5,
        "seed": "a",
        "num_samples": "8",
        "overwrite": "yes",
        "method": 3,
        "input_shape": (6.0, 3),
    }
    for name, value in wrong_kinds.items():
        with pytest.raises(TypeError, match=rf"`{name}.*Received: {name}"):
            export_explainer(model, tmp_path / "a", output_indices=0, **{name: value})
    with pytest.raises(ValueError, match="`batch_size` must be >= 1. Received: batch_size=0"):
        export_explainer(model, tmp_path / "a", output_indices=0, batch_size=0)
    with pytest.raises(ValueError, match=r"`input_shape` must be a pair \(T, F\)"):
        export_explainer(model, tmp_path / "a", output_indices=0, input_shape=(6, 3, 1))
    assert not (tmp_path / "a").exists()


def test_export_predicted_is_the_arg_max_per_instance(artifacts, tmp_path):
    model, x = artifacts["model"], artifacts["x"]
    info = export_explainer(model, tmp_path / "p", "saliency", output_indices="predicted")
    assert info["output_shape"] == (2,)
    assert saved_model_info(tmp_path / "p")["output_indices"] == "predicted"
    sig = tf.saved_model.load(str(tmp_path / "p")).signatures["explain"]
    out = {k: v.numpy() for k, v in sig(inputs=tf.constant(x)).items()}
    arg_max = model(x).numpy().argmax(axis=1)
    assert len(set(arg_max)) == 2  # both classes occur: the index is per instance
    np.testing.assert_array_equal(out["explained_index"], arg_max)
    local = explain_instances(model, x, "saliency", output_indices="predicted")
    np.testing.assert_array_equal(local["explained_index"], arg_max)
    np.testing.assert_allclose(local["attributions"], out["attributions"], atol=1e-5)


# ---------------------------------------------------------------- multi-input, padding
def test_multi_input_explain_signature_by_input_names(two_input_artifacts):
    art = two_input_artifacts
    model, x, mask = art["model"], art["x"], art["mask"]
    loaded = tf.saved_model.load(str(art["root"] / "two_ig"))
    sig = loaded.signatures["explain"]
    assert sorted(sig.structured_input_signature[1]) == ["padding_mask", "sequence", "static"]
    got = {k: v.numpy() for k, v in sig(**x, padding_mask=tf.constant(mask)).items()}
    assert sorted(got) == sorted(
        ["predictions", "explained_index", "explained_prediction", "baseline_prediction"]
        + ["attributions_sequence", "attributions_static", "approximation_error"]
    )
    expected = two_input_ig(model, x, mask)
    for name in ("sequence", "static"):
        assert got[f"attributions_{name}"].shape == x[name].shape
        np.testing.assert_allclose(got[f"attributions_{name}"], expected[name], atol=1e-6)
    assert np.all(got["attributions_sequence"][~mask] == 0.0)  # exactly zero on padding
    unmasked = sig(**x, padding_mask=tf.ones(mask.shape, tf.bool))["attributions_sequence"]
    assert np.abs(unmasked.numpy()[~mask]).min() > 0  # the mask is what makes them zero
    assert np.abs(got["attributions_sequence"][mask]).min() > 0
    # f(baseline) per instance: the baseline keeps each instance's padded steps
    kept = np.where(mask[:, :, None], art["baseline"]["sequence"], x["sequence"])
    static = np.broadcast_to(art["baseline"]["static"], x["static"].shape)
    base = model([kept, static]).numpy()[:, 1]
    np.testing.assert_allclose(got["baseline_prediction"], base, atol=1e-6)
    pred = model([x["sequence"], x["static"]]).numpy()
    np.testing.assert_allclose(got["predictions"], pred, atol=1e-6)
    # completeness across both inputs together
    total = got["attributions_sequence"].sum(axis=(1, 2)) + got["attributions_static"].sum(1)
    np.testing.assert_allclose(total, pred[:, 1] - base, atol=1e-4)
    np.testing.assert_allclose(
        got["approximation_error"], np.abs(total - pred[:, 1] + base), atol=1e-6
    )
    served = loaded.signatures["serving_default"](**x)["predictions"].numpy()
    np.testing.assert_allclose(served, pred, atol=1e-6)
    info = saved_model_info(art["root"] / "two_ig")
    assert info["input_names"] == ["sequence", "static"]
    assert info["explain_inputs"] == ["sequence", "static", "padding_mask"]
    assert info["padding_mask"] == ["sequence"]


def test_masking_model_export_zero_on_padding_and_expected_gradients(tmp_path):
    # a Masking model declares its padding: the signature finds it without an input
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Masking(0.0), keras.layers.Dense(3, "tanh")]
        + [keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )
    x = np.random.default_rng(2).normal(size=(3, T, F)).astype(np.float32)
    x[0, 4:] = 0.0
    x[2, :2] = 0.0
    refs = np.random.default_rng(3).normal(size=(6, T, F)).astype(np.float32)
    export_explainer(model, tmp_path / "eg", "expected_gradients", refs, num_samples=8)
    sig = tf.saved_model.load(str(tmp_path / "eg")).signatures["explain"]
    assert list(sig.structured_input_signature[1]) == ["inputs"]
    got = {k: v.numpy() for k, v in sig(inputs=tf.constant(x)).items()}
    assert np.all(got["attributions"][0, 4:] == 0.0) and np.all(got["attributions"][2, :2] == 0)
    assert np.abs(got["attributions"][1]).min() > 0
    local = explain_instances(model, x, "expected_gradients", refs, num_samples=8)
    for key in ("attributions", "baseline_prediction", "approximation_error"):
        np.testing.assert_allclose(local[key], got[key], atol=1e-6)
    # without the padding, references turn padding into data along the paths
    every_step = np.ones((3, T), bool)
    loose = explain_instances(model, x, "expected_gradients", refs, 8, padding_mask=every_step)
    assert np.abs(loose["attributions"][0, 4:]).min() > 0


def test_multi_input_export_bad_input(two_input_artifacts, tmp_path):
    model = two_input_artifacts["model"]
    with pytest.raises(ValueError, match=r"`baseline` must have the model's input names.*'seq'"):
        export_explainer(model, tmp_path / "a", baseline={"seq": 0, "static": 0}, output_indices=1)
    with pytest.raises(TypeError, match=r"`baseline` of a model with inputs"):
        export_explainer(model, tmp_path / "a", baseline=np.zeros((5, 2)), output_indices=1)
    with pytest.raises(ValueError, match=r"`baseline\['static'\]` must have shape \(3,\)"):
        export_explainer(
            model, tmp_path / "a", baseline={"sequence": np.zeros((5, 2)), "static": np.zeros(4)},
            output_indices=1,
        )  # fmt: skip
    refs = {"sequence": np.zeros((4, 5, 2)), "static": np.zeros((3, 3))}
    with pytest.raises(ValueError, match=r"same number of rows.*'sequence': 4, 'static': 3"):
        export_explainer(model, tmp_path / "a", "expected_gradients", refs, output_indices=1)
    with pytest.raises(ValueError, match=r"`padding_mask` names no input.*'seq'"):
        export_explainer(model, tmp_path / "a", output_indices=1, padding_mask="seq")
    with pytest.raises(ValueError, match=r"sequence inputs \(T, F\).*'static'"):
        export_explainer(model, tmp_path / "a", output_indices=1, padding_mask="static")
    with pytest.raises(TypeError, match=r"`padding_mask` must be True, False.*Received"):
        export_explainer(model, tmp_path / "a", output_indices=1, padding_mask=1)
    with pytest.raises(TypeError, match=r"`input_shape` must be a dict"):
        export_explainer(model, tmp_path / "a", output_indices=1, input_shape=(5, 2))
    with pytest.raises(ValueError, match=r"`input_shape` must have the model's input names"):
        export_explainer(model, tmp_path / "a", output_indices=1, input_shape={"sequence": (5, 2)})
    inputs = [keras.Input((T, F), name="padding_mask"), keras.Input((2,), name="b")]
    clash = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs[0])))
    with pytest.raises(ValueError, match="rename the Keras Input"):
        export_explainer(clash, tmp_path / "a")
    assert not (tmp_path / "a").exists()
