"""Targets: which scalar of the model's output is explained, per input.

One meaning of ``output_indices`` for every explainer, SIS, masks, metrics, serving
and the CLI:

- ``None``: the only output of a single-output model (outputs ``(N,)`` or ``(N, 1)``);
  on a model with several outputs, every output, and results get the output shape
  as leading axes (e.g. ``(C, N, T, F)``). Methods that explain one scalar per input
  (SIS, masks, serving) refuse ``None`` on several outputs and ask for an index.
- an int: that class of outputs ``(N, C)``; or one int per input, shape ``(N,)``.
- a tuple such as ``(time, class)`` for sequence outputs ``(N, T, C)``; or one such
  tuple per input, shape ``(N, 2)``.
- ``"predicted"``: the arg-max class of each input (outputs ``(N, C)``; the only
  output of a single-output model).

Outputs are flattened per row to ``(rows, n_outputs)``; a target is then one flat
index per row. ``resolve_output_indices`` turns ``output_indices`` into such indices.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PREDICTED = "predicted"


def resolve_output_indices(
    output_indices, output_shape: tuple[int, ...], n_inputs: int, predict=None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat output indices to explain.

    Args:
        output_indices: ``None``; an int (outputs ``(N, C)``); one int per input
            (shape ``(N,)``); an index tuple such as ``(time, class)`` for sequence
            outputs ``(N, T, C)``; one such tuple per input (shape ``(N, 2)``); or
            ``"predicted"`` (see the module docstring).
        output_shape: the model output shape per row, without the batch axis.
        n_inputs: N, the number of inputs explained.
        predict: ``() -> (N, *output_shape)`` model outputs of the inputs; called
            only for ``"predicted"`` on a model with several outputs.

    Returns:
        ``(targets, leading_shape)``: ``targets`` is an int32 array
        ``(n_runs, N)`` of flat indices into the row's flattened output;
        ``leading_shape`` is ``()`` when one target per input is explained, or the
        output shape when ``output_indices`` is None on a model with several outputs
        (every output is explained and results get these leading axes).
    """
    n_outputs = int(np.prod(output_shape)) if output_shape else 1
    if isinstance(output_indices, str):
        if output_indices != PREDICTED:
            raise ValueError(
                "`output_indices` must be None, an int, an index tuple, one per input, or "
                f"'predicted'. Received: output_indices={output_indices!r}."
            )
        if n_outputs == 1:
            return np.zeros((1, n_inputs), np.int32), ()
        if len(output_shape) != 1:
            raise ValueError(
                f"output_indices='predicted' picks the arg-max class of outputs (N, C); "
                f"the model outputs (N, {', '.join(map(str, output_shape))}). Pass a "
                "(time, class) tuple, or one per input."
            )
        if predict is None:
            raise ValueError("output_indices='predicted' needs the model's predictions.")
        predicted = np.asarray(predict()).reshape(n_inputs, -1)
        return np.argmax(predicted, axis=1).astype(np.int32)[None, :], ()
    if output_indices is None:
        if n_outputs == 1:
            return np.zeros((1, n_inputs), np.int32), ()
        flat = np.arange(n_outputs, dtype=np.int32)
        return np.repeat(flat[:, None], n_inputs, axis=1), tuple(output_shape)
    if not output_shape:
        raise ValueError(
            "`output_indices` was given but the model returns one scalar per input "
            "(output shape (N,)); leave output_indices=None."
        )
    if isinstance(output_indices, tf.Tensor):
        output_indices = output_indices.numpy()
    idx = np.asarray(output_indices)
    if not np.issubdtype(idx.dtype, np.integer):  # floats, bools, objects
        raise TypeError(
            "`output_indices` must be None, integers or 'predicted'. Received: "
            f"output_indices={output_indices!r} (dtype {idx.dtype})."
        )
    k = len(output_shape)
    if k == 1:
        if idx.ndim == 0:
            idx = np.full((n_inputs, 1), int(idx))
        elif idx.shape == (n_inputs,):
            idx = idx.reshape(n_inputs, 1)
        elif idx.shape == (1,):
            idx = np.full((n_inputs, 1), int(idx[0]))
        else:
            raise ValueError(
                f"`output_indices` must be an int or one int per input (shape "
                f"({n_inputs},)) for outputs of shape (N, {output_shape[0]}); got "
                f"shape {idx.shape}."
            )
    else:
        if idx.shape == (k,):
            idx = np.tile(idx, (n_inputs, 1))
        elif idx.shape == (n_inputs, k):
            pass
        else:
            raise ValueError(
                f"The model outputs shape (N, {', '.join(map(str, output_shape))}); "
                f"`output_indices` must be an index tuple of length {k} such as "
                f"(time, class), or one per input (shape ({n_inputs}, {k})); got "
                f"{'an int' if idx.ndim == 0 else 'shape ' + str(idx.shape)}."
            )
    for axis, size in enumerate(output_shape):
        col = idx[:, axis]
        if np.any(col < 0) or np.any(col >= size):
            bad = col[(col < 0) | (col >= size)][0]
            raise ValueError(
                f"`output_indices` value {int(bad)} is out of range for output axis "
                f"{axis + 1} of size {size} (model output shape (N, "
                f"{', '.join(map(str, output_shape))}))."
            )
    flat = np.ravel_multi_index(tuple(idx.T), output_shape).astype(np.int32)
    return flat[None, :], ()


def select_output(outputs: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Pick ``outputs[row, target[row]]`` from outputs flattened per row.

    Args:
        outputs: ``(rows, *output_shape)``.
        target: int32 ``(rows,)`` flat indices.

    Returns:
        ``(rows,)``.
    """
    rows = tf.shape(outputs)[0]
    flat = tf.reshape(outputs, tf.stack([rows, -1]))
    return tf.gather(flat, target, axis=1, batch_dims=1)
