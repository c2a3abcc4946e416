"""Diagnostic: ContraLSP on Switch-Feature, a classifier's probabilities vs its logits.

Usage (a minute or two on 2 cores)::

    flock /tmp/heavy.lock env PYTHONPATH=. python \
        examples/benchmarks/diag_contralsp_switch.py {analytic|gru} EPOCHS [logits] [x]

``analytic``: 32 series, a black box ``sigmoid(3 x[t, s_t])`` with a fixed state pattern.
``gru``: 232 series of 50 steps, a GRU(50) trained 15 epochs on 200, the 32 others
explained; ``logits`` explains the classifier without its softmax (as the reference,
whose classifiers return logits); a 4th argument also runs ExtremalMask.
See docs/guide/contralsp-timing.md.
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain import metrics
from tf_tsexplain.datasets import switch_feature_data
from tf_tsexplain.masks import ContraLSP, ExtremalMask


def report(tag, truth, m):
    aup = metrics.area_under_precision(truth, m, integration="trapezoid")
    aur = metrics.area_under_recall(truth, m, integration="trapezoid")
    auroc = metrics.auroc(truth, m)
    print(f"{tag} AUP {aup:.3f} AUR {aur:.3f} AUROC {auroc:.3f} area {m.mean():.3f}", flush=True)


def main(argv):
    mode = argv[1] if len(argv) > 1 else "analytic"
    epochs = int(argv[2]) if len(argv) > 2 else 200
    x, y, truth, _ = switch_feature_data(232, 50, seed=0)
    if mode == "analytic":
        states = np.repeat([0, 1, 2, 0, 1], 10)
        onehot = tf.constant(np.eye(3, dtype=np.float32)[states])

        def f(batch):
            return tf.sigmoid(3.0 * tf.reduce_sum(batch * onehot, -1))[..., None]

        xs = x[:32]
        ts = np.broadcast_to(np.eye(3, dtype=bool)[states], xs.shape)
    else:
        keras.utils.set_random_seed(0)
        f = keras.Sequential(
            [
                keras.Input((50, 3)),
                keras.layers.GRU(50, return_sequences=True),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        f.compile(
            keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        f.fit(x[:200], y[:200], epochs=15, batch_size=32, verbose=0)
        print("accuracy", f.evaluate(x[200:], y[200:], verbose=0)[1])
        xs, ts = x[200:], truth[200:]
        if "logits" in argv:
            f.layers[-1].activation = keras.activations.linear
    started = time.time()
    fitted = ContraLSP().fit(xs, f, n_epoch=epochs, seed=0)
    m = fitted.mask_tensor
    report("contralsp", ts, m)
    report("contralsp 1-m", ts, 1 - m)
    print(
        f"mask mean on truth {m[ts].mean():.3f}, off {m[~ts].mean():.3f}; "
        f"{time.time() - started:.1f} s; mean |x^r| {np.abs(fitted.replacement).mean():.4f}"
    )
    if len(argv) > 4 or (len(argv) > 3 and "logits" not in argv):
        report("extremal", ts, ExtremalMask().fit(xs, f, n_epoch=epochs, seed=0).mask_tensor)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
