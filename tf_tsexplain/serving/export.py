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

Multi-input models (a Keras model with several inputs, e.g. a sequence ``(T, F)``
and static covariates ``(S,)``, or a :class:`SignatureModel` over several inputs):
both signatures take every input by its Keras input name (float32 ``(batch,
*shape)``), and ``explain`` returns one ``attributions_<input name>`` output per
input, shaped like it, in place of ``attributions``; the other outputs are the same,
and the sum in ``approximation_error`` runs over all inputs together.

Padding: steps of an input that are padding keep their values along every path (the
baseline takes the input's value there) and get exactly zero attribution. The
signature finds them from the model's ``Masking`` layers applied to an input (steps
whose features all equal the mask value), or, exported with ``padding_mask=True``
(or an input name), from an extra ``explain`` input ``padding_mask``, bool
``(batch, T)``, True on real steps. ``baseline_prediction`` is then per instance:
f of the baseline with the instance's padded steps.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._model import check_differentiable, predict_in_chunks, probe_output
from tf_tsexplain._structure import InputStructure
from tf_tsexplain._targets import PREDICTED, select_output
from tf_tsexplain._validation import check_bool, check_choice, check_int, check_seed
from tf_tsexplain.serving._common import (
    EXPLAIN_OUTPUTS,
    METHODS,
    PADDING_MASK,
    attribution_names,
    check_baselines,
    masking_of,
    path_points,
    resolve_target,
    structured_call,
)
from tf_tsexplain.serving.loading import SignatureModel, model_input_shape, model_inputs


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
    *,
    padding_mask: bool | str = False,
) -> dict:
    """Write a SavedModel serving predictions (``serving_default``) and explanations.

    The ``explain`` signature takes the same input as ``serving_default`` (name
    ``inputs``, float32 ``(batch, T, F)``, any batch size; for a multi-input model
    every input by its name) and returns the outputs listed in the module docstring.
    TF Serving serves it with ``{"signature_name": "explain", "instances": [...]}``.

    Args:
        model: a Keras model (one input, or several), a :class:`SignatureModel` from
            :func:`load_model`, or a ``tf.Module`` whose ``__call__`` maps a float
            batch (or a dict of them by input name) to outputs (its variables must be
            tracked so that they are saved).
        export_dir: new directory for the SavedModel.
        method: ``"integrated_gradients"`` (Gauss-Legendre nodes on [0, 1], as
            :class:`~tf_tsexplain.PathExplainerTF` with ``use_expectation=False``),
            ``"expected_gradients"`` (``num_samples`` pairs of reference and path
            position, drawn once at export from ``seed`` and stored, so that an
            instance gets the same attributions whatever the request), or
            ``"saliency"`` (the gradient at the input).
        baseline: integrated gradients and saliency: one baseline ``(T, F)`` (default
            zeros); expected gradients: the reference set ``(R, T, F)`` (required).
            For a multi-input model, a dict by input name (or a list in the model's
            input order) of one baseline per input, or of reference sets with the
            same R. For saliency, the baseline only serves the approximation error,
            which is then the first-order Taylor error
            ``|sum(grad * (x - b)) - (f(x) - f(b))|``.
        num_samples: path points per instance (ignored for saliency).
        output_indices: which output to explain, fixed at export (one meaning in the
            toolkit, see :mod:`tf_tsexplain._targets`): None for a single-output
            model (refused on several outputs: the signature explains one output
            per instance), an int for outputs ``(N, C)``, a ``(time, class)`` tuple
            for ``(N, T, C)``, or ``"predicted"`` for the arg-max class of outputs
            ``(N, C)``, computed per instance inside the signature.
        batch_size: most rows sent to the model at once inside the signature;
            bounds the server's memory per request.
        input_shape: ``(T, F)`` when it cannot be read from the model; for several
            inputs a dict of shapes by input name.
        seed: seed of the expected-gradients draws.
        overwrite: replace an existing non-empty ``export_dir`` (only an earlier
            export).
        padding_mask: True adds the ``explain`` input ``padding_mask``, bool
            ``(batch, T)``, True on real steps, applied to every sequence input
            (they must have the same T); an input name applies it to that input
            only. For models without a ``Masking`` layer whose inputs are padded;
            ``serving_default`` does not take it.

    Returns:
        ``{"export_dir", "method", "input_shape", "output_shape", "signatures",
        "explain_inputs", "explain_outputs"}`` (the last two: the ``explain``
        signature's input and output names); for a multi-input model
        ``input_shape`` is a dict of shapes by input name.

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
    names, shapes = _export_inputs(model, input_shape)
    multi = names is not None
    labels = names if multi else ["inputs"]
    padded = _padded_inputs(padding_mask, labels, shapes, multi)
    masking = {} if padded else masking_of(model, labels)
    call = structured_call(model, labels, multi)
    # The shared checks run on flat rows (N, D), whatever the inputs' structure.
    structure = InputStructure("dict", labels, shapes)
    flat_fn = structure.model_fn(call) if multi else call
    # A probe of zeros is all padding for Masking(0.0): one value that no Masking
    # layer masks, so that the probe has real steps (pooling over none is NaN).
    fill = 0.0 if not masking else 1.0 + max(abs(v) for v in masking.values())
    probe = np.full((1, structure.size) if multi else (1, *shapes[0]), fill, np.float32)
    output_shape = probe_output(flat_fn, probe)
    check_differentiable(flat_fn, probe)
    # Checked by the shared resolution; "predicted" is then computed per instance
    # inside the signature (the probe's arg-max only validates it).
    target = resolve_target(
        output_indices, output_shape, 1, predict=lambda: predict_in_chunks(flat_fn, probe, 1)
    )
    predicted = isinstance(output_indices, str) and output_indices == PREDICTED
    fixed_target = 0 if predicted else int(target[0])

    checked = check_baselines(method, baseline, names, shapes)
    stored, index, alphas, weights, mode = path_points(method, checked, num_samples, seed)
    module = tf.Module()
    module.model = trackable
    module.path_baselines = [tf.constant(b) for b in stored]
    specs = {
        name: tf.TensorSpec((None, *shape), tf.float32, name=name)
        for name, shape in zip(labels, shapes, strict=True)
    }
    explain_specs = dict(specs)
    if padded:
        steps = shapes[labels.index(padded[0])][0]
        explain_specs[PADDING_MASK] = tf.TensorSpec((None, steps), tf.bool, name=PADDING_MASK)

    def structured(values):
        return dict(zip(labels, values, strict=True)) if multi else values[0]

    @tf.function(input_signature=[specs])
    def serving_default(inputs):
        # One plain call, no chunking loop: gradients through a loop in a reloaded
        # SavedModel fail, and users explain this signature after loading it.
        return {"predictions": call(structured([inputs[k] for k in labels]))}

    @tf.function(input_signature=[explain_specs])
    def explain(inputs):
        x = [inputs[k] for k in labels]
        real = {k: inputs[PADDING_MASK] for k in padded}
        for k, value in masking.items():  # the model's own Masking layers
            real[k] = tf.reduce_any(tf.not_equal(x[labels.index(k)], value), axis=-1)
        return explain_graph(
            call,
            structured(x),
            structured(module.path_baselines),
            tf.constant(alphas),
            tf.constant(weights),
            fixed_target,
            predicted,
            mode,
            batch_size,
            baseline_index=tf.constant(index),
            real=structured([real.get(k) for k in labels]),
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
    explain_outputs = [*EXPLAIN_OUTPUTS[:4], *attribution_names(names), EXPLAIN_OUTPUTS[5]]
    settings = {
        "method": method,
        "num_samples": num_samples,
        "output_indices": "predicted" if predicted else output_indices,
        "output_shape": list(output_shape),
        "batch_size": batch_size,
        "seed": seed,
        "explain_outputs": explain_outputs,
    }
    if multi:
        settings["input_names"] = labels
        settings["input_shapes"] = {k: list(v) for k, v in zip(labels, shapes, strict=True)}
        settings["explain_inputs"] = list(explain_specs)
    else:
        settings["input_shape"] = list(shapes[0])
    if padded:
        settings["padding_mask"] = padded
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
            json.dumps(settings, indent=2, default=_json_default)
        )
        if export_dir.exists():
            shutil.rmtree(export_dir) if export_dir.is_dir() else export_dir.unlink()
        staging.rename(export_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    info = {
        "export_dir": str(export_dir),
        "method": method,
        "input_shape": dict(zip(labels, shapes, strict=True)) if multi else shapes[0],
        "output_shape": tuple(output_shape),
        "signatures": ("serving_default", "explain"),
        "explain_inputs": tuple(explain_specs),
        "explain_outputs": tuple(explain_outputs),
    }
    return info


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


def _export_inputs(model, input_shape) -> tuple[list[str] | None, list[tuple[int, ...]]]:
    """``(names, shapes)`` of the signature inputs: names None for one input, whose
    shape is ``(T, F)``; else every input's name and fixed shape, in model order."""
    known = model_inputs(model)
    if isinstance(input_shape, Mapping) or (known is not None and input_shape is not None):
        if not isinstance(input_shape, Mapping):
            raise TypeError(
                f"The model takes the inputs {list(known)}: `input_shape` must be a dict of "
                f"shapes by input name. Received: input_shape={input_shape!r}."
            )
        if known is not None and set(input_shape) != set(known):
            raise ValueError(
                f"`input_shape` must have the model's input names {list(known)} as keys. "
                f"Received: input_shape={dict(input_shape)!r}."
            )
        names = list(known) if known is not None else list(input_shape)
        shapes = [_shape_of(input_shape[k], f"input_shape[{k!r}]") for k in names]
        return _check_names(names), shapes
    if known is not None:
        shapes = []
        for name, shape in known.items():
            if any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
                raise ValueError(
                    f"The explain signature needs inputs of fixed shape; the model input "
                    f"{name!r} is (None, {', '.join(map(str, shape))}). Pass input_shape="
                    "{name: shape, ...}."
                )
            shapes.append(tuple(int(d) for d in shape))
        return _check_names(list(known)), shapes
    if input_shape is not None:
        shape = _shape_of(input_shape, "input_shape")
        if len(shape) != 2:
            raise ValueError(
                f"`input_shape` must be a pair (T, F). Received: input_shape={input_shape!r}."
            )
        return None, [shape]
    shape = model_input_shape(model)
    if shape is None:
        raise ValueError("The input shape cannot be read from the model; pass input_shape=(T, F).")
    if len(shape) != 2 or any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
        raise ValueError(
            f"The explain signature needs sequences of fixed shape (T, F); the model "
            f"input is (None, {', '.join(map(str, shape))}). Pass input_shape=(T, F)."
        )
    return None, [(int(shape[0]), int(shape[1]))]


def _shape_of(value, name: str) -> tuple[int, ...]:
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"`{name}` must be a tuple of ints. Received: {name}={value!r}.") from None
    if not shape:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}.")
    return tuple(check_int(d, f"{name}[{i}]", min_val=1) for i, d in enumerate(shape))


def _check_names(names: list[str]) -> list[str]:
    """Input names usable as signature names, distinct from ``padding_mask``."""
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
            raise ValueError(
                f"Input name {name!r} cannot name a SavedModel signature input; give the "
                "Keras Input a name of letters, digits, '_', '.' or '-'."
            )
        if name == PADDING_MASK:
            raise ValueError(
                f"An input is named {PADDING_MASK!r}, the name of the explain signature's "
                "padding input; rename the Keras Input."
            )
    return names


def _padded_inputs(padding_mask, labels, shapes, multi) -> list[str]:
    """The inputs the ``padding_mask`` signature input applies to (none if False)."""
    if isinstance(padding_mask, bool):
        if not padding_mask:
            return []
        chosen = [k for k, shape in zip(labels, shapes, strict=True) if len(shape) == 2]
    elif isinstance(padding_mask, str) and multi:
        if padding_mask not in labels:
            raise ValueError(
                f"`padding_mask` names no input of the model {labels}. Received: "
                f"padding_mask={padding_mask!r}."
            )
        chosen = [padding_mask]
    else:
        raise TypeError(
            "`padding_mask` must be True, False or (for a multi-input model) an input name. "
            f"Received: padding_mask={padding_mask!r}."
        )
    steps = {shapes[labels.index(k)][0] for k in chosen if len(shapes[labels.index(k)]) == 2}
    bad = [k for k in chosen if len(shapes[labels.index(k)]) != 2]
    if not chosen or bad:
        raise ValueError(
            "`padding_mask` applies to sequence inputs (T, F); the chosen input(s) "
            f"{bad or labels} have none. Received: padding_mask={padding_mask!r}."
        )
    if len(steps) > 1:
        raise ValueError(
            f"The sequence inputs {chosen} have different lengths {sorted(steps)}: one "
            "padding_mask cannot cover them; pass padding_mask=<input name>."
        )
    return chosen


def _chunked_predict(call, parts: list, batch_size):
    """``call(parts)`` in chunks of ``batch_size`` rows (inside a graph)."""
    n = tf.shape(parts[0])[0]
    n_chunks = (n + batch_size - 1) // batch_size
    first = call([p[:1] for p in parts])  # output shape per row, for the TensorArray
    out = tf.TensorArray(
        first.dtype, size=n_chunks, infer_shape=False, element_shape=[None, *first.shape[1:]]
    )

    def body(i, out):
        return i + 1, out.write(i, call([p[i * batch_size : (i + 1) * batch_size] for p in parts]))

    _, out = tf.while_loop(lambda i, _: i < n_chunks, body, [0, out])
    return tf.cond(n > 0, out.concat, lambda: tf.zeros([0, *first.shape[1:]], first.dtype))


def _per_row(values, rank: int):
    """``(rows,)`` -> broadcastable against ``(rows, ...)`` of ``rank`` axes."""
    return tf.reshape(values, [-1] + [1] * (rank - 1))


def explain_graph(
    model_fn,
    x,
    baselines,
    alphas,
    weights,
    fixed_target,
    predicted,
    mode,
    bs,
    target=None,
    *,
    baseline_index=None,
    real=None,
):
    """The ``explain`` signature's outputs for a batch ``x``, built in a graph.

    Rows are (instance, path point) pairs, ``bs`` rows at a time. A row's contribution
    is ``w_k * grad f(b_k + a_k (x - b_k)) * (x - b_k)`` on a path (integrated and
    expected gradients), ``grad f(x)`` for saliency; the rows of an instance are
    summed into its attributions. Cells of padded steps take the instance's values in
    the baseline, so their attribution is exactly zero.

    Args:
        model_fn: ``f(batch) -> outputs``, ``batch`` structured as ``x``.
        x: float32 ``(n, T, F)``, or a dict of float32 ``(n, *shape)`` by input name.
        baselines: the stored baselines ``(B, ...)``, structured as ``x``.
        alphas: the path positions ``(K,)`` of ``serving._common.path_points``.
        weights: the quadrature weight ``(K,)`` of each path point.
        mode: ``"path"`` (integrated or expected gradients) or ``"gradient"`` (saliency).
        fixed_target: the flat output index explained for every instance, unless
            ``predicted`` (the arg-max of each instance's outputs) or ``target``.
        bs: most rows sent to the model at once.
        target: int32 ``(n,)`` flat indices, one per instance, given by the caller.
        baseline_index: int32 ``(K,)``, the stored baseline of each path point
            (default: baseline k for point k, ``B == K``).
        real: padding, structured as ``x``: bool ``(n, T)`` (True on real steps) for
            a padded sequence input, None elsewhere (default: no padding).

    Returns:
        A dict of the outputs listed in the module docstring (``attributions`` for
        one input, ``attributions_<name>`` per input of a dict).
    """
    single = not isinstance(x, Mapping)
    names = None if single else list(x)
    xs = [x] if single else [x[k] for k in names]
    bases = [baselines] if single else [baselines[k] for k in names]
    reals = [real] if single else [None if real is None else real.get(k) for k in names]
    frozen = [
        None if r is None else tf.broadcast_to(tf.logical_not(r)[:, :, None], tf.shape(part))
        for r, part in zip(reals, xs, strict=True)
    ]

    def call(parts):
        return model_fn(parts[0] if single else dict(zip(names, parts, strict=True)))

    n = tf.shape(xs[0])[0]
    k = tf.shape(alphas)[0]
    if baseline_index is None:
        baseline_index = tf.range(k)
    n_stored = tf.shape(bases[0])[0]
    # Attributions are float32 like the signature's input; float64 models are
    # compared in float32 too.
    predictions = tf.cast(_chunked_predict(call, xs, bs), tf.float32)
    flat = tf.reshape(predictions, tf.stack([n, -1]))
    if target is not None:  # one flat index per instance, given by the caller
        pass
    elif predicted:
        target = tf.cast(tf.argmax(flat, axis=1), tf.int32)
    else:
        target = tf.fill([n], tf.constant(fixed_target, tf.int32))
    explained = tf.gather(flat, target, axis=1, batch_dims=1)

    # f(baseline) of every stored baseline, explained output per instance (B, n) or,
    # with padding, of every (instance, stored baseline) pair; then the mean over
    # the path points.
    if all(f is None for f in frozen):
        base_out = tf.cast(_chunked_predict(call, bases, bs), tf.float32)
        base_flat = tf.reshape(base_out, tf.stack([n_stored, -1]))
        per_stored = tf.transpose(tf.gather(base_flat, target, axis=1))  # (n, B)
    else:
        inst = tf.repeat(tf.range(n), n_stored)
        ref = tf.tile(tf.range(n_stored), [n])
        pairs = [
            _masked_baseline(tf.gather(b, ref), tf.gather(part, inst), f, inst)
            for b, part, f in zip(bases, xs, frozen, strict=True)
        ]
        base_out = tf.cast(_chunked_predict(call, pairs, bs), tf.float32)
        base_flat = tf.reshape(base_out, tf.stack([n, n_stored, -1]))
        per_stored = tf.gather(base_flat, target, axis=2, batch_dims=1)  # (n, B)
    baseline_pred = tf.reduce_mean(tf.gather(per_stored, baseline_index, axis=1), axis=1)

    n_rows = n * k
    n_chunks = (n_rows + bs - 1) // bs
    accs = [tf.zeros_like(part) for part in xs]

    def body(i, *accs):
        rows = tf.range(i * bs, tf.minimum((i + 1) * bs, n_rows))
        inst, node = rows // k, rows % k
        ref = tf.gather(baseline_index, node)
        xi = [tf.gather(part, inst) for part in xs]
        bi = [
            _masked_baseline(tf.gather(b, ref), part, f, inst)
            for b, part, f in zip(bases, xi, frozen, strict=True)
        ]
        a = tf.gather(alphas, node)
        if mode == "gradient":
            points = xi
        else:
            points = [b + _per_row(a, len(b.shape)) * (v - b) for b, v in zip(bi, xi, strict=True)]
        with tf.GradientTape() as tape:
            tape.watch(points)
            value = select_output(call(points), tf.gather(target, inst))
        grads = [tf.cast(g, tf.float32) for g in tape.gradient(value, points)]
        out = []
        for g, b, v, f, acc in zip(grads, bi, xi, frozen, accs, strict=True):
            if mode == "path":
                g = g * _per_row(tf.gather(weights, node), len(g.shape)) * (v - b)
            elif f is not None:  # saliency: padded cells get exactly zero
                g = tf.where(tf.gather(f, inst), tf.zeros_like(g), g)
            out.append(tf.tensor_scatter_nd_add(acc, inst[:, None], g))
        return (i + 1, *out)

    _, *attributions = tf.while_loop(lambda i, *_: i < n_chunks, body, [0, *accs])
    if mode == "gradient":  # first-order Taylor error around the (first) baseline
        first = tf.zeros([n], tf.int32)
        deltas = [
            part - _masked_baseline(tf.gather(b, first), part, f, tf.range(n))
            for b, part, f in zip(bases, xs, frozen, strict=True)
        ]
        total = sum(_row_sum(a * d) for a, d in zip(attributions, deltas, strict=True))
    else:
        total = sum(_row_sum(a) for a in attributions)
    result = {
        "predictions": predictions,
        "explained_index": target,
        "explained_prediction": explained,
        "baseline_prediction": baseline_pred,
    }
    for key, value in zip(attribution_names(names), attributions, strict=True):
        result[key] = value
    result["approximation_error"] = tf.abs(total - (explained - baseline_pred))
    return result


def _masked_baseline(b, x, frozen, inst):
    """Baseline rows ``b`` with the instances' values ``x`` on their padded cells
    (``frozen`` of the instances ``inst``; None: no padding)."""
    return b if frozen is None else tf.where(tf.gather(frozen, inst), x, b)


def _row_sum(value):
    """Sum over all axes but the first."""
    return tf.reduce_sum(tf.reshape(value, tf.stack([tf.shape(value)[0], -1])), axis=1)


def saved_model_info(export_dir) -> dict:
    """The export settings stored next to a SavedModel by :func:`export_explainer`.

    Args:
        export_dir: the SavedModel directory written by :func:`export_explainer`.

    Returns:
        The settings as a dict (``method``, ``num_samples``, ``output_indices``,
        input names and shapes, ...), as written to
        ``assets.extra/tf_tsexplain.json``.

    Raises:
        ValueError: a directory that :func:`export_explainer` did not write.
    """
    path = Path(export_dir) / "assets.extra" / "tf_tsexplain.json"
    if not path.is_file():
        raise ValueError(f"{export_dir} was not written by export_explainer (no {path.name}).")
    return json.loads(path.read_text())
