"""``Mask``: one dynamic mask per series, fitted for a given area (keep ratio)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_tsexplain.masks._fit import check_ratio, check_task, fit_masks
from tf_tsexplain.masks.losses import mse
from tf_tsexplain.masks.perturbations import check_eps
from tf_tsexplain.metrics._numeric import xlogx


def information_bits(mask: np.ndarray, eps: float) -> np.ndarray:
    """``sum -log2(1 + eps - m)`` over the last two axes, in float64 (float32 cannot
    hold ``1 + eps`` for eps below ~1e-7)."""
    return (-np.log2(1.0 + eps - np.asarray(mask, np.float64))).sum(axis=(-2, -1))


def binary_entropy(m: np.ndarray) -> np.ndarray:
    """``H(m) = -m log2 m - (1 - m) log2(1 - m)`` in bits, with ``0 log 0 = 0``."""
    m = np.clip(np.asarray(m, dtype=np.float64), 0.0, 1.0)
    return -(xlogx(m) + xlogx(1.0 - m)) / np.log(2.0)


def entropy_bits(mask: np.ndarray) -> np.ndarray:
    """Binary entropy of every entry, summed over the last two axes (T, F)."""
    return binary_entropy(mask).sum(axis=(-2, -1))


def smooth_over_time(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over axis -2 with weights normalised per step."""
    if not sigma > 0:
        raise ValueError(f"`sigma` must be > 0, got {sigma!r}.")
    t = mask.shape[-2]
    idx = np.arange(t)
    w = np.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma**2))
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("ts,...sf->...tf", w, mask)


class Mask:
    """A dynamic perturbation mask (Dynamask) for one series or a batch of series.

    Args:
        perturbation: a perturbation layer from ``tf_tsexplain.masks`` (e.g.
            ``GaussianBlur()``), called as ``perturbation(inputs, mask)``.
        task: "regression" or "classification" (the log losses need the latter and
            probabilities from ``f``).
        deletion_mode: fit the mask of what to delete (the perturbation uses
            ``1 - m`` and the error is maximised) instead of what to keep.
        eps: the small constant > 0 of the information log ``-log2(1 + eps - m)``
            (the default of ``get_information``; the fit does not use it).
        jit_compile: compile the training loop with XLA (True; several times faster,
            the model must be XLA-compatible), without (False), or "auto" (default):
            XLA, falling back to a plain tf.function if the model cannot be compiled.
            The compiled loop is cached: later fits with the same ``f``, perturbation,
            loss, mode and shapes reuse it (see ``clear_fit_cache``).

    After ``fit``: ``mask_tensor`` (numpy ``(T, F)`` or ``(N, T, F)``), ``error``
    (``get_error()``), ``keep_ratio``, ``X`` and ``target``.
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
        self.mask_tensor: np.ndarray | None = None
        self.keep_ratio = None
        self._error = None

    def fit(
        self,
        X,
        f,
        loss_function=mse,
        target=None,
        n_epoch: int = 500,
        keep_ratio: float = 0.5,
        initial_mask_coeff: float = 0.5,
        size_reg_factor_init: float = 0.5,
        size_reg_factor_dilation: float = 100,
        time_reg_factor: float = 0,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        seed: int | None = None,
        verbose: bool = False,
    ) -> Mask:
        """Fit the mask(s); a batch ``(N, T, F)`` is fitted in one compiled loop.

        Args:
            X: one series ``(T, F)`` or a batch ``(N, T, F)``.
            f: a Keras model or a callable on batches, TensorFlow ops only. During the
                fit it is called on batches ``(N, T, F)`` of perturbed series, row n
                being series n (``(1, T, F)`` for one series); it returns
                ``(N, ...)``. Rows must not interact.
            loss_function: ``mse``, ``cross_entropy``, ``log_loss``,
                ``log_loss_target`` or a callable with the same per-row contract.
            target: what the perturbed predictions are compared with, shaped like
                ``f(X)`` (class ids for ``log_loss_target``); default ``f(X)``
                (its argmax for ``log_loss_target``).
            n_epoch: optimisation steps (>= 1).
            keep_ratio: the mask area a, in (0, 1].
            initial_mask_coeff: starting value of every mask entry.
            size_reg_factor_init, size_reg_factor_dilation: the size coefficient grows
                geometrically from ``init`` to ``init * dilation`` over the epochs.
            time_reg_factor: weight of ``mean |m[t+1] - m[t]|``.
            learning_rate, momentum: SGD with momentum.
            seed: accepted for reproducible calls; the fit draws nothing at random
                (cells tied in the size regulariser's ranking share its target
                evenly), so the same inputs always give the same masks.
            verbose: a progress bar over epochs.

        Returns:
            ``self``.
        """
        ratio = check_ratio(keep_ratio, "keep_ratio")
        result, single = fit_masks(
            X,
            f,
            [ratio],
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
        x = np.asarray(X, np.float32)
        self._set(result.masks[0], result.errors[0], ratio, x, result.target, single)
        self.loss_function = loss_function
        return self

    def _set(self, masks, errors, keep_ratio, x, target, single) -> None:
        """Store fitted ``masks (N, T, F)`` and ``errors (N,)``; squeeze for one series."""
        self.mask_tensor = masks[0] if single else masks
        self._error = float(errors[0]) if single else np.asarray(errors)
        self.keep_ratio = keep_ratio
        self.X = x
        self.target = target[0] if single else target

    # ---------------------------------------------------------------- results
    def _fitted(self) -> np.ndarray:
        if self.mask_tensor is None:
            raise RuntimeError("The mask is not fitted yet: call fit() first.")
        return self.mask_tensor

    def get_error(self):
        """The error of the fitted mask (no regularisers): a float, or ``(N,)``."""
        self._fitted()
        return self._error

    def get_smooth_mask(self, sigma: float = 1.0) -> np.ndarray:
        """The mask smoothed over time by a Gaussian of width ``sigma`` steps."""
        return smooth_over_time(self._fitted(), float(sigma))

    def extract_submask(self, ids_time=None, ids_feature=None) -> np.ndarray:
        """The mask restricted to time steps ``ids_time`` and features ``ids_feature``.

        Returns ``(len(ids_time), len(ids_feature))`` (with the leading N axis for a
        batch); None keeps every step or feature.
        """
        m = self._fitted()
        t, f = m.shape[-2:]
        ids_t = np.arange(t) if ids_time is None else np.asarray(ids_time, int)
        ids_f = np.arange(f) if ids_feature is None else np.asarray(ids_feature, int)
        for ids, size, name in ((ids_t, t, "ids_time"), (ids_f, f, "ids_feature")):
            if ids.ndim != 1 or ids.size == 0 or ids.min() < -size or ids.max() >= size:
                raise ValueError(f"`{name}` must be a non-empty list of indices below {size}.")
        return m[..., ids_t, :][..., ids_f]

    def get_information(self, ids_time=None, ids_feature=None, normalize=False, eps=None):
        """Mask information ``sum -log2(1 + eps - m)`` over the submask's cells.

        ``eps`` (> 0) defaults to the mask's ``eps``. ``normalize=True`` divides by the
        information of the whole mask: the share of the mask's information carried by
        the submask, in [0, 1]. A float, or ``(N,)`` for a batch.
        """
        eps = self.eps if eps is None else check_eps(eps)
        value = information_bits(self.extract_submask(ids_time, ids_feature), eps)
        if normalize:
            value = value / np.maximum(information_bits(self._fitted(), eps), 1e-12)
        return float(value) if np.ndim(value) == 0 else value

    def get_entropy(self, ids_time=None, ids_feature=None, normalize=False):
        """Mask entropy ``sum H(m)`` over the submask's cells, with the binary entropy
        ``H(m) = -m log2 m - (1 - m) log2(1 - m)`` (0 for m in {0, 1}).

        ``normalize=True`` divides by the entropy of the whole mask (0 when the whole
        mask is binary). A float, or ``(N,)`` for a batch.
        """
        value = entropy_bits(self.extract_submask(ids_time, ids_feature))
        if normalize:
            whole = entropy_bits(self._fitted())
            value = np.where(whole > 0, value / np.where(whole > 0, whole, 1.0), 0.0)
        return float(value) if np.ndim(value) == 0 else value

    def plot_mask(
        self,
        sample: int = 0,
        ids_time=None,
        ids_feature=None,
        smooth: float | None = None,
        feature_names: Sequence[str] | None = None,
        ax=None,
        title: str | None = None,
        **kwargs,
    ):
        """Heatmap of the mask (time on x, features on y), via ``time_feature_heatmap``.

        Args:
            sample: which series of a batch.
            ids_time, ids_feature: restrict to these steps / features.
            smooth: smooth over time with this Gaussian width first.
            feature_names, ax, title, **kwargs: passed to ``time_feature_heatmap``.

        Returns:
            ``(figure, axes)``.
        """
        from tf_tsexplain.plot import time_feature_heatmap

        m = self.get_smooth_mask(smooth) if smooth else self._fitted()
        if m.ndim == 3:
            if not 0 <= sample < m.shape[0]:
                raise ValueError(f"`sample` must be in [0, {m.shape[0] - 1}], got {sample}.")
            m = m[sample]
        t, f = m.shape
        ids_t = np.arange(t) if ids_time is None else np.asarray(ids_time, int)
        ids_f = np.arange(f) if ids_feature is None else np.asarray(ids_feature, int)
        names = None if feature_names is None else [list(feature_names)[i] for i in ids_f]
        if title is None:
            ratio = np.ravel(self.keep_ratio)[sample if np.size(self.keep_ratio) > 1 else 0]
            title = f"Mask (area {ratio:g})"
        fig, ax = time_feature_heatmap(
            m[np.ix_(ids_t, ids_f)],
            feature_names=names,
            ax=ax,
            title=title,
            cmap="Reds",
            colorbar_label=kwargs.pop("colorbar_label", "mask value (1 = keep)"),
            **kwargs,
        )
        ax.images[0].set_clim(0.0, 1.0)
        return fig, ax
