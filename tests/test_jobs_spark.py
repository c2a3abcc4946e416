"""Apache Spark on one local[2] session: run_spark against explain_to_parquet, bit for bit."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "pyspark", reason='pyspark is not installed (pip install "tf_tsexplain[spark]")'
)
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17: no java found", allow_module_level=True)

import keras  # noqa: E402

import tf_tsexplain  # noqa: E402
from tf_tsexplain.jobs.layout import load_attributions, read_attributions, read_instances  # noqa: E402
from tf_tsexplain.jobs.local import explain_to_parquet  # noqa: E402
from tf_tsexplain.jobs.spark import run_spark  # noqa: E402

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


def test_plain_and_padded_equal_explain_to_parquet(spark, job, tmp_path):
    lengths = np.array([10, 7, 5, 10, 3, 9, 10, 8, 6, 4, 10, 2])
    for name, extra in (("plain", {}), ("padded", {"lengths": lengths})):
        local = explain_to_parquet(
            job["path"], job["x"], tmp_path / f"{name}-local", verbose=False, **JOB, **extra
        )
        summary = run_spark(job["path"], job["x"], tmp_path / f"{name}-spark", **JOB, **extra)
        assert summary["shards_written"] == local["shards_written"] == 3
        assert summary["sequences_written"] == N
        # every worker process loaded the model once
        assert summary["worker_loads"] and set(summary["worker_loads"].values()) == {1}
        _same(tmp_path / f"{name}-local", tmp_path / f"{name}-spark")
    ids, attributions, names = load_attributions(tmp_path / "padded-spark")
    np.testing.assert_array_equal(ids, np.arange(N))
    assert attributions.shape == (N, T, F) and names == ["f0", "f1", "f2"]
    assert not attributions[11, 2:].any()  # padded steps hold 0


def test_bad_model_path_is_one_clear_error(spark, job, tmp_path):
    missing = str(tmp_path / "nope.keras")
    with pytest.raises(ValueError, match="nope.keras.*does not exist"):
        run_spark(missing, job["x"], tmp_path / "out", **JOB)
