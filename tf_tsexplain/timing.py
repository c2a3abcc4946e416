"""TIMING: integrated gradients on paths that hold random temporal segments (ICML 2025).

Integrated gradients move every cell of a series from the baseline to the input at
once, so the path passes through series that no model has seen (every step scaled
together). TIMING keeps temporal structure on the path: at each path point ``k`` a fresh
random set of *segments* (a feature and a run of consecutive steps) is held at the
input's values, and only the other ("free") cells move along the straight line::

    z_k = free_k * (b + alpha_k (x - b)) + (1 - free_k) * x

with ``alpha_k = k / S`` (``k = 0 .. S-1``, the reference's left Riemann points). The
attribution of a cell sums its gradients over the points where it was free::

    A(x)_i = (x_i - b_i) * sum_k free_k,i * d f(z_k) / d z_i / norm_i

Segments (the reference's sampling, per path point and input): ``num_segments``
segments, each on one feature drawn uniformly, of a length drawn uniformly in
``[min_seg_len, max_seg_len]`` (default ``[1, T]``), starting uniformly among the
positions where it fits. Defaults: ``num_samples=50`` points, ``min_seg_len=1``,
``max_seg_len=T`` (the reference's experiment defaults), baseline 0, and
``num_segments`` scaled to the number of features: ``round(50 F / 31)`` (at least 1),
the reference's 50 segments over the 31 features of its MIMIC-III experiment, at the
same density per feature. A fixed 50 on few features holds nearly every cell at every
point (on Switch-Feature, F = 3 and T = 100, 50 segments of up to 100 steps leave almost
no cell free, and the attributions rank cells at chance: AUROC 0.51; 5 segments, the
scaled default, give 0.99).

Normalisation and completeness:

- ``normalize="free"`` (the paper's, default): ``norm_i`` = the number of points where
  cell i was free, so each cell's gradient is averaged over its own free points. For a
  model that is linear in its inputs this equals integrated gradients exactly (every
  cell free at least once), hence completeness holds there; for other models the sum of
  attributions does not in general equal ``f(x) - f(b)`` (the paper does not claim it).
- ``normalize="steps"``: ``norm_i = S``. Then the attributions are a Riemann estimate of
  the expected integrated gradient over the random masks, and *completeness in
  expectation* holds: ``sum_i A_i ~= f(x) - mean_k f(x with the cells free at k set to
  the baseline)`` (exact, with the same masks, for linear models; see
  :meth:`TimingExplainer.free_cells`).

Computation: rows are (input, path point) pairs, ``num_samples`` per input, sent in
chunks of ``batch_size`` rows through one compiled function (masks built in the graph
from the segments' integers), traced once per input shape; the segments of input ``n``
come from a generator seeded by ``(seed, n)``, so results do not depend on
``batch_size``. Differences from the reference code: segment starts range over every
position where the segment fits (the reference's ``floor(U (T - len))`` never starts a
segment at the last one), and only the segments' cells are held (the reference's
indexing also held step 0 of the segment's feature whenever a segment was shorter than
the longest one drawn with it).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import chunks
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._targets import select_output
from tf_tsexplain._validation import as_float_array, check_choice, check_int

__all__ = ["TimingExplainer", "default_num_segments"]

NORMALIZATIONS = ("free", "steps")


class TimingExplainer(Explainer):
    """TIMING attributions (temporality-aware integrated gradients) for sequence models.

    Its own class rather than a ``PathExplainerTF`` option: ``PathExplainerTF`` keeps
    path_explain's call signature and meaning (a reference set, expected gradients), and
    TIMING has arguments of its own (the segments) and its own normalisation, under which
    path_explain's completeness does not hold.

    Args:
        model: a Keras model or a callable mapping ``(rows, T, F)`` floats to
            ``(rows, *output_shape)`` with TensorFlow ops (rows must not interact).
        allow_nonfinite: accept NaN/Inf inputs.
        memory_budget: bytes per model call when ``batch_size`` is None.
    """

    derivative_order = 1
    positional_arguments = ("baseline",)

    def attributions(
        self,
        inputs,
        baseline=None,
        *,
        num_samples: int = 50,
        num_segments: int | None = None,
        min_seg_len: int = 1,
        max_seg_len: int | None = None,
        normalize: str = "free",
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
    ) -> np.ndarray:
        """TIMING attributions ``(N, T, F)``, signed (take ``abs`` for saliency maps).

        Args:
            inputs: ``(N, T, F)`` floats.
            baseline: None (zeros, the reference's), one series ``(T, F)`` (or
                ``(1, T, F)``) for every input, or one per input ``(N, T, F)``.
            num_samples: path points S per input (>= 1).
            num_segments: segments held at each point (>= 0; 0 gives integrated
                gradients with left Riemann points); None: ``round(50 F / 31)``, at
                least 1 (see :func:`default_num_segments`).
            min_seg_len: shortest segment, in steps (1 <= min_seg_len <= T).
            max_seg_len: longest segment (min_seg_len <= max_seg_len <= T); None: T.
            normalize: "free" (the paper's: each cell's gradients averaged over the
                points where it was free) or "steps" (divided by S: completeness in
                expectation over the masks, see the module docstring).
            output_indices: the target (see :class:`tf_tsexplain.Explainer`): None, an
                int, one per input, ``(time, class)``, or ``"predicted"``.
            batch_size: most model rows per call (None: from the memory budget).
            seed: None or an int >= 0: the segments (the same seed gives the same
                result, whatever ``batch_size``).
            verbose: a progress bar over model rows.
            padding_mask: ``(N, T)`` booleans, True on real steps (default: the model's
                ``Masking`` layer): padded cells are never moved and get exactly 0.

        Returns:
            ``(N, T, F)`` attributions (with leading output axes when
            ``output_indices=None`` on a model with several outputs), float32 unless the
            inputs are float64.

        Raises:
            TypeError: an argument of the wrong kind.
            ValueError: a wrong value or shape (e.g. inputs that are not ``(N, T, F)``,
                ``max_seg_len`` above T), before any model call.
        """
        batch_size, seed, verbose = self._check_common(batch_size, seed, verbose)
        num_samples = check_int(num_samples, "num_samples", min_val=1)
        if num_segments is not None:
            num_segments = check_int(num_segments, "num_segments", min_val=0)
        normalize = check_choice(normalize, "normalize", NORMALIZATIONS)
        x, frozen = self._rows(inputs, padding_mask)
        if x.ndim != 3:
            raise ValueError(
                "TIMING masks temporal segments: `inputs` must be sequences (N, T, F). "
                f"Received: inputs of shape {x.shape}."
            )
        n, t, nf = x.shape
        if num_segments is None:
            num_segments = default_num_segments(nf)
        min_seg_len, max_seg_len = _check_lengths(min_seg_len, max_seg_len, t)
        b = _check_baseline(baseline, x)
        targets, leading = self._targets(x, output_indices, batch_size)
        rows = self._rows_per_call(x, batch_size)
        base_seed = _base_seed(seed)
        fn = self._function(
            ("timing", x.shape[1:], x.dtype.name),
            lambda: _timing_sums(self._model_fn, x.shape[1:], x.dtype),
        )
        runs = targets.shape[0]
        s = num_samples
        n_rows = n * s
        result = np.zeros((runs, n, t, nf), x.dtype)
        counts = np.zeros((n, t, nf), np.float64)
        alphas = (np.arange(s) / s).astype(x.dtype)
        progress = self._progress(runs * n_rows, verbose)
        for run in range(runs):
            for start, stop in chunks(n_rows, rows):
                first, last = start // s, (stop - 1) // s
                params = _segments(
                    range(first, last + 1), s, num_segments, t, nf, min_seg_len, max_seg_len,
                    base_seed,
                )  # fmt: skip
                idx = np.arange(start, stop)
                owner = idx // s
                point = idx % s
                local = owner - first
                starts, lengths, dims = (p[local, point] for p in params)  # (R, K) each
                held = np.zeros((len(idx), t, nf), bool) if frozen is None else frozen[owner]
                grads, free = fn(
                    x[owner],
                    b[owner],
                    alphas[point],
                    starts,
                    lengths,
                    dims,
                    held,
                    targets[run][owner].astype(np.int32),
                    local.astype(np.int32),
                    np.int32(last - first + 1),
                )
                result[run, first : last + 1] += grads.numpy()
                if run == 0:
                    counts[first : last + 1] += free.numpy()
                progress.advance(stop - start)
        diff = (x - b).astype(x.dtype)
        if normalize == "free":
            scale = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        else:
            scale = np.full(counts.shape, 1.0 / s)
        out = (result * diff[None] * scale[None].astype(x.dtype)).astype(x.dtype)
        if frozen is not None:
            out = np.where(frozen[None], 0.0, out).astype(x.dtype)
        return self._restructure(self._shape_result(out, leading))

    def free_cells(
        self,
        n_inputs: int,
        steps: int,
        features: int,
        *,
        num_samples: int = 50,
        num_segments: int | None = None,
        min_seg_len: int = 1,
        max_seg_len: int | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """The free cells of each path point, as :meth:`attributions` draws them.

        Args:
            n_inputs: N (>= 1).
            steps: T (>= 1).
            features: F (>= 1).
            num_samples, num_segments, min_seg_len, max_seg_len, seed: as for
                :meth:`attributions` (``seed`` must be an int to reproduce a call).

        Returns:
            ``(N, S, T, F)`` booleans, True where the cell moves along the path at that
            point (padding aside).
        """
        n = check_int(n_inputs, "n_inputs", min_val=1)
        t = check_int(steps, "steps", min_val=1)
        nf = check_int(features, "features", min_val=1)
        s = check_int(num_samples, "num_samples", min_val=1)
        k = (
            default_num_segments(nf)
            if num_segments is None
            else check_int(num_segments, "num_segments", min_val=0)
        )
        lo, hi = _check_lengths(min_seg_len, max_seg_len, t)
        starts, lengths, dims = _segments(range(n), s, k, t, nf, lo, hi, _base_seed(seed))
        steps_ = np.arange(t)
        in_seg = (steps_ >= starts[..., None]) & (steps_ < (starts + lengths)[..., None])
        onehot = dims[..., None] == np.arange(nf)  # (N, S, K, F)
        held = (in_seg[..., None] & onehot[..., None, :]).any(axis=2)  # (N, S, T, F)
        return ~held


def default_num_segments(n_features: int) -> int:
    """The default segments per path point for ``F`` features: ``round(50 F / 31)``,
    at least 1 (the reference's 50 segments on its 31-feature MIMIC-III experiment)."""
    n_features = check_int(n_features, "n_features", min_val=1)
    return max(1, round(50 * n_features / 31))


def _check_lengths(min_seg_len, max_seg_len, t: int) -> tuple[int, int]:
    lo = check_int(min_seg_len, "min_seg_len", min_val=1, max_val=t)
    hi = t if max_seg_len is None else check_int(max_seg_len, "max_seg_len", min_val=1, max_val=t)
    if hi < lo:
        raise ValueError(
            f"`max_seg_len` must be >= min_seg_len ({lo}). Received: max_seg_len={max_seg_len}."
        )
    return lo, hi


def _check_baseline(baseline, x: np.ndarray) -> np.ndarray:
    """The baseline as one row per input ``(N, T, F)``."""
    if baseline is None:
        return np.zeros_like(x)
    b = as_float_array(baseline, "baseline", min_rank=2, dtype=x.dtype)
    if b.shape == x.shape[1:]:
        b = b[None]
    if b.shape[1:] != x.shape[1:] or b.shape[0] not in (1, len(x)):
        raise ValueError(
            f"`baseline` must be one series {x.shape[1:]}, (1, T, F) or one per input "
            f"{x.shape}. Received: baseline of shape {np.shape(baseline)}."
        )
    return np.broadcast_to(b, x.shape)


def _base_seed(seed: int | None) -> int:
    if seed is not None:
        return int(seed)
    return int(np.random.default_rng().integers(0, 2**63 - 1))


def _segments(inputs, s, k, t, nf, lo, hi, base_seed):
    """``(starts, lengths, dims)``, each ``(len(inputs), S, K)`` int32: the segments of
    each input's path points, from a generator seeded by ``(base_seed, input)``."""
    count = len(inputs)
    starts = np.empty((count, s, k), np.int32)
    lengths = np.empty((count, s, k), np.int32)
    dims = np.empty((count, s, k), np.int32)
    for j, i in enumerate(inputs):  # one small draw per input: results do not depend on chunks
        rng = np.random.default_rng([base_seed, i])
        dims[j] = rng.integers(0, nf, (s, k))
        lengths[j] = rng.integers(lo, hi + 1, (s, k))
        starts[j] = np.floor(rng.random((s, k)) * (t - lengths[j] + 1)).astype(np.int32)
    return starts, lengths, dims


def _timing_sums(model_fn, x_shape, dtype):
    """Compiled: per-input sums of ``free * grad f(z)`` over a chunk, and of ``free``."""
    tf_dtype = tf.as_dtype(dtype)
    t, nf = x_shape

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, t, nf), tf_dtype),  # inputs of the rows
            tf.TensorSpec((None, t, nf), tf_dtype),  # baselines of the rows
            tf.TensorSpec((None,), tf_dtype),  # alpha of the row
            tf.TensorSpec((None, None), tf.int32),  # segment starts (R, K)
            tf.TensorSpec((None, None), tf.int32),  # segment lengths
            tf.TensorSpec((None, None), tf.int32),  # segment features
            tf.TensorSpec((None, t, nf), tf.bool),  # padded cells (always held)
            tf.TensorSpec((None,), tf.int32),  # target per row
            tf.TensorSpec((None,), tf.int32),  # input of the row, from 0 in the chunk
            tf.TensorSpec((), tf.int32),  # inputs in the chunk
        ]
    )
    def timing_sums(x, b, alpha, starts, lengths, dims, padded, target, segment, n_seg):
        steps = tf.range(t)[None, None, :]  # (1, 1, T)
        in_seg = (steps >= starts[..., None]) & (steps < (starts + lengths)[..., None])
        onehot = tf.one_hot(dims, nf, on_value=True, off_value=False, dtype=tf.bool)
        held = tf.reduce_any(in_seg[..., None] & onehot[:, :, None, :], axis=1)  # (R, T, F)
        free = tf.cast(tf.logical_not(held | padded), tf_dtype)
        point = x + free * (alpha[:, None, None] - 1.0) * (x - b)
        with tf.GradientTape() as tape:
            tape.watch(point)
            y = select_output(tf.cast(model_fn(point), tf_dtype), target)
        grads = tape.gradient(y, point) * free
        return (
            tf.math.unsorted_segment_sum(grads, segment, n_seg),
            tf.math.unsorted_segment_sum(free, segment, n_seg),
        )

    return timing_sums
