"""Saliency-benchmark metrics (TSR paper): weighted precision/recall, accuracy drop, deletion.

Every metric takes ``padding_mask``: ``(N, T)`` booleans, True on real steps. The
cells of padded steps then carry no saliency mass, are never truly salient, are never
removed or replaced, and fractions of cells count real cells only.
"""

from __future__ import annotations

import numpy as np

from tf_tsexplain._model import predict_in_chunks
from tf_tsexplain._targets import PREDICTED, resolve_output_indices
from tf_tsexplain._validation import as_float_array, check_batch_size, check_positive_int
from tf_tsexplain.metrics._numeric import minmax_rows, real_cells, trapezoid
from tf_tsexplain.metrics._perturb import (
    Scorer,
    baseline_rows,
    cell_ranks,
    cells_for_fractions,
    check_jit_compile,
    check_static_outputs,
    model_rows,
    one_target_per_input,
    top_cells,
)

TSR_MASS_LEVELS = np.round(np.arange(0.1, 0.91, 0.1), 2)
"""The benchmark's mass fractions 0.1, 0.2, ..., 0.9: the default ``levels``."""


def _tsr_rescaled(saliency: np.ndarray, rescale: bool, real=None) -> np.ndarray:
    """``|saliency|`` flattened to ``(N, D)``, min-max scaled per sample if asked.

    The benchmark's reference scales each sample's ``|saliency|`` to [0, 1] (the
    smallest cell becomes 0, the largest 1; a constant map becomes all zeros, as
    sklearn's ``minmax_scale``) before it computes masses. With ``real`` (``(N, D)``
    booleans) the scaling is over real cells and the others get 0.
    """
    s = np.abs(saliency.astype(np.float64)).reshape(len(saliency), -1)
    if rescale:
        return minmax_rows(s, real)
    return s if real is None else np.where(real, s, 0.0)


def _tsr_maps_and_truth(truth, saliency, rescale, padding_mask) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(truth)
    if g.dtype != bool:
        raise TypeError(f"`truth` must be a boolean mask, got dtype {g.dtype}.")
    s = as_float_array(saliency, "saliency", min_rank=2)
    if g.shape != s.shape:
        raise ValueError(f"`truth` has shape {g.shape}; `saliency` has shape {s.shape}.")
    real = real_cells(padding_mask, s.shape)
    g = g.reshape(len(g), -1)
    return _tsr_rescaled(s, rescale, real), g if real is None else g & real


def _tsr_levels(levels) -> np.ndarray:
    lv = TSR_MASS_LEVELS if levels is None else np.asarray(levels, float)
    if lv.ndim != 1 or len(lv) < 2 or np.any((lv <= 0) | (lv > 1)) or np.any(np.diff(lv) <= 0):
        raise ValueError(f"`levels` must be increasing values in (0, 1], at least 2; got {lv}.")
    return lv


def _tsr_mass_selection(s: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells by decreasing mass and, per level q, how many top cells are selected.

    ``s`` is ``(N, D)`` non-negative. Returns ``order`` ``(N, D)`` (ties: lower flat
    index first) and ``k`` ``(N, L)``: the smallest number of top cells holding at
    least a fraction q of the sample's mass (0 for q = 0 and for all-zero rows).
    """
    order = np.argsort(-s, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(s, order, axis=1), axis=1)
    total = cum[:, -1:]
    frac = cum / np.where(total > 0, total, 1.0)
    # smallest k with frac[k - 1] >= q (guarding float round-off at q = 1)
    below = (frac[:, None, :] < (levels - 1e-12)[None, :, None]).sum(axis=2)  # (N, L)
    k = np.minimum(below + 1, s.shape[1])
    k = np.where((levels[None, :] <= 0) | (total <= 0), 0, k)
    return order, k


def weighted_precision_recall(
    truth, saliency, levels=None, rescale: bool = True, padding_mask=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Saliency-weighted precision and recall of the top cells, per sample and level.

    Each sample's map ``s = |saliency|`` is first min-max scaled to [0, 1]
    (``rescale=True``, as the benchmark's reference does: the smallest cell then
    weighs 0 and a constant map is all zeros). Cells are ranked by ``s`` (ties: lower
    flat index first) and the smallest top set holding at least a fraction ``q`` of
    the total mass ``sum(s)`` is selected (``q`` in ``levels``, default 0.1, 0.2,
    ..., 0.9). With masses taken from ``s``, as in the reference:

    - precision = TP / (TP + FP): mass of the selected true cells / mass of all
      selected cells (how much of what the map highlights is real signal);
    - recall = TP / (TP + FN): mass of the selected true cells / mass of all true
      cells, FN being the mass of the true cells not selected (how much of the
      signal's saliency the selection captures).

    A sample with an all-zero (or, rescaled, constant) map gets precision and recall
    0; one whose true cells have no mass gets recall 0. Samples are not averaged here
    (the reference averages over samples with a non-zero denominator;
    :func:`tsr_aup_aur` averages over all samples).

    Args:
        truth: boolean ``(N, ...)`` ground truth.
        saliency: ``(N, ...)`` maps (signs are ignored).
        levels: increasing mass fractions in (0, 1].
        rescale: min-max scale each sample's ``|saliency|`` first (the reference's
            choice); False uses ``|saliency|`` as is.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are
            left out (no mass, never true).

    Returns:
        ``(levels, precision, recall)``: the ``L`` levels ``(L,)``, and precision and
        recall per sample and level, ``(N, L)`` each.

    Raises:
        TypeError: a ``truth`` that is not boolean.
        ValueError: ``saliency`` not of ``truth``'s shape, NaN/Inf in it, or levels
            that are not increasing fractions in (0, 1].
    """
    s, g = _tsr_maps_and_truth(truth, saliency, rescale, padding_mask)
    lv = _tsr_levels(levels)
    order, k = _tsr_mass_selection(s, lv)
    sorted_s = np.take_along_axis(s, order, axis=1)
    sorted_true = np.take_along_axis(g, order, axis=1)
    # prefix sums with a leading 0 so that k = 0 reads 0
    zero = np.zeros((len(s), 1))
    mass = np.concatenate([zero, np.cumsum(sorted_s, axis=1)], axis=1)
    hits = np.concatenate([zero, np.cumsum(sorted_s * sorted_true, axis=1)], axis=1)
    selected = np.take_along_axis(mass, k, axis=1)
    tp = np.take_along_axis(hits, k, axis=1)
    true_mass = hits[:, -1:]
    precision = tp / np.where(selected > 0, selected, 1.0)
    recall = tp / np.where(true_mass > 0, true_mass, 1.0)
    return lv, precision, recall


def tsr_aup_aur(
    truth, saliency, levels=None, rescale: bool = True, padding_mask=None
) -> tuple[float, float]:
    """Areas under the weighted precision and recall curves (AUP, AUR).

    The curves of :func:`weighted_precision_recall` (same ``levels``, ``rescale`` and
    ``padding_mask``) are integrated over the mass levels with the trapezoidal rule,
    divided by the levels' span (so that a constant curve c has area c), and
    averaged over samples.

    Args:
        truth: boolean ``(N, ...)`` ground truth, e.g. ``(N, T, F)``.
        saliency: ``(N, ...)`` maps of the same shape (signs are ignored).
        levels: increasing mass fractions in (0, 1] (default
            :data:`TSR_MASS_LEVELS`, 0.1 to 0.9); at least two.
        rescale: min-max scale each sample's ``|saliency|`` first (the reference's
            choice).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are
            left out.

    Returns:
        ``(aup, aur)``, each in [0, 1].

    Raises:
        ValueError: as :func:`weighted_precision_recall`.
    """
    lv, precision, recall = weighted_precision_recall(
        truth, saliency, levels, rescale, padding_mask
    )
    span = lv[-1] - lv[0]
    aup = trapezoid(precision, lv) / span
    aur = trapezoid(recall, lv) / span
    return float(aup.mean()), float(aur.mean())


def _tsr_top_mass_cells(saliency: np.ndarray, levels: np.ndarray, rescale: bool, real=None):
    """Per level q, a boolean ``(N, D)`` mask of the top cells holding mass q, the
    sets :func:`weighted_precision_recall` selects (real cells only)."""
    s = _tsr_rescaled(saliency, rescale, real)
    order, k = _tsr_mass_selection(s, levels)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(s.shape[1])[None], axis=1)
    masks = [rank < k[:, j : j + 1] for j in range(len(levels))]
    return masks if real is None else [m & real for m in masks]


def tsr_accuracy_drop(
    model,
    inputs,
    labels,
    saliency,
    replacement,
    fractions=None,
    batch_size: int = 256,
    by: str = "mass",
    rescale: bool = True,
    output_indices="predicted",
    padding_mask=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy as the most salient cells are replaced, e.g. by background noise.

    For each fraction p, the top cells of each input are replaced by the same cells
    of ``replacement`` (e.g. fresh background series) and the classifier's accuracy
    is measured. A map that finds the signal makes the accuracy drop fast. The top
    cells are, with ``by="mass"`` (default, the benchmark's accuracy drop), the
    smallest set of largest ``|saliency|`` holding a fraction p of the sample's
    saliency mass: the same sets as :func:`weighted_precision_recall` (with the same
    ``rescale``; p = 0 and an all-zero map remove nothing); with ``by="count"``, the
    ``round(p * D)`` cells of largest ``|saliency|`` (D cells per input).

    Args:
        model: a Keras model or callable returning class scores ``(N, C)`` or one
            probability per input ``(N,)`` / ``(N, 1)``.
        inputs: ``(N, ...)``; for a multi-input model a list or dict of arrays, with
            ``saliency`` and ``replacement`` in the same structure: the cells of all
            inputs are ranked together.
        labels: ``(N,)`` int labels.
        saliency: ``(N, ...)`` maps.
        replacement: ``(N, ...)`` values put in place of the removed cells.
        fractions: fractions of saliency mass (``by="mass"``) or of cells
            (``by="count"``) removed, in [0, 1] (default 0, 0.1, ..., 0.9).
        batch_size: most rows per model call.
        by: ``"mass"`` or ``"count"``, see above.
        rescale: with ``by="mass"``, min-max scale each ``|saliency|`` map first, as
            :func:`weighted_precision_recall` (ignored with ``by="count"``, where
            only the ranking matters).
        output_indices: what the prediction of a (perturbed) input is, with the
            package's meaning of ``output_indices``. ``"predicted"`` (default): its
            arg-max class (outputs ``(N, C)``), compared with ``labels``; on a
            single-output model, class 1 when its output is > 0.5. ``None``: the only
            output of a single-output model, as ``"predicted"``; refused (ValueError)
            on a model with several outputs. An index (an int, one per input, a
            ``(time, class)`` tuple): that output is read as the probability of the
            positive class, the prediction being 1 when it is > 0.5, and ``labels``
            must then be 0 or 1.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are
            never replaced, and with ``by="count"`` p is a fraction of real cells.

    Returns:
        ``(fractions, accuracy)``, both ``(P,)``.

    Raises:
        TypeError: a ``batch_size`` that is not an int.
        ValueError: shapes that do not match ``inputs``, fractions outside [0, 1],
            an unknown ``by``, or ``output_indices=None`` on a multi-output model.
    """
    model_fn, x, maps, _ = model_rows(
        model, inputs, {"saliency": saliency, "replacement": replacement}, padding_mask
    )
    sal = as_float_array(maps["saliency"], "saliency", min_rank=2)
    rep = as_float_array(maps["replacement"], "replacement", min_rank=2, dtype=x.dtype)
    y = np.asarray(labels)
    check_positive_int(batch_size, "batch_size")
    if sal.shape != x.shape or rep.shape != x.shape:
        raise ValueError(
            f"`saliency` {sal.shape} and `replacement` {rep.shape} must have the inputs' "
            f"shape {x.shape}."
        )
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`labels` must be {len(x)} integers, got shape {y.shape} ({y.dtype}).")
    fr = np.round(np.arange(0.0, 0.91, 0.1), 2) if fractions is None else np.asarray(fractions)
    if fr.ndim != 1 or np.any((fr < 0) | (fr > 1)):
        raise ValueError(f"`fractions` must be values in [0, 1], got {fr}.")
    real = real_cells(padding_mask, x.shape)
    if by == "mass":
        masks = _tsr_top_mass_cells(sal, fr.astype(float), rescale, real)
    elif by == "count":
        masks = top_cells(sal, fr, real)
    else:
        raise ValueError(f"`by` must be 'mass' or 'count', got {by!r}.")
    n = len(x)
    if isinstance(output_indices, str) and output_indices == PREDICTED:
        targets = None
    else:  # one scalar per input, chosen on the unperturbed inputs' outputs
        targets = one_target_per_input(
            output_indices, predict_in_chunks(model_fn, x, batch_size), "tsr_accuracy_drop"
        )
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                "`labels` must be 0 or 1 when one output per input is read as the "
                f"probability of class 1 (output_indices={output_indices!r}); pass "
                "output_indices='predicted' to compare arg-max classes."
            )
    rows = np.concatenate([np.where(m.reshape(x.shape), rep, x) for m in masks])  # (P * N, ...)
    out = predict_in_chunks(model_fn, rows, batch_size)
    if targets is None:  # each perturbed input's own prediction
        classes = resolve_output_indices(PREDICTED, out.shape[1:], len(rows), predict=lambda: out)
        flat = out.reshape(len(rows), -1)
        if flat.shape[1] > 1:
            pred = classes[0]
        else:
            pred = (flat[:, 0] > 0.5).astype(int)
    else:
        score = out.reshape(len(rows), -1)[np.arange(len(rows)), np.tile(targets, len(fr))]
        pred = (score > 0.5).astype(int)
    return fr, (pred.reshape(len(fr), n) == y[None]).mean(axis=1)


def deletion_insertion_curves(
    model,
    inputs,
    saliency,
    baseline=0.0,
    steps: int = 10,
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    *,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> dict:
    """Deletion and insertion curves of saliency maps.

    Cells are taken in order of decreasing ``|saliency|`` (ties: lower flat index
    first). Deletion: the top fraction p of cells is set to the baseline, for p = 0,
    1/steps, ..., 1, and the explained output is recorded (a good map makes it fall
    early). Insertion: start from the baseline and put back the top fraction p of
    cells (a good map makes it rise early). A fraction p selects ``round(p * n)``
    cells, n being the input's real cells.

    All copies (``2 * (steps + 1)`` per input) are built chunk by chunk and go
    through one traced function, ``batch_size`` rows at a time.

    Args:
        model: Keras model or callable.
        inputs: ``(N, ...)``; for a multi-input model a list or dict of arrays, with
            ``saliency`` (and an array ``baseline``) in the same structure: the cells
            of all inputs are ranked together.
        saliency: ``(N, ...)`` maps.
        baseline: a number, an array broadcastable to one input, or ``(N, ...)``.
        steps: curve points minus one.
        output_indices: the output tracked, one per input, with the package's
            meaning of ``output_indices``: ``"predicted"`` (default) the arg-max
            class of each unperturbed input (the only output of a single-output
            model); an int, one per input, or a ``(time, class)`` tuple; ``None``
            the only output of a single-output model, refused (ValueError) on a
            model with several outputs, since the curves need one scalar per input.
        batch_size: most rows per model call; None (default) picks it from the
            memory budget (see :func:`tf_tsexplain.set_memory_budget`).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are
            never deleted or inserted, and p is a fraction of each input's real cells.
        verbose: a progress bar over the copies.
        jit_compile: XLA for the copies: True, False or ``"auto"`` (default: for
            calls of at least 4,096 copies, falling back to the plain function if XLA
            cannot compile the model; see
            :func:`~tf_tsexplain.metrics.comprehensiveness`).

    Returns:
        dict with ``fractions`` ``(steps + 1,)``, ``deletion`` and ``insertion``
        ``(N, steps + 1)``, and their trapezoidal areas over the fractions
        ``deletion_auc``, ``insertion_auc`` ``(N,)``.

    Raises:
        TypeError, ValueError: on bad arguments, before any model call.
    """
    steps = check_positive_int(steps, "steps")
    check_batch_size(batch_size)
    check_jit_compile(jit_compile)
    model_fn, x, maps, structure = model_rows(
        model, inputs, {"saliency": saliency, "baseline": baseline}, padding_mask
    )
    sal = as_float_array(maps["saliency"], "saliency", min_rank=2)
    if sal.shape != x.shape:
        raise ValueError(
            f"`saliency` must have the inputs' shape {x.shape}. Received: saliency of "
            f"shape {sal.shape}."
        )
    real = real_cells(padding_mask, x.shape)
    base = baseline_rows(maps["baseline"], x).reshape(len(x), -1)
    check_static_outputs(model, output_indices, "deletion_insertion_curves")
    scorer = Scorer(model, model_fn, x, batch_size, structure, verbose, jit_compile)
    targets = one_target_per_input(output_indices, scorer.outputs(x), "deletion_insertion_curves")
    return curves_from_scorer(scorer, sal, real, base, targets, steps)


def curves_from_scorer(scorer, sal, real, base, targets, steps: int, source=None) -> dict:
    """:func:`deletion_insertion_curves` on checked arrays: maps ``sal`` ``(M, D)``
    with their real cells ``real`` (``(M, D)`` or None), of inputs ``source`` ``(M,)``
    (None: map m is input m); shared with the comparison of explainers."""
    m = len(sal)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    rank, n_real = cell_ranks(sal, real, "abs")
    k = cells_for_fractions(fractions, n_real).ravel()  # copy = (fraction, map)
    owner = np.tile(np.arange(m), steps + 1)
    deletion = scorer.masked(owner, k, rank, base, targets, source=source)
    insertion = scorer.masked(
        owner, k, rank, base, targets, keep=True, n_real=n_real, source=source
    )
    deletion = deletion.reshape(steps + 1, m).T.astype(np.float32)
    insertion = insertion.reshape(steps + 1, m).T.astype(np.float32)
    return {
        "fractions": fractions,
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": trapezoid(deletion, fractions),
        "insertion_auc": trapezoid(insertion, fractions),
    }
