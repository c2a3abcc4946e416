"""Apache Beam: the model handler, the pipeline on FnApiRunner (in process and with two
worker processes) against in-process attributions, and bad inputs."""

import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

beam = pytest.importorskip(
    "apache_beam", reason="apache_beam is not installed (pip install 'tf_tsexplain[beam]')"
)

import keras  # noqa: E402
from apache_beam.io.localfilesystem import LocalFileSystem  # noqa: E402
from jobs_support import JOB, build_multi, check_multi, run_multi  # noqa: E402

import tf_tsexplain  # noqa: E402
from tf_tsexplain import PathExplainerTF  # noqa: E402
from tf_tsexplain.cli import main  # noqa: E402
from tf_tsexplain.jobs.beam import (  # noqa: E402
    ExplainModelHandler,
    ExplainToParquet,
    run_pipeline,
)
from tf_tsexplain.jobs.layout import (  # noqa: E402
    attribution_schema,
    load_attributions,
    read_attributions,
    read_instances,
)
from tf_tsexplain.jobs.local import explain_to_parquet  # noqa: E402
from tf_tsexplain.jobs.sources import Block, write_tfrecord  # noqa: E402

T, F, C, N = 6, 3, 2, 40
SETTINGS = {"num_samples": 8, "batch_size": 32, "output_indices": "predicted"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam")
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(6), keras.layers.Dense(C, activation="softmax")]
    )
    model.save(root / "model.keras")
    x = np.random.default_rng(0).normal(size=(N, T, F)).astype(np.float32)
    np.save(root / "x-0.npy", x[:25])
    np.save(root / "x-1.npy", x[25:])
    ref = PathExplainerTF(model).attributions(
        x, np.zeros((1, T, F), np.float32), use_expectation=False, **SETTINGS
    )
    return {"root": root, "model": model, "x": x, "ref": ref, "path": str(root / "model.keras")}


def _check(out, job, ids=None):
    got_ids, attributions, names = load_attributions(out)
    np.testing.assert_array_equal(got_ids, np.arange(N) if ids is None else ids)
    # Beam forms its own batches, so float32 rounding may differ from one call
    np.testing.assert_allclose(attributions, job["ref"], atol=1e-6)
    assert read_attributions(out).schema == attribution_schema(
        pa.int64() if ids is None or ids.dtype.kind == "i" else pa.string()
    )
    instances = read_instances(out).to_pandas().sort_values("sample")
    outputs = job["model"](job["x"]).numpy()
    np.testing.assert_array_equal(instances.explained_index, outputs.argmax(axis=1))
    assert instances.approximation_error.max() < 1e-2
    return names


def test_pipeline_with_two_worker_processes_equals_in_process(job, tmp_path, monkeypatch):
    # the worker processes import this checkout of tf_tsexplain, not another install
    package_root = str(Path(tf_tsexplain.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])
    )
    summary = run_pipeline(
        job["path"],
        str(job["root"] / "x-*.npy"),
        tmp_path / "out",
        shard_size=16,
        min_batch_size=8,
        pipeline_args=["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        **SETTINGS,
    )
    assert summary["state"] == "DONE" and summary["sequences"] == N
    assert _check(tmp_path / "out", job) == ["f0", "f1", "f2"]
    parts = sorted(p.name for p in (tmp_path / "out" / "attributions").iterdir())
    assert all(p.startswith("part-") and p.endswith(".parquet") for p in parts)


def test_pipeline_parquet_and_tfrecord_sources_in_process(job, tmp_path):
    x = job["x"]
    ids = np.array([f"s{i:02d}" for i in range(N)])
    tidy = pa.table(
        {
            "sample": np.repeat(ids, T * F),
            "time": np.tile(np.repeat(np.arange(T), F), N),
            "feature": np.tile(["a", "b", "c"], N * T),
            "value": x.ravel(),
        }
    )
    (tmp_path / "tidy").mkdir()
    # a sample split across files: the pipeline groups its cells by sample
    pq.write_table(tidy.slice(0, 500), tmp_path / "tidy" / "a.parquet")
    pq.write_table(tidy.slice(500), tmp_path / "tidy" / "b.parquet")
    run_pipeline(job["path"], str(tmp_path / "tidy"), tmp_path / "o1", shard_size=16, **SETTINGS)
    assert _check(tmp_path / "o1", job, ids) == ["a", "b", "c"]

    write_tfrecord(tmp_path / "x.tfrecord", x)
    run_pipeline(job["path"], str(tmp_path / "x.tfrecord"), tmp_path / "o2", **SETTINGS)
    _check(tmp_path / "o2", job)


def _same_job(out, reference, lengths):
    """The Beam job in ``out`` holds the local job's attributions bit for bit, a row
    per real cell only, and the same instances with the lengths."""
    ids, attributions, _ = load_attributions(out)
    ref_ids, ref_attributions, _ = load_attributions(reference)
    np.testing.assert_array_equal(ids, ref_ids)
    assert np.array_equal(attributions, ref_attributions)
    keys = ["sample", "time", "feature"]
    rows = [
        read_attributions(o).to_pandas().sort_values(keys, ignore_index=True)
        for o in (out, reference)
    ]
    assert len(rows[0]) == lengths.sum() * F and rows[0].equals(rows[1])
    got, want = (
        read_instances(o).to_pandas().sort_values("sample", ignore_index=True)
        for o in (out, reference)
    )
    assert list(got.columns) == list(want.columns)
    np.testing.assert_array_equal(got.length, want.length)
    np.testing.assert_array_equal(got.explained_index, want.explained_index)
    np.testing.assert_allclose(got.explained_prediction, want.explained_prediction, atol=1e-6)


def test_pipeline_lengths_and_padding_mask_equal_local_jobs(job, tmp_path, capsys):
    """Padded arrays: lengths of .npy rows (run_pipeline and the command line) and a
    padding mask of TFRecord samples, found by id, equal explain_to_parquet's."""
    lengths = np.random.default_rng(1).integers(1, T + 1, N)
    np.save(tmp_path / "lengths.npy", lengths)
    settings = {**SETTINGS, "shard_size": 8}
    explain_to_parquet(
        job["path"], job["x"], tmp_path / "local", lengths=lengths, verbose=False, **settings
    )
    files = str(job["root"] / "x-*.npy")
    run_pipeline(job["path"], files, tmp_path / "beam", lengths=lengths, **settings)
    _same_job(tmp_path / "beam", tmp_path / "local", lengths)
    instances = read_instances(tmp_path / "beam").to_pandas().sort_values("sample")
    np.testing.assert_array_equal(instances.length, lengths)
    code = main(
        ["explain-batch", job["path"], files, "--out", str(tmp_path / "cli"), "--runner", "beam"]
        + ["--num-samples", "8", "--batch-size", "32", "--output-index", "predicted"]
        + ["--shard-size", "8", "--lengths", str(tmp_path / "lengths.npy")]
    )
    assert code == 0, capsys.readouterr().err
    _same_job(tmp_path / "cli", tmp_path / "local", lengths)
    # real steps last (pre-padding), TFRecord ids in reverse order: rows found by id
    mask = np.arange(T)[None] >= T - lengths[:, None]
    ids = np.array([f"r{i:02d}" for i in range(N)])[::-1]
    records = str(write_tfrecord(tmp_path / "x.tfrecord", job["x"], ids=ids))
    explain_to_parquet(
        job["path"], records, tmp_path / "local-mask", padding_mask=mask, verbose=False, **settings
    )
    run_pipeline(job["path"], records, tmp_path / "beam-mask", padding_mask=mask, **settings)
    _same_job(tmp_path / "beam-mask", tmp_path / "local-mask", lengths)
    with pytest.raises(ValueError, match=r"`lengths` has 5 rows; the source holds 40"):
        run_pipeline(job["path"], files, tmp_path / "o", lengths=lengths[:5], **settings)
    with pytest.raises(ValueError, match=r"`lengths` must be in \[1, 6\]"):
        run_pipeline(job["path"], files, tmp_path / "o", lengths=lengths + 1, **settings)
    with pytest.raises(ValueError, match=r"PCollection of \(id, sample\) pairs has none"):
        ExplainToParquet(job["path"], None, tmp_path / "o", input_shapes=(T, F), lengths=lengths)
    assert not (tmp_path / "o").exists()


def test_pipeline_two_input_tfrecord_equals_local_job(tmp_path):
    """A TFRecord of one feature per input: the Beam job equals explain_to_parquet on
    the same arrays; a record without an input's feature is refused, naming it."""
    multi = build_multi(tmp_path)
    ids = np.arange(12) * 3
    records = str(write_tfrecord(tmp_path / "two.tfrecord", multi["x"], ids=ids))
    run_multi(multi, multi["x"], tmp_path / "local")
    settings = {**JOB, "shard_size": 4, "baseline": multi["base"]}
    model = str(tmp_path / "model.keras")
    run_pipeline(model, records, tmp_path / "beam", **settings)
    check_multi(multi, tmp_path / "beam", ids)
    local, beam = (load_attributions(tmp_path / k)[1] for k in ("local", "beam"))
    assert all(np.array_equal(beam[k], local[k]) for k in ("seq", "static"))
    write_tfrecord(tmp_path / "seq.tfrecord", {"seq": multi["x"]["seq"]})
    with pytest.raises(ValueError, match="Sample 0 .* no feature 'static' for input 'static'"):
        run_pipeline(model, str(tmp_path / "seq.tfrecord"), tmp_path / "o", **settings)


def test_model_handler_loads_in_the_worker(job):
    handler = ExplainModelHandler(job["path"], min_batch_size=3, max_batch_size=7, **SETTINGS)
    kwargs = handler.batch_elements_kwargs()
    assert (kwargs["min_batch_size"], kwargs["max_batch_size"]) == (3, 7)
    assert kwargs["element_size_fn"](Block(0, np.arange(4), {})) == 4  # blocks weigh samples
    shipped = pickle.loads(pickle.dumps(handler))  # what a runner sends: path and settings
    assert len(pickle.dumps(handler)) < 10_000
    explainer = shipped.load_model()
    blocks = [  # elements are blocks of samples, explained together
        Block(0, np.arange(3), {"inputs": job["x"][:3]}),
        Block(3, np.arange(3, 5), {"inputs": job["x"][3:5]}),
    ]
    results = shipped.run_inference(blocks, explainer)
    assert [r.example for r in results] == blocks
    np.testing.assert_allclose(
        np.concatenate([r.inference[2]["attributions"]["inputs"] for r in results]),
        job["ref"][:5],
        atol=1e-6,
    )
    assert set(results[0].inference[2]) == {
        "attributions",
        "explained_index",
        "explained_prediction",
        "baseline_prediction",
        "approximation_error",
    }
    assert handler.get_num_bytes(blocks) == job["x"][:5].nbytes
    with pytest.raises(ValueError, match="inference_args"):
        handler.validate_inference_args({"x": 1})


def test_worker_that_cannot_load_the_model(job, tmp_path):
    missing = str(tmp_path / "gone.keras")
    handler = ExplainModelHandler(missing, **SETTINGS)
    with pytest.raises(ValueError, match=r"could not load the model '.*gone.keras'"):
        handler.load_model()
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    with pytest.raises(Exception, match=r"could not load the model '.*gone.keras'"):
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = p | ExplainToParquet(
                missing, str(job["root"] / "x-0.npy"), tmp_path / "out", input_shape=(T, F)
            )


class _CloudLike(LocalFileSystem):
    """Paths ``tsxcloud:///abs/path`` on local files: the code paths of cloud storage."""

    PREFIX = "tsxcloud://"

    @classmethod
    def scheme(cls):
        return "tsxcloud"

    def _local(self, path):
        return path[len(self.PREFIX) :]

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        for result in results:
            for meta in result.metadata_list:
                meta.path = self.PREFIX + meta.path
        return results

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(self._local(path)), exist_ok=True)
        return super().create(self._local(path), *args, **kwargs)


def test_cloud_model_and_out_dir(job, tmp_path):
    from tf_tsexplain.jobs.beam import _prepare_out_dir, local_model

    copy = local_model(_CloudLike.PREFIX + job["path"])  # a .keras file
    assert Path(copy).read_bytes() == Path(job["path"]).read_bytes()
    export = job["root"] / "saved"
    job["model"].export(export, verbose=False)  # a SavedModel directory, with subfolders
    copy = Path(local_model(_CloudLike.PREFIX + str(export)))
    files = sorted(p.relative_to(export) for p in export.rglob("*") if p.is_file())
    assert sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file()) == files
    assert (copy / "saved_model.pb").read_bytes() == (export / "saved_model.pb").read_bytes()
    out = _CloudLike.PREFIX + str(tmp_path / "out")
    _prepare_out_dir(out, {"method": "integrated_gradients"})
    assert (tmp_path / "out" / "_job.json").is_file()
    with pytest.raises(ValueError, match="is not empty"):
        _prepare_out_dir(out, {"method": "integrated_gradients"})


def test_run_pipeline_bad_inputs(job, tmp_path):
    with pytest.raises(TypeError, match="save an in-memory model"):
        run_pipeline(job["model"], str(job["root"] / "x-0.npy"), tmp_path / "o")
    with pytest.raises(ValueError, match=r"shape \(6, 4\).*model expects \(6, 3\)"):
        np.save(tmp_path / "bad.npy", np.zeros((3, T, 4), np.float32))
        run_pipeline(job["path"], str(tmp_path / "bad.npy"), tmp_path / "o", **SETTINGS)
    with pytest.raises(ValueError, match="missing the column"):
        pq.write_table(
            pa.table({"sample": [0], "time": [0], "value": [1.0]}), tmp_path / "m.parquet"
        )
        run_pipeline(job["path"], str(tmp_path / "m.parquet"), tmp_path / "o", **SETTINGS)
    with pytest.raises(ValueError, match="matches no file"):
        run_pipeline(job["path"], str(tmp_path / "none-*.npy"), tmp_path / "o", **SETTINGS)
    with pytest.raises(TypeError, match="takes the options"):
        ExplainModelHandler(job["path"], method="saliency", num_samples=3)
    with pytest.raises(ValueError, match=r"Received: min_batch_size=0"):
        ExplainModelHandler(job["path"], min_batch_size=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not the output of a tf_tsexplain job"):
        run_pipeline(job["path"], str(job["root"] / "x-0.npy"), other, **SETTINGS)
    assert not (tmp_path / "o").exists()


def test_cli_beam_runner(job, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["explain-batch", job["path"], str(job["root"] / "x-*.npy"), "--out", str(out)]
        + ["--num-samples", "8", "--batch-size", "32", "--output-index", "predicted"]
        + ["--runner", "beam", "--", "--direct_num_workers=1"]
    )
    assert code == 0, capsys.readouterr().err
    assert "sequences=40" in capsys.readouterr().out
    _check(out, job)
    # a Beam job does not resume: results already there are refused
    code = main(
        ["explain-batch", job["path"], str(job["root"] / "x-*.npy"), "--out", str(out)]
        + ["--num-samples", "8", "--batch-size", "32", "--output-index", "predicted"]
        + ["--runner", "beam"]
    )
    assert code == 1 and "do not resume" in capsys.readouterr().err


def test_pipeline_multi_input_and_variable_length_equal_in_process(tmp_path):
    """Dict elements for a two-input model (a dict of .npy files, and (id, dict) pairs)
    and variable-length sequences on a Masking model, on FnApiRunner in process."""
    keras.utils.set_random_seed(8)
    seq, static = keras.Input((T, F), name="seq"), keras.Input((2,), name="static")
    hidden = keras.layers.Concatenate()([keras.layers.LSTM(4)(seq), static])
    two = keras.Model([seq, static], keras.layers.Dense(1)(hidden))
    two.save(tmp_path / "two.keras")
    rng = np.random.default_rng(4)
    x = {"seq": rng.normal(size=(10, T, F)), "static": rng.normal(size=(10, 2))}
    x = {k: v.astype(np.float32) for k, v in x.items()}
    ref = PathExplainerTF(two).attributions(
        x,
        {"seq": np.zeros((1, T, F)), "static": np.zeros((1, 2))},
        use_expectation=False,
        num_samples=8,
    )
    np.save(tmp_path / "seq.npy", x["seq"])
    np.save(tmp_path / "static.npy", x["static"])
    files = {"seq": str(tmp_path / "seq.npy"), "static": str(tmp_path / "static.npy")}
    model = str(tmp_path / "two.keras")
    run_pipeline(model, files, tmp_path / "o1", num_samples=8, shard_size=4)
    ids, attributions, _ = load_attributions(tmp_path / "o1")
    np.testing.assert_array_equal(ids, np.arange(10))
    for name in ("seq", "static"):
        np.testing.assert_allclose(attributions[name], ref[name], atol=1e-6)
    assert read_attributions(tmp_path / "o1").schema == attribution_schema(multi=True)
    pairs = [(f"k{i}", {"seq": x["seq"][i], "static": x["static"][i]}) for i in range(10)]
    run_pipeline(model, pairs, tmp_path / "o2", num_samples=8, shard_size=4)
    ids, attributions, _ = load_attributions(tmp_path / "o2")
    assert list(ids) == [f"k{i}" for i in range(10)]
    np.testing.assert_allclose(attributions["static"], ref["static"], atol=1e-6)
    with pytest.raises(ValueError, match=r"no data for the model's input\(s\) \['static'\]"):
        run_pipeline(model, {"seq": files["seq"]}, tmp_path / "o3", num_samples=8)

    keras.utils.set_random_seed(9)
    masked = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(4),
            keras.layers.Dense(1),
        ]
    )
    masked.save(tmp_path / "masked.keras")
    lengths = np.array([6, 2, 5, 1, 4, 3, 6])
    seqs = [rng.normal(size=(k, F)).astype(np.float32) for k in lengths]
    padded = np.zeros((len(seqs), T, F), np.float32)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    real = np.arange(T)[None] < lengths[:, None]
    expected = PathExplainerTF(masked).attributions(
        padded, np.zeros((1, T, F)), use_expectation=False, num_samples=8, padding_mask=real
    )
    run_pipeline(
        str(tmp_path / "masked.keras"),
        list(enumerate(seqs)),
        tmp_path / "o4",
        num_samples=8,
        shard_size=3,
    )
    ids, attributions, _ = load_attributions(tmp_path / "o4")
    np.testing.assert_allclose(attributions, expected, atol=1e-6)
    assert read_attributions(tmp_path / "o4").num_rows == lengths.sum() * F  # no padded row
    instances = read_instances(tmp_path / "o4").to_pandas().sort_values("sample")
    np.testing.assert_array_equal(instances.length, lengths)
    with pytest.raises(ValueError, match="different numbers of features"):
        bad = [(0, seqs[0]), (1, np.zeros((3, F + 1), np.float32))]
        run_pipeline(str(tmp_path / "masked.keras"), bad, tmp_path / "o5", num_samples=8)
