"""Sufficient input subsets (SIS, Carter et al., 2019), batched for sequence models.

A SIS of an input x is a small set of positions whose values alone (every other
position replaced by its "fully masked" value) keep f(x) >= threshold. Backward
selection masks, one at a time, the position whose removal keeps f highest (ties: the
lowest index first); the SIS is read back from the end of that order. A SIS
collection repeats this on what is left, so its SIS are disjoint.

Masks are True where the value is present. A mask may be broadcastable over the
input, to mask several values at once; for a sequence ``(T, F)``:

- cells ``(T, F)``: every value on its own (``make_empty_boolean_mask((T, F))``);
- whole time steps ``(T, 1)``: ``make_empty_boolean_mask_broadcast_over_axis((T, F), 1)``;
- whole features ``(1, F)``: ``make_empty_boolean_mask_broadcast_over_axis((T, F), 0)``.

The reference-compatible functions (``sis_collection``, ``find_sis`` ...) take any
``f`` mapping a numpy batch to scores ``(B,)``. ``SISExplainer`` runs the same
procedure on a Keras model with one compiled function, and advances the backward
selections of many inputs together so that one model call serves all of them. Both
share one engine, so they give the same SIS.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._structure import sequence_input
from tf_tsexplain._targets import PREDICTED, select_output
from tf_tsexplain._validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_positive_int,
    check_real,
)


# ---------------------------------------------------------------------- results
class _SISFields(NamedTuple):
    sis: np.ndarray
    ordering_over_entire_backselect: np.ndarray
    values_over_entire_backselect: np.ndarray
    mask: np.ndarray


class SISResult(_SISFields):
    """One SIS, with the backward selection it was read from.

    Fields:
        sis: ``(k, mask.ndim)`` indices into the mask of the SIS positions, the
            position masked last during backward selection first.
        ordering_over_entire_backselect: ``(m, mask.ndim)`` positions in the order
            they were masked (m = positions still available when this SIS was sought).
        values_over_entire_backselect: ``(m,)`` value of f after masking each of them.
        mask: boolean mask (shape of the mask), True exactly on the SIS.

    Built by position or by keyword with these names, as the SIS reference's
    ``SISResult``. ``len(result)`` is the SIS size; ``==`` compares every field exactly;
    ``approx_equal`` allows float tolerance on the values.
    """

    def __new__(
        cls,
        sis,
        ordering_over_entire_backselect,
        values_over_entire_backselect,
        mask,
        initial_value=None,
    ):
        # the reference's field names as keywords: code written for it builds results so
        self = super().__new__(
            cls, sis, ordering_over_entire_backselect, values_over_entire_backselect, mask
        )
        self._initial_value = initial_value  # f of the input the selection started from
        return self

    def __len__(self) -> int:
        return len(self.sis)

    def __eq__(self, other) -> bool:
        if not isinstance(other, SISResult):
            return NotImplemented
        return all(np.array_equal(a, b) for a, b in zip(self[:4], other[:4], strict=True))

    def __ne__(self, other) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    def approx_equal(self, other: SISResult, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        """Positions compared exactly, values with ``np.allclose(rtol, atol)``."""
        return (
            np.array_equal(self.sis, other.sis)
            and np.array_equal(self.mask, other.mask)
            and np.array_equal(
                self.ordering_over_entire_backselect, other.ordering_over_entire_backselect
            )
            and np.allclose(
                self.values_over_entire_backselect,
                other.values_over_entire_backselect,
                rtol=rtol,
                atol=atol,
            )
        )

    def for_threshold(self, threshold: float) -> SISResult | None:
        """The SIS this same backward selection gives for another threshold.

        No model call: backward selection does not depend on the threshold, only the
        read-back does. Returns None if f of the starting input is below
        ``threshold``. (For a whole collection, later SIS depend on earlier ones, so
        only the first SIS of a collection transfers exactly.)
        """
        threshold = check_real(threshold, "threshold")
        if self._initial_value is None:
            raise ValueError("This SISResult does not carry f of its starting input.")
        cut = _read_back(self.values_over_entire_backselect, threshold, self._initial_value, None)
        if cut is None:
            return None
        return _make_result(
            self.ordering_over_entire_backselect,
            self.values_over_entire_backselect,
            cut,
            self.mask.shape,
            self._initial_value,
        )


# ---------------------------------------------------------------------- masks
def make_empty_boolean_mask(shape) -> np.ndarray:
    """All-True (nothing masked) boolean mask of ``shape``."""
    return np.ones(shape, dtype=bool)


def make_empty_boolean_mask_broadcast_over_axis(shape, axis) -> np.ndarray:
    """All-True mask of ``shape`` with size 1 along ``axis`` (an int or a tuple).

    For an input ``(T, F)``: ``axis=0`` gives ``(1, F)`` (mask whole features),
    ``axis=1`` gives ``(T, 1)`` (mask whole time steps).
    """
    shape = list(shape)
    for a in np.atleast_1d(axis):
        shape[int(a)] = 1
    return np.ones(shape, dtype=bool)


def produce_masked_inputs(input_to_mask, fully_masked_input, batch_of_masks) -> np.ndarray:
    """``where(mask, input, fully_masked)`` for each mask of a batch ``(B, *M)``.

    Returns:
        ``(B, *D)`` masked inputs, in the order of the masks.

    Raises:
        TypeError: if the masks do not have one more axis than the input.
    """
    x = np.asarray(input_to_mask)
    masks = np.asarray(batch_of_masks)
    if masks.ndim != x.ndim + 1:
        raise TypeError(
            f"`batch_of_masks` must have one more axis than the input: input shape "
            f"{x.shape}, masks shape {masks.shape}."
        )
    return np.where(masks, x[None], np.asarray(fully_masked_input)[None])


# ---------------------------------------------------------------------- checks
def _check_mask(mask, input_shape, name="mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"`{name}` must be boolean, got dtype {mask.dtype}.")
    if mask.ndim != len(input_shape) or any(
        m not in (1, d) for m, d in zip(mask.shape, input_shape, strict=True)
    ):
        raise ValueError(
            f"`{name}` of shape {mask.shape} is not broadcastable over the input of shape "
            f"{tuple(input_shape)} (same rank, each axis of size 1 or the input's size)."
        )
    return mask


def _check_scores(values, rows: int) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (rows,):
        raise ValueError(
            f"`f` must return one score per input, shape ({rows},); got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("`f` returned NaN or Inf scores.")
    return values


# ---------------------------------------------------------------------- engine
def _read_back(values, threshold, initial_value, cuts) -> int | None:
    """Index i such that the SIS is ordering[i:] reversed (None: no SIS).

    With positions ordering[i:] present, f = values[i - 1] (or f of the starting
    input for i = 0). The SIS is the smallest such tail reaching the threshold; ``m``
    (no position) when f with every position masked, ``values[m - 1]``, reaches it.
    ``cuts`` (optional boolean (m,)) limits i to allowed cut points.
    """
    if initial_value < threshold:
        return None
    m = len(values)
    if values[m - 1] >= threshold:  # f with every position masked reaches tau: the empty
        return m  # set suffices (the reference's empty SIS)
    for i in range(m - 1, 0, -1):
        if (cuts is None or cuts[i]) and values[i - 1] >= threshold:
            return i
    return 0


class SISCollection(list):
    """The SIS collection of one input: a list of :class:`SISResult`, with the output
    that tells why it may be empty.

    Attributes:
        initial_value: f of the explained output on the unmasked input (None when not
            known).
        threshold: the threshold every SIS of the collection reaches (None when not
            known).
        below_threshold: True when ``initial_value < threshold``: the input has no
            sufficient subset and the list is empty.
    """

    def __init__(self, results=(), *, initial_value=None, threshold=None):
        super().__init__(results)
        self.initial_value = initial_value
        self.threshold = threshold

    @property
    def below_threshold(self) -> bool:
        if self.initial_value is None or self.threshold is None:
            return False
        return bool(self.initial_value < self.threshold)

    def __repr__(self) -> str:
        return (
            f"SISCollection({list.__repr__(self)}, initial_value={self.initial_value!r}, "
            f"threshold={self.threshold!r})"
        )


def _make_result(ordering, values, cut, mask_shape, initial_value) -> SISResult:
    sis = ordering[cut:][::-1]
    mask = np.zeros(mask_shape, dtype=bool)
    mask[tuple(sis.T)] = True
    return SISResult(sis, ordering, values, mask, initial_value)


def _collections(evaluate, threshold, masks, progress=None, max_sis=None) -> list[list[SISResult]]:
    """Exact SIS collections of several inputs, their backward selections in lockstep.

    Args:
        evaluate: ``(input_index (R,), masks (R, *M)) -> scores (R,)``.
        threshold: the SIS threshold.
        masks: ``(N, *M)`` initial masks (True = available).
        progress: optional ``Progress`` set to the inputs done after each SIS found, showing the
            inputs done and the model rows evaluated.
        max_sis: stop a collection after this many SIS (1 for ``find_sis``).

    Each round evaluates, in one call, f of the starting input of every input that
    begins a new SIS and every "one more masked" variant of every input in backward
    selection; then each input in selection masks its best position (ties: lowest
    flat index).
    """
    n = masks.shape[0]
    mask_shape = masks.shape[1:]
    m = int(np.prod(mask_shape))
    available = masks.reshape(n, m).copy()  # positions not in an earlier SIS
    selecting = np.zeros((n, m), bool)  # positions still unmasked in the selection
    in_selection = np.zeros(n, bool)
    done = ~available.any(axis=1)
    order = np.zeros((n, m), np.int64)
    values = np.zeros((n, m))
    steps = np.zeros(n, np.int64)
    initial = np.zeros(n)
    results: list[list[SISResult]] = [[] for _ in range(n)]
    rows_evaluated = 0

    while not done.all():
        starting = np.flatnonzero(~done & ~in_selection)
        rows_input, rows_position = np.nonzero(selecting & in_selection[:, None])
        row_masks = np.concatenate([available[starting], selecting[rows_input]])
        row_masks[len(starting) + np.arange(len(rows_input)), rows_position] = False
        row_inputs = np.concatenate([starting, rows_input])
        scores = evaluate(row_inputs, row_masks.reshape((-1,) + mask_shape))
        rows_evaluated += len(row_inputs)

        # inputs starting a new SIS: continue only if f(remaining input) >= threshold
        start_scores = scores[: len(starting)]
        go = start_scores >= threshold
        done[starting[~go]] = True
        begin = starting[go]
        initial[begin] = start_scores[go]
        selecting[begin] = available[begin]
        steps[begin] = 0
        in_selection[begin] = True

        # inputs in selection: mask the best position (first max = lowest index)
        if len(rows_input):
            sel_scores = scores[len(starting) :]
            ranked = np.lexsort((rows_position, -sel_scores, rows_input))
            first = np.unique(rows_input[ranked], return_index=True)[1]
            best = ranked[first]
            who, where, value = rows_input[best], rows_position[best], sel_scores[best]
            selecting[who, where] = False
            order[who, steps[who]] = where
            values[who, steps[who]] = value
            steps[who] += 1
            for i in who[~selecting[who].any(axis=1)]:  # selection finished: read back
                k = steps[i]
                ordering = np.stack(np.unravel_index(order[i, :k], mask_shape), axis=1)
                cut = _read_back(values[i, :k], threshold, initial[i], None)
                result = _make_result(ordering, values[i, :k].copy(), cut, mask_shape, initial[i])
                results[i].append(result)
                available[i] &= ~result.mask.reshape(m)
                in_selection[i] = False
                # an empty SIS (the fully masked input reaches tau) ends the collection
                done[i] = (
                    len(result) == 0
                    or not available[i].any()
                    or (max_sis is not None and len(results[i]) >= max_sis)
                )
                if progress is not None:
                    found = sum(len(r) for r in results)
                    progress.update(
                        int(done.sum()), [("SIS found", found), ("model rows", rows_evaluated)]
                    )
    return results


def _numpy_evaluator(f, inputs, fully_masked):
    """Evaluate a user ``f`` on masked copies built with ``produce_masked_inputs``."""

    def evaluate(input_index, masks):
        batch = np.where(masks, inputs[input_index], fully_masked[input_index])
        return _check_scores(f(batch), len(input_index))

    return evaluate


# ---------------------------------------------------------------------- reference API
def find_sis(f, threshold, current_input, current_mask, fully_masked_input) -> SISResult | None:
    """One SIS of ``current_input`` (backward selection, then read-back).

    Args:
        f: maps a batch ``(B, *D)`` to scores ``(B,)``.
        threshold: tau: a SIS keeps ``f >= threshold``.
        current_input: ``D``-shaped input.
        current_mask: boolean mask (shape ``M``, broadcastable over ``D``) of the
            positions available; False positions are already masked.
        fully_masked_input: ``D``-shaped input with every value masked.

    Returns:
        A ``SISResult``, or None if f of the (masked) input is below the threshold or
        every position is masked. On ties the lower index is masked first, so it
        appears later in the SIS.
    """
    x, masked, mask, threshold = _check_reference_args(
        threshold, current_input, fully_masked_input, current_mask
    )
    evaluate = _numpy_evaluator(f, x[None], masked[None])
    found = _collections(evaluate, threshold, mask[None], max_sis=1)[0]
    return found[0] if found else None


def sis_collection(
    f, threshold, initial_input, fully_masked_input, initial_mask=None
) -> list[SISResult]:
    """The SIS collection of one input: disjoint SIS, found one after another.

    Args:
        f: maps a batch ``(B, *D)`` to scores ``(B,)``.
        threshold: tau.
        initial_input: ``D``-shaped input.
        fully_masked_input: ``D``-shaped input with every value masked.
        initial_mask: optional boolean mask ``M`` broadcastable over ``D`` (default:
            one position per value).

    Returns:
        List of ``SISResult`` in the order found; empty if ``f(initial_input) <
        threshold``.
    """
    x, masked, mask, threshold = _check_reference_args(
        threshold, initial_input, fully_masked_input, initial_mask
    )
    return _collections(_numpy_evaluator(f, x[None], masked[None]), threshold, mask[None])[0]


def _check_reference_args(threshold, x, masked, mask):
    threshold = check_real(threshold, "threshold")
    x = np.asarray(x)
    masked = np.asarray(masked)
    if x.shape != masked.shape:
        raise ValueError(
            f"The input {x.shape} and `fully_masked_input` {masked.shape} must have the same shape."
        )
    mask = make_empty_boolean_mask(x.shape) if mask is None else _check_mask(mask, x.shape)
    return x, masked, mask, threshold


# ---------------------------------------------------------------------- Keras front
_MASK_OVER = ("cells", "time", "features")


class SISExplainer(Explainer):
    """SIS collections for a Keras sequence model, batched across inputs.

    ``f`` is the model's output for the explained class: by default
    (``output_indices="predicted"``) the class the model predicts for each (unmasked)
    input, so for a classifier with softmax outputs, f is the predicted class
    probability and a SIS is a set of positions that alone keep that probability at
    or above ``threshold``.

    Args:
        model: Keras model or callable on float batches ``(rows, T, F)``.
        threshold: tau.
        fully_masked_input: the value of a masked position: a scalar, a ``(T, F)``
            array (e.g. the training mean) or one per input ``(N, T, F)``. Check that
            the model is uninformative on it.
        mask_over: "cells" (each value), "time" (whole time steps) or "features"
            (whole features).
        approximate: gradient-guided backward selection masking ``k`` positions per
            step (see :meth:`explain`). Approximate: each SIS is still sufficient
            (its f is measured), but may be up to ``k - 1`` positions larger than
            the exact one, and may differ from it.
        k: positions masked per step in approximate mode.
        jit_compile: score masked copies without XLA (False, default: the scores of
            the plain compiled model, so the SIS are those of the reference), through
            an XLA-compiled function (True), or "auto": XLA for jobs of at least
            150,000 model rows (e.g. 2 inputs of 500 cells), falling back to a plain
            tf.function if the model has an op XLA cannot compile. On 2 CPU cores XLA
            runs an LSTM's forward pass about 3x faster; rows are padded to a few
            power-of-two sizes so that it compiles only a few shapes (about 0.4 s
            each for an LSTM over 50 steps). Its scores differ from the plain
            function's by float rounding (about 1e-7), which can change the choice
            between near-tied positions: valid SIS, not always the reference's.
        allow_nonfinite, memory_budget: as :class:`tf_tsexplain.Explainer`.
    """

    derivative_order = 0

    def __init__(
        self,
        model,
        threshold: float = 0.5,
        fully_masked_input=0.0,
        mask_over: str = "cells",
        approximate: bool = False,
        k: int = 8,
        *,
        jit_compile: bool | str = False,
        allow_nonfinite: bool = False,
        memory_budget: int | None = None,
    ):
        self.threshold = check_real(threshold, "threshold")
        if isinstance(jit_compile, str):
            check_choice(jit_compile, "jit_compile", ("auto",))
        else:
            check_bool(jit_compile, "jit_compile")
        self.jit_compile = jit_compile
        self.mask_over = check_choice(mask_over, "mask_over", _MASK_OVER)
        self.approximate = check_bool(approximate, "approximate")
        self.k = check_positive_int(k, "k")
        super().__init__(model, allow_nonfinite=allow_nonfinite, memory_budget=memory_budget)
        self.fully_masked_input = fully_masked_input
        self.derivative_order = 1 if self.approximate else 0
        self._xla_failed = False  # set when "auto" found an op XLA cannot compile

    def explain(
        self,
        inputs,
        *,
        max_sis: int | None = None,
        output_indices=PREDICTED,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
        input_name: str | int | None = None,
    ) -> list[SISCollection]:
        """SIS collections of every input.

        When the fully masked input alone already reaches the threshold for an input,
        nothing is needed to keep the prediction: its collection is one SIS with no
        positions (as the reference implementation returns, with ``mask`` all False
        where the reference's is accidentally all True), and a ``UserWarning`` names
        those inputs (use a less informative ``fully_masked_input`` or a higher
        threshold).

        Args:
            inputs: ``(N, T, F)`` floats; for a multi-input model, a list or dict of
                arrays in the model's input structure (e.g. a sequence ``(N, T, F)``
                and static covariates ``(N, S)``): SIS are then sets of positions of
                one sequence input (``input_name``), the other inputs held at their
                values in every masked copy.
            max_sis: stop each collection after this many SIS (None: the whole
                collection; saturated models can have one SIS per cell).
            padding_mask: ``(N, T)`` booleans, True on real steps (default: from
                the model's ``Masking`` layer): padded cells keep their values in
                every masked copy and are never part of a SIS.
            output_indices: the explained output (see
                :class:`tf_tsexplain.Explainer`): ``"predicted"`` (default), an int,
                one per input, or ``(time, class)`` tuples for sequence outputs.
                None explains a single-output model; SIS needs one scalar per
                input, so None on a model with several outputs is an error.
            batch_size: most rows (masked copies) per model call; None picks it
                from the memory budget.
            seed: unused (the procedure is deterministic); accepted for the contract.
            verbose: progress bar over model rows.
            input_name: for a multi-input model, the sequence input whose positions
                are masked (its name or index); None: the only sequence input.

        Returns:
            N :class:`SISCollection` (lists of ``SISResult``; empty where f(input) <
            threshold, with ``below_threshold`` True and a ``UserWarning`` naming those
            inputs and their outputs; ``initial_value`` holds f(input)). Indices in
            the results refer to the mask: ``(t, f)`` for cells, ``(t, 0)`` for time
            steps, ``(0, f)`` for features.

        Cost (exact): about ``d (d + 1) / 2`` model rows per SIS for ``d`` maskable
        positions, sent in batches of ``batch_size`` rows pooled across inputs. In
        approximate mode: about ``d / k`` gradient evaluations per SIS.
        """
        batch_size, _, verbose = self._check_common(batch_size, seed, verbose)
        rows, frozen_rows = self._rows(inputs, padding_mask, min_rank=3)
        segment = None  # (start, stop) of the explained input in flat multi-input rows
        if self._structure is not None:
            k = sequence_input(self._structure, input_name)
            segment = tuple(int(o) for o in self._structure.offsets[k : k + 2])
            seq_shape = (len(rows),) + self._structure.shapes[k]
            x = rows[:, segment[0] : segment[1]].reshape(seq_shape)
            frozen = None
            if frozen_rows is not None:
                frozen = frozen_rows[:, segment[0] : segment[1]].reshape(seq_shape)
        else:
            if input_name is not None:
                raise ValueError(
                    "`input_name` chooses an input of a multi-input model; these inputs "
                    f"are one array. Received: input_name={input_name!r}."
                )
            x, frozen = rows, frozen_rows
        if x.ndim != 3:
            raise ValueError(f"`inputs` must be (N, T, F), got shape {x.shape}.")
        n, t, f = x.shape
        masked = as_float_array(self.fully_masked_input, "fully_masked_input", min_rank=0)
        masked = masked.astype(x.dtype)
        if masked.shape not in ((), (t, f), (n, t, f)):
            raise ValueError(
                f"`fully_masked_input` must be a scalar, (T, F) = {(t, f)} or (N, T, F) = "
                f"{x.shape}; got shape {masked.shape}."
            )
        masked = np.ascontiguousarray(np.broadcast_to(masked, x.shape))
        mask_shape = {"cells": (t, f), "time": (t, 1), "features": (1, f)}[self.mask_over]
        if frozen is not None:  # padding: masking never changes it, SIS never select it
            masked = np.where(frozen, x, masked)
        targets, leading = self._targets(rows, output_indices, batch_size)
        if leading:
            raise ValueError(
                f"SIS explains one output per input; the model has outputs of shape "
                f"{leading}. Pass output_indices (an int, one per input, a (time, class) "
                "tuple or 'predicted'). Received: output_indices=None."
            )
        targets = targets[0]
        if max_sis is not None:
            max_sis = check_positive_int(max_sis, "max_sis")
        scorer = _Scorer(
            self,
            _Rows(x, masked, rows, segment),
            targets,
            mask_shape,
            self._rows_per_call(rows, batch_size),
        )
        # counts inputs whose collection is complete (a known total), with the SIS
        # found and the model rows so far
        progress = Progress(n, verbose, unit="inputs", shown=("SIS found", "model rows"))
        masks = np.ones((n,) + mask_shape, bool)
        if frozen is not None and self.mask_over != "features":
            masks &= ~frozen[:, :, :1] if self.mask_over == "time" else ~frozen
        initial = self._check_ends(scorer, n, mask_shape)
        if not self.approximate:
            collections = _collections(scorer.values, self.threshold, masks, progress, max_sis)
        else:
            collections = _approximate_collections(
                scorer.values_and_gradients,
                self.threshold,
                masks,
                x,
                masked,
                self.k,
                progress,
                max_sis,
            )
        progress.finish()
        return [
            SISCollection(c, initial_value=float(v), threshold=self.threshold)
            for c, v in zip(collections, initial, strict=True)
        ]

    def _check_ends(self, scorer, n, mask_shape) -> np.ndarray:
        """f of every unmasked input ``(N,)`` (one model call with the fully masked
        ones); a warning names the inputs below the threshold (no SIS) and one the
        inputs whose fully masked input already reaches it (one empty SIS)."""
        index = np.concatenate([np.arange(n), np.arange(n)])
        ends = np.concatenate([np.ones((n,) + mask_shape, bool), np.zeros((n,) + mask_shape, bool)])
        both = scorer.values(index, ends)
        initial, values = both[:n], both[n:]
        below = np.flatnonzero(initial < self.threshold)
        if len(below):
            shown = ", ".join(f"{i} (f = {initial[i]:.4g})" for i in below[:10])
            warnings.warn(
                f"{len(below)} of {n} input(s) have an output below the threshold "
                f"{self.threshold:g}, so they have no sufficient input subset and their "
                f"collections are empty: {shown}{' ...' if len(below) > 10 else ''}. Their "
                "`SISCollection.below_threshold` is True; lower `threshold` or explain "
                "another output to get SIS for them.",
                UserWarning,
                stacklevel=3,
            )
        concerned = np.flatnonzero(values >= self.threshold)
        if len(concerned):
            shown = ", ".join(map(str, concerned[:20])) + (" ..." if len(concerned) > 20 else "")
            warnings.warn(
                f"The fully masked input alone reaches the threshold {self.threshold:g} for "
                f"{len(concerned)} of {n} input(s) (indices {shown}): nothing is needed to keep "
                "their prediction, so their collections hold one empty SIS. Use a less "
                "informative `fully_masked_input` (e.g. the training mean) or a higher "
                "`threshold`.",
                UserWarning,
                stacklevel=3,
            )
        return initial

    def _compiled_fn(self, rows: _Rows, mask_shape, with_gradients: bool, xla: bool):
        """One tf.function per input and mask shape: masked copies -> scores (and, for
        the approximate mode, their gradients w.r.t. the masked copies); XLA-compiled
        when ``xla`` (then one compilation per padded shape, see ``_Scorer``).

        It takes the model's rows (flat ``(N, D)`` for a multi-input model) and the
        masked rows; a row mask covers the explained sequence input, every other
        position of the row is kept."""
        seq_shape = rows.x.shape[1:]
        row_shape = rows.rows.shape[1:]
        key = ("sis", row_shape, seq_shape, rows.segment, mask_shape, rows.x.dtype.name)
        key += (with_gradients, xla)

        def build():
            model_fn = self._model_fn
            dtype = tf.as_dtype(rows.x.dtype)
            signature = [
                tf.TensorSpec((None,) + row_shape, dtype),
                tf.TensorSpec((None,) + row_shape, dtype),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,) + mask_shape, tf.bool),
            ]
            segment = rows.segment
            cells = int(np.prod(seq_shape))

            @tf.function(input_signature=signature, jit_compile=xla)
            def scores(x_all, masked_all, target_all, input_index, row_masks):
                count = tf.shape(input_index)[0]
                keep = tf.broadcast_to(row_masks, tf.concat([[count], seq_shape], 0))
                if segment is not None:  # the other inputs' positions are always kept
                    keep = tf.reshape(keep, (count, cells))
                    after = row_shape[0] - segment[1]
                    keep = tf.pad(keep, [[0, 0], [segment[0], after]], constant_values=True)
                batch = tf.where(
                    keep, tf.gather(x_all, input_index), tf.gather(masked_all, input_index)
                )
                with tf.GradientTape() as tape:
                    tape.watch(batch)
                    out = tf.cast(model_fn(batch), batch.dtype)
                    values = select_output(out, tf.gather(target_all, input_index))
                if not with_gradients:  # Python bool: decided at trace time
                    return values
                grads = tape.gradient(values, batch)
                if segment is not None:
                    grads = tf.reshape(
                        grads[:, segment[0] : segment[1]], tf.concat([[count], seq_shape], 0)
                    )
                return values, grads

            return scores

        return self._function(key, build)


class _Rows(NamedTuple):
    """What SIS masks: the explained sequences ``x`` and their fully masked version
    ``masked`` (``(N, T, F)``), and the model's rows: ``x`` itself, or for a
    multi-input model the flat rows ``(N, D)`` with ``x`` at ``segment``."""

    x: np.ndarray
    masked: np.ndarray
    rows: np.ndarray
    segment: tuple[int, int] | None

    def masked_rows(self) -> np.ndarray:
        """The model's rows with the explained input fully masked."""
        if self.segment is None:
            return self.masked
        out = self.rows.copy()
        out[:, self.segment[0] : self.segment[1]] = self.masked.reshape(len(self.masked), -1)
        return out


class _Scorer:
    """Scores of masked copies ``(input index, mask)`` through the compiled function.

    Rows go ``rows_per_call`` at a time. With XLA, every call has a padded shape: the
    inputs are padded to a power of two and each chunk of rows to the next power of
    two (at least 32, at most the largest power of two <= ``rows_per_call``), so that
    XLA compiles a few shapes instead of one per round of backward selection.
    """

    MIN_ROWS = 32
    # "auto" compiles with XLA only for jobs of at least this many model rows: each
    # padded shape costs ~0.4 s to compile (8-10 shapes), recovered at ~30k rows/s.
    XLA_MIN_ROWS = 150_000

    def __init__(self, explainer, rows: _Rows, targets, mask_shape, rows_per_call):
        self.explainer = explainer
        self.data = rows
        self.x, self.masked, self.targets = rows.x, rows.masked, targets
        self.mask_shape = mask_shape
        d = int(np.prod(mask_shape))
        # rows of every input's first backward selection (exact), or of its steps
        expected = len(self.x) * (
            d // explainer.k + 1 if explainer.approximate else d * (d + 1) // 2
        )
        jit = explainer.jit_compile
        self.xla = jit is True or (
            jit == "auto" and not explainer._xla_failed and expected >= self.XLA_MIN_ROWS
        )
        self.rows = rows_per_call
        self._build()

    def _build(self):
        rows, n = self.data.rows, len(self.x)
        size = _next_power_of_two(n) if self.xla else n
        pad = ((0, size - n),) + ((0, 0),) * (rows.ndim - 1)
        self.x_all = tf.constant(np.pad(rows, pad))
        self.masked_all = tf.constant(np.pad(self.data.masked_rows(), pad))
        self.target_all = tf.constant(np.pad(self.targets, (0, size - n)))
        self.chunk = (
            max(self.MIN_ROWS, 1 << (self.rows.bit_length() - 1)) if self.xla else self.rows
        )
        self.fn = self.explainer._compiled_fn(
            self.data, self.mask_shape, with_gradients=self.explainer.approximate, xla=self.xla
        )

    def _call(self, index, masks):
        """``fn`` on one chunk, padded to its bucket with XLA; outputs cut back."""
        r = len(index)
        if self.xla:
            size = min(max(self.MIN_ROWS, _next_power_of_two(r)), self.chunk)
            index = np.pad(index, (0, size - r))
            masks = np.pad(
                masks, ((0, size - r),) + ((0, 0),) * (masks.ndim - 1), constant_values=True
            )
        try:
            out = self.fn(self.x_all, self.masked_all, self.target_all, index, masks)
        except (tf.errors.OpError, NotImplementedError):
            if not self.xla or self.explainer.jit_compile != "auto":
                raise
            # "auto": the model has an op XLA cannot compile; run without XLA from now
            self.explainer._xla_failed = True
            self.xla = False
            self._build()
            return self._call(index[:r], masks[:r])
        if isinstance(out, tuple):
            return out[0].numpy()[:r], out[1].numpy()[:r]
        return out.numpy()[:r]

    def values(self, input_index, row_masks) -> np.ndarray:
        """Scores ``(R,)`` of the rows, ``chunk`` rows per call."""
        index = input_index.astype(np.int32)
        out = np.empty(len(index), self.x.dtype)
        for start, stop in chunks(len(index), self.chunk):
            result = self._call(index[start:stop], row_masks[start:stop])
            out[start:stop] = result[0] if isinstance(result, tuple) else result
        return _check_scores(out, len(index))

    def values_and_gradients(self, input_index, row_masks):
        """Scores ``(R,)`` and their gradients ``(R, T, F)`` (approximate mode)."""
        index = input_index.astype(np.int32)
        values = np.empty(len(index), self.x.dtype)
        grads = np.empty((len(index),) + self.x.shape[1:], self.x.dtype)
        for start, stop in chunks(len(index), self.chunk):
            values[start:stop], grads[start:stop] = self._call(
                index[start:stop], row_masks[start:stop]
            )
        return _check_scores(values, len(index)), grads


def _next_power_of_two(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _approximate_collections(
    evaluate, threshold, masks, x, masked, k, progress=None, max_sis=None
) -> list[list[SISResult]]:
    """Gradient-guided SIS collections: mask the ``k`` positions per step whose removal
    a first-order estimate says lowers f least, then measure f.

    The estimated change of masking a position is ``sum over its cells of
    grad * (masked - x)``. f is measured after every step, and the read-back only cuts
    between steps, then refined inside the last step (``_refine_cut``), so every SIS
    returned is sufficient (measured f >= threshold). The inputs' selections advance
    in lockstep: each round is one model call with one row per active input.
    """
    n = masks.shape[0]
    mask_shape = masks.shape[1:]
    m = int(np.prod(mask_shape))
    delta = masked - x  # (N, T, F)
    results: list[list[SISResult]] = [[] for _ in range(n)]
    available = masks.reshape(n, m).copy()
    current = available.copy()  # positions present in each input's current row
    selecting = np.zeros(n, bool)
    done = ~available.any(axis=1)
    start_value = np.zeros(n)
    order = [[] for _ in range(n)]
    values = [[] for _ in range(n)]
    cuts = [[] for _ in range(n)]
    last_step = np.zeros(n, np.int64)  # positions masked by the input's last step
    rows_evaluated = 0
    while not done.all():
        active = np.flatnonzero(~done)
        value, grad = evaluate(active, current[active].reshape((-1,) + mask_shape))
        rows_evaluated += len(active)
        # estimated change per position of every active input, one vectorised pass
        change = _sum_to_mask(grad * delta[active], (-1,) + mask_shape).reshape(len(active), m)
        change = np.where(current[active], change, -np.inf)
        ranked_all = np.argsort(-change, axis=1, kind="stable")[:, :k]
        for j, i in enumerate(active):
            if selecting[i]:
                values[i].extend([value[j]] * last_step[i])
            elif value[j] < threshold:  # what is left no longer reaches tau
                done[i] = True
                continue
            else:
                start_value[i], selecting[i] = value[j], True
                order[i], values[i], cuts[i] = [], [], []
            if current[i].any():
                ranked = ranked_all[j][: min(k, int(current[i].sum()))]
                current[i, ranked] = False
                cuts[i].extend([True] + [False] * (len(ranked) - 1))
                order[i].extend(ranked)
                last_step[i] = len(ranked)
                continue
            # selection finished: read back, refine inside the last step
            vals, ords, cut_points = np.array(values[i]), np.array(order[i]), np.array(cuts[i])
            cut = _read_back(vals, threshold, start_value[i], cut_points)
            cut = _refine_cut(evaluate, i, ords, cut_points, cut, threshold, mask_shape)
            ordering = np.stack(np.unravel_index(ords, mask_shape), axis=1)
            result = _make_result(ordering, vals, cut, mask_shape, start_value[i])
            results[i].append(result)
            available[i] &= ~result.mask.reshape(m)
            current[i] = available[i]
            selecting[i] = False
            done[i] = (
                len(result) == 0
                or not available[i].any()
                or (max_sis is not None and len(results[i]) >= max_sis)
            )
            if progress is not None:
                found = sum(len(r) for r in results)
                progress.update(
                    int(done.sum()), [("SIS found", found), ("model rows", rows_evaluated)]
                )
    return results


def _refine_cut(evaluate, i, order, cuts, cut, threshold, mask_shape) -> int:
    """Shrink a SIS cut at a step boundary inside its step: measure f with the first
    1, 2, ... positions of that step masked too (one batched call, at most k - 1
    rows) and keep the smallest tail that still reaches the threshold."""
    later = np.flatnonzero(cuts[cut + 1 :])
    end = cut + 1 + later[0] if len(later) else len(order)
    candidates = np.arange(cut + 1, end)
    if not len(candidates):
        return cut
    m = int(np.prod(mask_shape))
    rows = np.zeros((len(candidates), m), bool)
    for row, start in enumerate(candidates):
        rows[row, order[start:]] = True
    scores, _ = evaluate(np.full(len(candidates), i), rows.reshape((-1,) + mask_shape))
    sufficient = candidates[scores >= threshold]
    return int(sufficient.max()) if len(sufficient) else cut


def _sum_to_mask(cells: np.ndarray, mask_shape) -> np.ndarray:
    """Sum ``(..., T, F)`` values over the axes a broadcast mask covers (``mask_shape``
    may start with -1 for a leading batch axis)."""
    axes = tuple(a for a, size in enumerate(mask_shape) if size == 1 and cells.shape[a] != 1)
    return cells.sum(axis=axes, keepdims=True) if axes else cells
