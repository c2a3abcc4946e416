"""Dynamic perturbation masks (Dynamask) for sequence models.

A mask ``m`` in [0, 1]^(T x F) says which cells of a series to keep: a perturbation
operator replaces cell (t, f) by a perturbed value in proportion to ``1 - m[t, f]``,
and the mask is fitted so that the model's prediction on the perturbed series stays
close to the original while the mask keeps a given share (area) of the cells.

- Perturbations (Keras layers ``layer(inputs, mask)``): ``FadeMovingAverage``,
  ``GaussianBlur``, ``FadeMovingAverageWindow``, ``FadeMovingAveragePastWindow``,
  ``FadeReference``.
- ``MaskLayer``: the trainable mask values, clamped to [0, 1].
- ``Mask`` (one area) and ``MaskGroup`` (several areas, extremal mask): one series
  ``(T, F)`` or a batch ``(N, T, F)``, all masks fitted in one compiled loop. Both
  derive from ``masks.base.MaskBase`` (constructor checks, the fit, the fitted
  state); before ``fit`` their results raise ``NotFittedError``. ``fit(...,
  output_indices=...)`` reduces ``f``'s output to one chosen output per series
  before the loss (None: the loss sees the whole output).
- ``ExtremalMask`` (``masks.extremal``): a mask and a perturbation network learned
  together (Enguehard, ICML 2023), ``x' = m x + (1 - m) NN(x)``; the default
  network ``SeriesConvNet`` has weights per series; ``LearnedPerturbation`` is the
  perturbation as a layer.
- ``ContraLSP`` (``masks.contralsp``): counterfactual perturbations trained with a
  contrastive triplet term and sparse, trend-smoothed gates (Liu et al., ICLR 2024).
- Losses: ``mse``, ``cross_entropy``, ``log_loss``, ``log_loss_target``.

The compiled training loops are cached across fits (at most 8, keyed by the identity of
``f``, the perturbation and the loss, the mode and the shapes); ``clear_fit_cache()``
forgets them, e.g. after changing the Python state a callable ``f`` was traced with.
"""

from tf_tsexplain.masks._fit import clear_fit_cache
from tf_tsexplain.masks.contralsp import ContraLSP
from tf_tsexplain.masks.extremal import ExtremalMask, LearnedPerturbation, SeriesConvNet
from tf_tsexplain.masks.group import MaskGroup
from tf_tsexplain.masks.layer import MaskLayer, UnitInterval
from tf_tsexplain.masks.losses import cross_entropy, log_loss, log_loss_target, mse
from tf_tsexplain.masks.mask import Mask
from tf_tsexplain.masks.perturbations import (
    FadeMovingAverage,
    FadeMovingAveragePastWindow,
    FadeMovingAverageWindow,
    FadeReference,
    GaussianBlur,
    Perturbation,
)

__all__ = [
    "ContraLSP",
    "ExtremalMask",
    "LearnedPerturbation",
    "SeriesConvNet",
    "FadeMovingAverage",
    "FadeMovingAveragePastWindow",
    "FadeMovingAverageWindow",
    "FadeReference",
    "GaussianBlur",
    "Mask",
    "MaskGroup",
    "MaskLayer",
    "Perturbation",
    "UnitInterval",
    "clear_fit_cache",
    "cross_entropy",
    "log_loss",
    "log_loss_target",
    "mse",
]
