"""Metrics that score saliency maps against a known ground truth or the model.

Maps are ``(N, T, F)`` (any ``(N, ...)`` works) and are compared with boolean
ground-truth masks of the same shape, or by perturbing the inputs and watching the
model's output.

Argument order: ground truth first, as scikit-learn's ``(y_true, y_score)``. Every
metric against a ground-truth mask takes ``(truth, saliency, ...)``, e.g.
``tsr_aup_aur(truth, saliency)`` or ``auroc(truth, saliency)``. The metrics that call
a model take it and its inputs first, then the truth when they use one, then the
maps: ``tsr_accuracy_drop(model, inputs, labels, saliency, replacement)`` and
``deletion_insertion_curves(model, inputs, saliency)``. Their ``output_indices``
(default ``"predicted"``) has the meaning shared by the whole package (see
``tf_tsexplain._targets``).

Modules, each re-exported here:

- ``tsr_benchmark``: the time-series saliency benchmark used with TSR (Ismail et al.
  2020): saliency-weighted precision and recall and their areas, accuracy drop,
  deletion and insertion curves.
- ``dynamask``: the ground-truth mask metrics of Dynamask (Crabbe & van der Schaar,
  ICML 2021): areas under the precision and recall curves over the threshold,
  AUROC, AUPRC, mask information and entropy, per-sample min-max scaling.
- ``faithfulness``: faithfulness without ground truth, on the user's own model:
  comprehensiveness and sufficiency (ERASER), cumulative prediction difference and
  preservation (TIMING), infidelity and max-sensitivity (Yeh et al.), the model
  randomisation check (Adebayo et al.), and ``compare_explainers``, which scores
  several explainers and a random control in one table.
- ``_perturb``: the shared engine of the metrics that call a model (cell ranks,
  perturbed copies built in chunks, one traced function per model).
- ``_numeric``: numeric helpers shared with the masks (min-max per row, trapezoids,
  ``x log x``, average ranks).
"""

from tf_tsexplain.metrics.dynamask import (
    area_under_precision,
    area_under_recall,
    auprc,
    auroc,
    mask_entropy,
    mask_information,
    minmax_per_sample,
    precision_recall_by_threshold,
)
from tf_tsexplain.metrics.faithfulness import (
    compare_explainers,
    comprehensiveness,
    cumulative_prediction_difference,
    cumulative_prediction_preservation,
    infidelity,
    max_sensitivity,
    randomization_check,
    randomized_copy,
    sufficiency,
)
from tf_tsexplain.metrics.tsr_benchmark import (
    TSR_MASS_LEVELS,
    deletion_insertion_curves,
    tsr_accuracy_drop,
    tsr_aup_aur,
    weighted_precision_recall,
)

__all__ = [
    "TSR_MASS_LEVELS",
    "area_under_precision",
    "area_under_recall",
    "auprc",
    "auroc",
    "compare_explainers",
    "comprehensiveness",
    "cumulative_prediction_difference",
    "cumulative_prediction_preservation",
    "deletion_insertion_curves",
    "infidelity",
    "mask_entropy",
    "mask_information",
    "max_sensitivity",
    "minmax_per_sample",
    "precision_recall_by_threshold",
    "randomization_check",
    "randomized_copy",
    "sufficiency",
    "tsr_accuracy_drop",
    "tsr_aup_aur",
    "weighted_precision_recall",
]
