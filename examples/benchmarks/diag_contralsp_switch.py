"""Diagnostic: ContraLSP on Switch-Feature, probabilities vs logits (see docs/guide/contralsp-timing.md).

Usage: PYTHONPATH=. python examples/benchmarks/diag_contralsp_switch.py {analytic|gru} EPOCHS [logits] [x]
"""
import sys, time
import numpy as np, keras, tensorflow as tf
from tf_tsexplain import metrics
from tf_tsexplain.datasets import switch_feature_data
from tf_tsexplain.masks import ContraLSP, ExtremalMask

mode = sys.argv[1] if len(sys.argv) > 1 else "analytic"
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
x, y, truth, states = switch_feature_data(232, 50, seed=0)
def sc(tag, t, m):
    print(tag, "AUP %.3f AUR %.3f AUROC %.3f area %.3f" % (
        metrics.area_under_precision(t, m, integration="trapezoid"),
        metrics.area_under_recall(t, m, integration="trapezoid"), metrics.auroc(t, m), m.mean()), flush=True)
if mode == "analytic":
    s = np.repeat([0, 1, 2, 0, 1], 10)
    onehot = tf.constant(np.eye(3, dtype=np.float32)[s])  # (T, 3)
    def f(b):
        return tf.sigmoid(3.0 * tf.reduce_sum(b * onehot, -1))[..., None]
    xs = x[:32]; ts = np.broadcast_to(np.eye(3, dtype=bool)[s], xs.shape)
else:
    keras.utils.set_random_seed(0)
    f = keras.Sequential([keras.Input((50, 3)), keras.layers.GRU(50, return_sequences=True), keras.layers.Dense(2, activation="softmax")])
    f.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    f.fit(x[:200], y[:200], epochs=15, batch_size=32, verbose=0)
    print("acc", f.evaluate(x[200:], y[200:], verbose=0)[1])
    xs, ts = x[200:], truth[200:]
    if "logits" in sys.argv:
        f.layers[-1].activation = keras.activations.linear
        print("logits", f(xs[:1]).numpy()[0, :2])
t0 = time.time()
c = ContraLSP().fit(xs, f, n_epoch=epochs, seed=0)
m = c.mask_tensor; sc("contralsp", ts, m); sc("contralsp 1-m", ts, 1 - m)
print("mask mean on truth %.3f off %.3f" % (m[ts].mean(), m[~ts].mean()), "t", time.time() - t0)
print("replacement abs mean", np.abs(c.replacement).mean(), "x abs", np.abs(xs).mean())
if len(sys.argv) > 3:
    e = ExtremalMask().fit(xs, f, n_epoch=epochs, seed=0).mask_tensor; sc("extremal", ts, e)
