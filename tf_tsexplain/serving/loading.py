"""Loading model artifacts: SavedModel signatures and ``.keras`` files as explainable models.

``.keras`` files are loaded with Keras' safe mode on: a file is code, and safe mode
refuses to deserialise arbitrary Python (``Lambda`` layers) unless the caller says
``safe_mode=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._validation import as_float_array, check_bool


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

    @property
    def loaded(self):
        """The object ``tf.saved_model.load`` returned; it holds the variables."""
        return self._loaded

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
    safe_mode = check_bool(safe_mode, "safe_mode")
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
        allow_nonfinite: accept NaN and Inf values.

    Raises:
        TypeError: values that are not real numbers (strings, booleans, objects);
            integers are accepted and converted.
        ValueError: a shape the model does not accept (the message gives the
            expected shape), NaN or Inf unless ``allow_nonfinite``.
    """
    allow_nonfinite = check_bool(allow_nonfinite, "allow_nonfinite")
    x = as_float_array(
        _integers_as_floats(inputs),
        "inputs",
        min_rank=1,
        allow_nonfinite=allow_nonfinite,
        dtype=np.float32,
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


def _integers_as_floats(inputs):
    """Integer arrays as float32 (the model's dtype); anything else unchanged, for
    ``as_float_array`` to check."""
    if isinstance(inputs, tf.Tensor | tf.Variable):
        inputs = inputs.numpy()
    try:
        array = np.asarray(inputs)
    except Exception:  # ragged lists and the like: as_float_array reports them
        return inputs
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32)
    return array
