"""In-process explanation: the ``explain`` signature's outputs without exporting the model."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks
from tf_tsexplain._model import as_model_fn, predict_in_chunks
from tf_tsexplain._validation import check_choice, check_int, check_seed, check_verbose
from tf_tsexplain.path import PathExplainerTF
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving._common import METHODS, check_baseline, path_points, resolve_target
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
        inputs: ``(N, T, F)``.
        method, baseline, num_samples, output_indices: as in
            :func:`~tf_tsexplain.serving.export_explainer` (``baseline`` None means
            zeros; for expected gradients it is the reference set and required;
            ``output_indices`` None is refused on a model with several outputs, and
            ``"predicted"`` is the arg-max class of each input).
        batch_size: most rows sent to the model at once.
        seed: seed of the expected-gradients draws.
        verbose: show a progress bar.
        allow_nonfinite: accept NaN/Inf inputs.

    Returns:
        A dict with the ``explain`` signature's outputs as numpy arrays (see
        :mod:`tf_tsexplain.serving.export`): ``attributions`` ``(N, T, F)``, and
        ``(N,)`` arrays ``explained_index``, ``explained_prediction``,
        ``baseline_prediction``, ``approximation_error``; plus ``predictions``
        ``(N, *out)``.

    Raises:
        TypeError: an argument of the wrong kind (e.g. ``batch_size=2.5``).
        ValueError: a wrong value (the message names the argument).
    """
    method = check_choice(method, "method", METHODS)
    batch_size = check_int(batch_size, "batch_size", min_val=1)
    num_samples = check_int(num_samples, "num_samples", min_val=1)
    seed = check_seed(seed)
    verbose = check_verbose(verbose)
    x = check_model_inputs(model, inputs, allow_nonfinite=allow_nonfinite)
    b = check_baseline(method, baseline, x.shape[1:])
    if method != "expected_gradients":
        b = b[None]  # (1, T, F)
    model_fn = as_model_fn(model)
    predictions = predict_in_chunks(model_fn, x, batch_size)
    output_shape = predictions.shape[1:]
    flat = predictions.reshape(len(x), -1)
    target = resolve_target(output_indices, output_shape, len(x), predict=lambda: predictions)
    index_arg = None  # the only output of a single-output model
    if flat.shape[1] > 1:  # one index (tuple) per input, as the explainers take them
        index_arg = np.stack(np.unravel_index(target, output_shape), axis=-1)
        index_arg = index_arg[:, 0] if index_arg.shape[1] == 1 else index_arg
    if method == "saliency":
        attributions = Saliency(model, allow_nonfinite=allow_nonfinite).attributions(
            x, output_indices=index_arg, batch_size=batch_size, verbose=verbose
        )
        base_out = np.asarray(model_fn(tf.constant(b))).reshape(1, -1)
        baseline_prediction = base_out[0, target]
        total = (attributions * (x - b)).reshape(len(x), -1).sum(axis=1)
    elif method == "expected_gradients":
        attributions, baseline_prediction = _expected_gradients_as_exported(
            model_fn, x, b, target, num_samples, batch_size, seed or 0, verbose
        )
        total = attributions.reshape(len(x), -1).sum(axis=1)
    else:
        explainer = PathExplainerTF(model, allow_nonfinite=allow_nonfinite)
        attributions = explainer.attributions(
            x,
            b,
            output_indices=index_arg,
            batch_size=batch_size,
            num_samples=num_samples,
            use_expectation=False,
            seed=seed,
            verbose=verbose,
        )
        base_out = predict_in_chunks(model_fn, b, batch_size).reshape(len(b), -1)
        baseline_prediction = base_out.mean(axis=0)[target]
        total = attributions.reshape(len(x), -1).sum(axis=1)
    explained = flat[np.arange(len(x)), target]
    return {
        "predictions": predictions,
        "explained_index": target.astype(np.int32),
        "explained_prediction": explained,
        "baseline_prediction": baseline_prediction.astype(np.float32),
        "attributions": attributions,
        "approximation_error": np.abs(total - (explained - baseline_prediction)),
    }


def _expected_gradients_as_exported(
    model_fn, x, refs, target, num_samples, batch_size, seed, verbose
):
    """Expected gradients with the draws ``export_explainer`` stores for ``seed``.

    The same ``num_samples`` (reference, position) pairs serve every input, so the
    results equal the exported ``explain`` signature's, and ``baseline_prediction`` is
    the mean of f over the drawn references.
    """
    shape = x.shape[1:]
    path_b, alphas, weights, mode = path_points("expected_gradients", refs, num_samples, seed)
    constants = [tf.constant(v) for v in (path_b, alphas, weights)]

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def run(rows, row_targets):
        return explain_graph(
            model_fn, rows, *constants, 0, False, mode, batch_size, target=row_targets
        )

    per_call = max(1, batch_size // num_samples)  # inputs per call: ~batch_size path points
    attributions = np.empty_like(x)
    baseline_prediction = np.empty(len(x), np.float32)
    progress = Progress(len(x) * num_samples, verbose, unit="path points")
    for start, stop in chunks(len(x), per_call):
        out = run(x[start:stop], target[start:stop].astype(np.int32))
        attributions[start:stop] = out["attributions"].numpy()
        baseline_prediction[start:stop] = out["baseline_prediction"].numpy()
        progress.advance((stop - start) * num_samples)
    return attributions, baseline_prediction
