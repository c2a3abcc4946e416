"""Shared by export and in-process explanation: methods, baselines, targets, path points."""

from __future__ import annotations

import numpy as np

from tf_tsexplain._quadrature import gauss_legendre_01
from tf_tsexplain._targets import resolve_output_indices
from tf_tsexplain._validation import as_float_array

METHODS = ("integrated_gradients", "expected_gradients", "saliency")
EXPLAIN_OUTPUTS = (
    "predictions",
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "attributions",
    "approximation_error",
)


def check_baseline(method: str, baseline, shape: tuple[int, int]) -> np.ndarray:
    """The reference set ``(R, T, F)`` for expected gradients (required), else one
    baseline ``(T, F)`` (default zeros; ``(1, T, F)`` accepted)."""
    if method == "expected_gradients":
        if baseline is None:
            raise ValueError(
                "method='expected_gradients' needs `baseline`: the reference set "
                "(R, T, F), e.g. a few hundred training sequences."
            )
        refs = as_float_array(baseline, "baseline", min_rank=3, dtype=np.float32)
        if refs.shape[1:] != shape:
            raise ValueError(
                f"`baseline` (the reference set) must have shape (R, {shape[0]}, "
                f"{shape[1]}); got {refs.shape}."
            )
        return refs
    if baseline is None:
        return np.zeros(shape, np.float32)
    b = as_float_array(baseline, "baseline", min_rank=2, dtype=np.float32)
    if b.shape == (1, *shape):
        b = b[0]
    if b.shape != shape:
        raise ValueError(
            f"`baseline` must have shape {shape} or (1, {shape[0]}, {shape[1]}); got {b.shape}."
        )
    return b


def resolve_target(output_indices, output_shape, n_inputs: int, predict=None) -> np.ndarray:
    """One flat output index per input, int32 ``(n_inputs,)``.

    ``output_indices`` has the toolkit's one meaning (see :mod:`tf_tsexplain._targets`)
    and goes through its shared resolution, ``"predicted"`` included (``predict``
    returns the model outputs of the inputs). Serving explains one scalar per input,
    so ``None`` on a model with several outputs is refused.

    Raises:
        ValueError: ``None`` on several outputs; a tuple whose length is not the
            number of output axes; anything the shared resolution refuses.
    """
    output_shape = tuple(output_shape)
    if isinstance(output_indices, tuple) and len(output_indices) != len(output_shape):
        # (1, 0) for outputs (N, C) would otherwise read as one class per input when N = 2
        raise ValueError(
            f"`output_indices` {output_indices} has {len(output_indices)} entries, but the "
            f"model output has {len(output_shape)} axis/axes per input (shape "
            f"{output_shape}): give one index per output axis."
        )
    targets, leading = resolve_output_indices(output_indices, output_shape, n_inputs, predict)
    if leading:
        raise ValueError(
            f"The model has {int(np.prod(output_shape))} outputs per instance (output shape "
            f"(N, {', '.join(map(str, output_shape))})) and serving explains one of them: "
            "choose the one to explain with `output_indices` (an int, a (time, class) "
            f"tuple or 'predicted'). Received: output_indices={output_indices!r}."
        )
    return targets[0].astype(np.int32)


def path_points(method: str, b: np.ndarray, num_samples: int, seed: int):
    """Baselines ``(K, T, F)``, positions ``(K,)``, weights ``(K,)`` and the mode
    (``"path"`` or ``"gradient"``) of the explained rows, from a baseline checked by
    :func:`check_baseline`. Expected gradients draw their (reference, position) pairs
    from ``seed``: the draws the export stores."""
    if method == "expected_gradients":
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, b.shape[0], size=num_samples)
        alphas = rng.uniform(size=num_samples).astype(np.float32)
        weights = np.full(num_samples, 1.0 / num_samples, np.float32)
        return b[picks], alphas, weights, "path"
    if method == "saliency":
        return b[None], np.ones(1, np.float32), np.ones(1, np.float32), "gradient"
    nodes, node_weights = gauss_legendre_01(num_samples)
    return (
        np.repeat(b[None], num_samples, axis=0),
        nodes.astype(np.float32),
        node_weights.astype(np.float32),
        "path",
    )
