"""Apache Beam transforms that read a job's samples into blocks, spread over workers.

Part of the Beam runner (:mod:`tf_tsexplain.jobs.beam`); needs the ``beam`` extra.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "tf_tsexplain.jobs.beam needs Apache Beam: pip install 'tf_tsexplain[beam]' "
        f"(apache-beam>=2.77). ({err})"
    ) from None

from tf_tsexplain._validation import check_int
from tf_tsexplain.jobs.arrow import column_ids, id_type_of
from tf_tsexplain.jobs.fingerprints import digest_list
from tf_tsexplain.jobs.names import INPUT_NAME, per_input
from tf_tsexplain.jobs.padding import rows_of
from tf_tsexplain.jobs.sources import (
    Block,
    block_from_records,
    check_npy,
    feature_names_for,
    npy_header,
    parquet_layout,
    parse_example,
    record_id,
    tidy_columns,
    tidy_first_sample,
    tidy_to_sequences,
    wide_fields,
    wide_to_inputs,
)


def _match(pattern: str) -> list[str]:
    """Files of a path, directory or glob, through Beam's file systems (local or cloud)."""
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # BeamIOError: nothing matched
        raise ValueError(f"`source` {pattern!r} matches no file ({err}).") from None
    paths = sorted(m.path for m in found if not os.path.basename(m.path).startswith((".", "_")))
    if not paths:
        raise ValueError(f"`source` {pattern!r} matches no file.")
    return paths


def _source_files(source) -> list[str]:
    if isinstance(source, list | tuple):
        return [p for s in source for p in _match(str(s))]
    text = str(source)
    if "://" not in text and Path(text).is_dir():
        return _match(str(Path(text) / "*"))
    return _match(text)


def _kind(paths: list[str]) -> str:
    for kind, suffixes in (
        ("npy", (".npy",)),
        ("parquet", (".parquet",)),
        ("tfrecord", (".tfrecord", ".tfrecords")),
    ):
        if all(p.endswith(suffixes) for p in paths):
            return kind
    raise ValueError(
        "A Beam source is .npy files, Parquet files or TFRecord files (one kind). "
        f"Received: {', '.join(paths[:4])}{' ...' if len(paths) > 4 else ''}."
    )


def _npy_files(source) -> list[tuple]:
    """``(path, shape, dtype str, data offset, first row)`` of ``.npy`` files, rows
    counted across the files in name order."""
    files, first = [], 0
    for path in _source_files(source):
        with FileSystems.open(path, mime_type="application/octet-stream") as fh:
            shape, dtype, offset = npy_header(fh, path)
        check_npy(path, shape, dtype)
        files.append((path, shape, dtype.str, offset, first))
        first += shape[0]
    if len({f[1][1:] for f in files}) > 1:
        raise ValueError(
            f"The .npy files hold samples of shapes {sorted({f[1][1:] for f in files})}."
        )
    return files


def _read_rows(files, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` (counted across ``files``) as float32."""
    parts = []
    for path, shape, dtype, offset, first in files:
        a, b = max(start, first), min(stop, first + shape[0])
        if a >= b:
            continue
        dtype = np.dtype(dtype)
        row = int(np.prod(shape[1:])) * dtype.itemsize
        with FileSystems.open(path, mime_type="application/octet-stream") as fh:
            fh.seek(offset + (a - first) * row)
            data = fh.read((b - a) * row)
        parts.append(np.frombuffer(data, dtype).reshape((b - a, *shape[1:])).astype(np.float32))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _read_npy_block(item, files: dict):
    """The block of rows ``start:stop`` of every input's ``.npy`` files."""
    start, stop = item
    inputs = {name: _read_rows(f, start, stop) for name, f in files.items()}
    return Block(start, np.arange(start, stop, dtype=np.int64), inputs)


def _tfrecords(path: str):
    """The records of a TFRecord file, in order, through Beam's file systems (each
    record: its length (8 bytes), the length's CRC (4), the data, the data's CRC (4))."""
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        while len(head := fh.read(12)) == 12:
            (length,) = struct.unpack("<Q", head[:8])
            yield fh.read(length)
            fh.read(4)


def _first_tfrecord(path: str) -> bytes:
    first = next(_tfrecords(path), None)
    if first is None:
        raise ValueError(f"The TFRecord source {path} holds no record.")
    return first


class ReadSequences(beam.PTransform):
    """Blocks of samples (:class:`tf_tsexplain.jobs.Block`) from files, spread over
    workers.

    Args:
        source: a path, directory, glob or list of them: ``.npy`` files ``(N_i, T, F)``
            (read in ranges of ``block_size`` rows; ids count rows across the files
            in name order), Parquet files (tidy with columns ``sample, time, feature,
            value``, or wide with ``sample`` and one list column per feature; for a
            model of several inputs, columns ``<input>/<feature>``), or TFRecord
            files of ``tf.train.Example`` (features ``sample`` and ``sequence``, or
            for a model of several inputs one feature per input, named by it; see
            :func:`tf_tsexplain.jobs.write_tfrecord`). For a model of several
            inputs also a dict by input name of ``.npy`` paths or globs (the same
            rows in each).
        names: the model's input names when it has several.
        input_shape: ``(T, F)``, or a dict by input name of per-sample shapes for
            several inputs; needed for TFRecord sources.
        feature_names: F names (checked against Parquet sources); a dict by input
            name for several inputs.
        block_size: samples per block (``.npy`` rows per read; samples of per-sample
            sources gathered into one block).

    Attributes (known at construction), as :class:`tf_tsexplain.jobs.Source`:
    ``kind``, ``layout`` (Parquet), ``names``, ``shapes``, ``ragged``,
    ``feature_names``, ``id_type``, ``count`` (None if unknown), ``paths``.
    """

    def __init__(
        self, source, *, names=None, input_shape=None, feature_names=None, block_size=4096
    ):
        super().__init__()
        self.block_size = check_int(block_size, "block_size", min_val=1)
        self.names = list(names) if names else [INPUT_NAME]
        multi = names is not None
        self.layout = None
        self.id_type = pa.int64()
        self.count = None
        self.ragged = ()
        self._source = source
        given = (
            per_input(feature_names, self.names, "feature_names")
            if multi
            else {INPUT_NAME: feature_names}
        )
        if isinstance(source, dict):
            if not multi:
                raise ValueError(
                    f"The source holds several inputs {list(source)}; the model takes one."
                )
            parts = per_input(source, self.names, "source")
            missing = [n for n, v in parts.items() if v is None]
            if missing:
                raise ValueError(
                    f"`source` holds no data for the model's input(s) {missing}; its inputs "
                    f"are {self.names}. Received: source with keys {list(source)}."
                )
            self._npy = {n: _npy_files(p) for n, p in parts.items()}
            self.paths = [f[0] for files in self._npy.values() for f in files]
            counts = {n: sum(f[1][0] for f in files) for n, files in self._npy.items()}
            if len(set(counts.values())) > 1:
                raise ValueError(
                    f"The inputs of `source` hold different numbers of samples: {counts}."
                )
            self.kind = "npy"
            self.count = next(iter(counts.values()))
            self.shapes = {n: tuple(files[0][1][1:]) for n, files in self._npy.items()}
            names_of = dict.fromkeys(self.names)
        else:
            self.paths = _source_files(source)
            self.kind = _kind(self.paths)
            if multi and self.kind == "npy":
                raise ValueError(
                    f"The model takes the inputs {self.names}; a Beam source of several "
                    "inputs is a dict of .npy files by input name, a Parquet table with "
                    "columns '<input>/<feature>' or TFRecord files with one feature per "
                    f"input. Received: {source!r}."
                )
            names_of = self._inspect(input_shape, multi)
        self.feature_names = {
            n: feature_names_for(names_of[n], given[n], self.shapes[n][-1]) for n in self.names
        }

    def _inspect(self, input_shape, multi) -> dict:
        """Shapes, ids and feature names of file sources; returns the source's names."""
        if self.kind == "npy":
            self._npy = {INPUT_NAME: _npy_files(self.paths)}
            files = self._npy[INPUT_NAME]
            self.count = sum(f[1][0] for f in files)
            self.shapes = {INPUT_NAME: tuple(files[0][1][1:])}
            return {INPUT_NAME: None}
        if self.kind == "tfrecord":
            shapes = input_shape if multi else {INPUT_NAME: input_shape}
            if not isinstance(shapes, dict) or any(
                shapes.get(n) is None or None in tuple(shapes[n]) for n in self.names
            ):
                raise ValueError(
                    "A TFRecord source needs `input_shape`: (T, F), or a dict by input "
                    f"name of per-sample shapes for several inputs. Received: {input_shape!r}."
                )
            self.shapes = {n: tuple(shapes[n]) for n in self.names}
            sample, _ = parse_example(_first_tfrecord(self.paths[0]), self.shapes)
            self.id_type = pa.int64() if isinstance(sample, int) else pa.string()
            return dict.fromkeys(self.names)
        with FileSystems.open(self.paths[0], mime_type="application/octet-stream") as fh:
            first = pq.ParquetFile(fh)
            schema = first.schema_arrow
            head = first.read_row_group(0) if first.num_row_groups else schema.empty_table()
        layouts = {
            n: parquet_layout(schema, self.paths[0], n if multi else None) for n in self.names
        }
        self.layout = layouts[self.names[0]]
        if "sample" in schema.names:
            self.id_type = id_type_of(schema.field("sample").type)
        elif self.layout == "wide":
            raise ValueError(
                f"The wide Parquet source {self.paths[0]} has no 'sample' column: Beam "
                "workers read rows in any order, so each sample needs its id."
            )
        names_of, self.shapes, self._columns = {}, {}, {}
        if self.layout == "tidy":
            steps, names = tidy_first_sample(head, self.id_type, self.paths[0])
            self.shapes[INPUT_NAME] = (steps, len(names))
            return {INPUT_NAME: names}
        for n in self.names:
            columns = [f.name for f in wide_fields(schema, n if multi else None)]
            self._columns[n] = columns
            names_of[n] = [c[len(n) + 1 :] if multi else c for c in columns]
            _, x = wide_to_inputs(head.slice(0, 1), columns, self.id_type)
            self.shapes[n] = tuple(np.shape(x[0]))
        return names_of

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        return {"kind": self.kind, "layout": self.layout, "files": self.paths}

    def sample_ids(self) -> np.ndarray | None:
        """The ids of the samples in the order a local job reads them (the rows of
        ``padding_mask`` or ``lengths``): rows counted across ``.npy`` files (None:
        the ids are the rows), else the ``sample`` ids of the files in name order,
        read here once (only the id column of Parquet files; every record of
        TFRecord files)."""
        if self.kind == "npy":
            return None
        if self.kind == "tfrecord":
            ids = [record_id(r) for path in self.paths for r in _tfrecords(path)]
            return np.asarray(ids, np.int64 if pa.types.is_integer(self.id_type) else object)
        parts = []
        for path in self.paths:
            with FileSystems.open(path, mime_type="application/octet-stream") as fh:
                column = pq.read_table(fh, columns=["sample"]).column("sample")
            parts.append(column_ids(column, self.id_type))
        ids = np.concatenate(parts) if parts else np.array([], np.int64)
        if self.layout == "tidy" and len(ids):  # a sample's rows are together
            ids = ids[np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1])]
        return ids

    def expand(self, pbegin):
        if self.kind == "npy":
            ranges = [
                (start, min(start + self.block_size, self.count))
                for start in range(0, self.count, self.block_size)
            ]
            return (
                pbegin
                | "Ranges" >> beam.Create(ranges)
                | "Spread" >> beam.Reshuffle()
                | "ReadNpy" >> beam.Map(_read_npy_block, self._npy)
            )
        if self.kind == "tfrecord":
            pairs = (
                pbegin | "ReadTFRecord" >> beam.io.ReadFromTFRecord(self.paths[0])
                if len(self.paths) == 1
                else pbegin
                | "Files" >> beam.Create(self.paths)
                | "ReadTFRecords" >> beam.io.ReadAllFromTFRecord()
            ) | "Parse" >> beam.Map(_parse_record, shapes=self.shapes)
            return pairs | "Blocks" >> ToBlocks(self.names, self.id_type, self.block_size)
        tables = (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "ReadParquet" >> beam.io.ReadAllFromParquetBatched()
        )
        if self.layout == "wide":
            return tables | "Rows" >> beam.Map(_wide_block, self._columns, self.id_type)
        names = self.feature_names[INPUT_NAME]
        return (
            tables
            | "Cells" >> beam.FlatMap(_tidy_parts, self.id_type)
            | "BySample" >> beam.GroupByKey()
            | "Assemble" >> beam.Map(_tidy_sequence, names)
            | "Blocks" >> ToBlocks(self.names, self.id_type, self.block_size)
        )


class ToBlocks(beam.PTransform):
    """``(id, sample)`` pairs (an array, or a dict by input name) to blocks of
    ``block_size`` samples (variable-length sequences are padded when explained)."""

    def __init__(self, names, id_type, block_size: int):
        super().__init__()
        self._names, self._id_type, self._size = list(names), id_type, block_size

    def expand(self, pairs):
        return (
            pairs
            | "Gather" >> beam.BatchElements(min_batch_size=self._size, max_batch_size=self._size)
            | "Block" >> beam.Map(_pairs_block, self._names, self._id_type)
        )


def _parse_record(record: bytes, shapes: dict):
    """``(id, sample)`` of a TFRecord record: an array, or a dict for several inputs."""
    sample, inputs = parse_example(record, shapes)
    return sample, inputs[INPUT_NAME] if list(shapes) == [INPUT_NAME] else inputs


class AttachMasks(beam.PTransform):
    """Blocks to blocks carrying the real steps given for their samples
    (:attr:`~tf_tsexplain.jobs.Block.masks`): the rows of ``padding_mask`` or
    ``lengths`` found by sample id.

    Args:
        given: ``{input name: ("padding_mask", (N, T)) or ("lengths", (N,))}`` as
            :func:`~tf_tsexplain.jobs.padding.padding_masks` returns them.
        ids: ``(N,)`` the source's sample ids in row order, or None when the ids are
            the rows (``.npy`` sources).

    The arrays travel to the workers once, as a side input.
    """

    def __init__(self, given: dict, ids=None):
        super().__init__()
        rows = None if ids is None else {_key(i): r for r, i in enumerate(ids)}
        if rows is not None and len(rows) < len(ids):
            raise ValueError(
                "`padding_mask` and `lengths` are found by sample id, and the source holds "
                f"{len(ids) - len(rows)} repeated id(s): give each sample its own id."
            )
        self._table = {
            "given": {k: (label, np.asarray(arr)) for k, (label, arr) in given.items()},
            "rows": rows,
        }

    def expand(self, blocks):
        table = blocks.pipeline | "MaskTable" >> beam.Create([self._table])
        return blocks | "Attach" >> beam.Map(_with_masks, beam.pvalue.AsSingleton(table))


def _key(sample):
    return sample.item() if hasattr(sample, "item") else sample


def _with_masks(block: Block, table: dict) -> Block:
    rows = block.ids if table["rows"] is None else [table["rows"][_key(i)] for i in block.ids]
    return Block(block.index, block.ids, block.inputs, rows_of(table["given"], np.asarray(rows)))


def _pairs_block(pairs, names, id_type):
    ids = [key for key, _ in pairs]
    return block_from_records(0, ids, [item for _, item in pairs], names, id_type)


def _wide_block(table, columns: dict, id_type):
    inputs = {}
    for name, cols in columns.items():
        ids, inputs[name] = wide_to_inputs(table, cols, id_type)
    return Block(0, ids, inputs)


def _tidy_parts(table, id_type):
    """The cells of each sample in a table, keyed by sample."""
    cols = tidy_columns(table, id_type)
    order = np.argsort(cols["sample"], kind="stable")
    sample = cols["sample"][order]
    cuts = np.flatnonzero(sample[1:] != sample[:-1]) + 1
    for part in np.split(order, cuts):
        key = cols["sample"][part[0]]
        yield (key.item() if hasattr(key, "item") else key), {c: v[part] for c, v in cols.items()}


def _tidy_sequence(item, names):
    key, parts = item
    parts = list(parts)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    _, x = tidy_to_sequences(cols["sample"], cols["time"], cols["feature"], cols["value"], names)
    return key, x[0]


def reader_shapes(reader) -> dict:
    """The per-sample shape of each input of a reader, in the model's input order."""
    return {n: tuple(reader.shapes[n]) for n in reader.names}


class ElementsSource:
    """The shapes of a PCollection (or list) of ``(id, sample)`` pairs, as a source's."""

    kind = "elements"

    def __init__(self, names, shapes, feature_names=None, id_type=None, digest=None):
        self.names = list(names)
        self.shapes = {n: tuple(shapes[n]) for n in self.names}
        self.ragged = tuple(
            n for n in self.names if len(self.shapes[n]) == 2 and self.shapes[n][0] is None
        )
        multi = self.names != [INPUT_NAME]
        given = (
            per_input(feature_names, self.names, "feature_names")
            if multi
            else {INPUT_NAME: feature_names}
        )
        self.feature_names = {
            n: feature_names_for(None, given[n], self.shapes[n][-1]) for n in self.names
        }
        self.id_type = pa.int64() if id_type is None else id_type
        self.count = None
        self._digest = digest
        self._ids = None  # in-memory pairs: their ids, in order

    def sample_ids(self) -> np.ndarray | None:
        """The ids of in-memory pairs in their order (the rows of ``padding_mask`` or
        ``lengths``).

        Raises:
            ValueError: the pairs of a PCollection have no order.
        """
        if self._ids is None:
            raise ValueError(
                "`padding_mask` and `lengths` give rows in the source's order, and a "
                "PCollection of (id, sample) pairs has none: give variable-length "
                "sequences, or a list of pairs."
            )
        return self._ids

    @classmethod
    def of(cls, pairs: list, names, feature_names=None):
        """From in-memory pairs: shapes from the samples (T None where lengths vary)."""
        items = [item if isinstance(item, dict) else {INPUT_NAME: item} for _, item in pairs]
        shapes = {}
        for n in names:
            found = {np.shape(item[n]) for item in items if n in item}
            if not found or any(n not in item for item in items):
                raise ValueError(f"Some samples of `source` have no input {n!r}.")
            first = next(iter(found))
            if len({s[1:] for s in found}) > 1:
                raise ValueError(
                    f"The samples of input {n!r} of `source` have different numbers of "
                    f"features: {sorted(found)}."
                )
            shapes[n] = first if len(found) == 1 else (None, *first[1:])
        ids = [key for key, _ in pairs]
        id_type = pa.int64() if all(isinstance(k, int | np.integer) for k in ids) else pa.string()
        arrays = [np.asarray(item[n]) for item in items for n in names]
        source = cls(names, shapes, feature_names, id_type, digest_list(arrays))
        source._ids = np.asarray(ids, np.int64 if pa.types.is_integer(id_type) else object)
        source.count = len(ids)
        return source

    def describe(self) -> dict:
        return {"kind": self.kind, "data": self._digest}
