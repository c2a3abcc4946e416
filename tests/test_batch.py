"""Streaming jobs to Parquet: sources, exactness against in-process calls, resume, errors."""

import json
import os

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from tf_tsexplain import (
    FeatureAblation,
    InputXGradient,
    Occlusion,
    PathExplainerTF,
    Saliency,
    SmoothGrad,
    TemporalSaliencyRescaling,
)
from tf_tsexplain import batch as batch_module
from tf_tsexplain.batch import (
    JOB_FILE,
    attribution_schema,
    explain_to_parquet,
    instance_schema,
    load_attributions,
    read_attributions,
    read_instances,
    write_tfrecord,
)
from tf_tsexplain.cli import main

T, F, C, N = 6, 3, 2, 40
# 8 path points x 8 sequences per shard = two chunks of 32 rows: the model sees the
# same chunks as in one in-process call with batch_size=32, so results are bit-equal.
JOB = {"num_samples": 8, "batch_size": 32, "shard_size": 8, "output_indices": "predicted"}
NAMES = ["a", "b", "c"]


def _ig(model, x, baseline, **kwargs):
    """The in-process reference: integrated gradients with the jobs' settings."""
    return PathExplainerTF(model).attributions(
        x, baseline, use_expectation=False, num_samples=8, batch_size=32, **kwargs
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(6), keras.layers.Dense(C, activation="softmax")]
    )
    model.save(root / "model.keras")
    x = np.random.default_rng(0).normal(size=(N, T, F)).astype(np.float32)
    np.save(root / "x.npy", x)
    ref = _ig(model, x, np.zeros((1, T, F), np.float32), output_indices="predicted")
    return {"root": root, "model": model, "x": x, "ref": ref}


def _run(job, source, out, **kwargs):
    settings = {**JOB, "verbose": False, **kwargs}
    return explain_to_parquet(job["model"], source, out, **settings)


def test_array_source_equals_in_process_exactly(job, tmp_path):
    model, x = job["model"], job["x"]
    summary = _run(job, x, tmp_path / "out", feature_names=NAMES)
    assert summary["shards_written"] == 5 and summary["sequences_written"] == N
    ids, attributions, names = load_attributions(tmp_path / "out")
    np.testing.assert_array_equal(ids, np.arange(N))
    assert names == NAMES
    assert np.array_equal(attributions, job["ref"])  # bit for bit
    table = read_attributions(tmp_path / "out")
    assert table.schema == attribution_schema()
    assert table.num_rows == x.size
    np.testing.assert_array_equal(np.sort(table.column("value").to_numpy()), np.sort(x.ravel()))
    instances = read_instances(tmp_path / "out").to_pandas().sort_values("sample")
    assert read_instances(tmp_path / "out").schema == instance_schema()
    outputs = model(x).numpy()
    np.testing.assert_array_equal(instances.explained_index, outputs.argmax(axis=1))
    np.testing.assert_allclose(instances.explained_prediction, outputs.max(axis=1), atol=1e-6)
    base = model(np.zeros((1, T, F), np.float32)).numpy()[0]
    np.testing.assert_allclose(
        instances.baseline_prediction, base[instances.explained_index], atol=1e-6
    )
    gap = np.abs(
        job["ref"].sum(axis=(1, 2)) - (outputs.max(axis=1) - instances.baseline_prediction)
    )
    np.testing.assert_allclose(instances.approximation_error, gap, atol=1e-6)
    files = sorted(p.name for p in (tmp_path / "out" / "attributions").iterdir())
    assert files == [f"shard-0000{k}.parquet" for k in range(5)]
    assert json.loads((tmp_path / "out" / JOB_FILE).read_text())["settings"]["method"] == (
        "integrated_gradients"
    )


def test_npy_source_is_memory_mapped_not_loaded(job, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the .npy source must not be loaded whole")

    monkeypatch.setattr(np, "load", refuse)
    _run(job, str(job["root"] / "x.npy"), tmp_path / "one")
    assert np.array_equal(load_attributions(tmp_path / "one")[1], job["ref"])
    # several files (a list or a glob) count rows across files in name order
    np.save(tmp_path / "x-0.npy", job["x"][:13])
    np.save(tmp_path / "x-1.npy", job["x"][13:])
    _run(job, str(tmp_path / "x-*.npy"), tmp_path / "two")
    ids, attributions, _ = load_attributions(tmp_path / "two")
    np.testing.assert_array_equal(ids, np.arange(N))
    assert np.array_equal(attributions, job["ref"])


def test_npy_source_releases_pages(job, tmp_path):
    source = batch_module.open_source(str(job["root"] / "x.npy"))
    blocks = [b.x for b in source.blocks(7)]
    np.testing.assert_array_equal(np.concatenate(blocks), job["x"])
    assert [len(b) for b in blocks] == [7] * 5 + [5]


def _tidy(x, names, ids):
    n, t, f = x.shape
    frame = pd.DataFrame(
        {
            "sample": np.repeat(ids, t * f),
            "time": np.tile(np.repeat(np.arange(t) * 10, f), n),  # time labels, not positions
            "feature": np.tile(names, n * t),
            "value": x.ravel(),
        }
    )
    rng = np.random.default_rng(1)  # rows of a sample in any order, samples together
    frame["_key"] = rng.random(len(frame))
    return frame.sort_values(["sample", "_key"]).drop(columns="_key")


def test_parquet_tidy_and_wide_sources(job, tmp_path):
    x = job["x"]
    ids = np.array([f"s{i:03d}" for i in range(N)])
    pq.write_table(
        pa.Table.from_pandas(_tidy(x, NAMES, ids), preserve_index=False),
        tmp_path / "tidy.parquet",
        row_group_size=100,  # samples cross row groups and record batches
    )
    _run(job, str(tmp_path / "tidy.parquet"), tmp_path / "o1", feature_names=NAMES)
    got_ids, attributions, names = load_attributions(tmp_path / "o1")
    np.testing.assert_array_equal(got_ids, ids)
    assert names == NAMES and np.array_equal(attributions, job["ref"])
    assert read_instances(tmp_path / "o1").schema.field("sample").type == pa.string()

    wide = {"sample": pa.array(np.arange(N) + 100)}
    for j, name in enumerate(NAMES):
        wide[name] = pa.array([row.tolist() for row in x[:, :, j]], pa.list_(pa.float32()))
    (tmp_path / "wide").mkdir()
    table = pa.table(wide)
    pq.write_table(table.slice(0, 17), tmp_path / "wide" / "part-0.parquet")
    pq.write_table(table.slice(17), tmp_path / "wide" / "part-1.parquet")
    _run(job, str(tmp_path / "wide"), tmp_path / "o2")
    got_ids, attributions, names = load_attributions(tmp_path / "o2")
    np.testing.assert_array_equal(got_ids, np.arange(N) + 100)
    assert names == NAMES and np.array_equal(attributions, job["ref"])


def test_tf_data_and_tfrecord_sources(job, tmp_path):
    x = job["x"]
    ids = tf.constant([f"id{i}" for i in range(N)])
    pairs = tf.data.Dataset.from_tensor_slices((ids, x))
    _run(job, pairs, tmp_path / "pairs")
    got_ids, attributions, _ = load_attributions(tmp_path / "pairs")
    assert list(got_ids) == sorted(f"id{i}" for i in range(N))
    order = np.argsort([f"id{i}" for i in range(N)])
    assert np.array_equal(attributions, job["ref"][order])
    # batches are unbatched and re-cut into shards; ids count sequences
    source = batch_module.open_source(tf.data.Dataset.from_tensor_slices(x).batch(6))
    blocks = list(source.blocks(16))
    np.testing.assert_array_equal(np.concatenate([b.ids for b in blocks]), np.arange(N))
    np.testing.assert_array_equal(np.concatenate([b.x for b in blocks]), x)
    write_tfrecord(tmp_path / "x.tfrecord", x, ids=np.arange(N) * 2)
    _run(job, str(tmp_path / "x.tfrecord"), tmp_path / "records")
    got_ids, attributions, _ = load_attributions(tmp_path / "records")
    np.testing.assert_array_equal(got_ids, np.arange(N) * 2)
    assert np.array_equal(attributions, job["ref"])


def test_resume_after_interruption_writes_each_shard_once(job, tmp_path, monkeypatch):
    out = tmp_path / "job"
    written = []
    real_write = batch_module._write_atomic
    calls = {"n": 0}
    real_explain = batch_module.JobExplainer.explain

    def record(table, path):
        written.append(path.name + "/" + path.parent.name)
        real_write(table, path)

    def crash_on_third(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the job is killed while explaining shard 2
        return real_explain(self, *args)

    monkeypatch.setattr(batch_module, "_write_atomic", record)
    monkeypatch.setattr(batch_module.JobExplainer, "explain", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        _run(job, job["x"], out)
    assert len(written) == 4  # shards 0 and 1, both tables
    # a kill inside the write of shard 2 left a hidden temporary file, and a kill
    # between the two renames of shard 3 an attributions file without instances
    (out / "attributions" / ".shard-00002.parquet.0badc0de.tmp").write_bytes(b"PAR1 partial")
    real_write(
        pq.read_table(out / "attributions" / "shard-00000.parquet"),
        out / "attributions" / "shard-00003.parquet",
    )
    visible = {p.name for p in (out / "attributions").glob("*.parquet")}
    assert visible == {"shard-00000.parquet", "shard-00001.parquet", "shard-00003.parquet"}
    assert read_attributions(out).num_rows == 2 * 8 * T * F  # complete shards only

    monkeypatch.setattr(batch_module.JobExplainer, "explain", real_explain)
    written.clear()
    summary = _run(job, job["x"], out)
    assert summary["shards_skipped"] == 2 and summary["shards_written"] == 3
    assert sorted(written) == sorted(
        f"shard-0000{k}.parquet/{d}" for k in (2, 3, 4) for d in ("attributions", "instances")
    )
    assert not list(out.rglob(".*.tmp"))
    ids, attributions, _ = load_attributions(out)
    np.testing.assert_array_equal(ids, np.arange(N))  # each sequence once
    assert np.array_equal(attributions, job["ref"])
    # the job is complete: resuming again writes nothing
    assert _run(job, job["x"], out)["shards_written"] == 0


def test_job_killed_mid_write_leaves_no_visible_file(job, tmp_path, monkeypatch):
    real = pq.write_table

    def torn(table, where, **kwargs):
        real(table.slice(0, 5), where, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", torn)
    with pytest.raises(OSError, match="disk full"):
        _run(job, job["x"], tmp_path / "out")
    assert os.listdir(tmp_path / "out" / "attributions") == []
    assert os.listdir(tmp_path / "out" / "instances") == []


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
        _run(job, np.zeros((4, T, 4), np.float32), tmp_path / "o")
    with pytest.raises(ValueError, match="shape"):
        _run(job, np.zeros((4, T + 1, F), np.float32), tmp_path / "o")
    frame = _tidy(x[:4], NAMES, np.arange(4))
    pq.write_table(pa.Table.from_pandas(frame.drop(columns="feature")), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="missing the column.*feature"):
        _run(job, str(tmp_path / "bad.parquet"), tmp_path / "o")
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "tidy.parquet")
    with pytest.raises(ValueError, match="do not match the source's features"):
        _run(job, str(tmp_path / "tidy.parquet"), tmp_path / "o", feature_names=["a", "b", "z"])
    with pytest.raises(ValueError, match="has 2 entries for 3 features"):
        _run(job, x, tmp_path / "o", feature_names=["a", "b"])
    with pytest.raises(TypeError, match="takes the options.*Received: window="):
        _run(job, x, tmp_path / "o", window=2)
    with pytest.raises(ValueError, match=r"Received: shard_size=0"):
        _run(job, x, tmp_path / "o", shard_size=0)
    with pytest.raises(TypeError, match=r"Received: batch_size=2.5"):
        _run(job, x, tmp_path / "o", batch_size=2.5)
    with pytest.raises(ValueError, match="not one per input"):
        _run(job, x, tmp_path / "o", output_indices=[0, 1])
    with pytest.raises(ValueError, match="needs `baseline`: the reference set"):
        _run(job, x, tmp_path / "o", method="expected_gradients")
    with pytest.raises(ValueError, match="no baseline per input"):
        _run(job, x, tmp_path / "o", baseline=np.zeros((N, T, F), np.float32))
    with pytest.raises(ValueError, match="does not exist"):
        _run(job, str(tmp_path / "missing.npy"), tmp_path / "o")
    with pytest.raises(TypeError, match="`source` must be"):
        _run(job, {"x": x}, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing was written
    # a NaN found while streaming names the shard and its samples
    bad = job["x"][:16].copy()
    bad[11, 2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"shard 1 \(samples 8 to 15\).*NaN"):
        _run(job, str(tmp_path / "nan.npy"), tmp_path / "o")


def test_out_dir_of_another_job_is_refused(job, tmp_path):
    x = job["x"][:8]
    out = tmp_path / "out"
    _run(job, x, out)
    with pytest.raises(ValueError, match="holds another job.*differ in options"):
        _run(job, x, out, num_samples=4)
    with pytest.raises(ValueError, match="holds another job.*source"):
        _run(job, x + 1, out)
    with pytest.raises(ValueError, match="already holds this job.*resume=False"):
        _run(job, x, out, resume=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not the output of a tf_tsexplain job"):
        _run(job, x, other)
    assert sorted(os.listdir(other)) == ["notes.txt"]


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


# ---------------------------------------------------------------------------- several inputs
S = 2  # static covariates


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    keras.utils.set_random_seed(6)
    seq = keras.Input((T, F), name="seq")
    static = keras.Input((S,), name="static")
    hidden = keras.layers.Concatenate()([keras.layers.LSTM(4)(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(C, activation="softmax")(hidden))
    model.save(root / "model.keras")
    rng = np.random.default_rng(2)
    x = {
        "seq": rng.normal(size=(12, T, F)).astype(np.float32),
        "static": rng.normal(size=(12, S)).astype(np.float32),
    }
    base = {"seq": np.zeros((1, T, F), np.float32), "static": np.full((1, S), 0.5, np.float32)}
    # the job resolves "predicted" itself (an explainer's "predicted" on a dict of inputs
    # fails in _explainer.predict): the same classes, given per input
    predicted = model.predict([x["seq"], x["static"]], verbose=0).argmax(axis=1)
    ref = _ig(model, x, base, output_indices=predicted)
    return {"root": root, "model": model, "x": x, "base": base, "ref": ref}


def _run_multi(multi, source, out, **kwargs):
    settings = {**JOB, "shard_size": 4, "baseline": multi["base"], "verbose": False, **kwargs}
    return explain_to_parquet(multi["model"], source, out, **settings)


def _check_multi(multi, out, ids=None):
    got_ids, attributions, names = load_attributions(out)
    np.testing.assert_array_equal(got_ids, np.arange(12) if ids is None else ids)
    assert list(attributions) == ["seq", "static"]
    for name in ("seq", "static"):
        assert np.array_equal(attributions[name], multi["ref"][name]), name  # bit for bit
    return names


def test_multi_input_sources_equal_in_process(multi, tmp_path):
    x, root = multi["x"], multi["root"]
    names = {"seq": NAMES, "static": ["age", "income"]}
    _run_multi(multi, x, tmp_path / "dict", feature_names=names)
    assert _check_multi(multi, tmp_path / "dict") == names
    table = read_attributions(tmp_path / "dict")
    assert table.schema == attribution_schema(multi=True)
    frame = table.to_pandas()
    assert frame.input.dtype == "category" and set(frame.input) == {"seq", "static"}
    static_rows = frame[frame.input == "static"]
    assert len(static_rows) == 12 * S and static_rows.time.isna().all()
    assert len(frame) == 12 * (T * F + S) and frame[frame.input == "seq"].time.notna().all()
    np.testing.assert_array_equal(
        static_rows.sort_values(["sample", "feature"]).value.to_numpy(),
        x["static"][:, [0, 1]].ravel(),  # "age" < "income"
    )
    settings = json.loads((tmp_path / "dict" / JOB_FILE).read_text())["settings"]
    assert settings["input_shape"] == {"seq": [T, F], "static": [S]}
    assert set(settings["baseline"]) == {"seq", "static"}
    # a list in the model's order, and one .npy file per input (memory-mapped)
    np.save(root / "seq.npy", x["seq"])
    np.save(root / "static.npy", x["static"])
    _run_multi(
        multi, {"static": str(root / "static.npy"), "seq": str(root / "seq.npy")}, tmp_path / "npy"
    )
    _check_multi(multi, tmp_path / "npy")
    # one Parquet table with the columns <input>/<feature>, and string ids
    ids = np.array([f"u{i:02d}" for i in range(12)])
    wide = {"sample": pa.array(ids)}
    for j, name in enumerate(NAMES):
        wide[f"seq/{name}"] = pa.array(
            [r.tolist() for r in x["seq"][:, :, j]], pa.list_(pa.float32())
        )
    for j in range(S):
        wide[f"static/s{j}"] = pa.array(x["static"][:, j])
    pq.write_table(pa.table(wide), tmp_path / "wide.parquet")
    _run_multi(multi, str(tmp_path / "wide.parquet"), tmp_path / "pq")
    assert _check_multi(multi, tmp_path / "pq", ids) == {"seq": NAMES, "static": ["s0", "s1"]}
    # tf.data of (id, dict) pairs
    data = tf.data.Dataset.from_tensor_slices((np.arange(12) + 50, x))
    _run_multi(multi, data, tmp_path / "tfdata")
    _check_multi(multi, tmp_path / "tfdata", np.arange(12) + 50)
    # the command line: NAME=PATH per input
    code = main(
        ["explain-batch", str(root / "model.keras"), f"seq={root}/seq.npy,static={root}/static.npy"]
        + ["--out", str(tmp_path / "cli"), "--num-samples", "8", "--output-index", "1"]
    )
    assert code == 0
    _, attributions, _ = load_attributions(tmp_path / "cli")
    assert attributions["seq"].shape == (12, T, F) and attributions["static"].shape == (12, S)


def test_multi_input_resume_compares_settings_per_input(multi, tmp_path, monkeypatch):
    x, out = multi["x"], tmp_path / "job"
    real_explain = batch_module.JobExplainer.explain
    calls = {"n": 0}

    def crash_on_second(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_explain(self, *args)

    monkeypatch.setattr(batch_module.JobExplainer, "explain", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _run_multi(multi, x, out)
    monkeypatch.setattr(batch_module.JobExplainer, "explain", real_explain)
    other = {"seq": multi["base"]["seq"], "static": np.zeros((1, S), np.float32)}
    with pytest.raises(ValueError, match="holds another job.*differ in baseline"):
        _run_multi(multi, x, out, baseline=other)
    with pytest.raises(ValueError, match="holds another job.*feature_names"):
        _run_multi(multi, x, out, feature_names={"static": ["p", "q"]})
    summary = _run_multi(multi, x, out)
    assert summary["shards_skipped"] == 1 and summary["shards_written"] == 2
    _check_multi(multi, out)


def test_multi_input_bad_sources(multi, tmp_path):
    x = multi["x"]
    with pytest.raises(ValueError, match=r"no data for the model's input\(s\) \['static'\]"):
        _run_multi(multi, {"seq": x["seq"]}, tmp_path / "o")
    with pytest.raises(ValueError, match=r"names inputs the model does not have: \['extra'\]"):
        _run_multi(multi, {**x, "extra": x["static"]}, tmp_path / "o")
    with pytest.raises(ValueError, match=r"model takes the inputs \['seq', 'static'\].*one array"):
        _run_multi(multi, x["seq"], tmp_path / "o")
    with pytest.raises(ValueError, match=r"input 'static' of shape \(3,\).*expects \(2,\)"):
        _run_multi(multi, {**x, "static": np.zeros((12, 3), np.float32)}, tmp_path / "o")
    with pytest.raises(ValueError, match="different numbers of samples"):
        _run_multi(multi, {**x, "static": x["static"][:5]}, tmp_path / "o")
    wide = {
        f"seq/{n}": pa.array([r.tolist() for r in x["seq"][:, :, j]]) for j, n in enumerate(NAMES)
    }
    pq.write_table(pa.table(wide), tmp_path / "noinput.parquet")
    with pytest.raises(ValueError, match="no columns of the input 'static'.*'static/f0'"):
        _run_multi(multi, str(tmp_path / "noinput.parquet"), tmp_path / "o")
    with pytest.raises(ValueError, match=r"baseline\['static'\].*shape \(2\)"):
        _run_multi(multi, x, tmp_path / "o", baseline={"static": np.zeros(5, np.float32)})
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- padding
@pytest.fixture(scope="module")
def padded(tmp_path_factory):
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(4),
            keras.layers.Dense(C, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(3)
    lengths = np.array([6, 2, 4, 5, 3, 6, 1, 4, 2, 5, 6, 3])
    seqs = [rng.normal(size=(k, F)).astype(np.float32) for k in lengths]
    x = np.zeros((len(seqs), T, F), np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    real = np.arange(T)[None] < lengths[:, None]
    zeros = np.zeros((1, T, F), np.float32)
    ref = _ig(model, x, zeros, output_indices="predicted", padding_mask=real)
    assert np.all(ref[~real] == 0)
    return {"model": model, "seqs": seqs, "x": x, "lengths": lengths, "real": real, "ref": ref}


def _run_padded(padded, source, out, **kwargs):
    settings = {**JOB, "shard_size": 4, "verbose": False, **kwargs}
    return explain_to_parquet(padded["model"], source, out, **settings)


def _check_padded(padded, out, ids=None):
    got_ids, attributions, _ = load_attributions(out)
    np.testing.assert_array_equal(got_ids, np.arange(12) if ids is None else ids)
    assert np.array_equal(attributions, padded["ref"])
    table = read_attributions(out).to_pandas()
    assert len(table) == padded["lengths"].sum() * F  # no row for a padded cell
    steps = table.groupby("sample").time.max().to_numpy()
    np.testing.assert_array_equal(steps, padded["lengths"] - 1)
    instances = read_instances(out).to_pandas().sort_values("sample")
    np.testing.assert_array_equal(instances.length, padded["lengths"])
    assert instances.approximation_error.max() < 0.05


def test_padded_sources_equal_in_process_without_padded_rows(padded, tmp_path):
    _run_padded(padded, padded["seqs"], tmp_path / "ragged")  # a list of (T_i, F) arrays
    _check_padded(padded, tmp_path / "ragged")
    # lengths of padded arrays: through the command line (--lengths)
    padded["model"].save(tmp_path / "masked.keras")
    np.save(tmp_path / "x.npy", padded["x"])
    np.save(tmp_path / "lengths.npy", padded["lengths"])
    code = main(
        ["explain-batch", str(tmp_path / "masked.keras"), str(tmp_path / "x.npy"), "--out"]
        + [str(tmp_path / "cli"), "--num-samples", "8", "--batch-size", "32", "--shard-size"]
        + ["4", "--output-index", "predicted", "--lengths", str(tmp_path / "lengths.npy")]
    )
    assert code == 0
    _check_padded(padded, tmp_path / "cli")
    ids = np.arange(12) * 3
    data = tf.data.Dataset.from_generator(
        lambda: iter(zip(ids.tolist(), padded["seqs"], strict=True)),
        output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((None, F), tf.float32)),
    )
    _run_padded(padded, data, tmp_path / "tfdata")
    _check_padded(padded, tmp_path / "tfdata", ids)
    tidy = pd.concat([_tidy(s[None], NAMES, np.array([i])) for i, s in enumerate(padded["seqs"])])
    pq.write_table(pa.Table.from_pandas(tidy, preserve_index=False), tmp_path / "tidy.parquet")
    _run_padded(padded, str(tmp_path / "tidy.parquet"), tmp_path / "tidy", padding="post")
    _check_padded(padded, tmp_path / "tidy")
    # pre-padding: the real steps are the last ones
    pre = np.zeros_like(padded["x"])
    for i, s in enumerate(padded["seqs"]):
        pre[i, T - len(s) :] = s
    _run_padded(padded, padded["seqs"], tmp_path / "pre", padding="pre")
    _, attributions, _ = load_attributions(tmp_path / "pre")
    zeros = np.zeros((1, T, F), np.float32)
    real = padded["real"][:, ::-1]
    in_process = _ig(padded["model"], pre, zeros, output_indices="predicted", padding_mask=real)
    assert np.array_equal(attributions, in_process)


def test_padded_bad_inputs(padded, tmp_path):
    seqs = list(padded["seqs"])
    with pytest.raises(ValueError, match=r"same number of features.*source\[3\] of shape \(5, 2\)"):
        _run_padded(padded, seqs[:3] + [np.zeros((5, 2), np.float32)], tmp_path / "o")
    with pytest.raises(ValueError, match="`padding_mask` has 5 rows; the source holds 12"):
        _run_padded(padded, padded["x"], tmp_path / "o", padding_mask=padded["real"][:5])
    with pytest.raises(TypeError, match="`lengths` must be ints"):
        _run_padded(padded, padded["x"], tmp_path / "o", lengths=padded["lengths"] * 1.0)
    with pytest.raises(ValueError, match="Give `padding_mask` or `lengths`, not both"):
        _run_padded(
            padded,
            padded["x"],
            tmp_path / "o",
            lengths=padded["lengths"],
            padding_mask=padded["real"],
        )
    with pytest.raises(ValueError, match=r"`lengths` must be in \[1, 6\]"):
        _run_padded(padded, padded["x"], tmp_path / "o", lengths=padded["lengths"] + 1)
    with pytest.raises(ValueError, match="Received: padding='middle'"):
        _run_padded(padded, seqs, tmp_path / "o", padding="middle")
    assert not (tmp_path / "o").exists()
    too_long = seqs[:2] + [np.zeros((T + 2, F), np.float32)]
    with pytest.raises(ValueError, match="a sequence of 8 time steps.*model's 6"):
        _run_padded(padded, too_long, tmp_path / "o")
    assert not (tmp_path / "o").exists()


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
