"""Benchmark: faithfulness metrics (tf_tsexplain.metrics.faithfulness) on an LSTM(64).

Model and data: an LSTM(64) classifier (4 classes) trained for a few epochs on
sequences laid out like UEA BasicMotions (100 steps x 6 channels; class k has a burst
on channel k in the second half, over Gaussian noise), scored on 256 test sequences.

1. CPD with 50 steps (12,800 perturbed copies) and comprehensiveness (5 fractions,
   1,280 copies), called with default arguments (``batch_size=None``: the memory
   budget), against a straightforward loop that builds each step's copies of all 256
   inputs in numpy and calls ``model.predict`` once per step (default batch size 32,
   as a user would; also with ``batch_size=256``, a tuned loop). Both give the same
   numbers (checked). Target: >= 10x against the straightforward loop. Peak memory:
   the resident set's growth during each call (sampled every 5 ms).
2. ``compare_explainers`` with 6 methods (integrated and expected gradients, 32
   points each; saliency; input x gradient; occlusion of single cells; TSR of
   saliency) and the random control on the 256 inputs, default metrics (deletion
   and insertion AUC, comprehensiveness, sufficiency, CPD, infidelity with 100 draws):
   the time split between explaining and scoring.

Copies go through XLA (``jit_compile="auto"``: calls of >= 4,096 copies): CPD yes,
comprehensiveness (1,536 copies) no.
3. With ``--figure PATH``: the faithfulness plot of 8 methods (the 6 and SmoothGrad
   and feature ablation) and the control, on 64 of the inputs.

    flock /tmp/heavy.lock env PYTHONPATH=. python examples/benchmarks/bench_faithfulness.py \\
        --figure examples/figures/faithfulness.png
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import (  # noqa: E402
    FeatureAblation,
    InputXGradient,
    Occlusion,
    PathExplainerTF,
    Saliency,
    SmoothGrad,
    TemporalSaliencyRescaling,
)
from tf_tsexplain.metrics import (  # noqa: E402
    compare_explainers,
    comprehensiveness,
    cumulative_prediction_difference,
)

T, F, CLASSES = 100, 6, 4


def motions(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.normal(0.0, 0.3, size=(n, T, F))
    steps = np.arange(T // 2, T)
    x[np.arange(n)[:, None], steps[None, :], y[:, None]] += 2.0 * np.sin(steps * 0.8)
    return x.astype("float32"), y


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measured(fn):
    """``(result, seconds, peak RSS growth in MiB)`` of ``fn()``."""
    start = rss_mib()
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    done.set()
    thread.join()
    return result, seconds, max(peak[0], rss_mib()) - start


def loop_cpd(model, x, sal, steps, batch_size=None):
    """One model.predict per step, each on all inputs' copies (numpy masking)."""
    n = len(x)
    flat = x.reshape(n, -1).copy()
    order = np.argsort(-np.abs(sal.reshape(n, -1)), axis=1, kind="stable")
    target = np.argmax(model.predict(x, verbose=0, batch_size=batch_size), axis=1)
    kw = {"verbose": 0} if batch_size is None else {"verbose": 0, "batch_size": batch_size}
    previous = model.predict(x, **kw)[np.arange(n), target]
    total = np.zeros(n)
    for k in range(steps):
        flat[np.arange(n), order[:, k]] = 0.0
        current = model.predict(flat.reshape(x.shape), **kw)[np.arange(n), target]
        total += np.abs(previous - current)
        previous = current
    return total


def loop_comprehensiveness(model, x, sal, fractions, batch_size=None):
    n = len(x)
    kw = {"verbose": 0} if batch_size is None else {"verbose": 0, "batch_size": batch_size}
    out = model.predict(x, **kw)
    target = np.argmax(out, axis=1)
    fx = out[np.arange(n), target]
    order = np.argsort(-sal.reshape(n, -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None], axis=1)
    drops = []
    for p in fractions:
        k = int(round(p * T * F))
        deleted = np.where(rank < k, 0.0, x.reshape(n, -1)).reshape(x.shape).astype("float32")
        drops.append(fx - model.predict(deleted, **kw)[np.arange(n), target])
    return np.mean(drops, axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--figure", help="save the 8-method faithfulness plot here")
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    x_train, y_train = motions(512, 0)
    x, _ = motions(args.n, 1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.LSTM(64),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), 1) == np.arange(args.n) % 4))
    print(
        f"LSTM(64), trained {args.epochs} epochs in {time.perf_counter() - t0:.1f} s; "
        f"test accuracy {accuracy:.3f} on {args.n} sequences of {T} x {F}"
    )
    sal = Saliency(model).attributions(x, output_indices="predicted")

    print("\n1. CPD (50 steps) and comprehensiveness (5 fractions), default arguments")
    fractions = (0.01, 0.05, 0.1, 0.2, 0.5)
    cases = {
        "cpd": (
            lambda: cumulative_prediction_difference(model, x, sal, steps=50),
            lambda bs: loop_cpd(model, x, sal, 50, bs),
            args.n * 51,
        ),
        "comprehensiveness": (
            lambda: comprehensiveness(model, x, sal, fractions=fractions),
            lambda bs: loop_comprehensiveness(model, x, sal, fractions, bs),
            args.n * 6,
        ),
    }
    for name, (ours, loop, rows) in cases.items():
        got, first, mem_first = measured(ours)  # includes the one trace
        got, warm, mem_warm = measured(ours)
        want, loop_s, mem_loop = measured(lambda loop=loop: loop(None))
        want_256, loop_256_s, _ = measured(lambda loop=loop: loop(256))
        error = max(np.abs(got - want).max(), np.abs(got - want_256).max())
        print(
            f"  {name}: {rows} model rows; ours {first:.2f} s first call (trace included), "
            f"{warm:.2f} s warm; loop of model.predict per step {loop_s:.2f} s (batch 32), "
            f"{loop_256_s:.2f} s (batch 256)"
        )
        print(
            f"    ratio vs the straightforward loop: {loop_s / first:.1f}x first call, "
            f"{loop_s / warm:.1f}x warm (target >= 10x: "
            f"{'met' if loop_s / first >= 10 else 'NOT met'}); vs the batch-256 loop "
            f"{loop_256_s / warm:.1f}x warm; max |difference| {error:.2e}"
        )
        print(
            f"    peak RSS growth: ours {mem_first:.0f} MiB (first), {mem_warm:.0f} MiB (warm); "
            f"loop {mem_loop:.0f} MiB; all copies at once would be "
            f"{rows * T * F * 4 / 2**20:.0f} MiB of inputs alone"
        )

    # explainers built once, as a user would; each traces on its first call
    path, grad, ixg, occ = (
        PathExplainerTF(model),
        Saliency(model),
        InputXGradient(model),
        Occlusion(model),
    )
    tsr = TemporalSaliencyRescaling(Saliency(model))
    zeros = np.zeros((1, T, F), np.float32)
    target = {"output_indices": "predicted"}
    explain = {
        "integrated_gradients": lambda v: path.attributions(
            v, zeros, use_expectation=False, num_samples=32, **target
        ),
        "expected_gradients": lambda v: path.attributions(
            v, x_train[:64], use_expectation=True, num_samples=32, seed=0, **target
        ),
        "saliency": lambda v: grad.attributions(v, **target),
        "input_x_gradient": lambda v: ixg.attributions(v, **target),
        "occlusion": lambda v: occ.attributions(v, 0.0, **target),
        "tsr_saliency": lambda v: tsr.attributions(v, **target),
    }
    if not args.skip_compare:
        print("\n2. compare_explainers: 6 methods and the random control, default metrics")
        t0 = time.perf_counter()
        (table, total, mem) = measured(lambda: compare_explainers(model, x, explain, seed=0))
        explaining = float(table["seconds"].sum() * args.n)
        scoring = table.attrs["scoring_seconds"]
        print(
            f"  total {total:.1f} s: explaining {explaining:.1f} s "
            f"({100 * explaining / total:.0f}%), scoring {scoring:.1f} s "
            f"({100 * scoring / total:.0f}%); peak RSS growth {mem:.0f} MiB"
        )
        for name, s in (table["seconds"] * args.n).items():
            print(f"    explaining with {name}: {s:.1f} s")
        shown = [c for c in table.columns if not c.endswith("_sem")]
        print(table[shown].to_string(float_format=lambda v: f"{v:.4g}"))
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        from tf_tsexplain.plot import faithfulness_plot

        print("\n3. the faithfulness plot of 8 methods on 64 inputs")
        more = dict(explain)
        smooth, ablation = SmoothGrad(model), FeatureAblation(model)
        more["smoothgrad"] = lambda v: smooth.attributions(v, num_samples=32, seed=0, **target)
        more["feature_ablation"] = lambda v: ablation.attributions(v, 0.0, **target)
        table = compare_explainers(model, x[:64], more, seed=0, n_perturbations=20, steps=25)
        fig, _ = faithfulness_plot(
            table, title="LSTM(64) on 64 sequences of 100 x 6 (BasicMotions layout): 8 explainers"
        )
        fig.savefig(args.figure, dpi=100)
        print(f"  wrote {args.figure}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process {peak:.0f} MiB")
    print(machine_line())


if __name__ == "__main__":
    main()
