"""Sources of batch jobs: where a job reads its samples, behind one :class:`Source` interface.

:func:`open_source` turns what a user gives into a :class:`Source`: an in-memory array
``(N, T, F)`` or a list of ``(T_i, F)`` sequences; a ``.npy`` file (or a list or glob
of them), memory-mapped and read shard by shard; a Parquet file or directory, tidy
(columns ``sample, time, feature, value``, the rows of a sample together) or wide
(one row per sequence: a list column of ``T`` values per feature, and optionally
``sample``); a TFRecord file (or list or glob) of ``tf.train.Example`` records
(:func:`write_tfrecord`); a ``tf.data.Dataset`` of sequences, batches of sequences,
or ``(id, sequence)`` pairs. Models of several inputs take one source per input (a
dict by input name), a Parquet table with columns ``<input>/<feature>``, or a
``tf.data.Dataset`` of dicts, or TFRecord files whose records hold one feature per
input (:func:`write_tfrecord` describes the record format).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from tf_tsexplain.jobs.names import per_input
from tf_tsexplain.jobs.sources.arrays import (
    ArraySource,
    InputsSource,
    NpySource,
    check_npy,
    npy_header,
)
from tf_tsexplain.jobs.sources.base import (
    Block,
    Source,
    block_from_records,
    expand_paths,
    feature_names_for,
    sequence_list,
)
from tf_tsexplain.jobs.sources.parquet import (
    TIDY_COLUMNS,
    ParquetSource,
    check_names_subset,
    parquet_layout,
    tidy_columns,
    tidy_first_sample,
    tidy_to_sequences,
    wide_fields,
    wide_to_inputs,
)
from tf_tsexplain.jobs.sources.records import (
    DatasetSource,
    TFRecordSource,
    parse_example,
    parse_sequence_example,
    record_id,
    write_tfrecord,
)

__all__ = [
    "TIDY_COLUMNS",
    "ArraySource",
    "Block",
    "DatasetSource",
    "InputsSource",
    "NpySource",
    "ParquetSource",
    "Source",
    "TFRecordSource",
    "block_from_records",
    "check_names_subset",
    "check_npy",
    "feature_names_for",
    "npy_header",
    "open_source",
    "parquet_layout",
    "parse_example",
    "parse_sequence_example",
    "record_id",
    "sequence_list",
    "tidy_columns",
    "tidy_first_sample",
    "tidy_to_sequences",
    "wide_fields",
    "wide_to_inputs",
    "write_tfrecord",
]


def open_source(source, *, feature_names=None, shape=None, names=None) -> Source:
    """The :class:`Source` for ``source`` (see the module docstring).

    Args:
        source: an array ``(N, T, F)`` or a list of ``(T_i, F)`` arrays; a ``.npy``
            path, glob or list of paths; a Parquet file (``.parquet``) or directory;
            a ``.tfrecord`` path, glob or list; or a ``tf.data.Dataset``. For a
            model of several inputs: a dict by input name (or a list in the model's
            order) of any of these but TFRecord, one per input; a Parquet table
            whose columns are named ``<input>/<feature>``; a ``tf.data.Dataset``
            of dicts; or TFRecord files (a path, glob or list) whose records hold
            one feature per input, named by it.
        feature_names: F names: checked against a Parquet source's names, else used
            as the names of the features (default ``f0, f1, ...``); a dict by input
            name for several inputs.
        shape: the model's ``(T, F)`` (a dict by input name of per-sample shapes for
            several inputs), needed to read TFRecord files.
        names: the model's input names when it has several inputs.

    Raises:
        TypeError: ``source`` is none of these.
        ValueError: a path that does not exist or a file that cannot be read.
    """
    if names is not None and not isinstance(source, tf.data.Dataset):
        records = expand_paths(source, (".tfrecord", ".tfrecords"))
        if records is not None:  # one record per sample, one feature per input
            shapes = shape if isinstance(shape, Mapping) else dict.fromkeys(names)
            return TFRecordSource(records, {n: shapes.get(n) for n in names}, feature_names)
        if isinstance(source, str | os.PathLike) and (
            Path(source).suffix == ".parquet" or Path(source).is_dir()
        ):
            given_names = per_input(feature_names, names, "feature_names")
            if not Path(source).exists():
                raise ValueError(f"`source` {str(source)!r} does not exist.")
            return InputsSource({n: ParquetSource(source, given_names[n], prefix=n) for n in names})
        if isinstance(source, Mapping | list | tuple):
            parts = per_input(source, names, "source")
            missing = [n for n, v in parts.items() if v is None]
            if missing:
                raise ValueError(
                    f"`source` holds no data for the model's input(s) {missing}; its inputs "
                    f"are {names}. Received: source with keys {list(source)}."
                    if isinstance(source, Mapping)
                    else f"`source` must hold one entry per model input {names}."
                )
            given_names = per_input(feature_names, names, "feature_names")
            return InputsSource(
                {n: open_source(parts[n], feature_names=given_names[n]) for n in names}
            )
    if isinstance(feature_names, Mapping):
        raise TypeError(
            "`feature_names` is a dict by input name only for a model of several inputs; "
            f"give a list of names. Received: keys {list(feature_names)}."
        )
    npy = expand_paths(source, (".npy",))
    if npy is not None:
        return NpySource(npy, feature_names)
    records = expand_paths(source, (".tfrecord", ".tfrecords"))
    if records is not None:
        return TFRecordSource(records, shape, feature_names)
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if p.suffix == ".parquet" or p.is_dir():
            if not p.exists():
                raise ValueError(f"`source` {str(p)!r} does not exist.")
            return ParquetSource(p, feature_names)
        raise ValueError(
            f"`source` {str(source)!r} is not a .npy, .parquet or .tfrecord file, nor a "
            "directory of Parquet files."
        )
    if isinstance(source, tf.data.Dataset):
        return DatasetSource(source, names, feature_names)
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return ArraySource(source, feature_names)
    if sequence_list(source, "source") is not None:
        return ArraySource(source, feature_names)
    raise TypeError(
        "`source` must be an array (N, T, F) or a list of (T_i, F) arrays, a .npy / .parquet "
        "/ .tfrecord path (or a list or glob of them), a Parquet directory or a "
        f"tf.data.Dataset. Received: {type(source).__name__}."
    )
