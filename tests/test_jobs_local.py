"""Local jobs (explain_to_parquet) and the job explainer: the method table, export
directories, bad inputs before any shard, and the explain-batch command."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from jobs_support import (
    NAMES,
    F,
    N,
    T,
    build_job,
    run,
    tidy,
)

from tf_tsexplain import (
    FeatureAblation,
    InputXGradient,
    Occlusion,
    Saliency,
    SmoothGrad,
    TemporalSaliencyRescaling,
)
from tf_tsexplain.cli import main
from tf_tsexplain.jobs.layout import (
    load_attributions,
    read_attributions,
    read_instances,
)
from tf_tsexplain.jobs.local import explain_to_parquet


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return build_job(tmp_path_factory.mktemp("job"))


def test_export_directory_uses_its_explain_signature(artifacts, tmp_path):
    """The export of the serving tests (IG, 32 nodes, output 1, 40 rows per call)."""
    export, x = str(artifacts["root"] / "ig"), artifacts["x"]
    out = explain_to_parquet(export, x, tmp_path / "out", shard_size=2, verbose=False)
    assert out["shards_written"] == 3
    loaded = tf.saved_model.load(export)
    served = loaded.signatures["explain"](inputs=tf.constant(x))
    _, attributions, _ = load_attributions(tmp_path / "out")
    np.testing.assert_allclose(attributions, served["attributions"].numpy(), atol=1e-7)
    instances = read_instances(tmp_path / "out").to_pandas()
    for key in ("explained_index", "explained_prediction", "approximation_error"):
        np.testing.assert_allclose(instances[key], served[key].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"fixes the method.*Received: method='saliency'"):
        explain_to_parquet(export, x, tmp_path / "o2", method="saliency")
    with pytest.raises(ValueError, match=r"Received: num_samples=8"):
        explain_to_parquet(export, x, tmp_path / "o2", num_samples=8)


@pytest.mark.parametrize(
    "method, options, in_process",
    [
        ("saliency", {}, lambda m, x: Saliency(m).attributions(x, output_indices=1)),
        (
            "input_x_gradient",
            {},
            lambda m, x: InputXGradient(m).attributions(x, output_indices=1),
        ),
        (
            "smoothgrad",
            {"num_samples": 4},
            lambda m, x: SmoothGrad(m).attributions(x, num_samples=4, output_indices=1, seed=0),
        ),
        (
            "occlusion",
            {"window": (2, 1)},
            lambda m, x: Occlusion(m).attributions(x, 0.0, window=(2, 1), output_indices=1),
        ),
        (
            "feature_ablation",
            {"feature_mask": [[0, 1, 1]]},
            lambda m, x: FeatureAblation(m).attributions(
                x, 0.0, feature_mask=[[0, 1, 1]], output_indices=1
            ),
        ),
        (
            "tsr",
            {"base_method": "saliency", "threshold": 0.5},
            lambda m, x: TemporalSaliencyRescaling(Saliency(m), threshold=0.5).attributions(
                x, output_indices=1
            ),
        ),
    ],
)
def test_other_methods(job, tmp_path, method, options, in_process):
    x = job["x"][:6]
    explain_to_parquet(
        job["model"],
        x,
        tmp_path / "out",
        method=method,
        output_indices=1,
        shard_size=4,
        verbose=False,
        **options,
    )
    _, attributions, _ = load_attributions(tmp_path / "out")
    # TSR min-max scales differences of maps, which magnifies float32 rounding
    atol = 1e-5 if method == "tsr" else 1e-6
    np.testing.assert_allclose(attributions, in_process(job["model"], x), atol=atol)
    instances = read_instances(tmp_path / "out").to_pandas()
    has_identity = method in ("saliency", "input_x_gradient", "occlusion", "feature_ablation")
    assert np.isfinite(instances.approximation_error).all() == has_identity
    assert np.isnan(instances.approximation_error).all() == (not has_identity)


def test_bad_inputs_before_any_shard(job, tmp_path):
    x = job["x"]
    with pytest.raises(ValueError, match=r"shape \(6, 4\).*model expects \(6, 3\)"):
        run(job, np.zeros((4, T, 4), np.float32), tmp_path / "o")
    with pytest.raises(ValueError, match="shape"):
        run(job, np.zeros((4, T + 1, F), np.float32), tmp_path / "o")
    frame = tidy(x[:4], NAMES, np.arange(4))
    pq.write_table(pa.Table.from_pandas(frame.drop(columns="feature")), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="missing the column.*feature"):
        run(job, str(tmp_path / "bad.parquet"), tmp_path / "o")
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "tidy.parquet")
    with pytest.raises(ValueError, match="do not match the source's features"):
        run(job, str(tmp_path / "tidy.parquet"), tmp_path / "o", feature_names=["a", "b", "z"])
    with pytest.raises(ValueError, match="has 2 entries for 3 features"):
        run(job, x, tmp_path / "o", feature_names=["a", "b"])
    with pytest.raises(TypeError, match="takes the options.*Received: window="):
        run(job, x, tmp_path / "o", window=2)
    with pytest.raises(ValueError, match=r"Received: shard_size=0"):
        run(job, x, tmp_path / "o", shard_size=0)
    with pytest.raises(TypeError, match=r"Received: batch_size=2.5"):
        run(job, x, tmp_path / "o", batch_size=2.5)
    with pytest.raises(ValueError, match="not one per input"):
        run(job, x, tmp_path / "o", output_indices=[0, 1])
    with pytest.raises(ValueError, match="needs `baseline`: the reference set"):
        run(job, x, tmp_path / "o", method="expected_gradients")
    with pytest.raises(ValueError, match="no baseline per input"):
        run(job, x, tmp_path / "o", baseline=np.zeros((N, T, F), np.float32))
    with pytest.raises(ValueError, match="does not exist"):
        run(job, str(tmp_path / "missing.npy"), tmp_path / "o")
    with pytest.raises(TypeError, match="`source` must be"):
        run(job, {"x": x}, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing was written
    # a NaN found while streaming names the shard and its samples
    bad = job["x"][:16].copy()
    bad[11, 2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"shard 1 \(samples 8 to 15\).*NaN"):
        run(job, str(tmp_path / "nan.npy"), tmp_path / "o")


def test_export_directory_of_a_two_input_model_with_its_padding_input(
    two_input_artifacts, tmp_path
):
    """An export of several inputs (and a padding_mask input) runs as a job: inputs fed
    by name, per-input outputs equal the signature's, padded steps have no rows."""
    art = two_input_artifacts
    export, x, mask = str(art["root"] / "two_ig"), art["x"], art["mask"]
    out = explain_to_parquet(
        export, x, tmp_path / "out", padding_mask={"sequence": mask}, shard_size=3, verbose=False
    )
    assert out["shards_written"] == 2
    served = tf.saved_model.load(export).signatures["explain"](
        sequence=tf.constant(x["sequence"]),
        static=tf.constant(x["static"]),
        padding_mask=tf.constant(mask),
    )
    _, attributions, _ = load_attributions(tmp_path / "out")
    for name in ("sequence", "static"):
        np.testing.assert_allclose(
            attributions[name], served[f"attributions_{name}"].numpy(), atol=1e-7
        )
    table = read_attributions(tmp_path / "out").to_pandas()
    rows = table[table["input"] == "sequence"]
    assert len(rows) == mask.sum() * x["sequence"].shape[2]  # no row for padded steps
    assert np.abs(served["attributions_sequence"].numpy()[~mask]).max() == 0.0
    with pytest.raises(ValueError, match="takes the inputs"):
        explain_to_parquet(export, x["sequence"], tmp_path / "o2", verbose=False)


def test_cli_explain_batch(job, tmp_path, capsys):
    root = job["root"]
    code = main(
        ["explain-batch", str(root / "model.keras"), str(root / "x.npy"), "--out"]
        + [str(tmp_path / "out"), "--num-samples", "8", "--batch-size", "32"]
        + ["--shard-size", "8", "--output-index", "predicted", "--feature-names", "a,b,c"]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "shards_written=5" in printed and "sequences/" not in printed.split("\n")[-1]
    ids, attributions, names = load_attributions(tmp_path / "out")
    assert names == NAMES and np.array_equal(attributions, job["ref"])
    code = main(
        ["explain-batch", str(root / "model.keras"), str(root / "x.npy"), "--out"]
        + [str(tmp_path / "o2"), "--", "--direct_num_workers=2"]
    )
    assert code == 1
    assert "need --runner beam" in capsys.readouterr().err
