"""Benchmark: expected gradients on padded variable-length sequences.

1,000 JapaneseVowels-like sequences (12 features, random lengths 7 to 29, post-padded
with zeros to 29 steps) through a Masking + LSTM(32) classifier with 9 classes
(untrained weights; the cost does not depend on them). Expected gradients with
default arguments (64 samples, the predicted class, batch size from the memory
budget), references drawn from 200 other padded sequences:

- padded: the padding found from the model's Masking layer; padded cells keep their
  values along every path;
- unpadded rows: the same number of rows of full-length sequences (no padding), the
  cost a padded job should match.

Prints the time of each (best of 2 warm calls), their ratio, the share of the
attribution mass on padded cells (must be exactly 0), and the same share for a model
without our padding handling (the Masking model explained with its padding treated as
data: ``padding_mask`` all True), for context.

    python examples/benchmarks/bench_padding.py
"""

from __future__ import annotations

import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _machine import machine_line  # noqa: E402

from tf_tsexplain import PathExplainerTF  # noqa: E402

N, T, F, CLASSES, REFS = 1000, 29, 12, 9, 200


def padded_sequences(n, rng):
    lengths = rng.integers(7, T + 1, size=n)
    x = rng.normal(size=(n, T, F)).astype(np.float32)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    return x, lengths


def best_of(fn, repeat=2):
    fn()  # trace and probe, untimed
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    print(machine_line())
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(32),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    x, lengths = padded_sequences(N, rng)
    refs, _ = padded_sequences(REFS, rng)
    full = rng.normal(size=(N, T, F)).astype(np.float32)
    real = np.arange(T)[None, :] < lengths[:, None]
    explainer = PathExplainerTF(model)
    kwargs = dict(num_samples=64, output_indices="predicted", seed=0)
    padded_s, eg = best_of(lambda: explainer.attributions(x, refs, **kwargs))
    full_s, _ = best_of(lambda: explainer.attributions(full, refs, **kwargs))
    mass = np.abs(eg).sum()
    on_padding = np.abs(eg[~real]).sum() / mass
    as_data = explainer.attributions(x, refs, padding_mask=np.ones((N, T), bool), **kwargs)
    leak = np.abs(as_data[~real]).sum() / np.abs(as_data).sum()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{N} sequences of {F} features, lengths 7-{T} (mean {lengths.mean():.1f}), padded to "
        f"{T}; Masking + LSTM(32) -> {CLASSES} classes; EG, 64 samples, defaults"
    )
    print(f"  padded (padding from the Masking layer): {padded_s:7.2f} s")
    print(f"  {N} unpadded full-length rows          : {full_s:7.2f} s")
    print(f"  ratio padded / unpadded                : {padded_s / full_s:7.2f}x")
    print(f"  attribution mass on padded cells       : {on_padding:.1e} (must be 0)")
    print(f"  same, padding treated as data (context): {leak:.1%}")
    print(f"  peak RSS {peak:.0f} MiB")
    return 0 if on_padding == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
