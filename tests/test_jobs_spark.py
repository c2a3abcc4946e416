"""Apache Spark on one local[2] session: run_spark and explain_dataframe against
explain_to_parquet, bit for bit (plain, padded, multi-input, DataFrame and Parquet
sources with ids), waves, resume, the explain-batch command, clear errors."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip(
    "pyspark", reason='pyspark is not installed (pip install "tf_tsexplain[spark]")'
)
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17: no java found", allow_module_level=True)

import keras  # noqa: E402
from pyspark.errors import PythonException  # noqa: E402

import tf_tsexplain  # noqa: E402
from tf_tsexplain.cli import main  # noqa: E402
from tf_tsexplain.jobs.layout import (  # noqa: E402
    INSTANCES_DIR,
    JOB_FILE,
    load_attributions,
    read_attributions,
    read_instances,
)
from tf_tsexplain.jobs.local import explain_to_parquet  # noqa: E402
from tf_tsexplain.jobs.spark import explain_dataframe, run_spark  # noqa: E402
from tf_tsexplain.jobs.spark_worker import plain_names  # noqa: E402

T, F, N = 10, 3, 12
JOB = {"num_samples": 4, "batch_size": 16, "shard_size": 4, "output_indices": "predicted"}


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    root = str(Path(tf_tsexplain.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(4), keras.layers.Dense(2, activation="softmax")]
    )
    model.save(root / "model.keras")
    x = np.random.default_rng(0).normal(size=(N, T, F)).astype(np.float32)
    return {"root": root, "path": str(root / "model.keras"), "x": x}


def _same(a, b):
    assert read_attributions(a).equals(read_attributions(b))
    assert read_instances(a).equals(read_instances(b))


TARGET = {"output_indices": "predicted"}
LENGTHS = np.array([10, 7, 5, 10, 3, 9, 10, 8, 6, 4, 10, 2])
IDS = [f"s{i:02d}" for i in range(N)]  # string ids, sorted as the rows are


def _frame(spark, ids, sequences, column="sequence", **more):
    """A DataFrame of 3 partitions of 4 rows: ids, sequences (T_i, F), other columns."""
    kind = "string" if isinstance(ids[0], str) else "bigint"
    schema = [f"sample {kind}", f"{column} array<array<float>>"]
    schema += [f"{name} array<float>" for name in more]
    rows = [
        (i, s.tolist(), *(v[k].tolist() for v in more.values()))
        for k, (i, s) in enumerate(zip(ids, sequences, strict=True))
    ]
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, 3), ", ".join(schema))


def _tidy(frame) -> pa.Table:
    return frame.toArrow()


def test_plain_and_padded_equal_explain_to_parquet(spark, job, tmp_path):
    sc = spark.sparkContext
    for name, extra in (("plain", {}), ("padded", {"lengths": LENGTHS})):
        local = explain_to_parquet(
            job["path"], job["x"], tmp_path / f"{name}-local", verbose=False, **JOB, **extra
        )
        sc.setJobGroup(name, "waves")
        summary = run_spark(
            job["path"], job["x"], tmp_path / f"{name}-spark", wave_blocks=2, **JOB, **extra
        )
        # 3 shards in waves of at most 2: two Spark jobs, the driver holds 2 blocks at most
        assert len(sc.statusTracker().getJobIdsForGroup(name)) == 2
        assert summary["shards_written"] == local["shards_written"] == 3
        assert summary["sequences_written"] == N
        # every worker process loaded the model once
        assert summary["worker_loads"] and set(summary["worker_loads"].values()) == {1}
        _same(tmp_path / f"{name}-local", tmp_path / f"{name}-spark")
    ids, attributions, names = load_attributions(tmp_path / "padded-spark")
    np.testing.assert_array_equal(ids, np.arange(N))
    assert attributions.shape == (N, T, F) and names == ["f0", "f1", "f2"]
    assert not attributions[11, 2:].any()  # padded steps hold 0
    settings = json.loads((tmp_path / "padded-spark" / JOB_FILE).read_text())["settings"]
    assert settings["runner"] == "spark"
    # resume: a lost shard is explained again, the others are kept
    (tmp_path / "padded-spark" / INSTANCES_DIR / "shard-00001.parquet").unlink()
    again = run_spark(job["path"], job["x"], tmp_path / "padded-spark", **JOB, lengths=LENGTHS)
    assert (again["shards_written"], again["shards_skipped"]) == (1, 2)
    _same(tmp_path / "padded-local", tmp_path / "padded-spark")


def test_dataframe_and_parquet_sources_with_ids(spark, job, tmp_path):
    wide = {"sample": pa.array(IDS)}
    for j in range(F):
        wide[f"f{j}"] = pa.array(job["x"][:, :, j].tolist(), pa.list_(pa.float32()))
    pq.write_table(pa.table(wide), tmp_path / "wide.parquet")
    explain_to_parquet(
        job["path"], str(tmp_path / "wide.parquet"), tmp_path / "local", verbose=False, **JOB
    )
    run_spark(job["path"], str(tmp_path / "wide.parquet"), tmp_path / "parquet", **JOB)
    _same(tmp_path / "local", tmp_path / "parquet")
    frame = _frame(spark, IDS, job["x"], column="seq")
    summary = run_spark(job["path"], frame, tmp_path / "frame", sequence_column="seq", **JOB)
    assert summary["shards_written"] == 3 and summary["sequences_written"] == N
    _same(tmp_path / "local", tmp_path / "frame")
    ids, _, _ = load_attributions(tmp_path / "frame")
    assert ids.tolist() == IDS
    (tmp_path / "frame" / INSTANCES_DIR / "shard-00002.parquet").unlink()
    again = run_spark(job["path"], frame, tmp_path / "frame", sequence_column="seq", **JOB)
    assert (again["shards_written"], again["shards_skipped"]) == (1, 2)
    _same(tmp_path / "local", tmp_path / "frame")


def test_explain_dataframe_equals_the_local_tidy_attributions(spark, job, tmp_path):
    options = {k: v for k, v in JOB.items() if k != "shard_size"}
    explain_to_parquet(job["path"], job["x"], tmp_path / "plain", verbose=False, **JOB)
    frame = _frame(spark, list(range(N)), job["x"])
    got = explain_dataframe(frame, job["path"], block_size=4, **options)
    assert got.columns == ["sample", "time", "feature", "attribution", "value"]
    want = plain_names(read_attributions(tmp_path / "plain"))
    assert _tidy(got).cast(want.schema).equals(want)
    # variable-length sequences are padded sequences: the local job on the same list
    short = [s[:n] for s, n in zip(job["x"], LENGTHS, strict=True)]
    explain_to_parquet(
        job["path"], short, tmp_path / "padded", verbose=False, padding="post", **JOB
    )
    frame = _frame(spark, IDS, short)
    got = explain_dataframe(frame, job["path"], block_size=4, padding="post", **options)
    want = plain_names(read_attributions(tmp_path / "padded"))
    table = _tidy(got)
    assert table.num_rows == LENGTHS.sum() * F
    assert table.column("sample").to_pylist() == np.repeat(IDS, LENGTHS * F).tolist()
    assert table.drop(["sample"]).cast(want.drop(["sample"]).schema).equals(want.drop(["sample"]))
    # the block of whichever Spark task fails first is named
    with pytest.raises(
        PythonException, match=r"samples .s\d\d. to .s\d\d.: .*pass padding=.post. or .pre."
    ):
        explain_dataframe(frame, job["path"], block_size=4, **options).collect()


def test_two_input_model(spark, tmp_path):
    keras.utils.set_random_seed(4)
    seq, static = keras.Input((T, F), name="seq"), keras.Input((2,), name="static")
    hidden = keras.layers.Concatenate()([keras.layers.LSTM(4)(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(2, activation="softmax")(hidden))
    path = str(tmp_path / "two.keras")
    model.save(path)
    rng = np.random.default_rng(1)
    x = {"seq": rng.normal(size=(N, T, F)), "static": rng.normal(size=(N, 2))}
    x = {k: v.astype(np.float32) for k, v in x.items()}
    explain_to_parquet(path, x, tmp_path / "local", verbose=False, **JOB)
    run_spark(path, x, tmp_path / "spark", **JOB)
    _same(tmp_path / "local", tmp_path / "spark")
    frame = _frame(spark, list(range(N)), x["seq"], column="s", extra=x["static"])
    columns = {"seq": "s", "static": "extra"}
    run_spark(path, frame, tmp_path / "frame", sequence_column=columns, **JOB)
    _same(tmp_path / "local", tmp_path / "frame")
    options = {k: v for k, v in JOB.items() if k != "shard_size"}
    got = explain_dataframe(frame, path, sequence_column=columns, block_size=4, **options)
    assert got.columns == ["sample", "input", "time", "feature", "attribution", "value"]
    want = plain_names(read_attributions(tmp_path / "local"))
    # the local shard holds its sequence rows, then its static rows; Spark's the same
    assert _tidy(got).cast(want.schema).equals(want)


def test_cli_runner_spark(spark, job, tmp_path, capsys):
    np.save(tmp_path / "x.npy", job["x"])
    np.save(tmp_path / "lengths.npy", LENGTHS)
    argv = ["explain-batch", job["path"], str(tmp_path / "x.npy"), "--out"]
    options = ["--num-samples", "4", "--batch-size", "16", "--shard-size", "4"]
    options += ["--output-index", "predicted", "--lengths", str(tmp_path / "lengths.npy")]
    code = main(
        [
            *argv,
            str(tmp_path / "cli"),
            *options,
            "--runner",
            "spark",
            "--master",
            "local[2]",
            "--",
            "spark.sql.shuffle.partitions=2",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "shards_written=3" in capsys.readouterr().out
    explain_to_parquet(
        job["path"], job["x"], tmp_path / "local", verbose=False, lengths=LENGTHS, **JOB
    )
    _same(tmp_path / "local", tmp_path / "cli")
    code = main([*argv, str(tmp_path / "bad"), *options, "--runner", "spark", "--", "spark.x"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "key=value" in err and "'spark.x'" in err
    assert not (tmp_path / "bad").exists()  # refused before any work


def test_bad_model_path_and_columns_are_clear_errors(spark, job, tmp_path):
    missing = str(tmp_path / "nope.keras")
    with pytest.raises(ValueError, match="nope.keras.*does not exist"):
        run_spark(missing, job["x"], tmp_path / "out", **JOB)
    frame = _frame(spark, IDS, job["x"])
    with pytest.raises(ValueError, match=r"no column 'values' \(`sequence_column`\)"):
        explain_dataframe(frame, job["path"], sequence_column="values", **TARGET)
    with pytest.raises(TypeError, match="array<array<float>>.*Received: string"):
        explain_dataframe(frame, job["path"], sequence_column="sample", **TARGET)
    with pytest.raises(ValueError, match="drop `lengths`"):
        run_spark(job["path"], frame, tmp_path / "out", lengths=LENGTHS, **JOB)
