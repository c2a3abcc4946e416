"""Benchmark: temporal saliency rescaling (TSR) on the time-series saliency benchmark.

For the Middle and RareTime box datasets (Gaussian background, T = F = 50, 1000
training and 100 test sequences), trains a small LSTM classifier, then scores
integrated gradients, Saliency and SmoothGrad, each plain and wrapped in
``TemporalSaliencyRescaling``, by AUP and AUR (areas under the saliency-weighted
precision and recall of the top cells at 10..90% of saliency mass) against the true
box on the test set. The target is the benchmark's central claim: TSR improves AUP
for every base method on both datasets.

Then times TSR on 10 inputs (integrated gradients as the base method) batched, as
``TemporalSaliencyRescaling`` runs it (all inputs' masked copies through the base
method in large batches), against a plain loop calling the base method once per
masked copy, as the reference implementation does; both give the same maps
(checked). Target: at least 5x.

Last, a small case where per-call overhead dominates: TSR of integrated gradients
(16 nodes) on 8 inputs of 20 steps x 8 features through an LSTM(16), called with
default arguments, batched against one base call per masked copy. Target: at least
5x (3.6x before the explainer contract's automatic batch size).

    python examples/benchmarks/bench_tsr.py                  # full (about 6 minutes on 2 cores)
    python examples/benchmarks/bench_tsr.py --quick          # small smoke run
    python examples/benchmarks/bench_tsr.py --overhead-only  # only the small case
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import (  # noqa: E402
    PathExplainerTF,
    Saliency,
    SmoothGrad,
    TemporalSaliencyRescaling,
)
from tf_tsexplain.datasets import box_dataset  # noqa: E402
from tf_tsexplain.metrics import tsr_aup_aur  # noqa: E402

FULL = {
    "train": 1000,
    "test": 100,
    "epochs": 5,
    "units": 16,
    "learning_rate": 0.002,
    "ig_steps": 8,
    "sg_samples": 8,
    "timing_inputs": 10,
    "batch_size": 2000,
}
QUICK = dict(FULL, train=600, test=8, epochs=4, timing_inputs=2)
DATASETS = ("Middle", "RareTime")
STEPS = FEATURES = 50
NOISE_LEVEL = 0.15
TOLERANCE = 1e-4  # max |batched - loop| of TSR maps in [0, 1] (float32 sums)


def train(name: str, cfg: dict, seed: int = 0):
    """A small LSTM classifier on one box dataset; returns it and the test split."""
    n = cfg["train"] + cfg["test"]
    x, y, truth = box_dataset(name, n, STEPS, FEATURES, background="gaussian", seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.LSTM(cfg["units"]),
            keras.layers.Dense(2),  # logits: explained without softmax saturation
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(cfg["learning_rate"]), loss)
    train_x, train_y = x[: cfg["train"]], y[: cfg["train"]]
    model.fit(train_x, train_y, epochs=cfg["epochs"], batch_size=32, verbose=0)
    test = slice(cfg["train"], n)
    pred = model.predict(x[test], verbose=0).argmax(1)
    return model, x[test], y[test], truth[test], float((pred == y[test]).mean())


def methods(model, cfg: dict):
    """name -> (explainer, positional args, keyword args) for the three base methods."""
    zeros = np.zeros((1, STEPS, FEATURES), np.float32)
    bs = cfg["batch_size"]
    return {
        "IG": (
            PathExplainerTF(model),
            (zeros,),
            dict(use_expectation=False, num_samples=cfg["ig_steps"], batch_size=bs),
        ),
        "Saliency": (Saliency(model), (), dict(batch_size=bs)),
        "SmoothGrad": (
            SmoothGrad(model),
            (),
            dict(num_samples=cfg["sg_samples"], noise_level=NOISE_LEVEL, batch_size=bs, seed=0),
        ),
    }


def tsr_one_copy_at_a_time(explainer, x, args, kwargs, mask_value=0.0, threshold=0.55):
    """The reference's loop: one base-method call per masked copy of one input."""
    n, t_steps, n_feat = x.shape
    out = np.zeros(x.shape, np.float32)
    for i in range(n):
        one = dict(kwargs)
        for name in ("output_indices", "stdevs"):  # one per input
            if np.ndim(one.get(name)) == 1:
                one[name] = one[name][i : i + 1]
        xi = x[i : i + 1]
        ref = explainer.attributions(xi, *args, **one)
        score = np.zeros(t_steps)
        for t in range(t_steps):
            copy = xi.copy()
            copy[:, t] = mask_value
            score[t] = np.abs(ref - explainer.attributions(copy, *args, **one)).sum()
        time_rel = (score - score.min()) / max(score.max() - score.min(), 1e-30)
        cutoff = np.quantile(time_rel, threshold)
        for t in range(t_steps):
            feat = np.full(n_feat, 0.1)
            if time_rel[t] > cutoff:
                s = np.zeros(n_feat)
                for f in range(n_feat):
                    copy = xi.copy()
                    copy[:, t, f] = mask_value
                    s[f] = np.abs(ref - explainer.attributions(copy, *args, **one)).sum()
                feat = (s - s.min()) / max(s.max() - s.min(), 1e-30)
            out[i, t] = time_rel[t] * feat
    return out


def overhead_case() -> float:
    """TSR(IG, 16 nodes) on 8 inputs of 20 x 8 through an LSTM(16), default arguments:
    batched vs one base call per masked copy. Returns the ratio."""
    keras.utils.set_random_seed(1)
    n, t_steps, n_feat = 8, 20, 8
    model = keras.Sequential(
        [keras.Input((t_steps, n_feat)), keras.layers.LSTM(16), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(1).normal(size=(n, t_steps, n_feat)).astype(np.float32)
    explainer = PathExplainerTF(model)
    pos = (np.zeros((1, t_steps, n_feat), np.float32),)
    kw = dict(use_expectation=False, num_samples=16, output_indices=0)
    tsr = TemporalSaliencyRescaling(explainer)
    tsr.attributions(x[:1], *pos, **kw)  # trace once, untimed (both paths share it)
    explainer.attributions(x[:1], *pos, **kw)
    t1 = time.perf_counter()
    batched = tsr.attributions(x, *pos, **kw)
    batched_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    looped = tsr_one_copy_at_a_time(explainer, x, pos, kw)
    loop_s = time.perf_counter() - t1
    gap = float(np.abs(batched - looped).max())
    ratio = loop_s / batched_s
    print(
        f"\nOverhead case: TSR(IG, 16 nodes) on {n} inputs of {t_steps} x {n_feat}, LSTM(16), "
        f"default arguments, {tsr.last_evaluations} base-method evaluations: batched "
        f"{batched_s:.2f} s, one copy at a time {loop_s:.2f} s, ratio {ratio:.1f}x (target "
        f">= 5x: {'met' if ratio >= 5 else 'NOT met'}); same maps: {gap <= TOLERANCE} "
        f"(max |diff| {gap:.1e})"
    )
    assert gap <= TOLERANCE, f"batched TSR differs from the loop: {gap:.1e}"
    return ratio


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="TSR benchmark")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--overhead-only", action="store_true", help="only the small case")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    print(machine_line())
    if args.overhead_only:
        return {"overhead_ratio": overhead_case()}
    print(
        f"settings: T = F = {STEPS}, {cfg['train']} train / {cfg['test']} test sequences, "
        f"LSTM({cfg['units']}) -> 2 logits, Adam({cfg['learning_rate']}), {cfg['epochs']} epochs, "
        f"explaining the true class's logit; IG {cfg['ig_steps']} Gauss-Legendre "
        f"steps (zero baseline), SmoothGrad {cfg['sg_samples']} samples at noise level "
        f"{NOISE_LEVEL}; batch_size {cfg['batch_size']}; TSR defaults (threshold 0.55, "
        f"mask value 0, constant 0.1)"
    )
    started = time.perf_counter()
    results = {}
    timing_model = None
    for name in DATASETS:
        t0 = time.perf_counter()
        model, x, y, truth, acc = train(name, cfg)
        print(f"\n{name}: test accuracy {acc:.1%} (trained in {time.perf_counter() - t0:.0f} s)")
        if name == DATASETS[0]:
            timing_model = (model, x, y)
        print(f"  {'method':<12}{'AUP':>8}{'AUR':>8}{'TSR AUP':>10}{'TSR AUR':>10}{'TSR s':>8}")
        for method, (explainer, pos, kw) in methods(model, cfg).items():
            kw = dict(kw, output_indices=y)  # explain the true class of each input
            plain = explainer.attributions(x, *pos, **kw)
            t1 = time.perf_counter()
            tsr = TemporalSaliencyRescaling(explainer).attributions(x, *pos, **kw)
            seconds = time.perf_counter() - t1
            scores = tsr_aup_aur(truth, plain) + tsr_aup_aur(truth, tsr)
            results[(name, method)] = scores
            print(
                f"  {method:<12}{scores[0]:>8.3f}{scores[1]:>8.3f}{scores[2]:>10.3f}"
                f"{scores[3]:>10.3f}{seconds:>8.0f}"
            )
        results[(name, "accuracy")] = acc

    model, x, y = timing_model
    k = cfg["timing_inputs"]
    explainer, pos, kw = methods(model, cfg)["IG"]
    kw = dict(kw, output_indices=y[:k])
    tsr = TemporalSaliencyRescaling(explainer)
    tsr.attributions(x[:1], *pos, **dict(kw, output_indices=y[:1]))  # warm up
    t1 = time.perf_counter()
    batched = tsr.attributions(x[:k], *pos, **kw)
    batched_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    looped = tsr_one_copy_at_a_time(explainer, x[:k], pos, kw)
    loop_s = time.perf_counter() - t1
    gap = float(np.abs(batched - looped).max())
    same = gap <= TOLERANCE
    print(
        f"\nTSR(IG, {cfg['ig_steps']} steps) on {k} inputs, {tsr.last_evaluations} base-method "
        f"evaluations: batched {batched_s:.1f} s, one copy at a time {loop_s:.1f} s, "
        f"ratio {loop_s / batched_s:.1f}x (target >= 5x); same maps: {same} "
        f"(max |diff| {gap:.1e}, tolerance {TOLERANCE:.0e})"
    )
    # SmoothGrad under TSR: every copy keeps its input's noise scale, so the batched
    # maps equal a loop that smooths each input's copies with that input's stdevs
    explainer, pos, kw = methods(model, cfg)["SmoothGrad"]
    kw = dict(kw, output_indices=y[:2])
    sg_batched = TemporalSaliencyRescaling(explainer).attributions(x[:2], *pos, **kw)
    level = kw.pop("noise_level")
    kw["stdevs"] = explainer.noise_stdevs(x[:2], level)
    sg_gap = float(np.abs(sg_batched - tsr_one_copy_at_a_time(explainer, x[:2], pos, kw)).max())
    sg_same = sg_gap <= TOLERANCE
    print(
        f"TSR(SmoothGrad) on 2 inputs, batched vs one copy at a time with each input's "
        f"noise scale: same maps: {sg_same} (max |diff| {sg_gap:.1e})"
    )
    improved = all(
        results[(d, m)][2] > results[(d, m)][0]
        for d in DATASETS
        for m in ("IG", "Saliency", "SmoothGrad")
    )
    accurate = all(results[(d, "accuracy")] >= 0.9 for d in DATASETS)
    print(
        f"targets: accuracy >= 90% on both: {accurate}; TSR improves AUP for every method "
        f"on both datasets: {improved}; batched >= 5x: {loop_s / batched_s >= 5}"
    )
    print(f"total {time.perf_counter() - started:.0f} s")
    results["timing"] = (batched_s, loop_s)
    results["same_maps"] = (gap, sg_gap)
    results["overhead_ratio"] = overhead_case()
    # batched TSR must be the same computation as the reference's loop
    assert same and sg_same, f"batched TSR differs from the loop: {gap:.1e}, {sg_gap:.1e}"
    return results


if __name__ == "__main__":
    main()
