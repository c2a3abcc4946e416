"""Benchmark: batched exact SIS collections vs a compiled one-input-at-a-time reference.

An LSTM(32) classifier on inputs of 50 steps x 10 features (500 cells), trained on a
synthetic task; exact SIS collections with cell masks, threshold 0.8 on the
predicted-class probability, for 4 inputs in two cases:

- not degenerate: the fully masked input (zeros) is well below the threshold (f <
  0.5); the 4 least confident such inputs classified with probability >= 0.85 (SIS
  need several cells and collections stay short);
- degenerate: the fully masked input is a confident example of the explained class
  (its probability >= 0.95), so f with every cell masked already reaches the
  threshold: each collection is one empty SIS (the reference's semantics).

Systems, both called as a user calls them:

- tf_tsexplain: ``SISExplainer(...).explain(x)`` with default arguments (batch size
  from the memory budget): the backward selections of all inputs advance together,
  masked copies are built inside one compiled function;
- reference: the published algorithm written plainly in numpy (below), one input at
  a time, calling one compiled ``tf.function`` of the model (``None`` batch axis)
  once per backward-selection step on that step's masked copies.

The raw bound is the model alone on as many rows as the reference evaluated, 2,048
rows per call: exact SIS need those rows however they are batched (about d (d + 1) / 2
per SIS for d positions), so once a call of a few hundred rows keeps the cores busy,
batching inputs together gains little and only the model's own arithmetic is left
(XLA, whose fused float rounding changes the SIS).

Both must give identical SIS (checked). Target: identical in both cases, and the
batched explainer >= 1.5x faster than the reference in the non-degenerate case.
Also times the approximate mode (gradient-guided, k positions per step, batched
across inputs) against the exact one.

    python examples/benchmarks/bench_sis.py           # full (a few minutes)
    python examples/benchmarks/bench_sis.py --quick   # small smoke run
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain.datasets import sequence_regression  # noqa: E402
from tf_tsexplain.sis import SISExplainer  # noqa: E402

FULL = {"steps": 50, "features": 10, "inputs": 4, "train": 2000, "epochs": 10, "units": 32}
QUICK = {"steps": 12, "features": 4, "inputs": 4, "train": 1000, "epochs": 8, "units": 8}
POOL = 400  # test inputs from which the explained ones are chosen
THRESHOLD = 0.8
TARGET = 1.5
RAW_BLOCK = 2048


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
        if values[-1] >= threshold:  # every cell masked still reaches tau: empty SIS
            collection.append(np.zeros((0, 2), int))
            break
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
            keras.layers.LSTM(cfg["units"]),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[: cfg["train"]], labels[: cfg["train"]], epochs=cfg["epochs"], verbose=0)
    return model, x[cfg["train"] :]


def choose_cases(model, pool, n):
    """(inputs, fully masked input) of the two cases."""
    probabilities = model(pool).numpy()
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    zero = model(np.zeros((1,) + pool.shape[1:], np.float32)).numpy()[0]
    # well below the threshold with every cell masked (0.5): near the threshold, SIS
    # chains of single cells depend on float rounding (batch sizes change it)
    eligible = np.flatnonzero((confidence >= 0.85) & (zero[predicted] < 0.5))
    chosen = eligible[np.argsort(confidence[eligible], kind="stable")[:n]]
    normal = (pool[chosen], np.zeros(pool.shape[1:], np.float32))
    # degenerate: mask with the most confident example of a class, explain others of it
    cls = int(np.bincount(predicted).argmax())
    same = np.flatnonzero((predicted == cls) & (confidence >= 0.85))
    exemplar = same[np.argmax(confidence[same])]
    others = [i for i in same[np.argsort(confidence[same], kind="stable")] if i != exemplar][:n]
    degenerate = (pool[others], pool[exemplar])
    return normal, degenerate


def run_case(name, model, x, masked, compiled, also_xla=False):
    predicted = model(x).numpy().argmax(1)
    f_masked = model(masked[None]).numpy()[0, predicted]
    print(
        f"\n{name}: {len(x)} inputs, predicted-class probabilities "
        f"{np.round(model(x).numpy().max(1), 3).tolist()}, f(fully masked) "
        f"{np.round(f_masked, 3).tolist()}"
    )
    explainer = SISExplainer(model, threshold=THRESHOLD, fully_masked_input=masked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer.explain(x[:1], max_sis=1)  # trace and probe once, untimed
        ours_s, ours = timed(lambda: explainer.explain(x))
    rows = [0]

    def counted(batch):
        rows[0] += len(batch)
        return compiled(batch)

    reference_s, reference = timed(
        lambda: [
            reference_collection(counted, predicted[i], THRESHOLD, x[i], masked)
            for i in range(len(x))
        ]
    )
    # raw bound: the model's own arithmetic on those rows at its best batch size
    block = np.repeat(x[:1], RAW_BLOCK, axis=0)
    compiled(block)
    per_block, _ = timed(lambda: [compiled(block) for _ in range(3)])
    raw_s = rows[0] / RAW_BLOCK * per_block / 3
    identical = all(
        len(a) == len(b) and all(np.array_equal(r.sis, s) for r, s in zip(a, b, strict=True))
        for a, b in zip(ours, reference, strict=True)
    )
    ratio = reference_s / ours_s
    print(
        f"  SIS per input: {[len(c) for c in ours]}; sizes: {[[len(s) for s in c] for c in ours]}"
    )
    print(f"  tf_tsexplain, defaults           : {ours_s:8.2f} s")
    print(f"  reference, compiled model per step: {reference_s:8.2f} s -> ratio {ratio:5.2f}x")
    print(
        f"  raw bound, the model alone on the reference's {rows[0]:,} rows "
        f"({RAW_BLOCK} per call): {raw_s:8.2f} s; ours {ours_s / raw_s:5.2f}x it, "
        f"reference {reference_s / raw_s:5.2f}x it"
    )
    print(f"  identical SIS: {identical}")
    if also_xla:
        xla = SISExplainer(model, threshold=THRESHOLD, fully_masked_input=masked, jit_compile=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xla.explain(x[:1], max_sis=1)
            xla_s, with_xla = timed(lambda: xla.explain(x))
        same = all(
            len(a) == len(b) and all(np.array_equal(r.sis, s) for r, s in zip(a, b, strict=True))
            for a, b in zip(with_xla, reference, strict=True)
        )
        print(
            f"  tf_tsexplain, jit_compile=True    : {xla_s:8.2f} s -> ratio "
            f"{reference_s / xla_s:5.2f}x; identical SIS: {same}"
        )
    print(f"  reference SIS per input: {[len(c) for c in reference]}")
    return ours, ours_s, ratio, identical


def main(argv=None):
    parser = argparse.ArgumentParser(description="SIS benchmark")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    print(machine_line())
    print(
        f"LSTM({cfg['units']}), {cfg['steps']} x {cfg['features']} cells, threshold {THRESHOLD}, "
        "cell masks"
    )
    model, pool = build(cfg)
    compiled_model = tf.function(
        lambda b: model(b, training=False),
        input_signature=[tf.TensorSpec((None,) + pool.shape[1:])],
    )

    def compiled(batch):
        return compiled_model(batch.astype("float32")).numpy()

    compiled(pool[:2])
    normal, degenerate = choose_cases(model, pool, cfg["inputs"])
    exact, exact_s, ratio, same_normal = run_case(
        "not degenerate", model, *normal, compiled, also_xla=not args.quick
    )
    _, _, ratio_degenerate, same_degenerate = run_case("degenerate", model, *degenerate, compiled)

    approx = SISExplainer(model, threshold=THRESHOLD, approximate=True, k=10)
    approx.explain(normal[0][:1], max_sis=1)
    approx_s, approximate = timed(lambda: approx.explain(normal[0]))
    n_exact, n_approx = sum(len(c) for c in exact), sum(len(c) for c in approximate)
    print(
        f"\napproximate (k = 10, batched across inputs), not degenerate: {approx_s:.2f} s, "
        f"{n_approx} SIS (exact: {exact_s:.2f} s, {n_exact} SIS); first SIS sizes "
        f"{[len(c[0]) if c else 0 for c in approximate]} vs exact "
        f"{[len(c[0]) if c else 0 for c in exact]}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = same_normal and same_degenerate
    print(f"\npeak RSS {peak:.0f} MiB")
    print(
        f"targets: identical SIS in both cases: {'met' if ok else 'NOT met'}; "
        f"not degenerate ratio {ratio:.2f}x (target >= {TARGET}x: "
        f"{'met' if ratio >= TARGET else 'NOT met'}); degenerate ratio {ratio_degenerate:.2f}x"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
