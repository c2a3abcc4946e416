"""The tf-tsexplain command line: explain, export and demo arguments, errors, help."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from serving_support import ENV, F, T, ig, two_input_ig

from tf_tsexplain.cli import main, read_inputs
from tf_tsexplain.serving import load_model, saved_model_info


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
    np.testing.assert_allclose(np.load(out / "attributions.npy"), ig(model, x), atol=1e-6)
    table = pd.read_csv(out / "attributions.csv")
    assert len(table) == x.size and set(table.feature) == {"a", "b", "c"}
    np.testing.assert_allclose(table.value.to_numpy().reshape(x.shape), x, atol=1e-6)
    instances = pd.read_csv(out / "instances.csv")
    assert instances.approximation_error.max() < 1e-4
    np.testing.assert_allclose(instances.explained_prediction, model(x).numpy()[:, 1], atol=1e-6)
    assert sorted(p.name for p in out.glob("heatmap_*.png")) == ["heatmap_0.png", "heatmap_3.png"]
    printed = capsys.readouterr().out
    # the progress line: the count of a known total and the rate
    assert re.search(r"100% 160/160 path points \| \S+ path points/s", printed), printed


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
        np.load(tmp_path / "o" / "attributions.npy"), ig(model, x, index=0), atol=1e-6
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
        got, ig(model, artifacts["x"], index=None, num_samples=64), atol=1e-5
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


def test_demo_refuses_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "0"]) == 1
    assert "`--epochs` must be >= 1. Received: --epochs=0." in capsys.readouterr().err
    _fails(["demo", "--out", str(tmp_path / "d"), "--n-explain", "0"], capsys, "`--n-explain`")
    assert not (tmp_path / "d").exists()


def test_cli_numbers_named_as_typed(artifacts, tmp_path, capsys):
    root = artifacts["root"]
    explain = ["explain", str(root / "model.keras"), str(root / "x.npy")]
    explain += ["--out", str(tmp_path / "o"), "--output-index", "1"]
    _fails(explain + ["--num-samples", "0"], capsys, "`--num-samples` must be >= 1", "=0")
    _fails(explain + ["--batch-size", "-2"], capsys, "`--batch-size` must be >= 1", "=-2")
    _fails(explain + ["--seed", "-1"], capsys, "`--seed` must be >= 0")
    export = ["export", str(root / "model.keras"), str(tmp_path / "e"), "--output-index", "1"]
    _fails(export + ["--batch-size", "0"], capsys, "`--batch-size` must be >= 1")
    _fails(export + ["--num-samples", "0"], capsys, "`--num-samples` must be >= 1")
    # a model with two outputs needs --output-index (None would mean every output)
    _fails(export[:3], capsys, "output_indices", "'predicted'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


def test_cli_help_lists_the_demo():
    done = subprocess.run(
        [sys.executable, "-m", "tf_tsexplain.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "demo" in done.stdout


# ----------------------------------------------------------------- quick and quiet
# A child process runs main() and prints, on stdout, whether TensorFlow got imported,
# the exit status and TF_CPP_MIN_LOG_LEVEL as TensorFlow would read it.
_CHILD = """
import os, sys
from tf_tsexplain.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
print("tensorflow" in sys.modules, status, os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def _child(argv, **env_changes):
    """(imported TensorFlow, exit status, TF_CPP_MIN_LOG_LEVEL, stderr lines, stdout)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_changes)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, env=env, timeout=300
    )
    imported, status, level = done.stdout.splitlines()[-1].split()
    return imported == "True", int(status), level, done.stderr.splitlines(), done.stdout


def test_help_and_usage_errors_do_not_import_tensorflow(tmp_path):
    imported, status, _, err, out = _child(["--help"])
    assert (imported, status, err) == (False, 0, []) and "explain" in out
    imported, status, _, _, out = _child(["explain", "--help"])
    assert (imported, status) == (False, 0) and "--verbose" in out
    x_file = tmp_path / "x.npy"
    np.save(x_file, np.zeros((2, T, F), np.float32))
    for argv, needle in [
        (["explain", "model.keras"], "the following arguments are required"),
        (["explain", "m.keras", str(x_file), "--out", "o", "--nope"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        (["explain", str(tmp_path / "missing"), str(x_file), "--out", "o"], "does not exist"),
        (["explain", str(x_file), str(tmp_path / "none.npy"), "--out", "o"], "INPUTS file"),
        (["explain", "m", str(x_file), "--out", "o", "--num-samples", "0"], "`--num-samples`"),
        (["demo", "--epochs", "0"], "`--epochs` must be >= 1"),
        (["explain", str(x_file), "--input", f"s={tmp_path}/none.npy", "--out", "o"], "s: file"),
        (["explain", str(x_file), "--input", "seq", "--out", "o"], "NAME=PATH"),
        (
            ["explain", str(x_file), str(x_file), "--lengths", str(x_file), "--padding-mask"]
            + [str(x_file), "--out", "o"],
            "not both",
        ),
    ]:
        imported, status, _, err, _ = _child(argv)
        assert not imported, argv
        assert status in (1, 2) and len(err) == 1 and needle in err[0], (argv, err)
    # the command line itself never imports TensorFlow for --help (its speed is
    # measured by hand: 0.15-0.17 s on 2 cores, see the README)
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tf_tsexplain.cli", "--help"],
        capture_output=True,
        text=True,
    ).stderr
    assert "tf_tsexplain" in importtime and "tensorflow" not in importtime


def test_errors_after_tensorflow_loads_are_one_line_and_logging_is_quiet(artifacts, tmp_path):
    root = artifacts["root"]
    argv = ["explain", str(root / "model.keras"), str(root / "x.npy")]
    argv += ["--out", str(tmp_path / "o"), "--output-index", "7"]
    imported, status, level, err, _ = _child(argv)
    assert imported and status == 1 and level == "3"
    assert len(err) == 1 and "out of range" in err[0], err  # no C++ log lines either
    # a level the user set is kept, with or without --verbose, and shows their logs
    imported, status, level, err, _ = _child([*argv, "--verbose"], TF_CPP_MIN_LOG_LEVEL="1")
    assert (imported, status, level) == (True, 1, "1")
    assert "out of range" in err[-1] and len(err) > 1, err  # before it: cuInit failing (no GPU)


# ---------------------------------------------------------------- several inputs
def test_cli_two_inputs_write_per_input_outputs(two_input_artifacts, tmp_path, capsys):
    art = two_input_artifacts
    root, model, x, mask = art["root"], art["model"], art["x"], art["mask"]
    out = tmp_path / "named"
    common = [
        "--output-index",
        "1",
        "--num-samples",
        "16",
        "--baseline",
        str(root / "baseline.npz"),
    ]
    code = main(
        ["explain", str(root / "two.keras"), "--out", str(out), *common]
        + ["--input", f"sequence={root / 'seq.npy'}", "--input", f"static={root / 'static.npy'}"]
        + ["--padding-mask", str(root / "mask.npy"), "--feature-names", "static=a,b,c"]
    )
    assert code == 0, capsys.readouterr().err
    expected = two_input_ig(model, x, mask)
    for name in ("sequence", "static"):
        np.testing.assert_allclose(
            np.load(out / f"attributions_{name}.npy"), expected[name], atol=1e-6
        )
    assert np.all(np.load(out / "attributions_sequence.npy")[~mask] == 0.0)
    table = pd.read_csv(out / "attributions_sequence.csv")
    assert len(table) == mask.sum() * x["sequence"].shape[2]  # padded steps dropped
    static = pd.read_csv(out / "attributions_static.csv")
    assert "time" not in static and list(static.feature[:3]) == ["a", "b", "c"]
    np.testing.assert_allclose(static.value.to_numpy().reshape(4, 3), x["static"], atol=1e-6)
    assert pd.read_csv(out / "instances.csv").approximation_error.max() < 1e-4
    assert (out / "heatmap_sequence_0.png").is_file() and not (out / "attributions.npy").exists()
    # one .npz of inputs and --lengths give the same files
    code = main(
        ["explain", str(root / "two.keras"), str(root / "both.npz"), "--out", str(tmp_path / "z")]
        + [*common, "--lengths", str(root / "lengths.npy"), "--padding", "post", "--plot", "none"]
    )
    assert code == 0, capsys.readouterr().err
    for name in ("sequence", "static"):
        np.testing.assert_array_equal(
            np.load(tmp_path / "z" / f"attributions_{name}.npy"),
            np.load(out / f"attributions_{name}.npy"),
        )


def test_cli_export_two_inputs(two_input_artifacts, tmp_path, capsys):
    root = two_input_artifacts["root"]
    code = main(
        ["export", str(root / "two.keras"), str(tmp_path / "e"), "--output-index", "1"]
        + ["--method", "saliency", "--baseline", str(root / "baseline.npz")]
        + ["--padding-mask-input"]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "explain (sequence, static, padding_mask) -> " in printed.out
    assert "attributions_sequence, attributions_static" in printed.out
    assert '"sequence": ..., "static": ..., "padding_mask": ...' in printed.out
    info = saved_model_info(tmp_path / "e")
    assert info["method"] == "saliency" and info["padding_mask"] == ["sequence"]
    _fails(
        ["export", str(root / "two.keras"), str(tmp_path / "f"), "--output-index", "1"]
        + ["--baseline", str(root / "seq.npy")],
        capsys, "must be a .npz file with an array per input name",
    )  # fmt: skip
    _fails(
        ["export", str(root / "two.keras"), str(tmp_path / "f"), "--output-index", "1"]
        + ["--padding-mask-input", "static"],
        capsys, "sequence inputs (T, F)", "'static'",
    )  # fmt: skip
    assert not (tmp_path / "f").exists()


def test_cli_two_inputs_bad_input(two_input_artifacts, tmp_path, capsys):
    root = two_input_artifacts["root"]
    out = tmp_path / "o"
    explain = ["explain", str(root / "two.keras"), "--out", str(out), "--output-index", "1"]
    seq, static = f"sequence={root / 'seq.npy'}", f"static={root / 'static.npy'}"
    named = [*explain, "--input", seq, "--input", static]
    _fails([*explain, "--input", "sequence"], capsys, "--input must be NAME=PATH.npy")
    _fails([*explain, "--input", seq, "--input", seq], capsys, "'sequence' is given twice")
    with_npz = [*explain[:2], str(root / "both.npz"), *explain[2:]]
    _fails([*with_npz, "--input", seq], capsys, "not both")
    _fails(explain, capsys, "give INPUTS")
    _fails(
        [*explain, "--input", f"seq={root / 'seq.npy'}", "--input", static],
        capsys, "input names ['sequence', 'static']", "missing ['sequence'], unexpected ['seq']",
    )  # fmt: skip
    one = [*explain[:2], str(root / "seq.npy"), *explain[2:]]
    _fails(one, capsys, "takes the inputs ['sequence', 'static']")
    _fails(
        [*explain, "--input", seq, "--input", f"static={root / 'seq.npy'}"],
        capsys, "`inputs['static']` has shape (4, 5, 2); the model expects (None, 3)",
    )  # fmt: skip
    np.save(tmp_path / "short.npy", two_input_artifacts["mask"][:, :4])
    _fails(
        [*named, "--padding-mask", str(tmp_path / "short.npy")], capsys, "--padding-mask", "(4, 5)"
    )
    np.save(tmp_path / "long.npy", np.array([5, 6, 1, 2]))
    _fails([*named, "--lengths", str(tmp_path / "long.npy")], capsys, "--lengths", "[1, 5]")
    _fails([*named, "--padding", "pre"], capsys, "--padding goes with --lengths")
    _fails([*named, "--baseline", str(root / "seq.npy")], capsys, "must be a .npz file")
    _fails([*named, "--feature-names", "a,b,c"], capsys, "NAME=a,b,c")
    _fails([*named, "--feature-names", "static=a,b"], capsys, "2 names for input 'static'")
    assert not out.exists()
