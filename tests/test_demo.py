"""The demo: tf-tsexplain demo trains, explains and writes its results."""

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from tf_tsexplain.cli import main
from tf_tsexplain.demo import run_demo


def test_demo_writes_attributions_table_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--n-explain", "3"]) == 0
    printed = capsys.readouterr().out
    for name in ["integrated_gradients.npy", "expected_gradients.npy", "attributions.csv"]:
        assert str(out / name) in printed
    ig = np.load(out / "integrated_gradients.npy")
    eg = np.load(out / "expected_gradients.npy")
    assert ig.shape == eg.shape == (3, 30, 4) and np.isfinite(ig).all()
    table = pd.read_csv(out / "attributions.csv")
    assert list(table.columns) == ["method", "sample", "time", "feature", "attribution", "value"]
    assert len(table) == 2 * 3 * 30 * 4
    ig_rows = table[table.method == "integrated_gradients"]
    np.testing.assert_allclose(ig_rows.attribution.to_numpy().reshape(ig.shape), ig, rtol=1e-5)
    image = matplotlib.image.imread(out / "attributions.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.01  # not blank
    assert str(out / "sis.png") in printed and "SIS 1 (" in printed
    assert matplotlib.image.imread(out / "sis.png").std() > 0.01
    # TSR beside IG: relevances in [0, 1], each map's top cell exactly 1 (top step x
    # top feature of that step), steps below the threshold scaled by 0.1
    assert str(out / "tsr.npy") in printed and str(out / "tsr.png") in printed
    assert "[3/6] temporal saliency rescaling" in printed and "(plain IG:" in printed
    tsr = np.load(out / "tsr.npy")
    assert tsr.shape == ig.shape and tsr.min() >= 0
    np.testing.assert_allclose(tsr.max(axis=(1, 2)), 1.0, rtol=1e-6)
    kept = (tsr.max(axis=2) > 0.1 + 1e-6).sum(axis=1)  # at most 29 - floor(0.55 * 29)
    assert kept.max() <= 14
    assert matplotlib.image.imread(out / "tsr.png").std() > 0.01
    mask = np.load(out / "mask.npy")
    assert mask.shape == (30, 4) and mask.min() >= 0.0 and mask.max() <= 1.0
    assert 0.05 < mask.mean() < 0.2  # the size regulariser's 10% area
    assert "[5/6] dynamic mask" in printed and str(out / "mask.png") in printed
    assert matplotlib.image.imread(out / "mask.png").std() > 0.01


def test_run_demo_checks_its_arguments_first(tmp_path):
    out = tmp_path / "demo"
    for name, value in {"epochs": 2.5, "n_explain": "3", "seed": None}.items():
        with pytest.raises(TypeError, match=rf"`{name}` must be an integer. Received: {name}="):
            run_demo(out, **{name: value})
    with pytest.raises(ValueError, match="`n_explain` must be >= 1. Received: n_explain=0"):
        run_demo(out, n_explain=0)
    assert not out.exists()  # nothing trained or written
