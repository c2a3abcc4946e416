"""The machine line every benchmark prints first (and again at the end if it likes)."""

from __future__ import annotations

import os
import platform
import sys


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what Python knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(*extra: str) -> str:
    """``machine: <cpu>, <n> cores (no GPU), <platform>, Python, TensorFlow, Keras[,
    extra versions]; load average 1, 5, 15 min``."""
    import keras
    import tensorflow as tf

    versions = [f"Python {sys.version.split()[0]}", f"TensorFlow {tf.__version__}"]
    versions += [f"Keras {keras.__version__}", *extra]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"machine: {cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, no GPU used, "
        f"{platform.platform()}; {', '.join(versions)}; load average {load} (1, 5, 15 min)"
    )
