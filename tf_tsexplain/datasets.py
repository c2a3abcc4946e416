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
"""The background processes of :func:`background_process` and :func:`box_dataset`."""

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
"""The names :func:`box_dataset` accepts."""


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
        n_samples: N.
        n_steps: T.
        n_features: F.
        seed: an int seed or a numpy Generator.

    Returns:
        The series, ``(N, T, F)`` float32.

    Raises:
        ValueError: an unknown ``name``, or sizes below 1.
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


# ----------------------------------------------------------------------------------
# Dynamask experiments (Crabbe & van der Schaar, ICML 2021): rare feature, rare time
# and the two-state "State" data.
# ----------------------------------------------------------------------------------


def arma_features(
    n_samples: int, n_steps: int, n_features: int, rng: np.random.Generator
) -> np.ndarray:
    """Independent ARMA series per (sample, feature), as in the Dynamask experiments.

    ``2 x_t + 0.5 x_{t-1} + 0.2 x_{t-2} + 0.1 x_{t-3} = 2 e_t`` with ``e_t ~ N(0, 1)``
    and zero initial values (the ARMA process with AR polynomial (2, 0.5, 0.2, 0.1) and
    MA polynomial (2,)).

    Args:
        n_samples: N.
        n_steps: T.
        n_features: F.
        rng: the numpy Generator drawing the innovations.

    Returns:
        The series, ``(N, T, F)`` float64.
    """
    eps = rng.standard_normal((n_samples, n_steps, n_features))
    x = np.zeros((n_samples, n_steps + 3, n_features))
    for step in range(n_steps):  # recursion over time, vectorised over N and F
        past = x[:, step + 2], x[:, step + 1], x[:, step]
        x[:, step + 3] = eps[:, step] - (0.5 * past[0] + 0.2 * past[1] + 0.1 * past[2]) / 2.0
    return x[:, 3:]


def rare_feature(
    n_samples: int = 10,
    n_steps: int = 50,
    n_features: int = 50,
    n_salient: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The rare-feature experiment: few features matter, over the middle half of time.

    Inputs are ARMA features (:func:`arma_features`). For each sample, ``n_salient``
    features drawn at random are salient for ``t`` in ``[T // 4, 3 T // 4)``. The
    black box (:func:`saliency_white_box`) returns, per time step, the sum of squares
    of the salient cells at that step.

    Args:
        n_samples: N, the series.
        n_steps: T (>= 4).
        n_features: F (>= n_salient).
        n_salient: the salient features per series.
        seed: random seed.

    Returns:
        ``(x, truth)``: x ``(N, T, F)`` float32, truth ``(N, T, F)`` bool.

    Raises:
        ValueError: sizes below 1, ``n_salient > n_features`` or ``n_steps < 4``.
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    f = check_positive_int(n_features, "n_features")
    k = check_positive_int(n_salient, "n_salient")
    if k > f:
        raise ValueError(f"`n_salient` ({k}) must be <= `n_features` ({f}).")
    if t < 4:
        raise ValueError(f"`n_steps` must be >= 4, got {t}.")
    rng = np.random.default_rng(seed)
    x = arma_features(n, t, f, rng)
    truth = np.zeros((n, t, f), bool)
    for i in range(n):
        truth[i, t // 4 : 3 * t // 4, rng.choice(f, size=k, replace=False)] = True
    return x.astype(np.float32), truth


def rare_time(
    n_samples: int = 10,
    n_steps: int = 50,
    n_features: int = 50,
    n_salient: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The rare-time experiment: few consecutive steps matter, for the middle features.

    Inputs are ARMA features. For each sample, ``n_salient`` consecutive steps
    starting at a random ``t0`` in ``[0, T - n_salient)`` are salient for features
    ``[F // 4, 3 F // 4)``; the black box is :func:`saliency_white_box`.

    Args:
        n_samples: N, the series.
        n_steps: T (> n_salient).
        n_features: F (>= 4).
        n_salient: the salient consecutive steps per series.
        seed: random seed.

    Returns:
        ``(x, truth)``: x ``(N, T, F)`` float32, truth ``(N, T, F)`` bool.

    Raises:
        ValueError: sizes below 1, ``n_salient >= n_steps`` or ``n_features < 4``.
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    f = check_positive_int(n_features, "n_features")
    k = check_positive_int(n_salient, "n_salient")
    if k >= t:
        raise ValueError(f"`n_salient` ({k}) must be < `n_steps` ({t}).")
    if f < 4:
        raise ValueError(f"`n_features` must be >= 4, got {f}.")
    rng = np.random.default_rng(seed)
    x = arma_features(n, t, f, rng)
    truth = np.zeros((n, t, f), bool)
    for i in range(n):
        start = int(rng.integers(0, t - k))
        truth[i, start : start + k, f // 4 : 3 * f // 4] = True
    return x.astype(np.float32), truth


def saliency_white_box(truth):
    """The white-box model of the rare experiments, as a TensorFlow callable.

    ``model(batch)[r, t] = sum_f truth[r % N, t, f] * batch[r, t, f] ** 2``: per time
    step, the sum of squares of the truly salient cells of series ``r % N``. Row r of
    a batch is taken to be a copy of series ``r % N`` (the order in which ``Mask`` and
    ``MaskGroup`` call their model); for ``truth`` of shape ``(T, F)`` every row
    uses it.

    Args:
        truth: bool ``(N, T, F)`` or ``(T, F)``.

    Returns:
        ``model(batch (rows, T, F)) -> (rows, T)``.

    Raises:
        ValueError: ``truth`` neither ``(N, T, F)`` nor ``(T, F)``.
    """
    import tensorflow as tf

    weights = np.asarray(truth, dtype=np.float32)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3:
        raise ValueError(f"`truth` must be (N, T, F) or (T, F), got shape {weights.shape}.")
    n = weights.shape[0]
    table = tf.constant(weights)

    def model(batch):
        batch = tf.convert_to_tensor(batch)
        rows = tf.range(tf.shape(batch)[0]) % n
        return tf.reduce_sum(tf.gather(tf.cast(table, batch.dtype), rows) * batch**2, axis=-1)

    return model


def state_data(
    n_samples: int = 1000,
    n_steps: int = 200,
    switch_probability: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-state hidden Markov data with 3 features and one label per step.

    A hidden state ``s_t`` in {0, 1} starts uniformly and switches with probability
    ``switch_probability`` at each step. Given the state, the features are Gaussian,
    ``x_t ~ N(mu[s_t], 0.8 I)`` with ``mu[0] = (0.1, 1.6, 0.5)`` and
    ``mu[1] = (-0.1, -0.4, -1.5)``. Feature 1 drives the label in state 0 and feature
    2 in state 1: ``y_t ~ Bernoulli(sigmoid(2 x_t[1 + s_t]))``. Feature 0 never
    matters.

    Args:
        n_samples: N.
        n_steps: T.
        switch_probability: probability in [0, 1] that the state switches at a step.
        seed: random seed.

    Returns:
        ``(x, y, truth, states)``: x ``(N, T, 3)`` float32, y ``(N, T)`` int32 labels,
        truth ``(N, T, 3)`` bool (True on the feature driving each label) and
        states ``(N, T)`` int32.

    Raises:
        ValueError: sizes below 1, or ``switch_probability`` outside [0, 1].
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    if not 0.0 <= switch_probability <= 1.0:
        raise ValueError(f"`switch_probability` must be in [0, 1], got {switch_probability}.")
    rng = np.random.default_rng(seed)
    states = np.empty((n, t), np.int32)
    states[:, 0] = rng.integers(0, 2, size=n)
    switches = rng.random((n, t)) < switch_probability
    for step in range(1, t):
        states[:, step] = np.where(switches[:, step], 1 - states[:, step - 1], states[:, step - 1])
    means = np.array([[0.1, 1.6, 0.5], [-0.1, -0.4, -1.5]])
    x = means[states] + np.sqrt(0.8) * rng.standard_normal((n, t, 3))
    driver = 1 + states
    drive = np.take_along_axis(x, driver[..., None], axis=-1)[..., 0]
    y = (rng.random((n, t)) < 1.0 / (1.0 + np.exp(-2.0 * drive))).astype(np.int32)
    truth = np.zeros((n, t, 3), bool)
    np.put_along_axis(truth, driver[..., None], True, axis=-1)
    return x.astype(np.float32), y, truth, states


# The State experiment as the Dynamask repository defines it (fit/data_generator/
# state_data.py, experiments/state.py); ``state_data`` above is a simpler variant.
DYNAMASK_STATE_MEANS = np.array([[0.1, 1.6, 0.5], [-0.1, -0.4, -1.5]])
"""The means ``(2, 3)`` of the features in each state of :func:`dynamask_state_data`."""
DYNAMASK_STATE_IMPORTANT = (1, 2)  # the feature that drives the label, per state
"""The feature that drives the label in state 0 and in state 1."""


def dynamask_state_covariances() -> np.ndarray:
    """The two ``(3, 3)`` covariances of :func:`dynamask_state_data`.

    ``0.8 I + 1e-3 I``, with ``0.01`` between feature 0 and the state's important
    feature.

    Returns:
        ``(2, 3, 3)`` float64, one covariance per state.
    """
    cov = np.repeat((0.8 + 1e-3) * np.eye(3)[None], 2, axis=0)
    for state, feature in enumerate(DYNAMASK_STATE_IMPORTANT):
        cov[state, 0, feature] = cov[state, feature, 0] = 0.01
    return cov


def dynamask_state_data(
    n_samples: int = 1000,
    n_steps: int = 200,
    n_train: int | None = None,
    standardize: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The State experiment of the Dynamask paper, as its repository generates it.

    A hidden state ``s`` in {0, 1} is drawn with probability 0.5 one step before the
    series starts; at every step it moves on: from state 0 to state 1 with
    probability 0.05; in state 1 it stays with probability ``0.95 - d / 500``, ``d``
    being the number of steps the state has already stayed (0 right after a switch,
    reset at every switch; the original applies the subtraction whenever the base
    probability 0.95 is above 0.8, i.e. throughout state 1, so at 200 steps it never
    falls below 0.552; it is clipped at 0 for longer series). Given the state, the
    3 features are Gaussian with means ``(0.1, 1.6, 0.5)`` (state 0) and
    ``(-0.1, -0.4, -1.5)`` (state 1) and covariance
    :func:`dynamask_state_covariances`. The important feature is 1 in state 0 and 2
    in state 1; the label of each step is ``Bernoulli(sigmoid(2 x[important]))`` (of
    the raw features), and the ground truth marks the important feature at every
    step. With ``standardize``, features are then standardised by the mean and
    standard deviation of each feature over the first ``n_train`` series (the
    training split).

    Args:
        n_samples: N (the paper: 1,000, of which 800 for training).
        n_steps: T (the paper: 200).
        n_train: the size of the training split, the first rows (1 <= n_train <= N);
            None: ``int(0.8 N)`` (at least 1), the paper's 800 of 1,000.
        standardize: standardise the features with the training statistics.
        seed: random seed.

    Returns:
        ``(x, y, truth, states)``: x ``(N, T, 3)`` float32, y ``(N, T)`` int32
        labels, truth ``(N, T, 3)`` bool and states ``(N, T)`` int32.
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    n_fit = max(1, int(0.8 * n)) if n_train is None else check_positive_int(n_train, "n_train")
    if n_fit > n:
        raise ValueError(f"`n_train` must be <= n_samples ({n}). Received: n_train={n_train}.")
    rng = np.random.default_rng(seed)
    states = np.empty((n, t), np.int32)
    previous = rng.integers(0, 2, size=n)
    stayed = np.zeros(n)  # steps the current state has stayed
    draws = rng.random((n, t))
    for step in range(t):
        p_one = np.where(previous == 1, np.clip(0.95 - stayed / 500.0, 0.0, 1.0), 0.05)
        current = (draws[:, step] < p_one).astype(np.int32)
        stayed = np.where(current == previous, stayed + 1, 0)
        states[:, step] = previous = current
    chol = np.linalg.cholesky(dynamask_state_covariances())  # (2, 3, 3)
    noise = np.einsum("ntij,ntj->nti", chol[states], rng.standard_normal((n, t, 3)))
    x = DYNAMASK_STATE_MEANS[states] + noise
    important = np.asarray(DYNAMASK_STATE_IMPORTANT)[states]
    drive = np.take_along_axis(x, important[..., None], axis=-1)[..., 0]
    y = (rng.random((n, t)) < 1.0 / (1.0 + np.exp(-2.0 * drive))).astype(np.int32)
    truth = np.zeros((n, t, 3), bool)
    np.put_along_axis(truth, important[..., None], True, axis=-1)
    if standardize:
        train = x[:n_fit].reshape(-1, 3)
        x = (x - train.mean(axis=0)) / train.std(axis=0)
    return x.astype(np.float32), y, truth, states


# Switch-Feature (FIT, Tonekaboni et al., NeurIPS 2020), as FIT's repository generates it
# (data_generator/simulated_l2x_switchstate.py) and as ContraLSP and TIMING load it (the
# true saliency is the state's feature at every step).
SWITCH_FEATURE_MEANS = np.array([[0.8, -0.5, -0.2], [0.0, -1.0, 0.0], [-0.2, -0.2, 0.8]])
SWITCH_FEATURE_TRANSITIONS = np.array([[0.95, 0.02, 0.03], [0.02, 0.95, 0.03], [0.03, 0.02, 0.95]])


def switch_feature_data(
    n_samples: int = 1000,
    n_steps: int = 100,
    lengthscale: float = 0.2,
    variance: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Switch-Feature experiment of FIT, as ContraLSP and TIMING use it.

    A hidden 3-state Markov chain picks, at each step, the feature that drives the label:
    feature ``s`` in state ``s``. Provenance (FIT's generator,
    ``data_generator/simulated_l2x_switchstate.py``, read for its definitions): the
    first state is 1 with probability 1/3 and 0 otherwise (as the original's
    ``binomial(1, 1/3)``, so no series starts in state 2), then the state moves with the
    transition matrix :data:`SWITCH_FEATURE_TRANSITIONS` (stay 0.95). Within each run of
    one state, the 3 features are Gaussian processes (squared-exponential kernel,
    ``lengthscale`` 0.2 steps, ``variance`` 0.1; time counted from the run's start)
    around the state's means :data:`SWITCH_FEATURE_MEANS` (``(0.8, -0.5, -0.2)``,
    ``(0, -1, 0)``, ``(-0.2, -0.2, 0.8)``); at a lengthscale of 0.2 steps neighbouring
    steps are practically independent. The label of each step is
    ``Bernoulli(sigmoid(3 x[t, s_t]))``. The ground truth marks feature ``s_t`` at every
    step (what ContraLSP's and TIMING's loaders score; FIT's own ``importance`` array,
    which marks only the steps where the state changes, is not used). Features are
    returned raw (the loaders do not standardise); the paper splits 800 / 200. The
    numbers are not bitwise the original's (it draws with ``np.random`` seeded 234 and
    the ``timesynth`` package).

    Args:
        n_samples: N (the paper: 1,000).
        n_steps: T (the paper: 100).
        lengthscale: > 0, of the Gaussian processes, in steps.
        variance: > 0, of the Gaussian processes.
        seed: random seed.

    Returns:
        ``(x, y, truth, states)``: x ``(N, T, 3)`` float32, y ``(N, T)`` int32 labels,
        truth ``(N, T, 3)`` bool (the state's feature) and states ``(N, T)`` int32.
    """
    n = check_positive_int(n_samples, "n_samples")
    t = check_positive_int(n_steps, "n_steps")
    for name, value in (("lengthscale", lengthscale), ("variance", variance)):
        if not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"`{name}` must be a number > 0. Received: {name}={value!r}.")
    rng = np.random.default_rng(seed)
    states = np.empty((n, t), np.int32)
    states[:, 0] = (rng.random(n) < 1.0 / 3.0).astype(np.int32)
    cumulative = np.cumsum(SWITCH_FEATURE_TRANSITIONS, axis=1)
    draws = rng.random((n, t))
    for step in range(1, t):
        rows = cumulative[states[:, step - 1]]  # (N, 3)
        states[:, step] = np.minimum((draws[:, step, None] >= rows).sum(axis=1), 2)
    lag = np.arange(t)[:, None] - np.arange(t)[None, :]
    kernel = variance * np.exp(-(lag**2) / (2.0 * lengthscale**2)) + 1e-9 * np.eye(t)
    chol = np.linalg.cholesky(kernel)  # a run of length L uses its leading L x L block
    noise = rng.standard_normal((n, t, 3))
    x = np.empty((n, t, 3))
    for i in range(n):
        starts = np.flatnonzero(np.r_[True, states[i, 1:] != states[i, :-1]])
        for a, b in zip(starts, np.r_[starts[1:], t], strict=True):
            length = b - a
            x[i, a:b] = SWITCH_FEATURE_MEANS[states[i, a]] + chol[:length, :length] @ noise[i, a:b]
    drive = np.take_along_axis(x, states[..., None], axis=-1)[..., 0]
    y = (rng.random((n, t)) < 1.0 / (1.0 + np.exp(-3.0 * drive))).astype(np.int32)
    truth = np.zeros((n, t, 3), bool)
    np.put_along_axis(truth, states[..., None], True, axis=-1)
    return x.astype(np.float32), y, truth, states
