"""The HTML report as a file: self-contained, its size, its content, bad input.

The page is read back as text and its inlined data (the JSON in ``#tsx-data``)
decoded, so that what a browser would show is checked against the arrays it came
from. tests/test_report_browser.py opens it in Chromium.
"""

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from tf_tsexplain.report import report_from_job, write_report

pytest.importorskip("plotly", reason="the report needs Plotly: pip install tf_tsexplain[report]")

N, T, F = 12, 30, 3


def payload(path):
    """The report's inlined data."""
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="tsx-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def decode(b64, shape):
    return np.frombuffer(base64.b64decode(b64), "<f4").reshape(shape)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, F)).astype("float32")
    ig = (x * rng.normal(size=(1, T, F))).astype("float32")
    sal = rng.normal(size=(N, T, F)).astype("float32")
    fx = rng.normal(size=N) * np.arange(1, N + 1)
    return x, {"ig": ig, "saliency": sal}, fx


def test_file_is_self_contained_and_holds_plotly_once(tmp_path, arrays):
    x, attrs, fx = arrays
    info = write_report(tmp_path / "r.html", attributions=attrs, inputs=x, outputs=fx)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert info["bytes"] == (tmp_path / "r.html").stat().st_size
    # no script, style, image or frame fetched from anywhere: every resource inline
    assert not re.search(r"<(script|img|iframe|link)[^>]*\s(src|href)\s*=", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert text.count("* plotly.js v") == 1 and "Plotly.newPlot" in text
    assert '<select id="tsx-sequence">' in text


def test_detail_sequences_are_those_of_largest_abs_output_and_hold_the_exact_arrays(
    tmp_path, arrays
):
    x, attrs, fx = arrays
    write_report(tmp_path / "r.html", attributions=attrs, inputs=x, outputs=fx, max_sequences=5)
    data = payload(tmp_path / "r.html")
    want = np.argsort(-np.abs(fx), kind="stable")[:5]
    assert [s["row"] for s in data["sequences"]] == want.tolist()
    assert data["methods"] == ["ig", "saliency"]
    for s in data["sequences"]:
        part = s["parts"][0]
        np.testing.assert_array_equal(decode(part["v"], (T, F)), x[s["row"]])
        for m in ("ig", "saliency"):
            np.testing.assert_array_equal(decode(part["a"][m], (T, F)), attrs[m][s["row"]])
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Detail for 5 of 12 sequences: the 5 with the largest |f(x)|" in text
    # the table lists every sequence; the five with detail are marked and open on click
    assert text.count("<tr class='has-detail'") == 5
    assert (
        len(re.findall(r"<tr[ >]", text.split("id='tsx-instances'")[1].split("</table>")[0]))
        == N + 1
    )


def test_detail_ids_keep_the_callers_order_and_the_rule_without_outputs(tmp_path, arrays):
    x, attrs, _ = arrays
    ids = [f"s{i}" for i in range(N)]
    write_report(
        tmp_path / "r.html", attributions=attrs["ig"], sample_ids=ids, detail_ids=["s7", "s2"]
    )
    data = payload(tmp_path / "r.html")
    assert [s["id"] for s in data["sequences"]] == ["s7", "s2"]
    assert data["sequences"][0]["parts"][0]["v"] is None  # no inputs given
    write_report(tmp_path / "r.html", attributions=attrs["ig"], max_sequences=3)
    total = np.abs(attrs["ig"]).reshape(N, -1).sum(axis=1)
    rows = [s["row"] for s in payload(tmp_path / "r.html")["sequences"]]
    assert rows == np.argsort(-total, kind="stable")[:3].tolist()


def test_global_view_is_the_mean_abs_attribution_over_real_cells(tmp_path, arrays):
    from tf_tsexplain.report.content import build_content, global_summary

    x, attrs, _ = arrays
    lengths = np.arange(N) % (T - 5) + 5
    mask = np.arange(T)[None, :] < lengths[:, None]
    junk = attrs["ig"].copy()
    junk[~mask] = 1e6  # padded cells must not count anywhere
    content = build_content(attributions=junk, inputs=x, padding_mask=mask)
    summary = global_summary(content.parts[0])["attributions"]
    a = np.abs(attrs["ig"].astype(np.float64))
    per_feature = (a * mask[..., None]).sum((0, 1)) / mask.sum()
    with np.errstate(invalid="ignore"):  # steps no sequence reaches: NaN
        per_step = (a * mask[..., None]).sum((0, 2)) / (mask.sum(0) * F)
    np.testing.assert_allclose(summary["feature"], per_feature, rtol=1e-6)
    np.testing.assert_allclose(summary["step"], per_step, rtol=1e-6)
    assert content.instances["length"].tolist() == lengths.tolist()
    np.testing.assert_allclose(
        content.instances["sum |attributions|"], (a * mask[..., None]).sum((1, 2)), rtol=1e-5
    )
    write_report(tmp_path / "r.html", attributions=junk, inputs=x, padding_mask=mask)
    for s in payload(tmp_path / "r.html")["sequences"]:
        a_seq = decode(s["parts"][0]["a"]["attributions"], (T, F))
        real = mask[s["row"]]
        assert np.isnan(a_seq[~real]).all() and np.isfinite(a_seq[real]).all()
        np.testing.assert_array_equal(a_seq[real], attrs["ig"][s["row"]][real])


def test_multi_input_with_a_static_input(tmp_path):
    rng = np.random.default_rng(1)
    seq = rng.normal(size=(6, 20, 2)).astype("float32")
    static = rng.normal(size=(6, 4)).astype("float32")
    inputs = {"seq": seq, "static": static}
    attrs = {"ig": {"seq": seq * 2, "static": static * 3}, "eg": {"seq": -seq, "static": static}}
    write_report(
        tmp_path / "r.html",
        attributions=attrs,
        inputs=inputs,
        feature_names={"seq": ["a", "b"], "static": ["s0", "s1", "s2", "s3"]},
    )
    data = payload(tmp_path / "r.html")
    assert [(p["name"], p["static"]) for p in data["parts"]] == [("seq", False), ("static", True)]
    assert data["parts"][0]["features"] == ["a", "b"]
    first = data["sequences"][0]
    np.testing.assert_array_equal(
        decode(first["parts"][1]["a"]["ig"], (4,)), static[first["row"]] * 3
    )
    assert {"detail-0", "detail-1", "global-0", "global-1"} <= set(data["figures"])
    # one method's attributions of several inputs: keys of `inputs`
    write_report(tmp_path / "one.html", attributions={"seq": seq, "static": static}, inputs=inputs)
    assert payload(tmp_path / "one.html")["methods"] == ["attributions"]


def test_report_of_the_size_of_the_issue_stays_under_10_mb(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 300, 8)).astype("float32")
    info = write_report(
        tmp_path / "big.html", attributions=x * 0.5, inputs=x, outputs=rng.normal(size=1000)
    )
    assert info["bytes"] < 10e6 and len(info["detail"]) == 100
    data = payload(tmp_path / "big.html")
    assert len(data["sequences"]) == 100
    table = (tmp_path / "big.html").read_text().split("id='tsx-instances'")[1].split("</table>")[0]
    assert table.count("<tr") == 1000 + 1  # every sequence, and the header row


def test_faithfulness_table_and_curves(tmp_path, arrays):
    x, attrs, _ = arrays
    names = ["ig", "saliency", "random"]
    table = pd.DataFrame(
        {
            "deletion_auc": [0.1, 0.3, 0.5],
            "deletion_auc_sem": [0.01, 0.02, 0.03],
            "comprehensiveness": [0.9, 0.4, 0.05],
            "comprehensiveness_sem": [0.05, 0.05, 0.01],
            "seconds": [0.02, 0.01, 0.0],
            "rank": [1.0, 2.0, 3.0],
        },
        index=pd.Index(names, name="explainer"),
    )
    fractions = np.linspace(0, 1, 11)
    table.attrs["curves"] = pd.DataFrame(
        [
            (e, c, p, (1 - p) * (k + 1), 0.01)
            for k, e in enumerate(names)
            for c in ("deletion", "insertion")
            for p in fractions
        ],
        columns=["explainer", "curve", "fraction", "mean", "sem"],
    )
    write_report(tmp_path / "r.html", attributions=attrs, inputs=x, faithfulness=table)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    block = text.split("id='tsx-faithfulness'")[1].split("</table>")[0]
    assert block.count("<tr>") == 4 and "0.9 ± 0.05" in block
    curves = payload(tmp_path / "r.html")["figures"]["faithfulness"]["data"]
    lines = [t for t in curves if t.get("mode") == "lines" and "fill" not in t]  # not bands
    assert len(lines) == 6  # 3 explainers x (deletion, insertion)
    assert [t["line"]["dash"] for t in lines if t["name"] == "random"] == ["dash", "dash"]
    bad = table.copy()
    bad.attrs["curves"] = table.attrs["curves"].drop(columns="fraction")
    with pytest.raises(ValueError, match="fraction"):
        write_report(tmp_path / "r.html", attributions=attrs, faithfulness=bad)
    with pytest.raises(TypeError, match="faithfulness"):
        write_report(tmp_path / "r.html", attributions=attrs, faithfulness={"a": 1})


def test_shapley_and_sis_tables(tmp_path, arrays):
    from tf_tsexplain import tables

    x, attrs, fx = arrays
    rng = np.random.default_rng(3)
    events = rng.normal(size=(N, T))
    start = np.full(N, 10)
    ev = tables.shapley_events_frame(events, start, pruned=np.full(N, 0.5))
    feats = tables.shapley_features_frame(rng.normal(size=(N, F)))
    sis = pd.DataFrame({"sample": [0, 0, 0, 3], "sis": [0, 0, 1, 0], "time": [1, 2, 5, 29]}).assign(
        feature=["f0", "f1", "f2", "f0"]
    )
    write_report(
        tmp_path / "r.html", attributions=attrs, inputs=x, outputs=fx, shapley=[ev, feats],
        sis=sis, detail_ids=[0, 3, 5],
    )  # fmt: skip
    data = payload(tmp_path / "r.html")
    first = data["sequences"][0]
    assert first["shapley"]["event"]["t"] == list(range(10, T))
    np.testing.assert_allclose(first["shapley"]["event"]["v"], events[0, 10:])
    assert first["shapley"]["event"]["pruned"] == 0.5
    grid = decode(first["sis"], (T, F))
    assert grid[1, 0] == 1 and grid[2, 1] == 1 and grid[5, 2] == 2
    assert np.isnan(grid).sum() == T * F - 3
    assert "sis" not in data["sequences"][2]  # sample 5 has no SIS
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "id='shapley'" in text and "id='sis'" in text
    with pytest.raises(ValueError, match="sample ids the report does not hold"):
        write_report(tmp_path / "r.html", attributions=attrs, sis=sis.assign(sample=99))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_sequences": 0}, ValueError, r"max_sequences.*>= 1.*Received: max_sequences=0"),
        ({"max_sequences": 2.5}, TypeError, "max_sequences"),
        ({"detail_ids": [1, 77]}, ValueError, r"detail_ids.*\[77\]"),
        ({"detail_ids": list(range(5)), "max_sequences": 3}, ValueError, "more than max_sequences"),
        ({"inputs": np.zeros((N, T + 1, F), "float32")}, ValueError, "shaped like the inputs"),
        ({"sample_ids": [0] * N}, ValueError, "sample_ids.*unique"),
        ({"sample_ids": [0, 1]}, ValueError, "sample_ids"),
        ({"outputs": np.zeros(N + 1)}, ValueError, r"outputs.*\(12,\)"),
        ({"padding_mask": np.ones((N, T), int)}, TypeError, "padding_mask"),
        ({"feature_names": ["a"]}, ValueError, "feature_names"),
        ({"method": "ig"}, ValueError, "method"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(tmp_path, arrays, kwargs, error, match):
    x, attrs, _ = arrays
    kwargs = dict(kwargs)
    if "method" not in kwargs:
        kwargs.setdefault("attributions", attrs["ig"])
    else:
        kwargs["attributions"] = attrs
    with pytest.raises(error, match=match):
        write_report(tmp_path / "r.html", **kwargs)
    assert not (tmp_path / "r.html").exists()


def test_methods_of_other_shapes_and_nan_are_refused(tmp_path, arrays):
    x, attrs, _ = arrays
    with pytest.raises(ValueError, match=r"attributions\['b'\].*shape"):
        write_report(tmp_path / "r.html", attributions={"a": attrs["ig"], "b": attrs["ig"][:, :5]})
    nan = attrs["ig"].copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_report(tmp_path / "r.html", attributions=nan)
    with pytest.raises(ValueError, match="does not exist"):
        write_report(tmp_path / "no" / "r.html", attributions=attrs["ig"])
    with pytest.raises(ValueError, match="is a directory"):
        write_report(tmp_path, attributions=attrs["ig"])


def test_existing_report_is_replaced_atomically(tmp_path, arrays, monkeypatch):
    from tf_tsexplain.report import write as write_module

    x, attrs, _ = arrays
    out = tmp_path / "r.html"
    out.write_text("old report")
    write_report(out, attributions=attrs["ig"], title="first")
    first = out.read_text(encoding="utf-8")
    assert "<title>first</title>" in first

    def broken(fh_text, path):  # the disk fills up mid-write
        tmp = path.with_name(f".{path.name}.x.tmp")
        tmp.write_text(fh_text[:100])
        tmp.unlink()
        raise OSError("No space left on device")

    monkeypatch.setattr("tf_tsexplain.report.page.render", lambda *args: "<html>new</html>")
    real_write = write_module.write_atomic
    monkeypatch.setattr(write_module, "write_atomic", broken)
    with pytest.raises(OSError):
        write_report(out, attributions=attrs["ig"], title="second")
    assert out.read_text(encoding="utf-8") == first
    monkeypatch.setattr(write_module, "write_atomic", real_write)
    real_replace = write_module.os.replace

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(write_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_report(out, attributions=attrs["ig"], title="third")
    monkeypatch.setattr(write_module.os, "replace", real_replace)
    assert out.read_text(encoding="utf-8") == first
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_missing_plotly_is_one_clear_error(tmp_path, arrays, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "plotly", None)
    with pytest.raises(ImportError, match=r"tf_tsexplain\[report\]"):
        write_report(tmp_path / "r.html", attributions=arrays[1]["ig"])


# ------------------------------------------------------------------------- jobs
@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A real job: a Conv1D model, integrated gradients, padded sequences, 4 shards."""
    import keras

    from tf_tsexplain.jobs import explain_to_parquet

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 16, 3)).astype("float32")
    inputs = keras.Input((16, 3))
    h = keras.layers.Conv1D(4, 3, padding="same", activation="tanh")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(h)))
    root = tmp_path_factory.mktemp("job")
    lengths = rng.integers(8, 17, size=10)
    explain_to_parquet(
        model, x, root / "job", num_samples=8, shard_size=3, lengths=lengths, verbose=False,
        feature_names=["a", "b", "c"],
    )  # fmt: skip
    return root / "job", x, lengths


def test_report_from_job_shows_the_parquet_values(tmp_path, job):
    import pyarrow.parquet as pq

    job_dir, x, lengths = job
    info = report_from_job(job_dir, tmp_path / "r.html", max_sequences=4)
    data = payload(tmp_path / "r.html")
    cells = pq.read_table(job_dir / "attributions").to_pandas()
    instances = pq.read_table(job_dir / "instances").to_pandas().set_index("sample")
    fx = instances["explained_prediction"].to_numpy()
    assert info["detail"] == np.argsort(-np.abs(fx), kind="stable")[:4].tolist()
    assert data["methods"] == ["integrated_gradients"] and data["parts"][0]["features"] == list(
        "abc"
    )
    for s in data["sequences"]:
        a = decode(s["parts"][0]["a"]["integrated_gradients"], (16, 3))
        v = decode(s["parts"][0]["v"], (16, 3))
        rows = cells[cells["sample"] == int(s["id"])]
        k = rows["feature"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
        np.testing.assert_array_equal(a[rows["time"], k], rows["attribution"].to_numpy())
        np.testing.assert_array_equal(v[rows["time"], k], rows["value"].to_numpy())
        real = np.arange(16) < lengths[int(s["id"])]
        assert np.isnan(a[~real]).all() and len(rows) == real.sum() * 3
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "integrated_gradients on 10 sequences" in text and "num_samples=8" in text


def test_incomplete_or_foreign_job_directories_are_refused(tmp_path, job):
    job_dir = job[0]
    with pytest.raises(ValueError, match="not a directory"):
        report_from_job(tmp_path / "nothing", tmp_path / "r.html")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="not the output of a tf_tsexplain job"):
        report_from_job(tmp_path / "folder", tmp_path / "r.html")
    broken = tmp_path / "broken"
    shutil.copytree(job_dir, broken)
    (broken / "instances" / "shard-00001.parquet").unlink()
    (broken / "attributions" / "shard-00001.parquet").unlink()
    with pytest.raises(ValueError, match=r"broken.*incomplete.*shard-00001"):
        report_from_job(broken, tmp_path / "r.html")
    last = tmp_path / "last"
    shutil.copytree(job_dir, last)
    (last / "instances" / "shard-00003.parquet").unlink()  # the last shard: from the count
    with pytest.raises(ValueError, match=r"incomplete.*shard-00003"):
        report_from_job(last, tmp_path / "r.html")
    with pytest.raises(ValueError, match="max_sequences"):
        report_from_job(job_dir, tmp_path / "r.html", max_sequences=0)
    with pytest.raises(ValueError, match="detail_ids"):
        report_from_job(job_dir, tmp_path / "r.html", detail_ids=[42])
    assert not (tmp_path / "r.html").exists()


def test_cli_prints_one_line_naming_the_file_and_its_size(tmp_path, job, capsys):
    from tf_tsexplain.cli import main

    out = tmp_path / "cli.html"
    assert main(["report", str(job[0]), "--out", str(out), "--max-sequences", "2"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and str(out) in printed[0]
    size = re.search(r"\(([\d.]+) MB", printed[0]).group(1)
    assert abs(float(size) - out.stat().st_size / 1e6) < 0.06 and "2 in detail" in printed[0]
    assert main(["report", str(tmp_path), "--out", str(out), "--ids", "1,2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the output of a tf_tsexplain job" in err[0]
    assert main(["report", str(job[0]), "--out", str(out), "--ids", "3,99"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "['99']" in err[0]


def test_shapley_values_and_sis_results_as_the_explainers_return_them(tmp_path, arrays):
    from tf_tsexplain.shapley import ShapleyValues
    from tf_tsexplain.sis import SISResult

    x, attrs, fx = arrays
    rng = np.random.default_rng(7)
    events = rng.normal(size=(N, T)).astype("float32")
    common = {
        "pruned": np.zeros(N, "float32"), "window_start": np.zeros(N, int),
        "window_length": np.full(N, T), "prediction": fx, "baseline_prediction": np.zeros(N),
        "exact": np.ones(N, bool), "evaluations": np.ones(N, int),
    }  # fmt: skip
    values = ShapleyValues("event", events, **common)
    features = ShapleyValues("feature", rng.normal(size=(N, F)).astype("float32"), **common)
    mask = np.zeros((T, F), bool)
    mask[[3, 4], [0, 2]] = True
    second = np.zeros((T, F), bool)
    second[10, 1] = True
    found = SISResult(np.argwhere(mask), np.argwhere(mask), np.zeros(2), mask)
    other = SISResult(np.argwhere(second), np.argwhere(second), np.zeros(1), second)
    sis = [[found, other] if i == 2 else [] for i in range(N)]
    write_report(
        tmp_path / "r.html", attributions=attrs, inputs=x, outputs=fx,
        shapley=[values, features], sis=sis, detail_ids=[2, 4],
    )  # fmt: skip
    data = payload(tmp_path / "r.html")
    shown = data["sequences"][0]
    np.testing.assert_allclose(shown["shapley"]["event"]["v"], events[2], rtol=1e-6)
    assert shown["shapley"]["feature"]["f"] == ["f0", "f1", "f2"]
    grid = decode(shown["sis"], (T, F))
    assert grid[3, 0] == 1 and grid[4, 2] == 1 and grid[10, 1] == 2 and np.isfinite(grid).sum() == 3
    assert np.isnan(decode(data["sequences"][1]["sis"], (T, F))).all()  # an empty collection
    with pytest.raises(ValueError, match="12 sequences"):
        write_report(tmp_path / "r.html", attributions=attrs, sis=sis[:3])
    with pytest.raises(TypeError, match="ShapleyValues"):
        write_report(tmp_path / "r.html", attributions=attrs, shapley=[np.zeros(3)])
