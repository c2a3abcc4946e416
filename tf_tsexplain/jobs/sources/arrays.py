"""Sources of arrays: in memory, ``.npy`` files (memory-mapped), one source per input."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pyarrow as pa

from tf_tsexplain._validation import as_float_array
from tf_tsexplain.jobs.fingerprints import digest_list, jsonable
from tf_tsexplain.jobs.names import INPUT_NAME
from tf_tsexplain.jobs.sources.base import Block, Source, sequence_list, set_single_input


class ArraySource(Source):
    """An in-memory array ``(N, T, F)`` (or ``(N, S)`` rows), or a list of ``(T_i, F)``
    sequences of different lengths."""

    kind = "array"

    def __init__(self, array, feature_names=None):
        seqs = sequence_list(array, "source")
        if seqs is not None:
            self._x = seqs
            self.count = len(seqs)
            set_single_input(
                self, (max(len(s) for s in seqs), seqs[0].shape[1]), feature_names, ragged=True
            )
            return
        x = as_float_array(array, "source", min_rank=2, dtype=None)
        if x.ndim > 3:
            raise ValueError(f"`source` must be sequences (N, T, F). Received: shape {x.shape}.")
        self._x = x
        self.count = len(x)
        set_single_input(self, x.shape[1:], feature_names)

    def describe(self) -> dict:
        data = digest_list(self._x) if isinstance(self._x, list) else jsonable(self._x)
        return {"kind": self.kind, "data": data}

    def blocks(self, shard_size, skip=frozenset()):
        for k, start in enumerate(range(0, self.count, shard_size)):
            if k in skip:
                yield None
                continue
            stop = min(start + shard_size, self.count)
            x = self._x[start:stop]
            x = x if isinstance(x, list) else np.asarray(x, np.float32)
            yield Block(k, np.arange(start, stop, dtype=np.int64), {INPUT_NAME: x})


class InputsSource(Source):
    """One source per model input, read in step: their samples must correspond (the
    same count, and the same ids where the sources hold ids)."""

    kind = "inputs"

    def __init__(self, sources: dict[str, Source]):
        self.sources = sources
        self.names = list(sources)
        self.shapes = {n: s.shape for n, s in sources.items()}
        self.feature_names = {n: s.feature_names[INPUT_NAME] for n, s in sources.items()}
        self.ragged = tuple(n for n, s in sources.items() if s.ragged)
        counts = {n: s.count for n, s in sources.items() if s.count is not None}
        if len(set(counts.values())) > 1:
            raise ValueError(f"The inputs of `source` hold different numbers of samples: {counts}.")
        self.count = next(iter(counts.values()), None) if len(counts) == len(sources) else None
        with_ids = [s for s in sources.values() if s.has_ids]
        self.has_ids = bool(with_ids)
        self.id_type = with_ids[0].id_type if with_ids else pa.int64()

    def describe(self) -> dict:
        return {"kind": self.kind, "inputs": {n: s.describe() for n, s in self.sources.items()}}

    def blocks(self, shard_size, skip=frozenset()):
        streams = {n: s.blocks(shard_size, skip) for n, s in self.sources.items()}
        while True:
            parts = {n: next(it, False) for n, it in streams.items()}
            ended = [n for n, p in parts.items() if p is False]
            if ended:
                if len(ended) < len(parts):
                    raise ValueError(
                        f"The inputs {ended} of `source` end before the others: the inputs "
                        "must hold the same samples."
                    )
                return
            first = next(iter(parts.values()))
            if first is None:
                yield None
                continue
            ids = first.ids
            for name, part in parts.items():
                source = self.sources[name]
                if source.has_ids:
                    ids = part.ids
                    break
            for name, part in parts.items():
                own = part.ids if self.sources[name].has_ids else None
                if len(part.ids) != len(ids) or (own is not None and not np.array_equal(own, ids)):
                    raise ValueError(
                        f"Input {name!r} of `source` holds other samples than the others in "
                        f"shard {first.index} ({part.ids[:3].tolist()}... against "
                        f"{ids[:3].tolist()}...): the inputs must list the same samples in the "
                        "same order."
                    )
            yield Block(first.index, ids, {n: p.x for n, p in parts.items()})


def npy_header(fh, name: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of an open ``.npy`` file."""
    version = np.lib.format.read_magic(fh)
    read = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }.get(version)
    if read is None:  # version 3.0 (utf8 field names) is read like 2.0
        read = np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    if fortran:
        raise ValueError(f"{name} is stored in Fortran order; save it in C order.")
    return tuple(shape), np.dtype(dtype), fh.tell()


def check_npy(path: str, shape, dtype) -> None:
    """Raise unless a ``.npy`` file holds float samples ``(N, T, F)`` or ``(N, S)``."""
    if len(shape) not in (2, 3):
        raise ValueError(
            f"{path} holds an array of shape {shape}; sequences (N, T, F) (or rows (N, S)) needed."
        )
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{path} holds {dtype} values; float sequences needed.")


class NpySource(Source):
    """``.npy`` files ``(N_i, T, F)`` (or ``(N_i, S)``), memory-mapped and read one
    block at a time.

    The pages of a block are released after reading, so the resident memory of the
    mapping stays about one block, whatever N.
    """

    kind = "npy"

    def __init__(self, paths: list[str], feature_names=None):
        self.paths = [str(Path(p).resolve()) for p in paths]
        self._files = []
        for p in self.paths:
            if not Path(p).is_file():
                raise ValueError(f"`source` file {p!r} does not exist.")
            with open(p, "rb") as fh:
                try:
                    shape, dtype, offset = npy_header(fh, p)
                except ValueError as err:
                    raise ValueError(f"cannot read {p} as a .npy file: {err}") from None
            check_npy(p, shape, dtype)
            self._files.append((p, shape, dtype, offset))
        shapes = {f[1][1:] for f in self._files}
        if len(shapes) > 1:
            raise ValueError(
                f"The .npy files hold sequences of different shapes: {sorted(shapes)}."
            )
        self.count = sum(f[1][0] for f in self._files)
        set_single_input(self, self._files[0][1][1:], feature_names)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": p, "shape": list(s), "dtype": d.name} for p, s, d, _ in self._files],
        }

    def blocks(self, shard_size, skip=frozenset()):
        ranges = []  # (file index, start row, stop row) pieces of each block
        first = 0
        for i, (_, shape, _, _) in enumerate(self._files):
            ranges.append((i, first, first + shape[0]))
            first += shape[0]
        maps = {}
        try:
            for k, start in enumerate(range(0, self.count, shard_size)):
                stop = min(start + shard_size, self.count)
                if k in skip:
                    yield None
                    continue
                parts = []
                for i, lo, hi in ranges:
                    a, b = max(start, lo), min(stop, hi)
                    if a < b:
                        parts.append(self._read(maps, i, a - lo, b - lo))
                x = parts[0] if len(parts) == 1 else np.concatenate(parts)
                yield Block(k, np.arange(start, stop, dtype=np.int64), {INPUT_NAME: x})
        finally:
            for fh, mm in maps.values():
                mm.close()
                fh.close()

    def _read(self, maps, i, a, b) -> np.ndarray:
        path, shape, dtype, offset = self._files[i]
        if i not in maps:
            fh = open(path, "rb")
            maps[i] = (fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        mm = maps[i][1]
        row = int(np.prod(shape[1:])) * dtype.itemsize
        start, length = offset + a * row, (b - a) * row
        view = np.frombuffer(mm, dtype=dtype, count=(b - a) * row // dtype.itemsize, offset=start)
        x = view.reshape((b - a, *shape[1:])).astype(np.float32)  # a copy
        del view
        page = start - start % mmap.PAGESIZE
        if hasattr(mm, "madvise"):  # drop the block's pages from this process
            mm.madvise(mmap.MADV_DONTNEED, page, start + length - page)
        return x
