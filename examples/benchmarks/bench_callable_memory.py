"""Peak memory of default calls through a plain callable against the Keras model.

A callable's layers cannot be read, so the default chunk comes from a fixed estimate
of one row's working memory (``tf_tsexplain._model.row_bytes``). This script measures
whether that chunk keeps within the memory budget on a wide recurrent model (the State
benchmark's black box: GRU(200) with a classifier on every step, 200 steps x 3
features), explaining class 1 at the last step with default arguments on 40 series:
integrated gradients (100 path points: 4,000 model rows with gradients) and occlusion
(one cell at a time: 24,040 rows, outputs only). Each case runs in a fresh process;
the figure is the peak RSS above the process's level before the call. Cases: the Keras
model; a callable around it (the estimate of this release); the same callable at the
chunk of the earlier estimate (64 floats per input float, no per-step floor), passed
as ``batch_size``.

    PYTHONPATH=. python examples/benchmarks/bench_callable_memory.py [--series 40]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

STEPS, FEATURES, UNITS = 200, 3, 200


def _old_rows(budget: int, order: int) -> int:
    """Rows per call under the earlier callable estimate (float32)."""
    inputs = STEPS * FEATURES
    factor = {0: 0.5, 1: 1.25}[order]
    old_bytes = int(4 * (factor * 64 * inputs + factor * 4 * inputs))
    return min(budget // old_bytes, 16384)


def _case(method: str, kind: str, series: int) -> dict:
    import keras
    import numpy as np

    from tf_tsexplain import Occlusion, PathExplainerTF, get_memory_budget

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.GRU(UNITS, return_sequences=True),
            keras.layers.Dense(2),
        ]
    )
    x = np.random.default_rng(0).normal(size=(series, STEPS, FEATURES)).astype(np.float32)
    target = model if kind == "keras" else (lambda batch: model(batch, training=False))
    order = 1 if method == "integrated_gradients" else 0
    explainer = PathExplainerTF(target) if order else Occlusion(target)
    batch_size = _old_rows(get_memory_budget(), order) if kind == "callable_old" else None
    rows = batch_size or explainer._rows_per_call(x, None, order=order)
    model(x[:2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    target_cell = (STEPS - 1, 1)
    if order:
        explainer.attributions(
            x, np.zeros_like(x[:1]), use_expectation=False, output_indices=target_cell,
            batch_size=batch_size,
        )  # fmt: skip
    else:
        explainer.attributions(x, output_indices=target_cell, batch_size=batch_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(kind=kind, rows=rows, above=peak - before, peak=peak, seconds=seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # method kind, a child
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(*args.case, args.series)))
        return 0
    print(machine_line())
    print(
        f"default arguments, {args.series} series of GRU({UNITS}, per step) over {STEPS} x "
        f"{FEATURES}, class 1 at the last step; memory budget 1 GiB; each case a fresh process"
    )
    labels = {
        "keras": "Keras model",
        "callable": "callable, this release's estimate",
        "callable_old": "callable, the earlier estimate",
    }
    for method in ("integrated_gradients", "occlusion"):
        print(f" {method}")
        results = {}
        for kind in labels:
            out = subprocess.run(
                [sys.executable, __file__, "--series", str(args.series), "--case", method, kind],
                capture_output=True,
                text=True,
                check=True,
            )
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        base = results["keras"]
        for kind, r in results.items():
            print(
                f"  {labels[kind]:36s} {r['rows']:6d} rows/call  peak +{r['above']:7.0f} MiB "
                f"({r['above'] / 1024:.2f}x the budget, {r['above'] / max(base['above'], 1):.2f}x"
                f" the Keras model's)  {r['seconds']:6.1f} s "
                f"({r['seconds'] / base['seconds']:.2f}x)"
            )
    print(machine_line().replace("machine:", "machine at the end:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
