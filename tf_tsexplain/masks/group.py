"""``MaskGroup``: masks of several areas for each series, all fitted in one loop."""

from __future__ import annotations

import numpy as np

from tf_tsexplain._validation import check_int, check_real
from tf_tsexplain.masks.base import FittedMasks, MaskBase
from tf_tsexplain.masks.losses import mse
from tf_tsexplain.masks.mask import Mask


class MaskGroup(MaskBase):
    """Masks of several areas per series, to pick the extremal mask from.

    Args: as for :class:`Mask` (see :class:`~tf_tsexplain.masks.base.MaskBase`).

    After ``fit``: ``area_list`` (ascending), ``masks`` (``(A, T, F)`` or
    ``(A, N, T, F)``), ``errors`` (``(A,)`` or ``(A, N)``), ``X``, ``target`` and
    ``loss_function``. Before it, each of these and ``get_best_mask``,
    ``get_extremal_mask`` and ``plot_errors`` raise
    :class:`tf_tsexplain._validation.NotFittedError` (a ``ValueError`` and an
    ``AttributeError``) saying to call ``fit`` first.
    """

    _area_list = None  # set by fit: the keep ratios, ascending

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
        output_indices=None,
        f_input: str = "auto",
        padding_mask=None,
        input_name: str | int | None = None,
        batch_size: int | None = None,
    ) -> MaskGroup:
        """Fit one mask per area and series, all in one compiled training loop.

        ``f`` receives batches ``(A * N, T, F)`` ordered areas x series: row
        ``a * N + n`` is series ``n`` perturbed by its mask of area
        ``area_list[a]`` (sorted ascending), so ``row % N`` is the series index (a
        white box may use it to behave differently per series). For one series
        ``(T, F)``, N = 1. ``f`` returns ``(A * N, ...)``.

        Other arguments are those of :meth:`Mask.fit` (``output_indices`` chooses one
        output per series, the same for its A rows; ``f_input="series"``, or "auto"
        with one series ``X``, accepts a black box written for one series ``(T, F)``
        and vectorises it over the ``A * N`` rows; ``padding_mask`` and
        ``input_name`` as there: areas count real cells only); ``area_list`` holds the
        keep ratios, each a number in (0, 1].

        ``batch_size`` (the most model rows per call; None: from the memory budget)
        splits the areas, not the series: each call of ``f`` holds the A' x N rows of
        A' areas (``row % N`` still the series index; e.g. 10 areas of 200 series
        run as 5 calls of 2 areas, one after the other), and the series only when N
        rows alone exceed an explicit ``batch_size``. All the areas x series masks
        are one optimisation: they are independent, so the chunks give the masks of
        a single joint fit, up to float rounding.

        Returns:
            ``self``.

        Raises:
            TypeError: an argument of the wrong kind.
            ValueError: a wrong value or shape, e.g. an empty ``area_list``.
        """
        areas = list(np.atleast_1d(np.asarray(area_list, dtype=object)))
        if not areas:
            raise ValueError(
                f"`area_list` must hold at least one area in (0, 1]. Received: "
                f"area_list={area_list!r}."
            )
        areas = sorted(
            check_real(a, f"area_list[{i}]", min_val=0.0, max_val=1.0, include_min=False)
            for i, a in enumerate(areas)
        )
        settings = dict(
            n_epoch=n_epoch,
            initial_mask_coeff=initial_mask_coeff,
            size_reg_factor_init=size_reg_factor_init,
            size_reg_factor_dilation=size_reg_factor_dilation,
            time_reg_factor=time_reg_factor,
            learning_rate=learning_rate,
            momentum=momentum,
            seed=seed,
            verbose=verbose,
            f_input=f_input,
            padding_mask=padding_mask,
            input_name=input_name,
            batch_size=batch_size,
        )
        self._run_fit(X, f, areas, loss_function, target, output_indices, settings)
        self._area_list = areas
        return self

    # ---------------------------------------------------------------- results
    @property
    def area_list(self) -> list[float]:
        """The areas (keep ratios) of the masks, ascending."""
        self._state()
        return list(self._area_list)

    @property
    def masks(self) -> np.ndarray:
        """The masks: ``(A, T, F)`` for one series, ``(A, N, T, F)`` for a batch."""
        return self._squeeze(self._state().masks, 1)

    @property
    def errors(self) -> np.ndarray:
        """The error of each mask (no regularisers): ``(A,)`` or ``(A, N)``."""
        return self._squeeze(self._state().errors, 1)

    def _pick(self, chosen: np.ndarray) -> Mask:
        """A ``Mask`` holding, per series n, the mask of area index ``chosen[n]``."""
        state = self._state()
        cols = np.arange(state.masks.shape[1])
        areas = np.asarray(self._area_list)[chosen]
        picked = FittedMasks(
            masks=state.masks[chosen, cols][None],
            errors=state.errors[chosen, cols][None],
            x=state.x,
            target=state.target,
            single=state.single,
            loss_function=state.loss_function,
            real=state.real,
        )
        keep_ratio = float(areas[0]) if state.single else areas
        return Mask(*self._constructor_args())._adopt(picked, keep_ratio)

    def get_best_mask(self) -> Mask:
        """Per series, the mask with the lowest error (the smallest area on ties).

        Also in deletion mode, where the fit maximises the error, the lowest error is
        picked (as the reference does).
        """
        return self._pick(np.argmin(self._state().errors, axis=0))

    def get_extremal_mask(self, threshold: float) -> Mask:
        """Per series, the smallest-area mask whose error is below ``threshold``.

        A series with no such mask gets its best mask. ``keep_ratio`` of the result
        holds the chosen area (an array ``(N,)`` for a batch). Also in deletion mode
        the error is compared below ``threshold`` (as the reference does).
        """
        errors = self._state().errors
        threshold = check_real(threshold, "threshold")
        below = errors < threshold  # (A, N); areas ascending
        first = np.argmax(below, axis=0)
        chosen = np.where(below.any(axis=0), first, np.argmin(errors, axis=0))
        return self._pick(chosen)

    def plot_errors(self, samples=None, ax=None, title: str | None = None):
        """Error of the fitted masks against their area, one line per series.

        Returns ``(figure, axes)``.
        """
        from tf_tsexplain.plot._common import new_axes

        errors = self._state().errors
        n = errors.shape[1]
        if samples is None:
            samples = range(n)
        else:
            samples = [check_int(i, "samples", min_val=0, max_val=n - 1) for i in samples]
        fig, ax = new_axes(ax, (5, 3.5))
        for i in samples:
            ax.plot(self._area_list, errors[:, i], marker="o", ms=3, label=f"series {i}")
        ax.set_xlabel("mask area")
        ax.set_ylabel("error")
        if n > 1 and len(samples) <= 10:
            ax.legend(fontsize="small")
        ax.set_title(title or "Error of the fitted masks")
        return fig, ax
