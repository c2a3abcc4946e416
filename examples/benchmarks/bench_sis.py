"""Benchmark: batched exact SIS collections vs a one-input-at-a-time reference.

An LSTM(16) classifier on inputs of 50 steps x 10 features (500 cells), trained on a
synthetic task; the 16 least confident of 400 test inputs classified with probability
>= 0.85 (so that SIS need several cells and collections stay short); exact SIS
collections with cell masks, threshold 0.8 on the predicted-class probability:

- tf_tsexplain: ``SISExplainer(...).explain(x)``: the backward selections of all
  inputs advance together, masked copies are built inside one compiled function and
  scored in batches of ``batch_size`` rows;
- reference: the published algorithm written plainly in numpy (below), one input at
  a time, calling the same Keras model once per backward-selection step on that
  step's masked copies, (1) eagerly, ``model(batch)``, as a straightforward port
  does, and (2) through one compiled ``tf.function`` of the model, as a careful one
  does. The references run on the first 2 inputs only (the eager one takes minutes
  per input at 500 cells); ratios are on those same inputs, and per input for all.

Both must give identical SIS (checked). Also times the approximate mode
(gradient-guided, k positions per step) and compares its SIS sizes with the exact
ones.

    python examples/benchmarks/bench_sis.py           # full (several minutes)
    python examples/benchmarks/bench_sis.py --quick   # small smoke run
    python examples/benchmarks/bench_sis.py --skip-eager   # without the slow eager reference
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_tsexplain.datasets import sequence_regression  # noqa: E402
from tf_tsexplain.sis import SISExplainer  # noqa: E402

FULL = {"steps": 50, "features": 10, "inputs": 16, "train": 2000, "epochs": 10, "ref_inputs": 2}
QUICK = {"steps": 12, "features": 4, "inputs": 4, "train": 1000, "epochs": 8, "ref_inputs": 2}
POOL = 400  # test inputs from which the explained ones are chosen
THRESHOLD = 0.8
TARGET = 5.0


def reference_collection(model, cls, threshold, x, masked):  # noqa: C901
    """The SIS collection of one input, straight from the algorithm's definition."""
    mask = np.ones(x.shape, bool)
    collection = []
    while mask.any():
        start = model(np.where(mask, x, masked)[None])[0, cls]
        if start < threshold:
            break
        current = mask.copy()
        order, values = [], []
        while current.any():
            positions = np.argwhere(current)
            batch = np.repeat(current[None], len(positions), axis=0)
            batch[np.arange(len(positions)), positions[:, 0], positions[:, 1]] = False
            scores = model(np.where(batch, x, masked))[:, cls]
            best = int(np.argmax(scores))  # first maximum: lowest index
            current[tuple(positions[best])] = False
            order.append(positions[best])
            values.append(scores[best])
        cut = 0
        for i in range(len(order) - 1, 0, -1):
            if values[i - 1] >= threshold:
                cut = i
                break
        sis = np.array(order[cut:][::-1])
        collection.append(sis)
        mask[tuple(sis.T)] = False
    return collection


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def build(cfg):
    x, y, _ = sequence_regression(
        cfg["train"] + POOL, n_steps=cfg["steps"], n_features=cfg["features"], seed=0
    )
    labels = (y > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((cfg["steps"], cfg["features"])),
            keras.layers.LSTM(16),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[: cfg["train"]], labels[: cfg["train"]], epochs=cfg["epochs"], verbose=0)
    pool = x[cfg["train"] :]
    # the least confident inputs above 0.85: SIS need several cells, collections stay
    # short (a saturated input has one-cell SIS and a collection per relevant cell)
    confidence = model(pool).numpy().max(1)
    eligible = np.flatnonzero(confidence >= 0.85)
    chosen = eligible[np.argsort(confidence[eligible], kind="stable")[: cfg["inputs"]]]
    return model, pool[chosen]


def main(argv=None):
    parser = argparse.ArgumentParser(description="SIS benchmark")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--skip-eager", action="store_true", help="skip the eager reference (minutes per input)"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, TF {tf.__version__}, Keras {keras.__version__}"
    )
    model, x = build(cfg)
    predicted = model(x).numpy().argmax(1)
    masked = np.zeros_like(x)
    print(
        f"{cfg['inputs']} inputs of {cfg['steps']} x {cfg['features']} cells, threshold "
        f"{THRESHOLD}; predicted-class probabilities: "
        f"{np.round(model(x).numpy().max(1), 2).tolist()}"
    )

    explainer = SISExplainer(model, threshold=THRESHOLD, fully_masked_input=0.0)
    explainer.explain(x[:1], batch_size=8192)  # trace once, untimed (per explainer and shape)
    ours_s, ours = timed(lambda: explainer.explain(x, batch_size=8192))
    n_ref = cfg["ref_inputs"]
    ours_subset_s, _ = timed(lambda: explainer.explain(x[:n_ref], batch_size=8192))

    # The reference, one input at a time, calling the model once per selection step:
    # (1) plainly, model(batch) in eager mode; (2) through one compiled tf.function.
    def eager(batch):
        return model(batch.astype("float32"), training=False).numpy()

    compiled_model = tf.function(
        lambda b: model(b, training=False), input_signature=[tf.TensorSpec((None,) + x.shape[1:])]
    )

    def compiled(batch):
        return compiled_model(batch.astype("float32")).numpy()

    compiled(x[:2])
    runs = {}
    references = [("eager model(batch)", eager), ("compiled model call", compiled)]
    for name, call in references[1:] if args.skip_eager else references:
        runs[name] = timed(
            lambda call=call: [
                reference_collection(call, predicted[i], THRESHOLD, x[i], masked[i])
                for i in range(n_ref)
            ]
        )

    identical = all(
        len(a) == len(b) and all(np.array_equal(r.sis, s) for r, s in zip(a, b, strict=True))
        for _, reference in runs.values()
        for a, b in zip(ours[:n_ref], reference, strict=True)
    )
    approx = SISExplainer(model, threshold=THRESHOLD, approximate=True, k=10)
    approx.explain(x[:1])
    approx_s, approximate = timed(lambda: approx.explain(x))

    sizes = [len(c[0]) if c else 0 for c in ours]
    approx_sizes = [len(c[0]) if c else 0 for c in approximate]
    print(f"SIS per input (exact)      : {[len(c) for c in ours]}")
    print(f"SIS per input (approximate): {[len(c) for c in approximate]}")
    print(f"first SIS sizes, exact      : {sizes}")
    print(f"first SIS sizes, approximate: {approx_sizes} (k = 10)")
    print(f"identical SIS (tf_tsexplain vs both references, first {n_ref} inputs): {identical}")
    print()
    print(f"on the first {n_ref} inputs:")
    print(f"  tf_tsexplain exact, batched          : {ours_subset_s:8.2f} s")
    for name, (seconds, _) in runs.items():
        ratio = seconds / ours_subset_s
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(
            f"  reference, {name:<26}: {seconds:8.2f} s -> speedup {ratio:6.1f}x "
            f"(target >= {TARGET:.0f}x: {verdict})"
        )
    print(f"on all {len(x)} inputs:")
    print(
        f"  tf_tsexplain exact, batched          : {ours_s:8.2f} s ({ours_s / len(x):.2f} s/input)"
    )
    n_exact = sum(len(c) for c in ours)
    n_approx = sum(len(c) for c in approximate)
    print(
        f"  tf_tsexplain approximate             : {approx_s:8.2f} s "
        f"({ours_s / approx_s:.1f}x faster; collections differ in length)"
    )
    per_exact, per_approx = ours_s / n_exact, approx_s / n_approx
    print(
        f"  time per SIS found: exact {per_exact:.2f} s ({n_exact} SIS), approximate "
        f"{per_approx:.2f} s ({n_approx} SIS) -> {per_exact / per_approx:.1f}x"
    )
    for name, (seconds, _) in runs.items():
        per_input = seconds / n_ref
        print(
            f"  reference, {name:<26}: {per_input:8.2f} s/input -> per-input speedup "
            f"{per_input / (ours_s / len(x)):6.1f}x"
        )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
