"""Synthetic sequence data with known ground truth, generated with numpy.

Every generator is seeded and deterministic, returns float32 inputs ``(N, T, F)``
and a boolean ground-truth saliency mask ``(N, T, F)`` saying which cells drive the
label, so that explanations can be scored against the truth.
"""

from __future__ import annotations

import numpy as np

from tf_tsexplain._validation import check_positive_int


def sequence_regression(
    n_samples: int = 1000,
    n_steps: int = 30,
    n_features: int = 4,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regression task whose target depends on two time windows of two features.

    Inputs are AR(1) processes (coefficient 0.5) per feature. The target is

        y = mean(x[t0:t0+w, 0]) - mean(x[t1:t1+w, 2]) + noise

    with ``w = max(2, T // 6)``, ``t0 = T // 3`` and ``t1 = 2 T // 3``: the first
    feature matters in the middle of the sequence, the third one near the end, the
    others never.

    Args:
        n_samples: N.
        n_steps: T (at least 6).
        n_features: F (at least 3).
        noise: standard deviation of the additive label noise.
        seed: random seed.

    Returns:
        ``(x, y, truth)``: x ``(N, T, F)`` float32, y ``(N,)`` float32, truth
        ``(N, T, F)`` bool, True on the cells that enter the target.
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    f = check_positive_int(n_features, "n_features")
    if t < 6:
        raise ValueError(f"`n_steps` must be >= 6, got {t}.")
    if f < 3:
        raise ValueError(f"`n_features` must be >= 3, got {f}.")
    rng = np.random.default_rng(seed)
    eps = rng.normal(size=(n, t, f))
    x = np.empty_like(eps)
    x[:, 0] = eps[:, 0]
    for step in range(1, t):  # AR(1) recursion over time, vectorised over N and F
        x[:, step] = 0.5 * x[:, step - 1] + eps[:, step]
    w = max(2, t // 6)
    t0, t1 = t // 3, 2 * t // 3
    truth = np.zeros((n, t, f), bool)
    truth[:, t0 : t0 + w, 0] = True
    truth[:, t1 : t1 + w, 2] = True
    y = x[:, t0 : t0 + w, 0].mean(1) - x[:, t1 : t1 + w, 2].mean(1) + noise * rng.normal(size=n)
    return x.astype(np.float32), y.astype(np.float32), truth
