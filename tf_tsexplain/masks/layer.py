"""The mask as a Keras layer: trainable values in [0, 1] fed to a perturbation."""

from __future__ import annotations

import keras
import tensorflow as tf


class UnitInterval(keras.constraints.Constraint):
    """Clamp weights to [0, 1] (applied after each optimiser step)."""

    def __call__(self, w):
        return keras.ops.clip(w, 0.0, 1.0)


class MaskLayer(keras.layers.Layer):
    """Holds mask values ``m`` of shape ``mask_shape`` and perturbs inputs with them.

    ``layer(inputs)`` returns ``perturbation(inputs, m)`` (``1 - m`` in deletion
    mode), e.g. inputs ``(N, T, F)`` and ``mask_shape = (A, N, T, F)``: ``A`` masks per
    series, perturbed series ``(A, N, T, F)``.

    Args:
        mask_shape: shape of the mask weights, broadcastable against the inputs.
        perturbation: a layer called as ``perturbation(inputs, mask)``.
        initial_value: the starting value of every mask entry, in [0, 1].
        deletion_mode: perturb with ``1 - m`` (the mask then marks what is deleted).
    """

    def __init__(
        self,
        mask_shape: tuple[int, ...],
        perturbation: keras.layers.Layer,
        initial_value: float = 0.5,
        deletion_mode: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mask_shape = tuple(int(d) for d in mask_shape)
        self.perturbation = perturbation
        self.initial_value = float(initial_value)
        self.deletion_mode = bool(deletion_mode)
        self.mask = self.add_weight(
            shape=self.mask_shape,
            initializer=keras.initializers.Constant(self.initial_value),
            constraint=UnitInterval(),
            trainable=True,
            name="mask",
        )

    def call(self, inputs, real=None):
        """Perturbed inputs; with ``real`` (``(..., T, 1)``, 1 on real steps, 0 on
        padded ones) padded cells are kept exactly and the perturbation sees only
        the real steps (it must have ``handles_padding``)."""
        m = tf.cast(self.mask.value, inputs.dtype)
        if self.deletion_mode:
            m = 1.0 - m
        if real is None:
            return self.perturbation(inputs, m)
        keep = tf.cast(real, inputs.dtype) > 0
        m = tf.where(keep, m, tf.ones_like(m))
        return tf.where(keep, self.perturbation(inputs, m, real=real), inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "mask_shape": self.mask_shape,
            "initial_value": self.initial_value,
            "deletion_mode": self.deletion_mode,
        }
