"""What identifies a job's model, source and arrays in its settings (``_job.json``).

A job resumes only with equal settings, so arrays are recorded by shape and digest,
memory-mapped files by path, size and modification time, models by a digest of
their files or weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def jsonable(value):
    """Settings as JSON values; arrays become their shape and a digest."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    array = np.ascontiguousarray(value)
    return {
        "shape": list(array.shape),
        "dtype": array.dtype.name,
        "blake2b": hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest(),
    }


def describe_array(array) -> dict:
    """An array in the settings: a memory-mapped one by its file (not read whole),
    others by their digest."""
    if isinstance(array, np.memmap) and array.filename:
        stat = os.stat(array.filename)
        return {
            "file": str(array.filename),
            "shape": list(array.shape),
            "bytes": stat.st_size,
            "modified": stat.st_mtime,
        }
    return jsonable(array)


def digest_list(arrays) -> dict:
    """What identifies a list of arrays (ragged sequences) in the settings."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return {"sequences": len(arrays), "blake2b": digest.hexdigest()}


def model_fingerprint(model) -> dict:
    """What identifies the model of a job: a digest of the file(s) or of the weights."""
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(model, str | os.PathLike):
        p = Path(model)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            digest.update(str(q.relative_to(p) if p.is_dir() else q.name).encode())
            with open(q, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
        return {"path": str(p.resolve()), "blake2b": digest.hexdigest()}
    weights = getattr(model, "weights", None)
    if weights is not None:
        config = getattr(model, "get_config", dict)()
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        for w in weights:
            digest.update(np.asarray(w).tobytes())
        return {"object": type(model).__name__, "blake2b": digest.hexdigest()}
    return {"object": type(model).__name__, "id": f"{type(model).__module__}.{type(model)}"}
