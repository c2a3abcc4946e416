"""Speed of the mask fits on the State setting, shared by bench_masks.py and bench_extremal.py.

The black boxes of issue 28: the Dynamask State classifier (a GRU(200) with one
softmax per step, on series of 200 steps x 3 features) and an InceptionTime-like
Conv1D classifier (100 steps x 6 features). Weights are untrained: the time of an
epoch does not depend on their values. Every figure is wall-clock seconds on the
machine printed by ``_machine.machine_line``.
"""

from __future__ import annotations

import resource
import time

import keras
import numpy as np
import tensorflow as tf


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gru_classifier(units: int = 200, steps: int = 200, features: int = 3) -> keras.Model:
    """The State black box: GRU(units) over the series, a softmax over 2 classes per step."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((steps, features)),
            keras.layers.GRU(units, return_sequences=True),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def inception_classifier(steps: int = 100, features: int = 6, classes: int = 4) -> keras.Model:
    """An InceptionTime-like classifier: 2 inception blocks (bottleneck, kernels 9 / 19 /
    39 and a max-pool branch, 32 filters each, batch norm, ReLU), global average pooling,
    softmax."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((steps, features))
    h = inputs
    for _ in range(2):
        bottleneck = keras.layers.Conv1D(32, 1, padding="same", use_bias=False)(h)
        branches = [
            keras.layers.Conv1D(32, k, padding="same", use_bias=False)(bottleneck)
            for k in (9, 19, 39)
        ]
        pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same")(h)
        branches.append(keras.layers.Conv1D(32, 1, padding="same", use_bias=False)(pooled))
        h = keras.layers.Concatenate()(branches)
        h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(h))


def timed(fn):
    """``(value, seconds)`` of ``fn()``."""
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def model_epoch_bound(model, x: np.ndarray, rows: int, copies: int) -> float:
    """Seconds of the least work of one epoch: ``f`` forward and the gradient with
    respect to its input (nothing else: no perturbation, no loss beyond a sum), on
    ``copies`` x N rows sent ``rows`` at a time, without XLA, traced once and timed
    warm (the best of 2)."""
    chunk = tf.Variable(np.resize(x, (rows,) + x.shape[1:]))

    @tf.function
    def step():
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(chunk)
            total = tf.reduce_sum(model(chunk))
        return tape.gradient(total, chunk)

    step()
    calls = int(np.ceil(copies * len(x) / rows))
    best = min(timed(lambda: [step() for _ in range(calls)])[1] for _ in range(2))
    return best


# Dynamask's State run as the paper's repository runs it (see bench_extremal.py for the
# one deviation, the learning rate of the per-area loss).
STATE_AREAS = [round(0.25 + 0.01 * k, 2) for k in range(10)]
DYNAMASK_STATE = dict(
    n_epoch=1000,
    learning_rate=0.1,  # the reference: 1.0 on the loss averaged over 10 areas
    size_reg_factor_init=0.1,
    size_reg_factor_dilation=100,
    initial_mask_coeff=0.5,
    momentum=1.0,  # as the reference: an undamped sum of all past gradients
    time_reg_factor=1.0,
)
