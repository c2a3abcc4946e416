"""Sources read sample by sample: TFRecord files of ``tf.train.Example`` and ``tf.data``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import tensorflow as tf

from tf_tsexplain._validation import as_float_array
from tf_tsexplain.jobs.names import INPUT_NAME
from tf_tsexplain.jobs.sources.base import (
    Source,
    block_from_records,
    feature_names_for,
    set_single_input,
)


def parse_sequence_example(record: bytes, shape: tuple[int, int]):
    """``(sample id, sequence (T, F) float32)`` from a serialized ``tf.train.Example``
    with features ``sample`` (int64 or bytes) and ``sequence`` (``T * F`` floats,
    row-major), as :func:`write_tfrecord` writes them."""
    example = tf.train.Example.FromString(record)
    feats = example.features.feature
    if "sequence" not in feats or "sample" not in feats:
        raise ValueError(
            "A TFRecord of sequences holds tf.train.Example records with the features "
            f"'sample' and 'sequence'; found: {', '.join(sorted(feats)) or '(none)'}."
        )
    values = np.asarray(feats["sequence"].float_list.value, np.float32)
    ids = feats["sample"]
    sample = (
        int(ids.int64_list.value[0]) if ids.int64_list.value else ids.bytes_list.value[0].decode()
    )
    if values.size != shape[0] * shape[1]:
        raise ValueError(
            f"Sample {sample!r} of the TFRecord source holds {values.size} values; the model "
            f"takes sequences of {shape[0]} x {shape[1]} = {shape[0] * shape[1]}."
        )
    return sample, values.reshape(shape)


def write_tfrecord(path, x, ids=None) -> str:
    """Write sequences ``(N, T, F)`` as a TFRecord of ``tf.train.Example`` records
    (features ``sample`` and ``sequence``), the TFRecord layout jobs read."""
    x = as_float_array(x, "x", min_rank=3, dtype=np.float32)
    ids = np.arange(len(x)) if ids is None else np.asarray(ids)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, seq in zip(ids, x, strict=True):
            sample = (
                tf.train.Feature(int64_list=tf.train.Int64List(value=[int(i)]))
                if np.issubdtype(np.asarray(i).dtype, np.integer)
                else tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(i).encode()]))
            )
            feature = {
                "sample": sample,
                "sequence": tf.train.Feature(float_list=tf.train.FloatList(value=seq.ravel())),
            }
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
    """TFRecord files of ``tf.train.Example`` records (see :func:`write_tfrecord`)."""

    kind = "tfrecord"
    has_ids = True

    def __init__(self, paths, shape, feature_names=None):
        if shape is None:
            raise ValueError("A TFRecord source needs a model whose input shape (T, F) is known.")
        self.paths = [str(Path(p).resolve()) for p in paths]
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
        set_single_input(self, shape, feature_names)
        first = next(iter(tf.data.TFRecordDataset(self.paths[:1]).take(1)), None)
        if first is None:
            raise ValueError(f"The TFRecord source {self.paths[0]} holds no record.")
        sample, _ = parse_sequence_example(first.numpy(), self.shape)
        self.id_type = pa.int64() if isinstance(sample, int) else pa.string()

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": p, "bytes": os.path.getsize(p)} for p in self.paths],
        }

    def _records(self):
        for record in tf.data.TFRecordDataset(self.paths).as_numpy_iterator():
            yield parse_sequence_example(record, self.shape)


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
