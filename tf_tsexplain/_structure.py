"""Inputs as the model takes them: one array, several (multi-input), padded sequences.

Explainers compute on one float array of rows. A multi-input model's inputs (a list,
tuple or dict of arrays, e.g. a sequence ``(N, T, F)`` and static covariates ``(N,
S)``) are flattened per row and concatenated into ``(N, D)`` with ``D`` the sum of
the inputs' sizes, in the order the model lists them (dict keys in the model's input
order); results are split back into the same structure, each shaped like its input.
So interactions of a multi-input model span all positions of all inputs, in that
flat layout: position ``(input k, *index)`` is flat ``offset[k] + ravel(index)``.

Padding: a boolean ``frozen`` array shaped like the rows (True on cells of padded
steps) travels with the inputs. Every method keeps frozen cells at their input values
(baselines, noise, fills and masks never change them) and gives them exactly zero
attribution. It comes from the model's own mask (a ``Masking`` layer applied to an
input: steps whose features all equal its ``mask_value``), or from the caller's
``padding_mask`` (``(N, T)``, True on real steps; see :func:`mask_from_lengths`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._validation import as_float_array, check_choice


class InputStructure:
    """How the model's inputs map to flat rows ``(N, D)``.

    Args:
        kind: "list", "tuple" or "dict".
        names: the inputs' names (dict keys; "input_0", ... for lists).
        shapes: each input's shape without the batch axis.
    """

    def __init__(self, kind: str, names: list[str], shapes: list[tuple[int, ...]]):
        self.kind = kind
        self.names = names
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) if s else 1 for s in shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)

    @property
    def key(self) -> tuple:
        """``(kind, names, shapes)``: two calls share a structure when equal."""
        return (self.kind, tuple(self.names), tuple(self.shapes))

    @property
    def steps(self) -> int:
        """Time steps of the longest sequence input (1 when no input is a sequence)."""
        return max((int(s[0]) for s in self.shapes if len(s) >= 2), default=1)

    @property
    def size(self) -> int:
        """D, the length of a flat row (all inputs' cells)."""
        return int(self.offsets[-1])

    def parts(self, value, name: str, *, allow_nonfinite: bool, dtype=None, per_row=True):
        """``value`` in this structure -> list of float arrays, one per input, checked.

        Args:
            value: a list, tuple or dict of arrays in this structure.
            name: the argument's name, for error messages.
            allow_nonfinite: accept NaN/Inf values.
            dtype: cast every part to this float dtype (None: float32 unless float64).
            per_row: each part must be ``(R, *shape_k)`` with the same R (a part of
                shape ``shape_k`` counts as R = 1).

        Returns:
            The checked parts, one float array per input.

        Raises:
            TypeError: a value of another kind than the structure, or not floats.
            ValueError: other names or counts of parts, or parts of the wrong shape.
        """
        values = _as_list(value, self, name)
        arrays = []
        for part, part_name, shape in zip(values, self.names, self.shapes, strict=True):
            label = f"{name}[{part_name!r}]"
            arr = as_float_array(
                part, label, min_rank=1, allow_nonfinite=allow_nonfinite, dtype=dtype
            )
            if per_row:
                if arr.shape == shape:
                    arr = arr[None]
                if arr.shape[1:] != shape:
                    raise ValueError(
                        f"`{label}` must have shape (R, {', '.join(map(str, shape))}) to match "
                        f"the model input {part_name!r}. Received: shape {arr.shape}."
                    )
            arrays.append(arr)
        if per_row and len({len(a) for a in arrays}) > 1:
            counts = {n: len(a) for n, a in zip(self.names, arrays, strict=True)}
            raise ValueError(f"The parts of `{name}` have different numbers of rows: {counts}.")
        return arrays

    def flatten(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Parts ``(R, *shape_k)`` -> rows ``(R, D)``.

        Args:
            arrays: one array ``(R, *shape_k)`` per input, in the structure's order.

        Returns:
            The rows ``(R, D)``, the parts flattened and concatenated.
        """
        return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)

    def unflatten(self, flat: np.ndarray, leading: int = 0):
        """Rows ``(..., R, D)`` -> the structure of arrays ``(..., R, *shape_k)``.

        Args:
            flat: rows ``(..., R, D)``.
            leading: unused; the leading axes are those of ``flat``.

        Returns:
            A list, tuple or dict (the structure's kind) of arrays ``(..., R, *shape_k)``.
        """
        lead = flat.shape[:-1]
        parts = [
            flat[..., a:b].reshape(lead + shape)
            for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)
        ]
        return self.pack(parts)

    def pack(self, parts: list):
        """``parts`` (one per input, in order) as a list, tuple or dict of this kind.

        Args:
            parts: one value per input.

        Returns:
            The parts in the structure's kind (a dict by input name, a tuple or a list).
        """
        if self.kind == "dict":
            return dict(zip(self.names, parts, strict=True))
        return tuple(parts) if self.kind == "tuple" else list(parts)

    def model_fn(self, model_fn, as_list: bool = False):
        """A model function on flat rows.

        Args:
            model_fn: the model's function on its structured inputs.
            as_list: pass the inputs as a list in the model's input order (as Keras
                models take them whatever their input names); else in the structure
                given.

        Returns:
            ``f(flat rows (R, D)) -> outputs``, splitting rows into the model's inputs.
        """

        def flat_fn(flat):
            rows = tf.shape(flat)[0]
            parts = [
                tf.reshape(flat[:, a:b], tf.concat([[rows], tf.constant(shape, tf.int32)], 0))
                for a, b, shape in zip(
                    self.offsets[:-1], self.offsets[1:], self.shapes, strict=True
                )
            ]
            return model_fn(list(parts) if as_list else self.pack(parts))

        return flat_fn


def _as_list(value, structure: InputStructure, name: str) -> list:
    """The parts of ``value``, which must have the structure's kind, count and names."""
    if structure.kind == "dict":
        if not isinstance(value, Mapping):
            raise TypeError(
                f"`{name}` must be a dict with keys {structure.names}, as the inputs. "
                f"Received: {type(value).__name__}."
            )
        missing = [k for k in structure.names if k not in value]
        extra = [k for k in value if k not in structure.names]
        if missing or extra:
            raise ValueError(
                f"`{name}` must have the keys {structure.names}; missing {missing}, "
                f"unexpected {extra}."
            )
        return [value[k] for k in structure.names]
    if isinstance(value, np.ndarray | tf.Tensor) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{name}` must be a list of {len(structure.names)} arrays, as the inputs. "
            f"Received: {type(value).__name__}."
        )
    if len(value) != len(structure.names):
        raise ValueError(
            f"`{name}` must hold {len(structure.names)} arrays (one per model input "
            f"{structure.names}). Received: {len(value)}."
        )
    return list(value)


def model_input_names(model) -> list[str] | None:
    """The Keras model's input names when it has several inputs.

    Args:
        model: a Keras model or a callable.

    Returns:
        The input layers' names in the model's order; None for one input or a callable.
    """
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs or len(inputs) < 2:
        return None
    # the InputLayer's name: the key Keras expects in a dict of inputs
    history = [getattr(t, "_keras_history", None) for t in inputs]
    return [
        h.operation.name if h is not None else t.name for h, t in zip(history, inputs, strict=True)
    ]


def is_structured(inputs, model) -> bool:
    """True when ``inputs`` are several arrays for a multi-input model.

    A dict always is. A list or tuple is when the Keras model has several inputs, or,
    for callables, when it holds arrays of different shapes with the same number of
    rows (a list of equal-shape arrays is read as one stacked array, as before).

    Args:
        inputs: what a caller passed as ``inputs``.
        model: the explained model.

    Returns:
        Whether ``inputs`` are several arrays.
    """
    if isinstance(inputs, Mapping):
        return True
    if isinstance(inputs, np.ndarray | tf.Tensor) or not isinstance(inputs, list | tuple):
        return False
    if model_input_names(model) is not None:
        return True
    if isinstance(model, keras.Model) or len(inputs) < 2:
        return False
    shapes = [np.shape(v) for v in inputs]
    if any(len(s) == 0 for s in shapes):
        return False
    return len({s[0] for s in shapes}) == 1 and len(set(shapes)) > 1


def structure_of(inputs, model) -> InputStructure:
    """The structure of multi-input ``inputs``.

    Args:
        inputs: a list, tuple or dict of arrays ``(N, *shape_k)``.
        model: the explained model; a Keras model's input names are checked.

    Returns:
        The :class:`InputStructure` of ``inputs``.

    Raises:
        ValueError: dict keys other than a Keras model's input names, or another
            number of arrays than it takes.
    """
    names = model_input_names(model)
    if isinstance(inputs, Mapping):
        keys = list(inputs)
        if names is not None:
            missing = [k for k in names if k not in inputs]
            extra = [k for k in keys if k not in names]
            if missing or extra:
                raise ValueError(
                    f"`inputs` must have the model's input names {names} as keys; missing "
                    f"{missing}, unexpected {extra}."
                )
            keys = names
        shapes = [tuple(np.shape(inputs[k])[1:]) for k in keys]
        return InputStructure("dict", keys, shapes)
    if names is not None and len(inputs) != len(names):
        raise ValueError(
            f"The model takes {len(names)} inputs {names}; `inputs` holds {len(inputs)} arrays."
        )
    kind = "tuple" if isinstance(inputs, tuple) else "list"
    labels = names if names is not None else [f"input_{k}" for k in range(len(inputs))]
    return InputStructure(kind, labels, [tuple(np.shape(v)[1:]) for v in inputs])


def mask_from_lengths(lengths, steps: int, padding: str = "post") -> np.ndarray:
    """A padding mask ``(N, steps)``, True on real steps, from sequence lengths.

    Args:
        lengths: ``(N,)`` ints in [1, steps].
        steps: T, the padded length.
        padding: "post" (real steps first, as ``keras.utils.pad_sequences(...,
            padding="post")``) or "pre" (real steps last, Keras' default).

    Returns:
        ``(N, steps)`` booleans, True on the real steps.

    Raises:
        TypeError: ``lengths`` that are not a 1-D array of ints.
        ValueError: lengths outside [1, steps], or an unknown ``padding``.

    Example:
        >>> mask_from_lengths([2, 3], 4, padding="pre").astype(int)
        array([[0, 0, 1, 1],
               [0, 1, 1, 1]])
    """
    check_choice(padding, "padding", ("pre", "post"))
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"`lengths` must be a 1-D array of ints. Received: {lengths!r}.")
    if np.any(lengths < 1) or np.any(lengths > steps):
        raise ValueError(f"`lengths` must be in [1, {steps}]. Received: {lengths.tolist()}.")
    position = np.arange(steps)[None, :]
    if padding == "post":
        return position < lengths[:, None]
    return position >= steps - lengths[:, None]


def pad_ragged(sequences) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length sequences post-padded with zeros.

    Args:
        sequences: a list of ``(T_i, F)`` float arrays with the same F.

    Returns:
        ``(x, real)``: x ``(N, max T_i, F)`` and its padding mask ``(N, T)``, True on
        real steps.

    Raises:
        ValueError: arrays that are not ``(T_i, F)`` with one F.
    """
    arrays = [as_float_array(s, f"inputs[{i}]", min_rank=2) for i, s in enumerate(sequences)]
    features = {a.shape[1:] for a in arrays}
    if len(features) != 1 or any(a.ndim != 2 for a in arrays):
        raise ValueError(
            "Ragged `inputs` must be (T_i, F) arrays with the same F. Received shapes "
            f"{[a.shape for a in arrays]}."
        )
    steps = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), steps) + arrays[0].shape[1:], arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, mask_from_lengths(np.array([len(a) for a in arrays]), steps, "post")


def is_ragged(inputs) -> bool:
    """Whether ``inputs`` are a list of 2-D arrays of different lengths.

    Args:
        inputs: what a caller passed as ``inputs``.

    Returns:
        True for variable-length sequences ``[(T_i, F), ...]``.
    """
    if not isinstance(inputs, list) or len(inputs) < 2:
        return False
    shapes = [np.shape(v) for v in inputs]
    return all(len(s) == 2 for s in shapes) and len({s[0] for s in shapes}) > 1


def masking_values(model) -> list[float | None]:
    """The ``mask_value`` of the ``Masking`` layer applied directly to each input.

    Args:
        model: a Keras model or a callable.

    Returns:
        One value (None where there is no such layer) per input of a Keras model;
        an empty list for other models.
    """
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs:
        return []
    values: list[float | None] = [None] * len(inputs)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Masking):
            for k, tensor in enumerate(inputs):
                if layer.input is tensor:
                    values[k] = layer.mask_value
    return values


def keras_padding(model, arrays: list[np.ndarray]) -> list[np.ndarray | None]:
    """The model's own padding per input, from its ``Masking`` layers.

    Args:
        model: a Keras model or a callable.
        arrays: the inputs' arrays, in the model's order.

    Returns:
        Per array, ``(N, T)`` booleans True on real steps for a sequence input with a
        ``Masking`` layer applied directly to it; None elsewhere.
    """
    out: list[np.ndarray | None] = [None] * len(arrays)
    for k, value in enumerate(masking_values(model)[: len(arrays)]):
        if value is not None and arrays[k].ndim == 3:
            out[k] = np.any(arrays[k] != value, axis=-1)
    return out


def sequence_input(structure: InputStructure, input_name: str | int | None) -> int:
    """The index of the sequence input ``(N, T, F)`` a sequence-only method explains.

    Methods that perturb time steps (TSR, SIS, masks) explain one sequence input of a
    multi-input model and hold the others at their values. ``input_name`` names it
    (an input name or an index); None picks the only sequence input.

    Args:
        structure: the inputs' structure.
        input_name: an input name, an index, or None.

    Returns:
        The index of the explained input in the structure.

    Raises:
        ValueError: an unknown name or index, an input that is not a sequence, or
            None with several sequence inputs.
    """
    sequences = [k for k, shape in enumerate(structure.shapes) if len(shape) == 2]
    if input_name is None:
        if len(sequences) != 1:
            raise ValueError(
                f"The model has {len(sequences)} sequence inputs (N, T, F) among "
                f"{structure.names}; choose one with `input_name`."
            )
        return sequences[0]
    if isinstance(input_name, str) and input_name in structure.names:
        k = structure.names.index(input_name)
    elif (
        isinstance(input_name, int | np.integer)
        and not isinstance(input_name, bool)
        and 0 <= input_name < len(structure.names)
    ):
        k = int(input_name)
    else:
        raise ValueError(
            f"`input_name` must be one of {structure.names} or an index below "
            f"{len(structure.names)}. Received: input_name={input_name!r}."
        )
    if k not in sequences:
        raise ValueError(
            f"`input_name={input_name!r}` is not a sequence input: its rows have shape "
            f"{structure.shapes[k]}, not (T, F). Sequence inputs: "
            f"{[structure.names[i] for i in sequences]}."
        )
    return k
