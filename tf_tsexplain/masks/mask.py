"""``Mask``: one dynamic mask per series, fitted for a given area (keep ratio)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_tsexplain._validation import check_int, check_real
from tf_tsexplain.masks.base import FittedMasks, MaskBase
from tf_tsexplain.masks.losses import mse
from tf_tsexplain.metrics._numeric import xlogx


def information_cells(mask: np.ndarray, eps: float) -> np.ndarray:
    """``-log2(1 + eps - m)`` of every entry, in float64 (float32 cannot hold
    ``1 + eps`` for eps below ~1e-7)."""
    return -np.log2(1.0 + eps - np.asarray(mask, np.float64))


def binary_entropy(m: np.ndarray) -> np.ndarray:
    """``H(m) = -m log2 m - (1 - m) log2(1 - m)`` in bits, with ``0 log 0 = 0``."""
    m = np.clip(np.asarray(m, dtype=np.float64), 0.0, 1.0)
    return -(xlogx(m) + xlogx(1.0 - m)) / np.log(2.0)


def entropy_bits(mask: np.ndarray) -> np.ndarray:
    """Binary entropy of every entry, summed over the last two axes (T, F)."""
    return binary_entropy(mask).sum(axis=(-2, -1))


def smooth_over_time(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over axis -2 with weights normalised per step."""
    sigma = check_real(sigma, "sigma", min_val=0.0, include_min=False)
    t = mask.shape[-2]
    idx = np.arange(t)
    w = np.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma**2))
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("ts,...sf->...tf", w, mask)


class Mask(MaskBase):
    """A dynamic perturbation mask (Dynamask) for one series or a batch of series.

    Args: those of :class:`~tf_tsexplain.masks.base.MaskBase`: ``perturbation``
    (e.g. ``GaussianBlur()``), ``task`` ("regression" or "classification"),
    ``deletion_mode``, ``eps`` (> 0, the default of ``get_information``) and
    ``jit_compile`` (True, False or "auto"). A wrong kind raises TypeError, a wrong
    value ValueError.

    After ``fit``: ``mask_tensor`` (numpy ``(T, F)`` or ``(N, T, F)``), the error
    (``get_error()``), ``keep_ratio``, ``X``, ``target`` and ``loss_function``.
    Before it, each of these and every method that reads the mask
    (``get_smooth_mask``, ``extract_submask``, ``get_information``, ``get_entropy``,
    ``plot_mask``) raises :class:`tf_tsexplain._validation.NotFittedError` (a
    ``ValueError`` and an ``AttributeError``) saying to call ``fit`` first.
    """

    _keep_ratio = None  # set by fit (a float) or by a group's pick (float or (N,))

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
        output_indices=None,
        f_input: str = "auto",
        padding_mask=None,
        input_name: str | int | None = None,
        batch_size: int | None = None,
    ) -> Mask:
        """Fit the mask(s); a batch ``(N, T, F)`` is fitted in one compiled loop.

        Args:
            X: one series ``(T, F)`` or a batch ``(N, T, F)``. For a multi-input Keras
                model, a list or dict of arrays in its input structure (e.g. a
                sequence ``(N, T, F)`` and static covariates ``(N, S)``): the masks
                cover one sequence input (``input_name``) and ``f`` sees the other
                inputs of each series at their values.
            f: a Keras model or a callable, TensorFlow ops only. The fast path: ``f``
                takes batches; during the fit it is called on batches ``(N, T, F)``
                of perturbed series, row n being series n (``(1, T, F)`` for one
                series), and returns ``(N, ...)``; rows must not interact. A black box
                written for one series ``(T, F)``, as Dynamask's are (``return
                input[-1, :]``), is also accepted: see ``f_input``.
            loss_function: ``mse``, ``cross_entropy``, ``log_loss``,
                ``log_loss_target`` or a callable with the same per-row contract.
            target: what the perturbed predictions are compared with, shaped like
                ``f(X)`` (like the chosen outputs ``(N,)`` with ``output_indices``;
                class ids for ``log_loss_target``); default ``f(X)`` (its argmax for
                ``log_loss_target``).
            n_epoch: optimisation steps, an integer >= 1.
            keep_ratio: the mask area a, in (0, 1].
            initial_mask_coeff: starting value of every mask entry, in [0, 1].
            size_reg_factor_init, size_reg_factor_dilation: the size coefficient grows
                geometrically from ``init`` (>= 0) to ``init * dilation`` (dilation
                > 0) over the epochs.
            time_reg_factor: weight (>= 0) of ``mean |m[t+1] - m[t]|``.
            learning_rate, momentum: SGD with momentum (rate > 0, momentum in [0, 1];
                1, as Dynamask's State experiment, sums every past gradient).
            seed: None or an integer >= 0, accepted for reproducible calls; the fit
                draws nothing at random (cells tied in the size regulariser's ranking
                share its target evenly), so the same inputs always give the same
                masks.
            verbose: a progress bar over epochs.
            output_indices: None (default): the loss sees the whole output of ``f``
                (for a single-output model, its only output). Otherwise the output
                of ``f`` is reduced to the chosen output of each series before the
                loss, with the package's meaning of ``output_indices`` (see
                ``tf_tsexplain._targets``): an int (outputs ``(N, C)``), one per
                series, a ``(time, class)`` tuple (outputs ``(N, T', C)``), one per
                series, or ``"predicted"`` (the arg-max class of ``f(X)``). The
                loss must then compare one value per row (``mse``, ``log_loss``).
            f_input: what ``f`` takes. "batch": batches ``(B, T, F)``. "series": one
                series ``(T, F)``; it is vectorised over the batch with
                ``tf.vectorized_map`` (``tf.map_fn`` if that fails), slower than a
                batch ``f`` but with the same masks. "auto" (default): "batch" for a
                batch ``X``; for one series ``X`` ``(T, F)``, "batch" if ``f`` maps a
                batch of copies of ``X`` to one row per copy, else "series" if it
                runs on ``X`` itself; an ``f`` that does neither raises a
                ValueError saying how to write it.
            padding_mask: ``(N, T)`` booleans (``(T,)`` for one series), True on real
                steps; default: from the model's ``Masking`` layer, if any. Padded
                cells are never perturbed (the perturbation sees only real steps),
                hold mask value 0 and count in no area: ``keep_ratio`` is a share of
                each series' real cells, so a padded series gets the masks of the
                same series without its padding.
            input_name: for a multi-input model, the sequence input the masks cover
                (its name or index); None: the only sequence input.
            batch_size: the most model rows per call of ``f`` (it bounds memory);
                None: from the memory budget (``tf_tsexplain.set_memory_budget``),
                never splitting the N series of one call. Below N, the series are
                fitted in chunks of about ``batch_size``, one after the other, and
                ``f`` sees the rows of a chunk (row ``j`` is the chunk's series
                ``j``), so a white box that reads the row index as the series index
                needs ``batch_size >= N``. The masks do not depend on it (the series
                are independent), up to float rounding.

        Returns:
            ``self``.

        Raises:
            TypeError: an argument of the wrong kind, e.g. ``keep_ratio="0.1"`` or
                ``n_epoch=2.5``.
            ValueError: a wrong value or shape, e.g. ``keep_ratio=0``.
        """
        ratio = check_real(keep_ratio, "keep_ratio", min_val=0.0, max_val=1.0, include_min=False)
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
        self._run_fit(X, f, [ratio], loss_function, target, output_indices, settings)
        self._keep_ratio = ratio
        return self

    def _adopt(self, fitted: FittedMasks, keep_ratio) -> Mask:
        """Hold ``fitted`` (one mask per series, ``A = 1``), e.g. masks picked from a
        group; ``keep_ratio`` is a float or ``(N,)``."""
        self._fitted = fitted
        self._keep_ratio = keep_ratio
        return self

    # ---------------------------------------------------------------- results
    @property
    def mask_tensor(self) -> np.ndarray:
        """The fitted mask: ``(T, F)`` for one series, ``(N, T, F)`` for a batch."""
        return self._squeeze(self._state().masks[0], 0)

    @property
    def keep_ratio(self):
        """The area of the mask: a float, or ``(N,)`` for masks picked per series."""
        self._state()
        return self._keep_ratio

    def get_error(self):
        """The error of the fitted mask (no regularisers): a float, or ``(N,)``."""
        errors = self._state().errors[0]
        return float(errors[0]) if self._state().single else np.asarray(errors)

    def get_smooth_mask(self, sigma: float = 1.0) -> np.ndarray:
        """The mask smoothed over time by a Gaussian of width ``sigma`` steps (over
        real steps only for padded series; padded cells stay 0)."""
        real = self._state().real_cells()
        if real is None:
            return smooth_over_time(self.mask_tensor, sigma)
        real = self._squeeze(real, 0).astype(np.float64)
        num = smooth_over_time(self.mask_tensor * real, sigma)
        den = smooth_over_time(real, sigma)
        return np.where(real > 0, num / np.where(den > 0, den, 1.0), 0.0)

    def extract_submask(self, ids_time=None, ids_feature=None) -> np.ndarray:
        """The mask restricted to time steps ``ids_time`` and features ``ids_feature``.

        Returns ``(len(ids_time), len(ids_feature))`` (with the leading N axis for a
        batch); None keeps every step or feature.
        """
        return self._submask(self.mask_tensor, ids_time, ids_feature)

    @staticmethod
    def _submask(m: np.ndarray, ids_time, ids_feature) -> np.ndarray:
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
        eps = self.eps if eps is None else check_real(eps, "eps", min_val=0.0, include_min=False)
        cells = information_cells(self.mask_tensor, eps)
        real = self._state().real_cells()
        if real is not None:  # padded cells carry no information
            cells = np.where(self._squeeze(real, 0), cells, 0.0)
        value = self._submask(cells, ids_time, ids_feature).sum(axis=(-2, -1))
        if normalize:
            value = value / np.maximum(cells.sum(axis=(-2, -1)), 1e-12)
        return float(value) if np.ndim(value) == 0 else value

    def get_entropy(self, ids_time=None, ids_feature=None, normalize=False):
        """Mask entropy ``sum H(m)`` over the submask's cells, with the binary entropy
        ``H(m) = -m log2 m - (1 - m) log2(1 - m)`` (0 for m in {0, 1}).

        ``normalize=True`` divides by the entropy of the whole mask (0 when the whole
        mask is binary). A float, or ``(N,)`` for a batch.
        """
        value = entropy_bits(self.extract_submask(ids_time, ids_feature))
        if normalize:
            whole = entropy_bits(self.mask_tensor)
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
        """Heatmap of the mask (time on x, features on y), via ``time_feature_heatmap``;
        padded steps are hatched grey.

        Args:
            sample: which series of a batch.
            ids_time, ids_feature: restrict to these steps / features.
            smooth: smooth over time with this Gaussian width first.
            feature_names, ax, title, **kwargs: passed to ``time_feature_heatmap``.

        Returns:
            ``(figure, axes)``.
        """
        from tf_tsexplain.plot import time_feature_heatmap

        m = self.get_smooth_mask(smooth) if smooth else self.mask_tensor
        if m.ndim == 3:
            m = m[check_int(sample, "sample", min_val=0, max_val=m.shape[0] - 1)]
        t, f = m.shape
        ids_t = np.arange(t) if ids_time is None else np.asarray(ids_time, int)
        ids_f = np.arange(f) if ids_feature is None else np.asarray(ids_feature, int)
        names = None if feature_names is None else [list(feature_names)[i] for i in ids_f]
        if title is None:
            ratio = np.ravel(self.keep_ratio)[sample if np.size(self.keep_ratio) > 1 else 0]
            title = f"Mask (area {ratio:g})"
        real = self.padding_mask
        if real is not None:
            real = (real if real.ndim == 1 else real[sample])[ids_t]
        fig, ax = time_feature_heatmap(
            m[np.ix_(ids_t, ids_f)],
            padding_mask=real,
            feature_names=names,
            ax=ax,
            title=title,
            cmap="Reds",
            colorbar_label=kwargs.pop("colorbar_label", "mask value (1 = keep)"),
            **kwargs,
        )
        ax.images[0].set_clim(0.0, 1.0)
        return fig, ax
