"""Serving: artifacts in, explain signatures out, and the command line around them."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.cli import main, read_inputs
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving import (
    explain_instances,
    export_explainer,
    load_model,
    parse_explain_response,
    saved_model_info,
)

T, F, C = 6, 3, 2
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A small LSTM classifier, saved as .keras, exported with IG, and test inputs."""
    root = tmp_path_factory.mktemp("serving")
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(5), keras.layers.Dense(C, activation="softmax")]
    )
    x = np.random.default_rng(0).normal(size=(5, T, F)).astype(np.float32)
    np.save(root / "x.npy", x)
    model.save(root / "model.keras")
    export_explainer(model, root / "ig", num_samples=32, output_indices=1, batch_size=40)
    return {"root": root, "model": model, "x": x}


def _ig(model, x, index=1, num_samples=32, baseline=None):
    b = np.zeros((1, T, F), np.float32) if baseline is None else baseline
    return PathExplainerTF(model).attributions(
        x, b, num_samples=num_samples, use_expectation=False, output_indices=index
    )


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
    np.testing.assert_allclose(got["attributions"], _ig(model, x), atol=1e-6)
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
    np.testing.assert_allclose(attributions, _ig(model, x), atol=1e-6)


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


def test_explainers_run_on_loaded_artifacts(artifacts, tmp_path):
    model, x = artifacts["model"], artifacts["x"]
    model.export(str(tmp_path / "keras_export"), verbose=False)
    for path in (tmp_path / "keras_export", artifacts["root"] / "model.keras"):
        loaded = load_model(path)
        # eager use first, then the compiled explainer (a TF pitfall for SavedModels)
        np.testing.assert_allclose(np.asarray(loaded(x)), model(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(_ig(loaded, x), _ig(model, x), atol=1e-6)
        np.testing.assert_allclose(
            Saliency(loaded).attributions(x, output_indices=0),
            Saliency(model).attributions(x, output_indices=0),
            atol=1e-6,
        )
    with pytest.raises(ValueError, match="second derivatives"):
        PathExplainerTF(load_model(tmp_path / "keras_export")).interactions(
            x[:1], np.zeros((1, T, F)), num_samples=2, use_expectation=False,
            output_indices=1, interaction_index=(0, 0),
        )  # fmt: skip
    # a loaded SavedModel can be exported again with its own explain signature
    export_explainer(load_model(tmp_path / "keras_export"), tmp_path / "again", output_indices=1)
    sig = tf.saved_model.load(str(tmp_path / "again")).signatures["explain"]
    got = sig(inputs=tf.constant(x))["attributions"].numpy()
    np.testing.assert_allclose(got, _ig(model, x, num_samples=64), atol=1e-6)


def test_in_process_explain_matches_the_signature(artifacts):
    model, x = artifacts["model"], artifacts["x"]
    sig = tf.saved_model.load(str(artifacts["root"] / "ig")).signatures["explain"]
    served = {k: v.numpy() for k, v in sig(inputs=tf.constant(x)).items()}
    local = explain_instances(model, x, num_samples=32, output_indices=1)
    for key in ("attributions", "explained_prediction", "baseline_prediction"):
        np.testing.assert_allclose(local[key], served[key], atol=1e-6)
    np.testing.assert_array_equal(local["explained_index"], served["explained_index"])


def test_parse_explain_response_row_and_columnar(artifacts):
    sig = tf.saved_model.load(str(artifacts["root"] / "ig")).signatures["explain"]
    out = {k: v.numpy() for k, v in sig(inputs=tf.constant(artifacts["x"])).items()}
    n = len(artifacts["x"])
    rows = [{k: v[i].tolist() for k, v in out.items()} for i in range(n)]
    frame = parse_explain_response(json.dumps({"predictions": rows}), feature_names=list("abc"))
    assert len(frame) == n * T * F and list(frame.feature[:3]) == ["a", "b", "c"]
    np.testing.assert_allclose(
        frame.attribution.to_numpy().reshape(n, T, F), out["attributions"], atol=1e-7
    )
    per_instance = frame.groupby("sample").approximation_error.first().to_numpy()
    np.testing.assert_allclose(per_instance, out["approximation_error"], rtol=1e-6)
    columnar = {"outputs": {k: v.tolist() for k, v in out.items()}}
    pd.testing.assert_frame_equal(
        parse_explain_response(json.dumps(columnar).encode()),
        parse_explain_response({"predictions": rows}),
    )
    with pytest.raises(ValueError, match="signature_name='explain'"):
        parse_explain_response({"predictions": [{"predictions": [0.1, 0.9]}]})
    with pytest.raises(ValueError, match="server returned an error"):
        parse_explain_response({"error": "Serving signature name: 'x' not found"})
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_explain_response("{not json")


def test_cli_explain_end_to_end(artifacts, tmp_path, capsys):
    root, model, x = artifacts["root"], artifacts["model"], artifacts["x"]
    before = set(tmp_path.iterdir())
    out = tmp_path / "expl"
    code = main(
        ["explain", str(root / "model.keras"), str(root / "x.npy"), "--out", str(out)]
        + ["--output-index", "1", "--num-samples", "32", "--plot", "0,3"]
        + ["--feature-names", "a,b,c"]
    )
    assert code == 0, capsys.readouterr().err
    assert set(tmp_path.iterdir()) - before == {out}  # nothing written outside --out
    np.testing.assert_allclose(np.load(out / "attributions.npy"), _ig(model, x), atol=1e-6)
    table = pd.read_csv(out / "attributions.csv")
    assert len(table) == x.size and set(table.feature) == {"a", "b", "c"}
    np.testing.assert_allclose(table.value.to_numpy().reshape(x.shape), x, atol=1e-6)
    instances = pd.read_csv(out / "instances.csv")
    assert instances.approximation_error.max() < 1e-4
    np.testing.assert_allclose(instances.explained_prediction, model(x).numpy()[:, 1], atol=1e-6)
    assert sorted(p.name for p in out.glob("heatmap_*.png")) == ["heatmap_0.png", "heatmap_3.png"]
    printed = capsys.readouterr().out
    assert re.search(r"\d+(us|ms|s)/path points", printed)  # the progress bar's rate


def test_cli_export_then_explain_the_export(artifacts, tmp_path, capsys):
    root, model, x = artifacts["root"], artifacts["model"], artifacts["x"]
    export_dir = tmp_path / "exported"
    code = main(
        ["export", str(root / "model.keras"), str(export_dir), "--output-index", "predicted"]
        + ["--num-samples", "16"]
    )
    assert code == 0, capsys.readouterr().err
    assert '"signature_name": "explain"' in capsys.readouterr().out
    assert saved_model_info(export_dir)["output_indices"] == "predicted"
    # the exported serving_default explains like the original model
    code = main(
        ["explain", str(export_dir), str(root / "x.npy"), "--out", str(tmp_path / "o")]
        + ["--output-index", "0", "--num-samples", "32", "--plot", "none"]
    )
    assert code == 0, capsys.readouterr().err
    np.testing.assert_allclose(
        np.load(tmp_path / "o" / "attributions.npy"), _ig(model, x, index=0), atol=1e-6
    )
    # exporting again into the same non-empty directory is refused
    assert main(["export", str(root / "model.keras"), str(export_dir)]) == 1
    assert "not empty" in capsys.readouterr().err


def test_csv_inputs_tidy_and_wide(artifacts, tmp_path):
    x = artifacts["x"]
    tidy = pd.DataFrame(
        {
            "sample": np.repeat(np.arange(5), T * F),
            "time": np.tile(np.repeat(np.arange(T), F), 5),
            "feature": np.tile(["u", "v", "w"], 5 * T),
            "value": x.ravel(),
        }
    ).sample(frac=1.0, random_state=0)  # row order must not matter
    tidy.to_csv(tmp_path / "tidy.csv", index=False)
    got, names = read_inputs(str(tmp_path / "tidy.csv"))
    assert sorted(names) == ["u", "v", "w"]  # in order of first appearance
    order = [names.index(n) for n in ["u", "v", "w"]]
    np.testing.assert_allclose(got[..., order], x, atol=1e-12)
    pd.DataFrame(x[1], columns=["p", "q", "r"]).to_csv(tmp_path / "wide.csv", index=False)
    got, names = read_inputs(str(tmp_path / "wide.csv"))
    assert names == ["p", "q", "r"]
    np.testing.assert_allclose(got, x[1:2], atol=1e-12)


def _fails(argv, capsys, *needles):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_cli_bad_input(artifacts, tmp_path, capsys):
    root, x = artifacts["root"], artifacts["x"]
    keras_file, x_file, out = str(root / "model.keras"), str(root / "x.npy"), str(tmp_path / "o")
    explain = ["explain", keras_file, x_file, "--out", out]
    _fails(["explain", str(tmp_path / "nope"), x_file, "--out", out], capsys, "does not exist")
    (tmp_path / "empty").mkdir()
    _fails(["explain", str(tmp_path / "empty"), x_file, "--out", out], capsys, "SavedModel")
    _fails(["explain", x_file, x_file, "--out", out], capsys, ".keras")
    saved = str(root / "ig")
    _fails(
        ["explain", saved, x_file, "--out", out, "--signature", "predict"],
        capsys, "'predict' not found", "explain, serving_default",
    )  # fmt: skip
    _fails(
        ["explain", saved, x_file, "--out", out, "--signature", "explain"],
        capsys, "6 outputs", "attributions",
    )  # fmt: skip
    _fails(
        ["explain", saved, x_file, "--out", out, "--input-name", "x"],
        capsys, "input 'x' not found", "inputs",
    )  # fmt: skip
    _fails(
        ["explain", saved, x_file, "--out", out, "--output-name", "probs"],
        capsys, "output 'probs' not found", "predictions",
    )  # fmt: skip
    np.save(tmp_path / "short.npy", x[:, :4])
    _fails(["explain", saved, str(tmp_path / "short.npy"), "--out", out], capsys, "(None, 6, 3)")
    _fails(explain[:2] + [str(tmp_path / "short.npy")] + explain[3:], capsys, "(None, 6, 3)")
    np.save(tmp_path / "words.npy", np.array([["a"] * F] * T))
    _fails(["explain", saved, str(tmp_path / "words.npy"), "--out", out], capsys, "dtype")
    _fails(explain + ["--output-index", "7"], capsys, "out of range")
    _fails(explain + ["--output-index", "__import__('os')"], capsys, "--output-index")
    _fails(explain + ["--method", "expected_gradients"], capsys, "--references")
    _fails(explain + ["--plot", "9"], capsys, "--plot")
    np.save(tmp_path / "two.npy", x[:2])
    _fails(
        ["explain", keras_file, str(tmp_path / "two.npy"), "--out", out, "--output-index", "1,0"],
        capsys, "2 entries", "1 axis",
    )  # fmt: skip
    np.save(tmp_path / "one.npy", x[:1])
    _fails(
        ["explain", keras_file, str(tmp_path / "one.npy"), "--out", out, "--baseline", "mean"],
        capsys, "single input",
    )  # fmt: skip
    pd.DataFrame(x[0]).to_csv(tmp_path / "noheader.csv", index=False, header=False)
    _fails(["explain", keras_file, str(tmp_path / "noheader.csv"), "--out", out], capsys, "header")
    (tmp_path / "broken.keras").write_text("not a zip file")
    _fails(["explain", str(tmp_path / "broken.keras"), x_file, "--out", out], capsys, "cannot load")
    nan = x.copy()
    nan[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    _fails(["explain", keras_file, str(tmp_path / "nan.npy"), "--out", out], capsys, "NaN")
    assert not os.path.exists(out)  # every check ran before anything was written


def test_lambda_keras_file_needs_unsafe(artifacts, tmp_path, capsys):
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Lambda(lambda z: 2.0 * z), keras.layers.Flatten()]
        + [keras.layers.Dense(1)]
    )
    model.save(tmp_path / "lambda.keras")
    x_file = str(artifacts["root"] / "x.npy")
    argv = ["explain", str(tmp_path / "lambda.keras"), x_file, "--out", str(tmp_path / "o")]
    _fails(argv, capsys, "--unsafe", "Lambda")
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(tmp_path / "lambda.keras")
    assert main(argv + ["--plot", "none", "--unsafe"]) == 0
    got = np.load(tmp_path / "o" / "attributions.npy")
    np.testing.assert_allclose(
        got, _ig(model, artifacts["x"], index=None, num_samples=64), atol=1e-5
    )


def test_cli_errors_in_a_real_process_and_help(artifacts, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tf_tsexplain.cli", "explain", str(tmp_path / "missing")]
        + [str(artifacts["root"] / "x.npy"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "does not exist" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "tf_tsexplain.cli", "explain", "--help"],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and "--unsafe" in done.stdout and "safe mode" in done.stdout


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
