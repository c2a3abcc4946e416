"""Job sources: arrays, .npy (memory-mapped), Parquet tidy and wide, tf.data, TFRecord,
one source per input and padded sequences, each against in-process attributions."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from jobs_support import (
    NAMES,
    F,
    N,
    S,
    T,
    build_job,
    build_multi,
    build_padded,
    check_multi,
    check_padded,
    ig,
    run,
    run_multi,
    run_padded,
    tidy,
)

from tf_tsexplain.cli import main
from tf_tsexplain.jobs.layout import (
    JOB_FILE,
    attribution_schema,
    load_attributions,
    read_attributions,
    read_instances,
)
from tf_tsexplain.jobs.sources import open_source, write_tfrecord


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return build_job(tmp_path_factory.mktemp("job"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return build_multi(tmp_path_factory.mktemp("multi"))


@pytest.fixture(scope="module")
def padded():
    return build_padded()


def test_npy_source_is_memory_mapped_not_loaded(job, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the .npy source must not be loaded whole")

    monkeypatch.setattr(np, "load", refuse)
    run(job, str(job["root"] / "x.npy"), tmp_path / "one")
    assert np.array_equal(load_attributions(tmp_path / "one")[1], job["ref"])
    # several files (a list or a glob) count rows across files in name order
    np.save(tmp_path / "x-0.npy", job["x"][:13])
    np.save(tmp_path / "x-1.npy", job["x"][13:])
    run(job, str(tmp_path / "x-*.npy"), tmp_path / "two")
    ids, attributions, _ = load_attributions(tmp_path / "two")
    np.testing.assert_array_equal(ids, np.arange(N))
    assert np.array_equal(attributions, job["ref"])


def test_npy_source_releases_pages(job, tmp_path):
    source = open_source(str(job["root"] / "x.npy"))
    blocks = [b.x for b in source.blocks(7)]
    np.testing.assert_array_equal(np.concatenate(blocks), job["x"])
    assert [len(b) for b in blocks] == [7] * 5 + [5]


def test_parquet_tidy_and_wide_sources(job, tmp_path):
    x = job["x"]
    ids = np.array([f"s{i:03d}" for i in range(N)])
    pq.write_table(
        pa.Table.from_pandas(tidy(x, NAMES, ids), preserve_index=False),
        tmp_path / "tidy.parquet",
        row_group_size=100,  # samples cross row groups and record batches
    )
    run(job, str(tmp_path / "tidy.parquet"), tmp_path / "o1", feature_names=NAMES)
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
    run(job, str(tmp_path / "wide"), tmp_path / "o2")
    got_ids, attributions, names = load_attributions(tmp_path / "o2")
    np.testing.assert_array_equal(got_ids, np.arange(N) + 100)
    assert names == NAMES and np.array_equal(attributions, job["ref"])


def test_tf_data_and_tfrecord_sources(job, tmp_path):
    x = job["x"]
    ids = tf.constant([f"id{i}" for i in range(N)])
    pairs = tf.data.Dataset.from_tensor_slices((ids, x))
    run(job, pairs, tmp_path / "pairs")
    got_ids, attributions, _ = load_attributions(tmp_path / "pairs")
    assert list(got_ids) == sorted(f"id{i}" for i in range(N))
    order = np.argsort([f"id{i}" for i in range(N)])
    assert np.array_equal(attributions, job["ref"][order])
    # batches are unbatched and re-cut into shards; ids count sequences
    source = open_source(tf.data.Dataset.from_tensor_slices(x).batch(6))
    blocks = list(source.blocks(16))
    np.testing.assert_array_equal(np.concatenate([b.ids for b in blocks]), np.arange(N))
    np.testing.assert_array_equal(np.concatenate([b.x for b in blocks]), x)
    write_tfrecord(tmp_path / "x.tfrecord", x, ids=np.arange(N) * 2)
    run(job, str(tmp_path / "x.tfrecord"), tmp_path / "records")
    got_ids, attributions, _ = load_attributions(tmp_path / "records")
    np.testing.assert_array_equal(got_ids, np.arange(N) * 2)
    assert np.array_equal(attributions, job["ref"])


def test_multi_input_sources_equal_in_process(multi, tmp_path):
    x, root = multi["x"], multi["root"]
    names = {"seq": NAMES, "static": ["age", "income"]}
    run_multi(multi, x, tmp_path / "dict", feature_names=names)
    assert check_multi(multi, tmp_path / "dict") == names
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
    run_multi(
        multi, {"static": str(root / "static.npy"), "seq": str(root / "seq.npy")}, tmp_path / "npy"
    )
    check_multi(multi, tmp_path / "npy")
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
    run_multi(multi, str(tmp_path / "wide.parquet"), tmp_path / "pq")
    assert check_multi(multi, tmp_path / "pq", ids) == {"seq": NAMES, "static": ["s0", "s1"]}
    # a TFRecord of one feature per input (named by it) and string ids: the same
    # attributions as the job on the arrays
    write_tfrecord(tmp_path / "two.tfrecord", x, ids=ids)
    run_multi(multi, [str(tmp_path / "two.tfrecord")], tmp_path / "records")
    check_multi(multi, tmp_path / "records", ids)
    from_arrays, from_records = (load_attributions(tmp_path / k)[1] for k in ("dict", "records"))
    assert all(np.array_equal(from_records[k], from_arrays[k]) for k in ("seq", "static"))
    # tf.data of (id, dict) pairs
    data = tf.data.Dataset.from_tensor_slices((np.arange(12) + 50, x))
    run_multi(multi, data, tmp_path / "tfdata")
    check_multi(multi, tmp_path / "tfdata", np.arange(12) + 50)
    # the command line: NAME=PATH per input
    code = main(
        ["explain-batch", str(root / "model.keras"), f"seq={root}/seq.npy,static={root}/static.npy"]
        + ["--out", str(tmp_path / "cli"), "--num-samples", "8", "--output-index", "1"]
    )
    assert code == 0
    _, attributions, _ = load_attributions(tmp_path / "cli")
    assert attributions["seq"].shape == (12, T, F) and attributions["static"].shape == (12, S)


def test_multi_input_bad_sources(multi, tmp_path):
    x = multi["x"]
    with pytest.raises(ValueError, match=r"no data for the model's input\(s\) \['static'\]"):
        run_multi(multi, {"seq": x["seq"]}, tmp_path / "o")
    with pytest.raises(ValueError, match=r"names inputs the model does not have: \['extra'\]"):
        run_multi(multi, {**x, "extra": x["static"]}, tmp_path / "o")
    with pytest.raises(ValueError, match=r"model takes the inputs \['seq', 'static'\].*one array"):
        run_multi(multi, x["seq"], tmp_path / "o")
    with pytest.raises(ValueError, match=r"input 'static' of shape \(3,\).*expects \(2,\)"):
        run_multi(multi, {**x, "static": np.zeros((12, 3), np.float32)}, tmp_path / "o")
    with pytest.raises(ValueError, match="different numbers of samples"):
        run_multi(multi, {**x, "static": x["static"][:5]}, tmp_path / "o")
    wide = {
        f"seq/{n}": pa.array([r.tolist() for r in x["seq"][:, :, j]]) for j, n in enumerate(NAMES)
    }
    pq.write_table(pa.table(wide), tmp_path / "noinput.parquet")
    with pytest.raises(ValueError, match="no columns of the input 'static'.*'static/f0'"):
        run_multi(multi, str(tmp_path / "noinput.parquet"), tmp_path / "o")
    write_tfrecord(tmp_path / "seq.tfrecord", {"seq": x["seq"]})  # no feature 'static'
    with pytest.raises(ValueError, match="Sample 0 .* no feature 'static' for input 'static'"):
        run_multi(multi, str(tmp_path / "seq.tfrecord"), tmp_path / "o")
    with pytest.raises(ValueError, match=r"baseline\['static'\].*shape \(2\)"):
        run_multi(multi, x, tmp_path / "o", baseline={"static": np.zeros(5, np.float32)})
    assert not (tmp_path / "o").exists()


def test_padded_sources_equal_in_process_without_padded_rows(padded, tmp_path):
    run_padded(padded, padded["seqs"], tmp_path / "ragged")  # a list of (T_i, F) arrays
    check_padded(padded, tmp_path / "ragged")
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
    check_padded(padded, tmp_path / "cli")
    ids = np.arange(12) * 3
    data = tf.data.Dataset.from_generator(
        lambda: iter(zip(ids.tolist(), padded["seqs"], strict=True)),
        output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((None, F), tf.float32)),
    )
    run_padded(padded, data, tmp_path / "tfdata")
    check_padded(padded, tmp_path / "tfdata", ids)
    frame = pd.concat([tidy(s[None], NAMES, np.array([i])) for i, s in enumerate(padded["seqs"])])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "tidy.parquet")
    run_padded(padded, str(tmp_path / "tidy.parquet"), tmp_path / "tidy", padding="post")
    check_padded(padded, tmp_path / "tidy")
    # pre-padding: the real steps are the last ones
    pre = np.zeros_like(padded["x"])
    for i, s in enumerate(padded["seqs"]):
        pre[i, T - len(s) :] = s
    run_padded(padded, padded["seqs"], tmp_path / "pre", padding="pre")
    _, attributions, _ = load_attributions(tmp_path / "pre")
    zeros = np.zeros((1, T, F), np.float32)
    real = padded["real"][:, ::-1]
    in_process = ig(padded["model"], pre, zeros, output_indices="predicted", padding_mask=real)
    assert np.array_equal(attributions, in_process)


def test_padded_bad_inputs(padded, tmp_path):
    seqs = list(padded["seqs"])
    with pytest.raises(ValueError, match=r"same number of features.*source\[3\] of shape \(5, 2\)"):
        run_padded(padded, seqs[:3] + [np.zeros((5, 2), np.float32)], tmp_path / "o")
    with pytest.raises(ValueError, match="`padding_mask` has 5 rows; the source holds 12"):
        run_padded(padded, padded["x"], tmp_path / "o", padding_mask=padded["real"][:5])
    with pytest.raises(TypeError, match="`lengths` must be ints"):
        run_padded(padded, padded["x"], tmp_path / "o", lengths=padded["lengths"] * 1.0)
    with pytest.raises(ValueError, match="Give `padding_mask` or `lengths`, not both"):
        run_padded(
            padded,
            padded["x"],
            tmp_path / "o",
            lengths=padded["lengths"],
            padding_mask=padded["real"],
        )
    with pytest.raises(ValueError, match=r"`lengths` must be in \[1, 6\]"):
        run_padded(padded, padded["x"], tmp_path / "o", lengths=padded["lengths"] + 1)
    with pytest.raises(ValueError, match="Received: padding='middle'"):
        run_padded(padded, seqs, tmp_path / "o", padding="middle")
    assert not (tmp_path / "o").exists()
    too_long = seqs[:2] + [np.zeros((T + 2, F), np.float32)]
    with pytest.raises(ValueError, match="a sequence of 8 time steps.*model's 6"):
        run_padded(padded, too_long, tmp_path / "o")
    assert not (tmp_path / "o").exists()
