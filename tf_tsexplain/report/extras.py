"""Shapley values (events, features) and sufficient input subsets in a report.

Both come either as the toolkit's result objects (``ShapleyValues``, the lists of
``SISResult`` of ``SISExplainer.explain``), aligned with the report's sequences, or as
tidy tables keyed by sample id (``ShapleyValues.to_frame()``; SIS cells), which is how
a job or a user stores them beside the attributions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tf_tsexplain.report.content import Content


def _shapley_frames(shapley, content: Content) -> list[pd.DataFrame]:
    items = list(shapley.values()) if isinstance(shapley, Mapping) else shapley
    if not isinstance(items, list | tuple):
        items = [items]
    frames = []
    for item in items:
        if isinstance(item, pd.DataFrame):
            frames.append(item)
            continue
        level = getattr(item, "level", None)
        if level not in ("event", "feature"):
            raise TypeError(
                "`shapley` must hold ShapleyValues at the event or feature level, or their "
                f"to_frame() tables. Received: {type(item).__name__}"
                + (f" at level {level!r}" if level is not None else "")
                + "."
            )
        if np.ndim(item.prediction) != 1 or len(item.prediction) != content.n:
            raise ValueError(
                f"`shapley` ({level} level) holds {np.shape(item.prediction)} predictions; the "
                f"report has {content.n} sequences (one target each, in the report's order)."
            )
        names = _sequence_part(content, None).feature_names
        frames.append(item.to_frame(feature_names=names, sample_ids=content.ids))
    return frames


def _sequence_part(content: Content, name: str | None):
    parts = [p for p in content.parts if not p.static]
    if name is not None:
        found = [p for p in parts if p.name == name]
        if not found:
            raise ValueError(
                f"`sis_input` must name a sequence input of the report: "
                f"{[p.name for p in parts]}. Received: sis_input={name!r}."
            )
        return found[0]
    if not parts:
        raise ValueError("The report has no sequence input for Shapley values or SIS.")
    return parts[0]


def _check_samples(frame: pd.DataFrame, content: Content, label: str) -> None:
    known = set(content.ids)
    unknown = [v for v in pd.unique(frame["sample"]) if _py(v) not in known]
    if unknown:
        raise ValueError(f"`{label}` names sample ids the report does not hold: {unknown[:10]}.")


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def shapley_by_sample(shapley, content: Content) -> dict:
    """``{"event": {id: {"t", "v", "pruned"}}, "feature": {id: {"f", "v"}}}``."""
    out = {}
    for frame in _shapley_frames(shapley, content):
        if not {"sample", "shapley"} <= set(frame.columns):
            raise ValueError(
                "`shapley` tables need the columns sample and shapley (and time for events, "
                f"feature for features). Received: columns {list(frame.columns)}."
            )
        _check_samples(frame, content, "shapley")
        pruned = frame["pruned"].astype(bool) if "pruned" in frame else False
        if "time" in frame.columns:
            level = out.setdefault("event", {})
            for sample, rows in frame.groupby("sample", sort=False):
                real = rows[~pruned[rows.index]] if "pruned" in frame else rows
                extra = rows[pruned[rows.index]] if "pruned" in frame else rows.iloc[:0]
                real = real.sort_values("time")
                level[_py(sample)] = {
                    "t": real["time"].astype(int).tolist(),
                    "v": real["shapley"].astype(float).tolist(),
                    "pruned": float(extra["shapley"].iloc[0]) if len(extra) else None,
                }
        elif "feature" in frame.columns:
            level = out.setdefault("feature", {})
            for sample, rows in frame.groupby("sample", sort=False):
                level[_py(sample)] = {
                    "f": rows["feature"].astype(str).tolist(),
                    "v": rows["shapley"].astype(float).tolist(),
                }
        else:
            raise ValueError(
                "A `shapley` table needs a time column (events) or a feature column "
                f"(features). Received: columns {list(frame.columns)}."
            )
    return out


def sis_grids(sis, content: Content, part) -> dict[int, np.ndarray]:
    """``{row: (T, F) float32}``: the 1-based index of the SIS holding each cell, NaN
    where none does."""
    t, f = part.real.shape[1], len(part.feature_names)
    grids = {}
    if isinstance(sis, pd.DataFrame):
        missing = [c for c in ("sample", "sis", "time", "feature") if c not in sis.columns]
        if missing:
            raise ValueError(
                f"A `sis` table needs the columns sample, sis, time, feature; missing "
                f"{missing}. Received: columns {list(sis.columns)}."
            )
        _check_samples(sis, content, "sis")
        lookup = {name: k for k, name in enumerate(part.feature_names)}
        unknown = sorted(set(map(str, sis["feature"])) - set(lookup))
        if unknown:
            raise ValueError(
                f"`sis` names features input {part.name!r} does not have: {unknown[:10]}."
            )
        rows = {v: i for i, v in enumerate(content.ids)}
        for sample, cells in sis.groupby("sample", sort=False):
            grid = np.full((t, f), np.nan, np.float32)
            steps = cells["time"].to_numpy(int)
            if steps.min() < 0 or steps.max() >= t:
                raise ValueError(f"`sis` has a time outside 0..{t - 1} for sample {sample!r}.")
            feats = np.array([lookup[str(v)] for v in cells["feature"]], int)
            order = cells["sis"].to_numpy(int)
            grid[steps, feats] = order + 1
            grids[rows[_py(sample)]] = grid
        return grids
    if not isinstance(sis, list | tuple):
        raise TypeError(
            f"`sis` must be SISExplainer.explain's list of collections (one per sequence) or "
            f"a table sample, sis, time, feature. Received: {type(sis).__name__}."
        )
    if len(sis) != content.n:
        raise ValueError(
            f"`sis` holds {len(sis)} collections; the report has {content.n} sequences (one "
            "collection each, in the report's order)."
        )
    for row, collection in enumerate(sis):
        grid = np.full((t, f), np.nan, np.float32)
        for k, result in enumerate(collection):
            mask = np.asarray(getattr(result, "mask", None))
            if mask.ndim == 1 and len(mask) == t:
                mask = np.repeat(mask[:, None], f, axis=1)
            if mask.shape != (t, f):
                raise ValueError(
                    f"`sis[{row}][{k}]` has a mask of shape {mask.shape}; input {part.name!r} "
                    f"has ({t}, {f})."
                )
            grid[mask & np.isnan(grid)] = k + 1
        grids[row] = grid
    return grids


def attach(content: Content, *, shapley=None, sis=None, sis_input=None) -> None:
    """Check and add Shapley values and SIS to ``content``."""
    if shapley is not None:
        content.shapley = shapley_by_sample(shapley, content)
    if sis is not None:
        part = _sequence_part(content, sis_input)
        content.sis = sis_grids(sis, content, part)
        content.sis_input = part.name
        counts = np.full(content.n, np.nan)
        for row, grid in content.sis.items():
            counts[row] = int(np.nanmax(grid)) if np.isfinite(grid).any() else 0
        content.instances["SIS count"] = counts
    elif sis_input is not None:
        raise ValueError(f"`sis_input` is given without `sis`. Received: sis_input={sis_input!r}.")
