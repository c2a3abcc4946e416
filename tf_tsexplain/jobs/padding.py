"""Padded sequences in jobs: padding to the model's T, and given masks or lengths.

A job's padded inputs travel with ``(n, T)`` real-step masks (True on real steps):
from sequences shorter than the model's T (padded here), from ``padding_mask`` or
``lengths`` given with the source (checked once, cut per block), or from the model's
own ``Masking`` layers.
"""

from __future__ import annotations

import numpy as np

from tf_tsexplain._structure import mask_from_lengths
from tf_tsexplain.jobs.names import INPUT_NAME, per_input


def pad_sequences(value, steps: int, padding: str, fill: float, block, label: str):
    """``(padded (n, steps, F), real steps (n, steps))`` of sequences of at most
    ``steps`` steps (a list of ``(T_i, F)`` arrays or an ``(n, T, F)`` array)."""
    seqs = list(value)
    lengths = np.array([len(s) for s in seqs])
    if lengths.max() > steps or lengths.min() < 1:
        i = int(np.flatnonzero((lengths > steps) | (lengths < 1))[0])
        raise ValueError(
            f"Sample {block.ids[i].tolist()!r} holds a sequence{label} of {int(lengths[i])} "
            f"time steps; the job pads sequences to the model's {steps} (and needs at least one)."
        )
    features = seqs[0].shape[1]
    out = np.full((len(seqs), steps, features), fill, np.float32)
    real = mask_from_lengths(lengths, steps, padding)
    for i, s in enumerate(seqs):
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, steps - len(s) :] = s
    return out, real


def padding_masks(padding_mask, lengths, names: list[str], count: int | None) -> dict:
    """``{input name: padding mask (N, T) or lengths (N,)}`` given for a job's rows,
    checked (types, number of rows) before any work; lengths are turned into masks
    per block by :func:`block_masks`."""
    if padding_mask is not None and lengths is not None:
        raise ValueError("Give `padding_mask` or `lengths`, not both.")
    given, label = (padding_mask, "padding_mask") if lengths is None else (lengths, "lengths")
    if given is None:
        return {}
    multi = names != [INPUT_NAME]
    values = per_input(given, names, label) if multi else {INPUT_NAME: given}
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        arr = np.asarray(value) if not isinstance(value, np.memmap) else value
        what = f"{label}[{name!r}]" if multi else label
        want = 2 if label == "padding_mask" else 1
        kind = np.bool_ if want == 2 else np.integer
        if arr.ndim != want or not np.issubdtype(arr.dtype, kind):
            raise TypeError(
                f"`{what}` must be "
                + ("booleans (N, T), True on real steps" if want == 2 else "ints (N,)")
                + f". Received: dtype {arr.dtype}, shape {arr.shape}."
            )
        if count is not None and len(arr) != count:
            raise ValueError(f"`{what}` has {len(arr)} rows; the source holds {count} samples.")
        out[name] = (label, arr)
    return out


def rows_of(given: dict, rows) -> dict:
    """The rows ``rows`` (an index array) of each of :func:`padding_masks`'s values, in
    the same form: what a block of those samples carries (:attr:`Block.masks`)."""
    return {name: (label, np.asarray(arr[rows])) for name, (label, arr) in given.items()}


def block_masks(given: dict, start: int, n: int, shapes: dict, padding: str) -> dict:
    """The real steps ``(n, T)`` of the rows ``start : start + n`` from
    :func:`padding_masks`'s values."""
    masks = {}
    for name, (label, arr) in given.items():
        part = np.asarray(arr[start : start + n])
        if len(part) != n:
            raise ValueError(f"`{label}` has fewer rows than the source's samples.")
        masks[name] = (
            part if label == "padding_mask" else mask_from_lengths(part, shapes[name][0], padding)
        )
    return masks


def check_lengths(given: dict, shapes: dict, padding: str) -> None:
    """Check in-memory ``lengths`` of :func:`padding_masks` against the inputs' T before
    any work (memory-mapped ones are checked block by block).

    Raises:
        ValueError: a length below 1 or above the input's time steps.
    """
    for name, (label, arr) in given.items():
        if label == "lengths" and not isinstance(arr, np.memmap) and len(arr):
            mask_from_lengths(
                arr[[int(np.argmin(arr)), int(np.argmax(arr))]], shapes[name][0], padding
            )
