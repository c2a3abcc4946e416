"""Arrow helpers shared by the sources and the output layout: sample ids, list columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def id_type_of(t: pa.DataType) -> pa.DataType:
    """The ``sample`` column's type for ids of type ``t``: int64 or string."""
    return pa.int64() if pa.types.is_integer(t) else pa.string()


def column_ids(column, id_type) -> np.ndarray:
    if pa.types.is_integer(id_type):
        return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)
    return np.asarray(column.cast(pa.string()).to_numpy(zero_copy_only=False), object)
