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


# ---------------------------------------------------------------------------------
# Time-series saliency benchmark (Ismail et al. 2020): box datasets over background
# processes. A box of cells carries the label; everything else is background.
# ---------------------------------------------------------------------------------

BACKGROUNDS = ("gaussian", "ar", "harmonic", "pseudo_periodic", "gp", "narma")

# name -> (time start, time length, feature start, feature length) as fractions of
# T and F; at T = F = 50: Middle 30 x 30 at (10, 10), SmallMiddle 14 x 14 at
# (18, 18), RareTime 6 x 40 at (22, 5), RareFeature 40 x 6 at (5, 22).
_BOXES = {
    "Middle": (0.2, 0.6, 0.2, 0.6),
    "SmallMiddle": (0.36, 0.28, 0.36, 0.28),
    "RareTime": (0.44, 0.12, 0.1, 0.8),
    "RareFeature": (0.1, 0.8, 0.44, 0.12),
}
# Positional datasets: the box is always shifted up; its position gives the label.
# PositionalTime: 10 x 30 box at features 10..40, at time 5 (class 1) or 35 (class
# 0); PositionalFeature is the transpose (at T = F = 50).
_POSITIONAL = {
    "PositionalTime": ((0.1, 0.7), 0.2, 0.2, 0.6),
    "PositionalFeature": ((0.1, 0.7), 0.2, 0.2, 0.6),
}
BOX_DATASETS = (
    "Middle",
    "SmallMiddle",
    "Moving_Middle",
    "Moving_SmallMiddle",
    "RareTime",
    "Moving_RareTime",
    "RareFeature",
    "Moving_RareFeature",
    "PositionalTime",
    "PositionalFeature",
)


def background_process(
    name: str,
    n_samples: int,
    n_steps: int,
    n_features: int,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Background series ``(N, T, F)`` float32, independent per sample and feature.

    Every process has mean about 0 and variance about 1, so that the box ``shift``
    means the same signal-to-noise ratio over every background:

    - ``"gaussian"``: white noise N(0, 1).
    - ``"ar"``: AR(1) with coefficient 0.9, innovations N(0, 1 - 0.81), started from
      its stationary distribution.
    - ``"harmonic"``: ``sqrt(2) sin(2 pi nu t + phase)`` with ``nu ~ U(0.02, 0.2)``
      cycles per step and a uniform phase per series, plus N(0, 0.1^2) noise.
    - ``"pseudo_periodic"``: the same with the frequency jittered by 10% and the
      amplitude by N(1, 0.1^2) at every step.
    - ``"gp"``: a Gaussian process with a squared-exponential kernel of length
      ``max(2, T / 10)`` steps (Cholesky factor of the T x T kernel).
    - ``"narma"``: the order-10 NARMA system driven by ``u ~ U(0, 0.5)``,
      ``y[t+1] = 0.3 y[t] + 0.05 y[t] sum_{i<10} y[t-i] + 1.5 u[t-9] u[t] + 0.1``,
      then standardised by its overall mean and standard deviation.

    Args:
        name: one of :data:`BACKGROUNDS`.
        n_samples, n_steps, n_features: N, T, F.
        seed: an int seed or a numpy Generator.
    """
    if name not in BACKGROUNDS:
        raise ValueError(f"`background` must be one of {BACKGROUNDS}, got {name!r}.")
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    f = check_positive_int(n_features, "n_features")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    steps = np.arange(t)[None, :, None]
    if name == "gaussian":
        x = rng.standard_normal((n, t, f))
    elif name == "ar":
        eps = rng.standard_normal((n, t, f)) * np.sqrt(1 - 0.9**2)
        x = np.empty((n, t, f))
        x[:, 0] = rng.standard_normal((n, f))
        for k in range(1, t):
            x[:, k] = 0.9 * x[:, k - 1] + eps[:, k]
    elif name in ("harmonic", "pseudo_periodic"):
        nu = rng.uniform(0.02, 0.2, size=(n, 1, f))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, f))
        if name == "harmonic":
            angle = 2 * np.pi * nu * steps + phase
            amplitude = 1.0
        else:
            jitter = 1 + 0.1 * rng.standard_normal((n, t, f))
            angle = phase + np.cumsum(2 * np.pi * nu * jitter, axis=1)
            amplitude = 1 + 0.1 * rng.standard_normal((n, t, f))
        x = np.sqrt(2) * amplitude * np.sin(angle) + 0.1 * rng.standard_normal((n, t, f))
    elif name == "gp":
        length = max(2.0, t / 10)
        lag = np.arange(t)[:, None] - np.arange(t)[None, :]
        chol = np.linalg.cholesky(np.exp(-0.5 * (lag / length) ** 2) + 1e-6 * np.eye(t))
        x = np.einsum("ts,nsf->ntf", chol, rng.standard_normal((n, t, f)))
    else:  # narma
        burn = 20
        u = rng.uniform(0, 0.5, size=(n, t + burn, f))
        y = np.zeros((n, t + burn, f))
        for k in range(9, t + burn - 1):
            window = y[:, k - 9 : k + 1].sum(axis=1)
            y[:, k + 1] = (
                0.3 * y[:, k] + 0.05 * y[:, k] * window + 1.5 * u[:, k - 9] * u[:, k] + 0.1
            )
        y = y[:, burn:]
        x = (y - y.mean()) / y.std()
    return x.astype(np.float32)


def box_dataset(
    name: str,
    n_samples: int = 1000,
    n_steps: int = 50,
    n_features: int = 50,
    background: str = "gaussian",
    shift: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary classification dataset of the time-series saliency benchmark.

    Each sample is a background series (:func:`background_process`) plus a box of
    cells (a rectangle of time steps x features) shifted by ``+shift`` for class 1
    and ``-shift`` for class 0. Boxes (at T = F = 50; fractions of T and F
    otherwise), as time x features at (time start, feature start):

    - ``Middle`` 30 x 30 at (10, 10); ``SmallMiddle`` 14 x 14 at (18, 18);
      ``RareTime`` 6 x 40 at (22, 5); ``RareFeature`` 40 x 6 at (5, 22).
    - ``Moving_<name>``: the same box at a uniformly random place per sample.
    - ``PositionalTime``: a 10 x 30 box at features 10..40, always shifted by
      ``+shift``, at time 5 for class 1 and time 35 for class 0: only its position
      in time gives the label. ``PositionalFeature``: a 30 x 10 box at times 10..40,
      at feature 5 (class 1) or 35 (class 0).

    Classes are balanced at random (seeded).

    Args:
        name: one of :data:`BOX_DATASETS`.
        n_samples: N.
        n_steps: T (>= 10).
        n_features: F (>= 10).
        background: one of :data:`BACKGROUNDS`.
        shift: the box's shift (> 0).
        seed: random seed.

    Returns:
        ``(x, y, truth)``: x ``(N, T, F)`` float32, y ``(N,)`` int32 labels in {0, 1},
        truth ``(N, T, F)`` bool, True on the box cells.
    """
    if name not in BOX_DATASETS:
        raise ValueError(f"`name` must be one of {BOX_DATASETS}, got {name!r}.")
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    f = check_positive_int(n_features, "n_features")
    if t < 10 or f < 10:
        raise ValueError(f"`n_steps` and `n_features` must be >= 10, got {t} and {f}.")
    if not np.isfinite(shift) or shift <= 0:
        raise ValueError(f"`shift` must be a finite number > 0, got {shift!r}.")
    rng = np.random.default_rng(seed)
    x = background_process(background, n, t, f, rng).astype(np.float64)
    y = rng.permutation(np.arange(n) % 2).astype(np.int32)
    truth = np.zeros((n, t, f), bool)
    if name in _POSITIONAL:
        (first, second), length, other_start, other_length = _POSITIONAL[name]
        along, across = (t, f) if name == "PositionalTime" else (f, t)
        size = max(1, round(length * along))
        cross = slice(
            round(other_start * across),
            round(other_start * across) + max(1, round(other_length * across)),
        )
        for i in range(n):
            start = round((first if y[i] == 1 else second) * along)
            box = slice(start, start + size)
            if name == "PositionalTime":
                truth[i, box, cross] = True
            else:
                truth[i, cross, box] = True
        x[truth] += shift
    else:
        base = name.removeprefix("Moving_")
        t0, t_len, f0, f_len = _BOXES[base]
        bt, bf = max(1, round(t_len * t)), max(1, round(f_len * f))
        if name.startswith("Moving_"):
            t_starts = rng.integers(0, t - bt + 1, size=n)
            f_starts = rng.integers(0, f - bf + 1, size=n)
        else:
            t_starts = np.full(n, round(t0 * t))
            f_starts = np.full(n, round(f0 * f))
        for i in range(n):
            truth[i, t_starts[i] : t_starts[i] + bt, f_starts[i] : f_starts[i] + bf] = True
        sign = np.where(y == 1, 1.0, -1.0)[:, None, None]
        x += np.where(truth, sign * shift, 0.0)
    return x.astype(np.float32), y, truth
