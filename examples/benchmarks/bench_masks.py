"""Benchmark: Dynamask on the rare-feature and rare-time experiments, and fit speed.

1. Quality, paper settings: for each experiment and seed, 10 series of 50 steps x 50
   ARMA features and the white box of the paper (per step, the sum of squares of
   the salient cells); ``MaskGroup(GaussianBlur())`` with areas 0.001..0.050, mse,
   1000 epochs, size_reg_factor_init=1, dilation 1000, learning rate 1; per series
   the mask of lowest error (``get_best_mask``, as the paper's scripts). Compared with
   integrated gradients
   (``PathExplainerTF``, use_expectation=False, baseline 0) and occlusion (each cell
   set to 0 in turn, saliency |f(x) - f(occluded)|, f summed over the output steps),
   computed on the same data. Scores (``tf_tsexplain.metrics``, saliency min-max
   scaled per series): AUP, AUR (exact integrals; also with the trapezoids of the
   paper's evaluation code, AUP_trap and AUR_trap), information I and entropy S of
   the truly salient cells, summed over the 10 series; mean +/- std over the seeds.
   Targets (AUP >= 0.95, AUR >= 0.65) are checked on both the exact integrals and
   the trapezoids.
2. Speed: the 10 series x 50 areas of one seed fitted in one batched call vs a loop
   of one ``Mask.fit`` per series and area (the reference's loop), the same settings.
   The loop reuses one ``Mask``, one perturbation and one white box (its weights a
   variable set to each series), so it reuses the cached compiled training loop:
   one compilation per top_k size (areas are bucketed by powers of two), not per
   fit. It is timed with jit_compile=False and "auto" (XLA), and the faster mode is
   used for the ratio. Timing all 500 fits per mode takes too long: per mode, one
   fit per top_k size of series 0 (cold: compiles) and the same areas of series 1
   (warm: cached) are timed, and the loop total is extrapolated as
   sum over sizes (areas of that size x series x warm time) + compilations (cold -
   warm), printed as such. Then the whole loop of the faster mode is run and timed
   (from an empty cache, so with its compilations), and that measured total gives
   the ratio. For context it also times Mask.fit run eagerly (one eager step per
   epoch, the execution model of the reference's loop) on 2 fits of 50 epochs and
   extrapolates that to the whole loop, printed as such.

Results of each (experiment, seed) are saved under --results, and an existing result
is reused, so the runs can be split (e.g. one seed per call) and then reported:

    python examples/benchmarks/bench_masks.py --quick                     # smoke run
    python examples/benchmarks/bench_masks.py --seeds 0 --skip-speed      # one seed
    python examples/benchmarks/bench_masks.py                             # all + speed
    python examples/benchmarks/bench_masks.py --state-group --state-epochs 6  # issue 28

3. Dynamask's State group (``--state-group``; issue 28): 10 areas x 200 series of the
   State data, the GRU(200) black box, the paper's settings, default arguments
   (``MaskGroup`` splits the areas into calls from the memory budget and times XLA
   against no XLA): seconds per epoch (a second fit, warm), the 1,000 epochs
   projected from it (``--full`` runs them), the old layout (all rows in one call)
   and the raw lower bound (the GRU's forward pass and input gradient alone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _mask_speed  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF, metrics  # noqa: E402
from tf_tsexplain.datasets import (  # noqa: E402
    dynamask_state_data,
    rare_feature,
    rare_time,
    saliency_white_box,
)
from tf_tsexplain.masks import GaussianBlur, Mask, MaskGroup, clear_fit_cache, mse  # noqa: E402
from tf_tsexplain.masks._fit import TRACES, top_k_size  # noqa: E402

EXPERIMENTS = {"rare_feature": rare_feature, "rare_time": rare_time}
PAPER = dict(
    loss_function=mse,
    size_reg_factor_init=1.0,
    size_reg_factor_dilation=1000,
    learning_rate=1.0,
    momentum=0.9,
)
TARGETS = {"AUP": 0.95, "AUR": 0.65}


def summed(box):
    return lambda batch: tf.reduce_sum(box(batch), axis=-1)


def dynamask(x, truth, areas, epochs):
    box = saliency_white_box(truth)
    started = time.perf_counter()
    group = MaskGroup(GaussianBlur()).fit(x, box, areas, n_epoch=epochs, **PAPER)
    seconds = time.perf_counter() - started
    best = group.get_best_mask()
    return best.mask_tensor, seconds, np.asarray(best.keep_ratio)


def integrated_gradients(x, truth):
    out = np.empty_like(x)
    for n in range(len(x)):
        explainer = PathExplainerTF(summed(saliency_white_box(truth[n])))
        out[n] = explainer.attributions(
            x[n : n + 1], np.zeros_like(x[:1]), num_samples=16, use_expectation=False
        )[0]
    return np.abs(out)


def occlusion(x, truth):
    """|f(x) - f(x with cell (t, f) set to 0)| for every cell, one batch per series."""
    _, t, nf = x.shape
    out = np.empty_like(x)
    eye = np.eye(t * nf, dtype=np.float32).reshape(t * nf, t, nf)
    for n in range(len(x)):
        f = summed(saliency_white_box(truth[n]))
        full = float(f(x[n : n + 1])[0])
        occluded = np.asarray(f(x[n][None] * (1.0 - eye)))
        out[n] = np.abs(full - occluded).reshape(t, nf)
    return out


def scores(truth, saliency) -> dict:
    return {
        "AUP": metrics.area_under_precision(truth, saliency),
        "AUR": metrics.area_under_recall(truth, saliency),
        "AUP_trap": metrics.area_under_precision(truth, saliency, integration="trapezoid"),
        "AUR_trap": metrics.area_under_recall(truth, saliency, integration="trapezoid"),
        "I": metrics.mask_information(truth, saliency),
        "S": metrics.mask_entropy(truth, saliency),
    }


def run_quality(name, seed, cfg, results: Path) -> dict:
    path = results / f"{name}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    x, truth = EXPERIMENTS[name](cfg["series"], seed=seed)
    mask, seconds, chosen = dynamask(x, truth, cfg["areas"], cfg["epochs"])
    record = {
        "dynamask": scores(truth, mask),
        "integrated_gradients": scores(truth, integrated_gradients(x, truth)),
        "occlusion": scores(truth, occlusion(x, truth)),
        "fit_seconds": seconds,
        "best_areas": chosen.tolist(),
    }
    path.write_text(json.dumps(record))
    print(
        f"  {name} seed {seed}: Dynamask fit {seconds:.1f} s, AUP "
        f"{record['dynamask']['AUP']:.3f} AUR {record['dynamask']['AUR']:.3f}, "
        f"areas of the best masks {chosen.min():.3f}..{chosen.max():.3f}",
        flush=True,
    )
    return record


def report(records: dict, seeds) -> bool:
    met = True
    for name, per_seed in records.items():
        print(f"\n{name} ({len(per_seed)} seeds x series; mean +/- std over seeds)")
        keys = ("AUP", "AUR", "AUP_trap", "AUR_trap", "I", "S")
        print(f"  {'method':<22}" + "".join(f"{k:>19}" for k in keys))
        for method in ("dynamask", "integrated_gradients", "occlusion"):
            cells = []
            for key in keys:
                v = np.array([r[method][key] for r in per_seed])
                digits = 1 if key in ("I", "S") else 3
                cells.append(f"{v.mean():.{digits}f} +/- {v.std():.{digits}f}".rjust(19))
            print(f"  {method:<22}" + "".join(cells))
        for key, goal in TARGETS.items():
            for variant, name_ in (("exact", key), ("trapezoid", f"{key}_trap")):
                mean = np.mean([r["dynamask"][name_] for r in per_seed])
                ok = mean >= goal
                met &= ok
                print(
                    f"  target Dynamask {key} >= {goal} ({variant}): {mean:.3f} "
                    f"{'met' if ok else 'NOT met'}"
                )
    return met


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _one_series_box(t, nf):
    """One white box for every series: saliency_white_box(truth[n]) once
    ``weights.assign(truth[n])``; one callable, so the fits reuse one compiled loop."""
    weights = tf.Variable(np.zeros((t, nf), np.float32), trainable=False)

    def box(batch):
        return tf.reduce_sum(weights * batch**2, axis=-1)

    return weights, box


def time_full_loop(x, truth, areas, epochs, jit_compile) -> float:
    """Time all len(x) x len(areas) Mask.fit calls, from an empty cache."""
    clear_fit_cache()
    weights, box = _one_series_box(*x.shape[1:])
    mask = Mask(GaussianBlur(), jit_compile=jit_compile)
    started = time.perf_counter()
    for n in range(len(x)):
        weights.assign(truth[n].astype(np.float32))
        for area in areas:
            mask.fit(x[n], box, keep_ratio=area, n_epoch=epochs, **PAPER)
    return time.perf_counter() - started


def time_loop(x, truth, areas, epochs, jit_compile) -> dict:
    """Time the loop of Mask.fit per series and area (see the module docstring)."""
    _, t, nf = x.shape
    weights, box = _one_series_box(t, nf)
    mask = Mask(GaussianBlur(), jit_compile=jit_compile)
    sizes = [top_k_size([a], t * nf) for a in areas]
    firsts = {k: sizes.index(k) for k in sorted(set(sizes))}  # first area of each size

    def fit(n, i):
        weights.assign(truth[n].astype(np.float32))
        return _timed(lambda: mask.fit(x[n], box, keep_ratio=areas[i], n_epoch=epochs, **PAPER))

    traces = TRACES[0]
    cold = {k: fit(0, i) for k, i in firsts.items()}  # each compiles its top_k size
    warm = {k: fit(1, i) for k, i in firsts.items()}  # cached
    count = {k: sizes.count(k) for k in firsts}
    per_fit = sum(count[k] * warm[k] for k in firsts) / len(areas)
    compile_total = sum(max(0.0, cold[k] - warm[k]) for k in firsts)
    total = len(x) * len(areas) * per_fit + compile_total
    traces = TRACES[0] - traces  # one per top_k size: the warm fits reuse the loops
    return dict(
        cold=cold,
        warm=warm,
        count=count,
        per_fit=per_fit,
        compile=compile_total,
        total=total,
        traces=traces,
    )


def time_eager_loop(x, truth, areas, epochs, eager_epochs) -> dict:
    """Per-fit time of Mask.fit run eagerly (one eager step per epoch, as a plain
    port of the reference's PyTorch loop runs), extrapolated to the whole loop."""
    weights, box = _one_series_box(*x.shape[1:])
    mask = Mask(GaussianBlur(), jit_compile=False)
    times = []
    tf.config.run_functions_eagerly(True)
    try:
        for i in (0, len(areas) - 1):
            weights.assign(truth[0].astype(np.float32))
            times.append(
                _timed(
                    lambda i=i: mask.fit(
                        x[0], box, keep_ratio=areas[i], n_epoch=eager_epochs, **PAPER
                    )
                )
            )
    finally:
        tf.config.run_functions_eagerly(False)
    per_epoch = float(np.mean(times)) / eager_epochs
    return dict(times=times, per_epoch=per_epoch, total=per_epoch * epochs * len(x) * len(areas))


def run_speed(cfg) -> None:
    x, truth = rare_feature(cfg["series"], seed=0)
    areas, epochs = cfg["areas"], cfg["epochs"]
    n_fits = len(x) * len(areas)
    print(f"\nspeed: {len(x)} series x {len(areas)} areas = {n_fits} masks, {epochs} epochs")
    box = saliency_white_box(truth)
    blur = GaussianBlur()
    batched = _timed(lambda: MaskGroup(blur).fit(x, box, areas, n_epoch=epochs, **PAPER))
    again = _timed(lambda: MaskGroup(blur).fit(x, box, areas, n_epoch=epochs, **PAPER))
    print(f"  batched MaskGroup.fit (one call, compiling its loop): {batched:8.1f} s")
    print(f"  batched MaskGroup.fit again (cached loop):            {again:8.1f} s")
    loops = {}
    for jit in (False, "auto"):
        r = loops[jit] = time_loop(x, truth, areas, epochs, jit)
        print(f"  loop of Mask.fit per series and area, jit_compile={jit!r}:")
        for k in r["cold"]:
            print(
                f"    top_k size {k:4d} ({r['count'][k]:2d} areas): first fit {r['cold'][k]:.2f} s "
                f"(compiles), cached fit {r['warm'][k]:.2f} s"
            )
        print(
            f"    per fit (cached, weighted by areas) {r['per_fit']:.3f} s; compilations "
            f"{r['compile']:.1f} s; total {r['total']:.1f} s (EXTRAPOLATED from "
            f"{2 * len(r['cold'])} timed fits: {n_fits} x {r['per_fit']:.3f} s + "
            f"{r['compile']:.1f} s); {r['traces']} traces for {2 * len(r['cold'])} fits"
        )
    best = min(loops, key=lambda j: loops[j]["total"])
    loop = time_full_loop(x, truth, areas, epochs, best)
    print(
        f"  loop of Mask.fit, faster mode jit_compile={best!r}, all {n_fits} fits MEASURED "
        f"(empty cache first): {loop:.1f} s ({loop / n_fits:.3f} s per fit)"
    )
    ratio = loop / batched
    print(
        f"  ratio loop (measured, jit_compile={best!r}, {loop:.1f} s) / batched "
        f"({batched:.1f} s): {ratio:.1f}x -> target >= 20x {'met' if ratio >= 20 else 'NOT met'}"
    )
    e = time_eager_loop(x, truth, areas, epochs, cfg["eager_epochs"])
    print(
        f"  for context, a plain eager port (our Mask.fit with run_functions_eagerly, one "
        f"eager step per epoch like the reference's loop): 2 fits of {cfg['eager_epochs']} "
        f"epochs took {e['times'][0]:.2f} s and {e['times'][1]:.2f} s -> "
        f"{1e3 * e['per_epoch']:.2f} ms per epoch; whole loop EXTRAPOLATED "
        f"({n_fits} fits x {epochs} epochs): {e['total']:.0f} s = "
        f"{e['total'] / batched:.0f}x the batched call"
    )


def _cpu_mhz() -> float | None:
    """The current clock of the first CPU (Linux), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1])
    except (OSError, ValueError):
        return None
    return None


def run_state_group(epochs: int, series: int, full: bool) -> None:
    """Dynamask's State group (issue 28): 10 areas x 200 series, GRU(200), the paper's
    settings, with the defaults (areas in chunks from the memory budget, compilation
    chosen by timing); per epoch, projected 1,000 epochs, before, raw lower bound."""
    from tf_tsexplain.masks import log_loss

    x = dynamask_state_data(800 + series, 200, seed=0)[0][800:]
    model = _mask_speed.gru_classifier()
    areas = _mask_speed.STATE_AREAS
    settings = {k: v for k, v in _mask_speed.DYNAMASK_STATE.items() if k != "n_epoch"}
    blur = GaussianBlur(sigma_max=1.0)
    rows = len(areas) * len(x)
    print(
        f"\nDynamask State group: {len(areas)} areas x {len(x)} series = {rows} masks of "
        f"200 x 3, GRU(200) black box (untrained: an epoch's time does not depend on the "
        f"weights), GaussianBlur(sigma_max=1), log loss, {settings}"
    )
    print(
        "  before (issue 28, same machine): about 8-9 s per epoch, 1,000 epochs about "
        "2.4 hours (all 2,000 rows in one call, XLA)"
    )

    def fit(n_epoch, batch_size=None, jit_compile="auto"):
        group = MaskGroup(blur, task="classification", jit_compile=jit_compile)
        group.fit(
            x,
            model,
            areas,
            loss_function=log_loss,
            n_epoch=n_epoch,
            batch_size=batch_size,
            **settings,
        )
        return group

    clear_fit_cache()
    group, first = _mask_speed.timed(lambda: fit(epochs))
    _, second = _mask_speed.timed(lambda: fit(epochs))
    per_epoch = second / epochs
    print(
        f"  defaults: first fit of {epochs} epochs {first:.1f} s (tracing and the timing "
        f"trial included) [{group.compilation.describe()}]; second fit {second:.1f} s = "
        f"{per_epoch:.2f} s per epoch; peak RSS {_mask_speed.peak_rss_mib():.0f} MiB",
        flush=True,
    )
    projected = 1000 * per_epoch + (first - second)
    ok = projected <= 15 * 60
    print(
        f"  1,000 epochs PROJECTED: 1000 x {per_epoch:.2f} s + {first - second:.0f} s "
        f"(tracing, trial) = {projected:.0f} s = {projected / 60:.1f} min -> target <= 15 "
        f"min on 2 cores {'met' if ok else 'NOT met'}; load average {os.getloadavg()[0]:.2f}"
    )
    old_epochs = 2
    _, old = _mask_speed.timed(lambda: fit(old_epochs, batch_size=rows, jit_compile=False))
    print(
        f"  the old layout without XLA (all {rows} rows in one call, batch_size={rows}): "
        f"{old / old_epochs:.2f} s per epoch ({old_epochs} epochs, tracing included) = "
        f"{old / old_epochs / per_epoch:.1f}x the default"
    )
    from tf_tsexplain._batching import rows_per_call
    from tf_tsexplain._model import row_bytes
    from tf_tsexplain.masks._fit import plan_chunks

    per_call = plan_chunks(
        len(areas), len(x), rows_per_call(None, row_bytes(model, (200, 3), 4, 1))
    )
    chunk_rows = per_call[0] * per_call[1]
    bound = _mask_speed.model_epoch_bound(model, x, chunk_rows, len(areas))
    print(
        f"  raw lower bound (GRU forward + input gradient only, {rows} rows in calls of "
        f"{chunk_rows}, no perturbation or regularisers): {bound:.2f} s per epoch; the fit "
        f"is {per_epoch / bound:.2f}x it; 1,000 epochs of the bound alone: "
        f"{1000 * bound / 60:.1f} min; peak RSS {_mask_speed.peak_rss_mib():.0f} MiB"
    )
    # The GRU's arithmetic alone: per step and row, the forward pass's matrix products
    # are 3H * (F + H) multiply-adds (2 FLOP each); the backward pass to the input (no
    # weight gradients: the mask is the only variable) costs about as much again.
    units, steps, nf = 200, 200, 3
    flop = 1000 * rows * steps * 2 * (2 * 3 * units * (nf + units))
    mhz = _cpu_mhz()
    if mhz:
        peak = (os.cpu_count() or 1) * mhz * 1e6 * 32  # AVX2: 2 FMA units x 8 fp32 x 2
        print(
            f"  arithmetic bound: the GRU's 1,000 epochs are {flop / 1e12:.0f} TFLOP; at this "
            f"CPU's peak ({os.cpu_count()} cores x {mhz:.0f} MHz x 32 fp32 FLOP per cycle, "
            f"AVX2 FMA) = {peak / 1e9:.0f} GFLOP/s that is {flop / peak / 60:.1f} min, so "
            "no implementation reaches 15 min here"
            if flop / peak > 15 * 60
            else f"  arithmetic bound: {flop / 1e12:.0f} TFLOP = {flop / peak / 60:.1f} min at peak"
        )
    if full:
        clear_fit_cache()
        _, total = _mask_speed.timed(lambda: fit(1000))
        print(f"  1,000 epochs MEASURED: {total:.0f} s = {total / 60:.1f} min")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS))
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--results", default="bench_masks_results", help="folder of results")
    parser.add_argument(
        "--state-group", action="store_true", help="only the Dynamask State group's speed"
    )
    parser.add_argument("--state-epochs", type=int, default=6, help="epochs per timed fit")
    parser.add_argument("--state-series", type=int, default=200)
    parser.add_argument("--full", action="store_true", help="also run the 1,000 State epochs")
    args = parser.parse_args(argv)
    if args.state_group:
        print(machine_line())
        run_state_group(args.state_epochs, args.state_series, args.full)
        print(machine_line().replace("machine:", "machine at the end:"))
        return 0
    if args.quick:
        cfg = dict(series=3, areas=[0.01, 0.03, 0.05], epochs=100, eager_epochs=5)
        args.seeds = args.seeds[:1]
        args.results += "_quick"
    else:
        areas = [round(0.001 * k, 3) for k in range(1, 51)]
        cfg = dict(series=10, areas=areas, epochs=1000, eager_epochs=50)
    print(machine_line())
    print(
        f"settings: {cfg['series']} series x {len(cfg['areas'])} areas "
        f"({cfg['areas'][0]}..{cfg['areas'][-1]}), {cfg['epochs']} epochs, seeds {args.seeds}"
    )
    met = True
    if not args.skip_quality:
        results = Path(args.results)
        results.mkdir(parents=True, exist_ok=True)
        records = {
            name: [run_quality(name, seed, cfg, results) for seed in args.seeds]
            for name in args.experiments
        }
        met = report(records, args.seeds)
    if not args.skip_speed:
        run_speed(cfg)
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
