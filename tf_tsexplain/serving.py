"""Serving: explain model artifacts, and export explainers as SavedModel signatures.

TensorFlow Serving answers ``predict`` requests for any signature of a SavedModel but
has no explain endpoint. ``export_explainer`` writes a SavedModel whose
``serving_default`` signature returns the model's predictions unchanged and whose
``explain`` signature returns, for the same request, the attributions of every
instance with its prediction, baseline prediction and approximation error, so that
explanations are served wherever predictions are.

``load_model`` turns an artifact (a SavedModel directory or a ``.keras`` file) into a
model that every explainer of the toolkit accepts. ``.keras`` files are loaded with
Keras' safe mode on: a file is code, and safe mode refuses to deserialise arbitrary
Python (``Lambda`` layers) unless the caller says ``safe_mode=False``.

Names of the ``explain`` signature (input ``inputs``, float32 ``(batch, T, F)``):

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
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tf_tsexplain._model import (
    as_model_fn,
    check_differentiable,
    predict_in_chunks,
    probe_output,
)
from tf_tsexplain._quadrature import gauss_legendre_01
from tf_tsexplain._targets import resolve_output_indices, select_output
from tf_tsexplain._validation import as_float_array, check_positive_int, check_seed
from tf_tsexplain.tables import to_frame

METHODS = ("integrated_gradients", "expected_gradients", "saliency")
EXPLAIN_OUTPUTS = (
    "predictions",
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "attributions",
    "approximation_error",
)


class SignatureModel:
    """One signature of a loaded SavedModel as a function of one float batch.

    Explainers call it like a model: ``model(batch) -> outputs``. The batch is cast
    to the signature's dtype inside the call (gradients flow through the cast), and
    any other inputs of the signature are fed the constant values of
    ``fixed_inputs``, repeated along the batch.

    Attributes:
        path: the SavedModel directory.
        signature_name, input_name, output_name: what is called.
        input_shape: the input's shape without the batch axis (``None`` where the
            signature accepts any size).
        input_dtype: the input's ``tf.DType``.
    """

    def __init__(self, loaded, path, signature_name, input_name, output_name, fixed_inputs):
        self._loaded = loaded  # keeps the variables of the signature alive
        self._fn = loaded.signatures[signature_name]
        self.path = str(path)
        self.signature_name = signature_name
        self.input_name = input_name
        self.output_name = output_name
        spec = self._fn.structured_input_signature[1][input_name]
        self.input_shape = tuple(spec.shape[1:].as_list())
        self.input_dtype = spec.dtype
        self._fixed = {k: tf.constant(v[None]) for k, v in fixed_inputs.items()}
        # A loaded function differentiated once eagerly cannot be differentiated in a
        # graph afterwards, nor the reverse ("variable without handle data", seen on
        # LSTMs, TF 2.21). Explainers differentiate in graphs, so eager calls go
        # through a tf.function too: the signature is then only ever differentiated
        # inside graphs.
        self._graph_call = tf.function(self._call, autograph=False, reduce_retracing=True)

    def __call__(self, batch):
        if tf.executing_eagerly():
            return self._graph_call(tf.convert_to_tensor(batch))
        return self._call(batch)

    def _call(self, batch):
        batch = tf.convert_to_tensor(batch)
        feed = {self.input_name: tf.cast(batch, self.input_dtype)}
        rows = tf.shape(batch)[0]
        for name, value in self._fixed.items():
            feed[name] = tf.repeat(value, rows, axis=0)
        return self._fn(**feed)[self.output_name]

    def __repr__(self) -> str:
        return (
            f"SignatureModel({self.path!r}, signature={self.signature_name!r}, "
            f"input={self.input_name!r} {self.input_shape}, output={self.output_name!r})"
        )


def load_model(
    path,
    signature: str = "serving_default",
    input_name: str | None = None,
    output_name: str | None = None,
    fixed_inputs: Mapping[str, np.ndarray] | None = None,
    safe_mode: bool = True,
):
    """Load a model artifact so that any explainer of the toolkit can explain it.

    Args:
        path: a SavedModel directory (``saved_model.pb`` inside; loaded with
            ``tf.saved_model.load``) or a ``.keras`` file.
        signature: SavedModel signature to explain (default ``serving_default``).
        input_name: the signature input holding the ``(batch, T, F)`` sequences;
            needed only when the signature has several inputs.
        output_name: the signature output to explain; needed only when it has
            several outputs.
        fixed_inputs: values for the signature's other inputs, one row each
            (without the batch axis), repeated for every row the explainer sends.
        safe_mode: load ``.keras`` files with Keras' safe mode, which refuses
            ``Lambda`` layers holding Python code. Pass False only for files you
            trust: loading then runs code from the file.

    Returns:
        A ``keras.Model`` for ``.keras`` files; a :class:`SignatureModel` (a callable
        on float batches) for SavedModels.

    Raises:
        ValueError: the path is neither; the signature, input or output does not
            exist (the message lists those available); a ``.keras`` file needs
            unsafe deserialisation while ``safe_mode`` is on.
    """
    p = Path(path)
    if p.is_file() and p.suffix == ".keras":
        try:
            return keras.saving.load_model(p, safe_mode=safe_mode)
        except Exception as err:
            if "safe_mode" in str(err) or "unsafe" in str(err):
                raise ValueError(
                    f"{p} holds Python code (e.g. a Lambda layer) that safe mode refuses "
                    "to load; loading it runs that code. If you trust the file, pass "
                    "safe_mode=False (command line: --unsafe)."
                ) from None
            raise ValueError(
                f"cannot load {p} as a .keras file ({type(err).__name__}: {err})"
            ) from None
    if not (p.is_dir() and (p / "saved_model.pb").is_file()):
        what = "does not exist" if not p.exists() else "is neither"
        raise ValueError(
            f"MODEL path {str(p)!r} {what} a SavedModel directory (with saved_model.pb) "
            "nor a .keras file."
        )
    loaded = tf.saved_model.load(str(p))
    available = sorted(loaded.signatures.keys())
    if signature not in loaded.signatures:
        raise ValueError(
            f"signature {signature!r} not found in {p}; available signatures: "
            f"{', '.join(available) or '(none)'}."
        )
    fn = loaded.signatures[signature]
    inputs = fn.structured_input_signature[1]
    outputs = fn.structured_outputs
    input_name = _choose(input_name, sorted(inputs), "input", signature)
    output_name = _choose(output_name, sorted(outputs), "output", signature)
    fixed = dict(fixed_inputs or {})
    missing = sorted(set(inputs) - {input_name} - set(fixed))
    if missing:
        raise ValueError(
            f"signature {signature!r} also needs input(s) {', '.join(missing)}: pass their "
            "values (one row each) as fixed_inputs."
        )
    unknown = sorted(set(fixed) - set(inputs))
    if unknown:
        raise ValueError(
            f"fixed_inputs names {', '.join(unknown)} are not inputs of signature "
            f"{signature!r}; its inputs: {', '.join(sorted(inputs))}."
        )
    fixed = {k: np.asarray(v, inputs[k].dtype.as_numpy_dtype) for k, v in fixed.items()}
    if not inputs[input_name].dtype.is_floating:
        raise ValueError(
            f"signature input {input_name!r} has dtype {inputs[input_name].dtype.name}; "
            "gradient explanations need a float input (for token ids, explain the "
            "embedded sequence with EmbeddingExplainerTF)."
        )
    return SignatureModel(loaded, p, signature, input_name, output_name, fixed)


def _choose(name, available, kind, signature):
    if name is None:
        if len(available) != 1:
            raise ValueError(
                f"signature {signature!r} has {len(available)} {kind}s "
                f"({', '.join(available)}); choose one with {kind}_name."
            )
        return available[0]
    if name not in available:
        raise ValueError(
            f"{kind} {name!r} not found in signature {signature!r}; available "
            f"{kind}s: {', '.join(available)}."
        )
    return name


def model_input_shape(model) -> tuple | None:
    """The model's input shape without the batch axis, or None if it is not known."""
    if isinstance(model, SignatureModel):
        return model.input_shape
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if inputs and len(inputs) == 1:
        return tuple(inputs[0].shape[1:])
    return None


def check_model_inputs(model, inputs, allow_nonfinite: bool = False) -> np.ndarray:
    """Check ``inputs`` against the model's input shape; return them as float32.

    Args:
        model: a model from :func:`load_model`, a Keras model or a callable.
        inputs: ``(N, T, F)`` real numbers.

    Raises:
        TypeError: values that are not real numbers (strings, booleans, objects).
        ValueError: a shape the model does not accept (the message gives the
            expected shape), NaN or Inf unless ``allow_nonfinite``.
    """
    array = np.asarray(inputs)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            f"`inputs` must hold real numbers, got dtype {array.dtype}; the model expects "
            "float32 values."
        )
    x = as_float_array(
        array.astype(np.float32), "inputs", min_rank=1, allow_nonfinite=allow_nonfinite
    )
    expected = model_input_shape(model)
    if expected is not None:
        ok = x.ndim == len(expected) + 1 and all(
            e is None or e == g for e, g in zip(expected, x.shape[1:], strict=False)
        )
        if not ok:
            shown = ", ".join("None" if e is None else str(e) for e in (None, *expected))
            raise ValueError(
                f"`inputs` has shape {x.shape}; the model expects ({shown}) (batch first)."
            )
    if x.ndim != 3:
        raise ValueError(f"`inputs` must be sequences (N, T, F), got shape {x.shape}.")
    return x


# ---------------------------------------------------------------------- export
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
        output_indices: which output to explain, fixed at export: None for a
            single-output model, an int for outputs ``(N, C)``, a ``(time, class)``
            tuple for ``(N, T, C)``, or ``"predicted"`` for the arg-max class of
            outputs ``(N, C)`` per instance.
        batch_size: most rows sent to the model at once inside the signature;
            bounds the server's memory per request.
        input_shape: ``(T, F)`` when it cannot be read from the model.
        seed: seed of the expected-gradients draws.
        overwrite: replace an existing non-empty ``export_dir``.

    Returns:
        ``{"export_dir", "method", "input_shape", "output_shape", "signatures"}``.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}; got {method!r}.")
    num_samples = 1 if method == "saliency" else check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed) or 0
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
    predicted = _check_predicted(output_indices, output_shape)
    if predicted:
        fixed_target = 0
    else:
        targets, leading = resolve_output_indices(output_indices, output_shape, 1)
        if leading:
            raise ValueError(
                f"The model has {int(np.prod(output_shape))} outputs per instance; choose "
                "the one to explain with `output_indices` (an int, a (time, class) tuple "
                "or 'predicted')."
            )
        fixed_target = int(targets[0, 0])

    checked = _check_baseline(method, baseline, shape)
    path_baselines, alphas, weights, mode = _path_points(method, checked, num_samples, seed)
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
        return _explain_graph(
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
        return model._loaded
    if isinstance(model, keras.Model | tf.Module):
        return model
    raise TypeError(
        "`model` must be a Keras model, a model from tf_tsexplain.serving.load_model, or "
        f"a tf.Module (so that its variables are saved); got {type(model).__name__}."
    )


def _export_input_shape(model, input_shape) -> tuple[int, int]:
    shape = tuple(input_shape) if input_shape is not None else model_input_shape(model)
    if shape is None:
        raise ValueError("The input shape cannot be read from the model; pass input_shape=(T, F).")
    if len(shape) != 2 or any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
        raise ValueError(
            f"The explain signature needs sequences of fixed shape (T, F); the model "
            f"input is (None, {', '.join(map(str, shape))}). Pass input_shape=(T, F)."
        )
    return int(shape[0]), int(shape[1])


def _check_baseline(method, baseline, shape) -> np.ndarray:
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


def _path_points(method, b, num_samples, seed):
    """Baselines ``(K, T, F)``, positions ``(K,)`` and weights ``(K,)`` of the path,
    from a baseline checked by :func:`_check_baseline`."""
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


def _check_predicted(output_indices, output_shape) -> bool:
    """True for ``output_indices="predicted"`` on outputs ``(N, C)``; raise for other
    strings."""
    if not isinstance(output_indices, str):
        return False
    if output_indices != "predicted" or len(output_shape) != 1:
        raise ValueError(
            "`output_indices` given as a string must be 'predicted' (the arg-max class "
            f"of outputs (N, C)); the model outputs (N, {', '.join(map(str, output_shape))})."
        )
    return True


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


def _explain_graph(
    model_fn, x, baselines, alphas, weights, fixed_target, predicted, mode, bs, target=None
):
    """Attributions of a batch; rows = (instance, path point), ``bs`` rows at a time.

    A row's contribution is ``w_k * grad f(b_k + a_k (x - b_k)) * (x - b_k)`` on a
    path (integrated and expected gradients), ``grad f(x)`` for saliency; the rows of
    an instance are summed into its attributions.
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
    :func:`export_explainer` draws for the same ``seed``, shared by all inputs, so that
    every method gives the numbers the exported ``explain`` signature serves.

    Args:
        model: a model from :func:`load_model`, a Keras model or a callable.
        inputs: ``(N, T, F)``.
        method, baseline, num_samples, output_indices: as in :func:`export_explainer`
            (``baseline`` None means zeros; for expected gradients it is the
            reference set and required).
        batch_size: most rows sent to the model at once.
        seed: seed of the expected-gradients draws.
        verbose: show a progress bar.
        allow_nonfinite: accept NaN/Inf inputs.

    Returns:
        A dict with the ``explain`` signature's outputs as numpy arrays (see the
        module docstring): ``attributions`` ``(N, T, F)``, and ``(N,)`` arrays
        ``explained_index``, ``explained_prediction``, ``baseline_prediction``,
        ``approximation_error``; plus ``predictions`` ``(N, *out)``.
    """
    from tf_tsexplain.path import PathExplainerTF

    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}; got {method!r}.")
    x = check_model_inputs(model, inputs, allow_nonfinite=allow_nonfinite)
    batch_size = check_positive_int(batch_size, "batch_size")
    num_samples = check_positive_int(num_samples, "num_samples")
    b = _check_baseline(method, baseline, x.shape[1:])
    if method != "expected_gradients":
        b = b[None]  # (1, T, F)
    model_fn = as_model_fn(model)
    predictions = predict_in_chunks(model_fn, x, batch_size)
    flat = predictions.reshape(len(x), -1)
    if isinstance(output_indices, tuple) and len(output_indices) != predictions.ndim - 1:
        # (1, 0) for outputs (N, C) would otherwise read as one class per input when N = 2
        raise ValueError(
            f"`output_indices` {output_indices} has {len(output_indices)} entries, but the "
            f"model output has {predictions.ndim - 1} axis/axes per input (shape "
            f"{predictions.shape[1:]}): give one index per output axis."
        )
    if _check_predicted(output_indices, predictions.shape[1:]):
        output_indices = flat.argmax(axis=1)
    targets, leading = resolve_output_indices(output_indices, predictions.shape[1:], len(x))
    if leading:
        raise ValueError(
            f"The model has {flat.shape[1]} outputs per instance; choose the one to "
            "explain with `output_indices` (an int, a (time, class) tuple or 'predicted')."
        )
    target = targets[0]
    index_arg = None
    if output_indices is not None:  # one index tuple per input, as PathExplainerTF takes
        index_arg = np.stack(np.unravel_index(target, predictions.shape[1:]), axis=-1)
        index_arg = index_arg[:, 0] if index_arg.shape[1] == 1 else index_arg
    if method == "saliency":
        from tf_tsexplain.saliency import Saliency

        attributions = Saliency(model, allow_nonfinite=allow_nonfinite).attributions(
            x, output_indices=index_arg, batch_size=batch_size, verbose=verbose
        )
        base_out = np.asarray(model_fn(tf.constant(b))).reshape(1, -1)
        baseline_prediction = base_out[0, target]
        total = (attributions * (x - b)).reshape(len(x), -1).sum(axis=1)
    elif method == "expected_gradients":
        attributions, baseline_prediction = _expected_gradients_as_exported(
            model_fn, x, b, target, num_samples, batch_size, seed, verbose
        )
        total = attributions.reshape(len(x), -1).sum(axis=1)
    else:
        explainer = PathExplainerTF(model, allow_nonfinite=allow_nonfinite)
        attributions = explainer.attributions(
            x,
            b,
            batch_size=batch_size,
            num_samples=num_samples,
            use_expectation=method == "expected_gradients",
            output_indices=index_arg,
            verbose=verbose,
            seed=seed,
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
    from tf_tsexplain._batching import Progress, chunks

    shape = x.shape[1:]
    path_b, alphas, weights, mode = _path_points(
        "expected_gradients", refs, num_samples, check_seed(seed) or 0
    )
    constants = [tf.constant(v) for v in (path_b, alphas, weights)]

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def run(rows, row_targets):
        return _explain_graph(
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


# ---------------------------------------------------------------------- responses
def parse_explain_response(response, feature_names=None, time_index=None) -> pd.DataFrame:
    """Tidy table from a TF Serving response of the ``explain`` signature.

    Args:
        response: the JSON body (str, bytes or the parsed dict) of a ``predict``
            request with ``signature_name="explain"``: row format
            ``{"predictions": [{"attributions": ..., ...}, ...]}`` (request with
            ``instances``) or columnar ``{"outputs": {"attributions": ..., ...}}``
            (request with ``inputs``).
        feature_names: F names (default ``f0, f1, ...``).
        time_index: T labels (default ``0..T-1``).

    Returns:
        The table of :func:`tf_tsexplain.tables.to_frame` (columns ``sample, time,
        feature, attribution``, N * T * F rows) with the per-instance columns
        ``explained_index, explained_prediction, baseline_prediction,
        approximation_error`` repeated on each of the instance's rows.
    """
    if isinstance(response, bytes | bytearray):
        response = response.decode("utf-8")
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except json.JSONDecodeError as err:
            raise ValueError(f"`response` is not valid JSON: {err}") from None
    if not isinstance(response, Mapping):
        raise ValueError("`response` must be a JSON object with 'predictions' or 'outputs'.")
    if "error" in response:
        raise ValueError(f"The server returned an error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], Mapping):
            raise ValueError(
                "`response['predictions']` must be a non-empty list of objects, one per "
                "instance, as TF Serving returns for the explain signature."
            )
        columns = {key: [row.get(key) for row in rows] for key in rows[0]}
    elif "outputs" in response and isinstance(response["outputs"], Mapping):
        columns = dict(response["outputs"])
    else:
        raise ValueError("`response` has neither 'predictions' nor 'outputs'.")
    if "attributions" not in columns:
        raise ValueError(
            f"The response has no 'attributions' (outputs: {', '.join(sorted(columns))}); "
            "was the request sent with signature_name='explain'?"
        )
    attributions = np.asarray(columns["attributions"], dtype=np.float32)
    if attributions.ndim != 3:
        raise ValueError(
            f"'attributions' must be (N, T, F) sequences, got shape {attributions.shape}."
        )
    frame = to_frame(attributions, feature_names=feature_names, time_index=time_index)
    n, t, f = attributions.shape
    for key in ("explained_index", "explained_prediction", "baseline_prediction"):
        if key in columns:
            frame[key] = np.repeat(np.asarray(columns[key]), t * f)
    if "approximation_error" in columns:
        frame["approximation_error"] = np.repeat(
            np.asarray(columns["approximation_error"], np.float64), t * f
        )
    return frame


def saved_model_info(export_dir) -> dict:
    """The export settings stored next to a SavedModel by :func:`export_explainer`."""
    path = Path(export_dir) / "assets.extra" / "tf_tsexplain.json"
    if not path.is_file():
        raise ValueError(f"{export_dir} was not written by export_explainer (no {path.name}).")
    return json.loads(path.read_text())


__all__ = [
    "EXPLAIN_OUTPUTS",
    "METHODS",
    "SignatureModel",
    "check_model_inputs",
    "explain_instances",
    "export_explainer",
    "load_model",
    "model_input_shape",
    "parse_explain_response",
    "saved_model_info",
]
