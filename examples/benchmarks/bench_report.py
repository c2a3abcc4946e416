"""Size and opening time of the HTML report of a batch job (issue: < 10 MB, < 2 s).

A job of 1,000 sequences of 300 x 8 (a Conv1D model, integrated gradients) is written
with ``explain_to_parquet``; ``report_from_job`` writes its report with the default
arguments (100 sequences in detail). The report is opened ``--repeats`` times in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright, a fresh page each
time, every request but the file aborted and counted) and timed from navigation to
the moment every figure is drawn (``window.tfTsexplainReport.ready``). The lower bound
of both figures is measured in the same run: the size of plotly.js plus the raw float32
bytes of the detail arrays, and the opening time of a page holding only plotly.js and
one empty plot.

    flock /tmp/heavy.lock env PYTHONPATH=. python examples/benchmarks/bench_report.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _machine import machine_line  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def make_job(out: Path, n: int, t: int, f: int) -> float:
    import keras

    from tf_tsexplain.jobs import explain_to_parquet

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(n, t, f)).astype("float32")
    inputs = keras.Input((t, f))
    h = keras.layers.Conv1D(8, 5, padding="same", activation="tanh")(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.save(out.parent / "model.keras")
    start = time.perf_counter()
    explain_to_parquet(
        str(out.parent / "model.keras"), x, out, num_samples=16, shard_size=250, verbose=False
    )
    return time.perf_counter() - start


def open_times(path: Path, repeats: int) -> tuple[list[float], list[float], int, list[str]]:
    """Seconds from navigation to 'every figure drawn' and CPU seconds of the page's
    main thread by then, per opening; requests that were not the file; console errors."""
    from playwright.sync_api import sync_playwright

    times, cpu, blocked, errors, requests = [], [], [], [], []
    url = path.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requests.append(r.url))

            def abort(route):
                blocked.append(route.request.url)
                route.abort()

            page.route(lambda u: not u.startswith("file:"), abort)  # every network URL
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function("window.tfTsexplainReport && window.tfTsexplainReport.ready")
            times.append(time.perf_counter() - start)
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            cpu.append(metrics.get("ThreadTime", float("nan")))  # the page's main-thread CPU
            page.close()
        browser.close()
    others = [u for u in requests if u != url]
    return times, cpu, len(others), errors  # the aborted ones are among them


def library_page(path: Path) -> None:
    """The lower bound of opening: plotly.js and one empty plot, nothing else."""
    import plotly.offline

    path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><script>"
        + plotly.offline.get_plotlyjs()
        + "</script></head><body><div id='p'></div><script>"
        "window.tfTsexplainReport={ready:false};Plotly.newPlot('p',[{z:[[1]],type:'heatmap'}])"
        ".then(function(){window.tfTsexplainReport.ready=true;});</script></body></html>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import plotly
    import plotly.offline

    print(machine_line(f"plotly {plotly.__version__}", f"chromium {CHROMIUM}"), flush=True)
    n, t, f = args.sequences, args.steps, args.features
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job"
        seconds = make_job(job, n, t, f)
        print(f"job: {n:,} sequences of {t} x {f}, integrated gradients, {seconds:.1f} s")
        from tf_tsexplain.report import report_from_job

        out = Path(tmp) / "report.html"
        start, cpu_start = time.perf_counter(), time.process_time()
        info = report_from_job(job, out)  # default arguments: 100 sequences in detail
        write_s, write_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        size = out.stat().st_size
        library = len(plotly.offline.get_plotlyjs().encode())
        raw = len(info["detail"]) * t * f * 4 * 2  # float32 attributions and values
        print(
            f"report_from_job (defaults, {len(info['detail'])} in detail): {write_s:.2f} s "
            f"({write_cpu:.2f} s of CPU); "
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
        print(
            f"size: {size / 1e6:.2f} MB (target < 10 MB: {'met' if size < 10e6 else 'NOT met'}); "
            f"lower bound plotly.js {library / 1e6:.2f} MB + raw float32 detail "
            f"{raw / 1e6:.2f} MB = {(library + raw) / 1e6:.2f} MB -> {size / (library + raw):.2f}x"
        )
        bound = Path(tmp) / "plotly_only.html"
        library_page(bound)
        times, cpu, blocked, errors = open_times(out, args.repeats)
        low, low_cpu, _, _ = open_times(bound, args.repeats)
        median, worst, floor = statistics.median(times), max(times), statistics.median(low)
        print(
            f"open in headless Chromium ({args.repeats} openings): median {median:.2f} s, "
            f"max {worst:.2f} s (target < 2 s: {'met' if worst < 2 else 'NOT met'}); "
            f"plotly.js alone {floor:.2f} s -> {median / floor:.2f}x; requests other than the "
            f"file: {blocked}; console errors: {len(errors)}"
        )
        print(
            f"main-thread CPU of the page by then (less sensitive to other load): median "
            f"{statistics.median(cpu):.2f} s, plotly.js alone {statistics.median(low_cpu):.2f} s "
            f"-> {statistics.median(cpu) / statistics.median(low_cpu):.2f}x"
        )
    print(machine_line())


if __name__ == "__main__":
    main()
