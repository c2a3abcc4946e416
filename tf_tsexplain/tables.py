"""Tidy pandas tables of attributions: one row per (sample, time, feature) cell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def attributions_frame(
    attributions,
    inputs=None,
    feature_names: Sequence[str] | None = None,
    sample_ids: Sequence | None = None,
) -> pd.DataFrame:
    """Long-format table of sequence attributions.

    Args:
        attributions: ``(N, T, F)`` (or ``(T, F)`` for one sample).
        inputs: optional input values of the same shape, added as ``value``.
        feature_names: F names (default ``f0, f1, ...``).
        sample_ids: N identifiers (default ``0..N-1``).

    Returns:
        DataFrame with columns ``sample, time, feature, attribution`` (and ``value``
        when ``inputs`` is given), N * T * F rows, ordered by sample, time, feature.
    """
    attr = np.asarray(attributions)
    if attr.ndim == 2:
        attr = attr[None]
    if attr.ndim != 3:
        raise ValueError(f"`attributions` must be (N, T, F) or (T, F), got shape {attr.shape}.")
    n, t, f = attr.shape
    names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(f)]
    if len(names) != f:
        raise ValueError(f"`feature_names` has {len(names)} names for {f} features.")
    ids = list(sample_ids) if sample_ids is not None else list(range(n))
    if len(ids) != n:
        raise ValueError(f"`sample_ids` has {len(ids)} entries for {n} samples.")
    frame = pd.DataFrame(
        {
            "sample": np.repeat(ids, t * f),
            "time": np.tile(np.repeat(np.arange(t), f), n),
            "feature": np.tile(names, n * t),
            "attribution": attr.ravel(),
        }
    )
    if inputs is not None:
        values = np.asarray(inputs).reshape(attr.shape) if np.size(inputs) == attr.size else None
        if values is None:
            raise ValueError(
                f"`inputs` must have the attributions' shape {attr.shape}, got {np.shape(inputs)}."
            )
        frame["value"] = values.ravel()
    return frame
