"""The series a mask covers and the model as a function of them, for one array or several inputs.

``Mask``, ``MaskGroup`` and ``ExtremalMask`` fit masks over one sequence input
``(N, T, F)``. A multi-input model (a list, tuple or dict of arrays, e.g. a sequence
and static covariates ``(N, S)``) has its other inputs held at each series' values.
:func:`explained_inputs` parses ``X`` once for every mask class (checks, the chosen
sequence input, padding; ``ContraLSP`` too, which takes one array) and
:meth:`ExplainedInputs.model_call` gives the function the fit loops call:
``call(batch, held)``, where ``batch`` holds ``r * B`` perturbed rows of a chunk of
``B`` series (row ``i`` a copy of the chunk's series ``i % B``) and ``held`` the other
inputs of those ``B`` series (:meth:`ExplainedInputs.held_rows`).
The held inputs are arguments, not constants, so one compiled loop serves every chunk
and every fit of the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._model import as_model_fn
from tf_tsexplain._structure import (
    InputStructure,
    is_structured,
    keras_padding,
    sequence_input,
    structure_of,
)
from tf_tsexplain._validation import as_float_array, check_choice, check_padding_mask
from tf_tsexplain.masks._series import F_INPUTS, batch_function


def check_series(X) -> tuple[np.ndarray, bool]:
    """``X`` as a float32 batch ``(N, T, F)`` and whether it was one series ``(T, F)``.

    Raises:
        TypeError, ValueError: ``X`` is not a float array of rank 2 or 3 (or not finite).
    """
    x = as_float_array(X, "X", min_rank=1, dtype=np.float32)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"`X` must be one series (T, F) or a batch of series (N, T, F), got shape {x.shape}."
        )
    single = x.ndim == 2
    return (x[None] if single else x), single


@dataclass(frozen=True)
class ExplainedInputs:
    """``X`` parsed for a mask fit.

    Attributes:
        x: ``(N, T, F)`` float32, the sequence input the masks cover.
        single: ``X`` was one series ``(T, F)`` (results drop the N axis).
        real: ``(N, T)`` booleans, True on real steps, or None when every step is real.
        held: the other inputs of a multi-input model, each ``(N, ...)`` float32, in
            the model's input order without the explained one; empty for one array.
        structure: the inputs' structure (None for one array).
        index: the position of the explained input in ``structure``.
    """

    x: np.ndarray
    single: bool
    real: np.ndarray | None
    held: tuple[np.ndarray, ...] = ()
    structure: InputStructure | None = None
    index: int = 0

    @property
    def key(self) -> tuple:
        """What a compiled loop depends on besides the explained series' shape."""
        if self.structure is None:
            return ()
        return (self.structure.kind, tuple(self.structure.names), self.index) + tuple(
            (h.shape[1:], h.dtype.str) for h in self.held
        )

    def held_rows(self, rows) -> tuple[tf.Tensor, ...]:
        """The held inputs of series ``rows`` (indices), as tensors."""
        return tuple(tf.constant(h[rows]) for h in self.held)

    def model_call(self, f, f_input: str = "auto"):
        """``(call(batch, held) -> outputs, f_input)`` for the fit loops.

        Args:
            f: the user's model (Keras model or callable).
            f_input: "auto", "batch" or "series" (see ``Mask.fit``); a multi-input
                model takes batches ("auto" or "batch").

        Raises:
            ValueError: ``f_input="series"`` with several inputs, or an ``f`` that
                neither takes batches nor one series (see ``masks._series``).
        """
        if self.structure is None:
            model_fn, f_input = batch_function(as_model_fn(f), self.x, self.single, f_input)

            def call(batch, held):
                return model_fn(batch)

            return call, f_input
        f_input = check_choice(f_input, "f_input", F_INPUTS)
        if f_input == "series":
            raise ValueError(
                "f_input='series' (a black box for one series) cannot take several inputs: "
                "with a list or dict `X`, `f` takes batches. Received: f_input='series'."
            )
        fn = as_model_fn(f)
        structure, k = self.structure, self.index
        as_list = isinstance(f, keras.Model)  # Keras takes a list in its input order

        def call(batch, held):
            repeats = tf.shape(batch)[0] // tf.shape(held[0])[0]
            tiled = [
                tf.tile(h, tf.concat([[repeats], tf.ones(h.shape.rank - 1, tf.int32)], 0))
                for h in held
            ]
            parts = tiled[:k] + [batch] + tiled[k:]
            return fn(parts if as_list else structure.pack(parts))

        return call, "batch"


def explained_inputs(X, f, input_name=None, padding_mask=None) -> ExplainedInputs:
    """Parse ``X`` (one array, or a list / tuple / dict for a multi-input ``f``).

    Args:
        X: one series ``(T, F)``, a batch ``(N, T, F)``, or the inputs of a
            multi-input model (a batch for each input, the same N rows).
        f: the model (its input names order a dict ``X``; its ``Masking`` layer, if
            any, gives the padding).
        input_name: which sequence input the masks cover (a name or an index); None:
            the only sequence input. Only for several inputs.
        padding_mask: ``(N, T)`` booleans (``(T,)`` for one series), True on real
            steps; None: from the model's ``Masking`` layer on that input, if any.

    Returns:
        An :class:`ExplainedInputs`.

    Raises:
        TypeError, ValueError: inputs of the wrong kind, shape or row count, an
            ``input_name`` that is not a sequence input of ``X`` (or given with one
            array), or a bad ``padding_mask``.
    """
    structure, k, held = None, 0, ()
    if is_structured(X, f):
        structure = structure_of(X, f)
        parts = structure.parts(X, "X", allow_nonfinite=False, dtype=np.float32, per_row=False)
        if len({len(p) for p in parts}) > 1:
            raise ValueError(
                f"The arrays of `X` must have the same number of rows; received "
                f"{[len(p) for p in parts]}."
            )
        k = sequence_input(structure, input_name)
        x, single = parts[k], False
        own = keras_padding(f, parts)[k]
        held = tuple(p for i, p in enumerate(parts) if i != k)
    else:
        if input_name is not None:
            raise ValueError(
                "`input_name` chooses an input of a multi-input model; `X` is one array. "
                f"Received: input_name={input_name!r}."
            )
        x, single = check_series(X)
        own = keras_padding(f, [x])[0]
    n, t, _ = x.shape
    if padding_mask is None:
        real = own
    else:
        mask = np.asarray(padding_mask)
        real = check_padding_mask(mask[None] if single and mask.ndim == 1 else mask, n, t)
    if real is not None and real.all():
        real = None
    return ExplainedInputs(x, single, real, held, structure, k)
