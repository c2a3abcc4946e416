"""Ground-truth mask metrics (Dynamask paper): AUP, AUR, AUROC, AUPRC, information, entropy.

Every metric takes ``padding_mask``: ``(N, T)`` booleans, True on real steps (``(T,)``
for one ``(T, F)`` map). The cells of padded steps are then left out, and the
per-sample min-max scaling is over real cells, so a padded map scores as the same map
without its padding.
"""

from __future__ import annotations

import numpy as np

from tf_tsexplain.metrics._numeric import average_ranks, minmax_rows, real_cells, trapezoid, xlogx


def _truth_and_scores(
    truth, saliency, normalize: bool, padding_mask=None
) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth)
    s = np.asarray(saliency, dtype=np.float64)
    if t.dtype != bool:
        if not np.isin(t, (0, 1)).all():
            raise ValueError("`truth` must be boolean (or 0/1) ground-truth saliency.")
        t = t.astype(bool)
    if t.shape != s.shape:
        raise ValueError(f"`saliency` must have the shape of `truth` {t.shape}, got {s.shape}.")
    if s.size == 0:
        raise ValueError("`saliency` is empty.")
    if not np.all(np.isfinite(s)):
        raise ValueError("`saliency` contains NaN or Inf values.")
    if padding_mask is None:
        if normalize:
            s = minmax_per_sample(s)
        return t.ravel(), s.ravel()
    one = s.ndim == 2  # one (T, F) map, as minmax_per_sample reads it
    shape = (1,) + s.shape if one else s.shape
    mask = np.asarray(padding_mask)
    real = real_cells(mask[None] if one and mask.ndim == 1 else mask, shape)
    flat = s.reshape(shape[0], -1)
    if normalize:
        flat = minmax_rows(flat, real)
    return t.reshape(shape[0], -1)[real], flat[real]


def minmax_per_sample(saliency) -> np.ndarray:
    """Scale each sample to [0, 1]: ``(s - min) / (max - min)``.

    An array of ndim <= 2 (one map ``(T, F)``, one series ``(T,)`` or a scalar) is one
    sample, scaled as a whole; from ndim 3 on (``(N, T, F)``) the first axis indexes
    the samples, each scaled on its own. A constant sample becomes 0. Used by
    Dynamask's evaluation before computing AUP, AUR, information and entropy.

    Args:
        saliency: scores, ``(N, T, F)`` (any shape of ndim >= 3), or one map.

    Returns:
        The scaled scores, float64, of ``saliency``'s shape.
    """
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim <= 2:
        flat = s.reshape(1, -1)
    else:
        flat = s.reshape(s.shape[0], -1)
    return minmax_rows(flat).reshape(np.asarray(saliency).shape)


def _curve_at_or_above(t: np.ndarray, s: np.ndarray):
    """Distinct scores ascending, and precision / recall of the cells scored >= each."""
    order = np.argsort(-s, kind="stable")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    # last index of each run of equal scores (descending): counts of s >= tau
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tp, selected = tp[last], last + 1.0
    positives = t.sum()
    precision = tp / selected
    recall = tp / positives if positives > 0 else np.ones_like(tp, dtype=float)
    return s_sorted[last][::-1], precision[::-1], recall[::-1]


def precision_recall_by_threshold(truth, saliency, normalize: bool = True, padding_mask=None):
    """Precision and recall of the cells scored strictly above each threshold.

    The thresholds tau are the distinct scores, ascending; at the top score no cell
    is selected, and precision is then 1 and recall 0. This is the curve the
    Dynamask evaluation integrates (sklearn's ``precision_recall_curve`` outputs
    shifted by one point: ``prec[1:]``, ``rec[1:]`` against ``thresholds``). With
    ``normalize`` each sample's saliency is first min-max scaled to [0, 1]: a map of
    ndim <= 2 (e.g. one ``(T, F)`` mask) is one sample, and from ndim 3 on the first
    axis indexes the samples (see :func:`minmax_per_sample`), so a ``(T, F)`` map
    scores as its ``(1, T, F)`` batch.

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        normalize: min-max scale each sample's scores to [0, 1] first (see
            :func:`minmax_per_sample`).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        ``(thresholds, precision, recall)``, three 1-D arrays of equal length.

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
    """
    t, s = _truth_and_scores(truth, saliency, normalize, padding_mask)
    thresholds, precision, recall = _curve_at_or_above(t, s)
    return thresholds, np.r_[precision[1:], 1.0], np.r_[recall[1:], 0.0]


def _area(x: np.ndarray, y: np.ndarray, integration: str) -> float:
    if integration not in ("step", "trapezoid"):
        raise ValueError(f"`integration` must be 'step' or 'trapezoid', got {integration!r}.")
    if x.size < 2:
        return 0.0
    if integration == "step":  # y is constant on [x_i, x_{i+1}): the exact integral
        return float(np.sum((x[1:] - x[:-1]) * y[:-1]))
    return float(trapezoid(y, x))


def area_under_precision(
    truth, saliency, normalize: bool = True, integration: str = "step", padding_mask=None
) -> float:
    """AUP: the area under precision(tau), the precision of the cells scored strictly
    above tau, for tau from the lowest to the highest score (0 to 1 after the
    per-sample min-max scaling of ``normalize``).

    ``integration="step"`` (default) integrates the step function exactly (precision
    is constant between consecutive distinct scores). ``"trapezoid"`` joins the
    values at the distinct scores by straight lines, as the Dynamask evaluation code
    does (``sklearn.metrics.auc(thresholds, prec[1:])``); the two agree on graded
    maps, but trapezoids undervalue maps with few distinct values.

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        normalize: min-max scale each sample's scores to [0, 1] first (see
            :func:`minmax_per_sample`).
        integration: ``"step"`` (the exact integral) or ``"trapezoid"``.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        The area, in [0, 1].

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
        ValueError: an unknown ``integration``.
    """
    thresholds, precision, _ = precision_recall_by_threshold(
        truth, saliency, normalize, padding_mask
    )
    return _area(thresholds, precision, integration)


def area_under_recall(
    truth, saliency, normalize: bool = True, integration: str = "step", padding_mask=None
) -> float:
    """AUR: the area under recall(tau), as :func:`area_under_precision`.

    With the step integral and ``normalize``, AUR is the mean scaled score of the
    truly salient cells: 1 for a perfect binary map (0.5 with trapezoids).

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        normalize: min-max scale each sample's scores to [0, 1] first (see
            :func:`minmax_per_sample`).
        integration: ``"step"`` (the exact integral) or ``"trapezoid"``.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        The area, in [0, 1].

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
        ValueError: an unknown ``integration``.
    """
    thresholds, _, recall = precision_recall_by_threshold(truth, saliency, normalize, padding_mask)
    return _area(thresholds, recall, integration)


def auroc(truth, saliency, padding_mask=None) -> float:
    """Area under the ROC curve: P(score of a salient cell > score of another), ties 1/2.

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        AUROC in [0, 1] (0.5 for a random map).

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
        ValueError: ``truth`` without salient or without non-salient cells.
    """
    t, s = _truth_and_scores(truth, saliency, False, padding_mask)
    n_pos, n_neg = t.sum(), (~t).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both salient and non-salient cells in `truth`.")
    ranks = average_ranks(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(truth, saliency, padding_mask=None) -> float:
    """Area under the precision-recall curve (average precision):
    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds, descending.

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        AUPRC in [0, 1].

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
        ValueError: ``truth`` without salient cells.
    """
    t, s = _truth_and_scores(truth, saliency, False, padding_mask)
    if t.sum() == 0:
        raise ValueError("AUPRC needs at least one salient cell in `truth`.")
    _, precision, recall = _curve_at_or_above(t, s)
    precision, recall = precision[::-1], recall[::-1]  # thresholds descending
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mask_information(
    truth, saliency, normalize: bool = True, eps: float = 1e-5, padding_mask=None
) -> float:
    """Information of the truly salient cells: ``sum -log2(1 + eps - s)`` over them.

    Summed over all samples; ``s`` is min-max scaled per sample first (``normalize``).

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        normalize: min-max scale each sample's scores to [0, 1] first (see
            :func:`minmax_per_sample`).
        eps: a small positive number that keeps the logarithm finite at ``s = 1``.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        The information in bits (>= 0).

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
    """
    t, s = _truth_and_scores(truth, saliency, normalize, padding_mask)
    return float(np.sum(-np.log2(1.0 + eps - s[t])))


def mask_entropy(truth, saliency, normalize: bool = True, padding_mask=None) -> float:
    """Entropy of the truly salient cells: ``sum H(s)`` over them, with the binary
    entropy ``H(s) = -s log2 s - (1 - s) log2(1 - s)`` in bits (0 at s = 0 or 1).

    Summed over all samples; ``s`` is min-max scaled per sample first (``normalize``)
    and must lie in [0, 1].

    Args:
        truth: boolean ground truth (or 0/1), True on the truly salient cells,
            ``(N, T, F)`` (any shape; a map of ndim <= 2 is one sample).
        saliency: scores of the same shape (higher: more salient).
        normalize: min-max scale each sample's scores to [0, 1] first (see
            :func:`minmax_per_sample`).
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out (and out of the min-max scaling).

    Returns:
        The entropy in bits (>= 0).

    Raises:
        ValueError: ``saliency`` not of ``truth``'s shape, empty or holding NaN/Inf,
            or ``truth`` not boolean (0/1).
        ValueError: scores outside [0, 1] without ``normalize``.
    """
    t, s = _truth_and_scores(truth, saliency, normalize, padding_mask)
    v = s[t]
    if v.size and (v.min() < 0 or v.max() > 1):
        raise ValueError("`saliency` must lie in [0, 1] for the entropy (or normalize=True).")
    return float(-np.sum(xlogx(v) + xlogx(1.0 - v)) / np.log(2.0))
