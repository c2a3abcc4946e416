"""Benchmark: tf_tsexplain.PathExplainerTF against path_explain and a raw lower bound.

What it measures, on an LSTM(64) -> Dense(1) model over inputs of 20 steps x 5
features (float32, fixed seeds):

(a) expected gradients, 32 inputs x 200 samples, reference set of 100 rows;
(b) full integrated Hessians (``interaction_index=None``, zero baseline),
    8 inputs x 50 samples;
(c) full integrated Hessians of 2 sequences of 100 steps x 6 features through an
    LSTM(32) -> Dense(4) model, default arguments: time and peak RSS, in a fresh
    process next to a baseline child that only builds and calls the model.

Each case is timed for three systems:

1. tf_tsexplain ``PathExplainerTF`` called as a user calls it, with DEFAULT
   arguments (no ``batch_size``: chosen from the 1 GiB memory budget): cold (first
   call on a fresh explainer, including tf.function tracing) and warm (the best of
   later identical calls; for (a) timed in rounds alternating with the raw bound, so
   both see the same machine state). (b) also with ``hessian_method="jacobian"``.
2. path_explain 0.0.7 ``PathExplainerTF`` (eager), run once per case as its README
   calls it: (a) batch_size=100, (b) batch_size=num_samples; output_indices=0. It is
   optional; install it with

       pip install path-explain==0.0.7 tqdm

   (torch is not needed: the benchmark puts a stub ``torch`` module in
   ``sys.modules`` while importing path_explain, and removes it afterwards). Without
   it the benchmark prints a message and skips this system.
3. A raw lower bound: one tf.function (``None`` batch axis) per case with no
   bookkeeping: (a) the gradients at all path points, in chunks of 8, 16 and 32
   inputs (1,600 to 6,400 rows), the best of them; (b) the Hessians
   at all 8 * 50 path points in chunks of 50, by (i) tiled reverse-over-reverse
   Hessian-vector products (each point repeated d = 100 times) and (ii)
   ``GradientTape.batch_jacobian`` (pfor). Cold and warm times for each.

It also checks completeness of interactions (integrated-Hessian row sums against the
integrated gradients, relative to max |attribution|) for tf_tsexplain and, when
available, path_explain.

Targets: (a) >= 20x path_explain and <= 1.2x the raw bound, (b) >= 15x path_explain,
(c) peak RSS under 4 GB.

Run it from the repository root (it takes a few minutes; path_explain alone takes
about a minute):

    python examples/benchmarks/bench_path.py            # full benchmark
    python examples/benchmarks/bench_path.py --quick    # tiny smoke test (no
                                                        # path_explain, no memory)
    python examples/benchmarks/bench_path.py --only ih  # (b) only, defaults vs
                                                        # path_explain, ~2 minutes

``--only ih`` times case (b) as a user runs it: a fresh explainer with default
arguments, cold (first call, tracing included) and warm (best of two more calls),
path_explain once, the peak RSS added by each, the numbers' agreement with
path_explain's sqrt(n)-grid and the completeness of interactions; and prints the
figures of the previous release (issue 28) as "before".

Timings are wall-clock seconds on a shared machine: check the load average in the
header, and close other TensorFlow jobs for stable numbers.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import resource
import subprocess
import sys
import threading
import time
import types

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF  # noqa: E402

T, F = 20, 5
D = T * F
SEED = 0

FULL = {
    "eg_inputs": 32,
    "eg_samples": 200,
    "n_refs": 100,
    "ih_inputs": 8,
    "ih_samples": 50,
    "ih_batch": 50,
    "raw_chunk": 50,
}
QUICK = {
    "eg_inputs": 4,
    "eg_samples": 20,
    "n_refs": 10,
    "ih_inputs": 2,
    "ih_samples": 5,
    "ih_batch": 50,
    "raw_chunk": 50,
}
C_SHAPE = (2, 100, 6)  # case (c): inputs x steps x features
C_UNITS, C_CLASSES = 32, 4
TARGET_PEAK_GB = 4.0
RAW_CHUNK_INPUTS = (8, 16, 32)

TARGET_SPEEDUP = {"a": 20.0, "b": 15.0}  # path_explain / tf_tsexplain, at least
TARGET_OVERHEAD = 1.2  # tf_tsexplain / raw, at most
WARM_REPEATS_A = 5  # warm timings are the best of this many calls
WARM_REPEATS_B = 2
TARGET_COMPLETENESS = 0.01  # |IH row sums - IG| / max |IG|, at most


# ---------------------------------------------------------------------- set-up
def build_model():
    keras.utils.set_random_seed(SEED)
    return keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(64), keras.layers.Dense(1)])


def make_data(cfg):
    rng = np.random.default_rng(SEED)
    return {
        "x_eg": rng.normal(size=(cfg["eg_inputs"], T, F)).astype(np.float32),
        "refs": rng.normal(size=(cfg["n_refs"], T, F)).astype(np.float32),
        "x_ih": rng.normal(size=(cfg["ih_inputs"], T, F)).astype(np.float32),
        "zero": np.zeros((1, T, F), np.float32),
    }


def warm_up_runtime(model, x):
    """One eager forward and backward pass, so no system pays TF's start-up costs."""
    x = tf.constant(x[:2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x, training=False)
    tape.gradient(y, x).numpy()


def timed(fn, repeat=1):
    """Best wall-clock time of ``repeat`` calls (warm timings vary by 20-40% per run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


# ---------------------------------------------------------------------- path_explain
def import_path_explain():
    """Return (path_explain.PathExplainerTF, version) or (None, reason)."""
    if importlib.util.find_spec("path_explain") is None:
        return None, "path_explain is not installed"
    stubbed = []
    if importlib.util.find_spec("tqdm") is None and "tqdm" not in sys.modules:
        # path_explain imports tqdm (undeclared) for its verbose progress bars only;
        # the benchmark never asks for them, so an identity stand-in is enough.
        tqdm = types.ModuleType("tqdm")
        tqdm.tqdm = lambda iterable=None, *args, **kwargs: iterable
        tqdm.__all__ = ["tqdm"]
        sys.modules["tqdm"] = tqdm
        stubbed.append("tqdm")
    if importlib.util.find_spec("torch") is None:
        # path_explain/__init__ imports its torch explainer, which runs `import torch`
        # and `from torch.autograd import grad` at module level; nothing else is used.
        def _no_torch(*args, **kwargs):
            raise RuntimeError("torch is a stub in this benchmark")

        torch = types.ModuleType("torch")
        autograd = types.ModuleType("torch.autograd")
        autograd.grad = _no_torch
        torch.autograd = autograd
        for name, module in (("torch", torch), ("torch.autograd", autograd)):
            if name not in sys.modules:
                sys.modules[name] = module
                stubbed.append(name)
    try:
        from path_explain import PathExplainerTF as ReferenceExplainer
    except Exception as err:  # any import failure means: skip this system
        return None, f"importing path_explain failed: {type(err).__name__}: {err}"
    finally:
        for name in stubbed:  # keep the stub away from every other library
            sys.modules.pop(name, None)
    return ReferenceExplainer, importlib.metadata.version("path-explain")


# ---------------------------------------------------------------------- raw lower bound
def make_raw_gradients(model):
    """Expected gradients with no bookkeeping: one batch of all path points.

    Rows are ordered input by input (num_samples rows each); weights are 1/num_samples.
    """
    spec = tf.TensorSpec((None, T, F), tf.float32)
    index_spec = tf.TensorSpec((None,), tf.int32)
    alpha_spec = tf.TensorSpec((None,), tf.float32)

    @tf.function(input_signature=[spec, spec, index_spec, alpha_spec])
    def raw_gradients(x, refs, ref_index, alphas):
        n = tf.shape(x)[0]
        samples = tf.shape(alphas)[0] // n
        base = tf.gather(refs, ref_index)
        delta = tf.repeat(x, samples, axis=0) - base
        points = base + alphas[:, None, None] * delta
        with tf.GradientTape() as tape:
            tape.watch(points)
            y = model(points, training=False)[:, 0]
        contributions = delta * tape.gradient(y, points)
        return tf.reduce_mean(tf.reshape(contributions, [n, samples, T, F]), axis=1)

    return raw_gradients


def make_raw_hessians_tiled(model):
    """Hessians (n, D, D) by reverse-over-reverse HVPs on D tiled copies of each point."""

    @tf.function(input_signature=[tf.TensorSpec((None, T, F), tf.float32)])
    def raw_hessians_tiled(points):
        n = tf.shape(points)[0]
        copies = tf.repeat(points, D, axis=0)  # copy k of a point selects gradient entry k
        with tf.GradientTape() as outer:
            outer.watch(copies)
            with tf.GradientTape() as inner:
                inner.watch(copies)
                y = model(copies, training=False)[:, 0]
            grads = tf.reshape(inner.gradient(y, copies), [n, D, D])
            selected = tf.reduce_sum(grads * tf.eye(D), axis=-1)
        return tf.reshape(outer.gradient(selected, copies), [n, D, D])

    return raw_hessians_tiled


def make_raw_hessians_jacobian(model):
    """Hessians (n, D, D) by tape.batch_jacobian of the gradient (pfor)."""

    @tf.function(input_signature=[tf.TensorSpec((None, T, F), tf.float32)])
    def raw_hessians_jacobian(points):
        n = tf.shape(points)[0]
        with tf.GradientTape() as outer:
            outer.watch(points)
            with tf.GradientTape() as inner:
                inner.watch(points)
                y = model(points, training=False)[:, 0]
            grads = tf.reshape(inner.gradient(y, points), [n, D])
        return tf.reshape(outer.batch_jacobian(grads, points), [n, D, D])

    return raw_hessians_jacobian


def run_raw_hessians(fn, points, chunk):
    """Hessians of every point, chunk by chunk; returns the first chunk's Hessians."""
    first = None
    for start in range(0, len(points), chunk):
        hess = fn(points[start : start + chunk]).numpy()
        if first is None:
            first = hess
    return first


def ih_path_points(x, num_samples):
    """Path points s * x (zero baseline) on a midpoint grid in s, input by input."""
    s = (np.arange(num_samples, dtype=np.float32) + 0.5) / num_samples
    points = s[None, :, None, None] * x[:, None]
    return points.reshape(-1, T, F)


# ---------------------------------------------------------------------- the systems
def bench_tf_tsexplain(model, data, cfg):
    s_a = cfg["eg_samples"]
    s_b = cfg["ih_samples"]
    eg_kwargs = {"num_samples": s_a, "use_expectation": True, "output_indices": 0, "seed": SEED}
    ih_kwargs = {"num_samples": s_b, "use_expectation": False, "output_indices": 0}
    res = {}

    explainer = PathExplainerTF(model)

    def eg_call():  # defaults: no batch_size
        return explainer.attributions(data["x_eg"], data["refs"], **eg_kwargs)

    res["a_cold"], _ = timed(eg_call)
    res["a_warm"], _ = timed(eg_call, repeat=WARM_REPEATS_A)
    res["a_rows_per_call"] = explainer.rows_per_call(data["x_eg"])

    explainer = PathExplainerTF(model)

    def ih_call():
        return explainer.interactions(
            data["x_ih"], data["zero"], interaction_index=None, **ih_kwargs
        )

    res["b_cold"], _ = timed(ih_call)
    res["b_warm"], ih = timed(ih_call, repeat=WARM_REPEATS_B)

    ig = explainer.attributions(data["x_ih"], data["zero"], **ih_kwargs)
    res["completeness"] = completeness_deviation(ih, ig)

    # The same with pfor's batch Jacobian: slow to trace on an LSTM, faster once traced.
    explainer = PathExplainerTF(model, hessian_method="jacobian")
    res["bj_cold"], _ = timed(ih_call)
    res["bj_warm"], ih_jacobian = timed(ih_call, repeat=WARM_REPEATS_B)
    res["methods_agree"] = float(np.abs(ih_jacobian - ih).max() / np.abs(ih).max())
    res["ig_fx_gap"] = ig_completeness_gap(model, data["x_ih"], ig)
    return res


def bench_path_explain(reference_cls, model, data, cfg):
    s_a, s_b = cfg["eg_samples"], cfg["ih_samples"]
    np.random.seed(SEED)  # path_explain samples with the global numpy generator
    res = {}
    explainer = reference_cls(model)
    res["a"], _ = timed(
        lambda: explainer.attributions(
            data["x_eg"],
            data["refs"],
            batch_size=100,
            num_samples=s_a,
            use_expectation=True,
            output_indices=0,
        )
    )
    ih_kwargs = {
        "batch_size": s_b,
        "num_samples": s_b,
        "use_expectation": False,
        "output_indices": 0,
    }
    res["b"], ih = timed(
        lambda: explainer.interactions(
            data["x_ih"], data["zero"], interaction_index=None, **ih_kwargs
        )
    )
    ig = explainer.attributions(data["x_ih"], data["zero"], **ih_kwargs)
    res["completeness"] = completeness_deviation(ih, ig)

    return res


def bench_raw(model, data, cfg):
    n_a, s_a = cfg["eg_inputs"], cfg["eg_samples"]
    rng = np.random.default_rng(SEED)
    ref_index = rng.integers(0, len(data["refs"]), size=n_a * s_a).astype(np.int32)
    alphas = rng.uniform(size=n_a * s_a).astype(np.float32)
    x = tf.constant(data["x_eg"])
    refs = tf.constant(data["refs"])
    res = {}

    raw_gradients = make_raw_gradients(model)

    def eg_call(inputs_per_chunk):
        rows = inputs_per_chunk * s_a
        return np.concatenate(
            [
                raw_gradients(
                    x[i : i + inputs_per_chunk],
                    refs,
                    ref_index[i * s_a : i * s_a + rows],
                    alphas[i * s_a : i * s_a + rows],
                ).numpy()
                for i in range(0, n_a, inputs_per_chunk)
            ]
        )

    res["a_cold"], _ = timed(lambda: eg_call(n_a))
    chunked = {
        k: timed(lambda k=k: eg_call(k), repeat=WARM_REPEATS_A)[0]
        for k in RAW_CHUNK_INPUTS
        if k <= n_a
    } or {n_a: timed(lambda: eg_call(n_a), repeat=WARM_REPEATS_A)[0]}
    best = min(chunked, key=chunked.get)
    res["a_warm"], res["a_best_chunk"] = chunked[best], best * s_a

    points = ih_path_points(data["x_ih"], cfg["ih_samples"])
    chunk = cfg["raw_chunk"]
    first = {}
    for name, factory in (
        ("tiled", make_raw_hessians_tiled),
        ("jacobian", make_raw_hessians_jacobian),
    ):
        fn = factory(model)
        res[f"b_{name}_cold"], _ = timed(lambda fn=fn: run_raw_hessians(fn, points, chunk))
        res[f"b_{name}_warm"], first[name] = timed(
            lambda fn=fn: run_raw_hessians(fn, points, chunk), repeat=WARM_REPEATS_B
        )
    scale = np.max(np.abs(first["jacobian"]))
    res["raw_agreement"] = float(np.max(np.abs(first["tiled"] - first["jacobian"])) / scale)
    return res


def interleaved_a(model, data, cfg, raw_chunk_rows):
    """Warm (a) again, tf_tsexplain (defaults) and the raw bound (its best chunk) in
    alternating rounds, best of each: the two see the same machine state."""
    s_a, n_a = cfg["eg_samples"], cfg["eg_inputs"]
    explainer = PathExplainerTF(model)
    kwargs = {"num_samples": s_a, "use_expectation": True, "output_indices": 0, "seed": SEED}
    raw_gradients = make_raw_gradients(model)
    rng = np.random.default_rng(SEED)
    ref_index = rng.integers(0, len(data["refs"]), size=n_a * s_a).astype(np.int32)
    alphas = rng.uniform(size=n_a * s_a).astype(np.float32)
    x, refs = tf.constant(data["x_eg"]), tf.constant(data["refs"])
    per_chunk = raw_chunk_rows // s_a

    def ours():
        return explainer.attributions(data["x_eg"], data["refs"], **kwargs)

    def raw():
        return [
            raw_gradients(
                x[i : i + per_chunk],
                refs,
                ref_index[i * s_a : (i + per_chunk) * s_a],
                alphas[i * s_a : (i + per_chunk) * s_a],
            ).numpy()
            for i in range(0, n_a, per_chunk)
        ]

    ours(), raw()
    best_ours = best_raw = float("inf")
    for _ in range(2 * WARM_REPEATS_A):
        best_ours = min(best_ours, timed(ours)[0])
        best_raw = min(best_raw, timed(raw)[0])
    return best_ours, best_raw


# ---------------------------------------------------------------------- checks
def completeness_deviation(interactions, attributions):
    """max |sum_j Gamma_ij - phi_i| / max |phi|, for full interaction matrices."""
    n = attributions.shape[0]
    row_sums = interactions.reshape(n, D, D).sum(axis=-1).reshape(attributions.shape)
    return float(np.max(np.abs(row_sums - attributions)) / np.max(np.abs(attributions)))


def ig_completeness_gap(model, x, ig):
    """max_n |sum IG_n - (f(x_n) - f(0))| / max_n |f(x_n) - f(0)|."""
    fx = model(x, training=False).numpy()[:, 0]
    f0 = model(np.zeros_like(x), training=False).numpy()[:, 0]
    gap = np.abs(ig.reshape(len(x), -1).sum(axis=1) - (fx - f0))
    return float(np.max(gap) / np.max(np.abs(fx - f0)))


# ---------------------------------------------------------------------- memory children
def build_model_c():
    keras.utils.set_random_seed(SEED)
    return keras.Sequential(
        [
            keras.Input(C_SHAPE[1:]),
            keras.layers.LSTM(C_UNITS),
            keras.layers.Dense(C_CLASSES, activation="softmax"),
        ]
    )


def memory_child(arg):
    """Case (c) in a fresh process: 'base' builds and calls the model only; 'c' also
    computes the full integrated Hessians with default arguments. Prints the peak
    RSS in KiB and the time of the call."""
    model = build_model_c()
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=C_SHAPE).astype(np.float32)
    model(x, training=False)
    seconds = 0.0
    before = current_rss_kib()
    during = before
    if arg == "c":
        # the peak of the current RSS while the call runs, sampled every 20 ms: what
        # the call itself adds (ru_maxrss may be set by TensorFlow's start-up)
        samples, done = [before], threading.Event()

        def sample():
            while not done.wait(0.02):
                samples.append(current_rss_kib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        result = PathExplainerTF(model).interactions(
            x, np.zeros(C_SHAPE[1:], np.float32), use_expectation=False, output_indices=0
        )
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        during = max(samples)
        assert result.shape == (C_SHAPE[0],) + C_SHAPE[1:] * 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        peak //= 1024
    print(f"MAXRSS_KIB {peak} SECONDS {seconds:.2f} BEFORE_KIB {before} DURING_KIB {during}")


def current_rss_kib() -> int:
    """The process's resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def measure_memory():
    """Peak RSS (MiB) and seconds of fresh children: 'base' and 'c'."""
    out = {}
    for arg in ("base", "c"):
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--memory-child", arg],
            capture_output=True,
            text=True,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MAXRSS_KIB ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            print(f"  memory child {arg} failed (exit {proc.returncode}): {' | '.join(tail)}")
            out[arg] = None
        else:
            fields = lines[-1].split()
            out[arg] = (
                int(fields[1]) / 1024.0,
                float(fields[3]),
                int(fields[5]) / 1024.0,
                int(fields[7]) / 1024.0,
            )
    return out


# ---------------------------------------------------------------------- report
def mark(ok):
    return "met" if ok else "NOT met"


def fmt(seconds):
    return "-" if seconds is None else f"{seconds:8.3f}"


def print_report(cfg, tsx, pe, raw, memory):
    a_desc = f"{cfg['eg_inputs']} inputs x {cfg['eg_samples']} samples"
    b_desc = f"{cfg['ih_inputs']} inputs x {cfg['ih_samples']} samples"
    rows = [
        (
            "(a)",
            f"tf_tsexplain, defaults ({tsx['a_rows_per_call']} rows/call)",
            tsx["a_cold"],
            tsx["a_warm"],
        ),
        ("(a)", "path_explain, batch_size=100 (one run)", pe and pe["a"], None),
        (
            "(a)",
            f"raw tf.function, best chunk {raw['a_best_chunk']} rows",
            raw["a_cold"],
            raw["a_warm"],
        ),
        ("(b)", "tf_tsexplain, defaults", tsx["b_cold"], tsx["b_warm"]),
        ("(b)", "tf_tsexplain, hessian_method='jacobian'", tsx["bj_cold"], tsx["bj_warm"]),
        ("(b)", f"path_explain, batch_size={cfg['ih_samples']} (one run)", pe and pe["b"], None),
        (
            "(b)",
            f"raw tiled HVP, chunks of {cfg['raw_chunk']}",
            raw["b_tiled_cold"],
            raw["b_tiled_warm"],
        ),
        (
            "(b)",
            f"raw batch_jacobian, chunks of {cfg['raw_chunk']}",
            raw["b_jacobian_cold"],
            raw["b_jacobian_warm"],
        ),
    ]
    print()
    print(f"(a) expected gradients, {a_desc}, {cfg['n_refs']} reference rows")
    print(f"(b) full integrated Hessians, zero baseline, {b_desc}")
    print()
    print(f"{'case':<5} {'system':<44} {'cold s':>8} {'warm s':>8}")
    for case, name, cold, warm in rows:
        print(f"{case:<5} {name:<44} {fmt(cold):>8} {fmt(warm):>8}")

    print()
    print("Ratios (cold includes tf.function tracing; path_explain is eager, one run)")
    for case, variant, label in (("a", "a", ""), ("b", "b", " tiled"), ("b", "bj", " jacobian")):
        if pe is None:
            print(f"({case}) path_explain / tf_tsexplain: skipped (path_explain unavailable)")
            continue
        target = TARGET_SPEEDUP[case]
        for kind in ("warm", "cold"):
            ratio = pe[case] / tsx[f"{variant}_{kind}"]
            print(
                f"({case}) speedup path_explain / tf_tsexplain{label} {kind}: {ratio:7.1f}x "
                f"(target >= {target:.0f}x: {mark(ratio >= target)})"
            )
    overheads = [
        ("a", "a", "raw tf.function", "a"),
        ("b", "b", "raw tiled HVP (same algorithm)", "b_tiled"),
        ("b", "bj", "raw batch_jacobian (same algorithm)", "b_jacobian"),
    ]
    for case, variant, name, key in overheads:
        for kind in ("warm", "cold"):
            ratio = tsx[f"{variant}_{kind}"] / raw[f"{key}_{kind}"]
            print(
                f"({case}) tf_tsexplain / {name}, {kind} vs {kind}: {ratio:5.2f}x "
                f"(target <= {TARGET_OVERHEAD}x: {mark(ratio <= TARGET_OVERHEAD)})"
            )

    print()
    print("Checks")
    dev = tsx["completeness"]
    print(
        f"  tf_tsexplain: max |IH row sums - IG| / max |IG| = {dev:.2e} "
        f"(target <= {TARGET_COMPLETENESS:.0%}: {mark(dev <= TARGET_COMPLETENESS)})"
    )
    print(
        f"  tf_tsexplain: max |sum IG - (f(x) - f(0))| / max |f(x) - f(0)| = {tsx['ig_fx_gap']:.2e}"
    )
    if pe is not None:
        print(
            f"  path_explain: max |IH row sums - IG| / max |IG| = {pe['completeness']:.2e} "
            f"(sqrt(n) x sqrt(n) grid; for comparison)"
        )
    print(f"  raw tiled HVP vs batch_jacobian Hessians (first chunk): {raw['raw_agreement']:.2e}")
    print(
        "  tf_tsexplain tiled vs jacobian interactions, max |diff| / max: "
        f"{tsx['methods_agree']:.2e}"
    )

    if memory is not None:
        n, t, f = C_SHAPE
        print()
        print(
            f"(c) full integrated Hessians, {n} inputs of {t} x {f}, LSTM({C_UNITS}) -> "
            f"{C_CLASSES} classes, default arguments (100 nodes, {n * 100 * t * f:,} model "
            "rows), fresh processes, peak RSS (ru_maxrss)"
        )
        base, c = memory.get("base"), memory.get("c")
        label = "imports + model + one forward pass"
        print(f"  {label:<38} {base[0]:8.0f} MiB" if base else f"  {label:<38} failed")
        if c is None:
            print("  (c) with defaults                      failed (NOT met)")
        else:
            peak_gb = c[0] / 1024
            print(
                f"  (c) with defaults                      {c[0]:8.0f} MiB peak, {c[1]:.1f} s "
                f"(target < {TARGET_PEAK_GB:.0f} GB: {mark(peak_gb < TARGET_PEAK_GB)})"
            )
            print(
                f"      current RSS before the call {c[2]:.0f} MiB, highest during it "
                f"{c[3]:.0f} MiB (+{c[3] - c[2]:.0f} MiB for the call; budget 1024 MiB)"
            )


# ---------------------------------------------------------------------- (b) only
# The figures of the release before issue 28 (the tiled route for recurrent models),
# measured by this script on the same kind of machine; the loop route is timed in the
# same run (``hessian_method="loop"``).
BEFORE_B = (
    "before (the release of issue 28): defaults (tiled) 9.1-13.4x cold; jacobian 19.3x warm, "
    "~40 s trace"
)


def peak_rss_during(fn):
    """(seconds, result, extra MiB): the call's time and the highest current RSS
    above the RSS before it, sampled every 20 ms."""
    before = current_rss_kib()
    samples, done = [before], threading.Event()

    def sample():
        while not done.wait(0.02):
            samples.append(current_rss_kib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, out, (max(samples) - before) / 1024.0


def run_only_ih(cfg, reference_cls):
    model = build_model()
    data = make_data(cfg)
    warm_up_runtime(model, data["x_eg"])
    kwargs = {"num_samples": cfg["ih_samples"], "use_expectation": False, "output_indices": 0}
    explainer = PathExplainerTF(model)

    def ours():
        return explainer.interactions(data["x_ih"], data["zero"], **kwargs)

    cold, ih, cold_mib = peak_rss_during(ours)
    warm, _ = timed(ours, repeat=WARM_REPEATS_B)
    route = explainer.last_interactions_info.hessian_method
    loop_explainer = PathExplainerTF(model, hessian_method="loop")  # the other fast-trace route

    def loop():
        return loop_explainer.interactions(data["x_ih"], data["zero"], **kwargs)

    loop_cold, ih_loop, loop_mib = peak_rss_during(loop)
    loop_warm, _ = timed(loop, repeat=WARM_REPEATS_B)
    loop_gap = float(np.abs(ih - ih_loop).max() / np.abs(ih_loop).max())
    ig = explainer.attributions(data["x_ih"], data["zero"], **kwargs)
    completeness = completeness_deviation(ih, ig)
    pe_seconds = pe_mib = None
    if reference_cls is not None:
        np.random.seed(SEED)
        reference = reference_cls(model)
        pe_kwargs = dict(kwargs, batch_size=cfg["ih_samples"])
        pe_seconds, pe_ih, pe_mib = peak_rss_during(
            lambda: reference.interactions(
                data["x_ih"], data["zero"], interaction_index=None, **pe_kwargs
            )
        )
        pe_ig = reference.attributions(data["x_ih"], data["zero"], **pe_kwargs)
        pe_completeness = completeness_deviation(np.asarray(pe_ih), np.asarray(pe_ig))
    print()
    print(
        f"(b) full integrated Hessians, zero baseline, {cfg['ih_inputs']} inputs x "
        f"{cfg['ih_samples']} samples, LSTM(64) on {T} x {F}, defaults (route: {route})"
    )
    print(f"  tf_tsexplain cold {cold:7.2f} s (+{cold_mib:.0f} MiB peak RSS), warm {warm:7.2f} s")
    print(
        f"  loop route   cold {loop_cold:7.2f} s (+{loop_mib:.0f} MiB peak RSS), warm "
        f"{loop_warm:7.2f} s (hessian_method='loop'; max |diff| / max vs defaults "
        f"{loop_gap:.1e})"
    )
    if pe_seconds is not None:
        print(f"  path_explain       {pe_seconds:7.2f} s (+{pe_mib:.0f} MiB peak RSS), one run")
        target = TARGET_SPEEDUP["b"]
        for kind, ours_s, loop_s in (("cold", cold, loop_cold), ("warm", warm, loop_warm)):
            ratio = pe_seconds / ours_s
            verdict = mark(ratio >= target) if kind == "cold" else "-"
            print(
                f"  after: speedup path_explain / tf_tsexplain {kind}: {ratio:6.1f}x "
                f"(target >= {target:.0f}x cold: {verdict}); loop route: "
                f"{pe_seconds / loop_s:.1f}x"
            )
        print(
            f"  completeness max |rows - IG| / max |IG|: tf_tsexplain {completeness:.2e}, "
            f"path_explain {pe_completeness:.2e}"
        )
    else:
        print("  path_explain: skipped")
        print(f"  completeness max |rows - IG| / max |IG|: {completeness:.2e}")
    print(f"  {BEFORE_B}")
    print(machine_line())


# ---------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, no path_explain and no memory children (smoke test)",
    )
    parser.add_argument(
        "--only",
        choices=("ih",),
        help="run one part only: 'ih' = case (b) with defaults against path_explain",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return

    cfg = QUICK if args.quick else FULL
    print(machine_line())
    reference_cls = None
    if args.quick:
        print("  path_explain: skipped (--quick)")
    else:
        reference_cls, info = import_path_explain()
        if reference_cls is None:
            print(f"  path_explain: SKIPPED, {info}.")
            print("    Install it with: pip install path-explain==0.0.7 tqdm")
        else:
            print(f"  path_explain: {info}")
    only = f", only {args.only}" if args.only else ""
    print(f"  mode       : {'quick' if args.quick else 'full'}{only}")
    sys.stdout.flush()
    if args.only == "ih":
        run_only_ih(cfg, reference_cls)
        return

    model = build_model()
    data = make_data(cfg)
    warm_up_runtime(model, data["x_eg"])

    print("\nRunning tf_tsexplain ...", flush=True)
    tsx = bench_tf_tsexplain(model, data, cfg)
    print("Running the raw lower bound ...", flush=True)
    raw = bench_raw(model, data, cfg)
    tsx["a_warm"], raw["a_warm"] = interleaved_a(model, data, cfg, raw["a_best_chunk"])
    pe = None
    if reference_cls is not None:
        print("Running path_explain (eager, slow) ...", flush=True)
        pe = bench_path_explain(reference_cls, model, data, cfg)
    memory = None
    if not args.quick:
        print("Measuring peak memory in subprocesses ...", flush=True)
        memory = measure_memory()
    print_report(cfg, tsx, pe, raw, memory)


if __name__ == "__main__":
    main()
