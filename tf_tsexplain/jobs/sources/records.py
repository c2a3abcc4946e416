"""Sources read sample by sample: TFRecord files of ``tf.train.Example`` and ``tf.data``.

The TFRecord layout of jobs (:func:`write_tfrecord`, read by :class:`TFRecordSource`
and Beam's ``ReadSequences``): one ``tf.train.Example`` per sample, with the feature
``sample`` (the id: one int64 or one bytes value) and the sample's values as float
lists, row-major: the feature ``sequence`` (``T * F`` floats) for a single-input
model; for a model of several inputs one feature per input, named by the input
(``T * F`` floats for a sequence input, ``S`` for static covariates).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import tensorflow as tf

from tf_tsexplain._validation import as_float_array
from tf_tsexplain.jobs.names import INPUT_NAME, per_input
from tf_tsexplain.jobs.sources.base import (
    Source,
    block_from_records,
    feature_names_for,
    set_single_input,
)

SAMPLE_FEATURE = "sample"
SEQUENCE_FEATURE = "sequence"


def record_features(names: list[str]) -> dict[str, str]:
    """The ``tf.train.Example`` feature of each input: ``sequence`` for a single-input
    model, the input's own name for a model of several inputs.

    Raises:
        ValueError: an input named ``sample`` (the id's feature) in a model of several
            inputs.
    """
    if names == [INPUT_NAME]:
        return {INPUT_NAME: SEQUENCE_FEATURE}
    if SAMPLE_FEATURE in names:
        raise ValueError(
            f"A TFRecord of several inputs names each input's feature by the input, and "
            f"{SAMPLE_FEATURE!r} is the sample id's feature: rename the model input. "
            f"Received: input names {names}."
        )
    return {name: name for name in names}


def example_id(example) -> int | str:
    """The sample id of a parsed ``tf.train.Example`` (feature ``sample``, int64 or bytes)."""
    feats = example.features.feature
    if SAMPLE_FEATURE not in feats:
        raise ValueError(
            "A TFRecord of sequences holds tf.train.Example records with the feature "
            f"'sample' (the id); found: {', '.join(sorted(feats)) or '(none)'}."
        )
    ids = feats[SAMPLE_FEATURE]
    return (
        int(ids.int64_list.value[0]) if ids.int64_list.value else ids.bytes_list.value[0].decode()
    )


def record_id(record: bytes) -> int | str:
    """The sample id of a serialized ``tf.train.Example`` of a job's TFRecord."""
    return example_id(tf.train.Example.FromString(record))


def parse_example(record: bytes, shapes: Mapping[str, tuple]) -> tuple[int | str, dict]:
    """``(sample id, {input name: float32 array of its shape})`` from a serialized
    ``tf.train.Example`` of a job's TFRecord (see :func:`write_tfrecord`).

    Args:
        record: one serialized ``tf.train.Example``.
        shapes: each input's per-sample shape, ``(T, F)`` or ``(S,)``, by input name
            (``{"inputs": (T, F)}`` for a single-input model, read from the feature
            ``sequence``; several inputs are read from the features named by them).

    Raises:
        ValueError: no ``sample`` feature, a missing input feature (named), or an
            input holding another number of values than its shape.
    """
    example = tf.train.Example.FromString(record)
    sample = example_id(example)
    feats = example.features.feature
    out = {}
    for name, key in record_features(list(shapes)).items():
        shape = tuple(shapes[name])
        label = "" if name == INPUT_NAME else f" for input {name!r}"
        if key not in feats:
            raise ValueError(
                f"Sample {sample!r} of the TFRecord source has no feature {key!r}{label}: "
                "a record holds 'sample' and "
                + (
                    "'sequence'"
                    if name == INPUT_NAME
                    else f"one feature per model input, named by it ({list(shapes)})"
                )
                + f"; found: {', '.join(sorted(feats))}."
            )
        values = np.asarray(feats[key].float_list.value, np.float32)
        size = int(np.prod(shape))
        if values.size != size:
            raise ValueError(
                f"Sample {sample!r} of the TFRecord source holds {values.size} values{label}; "
                f"the model takes samples of shape {shape}, {size} values."
            )
        out[name] = values.reshape(shape)
    return sample, out


def parse_sequence_example(record: bytes, shape: tuple[int, int]):
    """``(sample id, sequence (T, F) float32)`` from a serialized ``tf.train.Example``
    with features ``sample`` (int64 or bytes) and ``sequence`` (``T * F`` floats,
    row-major), as :func:`write_tfrecord` writes them."""
    sample, inputs = parse_example(record, {INPUT_NAME: shape})
    return sample, inputs[INPUT_NAME]


def write_tfrecord(path, x, ids=None) -> str:
    """Write samples as a TFRecord of ``tf.train.Example`` records, the layout jobs read.

    One record per sample: the feature ``sample`` (its id, int64 or bytes) and, for
    sequences ``(N, T, F)``, the feature ``sequence`` (``T * F`` floats, row-major);
    for a model of several inputs (``x`` a dict by input name of ``(N, T, F)`` or
    ``(N, S)`` arrays), one float feature per input, named by the input and holding
    its values row-major.

    Args:
        path: the file to write.
        x: sequences ``(N, T, F)``, or a dict by input name of ``(N, *shape)`` arrays.
        ids: ``(N,)`` sample ids (ints or strings); default ``0 .. N-1``.

    Returns:
        ``path`` as a string.
    """
    if isinstance(x, Mapping):
        parts = {
            str(k): as_float_array(v, f"x[{k!r}]", min_rank=2, dtype=np.float32)
            for k, v in x.items()
        }
        counts = {k: len(v) for k, v in parts.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"The inputs of `x` hold different numbers of samples: {counts}.")
        keys = record_features(list(parts))
    else:
        parts = {INPUT_NAME: as_float_array(x, "x", min_rank=3, dtype=np.float32)}
        keys = record_features([INPUT_NAME])
    n = len(next(iter(parts.values())))
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if ids.shape != (n,):
        raise ValueError(f"`ids` must hold one id per sample ({n}). Received: shape {ids.shape}.")
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row, i in enumerate(ids):
            feature = {
                SAMPLE_FEATURE: (
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[int(i)]))
                    if np.issubdtype(ids.dtype, np.integer)
                    else tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(i).encode()]))
                )
            }
            for name, key in keys.items():
                values = parts[name][row].ravel()
                feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return str(path)


class _RecordSource(Source):
    """Shared by the sources read sample by sample (TFRecord, tf.data)."""

    def _records(self) -> Iterator[tuple[object, object]]:
        raise NotImplementedError

    def blocks(self, shard_size, skip=frozenset()):
        ids, items, k = [], [], 0
        for sample, item in self._records():
            ids.append(sample)
            items.append(item)
            if len(ids) == shard_size:
                yield None if k in skip else self._block(k, ids, items)
                ids, items, k = [], [], k + 1
        if ids:
            yield None if k in skip else self._block(k, ids, items)

    def _block(self, k, ids, items):
        return block_from_records(k, ids, items, self.names, self.id_type)


class TFRecordSource(_RecordSource):
    """TFRecord files of ``tf.train.Example`` records (see :func:`write_tfrecord`):
    the feature ``sample`` and ``sequence``, or for a model of several inputs one
    feature per input named by it.

    Args:
        paths: the files, read in this order.
        shape: the model's ``(T, F)``; a dict by input name of per-sample shapes for a
            model of several inputs.
        feature_names: F names (a dict by input name for several inputs).
    """

    kind = "tfrecord"
    has_ids = True

    def __init__(self, paths, shape, feature_names=None):
        shapes = shape if isinstance(shape, Mapping) else {INPUT_NAME: shape}
        if not shapes or any(s is None or None in tuple(s) for s in shapes.values()):
            raise ValueError(
                "A TFRecord source needs a model whose input shapes are known. Received: "
                f"shape={shape!r}."
            )
        self.paths = [str(Path(p).resolve()) for p in paths]
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
        if isinstance(shape, Mapping):
            self.names = list(shapes)
            self.shapes = {n: tuple(s) for n, s in shapes.items()}
            given = per_input(feature_names, self.names, "feature_names")
            self.feature_names = {
                n: feature_names_for(None, given[n], self.shapes[n][-1]) for n in self.names
            }
        else:
            set_single_input(self, shape, feature_names)
        first = next(iter(tf.data.TFRecordDataset(self.paths[:1]).take(1)), None)
        if first is None:
            raise ValueError(f"The TFRecord source {self.paths[0]} holds no record.")
        sample, _ = parse_example(first.numpy(), self.shapes)
        self.id_type = pa.int64() if isinstance(sample, int) else pa.string()

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": p, "bytes": os.path.getsize(p)} for p in self.paths],
        }

    def _records(self):
        single = self.names == [INPUT_NAME]
        for record in tf.data.TFRecordDataset(self.paths).as_numpy_iterator():
            sample, inputs = parse_example(record, self.shapes)
            yield sample, inputs[INPUT_NAME] if single else inputs


class DatasetSource(_RecordSource):
    """A ``tf.data.Dataset`` of samples: sequences ``(T, F)`` (``T`` may vary), batches
    ``(B, T, F)``, ``(id, sequence)`` pairs, or, for multi-input models, dicts by
    input name, tuples in the model's input order, or ``(id, dict)`` pairs (one
    sample per element)."""

    kind = "tf.data"

    def __init__(self, dataset, names: list[str] | None = None, feature_names=None):
        spec = dataset.element_spec
        self._with_ids = (
            isinstance(spec, tuple)
            and len(spec) == 2
            and isinstance(spec[0], tf.TensorSpec)
            and spec[0].shape.rank == 0
            and not spec[0].dtype.is_floating
        )
        value = spec[1] if self._with_ids else spec
        if names is not None and isinstance(value, tuple) and len(value) == len(names):
            value = dict(zip(names, value, strict=True))
            self._positional = True
        else:
            self._positional = False
        parts = value if isinstance(value, Mapping) else {INPUT_NAME: value}
        if not all(isinstance(p, tf.TensorSpec) for p in parts.values()) or (
            isinstance(spec, tuple) and not self._with_ids and not self._positional
        ):
            raise ValueError(
                "A tf.data source yields sequences (T, F), batches (B, T, F), (id, sequence) "
                "pairs, or for a model of several inputs dicts by input name, tuples in its "
                f"input order or (id, dict) pairs. Received: element_spec={spec}."
            )
        single = list(parts) == [INPUT_NAME]
        self._batched = single and parts[INPUT_NAME].shape.rank == 3
        self.names = list(parts)
        self.shapes, self.feature_names, ragged = {}, {}, []
        names_given = (
            feature_names if isinstance(feature_names, Mapping) else {INPUT_NAME: feature_names}
        )
        for name, part in parts.items():
            shape = part.shape[1:] if self._batched else part.shape
            if shape.rank not in (1, 2) or shape[-1] is None:
                raise ValueError(
                    f"The tf.data source's samples{'' if single else f' of input {name!r}'} "
                    "must be sequences (T, F) with a known F, or rows (S,). Received: "
                    f"element_spec={spec}."
                )
            if not part.dtype.is_floating:
                raise TypeError(
                    f"The tf.data source yields {part.dtype.name}; float sequences needed."
                )
            self.shapes[name] = tuple(shape.as_list())
            if shape.rank == 2 and shape[0] is None:
                ragged.append(name)
            given = names_given.get(name)
            self.feature_names[name] = feature_names_for(None, given, shape[-1])
        self.ragged = tuple(ragged)
        self._dataset = dataset
        self._spec = str(spec)
        if self._with_ids:
            self.has_ids = True
            self.id_type = pa.int64() if spec[0].dtype.is_integer else pa.string()

    def describe(self) -> dict:
        return {"kind": self.kind, "element_spec": self._spec}

    def _records(self):
        data = self._dataset.unbatch() if self._batched else self._dataset
        for i, item in enumerate(data.as_numpy_iterator()):
            sample = i
            if self._with_ids:
                sample, item = item
                sample = sample.decode() if isinstance(sample, bytes) else sample
            if self._positional:
                item = dict(zip(self.names, item, strict=True))
            yield sample, item
