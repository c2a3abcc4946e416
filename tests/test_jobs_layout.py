"""The output layout of jobs: schemas and readers, shard files, atomic writes, resume,
job settings."""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from jobs_support import (
    NAMES,
    F,
    N,
    S,
    T,
    build_job,
    build_multi,
    check_multi,
    run,
    run_multi,
)

from tf_tsexplain.jobs import local as local_module
from tf_tsexplain.jobs.explainer import JobExplainer
from tf_tsexplain.jobs.layout import (
    JOB_FILE,
    attribution_schema,
    instance_schema,
    load_attributions,
    read_attributions,
    read_instances,
)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return build_job(tmp_path_factory.mktemp("job"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return build_multi(tmp_path_factory.mktemp("multi"))


def test_array_source_equals_in_process_exactly(job, tmp_path):
    model, x = job["model"], job["x"]
    summary = run(job, x, tmp_path / "out", feature_names=NAMES)
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


def test_resume_after_interruption_writes_each_shard_once(job, tmp_path, monkeypatch):
    out = tmp_path / "job"
    written = []
    real_write = local_module.write_atomic
    calls = {"n": 0}
    real_explain = JobExplainer.explain

    def record(table, path):
        written.append(path.name + "/" + path.parent.name)
        real_write(table, path)

    def crash_on_third(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the job is killed while explaining shard 2
        return real_explain(self, *args)

    monkeypatch.setattr(local_module, "write_atomic", record)
    monkeypatch.setattr(JobExplainer, "explain", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run(job, job["x"], out)
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

    monkeypatch.setattr(JobExplainer, "explain", real_explain)
    written.clear()
    summary = run(job, job["x"], out)
    assert summary["shards_skipped"] == 2 and summary["shards_written"] == 3
    assert sorted(written) == sorted(
        f"shard-0000{k}.parquet/{d}" for k in (2, 3, 4) for d in ("attributions", "instances")
    )
    assert not list(out.rglob(".*.tmp"))
    ids, attributions, _ = load_attributions(out)
    np.testing.assert_array_equal(ids, np.arange(N))  # each sequence once
    assert np.array_equal(attributions, job["ref"])
    # the job is complete: resuming again writes nothing
    assert run(job, job["x"], out)["shards_written"] == 0


def test_job_killed_mid_write_leaves_no_visible_file(job, tmp_path, monkeypatch):
    real = pq.write_table

    def torn(table, where, **kwargs):
        real(table.slice(0, 5), where, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", torn)
    with pytest.raises(OSError, match="disk full"):
        run(job, job["x"], tmp_path / "out")
    assert os.listdir(tmp_path / "out" / "attributions") == []
    assert os.listdir(tmp_path / "out" / "instances") == []


def test_out_dir_of_another_job_is_refused(job, tmp_path):
    x = job["x"][:8]
    out = tmp_path / "out"
    run(job, x, out)
    with pytest.raises(ValueError, match="holds another job.*differ in options"):
        run(job, x, out, num_samples=4)
    with pytest.raises(ValueError, match="holds another job.*source"):
        run(job, x + 1, out)
    with pytest.raises(ValueError, match="already holds this job.*resume=False"):
        run(job, x, out, resume=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not the output of a tf_tsexplain job"):
        run(job, x, other)
    assert sorted(os.listdir(other)) == ["notes.txt"]


def test_multi_input_resume_compares_settings_per_input(multi, tmp_path, monkeypatch):
    x, out = multi["x"], tmp_path / "job"
    real_explain = JobExplainer.explain
    calls = {"n": 0}

    def crash_on_second(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_explain(self, *args)

    monkeypatch.setattr(JobExplainer, "explain", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_multi(multi, x, out)
    monkeypatch.setattr(JobExplainer, "explain", real_explain)
    other = {"seq": multi["base"]["seq"], "static": np.zeros((1, S), np.float32)}
    with pytest.raises(ValueError, match="holds another job.*differ in baseline"):
        run_multi(multi, x, out, baseline=other)
    with pytest.raises(ValueError, match="holds another job.*feature_names"):
        run_multi(multi, x, out, feature_names={"static": ["p", "q"]})
    summary = run_multi(multi, x, out)
    assert summary["shards_skipped"] == 1 and summary["shards_written"] == 2
    check_multi(multi, out)
