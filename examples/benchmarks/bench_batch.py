"""Benchmark: streaming jobs to Parquet (locally and on Apache Beam) vs one in-process call.

An LSTM(32) regressor on sequences of 20 steps x 5 features; integrated gradients with
32 Gauss-Legendre nodes from a zero baseline, default (automatic) batch size.

(a) 20,000 sequences read from a ``.npy`` file: ``explain_to_parquet`` (memory-mapped
    source, shards of 10,000, Parquet output) against one in-process
    ``PathExplainerTF.attributions`` call on the loaded array; best of 2 rounds each,
    alternating (target: job <= 1.2x the call).
(b) peak RSS of the job on 20,000 and on 200,000 sequences, each in a fresh process
    (target: within 1.2x: memory bounded by the shard, not by N).
(c) the same job as a Beam pipeline on FnApiRunner, after a warm-up run: 1 worker (in
    process; best of 2 rounds alternating with in-process calls) and 2 worker
    processes (target for 1 worker: <= 1.3x (a)'s in-process time).
(d) the same job on Apache Spark, ``run_spark`` on a ``local[2]`` session (2 Python
    workers, 1 TensorFlow thread each, shards of 10,000): the session start timed
    apart, a first run (workers start, import TensorFlow, load the model) and a
    second on the warm workers; ratio to (a)'s in-process call (target: session start
    + first run <= 1.5x) and to (c)'s 1-worker Beam time, the workers' peak RSS.

Prints the machine, the load average around each measurement, every figure and ratio.

    python examples/benchmarks/bench_batch.py [--quick] [--parts acd]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF  # noqa: E402
from tf_tsexplain.jobs.layout import read_instances  # noqa: E402
from tf_tsexplain.jobs.local import explain_to_parquet  # noqa: E402

T, F, NODES = 20, 5, 32


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def build_model(path: Path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    model.save(path)
    return model


def write_npy(path: Path, n: int) -> None:
    """``n`` sequences written in blocks, never held whole."""
    rng = np.random.default_rng(1)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, T, F))
    for start in range(0, n, 20_000):
        stop = min(start + 20_000, n)
        out[start:stop] = rng.normal(size=(stop - start, T, F))
    out.flush()
    del out


def job(model, source, out, **kwargs) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    explain_to_parquet(model, source, out, num_samples=NODES, verbose=False, resume=False, **kwargs)
    return time.perf_counter() - start


def in_process(model, x) -> float:
    start = time.perf_counter()
    PathExplainerTF(model).attributions(
        x, np.zeros((1, T, F), np.float32), use_expectation=False, num_samples=NODES
    )
    return time.perf_counter() - start


def rss_child(model_path: str, source: str, out: str) -> None:
    """Run one job in this fresh process and print its peak RSS (MiB) as JSON."""
    start = time.perf_counter()
    explain_to_parquet(model_path, source, out, num_samples=NODES, verbose=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"peak_mib": peak, "seconds": time.perf_counter() - start}))


def rss_of(model_path: Path, source: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(model_path), str(source), str(out)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def beam_job(model_path: Path, source: Path, out: Path, workers: int) -> float:
    from tf_tsexplain.jobs.beam import run_pipeline

    args = [f"--direct_num_workers={workers}"]
    if workers > 1:
        args.append("--direct_running_mode=multi_processing")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = run_pipeline(str(model_path), str(source), out, num_samples=NODES, pipeline_args=args)
    seconds = time.perf_counter() - start
    assert summary["sequences"] in (None, len(read_instances(out)))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 / 20,000 sequences")
    parser.add_argument(
        "--parts", default="abcd", help="which of (a)-(d) to run, e.g. 'acd' (default abcd)"
    )
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    small, large = (2_000, 20_000) if args.quick else (20_000, 200_000)
    import apache_beam
    import pyarrow
    import pyspark

    print(
        machine_line(
            f"pyarrow {pyarrow.__version__}",
            f"Apache Beam {apache_beam.__version__}",
            f"pyspark {pyspark.__version__}",
        )
    )
    print(f"model: LSTM(32) -> Dense(1) on {T} x {F}; integrated gradients, {NODES} nodes")
    print(f"load average (1, 5, 15 min) at start: {load()}")
    root = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        model = build_model(root / "model.keras")
        write_npy(root / "small.npy", small)
        write_npy(root / "large.npy", large)
        warm = np.zeros((64, T, F), np.float32)
        np.save(root / "warm.npy", warm)
        in_process(model, warm)  # TensorFlow's runtime, once for all
        job(model, warm, root / "warm")

        # (a) job vs one in-process call, alternating rounds (the calls are (c)'s reference)
        calls, jobs = [], []
        for _ in range(2):
            x = np.load(root / "small.npy")
            calls.append(in_process(model, x))
            del x
            if "a" in args.parts:
                jobs.append(job(model, str(root / "small.npy"), root / "out_a"))
        t_call = min(calls)
        print(f"\n(a) {small:,} sequences from .npy (load during (a): {load()})")
        print(
            f"    in-process attributions call : {t_call:7.2f} s  "
            f"(rounds {calls[0]:.2f}, {calls[1]:.2f})"
        )
        if "a" in args.parts:
            report_a(small, calls, jobs)
        if "b" in args.parts:
            report_b(root, small, large)
        t_beam = report_c(root, model, small, t_call) if "c" in args.parts else None
        if "d" in args.parts:
            report_d(root, small, t_call, t_beam)
        print(f"\nload average at end: {load()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report_a(small, calls, jobs) -> None:
    t_call, t_job = min(calls), min(jobs)
    print(
        f"    explain_to_parquet            : {t_job:7.2f} s  (rounds {jobs[0]:.2f}, {jobs[1]:.2f})"
    )
    ratio = t_job / t_call
    print(
        f"    ratio job / call              : {ratio:7.3f}x  target <= 1.2x: "
        f"{'met' if ratio <= 1.2 else 'NOT met'}"
    )
    print(f"    per sequence: call {1e3 * t_call / small:.3f} ms, job {1e3 * t_job / small:.3f} ms")


def report_b(root, small, large) -> None:
    """(b) peak RSS in fresh processes."""
    rss_small = rss_of(root / "model.keras", root / "small.npy", root / "out_b1")
    rss_large = rss_of(root / "model.keras", root / "large.npy", root / "out_b2")
    growth = rss_large["peak_mib"] / rss_small["peak_mib"]
    print(f"\n(b) peak RSS of the job in a fresh process (load: {load()})")
    for n, rss in ((small, rss_small), (large, rss_large)):
        print(f"    {n:>7,} sequences: {rss['peak_mib']:7.0f} MiB ({rss['seconds']:.1f} s)")
    print(
        f"    ratio {growth:.3f}x for {large // small}x the sequences  target within 1.2x: "
        f"{'met' if growth <= 1.2 else 'NOT met'}"
    )


def report_c(root, model, small, t_call) -> None:
    """(c) Beam on FnApiRunner: a warm-up run (Beam's runner modules, imported on first
    use), then the 1-worker pipeline in rounds alternating with the in-process call."""
    beam_job(root / "model.keras", root / "warm.npy", root / "out_c0", workers=1)
    ones, near = [], []
    for _ in range(2):
        ones.append(beam_job(root / "model.keras", root / "small.npy", root / "out_c1", 1))
        x = np.load(root / "small.npy")
        near.append(in_process(model, x))
        del x
    one, t_near = min(ones), min(near)
    two = beam_job(root / "model.keras", root / "small.npy", root / "out_c2", workers=2)
    print(f"\n(c) Beam pipeline, FnApiRunner, {small:,} sequences (load: {load()})")
    print(
        f"    1 worker (in process)         : {one:7.2f} s  (rounds {ones[0]:.2f}, "
        f"{ones[1]:.2f}) = {one / t_call:.3f}x (a)'s in-process call  target <= 1.3x: "
        f"{'met' if one / t_call <= 1.3 else 'NOT met'}"
    )
    print(
        f"    (in-process calls alternating with these rounds: {near[0]:.2f}, {near[1]:.2f} s;"
        f" ratio to their best {one / t_near:.3f}x)"
    )
    print(
        f"    2 worker processes            : {two:7.2f} s  = {two / t_call:.3f}x (a)'s "
        "in-process call (includes starting 2 Python/TensorFlow workers)"
    )
    return one


def report_d(root, small, t_call, t_beam) -> None:
    """(d) run_spark on a local[2] session started here (timed apart)."""
    from pyspark.sql import SparkSession

    from tf_tsexplain.jobs.spark import run_spark

    checkout = str(Path(__file__).resolve().parents[2])  # the workers import this copy
    os.environ["PYTHONPATH"] = os.pathsep.join([checkout, os.environ.get("PYTHONPATH", "")])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    start = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    t_session = time.perf_counter() - start
    runs, summaries = [], []
    try:
        for k in range(2):
            out = root / f"out_d{k}"
            shutil.rmtree(out, ignore_errors=True)
            begin = time.perf_counter()
            summaries.append(
                run_spark(
                    str(root / "model.keras"),
                    str(root / "small.npy"),
                    out,
                    num_samples=NODES,
                    resume=False,
                )
            )
            runs.append(time.perf_counter() - begin)
            assert len(read_instances(out)) == small
    finally:
        spark.stop()
    first, warm = runs
    total = t_session + first
    peaks = summaries[-1]["worker_peak_mib"]
    print(f"\n(d) Spark run_spark, local[2], {small:,} sequences (load: {load()})")
    print(f"    session start                 : {t_session:7.2f} s")
    print(
        f"    first run (workers start)     : {first:7.2f} s; with the session start "
        f"{total:.2f} s = {total / t_call:.3f}x (a)'s in-process call  target <= 1.5x: "
        f"{'met' if total / t_call <= 1.5 else 'NOT met'}"
    )
    print(f"    second run (warm workers)     : {warm:7.2f} s = {warm / t_call:.3f}x the call")
    if t_beam is not None:
        print(
            f"    ratio to Beam (1 worker, (c)) : first run {first / t_beam:.3f}x, with the "
            f"session {total / t_beam:.3f}x, warm {warm / t_beam:.3f}x"
        )
    print(
        "    peak RSS of the Python workers: "
        + ", ".join(f"{v:.0f} MiB" for v in peaks.values())
        + f"; of this driver process (with TensorFlow and (a)-(c)): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
