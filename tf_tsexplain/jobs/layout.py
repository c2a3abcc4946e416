"""The output layout of batch jobs, shared by every runner, and its readers.

Under ``out_dir``:

- ``_job.json``: the job's settings (model, method, options, baseline, target,
  seed, shard size, source); a later call resumes only a job with the same settings.
- ``attributions/shard-KKKKK.parquet`` (local jobs; Beam and Spark write
  ``part-*.parquet``): one row per cell, columns ``sample`` (int64, or string ids),
  ``time`` (int32 step), ``feature`` (dictionary-encoded names), ``attribution`` and
  ``value`` (float32: the input value); a model of several inputs adds a
  dictionary-encoded ``input`` column after ``sample``, and the rows of a static
  input ``(N, S)`` have a null ``time``. Padded cells have no row.
- ``instances/shard-KKKKK.parquet``: one row per sequence: ``sample``,
  ``explained_index`` (flat index of the explained output), ``explained_prediction``
  f(x), ``baseline_prediction`` f(baseline) and ``approximation_error``
  ``|sum(attributions) - (f(x) - f(baseline))|`` (NaN where the method has no such
  identity), and ``length`` (or ``length_<input>``) for padded inputs.

Each file is written under a hidden temporary name (``.shard-...``, which Parquet
readers skip) and renamed into place; a local shard is complete once its
``instances`` file exists. Read results with :func:`read_attributions`,
:func:`read_instances` and :func:`load_attributions`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tf_tsexplain.jobs.arrow import column_ids
from tf_tsexplain.jobs.fingerprints import model_fingerprint
from tf_tsexplain.jobs.names import INPUT_NAME

JOB_FILE = "_job.json"
ATTRIBUTIONS_DIR = "attributions"
INSTANCES_DIR = "instances"
INSTANCE_COLUMNS = (
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "approximation_error",
)
DEFAULT_SHARD_SIZE = 10_000
_FORMAT = "tf_tsexplain.batch/1"


_NAMES_TYPE = pa.dictionary(pa.int32(), pa.string())


def attribution_schema(id_type: pa.DataType | None = None, multi: bool = False) -> pa.Schema:
    """Schema of the ``attributions`` tables (``sample`` int64 unless ``id_type``;
    ``multi``: with the ``input`` column of a model of several inputs)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [("sample", id_type)]
        + ([("input", _NAMES_TYPE)] if multi else [])
        + [
            ("time", pa.int32()),
            ("feature", _NAMES_TYPE),
            ("attribution", pa.float32()),
            ("value", pa.float32()),
        ]
    )


def length_columns(padded: list[str], multi: bool) -> list[str]:
    """The ``instances`` columns of the real steps of padded inputs: ``length`` for a
    single-input model, ``length_<input>`` per padded input otherwise."""
    if not multi:
        return ["length"] if padded else []
    return [f"length_{name}" for name in padded]


def instance_schema(id_type: pa.DataType | None = None, lengths=()) -> pa.Schema:
    """Schema of the ``instances`` tables (``sample`` int64 unless ``id_type``;
    ``lengths``: the names of int32 columns of real steps)."""
    id_type = pa.int64() if id_type is None else id_type
    return pa.schema(
        [
            ("sample", id_type),
            ("explained_index", pa.int32()),
            ("explained_prediction", pa.float32()),
            ("baseline_prediction", pa.float32()),
            ("approximation_error", pa.float32()),
        ]
        + [(name, pa.int32()) for name in lengths]
    )


def shard_tables(
    ids, inputs: Mapping, result: Mapping, feature_names: Mapping, id_type=None, real=None
):
    """``(attributions table, instances table)`` of one shard.

    Args:
        ids: ``(n,)`` sample ids.
        inputs: ``{input name: (n, T, F) or (n, S)}`` (``{"inputs": x}`` for one input).
        result: :meth:`JobExplainer.explain`'s output for ``inputs``.
        feature_names: ``{input name: names}``.
        id_type: the ``sample`` column's type (default int64).
        real: ``{input name: (n, T)}`` real steps of padded inputs: the cells of
            padded steps get no row, and ``instances`` records each input's length.

    Rows come input by input (in the order of ``inputs``), then sample by sample.
    Static inputs ``(n, S)`` have a null ``time``.
    """
    id_type = pa.int64() if id_type is None else id_type
    real = real or {}
    multi = list(inputs) != [INPUT_NAME]
    vocabulary = list(dict.fromkeys(n for names in feature_names.values() for n in names))
    lookup = {name: i for i, name in enumerate(vocabulary)}
    columns = {k: [] for k in ("take", "input", "time", "feature", "attribution", "value")}
    static = []
    for k, (name, x) in enumerate(inputs.items()):
        n = len(x)
        codes = np.array([lookup[f] for f in feature_names[name]], np.int32)
        f = x.shape[-1]
        steps = x.shape[1] if x.ndim == 3 else 1
        keep = None
        if name in real:
            keep = np.repeat(np.asarray(real[name]).ravel(), f)

        def cut(a, keep=keep):
            return a if keep is None else a[keep]

        count = n * steps * f if keep is None else int(keep.sum())
        columns["take"].append(cut(np.repeat(np.arange(n, dtype=np.int64), steps * f)))
        columns["input"].append(np.full(count, k, np.int32))
        columns["time"].append(cut(np.tile(np.repeat(np.arange(steps, dtype=np.int32), f), n)))
        static.append(np.full(count, x.ndim == 2))
        columns["feature"].append(cut(np.tile(codes, n * steps)))
        columns["attribution"].append(
            cut(np.asarray(result["attributions"][name], np.float32).ravel())
        )
        columns["value"].append(cut(np.asarray(x, np.float32).ravel()))
    cols = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in columns.items()}
    static = np.concatenate(static)
    id_array = pa.array(ids, type=id_type)
    data = {"sample": id_array.take(pa.array(cols["take"]))}
    if multi:
        data["input"] = pa.DictionaryArray.from_arrays(
            pa.array(cols["input"]), pa.array(list(inputs), pa.string())
        )
    data["time"] = pa.array(cols["time"], mask=static if static.any() else None)
    data["feature"] = pa.DictionaryArray.from_arrays(
        pa.array(cols["feature"]), pa.array(vocabulary, pa.string())
    )
    data["attribution"] = pa.array(cols["attribution"])
    data["value"] = pa.array(cols["value"])
    attributions = pa.table(data, schema=attribution_schema(id_type, multi))
    lengths = length_columns(list(real), multi)
    instances = pa.table(
        {
            "sample": id_array,
            "explained_index": pa.array(np.asarray(result["explained_index"], np.int32)),
            **{
                k: pa.array(np.asarray(result[k], np.float32))
                for k in ("explained_prediction", "baseline_prediction", "approximation_error")
            },
            **{
                column: pa.array(np.asarray(mask).sum(axis=1).astype(np.int32))
                for column, mask in zip(lengths, real.values(), strict=True)
            },
        },
        schema=instance_schema(id_type, lengths),
    )
    return attributions, instances


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.parquet"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write under a hidden name in the same directory, flush to disk, rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def result_files(out_dir) -> tuple[list[Path], list[Path]]:
    """``(attribution files, instance files)`` of the complete shards of ``out_dir``,
    in name order (local shards ``shard-*``, Beam's ``part-*``)."""
    out = Path(out_dir)
    inst = {p.name: p for p in sorted((out / INSTANCES_DIR).glob("*.parquet"))}
    attr = {p.name: p for p in sorted((out / ATTRIBUTIONS_DIR).glob("*.parquet"))}
    if inst and any(name.startswith("part-") for name in inst):  # Beam: files are whole
        return list(attr.values()), list(inst.values())
    names = sorted(set(inst) & set(attr))
    return [attr[n] for n in names], [inst[n] for n in names]


def read_attributions(out_dir, columns=None) -> pa.Table:
    """The ``attributions`` table of a job's complete shards (all loaded: for checks
    and moderate sizes; read the files one by one otherwise)."""
    files, _ = result_files(out_dir)
    if not files:
        return attribution_schema().empty_table()
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in files])


def read_instances(out_dir) -> pa.Table:
    """The ``instances`` table of a job's complete shards."""
    _, files = result_files(out_dir)
    if not files:
        return instance_schema().empty_table()
    return pa.concat_tables([pq.read_table(p) for p in files])


def _feature_codes(feature: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes into one list of names for a dictionary column whose chunks (files) may
    each carry their own dictionary."""
    names: list[str] = []
    parts = []
    for chunk in feature.chunks:
        lookup = []
        for name in chunk.dictionary.to_pylist():
            if name not in names:
                names.append(name)
            lookup.append(names.index(name))
        parts.append(np.asarray(lookup, np.int64)[chunk.indices.to_numpy(zero_copy_only=False)])
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), names


def load_attributions(out_dir):
    """A job's complete shards as dense arrays, sorted by sample (loads everything:
    for checks and moderate sizes).

    Returns:
        For a single-input model ``(sample ids (N,), attributions (N, T, F), feature
        names)``; for several inputs ``(sample ids (N,), {input: (N, *shape)},
        {input: feature names})``. Cells without a row (padded steps) hold 0, as
        the explainers give them.
    """
    table = read_attributions(out_dir)
    if table.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0, 0), np.float32), []
    job = Path(out_dir) / JOB_FILE
    stored = json.loads(job.read_text()).get("settings", {}) if job.is_file() else {}
    stored = stored.get("feature_names") or {}
    codes, vocabulary = _feature_codes(table.column("feature"))
    sample = column_ids(table.column("sample"), table.schema.field("sample").type)
    ids, position = np.unique(sample, return_inverse=True)
    steps = table.column("time").fill_null(0).to_numpy()
    static = table.column("time").is_null().to_numpy(zero_copy_only=False)
    values = table.column("attribution").to_numpy()
    if "input" in table.column_names:
        input_codes, found = _feature_codes(table.column("input"))
        order = [n for n in stored if n in found] + [n for n in found if n not in stored]
        groups = [(name, input_codes == found.index(name)) for name in order]
    else:
        groups = [(INPUT_NAME, np.ones(len(values), bool))]
    arrays, names_out = {}, {}
    for name, rows in groups:
        present = [vocabulary[c] for c in np.unique(codes[rows])]
        names = stored.get(name) or [v for v in vocabulary if v in present]
        index = np.full(len(vocabulary), -1, np.int64)
        for i, v in enumerate(names):
            if v in vocabulary:
                index[vocabulary.index(v)] = i
        feature = index[codes[rows]]
        if static[rows].all():
            out = np.zeros((len(ids), len(names)), np.float32)
            out[position[rows], feature] = values[rows]
        else:
            out = np.zeros((len(ids), int(steps[rows].max()) + 1, len(names)), np.float32)
            out[position[rows], steps[rows], feature] = values[rows]
        arrays[name], names_out[name] = out, names
    if list(arrays) == [INPUT_NAME]:
        return ids, arrays[INPUT_NAME], names_out[INPUT_NAME]
    return ids, arrays, names_out


def job_settings(explainer, source, shard_size: int, runner: str) -> dict:
    """The settings stored in ``_job.json``; a job resumes only with equal settings."""
    model = explainer.model_path if explainer.model_path is not None else explainer.model
    settings = {
        "format": _FORMAT,
        "runner": runner,
        "model": model_fingerprint(model),
        **explainer.settings(),
        "shard_size": shard_size,
        "source": source.describe(),
        "feature_names": {n: list(source.feature_names[n]) for n in source.names},
        "sample_type": str(source.id_type),
    }
    return json.loads(json.dumps(settings))  # as they read back from the file


def prepare_out_dir(out_dir, settings: dict, *, resume: bool) -> bool:
    """Create ``out_dir`` for a job, or check that it holds the same job.

    Returns:
        True if ``out_dir`` already held this job (to be resumed).

    Raises:
        ValueError: ``out_dir`` is a file; it is not empty and holds no job file; it
            holds a job with other settings (the differing keys are named); or it
            holds this job and ``resume`` is False.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {str(out)!r} is a file; a job writes a directory.")
    if out.is_dir() and any(out.iterdir()):
        job = out / JOB_FILE
        if not job.is_file():
            raise ValueError(
                f"`out_dir` {str(out)!r} is not empty and holds no {JOB_FILE}: it is not the "
                "output of a tf_tsexplain job. Choose a new or empty directory."
            )
        stored = json.loads(job.read_text()).get("settings", {})
        differ = [
            k for k in sorted(set(stored) | set(settings)) if stored.get(k) != settings.get(k)
        ]
        if differ:
            raise ValueError(
                f"`out_dir` {str(out)!r} holds another job: its settings differ in "
                f"{', '.join(differ)} (stored: {stored.get(differ[0])!r}; this call: "
                f"{settings.get(differ[0])!r}). Choose a new out_dir."
            )
        if not resume:
            raise ValueError(
                f"`out_dir` {str(out)!r} already holds this job; pass resume=True to finish it "
                "(complete shards are kept) or choose a new out_dir. Received: resume=False."
            )
        return True
    for sub in (ATTRIBUTIONS_DIR, INSTANCES_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    import tf_tsexplain

    record = {"settings": settings, "version": tf_tsexplain.__version__, "created": time.time()}
    tmp = out / f".{JOB_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / JOB_FILE)
    return False


def complete_shards(out: Path) -> set[int]:
    """Indices of the complete local shards; removes what an interrupted run left (hidden
    temporary files, an attributions file whose instances file is missing)."""
    for sub in (ATTRIBUTIONS_DIR, INSTANCES_DIR):
        for tmp in (out / sub).glob(".shard-*.tmp"):
            tmp.unlink()
    inst = {p.name for p in (out / INSTANCES_DIR).glob("shard-*.parquet")}
    for p in (out / ATTRIBUTIONS_DIR).glob("shard-*.parquet"):
        if p.name not in inst:
            p.unlink()
    return {int(name[len("shard-") : -len(".parquet")]) for name in inst}
