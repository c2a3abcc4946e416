"""``MaskGroup``: masks of several areas for each series, all fitted in one loop."""

from __future__ import annotations

import numpy as np

from tf_tsexplain.masks._fit import check_ratio, check_task, fit_masks
from tf_tsexplain.masks.losses import mse
from tf_tsexplain.masks.mask import Mask
from tf_tsexplain.masks.perturbations import check_eps


class MaskGroup:
    """Masks of several areas per series, to pick the extremal mask from.

    Args: as for :class:`Mask`.

    After ``fit``: ``area_list`` (ascending), ``masks`` (``(A, T, F)`` or
    ``(A, N, T, F)``) and ``errors`` (``(A,)`` or ``(A, N)``).
    """

    def __init__(
        self,
        perturbation,
        task: str = "regression",
        deletion_mode: bool = False,
        eps: float = 1e-7,
        jit_compile: bool | str = "auto",
    ):
        self.perturbation = perturbation
        self.task = check_task(task)
        self.deletion_mode = bool(deletion_mode)
        self.eps = check_eps(eps)
        self.jit_compile = jit_compile
        self.masks = None
        self.errors = None

    def fit(
        self,
        X,
        f,
        area_list,
        loss_function=mse,
        target=None,
        n_epoch: int = 1000,
        initial_mask_coeff: float = 0.5,
        size_reg_factor_init: float = 0.5,
        size_reg_factor_dilation: float = 100,
        time_reg_factor: float = 0,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        seed: int | None = None,
        verbose: bool = False,
    ) -> MaskGroup:
        """Fit one mask per area and series, all in one compiled training loop.

        ``f`` receives batches ``(A * N, T, F)`` ordered areas x series: row
        ``a * N + n`` is series ``n`` perturbed by its mask of area
        ``area_list[a]`` (sorted ascending), so ``row % N`` is the series index (a
        white box may use it to behave differently per series). For one series
        ``(T, F)``, N = 1. ``f`` returns ``(A * N, ...)``.

        Other arguments are those of :meth:`Mask.fit`; ``area_list`` holds the keep
        ratios, each in (0, 1].
        """
        areas = list(np.atleast_1d(np.asarray(area_list, dtype=object)))
        if not areas:
            raise ValueError("`area_list` must hold at least one area in (0, 1].")
        areas = sorted(check_ratio(a, "area_list entries") for a in areas)
        result, single = fit_masks(
            X,
            f,
            areas,
            self.perturbation,
            loss_function,
            target,
            task=self.task,
            deletion_mode=self.deletion_mode,
            n_epoch=n_epoch,
            initial_mask_coeff=initial_mask_coeff,
            size_reg_factor_init=size_reg_factor_init,
            size_reg_factor_dilation=size_reg_factor_dilation,
            time_reg_factor=time_reg_factor,
            learning_rate=learning_rate,
            momentum=momentum,
            seed=seed,
            verbose=verbose,
            jit_compile=self.jit_compile,
        )
        self.area_list = areas
        self._single = single
        self._masks = result.masks  # (A, N, T, F)
        self._errors = result.errors  # (A, N)
        self._target = result.target
        self.X = np.asarray(X, np.float32)
        self.masks = result.masks[:, 0] if single else result.masks
        self.errors = result.errors[:, 0] if single else result.errors
        self.loss_function = loss_function
        return self

    def _check_fitted(self) -> None:
        if self.masks is None:
            raise RuntimeError("The mask group is not fitted yet: call fit() first.")

    def _pick(self, chosen: np.ndarray) -> Mask:
        """A ``Mask`` holding, per series n, the mask of area index ``chosen[n]``."""
        n = self._masks.shape[1]
        mask = Mask(self.perturbation, self.task, self.deletion_mode, self.eps, self.jit_compile)
        cols = np.arange(n)
        areas = np.asarray(self.area_list)[chosen]
        mask._set(
            self._masks[chosen, cols],
            self._errors[chosen, cols],
            float(areas[0]) if self._single else areas,
            self.X,
            self._target,
            self._single,
        )
        mask.loss_function = self.loss_function
        return mask

    def get_best_mask(self) -> Mask:
        """Per series, the mask with the lowest error (the smallest area on ties).

        Also in deletion mode, where the fit maximises the error, the lowest error is
        picked (as the reference does).
        """
        self._check_fitted()
        return self._pick(np.argmin(self._errors, axis=0))

    def get_extremal_mask(self, threshold: float) -> Mask:
        """Per series, the smallest-area mask whose error is below ``threshold``.

        A series with no such mask gets its best mask. ``keep_ratio`` of the result
        holds the chosen area (an array ``(N,)`` for a batch). Also in deletion mode
        the error is compared below ``threshold`` (as the reference does).
        """
        self._check_fitted()
        below = self._errors < threshold  # (A, N); areas ascending
        first = np.argmax(below, axis=0)
        chosen = np.where(below.any(axis=0), first, np.argmin(self._errors, axis=0))
        return self._pick(chosen)

    def plot_errors(self, samples=None, ax=None, title: str | None = None):
        """Error of the fitted masks against their area, one line per series.

        Returns ``(figure, axes)``.
        """
        from tf_tsexplain.plot._common import new_axes

        self._check_fitted()
        n = self._errors.shape[1]
        samples = range(n) if samples is None else list(samples)
        fig, ax = new_axes(ax, (5, 3.5))
        for i in samples:
            ax.plot(self.area_list, self._errors[:, i], marker="o", ms=3, label=f"series {i}")
        ax.set_xlabel("mask area")
        ax.set_ylabel("error")
        if n > 1 and len(samples) <= 10:
            ax.legend(fontsize="small")
        ax.set_title(title or "Error of the fitted masks")
        return fig, ax
