"""Benchmark: the exported ``explain`` signature vs the in-process explainer.

An LSTM(32) classifier (3 classes) on sequences of 30 steps x 4 features; integrated
gradients of the predicted class with 64 Gauss-Legendre nodes for 64 inputs
(4096 path points). Times, warm (best of 3 calls after one warm-up):

- ``explain`` signature of a SavedModel written by ``export_explainer`` and reloaded
  with ``tf.saved_model.load`` (what TF Serving runs, minus the network);
- ``PathExplainerTF.attributions`` in the same process on the original model;
- raw lower bound: one ``tf.function`` computing the gradients of all 4096 path
  points in a single model call (no chunking, no bookkeeping).

Also prints the export time, the SavedModel size, the agreement of the two
attributions and the largest approximation error.

    python examples/benchmarks/bench_serving.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF  # noqa: E402
from tf_tsexplain._quadrature import gauss_legendre_01  # noqa: E402
from tf_tsexplain.serving import export_explainer  # noqa: E402


def best_of(fn, repeats=3):
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 inputs, 16 nodes")
    args = parser.parse_args()
    n, k = (8, 16) if args.quick else (64, 64)
    t, f = 30, 4
    print(machine_line())
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((t, f)), keras.layers.LSTM(32), keras.layers.Dense(3, activation="softmax")]
    )
    x = np.random.default_rng(0).normal(size=(n, t, f)).astype(np.float32)
    cls = model(x).numpy().argmax(1)
    baseline = np.zeros((1, t, f), np.float32)
    rows = n * k
    print(f"task: integrated gradients, {n} inputs x {k} nodes = {rows} path points")

    folder = tempfile.mkdtemp()
    try:
        start = time.perf_counter()
        export_explainer(
            model,
            os.path.join(folder, "1"),
            num_samples=k,
            output_indices="predicted",
            batch_size=rows,
        )
        export_time = time.perf_counter() - start
        size = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(folder)
            for name in names
        )
        explain = tf.saved_model.load(os.path.join(folder, "1")).signatures["explain"]
        xt = tf.constant(x)
        served = {key: v.numpy() for key, v in explain(inputs=xt).items()}
        signature_time = best_of(lambda: explain(inputs=xt)["attributions"].numpy())
    finally:
        shutil.rmtree(folder)

    explainer = PathExplainerTF(model)

    def in_process():
        return explainer.attributions(
            x, baseline, batch_size=rows, num_samples=k, use_expectation=False,
            output_indices=cls,
        )  # fmt: skip

    local = in_process()
    local_time = best_of(in_process)

    nodes, weights = gauss_legendre_01(k)
    points = tf.constant(
        (nodes[None, :, None, None] * x[:, None]).reshape(rows, t, f).astype(np.float32)
    )
    row_cls = tf.constant(np.repeat(cls, k).astype(np.int32))

    @tf.function
    def raw(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            y = tf.gather(model(points, training=False), row_cls, axis=1, batch_dims=1)
        return tape.gradient(y, points)

    raw_time = best_of(lambda: raw(points).numpy())

    print(f"export_explainer: {export_time:.2f} s, SavedModel {size / 1e6:.2f} MB")
    print(f"explain signature (reloaded SavedModel): {signature_time:.3f} s")
    print(f"PathExplainerTF in process:              {local_time:.3f} s")
    print(f"raw one-call gradient bound:             {raw_time:.3f} s")
    print(f"-> signature / in-process = {signature_time / local_time:.2f}x")
    print(f"-> signature / raw bound  = {signature_time / raw_time:.2f}x")
    diff = np.abs(served["attributions"] - local).max()
    print(f"max |signature - in-process| attribution difference: {diff:.2e}")
    print(f"max approximation error (signature): {served['approximation_error'].max():.2e}")


if __name__ == "__main__":
    main()
