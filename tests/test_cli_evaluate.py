"""``tf-tsexplain evaluate``: faithfulness of several explainers from the command line."""

import keras
import numpy as np
import pandas as pd
import pytest

from tf_tsexplain import Saliency, TimingExplainer
from tf_tsexplain.cli import main
from tf_tsexplain.masks.contralsp import ContraLSPExplainer
from tf_tsexplain.metrics import comprehensiveness, cumulative_prediction_difference

T, F = 6, 3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(5), keras.layers.Dense(3, activation="softmax")]
    )
    model.save(root / "model.keras")
    x = np.random.default_rng(1).normal(size=(6, T, F)).astype(np.float32)
    np.save(root / "x.npy", x)
    return root, model, x


def test_evaluate_writes_table_curves_and_plot(saved, tmp_path, capsys):
    root, model, x = saved
    out = tmp_path / "faith"
    argv = ["evaluate", str(root / "model.keras"), str(root / "x.npy"), "--out", str(out)]
    argv += ["--methods", "ig,eg,saliency,occlusion,tsr", "--num-samples", "8"]
    argv += ["--tsr-samples", "2", "--cpd-steps", "5", "--n-perturbations", "8"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "faithfulness.csv", index_col="explainer")
    assert set(table.index) == {"ig", "eg", "saliency", "occlusion", "tsr", "random"}
    assert table["rank"].is_monotonic_increasing and "comprehensiveness_sem" in table
    for name in table.index:
        assert name in printed
    # the written numbers are the metrics of the same maps
    maps = Saliency(model).attributions(x, output_indices="predicted")
    assert table.loc["saliency", "comprehensiveness"] == pytest.approx(
        comprehensiveness(model, x, maps).mean(), rel=1e-5
    )
    assert table.loc["saliency", "cpd"] == pytest.approx(
        cumulative_prediction_difference(model, x, maps, steps=5).mean(), rel=1e-5
    )
    curves = pd.read_parquet(out / "curves.parquet")
    assert list(curves.columns) == ["explainer", "curve", "fraction", "mean", "sem"]
    assert len(curves) == 6 * 2 * 11
    assert (out / "faithfulness.png").stat().st_size > 20_000


def test_evaluate_the_newest_methods_timing_and_contralsp(saved, tmp_path, capsys):
    root, model, x = saved
    out = tmp_path / "faith"
    argv = ["evaluate", str(root / "model.keras"), str(root / "x.npy"), "--out", str(out)]
    argv += ["--methods", "timing,contralsp", "--num-samples", "8", "--mask-epochs", "5"]
    argv += ["--metrics", "comprehensiveness", "--seed", "3"]
    assert main(argv) == 0
    table = pd.read_csv(out / "faithfulness.csv", index_col="explainer")
    assert set(table.index) == {"timing", "contralsp", "random"}
    # the rows score the maps the library's own calls give with the same seed
    timing = TimingExplainer(model).attributions(
        x, num_samples=8, seed=3, output_indices="predicted"
    )
    masks = ContraLSPExplainer(model).attributions(x, seed=3, n_epoch=5, output_indices="predicted")
    for name, maps in (("timing", timing), ("contralsp", masks)):
        assert table.loc[name, "comprehensiveness"] == pytest.approx(
            comprehensiveness(model, x, maps).mean(), rel=1e-5
        )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "ig,lime"], "--methods must be comma-separated names"),
        (["--metrics", "auc"], "--metrics must be comma-separated names"),
        (["--steps", "0"], "--steps"),
        (["--mask-epochs", "0"], "--mask-epochs"),
        (["--n-perturbations", "-1"], "--n-perturbations"),
        (["--references", "refs.npy"], "--references is for --methods eg"),
        (["--output-index", "first"], "--output-index"),
    ],
)
def test_evaluate_bad_input_is_one_line(saved, tmp_path, capsys, extra, message):
    root, _, _ = saved
    out = tmp_path / "never"
    argv = ["evaluate", str(root / "model.keras"), str(root / "x.npy"), "--out", str(out)]
    assert main(argv + extra) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tf-tsexplain evaluate: error:")
    assert message in err and not out.exists()


def test_evaluate_missing_files(saved, tmp_path, capsys):
    root, _, _ = saved
    for argv in (
        ["evaluate", str(tmp_path / "none.keras"), str(root / "x.npy"), "--out", str(tmp_path)],
        ["evaluate", str(root / "model.keras"), str(tmp_path / "none.npy"), "--out", str(tmp_path)],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist" in err
