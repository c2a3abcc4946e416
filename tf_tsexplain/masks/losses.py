"""Errors between perturbed and target predictions, one value per row.

Every loss takes ``(y_pred, y_target)`` with ``y_pred`` of shape ``(rows, ...)`` and
``y_target`` of the same shape (``log_loss_target``: class ids of shape
``y_pred.shape[:-1]``) and returns ``(rows,)``: the mean over all axes but the first.
Keeping rows apart is what lets many masks be fitted in one batch, each with the
gradient of its own error. A custom loss must follow the same contract.
"""

from __future__ import annotations

import tensorflow as tf

_TINY = 1e-7  # probabilities are clipped to [_TINY, 1] before a log


def _row_mean(values: tf.Tensor) -> tf.Tensor:
    rows = tf.shape(values)[0]
    return tf.reduce_mean(tf.reshape(values, tf.stack([rows, -1])), axis=1)


def mse(y_pred, y_target) -> tf.Tensor:
    """Mean squared error per row: ``mean((y_pred - y_target)^2)``."""
    y_target = tf.cast(y_target, y_pred.dtype)
    return _row_mean(tf.square(y_pred - y_target))


def cross_entropy(y_pred, y_target) -> tf.Tensor:
    """Cross-entropy per row: ``-mean(y_target * log(y_pred))``.

    ``y_pred`` and ``y_target`` are probabilities over the last axis (classes).
    """
    y_target = tf.cast(y_target, y_pred.dtype)
    p = tf.clip_by_value(y_pred, _TINY, 1.0)
    return -_row_mean(y_target * tf.math.log(p))


def log_loss(y_pred, y_target) -> tf.Tensor:
    """Binary log loss per row:
    ``-mean(y_target log(y_pred) + (1 - y_target) log(1 - y_pred))``.

    Both are probabilities of the positive class.
    """
    y_target = tf.cast(y_target, y_pred.dtype)
    p = tf.clip_by_value(y_pred, _TINY, 1.0 - _TINY)
    return -_row_mean(y_target * tf.math.log(p) + (1.0 - y_target) * tf.math.log(1.0 - p))


def log_loss_target(y_pred, target) -> tf.Tensor:
    """Negative log-probability of the target class per row: ``-mean(log y_pred[target])``.

    ``y_pred`` holds class probabilities on its last axis, ``target`` the class ids
    (shape ``y_pred.shape[:-1]``).
    """
    target = tf.cast(target, tf.int32)
    picked = tf.gather(y_pred, target, axis=-1, batch_dims=target.shape.rank)
    return -_row_mean(tf.math.log(tf.clip_by_value(picked, _TINY, 1.0)))


PROBABILITY_LOSSES = (cross_entropy, log_loss, log_loss_target)
