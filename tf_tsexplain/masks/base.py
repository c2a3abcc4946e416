"""What ``Mask`` and ``MaskGroup`` share: constructor checks, the fit call, the fitted state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tf_tsexplain._validation import NotFittedError, check_bool, check_choice, check_real
from tf_tsexplain.masks._fit import TASKS, fit_masks


def check_jit_compile(jit_compile) -> bool | str:
    """``jit_compile`` as True, False or "auto"."""
    if isinstance(jit_compile, bool | np.bool_):
        return bool(jit_compile)
    if isinstance(jit_compile, str):
        return check_choice(jit_compile, "jit_compile", ("auto",))
    raise TypeError(
        "`jit_compile` must be True, False or 'auto'. Received: "
        f"jit_compile={jit_compile!r} ({type(jit_compile).__name__})."
    )


@dataclass(frozen=True)
class FittedMasks:
    """The result of a fit: ``A`` masks for each of ``N`` series."""

    masks: np.ndarray  # (A, N, T, F)
    errors: np.ndarray  # (A, N): the error of each final mask, without regularisers
    x: np.ndarray  # (N, T, F) float32: the series
    target: np.ndarray  # (N, ...): what the perturbed predictions were compared with
    single: bool  # X was one series (T, F): results drop the N axis
    loss_function: object
    real: np.ndarray | None = None  # (N, T): True on real steps; None without padding

    def real_cells(self) -> np.ndarray | None:
        """``(N, T, F)`` True on cells of real steps, or None without padding."""
        if self.real is None:
            return None
        return np.broadcast_to(self.real[:, :, None], self.x.shape)


class MaskBase:
    """Base class of :class:`Mask` and :class:`MaskGroup`; not for direct use.

    Holds and checks the constructor arguments, runs the shared training loop and
    keeps its result. Asked for a result before ``fit``, a subclass raises
    :class:`tf_tsexplain._validation.NotFittedError` (a ``ValueError`` and an
    ``AttributeError``), so ``hasattr(mask, "mask_tensor")`` is False until the fit.

    Args:
        perturbation: a perturbation layer from ``tf_tsexplain.masks`` (e.g.
            ``GaussianBlur()``), called as ``perturbation(inputs, mask)``.
        task: "regression" or "classification" (the log losses need the latter and
            probabilities from ``f``).
        deletion_mode: fit the mask of what to delete (the perturbation uses
            ``1 - m`` and the error is maximised) instead of what to keep.
        eps: the small constant > 0 of the information log ``-log2(1 + eps - m)``
            (the default of ``get_information``; the fit does not use it).
        jit_compile: compile the training loop with XLA (True; the model must be
            XLA-compatible), without (False), or "auto" (default): whichever is
            faster for this model and these shapes on this device, timed on the
            first fit (a few epochs of each; see ``tf_tsexplain.masks._compile``) and
            remembered with the compiled loop. On CPU, XLA is often slower for
            recurrent and convolutional models; a model XLA cannot compile runs
            without it. The choice of the last fit is ``compilation``. The compiled
            loop is cached: later fits with the same ``f``, perturbation, loss, mode
            and shapes reuse it (see ``clear_fit_cache``).
    Raises:
        TypeError: an argument of the wrong kind (e.g. ``eps="1e-7"``, a
            ``perturbation`` that is not callable).
        ValueError: a wrong value (e.g. ``task="ranking"``, ``eps=0``).
    """

    def __init__(
        self,
        perturbation,
        task: str = "regression",
        deletion_mode: bool = False,
        eps: float = 1e-7,
        jit_compile: bool | str = "auto",
    ):
        if not callable(perturbation):
            raise TypeError(
                "`perturbation` must be a layer called as perturbation(inputs, mask). "
                f"Received: perturbation={perturbation!r}."
            )
        self.perturbation = perturbation
        self.task = check_choice(task, "task", TASKS)
        self.deletion_mode = check_bool(deletion_mode, "deletion_mode")
        self.eps = check_real(eps, "eps", min_val=0.0, include_min=False)
        self.jit_compile = check_jit_compile(jit_compile)
        self._fitted: FittedMasks | None = None
        self._compilation = None

    def _constructor_args(self) -> tuple:
        return (self.perturbation, self.task, self.deletion_mode, self.eps, self.jit_compile)

    def _run_fit(self, X, f, keep_ratios, loss_function, target, output_indices, settings):
        """Fit ``len(keep_ratios)`` masks per series and keep the result."""
        result, single = fit_masks(
            X,
            f,
            keep_ratios,
            self.perturbation,
            loss_function,
            target,
            task=self.task,
            deletion_mode=self.deletion_mode,
            jit_compile=self.jit_compile,
            output_indices=output_indices,
            **settings,
        )
        self._fitted = FittedMasks(
            masks=result.masks,
            errors=result.errors,
            x=result.x,
            target=result.target,
            single=single,
            loss_function=loss_function,
            real=result.real,
        )
        self._compilation = result.choice

    @property
    def compilation(self):
        """How the last fit was compiled: a ``Choice`` with ``xla`` (True when XLA ran),
        the timings "auto" chose by (``plain_epoch``, ``xla_epoch``, ``xla_compile``,
        seconds) and ``describe()``; None before a fit."""
        return self._compilation

    def _state(self) -> FittedMasks:
        """The fitted state, or NotFittedError."""
        if self._fitted is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit() first, e.g. "
                f"{type(self).__name__}(perturbation).fit(X, f, ...)."
            )
        return self._fitted

    def _squeeze(self, values: np.ndarray, axis: int):
        """``values`` without its series axis when one series ``(T, F)`` was fitted."""
        return np.take(values, 0, axis=axis) if self._state().single else values

    # ------------------------------------------------------------ shared results
    @property
    def X(self) -> np.ndarray:
        """The fitted series, float32, shaped as given (``(T, F)`` or ``(N, T, F)``)."""
        return self._squeeze(self._state().x, 0)

    @property
    def padding_mask(self) -> np.ndarray | None:
        """``(T,)`` or ``(N, T)`` booleans, True on real steps, or None when no step of
        the fitted series is padding. Padded cells hold mask value 0 and were never
        perturbed."""
        real = self._state().real
        return None if real is None else self._squeeze(real, 0)

    @property
    def target(self) -> np.ndarray:
        """What the perturbed predictions were compared with (per series)."""
        return self._squeeze(self._state().target, 0)

    @property
    def loss_function(self):
        """The loss of the fit."""
        return self._state().loss_function
