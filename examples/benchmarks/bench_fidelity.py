"""Benchmark: saliency fidelity on State and Switch-Feature at the published protocol.

Data (made once, shared by the folds, as tint's ``experiments/hmm`` does):
- ``state``: ``datasets.dynamask_state_data(1000, 200, standardize=False)`` (the raw
  features, as tint's HMM generator; our generator follows the Dynamask repository's
  State definitions, which tint's HMM data module re-implements).
- ``switch``: ``datasets.switch_feature_data(1000, 100)`` (FIT's Switch-Feature, as
  ContraLSP's and TIMING's loaders use it; raw features).
The first 800 series are for training, the last 200 are explained and scored. A fold
(``--folds``, 0..4) is one of 5 shuffled KFold splits of the 800 into 640 training and
160 validation series (tint's DataModule), with its own classifier initialisation.

Black box (tint's ``StateClassifierNet``, as ``experiments/hmm`` and ContraLSP's
``hmm`` and ``switchstate`` train it): a one-layer GRU with 200 units, then BatchNorm,
ReLU, Dropout(0.5) and a linear map to 2 logits, trained 50 epochs with Adam (learning
rate 1e-4), batches of 32, L2 1e-3 (torch's Adam ``weight_decay``; here an L2 penalty
with the same gradient on the weights, not the biases). Where we differ: the head is
applied at every step and the loss is the cross-entropy of every step, where tint trains
each batch on one random step t of ``x[:, :t+1]`` (the GRU is causal, so the output at t
is the same function of ``x[:, :t+1]`` either way).

Methods (``--methods``), each with its defaults, plus a tuned row where one is defined:
- ``extremal_mask``: ``ExtremalMask()`` defaults (mse on the per-step logits, as tint's
  ``ExtremalMaskNet`` on ``classifier(x, return_all=True)``), and a ``paper`` row with
  the paper's ``lambda_1 = lambda_2 = 1`` (``lambda_area``, ``lambda_perturbation``);
  tuned among ``lambda_area`` in {1, 2} x ``lambda_perturbation`` in {100, 10} (the
  defaults are (1, 100)) on validation series.
- ``dynamask``: ``MaskGroup(GaussianBlur(sigma_max=1))`` on the per-step probabilities,
  areas 0.25..0.34, the State settings of ``bench_extremal.py`` (Dynamask's own),
  extremal mask at the ``log_loss(f(x), f(x))`` threshold; ``--dynamask-series N``
  fits only the first N test series (1,000 epochs x 10 areas per series take about 2 h
  per fold for all 200 on 2 cores), as the ``series`` column says.
- ``contralsp``: ``ContraLSP()`` defaults on the per-step logits (the reference's mse on
  its classifiers' logits); tuned among the defaults, the reference's State settings
  (``lambda_1 = 2``), its Switch-Feature settings (``lambda_2 = 2, sigma = 0.8``) and
  both changes together, chosen on validation series.
- ``integrated_gradients``, ``occlusion`` (baseline: the training mean of each cell),
  ``timing`` (``TimingExplainer()`` defaults, 5 segments for 3 features; tuned:
  ``num_segments`` in {5, 20, 50} x
  ``max_seg_len`` in {T/10, T} on validation series): gradient and perturbation methods
  explain the scalar ``sum_t p(class 1 at t)`` in one pass, where tint explains the
  output at each step t on ``x[:t+1]`` (``TimeForwardTunnel``, T times the cost); absolute
  values are scored.
- ``tsr``: ``TemporalSaliencyRescaling(IG with 10 points)`` on the first ``--tsr-series``
  test series only (its cost is 1 + T + kept x F IG runs per series).
Shapley values are not run: ``SequenceShap`` explains events, features, or top events x
top features, not the 600 cells scored here.

Tuning is done only on ``--tune-series`` series of the fold's validation split (never
scored), by the mean of AUP and AUR there; the output names what was tuned and on what.

Scores (tint's definitions, ``tf_tsexplain.metrics``): each series' map min-max scaled,
all test cells pooled, ``precision_recall_curve`` and ``auc(thresholds, precision[:-1])``
(AUP; likewise AUR), AUROC, and information / entropy of the truly salient cells per
salient cell (tint's are sums: multiply by the number of salient cells, printed).

CSV (``--csv``): one row per (dataset, fold, method, variant), written as soon as it is
measured, so that runs can be split (``--resume`` skips the rows of a fold already in
the CSV: a method, or one of its variants, e.g. a tuned row added later)::

    flock /tmp/heavy.lock env PYTHONPATH=. python examples/benchmarks/bench_fidelity.py --quick
    flock /tmp/heavy.lock env PYTHONPATH=. python examples/benchmarks/bench_fidelity.py \\
        --datasets switch --folds 0 --resume
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF, TemporalSaliencyRescaling, metrics  # noqa: E402
from tf_tsexplain.datasets import dynamask_state_data, switch_feature_data  # noqa: E402
from tf_tsexplain.masks import (  # noqa: E402
    ContraLSP,
    ExtremalMask,
    GaussianBlur,
    MaskGroup,
    log_loss,  # noqa: E402
)
from tf_tsexplain.saliency import Occlusion  # noqa: E402
from tf_tsexplain.timing import TimingExplainer, default_num_segments  # noqa: E402

DATASETS = ("state", "switch")
METHODS = (
    "extremal_mask",
    "contralsp",
    "timing",
    "integrated_gradients",
    "occlusion",
    "dynamask",
    "tsr",
)
PUBLISHED = {  # (AUP, AUR), 5-fold means (ANCHORS section 10)
    "state": {
        "extremal_mask": (0.885, 0.781),
        "dynamask": (0.711, 0.763),
        "integrated_gradients": (0.918, 0.454),
        "occlusion": (0.866, 0.393),
        "lime": (0.932, 0.438),
    },
    "switch": {
        "contralsp": (0.970, 0.851),
        "extremal_mask": (0.978, 0.745),
        "integrated_gradients": (0.918, 0.433),
    },
}
TARGETS = {"state": ("extremal_mask", 0.885, 0.781), "switch": ("contralsp", 0.970, 0.851)}
BEST_PUBLISHED = {"state": (0.932, 0.781), "switch": (0.978, 0.851)}
DYNAMASK = dict(
    loss_function=log_loss,
    n_epoch=1000,
    learning_rate=0.1,
    size_reg_factor_init=0.1,
    size_reg_factor_dilation=100,
    initial_mask_coeff=0.5,
    momentum=1.0,
    time_reg_factor=1.0,
)
AREAS = [round(0.25 + 0.01 * k, 2) for k in range(10)]
FIELDS = (
    "dataset", "fold", "method", "variant", "settings", "tuned_on", "series", "AUP", "AUR",
    "AUROC", "I_per_cell", "S_per_cell", "salient_cells", "seconds_per_series",
    "classifier_accuracy", "load_1min",
)  # fmt: skip


# ---------------------------------------------------------------------------- data
def load(name: str, quick: bool):
    n = 200 if quick else 1000
    if name == "state":
        x, y, truth, _ = dynamask_state_data(n, 50 if quick else 200, standardize=False, seed=0)
    else:
        x, y, truth, _ = switch_feature_data(n, 50 if quick else 100, seed=0)
    return x, y, truth


def fold_split(n_train: int, fold: int, seed: int = 42):
    """tint's KFold(5, shuffle=True, random_state=seed) over the training series."""
    order = np.random.default_rng(seed).permutation(n_train)
    parts = np.array_split(order, 5)
    val = parts[fold]
    train = np.concatenate([p for i, p in enumerate(parts) if i != fold])
    return np.sort(train), np.sort(val)


def classifier(steps: int, units: int) -> keras.Model:
    """tint's ``StateClassifier`` per step: GRU, then BatchNorm, ReLU, Dropout(0.5) and a
    linear map to 2 logits at every step (tint's ``return_all``); no softmax, as there."""
    l2 = keras.regularizers.L2(5e-4)  # gradient 1e-3 w, as torch's weight_decay=1e-3
    return keras.Sequential(
        [
            keras.Input((steps, 3)),
            keras.layers.GRU(
                units, return_sequences=True, kernel_regularizer=l2, recurrent_regularizer=l2
            ),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2, kernel_regularizer=l2),
        ]
    )


def probabilities(model):
    """The classifier's per-step class probabilities (softmax of its logits)."""

    def probs(batch):
        return tf.nn.softmax(model(batch, training=False), axis=-1)

    return probs


def class_one_total(model):
    def total(batch):
        return tf.reduce_sum(tf.nn.softmax(model(batch, training=False))[..., 1], axis=1)[:, None]

    return total


# ------------------------------------------------------------------------ scoring
def score(truth, saliency) -> dict:
    salient = int(truth.sum())
    return {
        "AUP": metrics.area_under_precision(truth, saliency, integration="trapezoid"),
        "AUR": metrics.area_under_recall(truth, saliency, integration="trapezoid"),
        "AUROC": metrics.auroc(truth, saliency),
        "I_per_cell": metrics.mask_information(truth, saliency) / salient,
        "S_per_cell": metrics.mask_entropy(truth, saliency) / salient,
        "salient_cells": salient,
    }


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


# ------------------------------------------------------------------------ methods
def run_extremal(model, xs, cfg, seed, **settings):
    return ExtremalMask().fit(xs, model, n_epoch=cfg["epochs"], seed=seed, **settings).mask_tensor


def run_contralsp(model, xs, cfg, seed, **settings):
    fitted = ContraLSP().fit(xs, model, n_epoch=cfg["epochs"], seed=seed, **settings)
    return fitted.mask_tensor


def run_timing(model, xs, cfg, seed, **settings):
    explainer = TimingExplainer(class_one_total(model))
    return np.abs(explainer.attributions(xs, seed=seed, **settings))


def run_ig(model, xs, cfg, seed):
    explainer = PathExplainerTF(class_one_total(model))
    return np.abs(
        explainer.attributions(xs, np.zeros_like(xs[:1]), num_samples=50, use_expectation=False)
    )


def run_occlusion(model, xs, cfg, seed):
    return np.abs(Occlusion(class_one_total(model)).attributions(xs, baseline=cfg["train_mean"]))


def run_dynamask(model, xs, cfg, seed):
    settings = {**DYNAMASK, "n_epoch": cfg["dynamask_epochs"]}
    group = MaskGroup(GaussianBlur(sigma_max=1.0), task="classification").fit(
        xs, probabilities(model), AREAS, **settings
    )
    probs = probabilities(model)(xs)
    thresholds = np.asarray(log_loss(probs, probs))
    below = group.errors < thresholds[None]
    chosen = np.where(below.any(0), np.argmax(below, 0), np.argmin(group.errors, 0))
    return group.masks[chosen, np.arange(len(xs))]


def run_tsr(model, xs, cfg, seed):
    inner = PathExplainerTF(class_one_total(model))
    tsr = TemporalSaliencyRescaling(inner)
    return np.abs(
        tsr.attributions(xs, np.zeros_like(xs[:1]), num_samples=10, use_expectation=False)
    )


RUNNERS = {
    "extremal_mask": run_extremal,
    "contralsp": run_contralsp,
    "timing": run_timing,
    "integrated_gradients": run_ig,
    "occlusion": run_occlusion,
    "dynamask": run_dynamask,
    "tsr": run_tsr,
}


def grid(method: str, t: int) -> list[dict]:
    """The tuning grid of a method (empty: defaults only)."""
    if method == "contralsp":
        # the defaults, the reference's State (lambda_1 2) and Switch-Feature settings
        # (lambda_2 2, sigma 0.8), and both changes together
        return [
            dict(lambda_1=a, lambda_2=b, sigma=s)
            for a, b, s in ((1.0, 1.0, 0.5), (2.0, 1.0, 0.5), (1.0, 2.0, 0.8), (2.0, 2.0, 0.8))
        ]
    if method == "extremal_mask":
        # the defaults (lambda_perturbation 100, chosen on the rare experiments), a
        # weaker pull of the replacements (10), and each with a doubled area penalty
        # (sparser masks: precision for recall)
        return [
            dict(lambda_area=a, lambda_perturbation=p) for a in (1.0, 2.0) for p in (100.0, 10.0)
        ]
    if method == "timing":
        return [
            dict(num_segments=k, max_seg_len=m) for k in (5, 20, 50) for m in (max(1, t // 10), t)
        ]
    return []


def is_default(method: str, setting: dict, t: int, nf: int) -> bool:
    """Whether a tuned setting is the method's defaults (its row is then not rerun)."""
    defaults = {
        "contralsp": dict(lambda_1=1.0, lambda_2=1.0, sigma=0.5),
        "extremal_mask": dict(lambda_area=1.0, lambda_perturbation=100.0),
        "timing": dict(num_segments=default_num_segments(nf), max_seg_len=t),
    }.get(method, {})
    return all(defaults.get(k) == v for k, v in setting.items())


def variants_of(method: str, cfg: dict, t: int) -> list[str]:
    """The rows a fold has for ``method``: its defaults, the paper's (ExtremalMask) and a
    tuned one where the method has a grid and tuning series are given."""
    variants = ["default"]
    if method == "extremal_mask" and cfg["paper_row"]:
        variants.append("paper")
    if grid(method, t) and cfg["tune_series"]:
        variants.append("tuned")
    return variants


def tune(method, model, xv, tv, cfg, seed) -> tuple[dict, str]:
    """The best setting on validation series (mean of AUP and AUR), and a summary."""
    best, best_value, lines = None, -1.0, []
    for setting in grid(method, xv.shape[1]):
        s = score(tv, RUNNERS[method](model, xv, cfg, seed, **setting))
        value = 0.5 * (s["AUP"] + s["AUR"])
        lines.append(f"{setting}: AUP {s['AUP']:.3f} AUR {s['AUR']:.3f}")
        if value > best_value:
            best, best_value = setting, value
    return best, "; ".join(lines)


# ---------------------------------------------------------------------------- run
def run_fold(name, fold, data, cfg, methods, writer, handle, done=(), old=()) -> list[dict]:
    """Train the fold's classifier, then run and score ``methods``, writing each row.

    ``done``: the ``(method, variant)`` rows of this fold already measured (skipped);
    ``old``: those rows (a tuned setting equal to the defaults copies their row)."""
    x, y, truth = data
    n_train = int(0.8 * len(x))
    train, val = fold_split(n_train, fold)
    xs, ts = x[n_train:], truth[n_train:]
    if cfg["test_series"]:
        xs, ts = xs[: cfg["test_series"]], ts[: cfg["test_series"]]
    keras.utils.set_random_seed(fold)
    model = classifier(x.shape[1], cfg["units"])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4 if not cfg["quick"] else 1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    _, t_train = timed(
        lambda: model.fit(
            x[train], y[train], validation_data=(x[val], y[val]), epochs=cfg["train_epochs"],
            batch_size=32, verbose=0,
        )
    )  # fmt: skip
    accuracy = float(model.evaluate(xs, y[n_train:][: len(xs)], verbose=0)[1])
    print(
        f"{name} fold {fold}: GRU({cfg['units']}) trained {cfg['train_epochs']} epochs in "
        f"{t_train:.0f} s, per-step test accuracy {accuracy:.3f}",
        flush=True,
    )
    cfg = {**cfg, "train_mean": x[train].mean(axis=0)}
    xv, tv = x[val][: cfg["tune_series"]], truth[val][: cfg["tune_series"]]
    rows = []
    for method in methods:
        wanted = variants_of(method, cfg, x.shape[1])
        variants = [("default", {}, "")]
        if "paper" in wanted:  # lambda_1 = lambda_2 = 1
            variants.append(("paper", dict(lambda_area=1.0, lambda_perturbation=1.0), ""))
        if "tuned" in wanted and (method, "tuned") not in done:
            (best, summary), t_tune = timed(lambda m=method: tune(m, model, xv, tv, cfg, fold))
            print(f"  {method} tuning on {len(xv)} validation series ({t_tune:.0f} s): {summary}")
            variants.append(("tuned", best, f"{len(xv)} validation series of fold {fold}"))
        for variant, settings, tuned_on in variants:
            if (method, variant) in done:
                continue
            if variant == "tuned" and is_default(method, settings, x.shape[1], x.shape[2]):
                defaults = [
                    r for r in [*old, *rows] if (r["method"], r["variant"]) == (method, "default")
                ]
                row = {**defaults[-1], "variant": "tuned", "tuned_on": tuned_on}
                row["settings"] = f"{settings!r} (= the defaults: the default row, not rerun)"
                rows.append(row)
                writer.writerow(row)
                handle.flush()
                print(f"  {method:<21} tuned    = the defaults (the row above)", flush=True)
                continue
            limit = {"tsr": cfg["tsr_series"], "dynamask": cfg["dynamask_series"]}.get(method)
            subset = xs[:limit] if limit else xs
            truth_subset = ts[: len(subset)]
            saliency, seconds = timed(
                lambda m=method, s=settings, sub=subset: RUNNERS[m](model, sub, cfg, fold, **s)
            )
            row = {
                "dataset": name,
                "fold": fold,
                "method": method,
                "variant": variant,
                "settings": repr(settings) if settings else "defaults",
                "tuned_on": tuned_on or "-",
                "series": len(subset),
                **score(truth_subset, saliency),
                "seconds_per_series": seconds / len(subset),
                "classifier_accuracy": accuracy,
                "load_1min": os.getloadavg()[0],
            }
            rows.append(row)
            writer.writerow(row)
            handle.flush()
            print(
                f"  {method:<21} {variant:<8} AUP {row['AUP']:.3f} AUR {row['AUR']:.3f} "
                f"AUROC {row['AUROC']:.3f} I/cell {row['I_per_cell']:.3f} S/cell "
                f"{row['S_per_cell']:.3f}  {row['seconds_per_series']:.3f} s/series "
                f"({len(subset)} series); process peak RSS so far "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
                flush=True,
            )
    return rows


def report(all_rows: list[dict], quick: bool) -> None:
    print("\nTable: mean +/- std over the folds run (tint's metric definitions)")
    keys = sorted({(r["dataset"], r["method"], r["variant"]) for r in all_rows})
    ig_time = {}
    for d, m, _v in keys:
        if m == "integrated_gradients":
            ig_time[d] = np.mean(
                [
                    float(r["seconds_per_series"])
                    for r in all_rows
                    if (r["dataset"], r["method"]) == (d, m)
                ]
            )
    header = f"  {'dataset':<7} {'method':<21} {'variant':<8} {'folds':>5} {'series':>6}"
    header += "".join(f"{k:>17}" for k in ("AUP", "AUR", "AUROC", "I/cell", "S/cell"))
    print(header + f"{'s/series':>12}{'x IG time':>10}  settings")
    means = {}
    for d, m, v in keys:
        sel = [r for r in all_rows if (r["dataset"], r["method"], r["variant"]) == (d, m, v)]
        cells = []
        for k in ("AUP", "AUR", "AUROC", "I_per_cell", "S_per_cell"):
            vals = np.array([float(r[k]) for r in sel])
            cells.append(f"{vals.mean():.3f} +/- {vals.std():.3f}".rjust(17))
            means[(d, m, v, k)] = vals.mean()
        sec = np.mean([float(r["seconds_per_series"]) for r in sel])
        ratio = f"{sec / ig_time[d]:.1f}" if d in ig_time else "-"
        # a tuned row's settings may differ by fold (each fold's own validation series)
        chosen = sorted({r["settings"].split(" (")[0] for r in sel})
        if len(chosen) == 1:
            settings = sel[-1]["settings"] + (
                f" (tuned on {sel[-1]['tuned_on']})" if sel[-1]["tuned_on"] != "-" else ""
            )
        else:
            settings = f"by fold ({v} on each fold's own series): {' | '.join(chosen)}"
        series = "/".join(sorted({str(r["series"]) for r in sel}, key=int))  # per fold
        print(
            f"  {d:<7} {m:<21} {v:<8} {len(sel):>5} {series:>6}" + "".join(cells)
            + f"{sec:>12.3f}{ratio:>10}  {settings}"
        )  # fmt: skip
    note = " (quick run: not the benchmark)" if quick else ""
    for d, (method, aup, aur) in TARGETS.items():
        if (d, method, "default", "AUP") not in means:
            continue
        for v in ("default", "paper", "tuned"):
            if (d, method, v, "AUP") not in means:
                continue
            got_p, got_r = means[(d, method, v, "AUP")], means[(d, method, v, "AUR")]
            ok = got_p >= aup and got_r >= aur
            print(
                f"  target {d} {method} ({v}) AUP >= {aup}, AUR >= {aur}: {got_p:.3f} / "
                f"{got_r:.3f} {'met' if ok else 'NOT met'}{note}"
            )
    for d, (aup, aur) in BEST_PUBLISHED.items():
        both = [
            (m, v)
            for (dd, m, v, k) in means
            if dd == d and k == "AUP" and means[(d, m, v, "AUP")] >= aup
            and means[(d, m, v, "AUR")] >= aur
        ]  # fmt: skip
        if any(dd == d for (dd, *_rest) in means):
            print(
                f"  aim {d}: a method at or above the best published AUP {aup} and AUR {aur} at "
                f"once: {', '.join(f'{m} ({v})' for m, v in both) if both else 'none'}{note}"
            )
    for d, table in PUBLISHED.items():
        print(f"  published {d} (5-fold means, AUP / AUR): " + ", ".join(
            f"{m} {p:.3f} / {r:.3f}" for m, (p, r) in table.items()))  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--test-series", type=int, default=0, help="0: all 200 (the paper)")
    parser.add_argument("--tune-series", type=int, default=40, help="validation series, 0: none")
    parser.add_argument("--tsr-series", type=int, default=4)
    parser.add_argument(
        "--dynamask-series", type=int, default=0, help="first test series for Dynamask, 0: all"
    )
    parser.add_argument("--mask-epochs", type=int, default=500, help="the papers: 500")
    parser.add_argument("--dynamask-epochs", type=int, default=1000, help="the paper: 1000")
    parser.add_argument("--csv", default="bench_fidelity.csv")
    parser.add_argument("--resume", action="store_true", help="skip folds already in --csv")
    parser.add_argument(
        "--no-paper-row", action="store_true", help="no ExtremalMask row at the paper's (1, 1)"
    )
    args = parser.parse_args(argv)
    if any(f not in range(5) for f in args.folds):
        parser.error(f"--folds must be in 0..4. Received: {args.folds}")
    cfg = dict(
        quick=args.quick,
        units=200,
        train_epochs=50,
        epochs=args.mask_epochs,
        dynamask_epochs=args.dynamask_epochs,
        test_series=args.test_series,
        tune_series=args.tune_series,
        tsr_series=args.tsr_series,
        dynamask_series=args.dynamask_series,
        paper_row=not args.no_paper_row,
    )
    if args.quick:
        cfg.update(units=16, train_epochs=3, epochs=30, dynamask_epochs=30, test_series=8)
        cfg.update(tune_series=min(args.tune_series, 6), tsr_series=2)
        args.folds = args.folds[:1]
        args.csv = args.csv.replace(".csv", "_quick.csv")
    print(machine_line())
    print(
        f"settings: datasets {args.datasets}, folds {args.folds}, methods {args.methods}; "
        f"GRU({cfg['units']}) trained {cfg['train_epochs']} epochs; masks "
        f"{cfg['epochs']} epochs; test series {cfg['test_series'] or 'all 200'}; tuning on "
        f"{cfg['tune_series']} validation series; TSR on {cfg['tsr_series']} test series; "
        f"Dynamask {cfg['dynamask_epochs']} epochs on {cfg['dynamask_series'] or 'all'} test series"
    )
    path = Path(args.csv)
    done = set()
    old_rows: list[dict] = []
    if args.resume and path.exists():
        with path.open() as f:
            old_rows = list(csv.DictReader(f))
        done = {(r["dataset"], int(r["fold"]), r["method"], r["variant"]) for r in old_rows}
    new_file = not path.exists() or not args.resume
    handle = path.open("w" if new_file else "a", newline="")
    writer = csv.DictWriter(handle, fieldnames=FIELDS)
    if new_file:
        writer.writeheader()
    rows = list(old_rows)
    started = time.perf_counter()
    for name in args.datasets:
        data = load(name, args.quick)
        for fold in args.folds:
            here = {(m, v) for d, f, m, v in done if (d, f) == (name, fold)}
            todo = [
                m for m in args.methods
                if any((m, v) not in here for v in variants_of(m, cfg, data[0].shape[1]))
            ]  # fmt: skip
            if len(todo) < len(args.methods):
                print(f"{name} fold {fold}: {sorted(set(args.methods) - set(todo))} in {path}, "
                      "skipped (--resume)")  # fmt: skip
            if todo:
                old = [r for r in old_rows if (r["dataset"], int(r["fold"])) == (name, fold)]
                rows += run_fold(name, fold, data, cfg, todo, writer, handle, here, old)
    handle.close()
    report(rows, args.quick)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nwall time {time.perf_counter() - started:.0f} s; peak memory {peak:.0f} MiB; CSV {path}"
    )
    print(machine_line().replace("machine:", "machine at the end:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
