"""The source interface of jobs: :class:`Source` streams :class:`Block` s of samples.

A source yields blocks of consecutive samples (ids and named inputs) of at most
``shard_size`` samples; the helpers here are shared by the concrete sources.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tf_tsexplain._validation import as_float_array
from tf_tsexplain.jobs.names import INPUT_NAME


@dataclass
class Block:
    """A run of consecutive samples of a source: ids ``(n,)`` and named inputs.

    ``inputs`` maps input names to arrays ``(n, *shape)`` (one name, ``"inputs"``, for
    single-input models), or, for variable-length sequences, to a list of ``n``
    arrays ``(T_i, F)`` (padded by :meth:`JobExplainer.prepare`).

    ``masks`` holds the real steps given with the job for these samples (Beam blocks
    carry them; local jobs cut the given arrays by row instead): ``{input name:
    ("padding_mask", (n, T) bools) or ("lengths", (n,) ints)}``, as
    :func:`tf_tsexplain.jobs.padding.padding_masks` returns them, turned into masks by
    :func:`~tf_tsexplain.jobs.padding.block_masks`.
    """

    index: int
    ids: np.ndarray
    inputs: dict
    masks: dict | None = None

    @property
    def x(self):
        return self.inputs[INPUT_NAME]


def block_from_records(index: int, ids: list, items: list, names: list[str], id_type) -> Block:
    """A block from per-sample records: each item one array (single input) or a dict
    by input name; an input's samples are stacked when their shapes agree, else kept
    as a list of sequences (variable length)."""
    dtype = np.int64 if pa.types.is_integer(id_type) else object
    inputs = {}
    for name in names:
        parts = [
            item if name == INPUT_NAME and not isinstance(item, Mapping) else item[name]
            for item in items
        ]
        parts = [np.asarray(p, np.float32) for p in parts]
        same = len({p.shape for p in parts}) == 1
        inputs[name] = np.stack(parts) if same else parts
    return Block(index, np.asarray(ids, dtype), inputs)


def sequence_list(value, name: str) -> list[np.ndarray] | None:
    """A list or tuple of ``(T_i, F)`` float arrays of different lengths (variable-
    length sequences), checked; None when ``value`` is not such a list."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None
    if not all(np.ndim(v) == 2 for v in value):
        return None
    shapes = [np.shape(v) for v in value]
    if len({s[1] for s in shapes}) > 1:
        counts = sorted({s[1] for s in shapes})
        first = next(i for i, s in enumerate(shapes) if s[1] != shapes[0][1])
        raise ValueError(
            f"The sequences of `{name}` must have the same number of features; they have "
            f"{counts}. Received: {name}[0] of shape {shapes[0]}, {name}[{first}] of shape "
            f"{shapes[first]}."
        )
    if len({s[0] for s in shapes}) == 1:
        return None  # one array (N, T, F)
    return [
        as_float_array(v, f"{name}[{i}]", min_rank=2, dtype=np.float32) for i, v in enumerate(value)
    ]


class Source:
    """A stream of samples read in blocks of ``shard_size``.

    Attributes:
        kind: ``"array"``, ``"npy"``, ``"parquet"``, ``"tfrecord"``, ``"tf.data"`` or
            ``"inputs"`` (one source per model input).
        names: the inputs' names (``["inputs"]`` for single-input sources).
        shapes: each input's per-sample shape: ``(T, F)`` sequences (T None when
            unknown before reading), ``(S,)`` static rows.
        ragged: names of the inputs whose sequences may differ in length.
        feature_names: each input's feature names (``f0, f1, ...`` when the source
            has none).
        id_type: ``pa.int64()`` or ``pa.string()`` (the ``sample`` column's type).
        has_ids: whether the source holds its own sample ids (else rows are counted).
        count: number of samples, or None when unknown before reading.
    """

    kind = ""
    id_type = pa.int64()
    has_ids = False
    count: int | None = None
    names = [INPUT_NAME]
    ragged: tuple = ()
    shapes: dict
    feature_names: dict

    @property
    def shape(self) -> tuple:
        """The single input's shape."""
        return self.shapes[INPUT_NAME]

    def describe(self) -> dict:
        """What identifies the source in the job's settings."""
        raise NotImplementedError

    def blocks(self, shard_size: int, skip=frozenset()) -> Iterator[Block]:
        """Blocks ``0, 1, ...`` of ``shard_size`` samples (the last may be shorter);
        blocks whose index is in ``skip`` are passed over without being read where the
        source allows it (arrays, ``.npy``), and yielded as None."""
        raise NotImplementedError


def set_single_input(source: Source, shape, feature_names, names=None, ragged=False) -> None:
    source.shapes = {INPUT_NAME: tuple(shape)}
    source.feature_names = {INPUT_NAME: feature_names_for(names, feature_names, shape[-1])}
    source.ragged = (INPUT_NAME,) if ragged else ()


def feature_names_for(names, given, f: int) -> list[str]:
    """The F feature names of a source, in order: ``given`` (the same names as the
    source's own ``names`` when it has some, in any order), else ``names``, else
    ``f0, f1, ...``."""
    if given is None:
        return [f"f{i}" for i in range(f)] if names is None else list(names)
    given = [str(g) for g in given]
    if len(given) != f:
        raise ValueError(
            f"`feature_names` has {len(given)} entries for {f} features in the source. "
            f"Received: feature_names={given!r}."
        )
    if names is not None and sorted(map(str, names)) != sorted(given):
        raise ValueError(
            f"`feature_names` {given} do not match the source's features {list(names)}."
        )
    return given  # a named source's features are taken in this order


def expand_paths(source, suffixes: tuple[str, ...]) -> list[str] | None:
    """Files of ``source`` (a path, a glob or a list of paths) with one of ``suffixes``,
    or None when ``source`` is not such a thing."""
    if isinstance(source, str | os.PathLike):
        text = str(source)
        paths = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
    elif (
        isinstance(source, list | tuple)
        and source
        and all(isinstance(p, str | os.PathLike) for p in source)
    ):
        paths = [str(p) for p in source]
    else:
        return None
    if not paths or not all(p.endswith(suffixes) for p in paths):
        return None
    return paths
