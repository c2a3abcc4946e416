"""Exporting explainers: a SavedModel whose ``explain`` signature serves attributions.

TensorFlow Serving answers ``predict`` requests for any signature of a SavedModel but
has no explain endpoint. :func:`export_explainer` writes a SavedModel whose
``serving_default`` signature returns the model's predictions unchanged and whose
``explain`` signature returns, for the same request, the attributions of every
instance with its prediction, baseline prediction and approximation error, so that
explanations are served wherever predictions are.

Outputs of the ``explain`` signature (input ``inputs``, float32 ``(batch, T, F)``):

==========================  =================  =========================================
output                      shape              meaning
==========================  =================  =========================================
``predictions``             ``(batch, *out)``  the model's output, as ``serving_default``
``explained_index``         ``(batch,)``       flat index of the explained output
``explained_prediction``    ``(batch,)``       f(x): the explained output
``baseline_prediction``     ``(batch,)``       f(baseline) (mean over the reference
                                               samples for expected gradients)
``attributions``            ``(batch, T, F)``  attributions, shaped like the inputs
``approximation_error``     ``(batch,)``       ``|sum(attr) - (f(x) - f(baseline))|``
==========================  =================  =========================================
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._model import as_model_fn, check_differentiable, predict_in_chunks, probe_output
from tf_tsexplain._targets import PREDICTED, select_output
from tf_tsexplain._validation import check_bool, check_choice, check_int, check_seed
from tf_tsexplain.serving._common import (
    EXPLAIN_OUTPUTS,
    METHODS,
    check_baseline,
    path_points,
    resolve_target,
)
from tf_tsexplain.serving.loading import SignatureModel, model_input_shape


def export_explainer(
    model,
    export_dir,
    method: str = "integrated_gradients",
    baseline=None,
    num_samples: int = 64,
    output_indices=None,
    batch_size: int = 256,
    input_shape: tuple[int, int] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """Write a SavedModel serving predictions (``serving_default``) and explanations.

    The ``explain`` signature takes the same input as ``serving_default`` (name
    ``inputs``, float32 ``(batch, T, F)``, any batch size) and returns the outputs
    listed in the module docstring. TF Serving serves it with
    ``{"signature_name": "explain", "instances": [...]}``.

    Args:
        model: a Keras model, a :class:`SignatureModel` from :func:`load_model`, or a
            ``tf.Module`` whose ``__call__`` maps a float batch to outputs (its
            variables must be tracked so that they are saved).
        export_dir: new directory for the SavedModel.
        method: ``"integrated_gradients"`` (Gauss-Legendre nodes on [0, 1], as
            :class:`~tf_tsexplain.PathExplainerTF` with ``use_expectation=False``),
            ``"expected_gradients"`` (``num_samples`` pairs of reference and path
            position, drawn once at export from ``seed`` and stored, so that an
            instance gets the same attributions whatever the request), or
            ``"saliency"`` (the gradient at the input).
        baseline: integrated gradients and saliency: one baseline ``(T, F)`` (default
            zeros); expected gradients: the reference set ``(R, T, F)`` (required).
            For saliency, the baseline only serves the approximation error, which is
            then the first-order Taylor error ``|sum(grad * (x - b)) - (f(x) - f(b))|``.
        num_samples: path points per instance (ignored for saliency).
        output_indices: which output to explain, fixed at export (one meaning in the
            toolkit, see :mod:`tf_tsexplain._targets`): None for a single-output
            model (refused on several outputs: the signature explains one output
            per instance), an int for outputs ``(N, C)``, a ``(time, class)`` tuple
            for ``(N, T, C)``, or ``"predicted"`` for the arg-max class of outputs
            ``(N, C)``, computed per instance inside the signature.
        batch_size: most rows sent to the model at once inside the signature;
            bounds the server's memory per request.
        input_shape: ``(T, F)`` when it cannot be read from the model.
        seed: seed of the expected-gradients draws.
        overwrite: replace an existing non-empty ``export_dir`` (only an earlier
            export).

    Returns:
        ``{"export_dir", "method", "input_shape", "output_shape", "signatures"}``.

    Raises:
        TypeError: an argument of the wrong kind (e.g. ``batch_size=2.5``), or a
            model whose variables cannot be saved.
        ValueError: a wrong value (the message names the argument).
    """
    method = check_choice(method, "method", METHODS)
    num_samples = 1 if method == "saliency" else check_int(num_samples, "num_samples", min_val=1)
    batch_size = check_int(batch_size, "batch_size", min_val=1)
    seed = check_seed(seed) or 0
    overwrite = check_bool(overwrite, "overwrite")
    export_dir = Path(export_dir)
    if export_dir.exists() and (not export_dir.is_dir() or any(export_dir.iterdir())):
        if not overwrite:
            raise ValueError(
                f"`export_dir` {str(export_dir)!r} exists and is not empty; choose a new "
                "directory or pass overwrite=True."
            )
        if not (export_dir / "saved_model.pb").is_file():
            raise ValueError(
                f"`export_dir` {str(export_dir)!r} is not a SavedModel directory (no "
                "saved_model.pb); overwrite only replaces an earlier export, never other "
                "files."
            )
    trackable = _trackable(model)
    shape = _export_input_shape(model, input_shape)
    model_fn = as_model_fn(model)
    probe = np.zeros((1, *shape), np.float32)
    output_shape = probe_output(model_fn, probe)
    check_differentiable(model_fn, probe)
    # Checked by the shared resolution; "predicted" is then computed per instance
    # inside the signature (the probe's arg-max only validates it).
    target = resolve_target(
        output_indices, output_shape, 1, predict=lambda: predict_in_chunks(model_fn, probe, 1)
    )
    predicted = isinstance(output_indices, str) and output_indices == PREDICTED
    fixed_target = 0 if predicted else int(target[0])

    checked = check_baseline(method, baseline, shape)
    path_baselines, alphas, weights, mode = path_points(method, checked, num_samples, seed)
    module = tf.Module()
    module.model = trackable
    module.path_baselines = tf.constant(path_baselines)
    t, f = shape
    spec = tf.TensorSpec((None, t, f), tf.float32, name="inputs")

    @tf.function(input_signature=[spec])
    def serving_default(inputs):
        # One plain call, no chunking loop: gradients through a loop in a reloaded
        # SavedModel fail, and users explain this signature after loading it.
        return {"predictions": model_fn(inputs)}

    @tf.function(input_signature=[spec])
    def explain(inputs):
        return explain_graph(
            model_fn,
            inputs,
            module.path_baselines,
            tf.constant(alphas),
            tf.constant(weights),
            fixed_target,
            predicted,
            mode,
            batch_size,
        )

    module.serving_default = serving_default
    module.explain = explain
    # Attach every variable the two graphs read. TF2 loaders find them through the
    # captured functions anyway, but TF Serving and saved_model_cli load SavedModels
    # into a TF1 session, which restores only variables in the object graph: without
    # this list the Keras 3 variables are missing there ("Resource ... does not exist").
    used = {}
    for fn in (serving_default, explain):
        for variable in fn.get_concrete_function().variables:
            used[id(variable)] = variable
    module.used_variables = list(used.values())
    # Write next to the target and move into place only once complete, so that a
    # failed export never leaves a half-written or deleted directory behind.
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.", dir=export_dir.parent))
    try:
        tf.saved_model.save(
            module,
            str(staging),
            signatures={"serving_default": serving_default, "explain": explain},
        )
        (staging / "assets.extra").mkdir(exist_ok=True)
        (staging / "assets.extra" / "tf_tsexplain.json").write_text(
            json.dumps(_export_info(locals()), indent=2, default=_json_default)
        )
        if export_dir.exists():
            shutil.rmtree(export_dir) if export_dir.is_dir() else export_dir.unlink()
        staging.rename(export_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return {
        "export_dir": str(export_dir),
        "method": method,
        "input_shape": (t, f),
        "output_shape": tuple(output_shape),
        "signatures": ("serving_default", "explain"),
    }


def _export_info(settings: dict) -> dict:
    """The export settings written to ``assets.extra/tf_tsexplain.json``."""
    return {
        "method": settings["method"],
        "num_samples": settings["num_samples"],
        "output_indices": "predicted" if settings["predicted"] else settings["output_indices"],
        "input_shape": [settings["t"], settings["f"]],
        "output_shape": list(settings["output_shape"]),
        "batch_size": settings["batch_size"],
        "seed": settings["seed"],
        "explain_outputs": list(EXPLAIN_OUTPUTS),
    }


def _json_default(value):
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


def _trackable(model):
    """The object whose variables the SavedModel must hold."""
    if isinstance(model, SignatureModel):
        return model.loaded
    if isinstance(model, keras.Model | tf.Module):
        return model
    raise TypeError(
        "`model` must be a Keras model, a model from tf_tsexplain.serving.load_model, or "
        f"a tf.Module (so that its variables are saved); got {type(model).__name__}."
    )


def _export_input_shape(model, input_shape) -> tuple[int, int]:
    if input_shape is not None:
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise TypeError(
                f"`input_shape` must be a pair (T, F). Received: input_shape={input_shape!r}."
            ) from None
        if len(shape) != 2:
            raise ValueError(
                f"`input_shape` must be a pair (T, F). Received: input_shape={input_shape!r}."
            )
        t, f = (check_int(d, f"input_shape[{i}]", min_val=1) for i, d in enumerate(shape))
        return t, f
    shape = model_input_shape(model)
    if shape is None:
        raise ValueError("The input shape cannot be read from the model; pass input_shape=(T, F).")
    if len(shape) != 2 or any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
        raise ValueError(
            f"The explain signature needs sequences of fixed shape (T, F); the model "
            f"input is (None, {', '.join(map(str, shape))}). Pass input_shape=(T, F)."
        )
    return int(shape[0]), int(shape[1])


def _chunked_predict(model_fn, x, batch_size):
    """``model_fn(x)`` in chunks of ``batch_size`` rows (inside a graph)."""
    n = tf.shape(x)[0]
    n_chunks = (n + batch_size - 1) // batch_size
    first = model_fn(x[:1])  # output shape per row, for the TensorArray
    out = tf.TensorArray(
        first.dtype, size=n_chunks, infer_shape=False, element_shape=[None, *first.shape[1:]]
    )

    def body(i, out):
        return i + 1, out.write(i, model_fn(x[i * batch_size : (i + 1) * batch_size]))

    _, out = tf.while_loop(lambda i, _: i < n_chunks, body, [0, out])
    return tf.cond(n > 0, out.concat, lambda: tf.zeros([0, *first.shape[1:]], first.dtype))


def explain_graph(
    model_fn, x, baselines, alphas, weights, fixed_target, predicted, mode, bs, target=None
):
    """The ``explain`` signature's outputs for a batch ``x``, built in a graph.

    Rows are (instance, path point) pairs, ``bs`` rows at a time. A row's contribution
    is ``w_k * grad f(b_k + a_k (x - b_k)) * (x - b_k)`` on a path (integrated and
    expected gradients), ``grad f(x)`` for saliency; the rows of an instance are
    summed into its attributions.

    Args:
        model_fn: ``f(batch) -> outputs``.
        x: float32 ``(n, T, F)``.
        baselines, alphas, weights, mode: the path of ``serving._common.path_points``.
        fixed_target: the flat output index explained for every instance, unless
            ``predicted`` (the arg-max of each instance's outputs) or ``target``.
        bs: most rows sent to the model at once.
        target: int32 ``(n,)`` flat indices, one per instance, given by the caller.

    Returns:
        A dict of the outputs listed in the module docstring.
    """
    n = tf.shape(x)[0]
    k = tf.shape(alphas)[0]
    # Attributions are float32 like the signature's input; float64 models are
    # compared in float32 too.
    predictions = tf.cast(_chunked_predict(model_fn, x, bs), tf.float32)
    flat = tf.reshape(predictions, tf.stack([n, -1]))
    if target is not None:  # one flat index per instance, given by the caller
        pass
    elif predicted:
        target = tf.cast(tf.argmax(flat, axis=1), tf.int32)
    else:
        target = tf.fill([n], tf.constant(fixed_target, tf.int32))
    explained = tf.gather(flat, target, axis=1, batch_dims=1)

    # f(baseline_k) for every k, then the mean over k of the explained output.
    base_out = tf.cast(_chunked_predict(model_fn, baselines, bs), tf.float32)
    base_flat = tf.reshape(base_out, tf.stack([k, -1]))
    baseline_pred = tf.reduce_mean(tf.gather(base_flat, target, axis=1), axis=0)

    n_rows = n * k
    n_chunks = (n_rows + bs - 1) // bs
    acc = tf.zeros_like(x)

    def body(i, acc):
        rows = tf.range(i * bs, tf.minimum((i + 1) * bs, n_rows))
        inst, node = rows // k, rows % k
        xi = tf.gather(x, inst)
        bi = tf.gather(baselines, node)
        a = tf.reshape(tf.gather(alphas, node), [-1, 1, 1])
        point = xi if mode == "gradient" else bi + a * (xi - bi)
        with tf.GradientTape() as tape:
            tape.watch(point)
            value = select_output(model_fn(point), tf.gather(target, inst))
        grad = tf.cast(tape.gradient(value, point), tf.float32)
        if mode == "path":
            grad = grad * tf.reshape(tf.gather(weights, node), [-1, 1, 1]) * (xi - bi)
        return i + 1, tf.tensor_scatter_nd_add(acc, inst[:, None], grad)

    _, attributions = tf.while_loop(lambda i, _: i < n_chunks, body, [0, acc])
    total = tf.reduce_sum(attributions, axis=[1, 2])
    if mode == "gradient":  # first-order Taylor error around the baseline
        total = tf.reduce_sum(attributions * (x - baselines[:1]), axis=[1, 2])
    return {
        "predictions": predictions,
        "explained_index": target,
        "explained_prediction": explained,
        "baseline_prediction": baseline_pred,
        "attributions": attributions,
        "approximation_error": tf.abs(total - (explained - baseline_pred)),
    }


def saved_model_info(export_dir) -> dict:
    """The export settings stored next to a SavedModel by :func:`export_explainer`."""
    path = Path(export_dir) / "assets.extra" / "tf_tsexplain.json"
    if not path.is_file():
        raise ValueError(f"{export_dir} was not written by export_explainer (no {path.name}).")
    return json.loads(path.read_text())
