"""``report_from_job``: the report of a batch job's Parquet output.

The job is read with its own readers (``read_attributions``, ``read_instances``) after
a check that the directory is a job and that no shard is missing, so that a report
never shows part of a job as if it were the whole.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tf_tsexplain.report import extras
from tf_tsexplain.report.content import INPUT_NAME, INSTANCE_COLUMNS, build_content
from tf_tsexplain.report.write import (
    check_faithfulness,
    check_output_path,
    describe_value,
    render_content,
    require_plotly,
)

JOB_FILE = "_job.json"
# tables a job directory may hold beside its attributions, read when present
SHAPLEY_FILES = ("shapley_events.parquet", "shapley_features.parquet")
SIS_FILE = "sis.parquet"


def _readers():
    """The job output readers (pyarrow only: no TensorFlow is imported)."""
    from tf_tsexplain.jobs.layout import read_attributions, read_instances

    return read_attributions, read_instances


def _expected_count(source: dict) -> int | None:
    """The number of sequences of a job's source, when its description holds it."""
    kind = source.get("kind")
    if kind == "array":
        shape = (source.get("data") or {}).get("shape")
        return int(shape[0]) if shape else (source.get("data") or {}).get("sequences")
    if kind == "npy":
        return sum(int(f["shape"][0]) for f in source.get("files", []))
    if kind == "inputs":
        counts = [_expected_count(s) for s in source.get("inputs", {}).values()]
        return counts[0] if counts and None not in counts else None
    return None


def check_job_dir(job_dir) -> tuple[Path, dict]:
    """``(path, job record)`` of a complete job directory.

    Raises:
        TypeError: ``job_dir`` is not a path.
        ValueError: it is not a directory, holds no job, or shards are missing or
            incomplete (the shards are named).
    """
    if not isinstance(job_dir, str | os.PathLike):
        raise TypeError(
            f"`job_dir` must be a directory path. Received: job_dir={job_dir!r} "
            f"({type(job_dir).__name__})."
        )
    out = Path(job_dir)
    if not out.is_dir():
        raise ValueError(f"`job_dir` {str(out)!r} is not a directory.")
    job = out / JOB_FILE
    if not job.is_file():
        raise ValueError(
            f"`job_dir` {str(out)!r} is not the output of a tf_tsexplain job: it holds no "
            f"{JOB_FILE}."
        )
    try:
        record = json.loads(job.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"`job_dir` {str(out)!r}: {JOB_FILE} cannot be read: {err}") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise ValueError(f"`job_dir` {str(out)!r}: {JOB_FILE} holds no job settings.")
    found = {}
    for sub in ("attributions", "instances"):
        folder = out / sub
        if not folder.is_dir():
            raise ValueError(f"`job_dir` {str(out)!r} is incomplete: it has no {sub}/ folder.")
        found[sub] = {p.name for p in folder.glob("*.parquet")}
    attrs, insts = found["attributions"], found["instances"]
    if not insts:
        raise ValueError(
            f"`job_dir` {str(out)!r} is incomplete: no shard is finished (instances/ is "
            "empty). Finish the job (explain_to_parquet resumes it) and try again."
        )
    beam = any(name.startswith("part-") for name in insts)
    if not beam:
        no_attr = sorted(insts - attrs)
        if no_attr:
            raise ValueError(
                f"`job_dir` {str(out)!r} is incomplete: attributions are missing for the shards "
                f"{', '.join(no_attr[:5])}" + (" ..." if len(no_attr) > 5 else "") + "."
            )
        half = sorted(attrs - insts)
        indices = sorted(int(n[len("shard-") : -len(".parquet")]) for n in insts)
        settings = record["settings"]
        count = _expected_count(settings.get("source") or {})
        size = settings.get("shard_size")
        last = indices[-1]
        if count is not None and isinstance(size, int) and size > 0:
            last = max(last, math.ceil(count / size) - 1)
        missing = sorted(set(range(last + 1)) - set(indices))
        if missing or half:
            names = [f"shard-{k:05d}" for k in missing[:5]]
            raise ValueError(
                f"`job_dir` {str(out)!r} is incomplete: {len(missing) or len(half)} shard(s) "
                f"are missing or unfinished ({', '.join(names or half[:5])}"
                + (" ..." if len(missing) > 5 else "")
                + "). Finish the job (explain_to_parquet resumes it) and try again."
            )
    return out, record


def _codes(column) -> tuple[np.ndarray, list[str]]:
    """Integer codes and names of a dictionary column whose files may each carry
    their own dictionary."""
    import pyarrow as pa

    names: list[str] = []
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        lookup = []
        for name in chunk.dictionary.to_pylist():
            if name not in names:
                names.append(name)
            lookup.append(names.index(name))
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        parts.append(np.asarray(lookup, np.int64)[indices])
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), names


def _ids(column) -> np.ndarray:
    values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
    return np.asarray(values, dtype=object if values.dtype.kind in "OUS" else values.dtype)


def read_job(out: Path, record: dict) -> dict:
    """A job's attributions, values and instances as dense arrays.

    Returns:
        ``{"ids" (N,), "attributions", "inputs", "padding_mask", "feature_names"
        (one array each for a single input, dicts by input name otherwise),
        "instances" (DataFrame, N rows in id order)}``.
    """
    read_attributions, read_instances = _readers()
    settings = record["settings"]
    table = read_attributions(out)
    instances = read_instances(out).to_pandas()
    inst_ids = _ids(instances["sample"])
    ids, first = np.unique(inst_ids, return_index=True)
    if len(ids) != len(inst_ids):
        raise ValueError(f"`job_dir` {str(out)!r}: the instances list some samples twice.")
    instances = instances.iloc[first].reset_index(drop=True)
    sample = _ids(table.column("sample"))
    position = np.searchsorted(ids, sample)
    position = np.clip(position, 0, len(ids) - 1)
    if len(sample) and not np.array_equal(ids[position], sample):
        raise ValueError(
            f"`job_dir` {str(out)!r}: attributions name samples that no instances file lists."
        )
    feature_codes, vocabulary = _codes(table.column("feature"))
    steps = table.column("time")
    static_rows = steps.is_null().to_numpy(zero_copy_only=False)
    steps = steps.fill_null(0).to_numpy().astype(np.int64)
    attribution = table.column("attribution").to_numpy()
    value = table.column("value").to_numpy()
    stored_names = settings.get("feature_names") or {}
    shapes = settings.get("input_shape")
    if "input" in table.column_names:
        input_codes, found = _codes(table.column("input"))
        order = [n for n in stored_names if n in found] + [
            n for n in found if n not in stored_names
        ]
        groups = [(name, input_codes == found.index(name)) for name in order]
    else:
        groups = [(INPUT_NAME, np.ones(len(attribution), bool))]
        shapes = {INPUT_NAME: shapes}
    n = len(ids)
    attrs, values, masks, names_out = {}, {}, {}, {}
    for name, rows in groups:
        present = [vocabulary[c] for c in np.unique(feature_codes[rows])]
        names = list(stored_names.get(name) or [v for v in vocabulary if v in present])
        index = np.full(len(vocabulary), -1, np.int64)
        for i, v in enumerate(names):
            if v in vocabulary:
                index[vocabulary.index(v)] = i
        feature = index[feature_codes[rows]]
        where = position[rows]
        if static_rows[rows].all():
            a = np.zeros((n, len(names)), np.float32)
            x = np.zeros((n, len(names)), np.float32)
            a[where, feature] = attribution[rows]
            x[where, feature] = value[rows]
            mask = None
        else:
            shape = (shapes or {}).get(name) if isinstance(shapes, dict) else None
            t = int(shape[0]) if shape else int(steps[rows].max()) + 1
            a = np.zeros((n, t, len(names)), np.float32)
            x = np.zeros((n, t, len(names)), np.float32)
            at = steps[rows]
            a[where, at, feature] = attribution[rows]
            x[where, at, feature] = value[rows]
            mask = np.zeros((n, t), bool)
            mask[where, at] = True
        attrs[name], values[name], names_out[name] = a, x, names
        if mask is not None:
            masks[name] = mask
    if list(attrs) == [INPUT_NAME]:
        one = INPUT_NAME
        return {
            "ids": ids,
            "attributions": attrs[one],
            "inputs": values[one],
            "padding_mask": masks.get(one),
            "feature_names": names_out[one],
            "instances": instances,
        }
    return {
        "ids": ids,
        "attributions": attrs,
        "inputs": values,
        "padding_mask": masks or None,
        "feature_names": names_out,
        "instances": instances,
    }


def job_header(out: Path, record: dict) -> tuple[str, str, dict]:
    """``(method label, model text, {setting: text})`` for the report's header."""
    s = record["settings"]
    model = s.get("model") or {}
    model_text = model.get("path") or model.get("object") or "?"
    if model.get("blake2b"):
        model_text += f" (blake2b {model['blake2b'][:12]})"
    method = s.get("method") or "?"
    options = dict(s.get("options") or {})
    if method == "tsr" and options.get("base_method"):
        method = f"tsr({options['base_method']})"
    header = {"job": str(out.resolve())}
    for key in ("runner", "options", "baseline", "output_indices", "seed", "shard_size"):
        if key in s and s[key] not in (None, {}, []):
            header[key] = describe_value(s[key])
    if s.get("padded_inputs"):
        header["padding"] = f"{s.get('padding')} ({', '.join(s['padded_inputs'])})"
    source = s.get("source") or {}
    if source.get("kind"):
        header["source"] = source["kind"] + (f" {source['path']}" if source.get("path") else "")
    if record.get("version"):
        made = record.get("created")
        when = pd.Timestamp(made, unit="s").strftime("%Y-%m-%d %H:%M UTC") if made else ""
        header["job made with"] = f"tf_tsexplain {record['version']}" + (
            f", {when}" if when else ""
        )
    return method, model_text, header


def report_from_job(
    job_dir,
    path,
    *,
    max_sequences: int = 100,
    detail_ids=None,
    title: str | None = None,
    faithfulness: pd.DataFrame | None = None,
    shapley=None,
    sis=None,
) -> dict:
    """Write the report of a batch job's output (``explain_to_parquet``, Beam, Spark).

    The job is read with its readers; the header shows its model, method and
    settings; the instance table its ``instances`` (f(x), f(baseline), approximation
    error, lengths); hover shows the ``value`` and ``attribution`` columns as
    stored. Padded steps (no rows in the job) are not drawn. Shapley values and SIS
    are shown when given, or when the job directory holds them as
    ``shapley_events.parquet`` / ``shapley_features.parquet`` (the tables of
    ``ShapleyValues.to_frame()``) and ``sis.parquet`` (columns ``sample, sis, time,
    feature``).

    Args:
        job_dir: the job's output directory.
        path: the HTML file to write (replaced atomically).
        max_sequences: the most sequences with a detail view (>= 1; default the
            100 of largest |f(x)|).
        detail_ids: sample ids to show in detail instead.
        title: the page title (default: ``"<method> on <N> sequences"``).
        faithfulness: a :func:`~tf_tsexplain.metrics.compare_explainers` table.
        shapley: Shapley values of the job's samples (see :func:`write_report`).
        sis: SIS of the job's samples, a table ``sample, sis, time, feature``.

    Returns:
        As :func:`write_report`.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: ``job_dir`` is not a job, or an incomplete one (missing or
            unfinished shards are named); ``max_sequences < 1``; unknown
            ``detail_ids``. All before the report is written.
    """
    from tf_tsexplain._validation import check_int

    require_plotly()
    max_sequences = check_int(max_sequences, "max_sequences", min_val=1)
    out_path = check_output_path(path)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be a string. Received: title={title!r}.")
    faithfulness = check_faithfulness(faithfulness)
    job, record = check_job_dir(job_dir)
    data = read_job(job, record)
    method, model_text, header = job_header(job, record)
    frame = data["instances"]
    outputs = frame[[c for c in INSTANCE_COLUMNS if c in frame.columns]]
    content = build_content(
        attributions={method: data["attributions"]},
        inputs=data["inputs"],
        feature_names=data["feature_names"],
        sample_ids=list(data["ids"]),
        outputs=outputs,
        padding_mask=data["padding_mask"],
        max_sequences=max_sequences,
        detail_ids=detail_ids,
    )
    content.title = title or f"{method} on {content.n:,} sequences"
    content.header = {"model": model_text, **header}
    content.faithfulness = faithfulness
    if shapley is None:
        tables = [pd.read_parquet(job / f) for f in SHAPLEY_FILES if (job / f).is_file()]
        shapley = tables or None
    if sis is None and (job / SIS_FILE).is_file():
        sis = pd.read_parquet(job / SIS_FILE)
    extras.attach(content, shapley=shapley, sis=sis)
    return render_content(content, out_path)
