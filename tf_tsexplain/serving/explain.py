"""In-process explanation: the ``explain`` signature's outputs without exporting the model."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks
from tf_tsexplain._structure import InputStructure
from tf_tsexplain._validation import check_choice, check_int, check_seed, check_verbose
from tf_tsexplain.path import PathExplainerTF
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving._common import (
    METHODS,
    attribution_names,
    check_baselines,
    path_points,
    resolve_target,
    structured_call,
)
from tf_tsexplain.serving.export import explain_graph
from tf_tsexplain.serving.loading import check_model_inputs


def explain_instances(
    model,
    inputs,
    method: str = "integrated_gradients",
    baseline=None,
    num_samples: int = 64,
    output_indices=None,
    batch_size: int = 256,
    seed: int | None = 0,
    verbose: bool = False,
    allow_nonfinite: bool = False,
    *,
    padding_mask=None,
) -> dict:
    """In-process counterpart of the ``explain`` signature, with a progress bar.

    Integrated gradients come from :class:`~tf_tsexplain.PathExplainerTF`, saliency
    from :class:`~tf_tsexplain.saliency.Saliency` (the gradient at the input), and
    expected gradients use the ``num_samples`` (reference, position) pairs that
    :func:`~tf_tsexplain.serving.export_explainer` draws for the same ``seed``, shared
    by all inputs, so that every method gives the numbers the exported ``explain``
    signature serves.

    Args:
        model: a model from :func:`~tf_tsexplain.serving.load_model`, a Keras model or
            a callable.
        inputs: ``(N, T, F)``; for a multi-input model a dict of arrays by input name
            (or, for a Keras model, a list in its input order).
        method: ``"integrated_gradients"``, ``"expected_gradients"`` or
            ``"saliency"``, as in :func:`~tf_tsexplain.serving.export_explainer`.
        baseline: None means zeros; for expected gradients the reference set
            (required); a dict by input name for a multi-input model.
        num_samples: path points (integrated gradients) or (reference, position)
            pairs (expected gradients).
        output_indices: the explained output, one per instance: an int, a
            ``(time, class)`` tuple or ``"predicted"`` (the arg-max class of each
            input); None is refused on a model with several outputs.
        batch_size: most rows sent to the model at once.
        seed: seed of the expected-gradients draws.
        verbose: show a progress bar.
        allow_nonfinite: accept NaN/Inf inputs.
        padding_mask: ``(N, T)`` booleans, True on real steps, for every sequence
            input of T steps (or a dict of masks by input name), as the signature's
            ``padding_mask`` input; default: from the model's ``Masking`` layers.
            Padded steps get exactly zero attribution, and ``baseline_prediction`` is
            f of the baseline with the instance's padded steps.

    Returns:
        A dict with the ``explain`` signature's outputs as numpy arrays (see
        :mod:`tf_tsexplain.serving.export`): ``attributions`` ``(N, T, F)`` (for a
        multi-input model ``attributions_<input name>`` per input, shaped like it),
        and ``(N,)`` arrays ``explained_index``, ``explained_prediction``,
        ``baseline_prediction``, ``approximation_error``; plus ``predictions``
        ``(N, *out)``.

    Raises:
        TypeError: an argument of the wrong kind (e.g. ``batch_size=2.5``).
        ValueError: a wrong value (the message names the argument), input names or
            shapes the model does not take, a ``padding_mask`` of the wrong shape.
    """
    method = check_choice(method, "method", METHODS)
    batch_size = check_int(batch_size, "batch_size", min_val=1)
    num_samples = check_int(num_samples, "num_samples", min_val=1)
    seed = check_seed(seed)
    verbose = check_verbose(verbose)
    x = check_model_inputs(model, inputs, allow_nonfinite=allow_nonfinite)
    multi = isinstance(x, dict)
    names = list(x) if multi else None
    labels = names if multi else ["inputs"]
    parts = list(x.values()) if multi else [x]
    shapes = [p.shape[1:] for p in parts]
    n = len(parts[0])
    bases = check_baselines(method, baseline, names, shapes)
    structure = InputStructure("dict", labels, shapes) if multi else None
    reals = Saliency(model).real_steps(parts, padding_mask, structure)
    call = structured_call(model, labels, multi)

    def pack(values):
        return dict(zip(labels, values, strict=True)) if multi else values[0]

    predictions = _predict(call, pack, parts, batch_size)
    output_shape = predictions.shape[1:]
    flat = predictions.reshape(n, -1)
    target = resolve_target(output_indices, output_shape, n, predict=lambda: predictions)
    index_arg = None  # the only output of a single-output model
    if flat.shape[1] > 1:  # one index (tuple) per input, as the explainers take them
        index_arg = np.stack(np.unravel_index(target, output_shape), axis=-1)
        index_arg = index_arg[:, 0] if index_arg.shape[1] == 1 else index_arg
    explainer_mask = _mask_argument(padding_mask, reals, labels, multi)
    if method == "expected_gradients":
        attributions, baseline_prediction = _expected_gradients_as_exported(
            call, pack, labels, parts, bases, reals, target, num_samples, batch_size, seed, verbose
        )
        total = sum(a.reshape(n, -1).sum(axis=1) for a in attributions)
    else:
        # f(baseline): with padding, of each instance's baseline (its padded cells kept)
        masked = [
            np.broadcast_to(b, p.shape) if r is None else _with_padding(b, p, r)
            for b, p, r in zip(bases, parts, reals, strict=True)
        ]
        if all(r is None for r in reals):
            base_flat = _predict(call, pack, [b[None] for b in bases], batch_size).reshape(1, -1)
            baseline_prediction = base_flat[0, target]
        else:
            base_flat = _predict(call, pack, masked, batch_size).reshape(n, -1)
            baseline_prediction = base_flat[np.arange(n), target]
        if method == "saliency":
            result = Saliency(model, allow_nonfinite=allow_nonfinite).attributions(
                pack(parts),
                output_indices=index_arg,
                batch_size=batch_size,
                verbose=verbose,
                padding_mask=explainer_mask,
            )
            attributions = [result[k] for k in labels] if multi else [result]
            total = sum(
                (a * (p - m)).reshape(n, -1).sum(axis=1)
                for a, p, m in zip(attributions, parts, masked, strict=True)
            )
        else:
            result = PathExplainerTF(model, allow_nonfinite=allow_nonfinite).attributions(
                pack(parts),
                pack([b[None] for b in bases]),
                output_indices=index_arg,
                batch_size=batch_size,
                num_samples=num_samples,
                use_expectation=False,
                seed=seed,
                verbose=verbose,
                padding_mask=explainer_mask,
            )
            attributions = [result[k] for k in labels] if multi else [result]
            total = sum(a.reshape(n, -1).sum(axis=1) for a in attributions)
    explained = flat[np.arange(n), target]
    out = {
        "predictions": predictions,
        "explained_index": target.astype(np.int32),
        "explained_prediction": explained,
        "baseline_prediction": np.asarray(baseline_prediction, np.float32),
    }
    out.update(zip(attribution_names(names), attributions, strict=True))
    out["approximation_error"] = np.abs(total - (explained - baseline_prediction))
    return out


def _predict(call, pack, parts: list, batch_size: int) -> np.ndarray:
    """The model's outputs on ``parts`` (one array per input), ``batch_size`` rows per call."""
    chunks_out = [
        np.asarray(call(pack([tf.constant(p[start : start + batch_size]) for p in parts])))
        for start in range(0, len(parts[0]), batch_size)
    ]
    return np.concatenate(chunks_out)


def _with_padding(b: np.ndarray, x: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Per instance, baseline ``b`` with the instance's values on its padded steps."""
    return np.where(real[:, :, None], b[None], x).astype(np.float32)


def _mask_argument(padding_mask, reals, labels, multi):
    """The explainers' ``padding_mask``: the caller's, else the masks found (so that
    the explainers see the same padding as the signature)."""
    if padding_mask is not None or all(r is None for r in reals):
        return padding_mask
    return dict(zip(labels, reals, strict=True)) if multi else reals[0]


def _expected_gradients_as_exported(
    call, pack, labels, parts, refs, reals, target, num_samples, batch_size, seed, verbose
):
    """Expected gradients with the draws ``export_explainer`` stores for ``seed``.

    The same ``num_samples`` (reference, position) pairs serve every input, so the
    results equal the exported ``explain`` signature's, and ``baseline_prediction`` is
    the mean of f over the drawn references (each with the instance's padding).
    """
    stored, index, alphas, weights, mode = path_points(
        "expected_gradients", refs, num_samples, seed or 0
    )
    constants = [pack([tf.constant(b) for b in stored])] + [
        tf.constant(v) for v in (alphas, weights)
    ]
    multi = len(labels) > 1 or labels != ["inputs"]
    real_specs = {
        k: tf.TensorSpec((None, p.shape[1]), tf.bool)
        for k, p, r in zip(labels, parts, reals, strict=True)
        if r is not None
    }
    specs = [
        pack([tf.TensorSpec((None, *p.shape[1:]), tf.float32) for p in parts]),
        tf.TensorSpec((None,), tf.int32),
        real_specs,
    ]

    @tf.function(input_signature=specs)
    def run(rows, row_targets, real):
        return explain_graph(
            call,
            rows,
            *constants,
            0,
            False,
            mode,
            batch_size,
            target=row_targets,
            baseline_index=tf.constant(index),
            real=real if multi else real.get("inputs"),
        )

    keys = attribution_names(labels if multi else None)
    per_call = max(1, batch_size // num_samples)  # inputs per call: ~batch_size path points
    attributions = [np.empty_like(p) for p in parts]
    baseline_prediction = np.empty(len(parts[0]), np.float32)
    progress = Progress(len(parts[0]) * num_samples, verbose, unit="path points")
    for start, stop in chunks(len(parts[0]), per_call):
        real = {k: r[start:stop] for k, r in zip(labels, reals, strict=True) if r is not None}
        out = run(pack([p[start:stop] for p in parts]), target[start:stop].astype(np.int32), real)
        for a, key in zip(attributions, keys, strict=True):
            a[start:stop] = out[key].numpy()
        baseline_prediction[start:stop] = out["baseline_prediction"].numpy()
        progress.advance((stop - start) * num_samples)
    return attributions, baseline_prediction
