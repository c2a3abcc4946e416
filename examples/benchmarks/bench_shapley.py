"""Benchmark: SequenceShap against TimeSHAP 1.0.4 on the same LSTM weights.

An LSTM(32) classifier (Dense(1, sigmoid)) on 50-step sequences of 10 features,
trained on a synthetic task where the last few events decide the label (as in fraud
detection, TimeSHAP's use case); 20 test sequences explained with temporal pruning
(tolerance 0.025 on the probability), at the event and the feature level, the baseline
being the mean event of the training set:

- tf_tsexplain: ``SequenceShap(model, baseline).attributions(x, level=..., pruning_
  tolerance=0.025, num_samples=...)`` on all 20 sequences at once (exact values when
  ``2**P - 2 <= num_samples``, KernelSHAP otherwise; the pruned prefix's LSTM state is
  computed once);
- TimeSHAP 1.0.4 (``local_pruning``, ``event_level``, ``feature_level``) with 32,000
  samples, one sequence at a time, in its own environment (TensorFlow 2.15), the model
  rebuilt there from the same weights; its model function is one compiled
  ``tf.function`` called in chunks of 8,192 rows.

Errors are measured against converged values: exact enumeration where a sequence has at
most 18 players (2**18 coalitions), KernelSHAP with 2**18 coalitions otherwise (its own
noise is shown: two seeds). Reported: seconds per sequence, model rows per sequence,
the mean and largest absolute error per level, the speed-up and the peak memory.

    python examples/benchmarks/bench_shapley.py            # full (several minutes)
    python examples/benchmarks/bench_shapley.py --quick    # 4 sequences, a smoke run
    TIMESHAP_PYTHON=/path/to/venv/bin/python python examples/benchmarks/bench_shapley.py

The TimeSHAP column is skipped, with a message, when its environment is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import SequenceShap  # noqa: E402

STEPS, FEATURES, UNITS = 50, 10, 32
TOLERANCE = 0.025
TIMESHAP_SAMPLES = 32000
OURS_SAMPLES = 2**16 - 2  # KernelSHAP budget per sequence: exact up to 16 players
CONVERGED_SAMPLES = 2**18 - 2  # exact up to 18 players, KernelSHAP beyond
TARGET_SPEEDUP = 10.0
FLOAT_SLACK = 1e-6  # float32 rounding: "equal" accuracy below this difference
HERE = Path(__file__).resolve().parent
DEFAULT_TIMESHAP_PYTHON = "/work/timeshap-venv/bin/python"


def make_data(n, seed):
    """Gaussian sequences; the label is decided by the last 8 events (a decaying
    difference of features 0 and 1, a product of features 2 and 3 over the last two
    events) and weakly by feature 4 over the whole sequence."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, FEATURES)).astype(np.float32)
    recent = x[:, ::-1][:, :8]
    logit = (
        (0.75 ** np.arange(8) * (recent[:, :, 0] - recent[:, :, 1])).sum(1)
        + 0.8 * recent[:, 0, 2] * recent[:, 1, 3]
        + 0.3 * x[:, :, 4].mean(1)
    )
    return x, (logit > 0).astype(np.float32)


def build(n_explain):
    x, y = make_data(4000 + n_explain, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.LSTM(UNITS),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.005), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:4000], y[:4000], epochs=8, batch_size=64, verbose=0)
    accuracy = model.evaluate(x[4000:], y[4000:], verbose=0)[1]
    return model, x[:4000].mean(axis=(0, 1)), x[4000:], accuracy


class PeakRss:
    """Samples this process's resident memory every 10 ms while active."""

    def __init__(self):
        self.peak = self.start = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def players(result):
    """Per sequence, the values of its players: kept events (most recent first) or
    features, then the pruned events when something was pruned."""
    out = []
    for i in range(len(result.values)):
        start = int(result.window_start[i])
        values = result.values[i, start:][::-1] if result.level == "event" else result.values[i]
        out.append(np.r_[values, result.pruned[i]] if start > 0 else np.asarray(values))
    return out


def errors(estimates, reference):
    """(mean, max) absolute error over every player of every sequence."""
    diffs = np.concatenate([np.abs(a - b) for a, b in zip(estimates, reference, strict=True)])
    return float(diffs.mean()), float(diffs.max())


def run_timeshap(python, model, x, baseline, seed):
    """TimeSHAP in its environment; None (and the reason) when it cannot run."""
    if not Path(python).exists():
        return None, f"no TimeSHAP environment at {python} (see timeshap_reference.py)"
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.npz", Path(tmp) / "result.json"
        weights = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
        np.savez(
            job,
            sequences=x,
            baseline=baseline,
            steps=STEPS,
            features=FEATURES,
            units=UNITS,
            tolerance=TOLERANCE,
            nsamples=TIMESHAP_SAMPLES,
            seed=seed,
            **weights,
        )
        done = subprocess.run(
            [python, str(HERE / "timeshap_reference.py"), str(job), str(out)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return None, "TimeSHAP failed:\n" + done.stderr[-3000:]
        return json.loads(out.read_text()), None


def timeshap_players(report, level):
    values = [np.asarray(s["events" if level == "event" else "features"]) for s in report]
    return values


def main(argv=None):  # noqa: C901 (a linear script)
    parser = argparse.ArgumentParser(description="SequenceShap vs TimeSHAP benchmark")
    parser.add_argument("--quick", action="store_true", help="4 sequences")
    parser.add_argument(
        "--timeshap-python", default=os.environ.get("TIMESHAP_PYTHON", DEFAULT_TIMESHAP_PYTHON)
    )
    args = parser.parse_args(argv)
    n = 4 if args.quick else 20
    print(machine_line(f"numpy {np.__version__}"))
    model, baseline, x, accuracy = build(n)
    print(
        f"LSTM({UNITS}) classifier on {STEPS} x {FEATURES} sequences, test accuracy "
        f"{accuracy:.3f}; {n} sequences, pruning tolerance {TOLERANCE}, baseline = mean event"
    )

    # ---- tf_tsexplain, timed (one untimed call first: traces the compiled functions)
    explainer = SequenceShap(model, baseline)
    kwargs = dict(pruning_tolerance=TOLERANCE, num_samples=OURS_SAMPLES, seed=0)
    for level in ("event", "feature"):
        explainer.attributions(x[:1], level=level, **kwargs)
    with PeakRss() as memory:
        start = time.perf_counter()
        pruning = explainer.prune(x, TOLERANCE)
        prune_s = time.perf_counter() - start
        ours = {}
        seconds = {}
        for level in ("event", "feature"):
            start = time.perf_counter()
            ours[level] = explainer.attributions(x, level=level, **kwargs)
            seconds[level] = time.perf_counter() - start
    lengths = pruning.window_length
    p_event = lengths + (pruning.window_start > 0)
    print(f"kept events per sequence: {sorted(lengths.tolist())}")
    print(
        f"event-level players per sequence: {sorted(p_event.tolist())} "
        f"({int((2.0**p_event - 2 <= OURS_SAMPLES).sum())} of {n} exact at "
        f"num_samples={OURS_SAMPLES})"
    )

    # ---- converged values
    converged = {
        "event": explainer.attributions(
            x, level="event", pruning_tolerance=TOLERANCE, num_samples=CONVERGED_SAMPLES, seed=1
        ),
        "feature": explainer.attributions(x, level="feature", pruning_tolerance=TOLERANCE),
    }
    sampled = ~converged["event"].exact
    noise = None
    if sampled.any():
        other = explainer.attributions(
            x[sampled],
            level="event",
            pruning_tolerance=TOLERANCE,
            num_samples=CONVERGED_SAMPLES,
            seed=2,
        )
        noise = errors(
            players(other),
            [p for p, s in zip(players(converged["event"]), sampled, strict=True) if s],
        )
    reference = {level: players(converged[level]) for level in converged}
    print(
        f"converged values: exact for {int((~sampled).sum())} sequences, KernelSHAP with "
        f"{CONVERGED_SAMPLES} coalitions for {int(sampled.sum())}"
        + (
            f" (two seeds differ by {noise[0]:.2e} mean, {noise[1]:.2e} max)"
            if noise is not None
            else ""
        )
    )

    # ---- TimeSHAP
    report, why = run_timeshap(args.timeshap_python, model, x, baseline, seed=0)
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    # ---- figures
    ours_total = prune_s + seconds["event"] + seconds["feature"]
    ours_rows = ours["event"].evaluations + ours["feature"].evaluations
    print()
    print("tf_tsexplain SequenceShap (all sequences in one call per level):")
    print(f"  pruning alone        : {prune_s / n * 1e3:8.1f} ms/sequence")
    for level in ("event", "feature"):
        mean, worst = errors(players(ours[level]), reference[level])
        print(
            f"  {level:<7} (w/ pruning): {seconds[level] / n * 1e3:8.1f} ms/sequence, "
            f"{ours[level].evaluations.mean():9.0f} model rows/sequence, error mean "
            f"{mean:.2e} max {worst:.2e}"
        )
    print(
        f"  total                : {ours_total / n:8.3f} s/sequence, "
        f"{ours_rows.mean():.0f} model rows/sequence (pruning counted in each level)"
    )
    print(
        f"  peak memory          : {memory.peak / 2**20:.0f} MiB resident "
        f"(+{(memory.peak - memory.start) / 2**20:.0f} MiB during the calls)"
    )
    print()
    if report is None:
        print(f"TimeSHAP 1.0.4: SKIPPED: {why}")
        return 0
    sequences = report["sequences"]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    print(f"TimeSHAP ({versions}), {TIMESHAP_SAMPLES} samples, one sequence at a time:")
    same_windows = [s["window_start"] for s in sequences] == ours["event"].window_start.tolist()
    print(f"  same pruning windows as tf_tsexplain: {same_windows}")
    ts_seconds = {
        level: sum(s["seconds"][level] for s in sequences)
        for level in ("pruning", "event", "feature")
    }
    ts_rows = {
        level: np.mean([s["rows"][level] for s in sequences])
        for level in ("pruning", "event", "feature")
    }
    ts_total = sum(ts_seconds.values())
    ts_errors = {}
    print(f"  pruning              : {ts_seconds['pruning'] / n * 1e3:8.1f} ms/sequence")
    for level in ("event", "feature"):
        if same_windows:
            ts_errors[level] = errors(timeshap_players(sequences, level), reference[level])
            text = f"error mean {ts_errors[level][0]:.2e} max {ts_errors[level][1]:.2e}"
        else:
            text = "error not comparable (different windows)"
        print(
            f"  {level:<7}              : {ts_seconds[level] / n * 1e3:8.1f} ms/sequence, "
            f"{ts_rows[level]:9.0f} model rows/sequence, {text}"
        )
    print(
        f"  total                : {ts_total / n:8.3f} s/sequence, "
        f"{sum(ts_rows.values()):.0f} model rows/sequence"
    )
    print(f"  peak memory          : {child_peak / 2**20:.0f} MiB resident (its own process)")
    print()
    speedup = ts_total / ours_total
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(
        f"speed-up per sequence (pruning + event + feature): {speedup:.1f}x "
        f"(target >= {TARGET_SPEEDUP:.0f}x: {verdict})"
    )
    for level in ("event", "feature"):
        speed = ts_seconds[level] / seconds[level]
        print(f"  {level} level alone: {speed:.1f}x")
    accurate = True
    for level in ("event", "feature"):
        if level not in ts_errors:
            accurate = False
            continue
        mine, theirs = errors(players(ours[level]), reference[level])[0], ts_errors[level][0]
        ok = mine <= theirs + FLOAT_SLACK
        accurate &= ok
        print(
            f"accuracy, {level} level: mean error {mine:.2e} vs TimeSHAP {theirs:.2e} "
            f"(equal or better, within {FLOAT_SLACK:g}: {'met' if ok else 'NOT met'})"
        )
    print(f"memory ratio (TimeSHAP / ours, peak resident): {child_peak / memory.peak:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min)")
    return 0 if speedup >= TARGET_SPEEDUP and accurate else 1


if __name__ == "__main__":
    sys.exit(main())
