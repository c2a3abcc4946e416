"""Loading model artifacts: SavedModel signatures and ``.keras`` files as explainable models.

``.keras`` files are loaded with Keras' safe mode on: a file is code, and safe mode
refuses to deserialise arbitrary Python (``Lambda`` layers) unless the caller says
``safe_mode=False``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._structure import model_input_names
from tf_tsexplain._validation import as_float_array, check_bool
from tf_tsexplain.serving._common import check_input_names


class SignatureModel:
    """One signature of a loaded SavedModel as a function of one float batch, or of a
    dict of batches by input name.

    Explainers call it like a model: ``model(batch) -> outputs``. With one explained
    input (``input_name``) the batch is one tensor; with several (a signature with
    several inputs loaded without ``input_name``) it is a dict of tensors by input
    name, as explainers pass the inputs of a multi-input model. Batches are cast to
    the signature's dtypes inside the call (gradients flow through the cast), and any
    other inputs of the signature are fed the constant values of ``fixed_inputs``,
    repeated along the batch.

    Attributes:
        path: the SavedModel directory.
        signature_name: the signature called.
        output_name: the signature output returned.
        input_names: the explained inputs, in the signature's (sorted) order.
        input_name: with one explained input, its name; None with several.
        input_shape: with one explained input, its shape without the batch axis
            (``None`` where the signature accepts any size); None with several.
        input_dtype: with one explained input, its ``tf.DType``; None with several.
        input_shapes: shape without the batch axis per explained input name.
    """

    def __init__(self, loaded, path, signature_name, input_name, output_name, fixed_inputs):
        self._loaded = loaded  # keeps the variables of the signature alive
        self._fn = loaded.signatures[signature_name]
        self.path = str(path)
        self.signature_name = signature_name
        self.output_name = output_name
        specs = self._fn.structured_input_signature[1]
        names = [input_name] if isinstance(input_name, str) else list(input_name)
        self.input_names = tuple(names)
        self.input_shapes = {k: tuple(specs[k].shape[1:].as_list()) for k in names}
        self._dtypes = {k: specs[k].dtype for k in names}
        single = len(names) == 1 and isinstance(input_name, str)
        self.input_name = names[0] if single else None
        self.input_shape = self.input_shapes[names[0]] if single else None
        self.input_dtype = self._dtypes[names[0]] if single else None
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
        """The signature's output ``output_name`` for a batch.

        Args:
            batch: float ``(rows, *input_shape)`` (a tensor or array); a dict of such
                batches by input name with several explained inputs.

        Returns:
            The output tensor ``(rows, *output_shape)``.

        Raises:
            TypeError: a batch that is not a dict when the signature takes several
                inputs by name.
            ValueError: a dict whose input names the signature does not take.
        """
        batch = self._feed(batch)
        if tf.executing_eagerly():
            return self._graph_call(batch)
        return self._call(batch)

    def _feed(self, batch) -> dict:
        """``batch`` as tensors by input name, checked against the explained inputs."""
        if self.input_name is not None:
            return {self.input_name: tf.convert_to_tensor(batch)}
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"Signature {self.signature_name!r} takes the inputs {list(self.input_names)} "
                f"by name: call it with a dict of arrays. Received: {type(batch).__name__}."
            )
        check_input_names(batch, self.input_names, f"A call of {self.signature_name!r}")
        return {k: tf.convert_to_tensor(batch[k]) for k in self.input_names}

    def _call(self, batch: dict):
        feed = {k: tf.cast(v, self._dtypes[k]) for k, v in batch.items()}
        rows = tf.shape(next(iter(feed.values())))[0]
        for name, value in self._fixed.items():
            feed[name] = tf.repeat(value, rows, axis=0)
        return self._fn(**feed)[self.output_name]

    def __repr__(self) -> str:
        inputs = ", ".join(f"{k!r} {v}" for k, v in self.input_shapes.items())
        return (
            f"SignatureModel({self.path!r}, signature={self.signature_name!r}, "
            f"input{'s' if self.input_name is None else ''}={inputs}, "
            f"output={self.output_name!r})"
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
        input_name: the signature input holding the ``(batch, T, F)`` sequences to
            explain, the others being ``fixed_inputs``. Without it, a signature with
            several inputs (not in ``fixed_inputs``) is explained over all of them:
            the model is then called with a dict of arrays by input name, and the
            explainers take and return such dicts.
        output_name: the signature output to explain; needed only when it has
            several outputs.
        fixed_inputs: values for the signature's other inputs, one row each
            (without the batch axis), repeated for every row the explainer sends.
        safe_mode: load ``.keras`` files with Keras' safe mode, which refuses
            ``Lambda`` layers holding Python code. Pass False only for files you
            trust: loading then runs code from the file.

    Returns:
        A ``keras.Model`` for ``.keras`` files; a :class:`SignatureModel` (a callable
        on float batches, or on dicts of them by input name) for SavedModels.

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
    output_name = _choose(output_name, sorted(outputs), "output", signature)
    fixed = dict(fixed_inputs or {})
    unknown = sorted(set(fixed) - set(inputs))
    if unknown:
        raise ValueError(
            f"fixed_inputs names {', '.join(unknown)} are not inputs of signature "
            f"{signature!r}; its inputs: {', '.join(sorted(inputs))}."
        )
    if input_name is None:
        explained = sorted(set(inputs) - set(fixed))
        if not explained:
            raise ValueError(
                f"fixed_inputs cover every input of signature {signature!r}; leave out "
                "the inputs to explain."
            )
        input_name = explained[0] if len(explained) == 1 else _export_order(p, explained)
    else:
        input_name = _choose(input_name, sorted(inputs), "input", signature)
        missing = sorted(set(inputs) - {input_name} - set(fixed))
        if missing:
            raise ValueError(
                f"signature {signature!r} also needs input(s) {', '.join(missing)}: pass "
                "their values (one row each) as fixed_inputs, or leave out input_name to "
                "explain all inputs."
            )
    fixed = {k: np.asarray(v, inputs[k].dtype.as_numpy_dtype) for k, v in fixed.items()}
    for name in [input_name] if isinstance(input_name, str) else input_name:
        if not inputs[name].dtype.is_floating:
            raise ValueError(
                f"signature input {name!r} has dtype {inputs[name].dtype.name}; gradient "
                "explanations need a float input (for token ids, explain the embedded "
                "sequence with EmbeddingExplainerTF; other inputs can be fixed_inputs)."
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


def _export_order(path: Path, names: list[str]) -> list[str]:
    """``names`` in the model's input order when ``export_explainer`` recorded it."""
    info = path / "assets.extra" / "tf_tsexplain.json"
    try:
        order = json.loads(info.read_text()).get("input_names") or []
    except (OSError, ValueError):
        return names
    return list(order) if sorted(order) == sorted(names) else names


def model_input_shape(model) -> tuple | None:
    """The model's input shape without the batch axis.

    Args:
        model: a :class:`SignatureModel`, a Keras model or a callable.

    Returns:
        The shape, e.g. ``(T, F)``; None if it is not known (a callable) or the model
        has several inputs (see :func:`model_inputs`).
    """
    if isinstance(model, SignatureModel):
        return model.input_shape
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if inputs and len(inputs) == 1:
        return tuple(inputs[0].shape[1:])
    return None


def model_inputs(model) -> dict[str, tuple] | None:
    """A multi-input model's inputs.

    Args:
        model: a :class:`SignatureModel`, a Keras model or a callable.

    Returns:
        The shape without the batch axis by input name, in the order the model takes
        them (a Keras model's input layers, a signature's inputs); None for a model
        with one input or a callable.
    """
    if isinstance(model, SignatureModel):
        return None if model.input_name is not None else dict(model.input_shapes)
    names = model_input_names(model)
    if names is None:
        return None
    return {name: tuple(tensor.shape[1:]) for name, tensor in zip(names, model.inputs, strict=True)}


def check_model_inputs(model, inputs, allow_nonfinite: bool = False):
    """Check ``inputs`` against the model's input shape(s); return them as float32.

    Args:
        model: a model from :func:`load_model`, a Keras model or a callable.
        inputs: ``(N, T, F)`` real numbers; for a multi-input model (see
            :func:`model_inputs`) a dict of arrays by input name (or, for a Keras
            model, a list in its input order), each ``(N, *shape)``.
        allow_nonfinite: accept NaN and Inf values.

    Returns:
        A float32 array ``(N, T, F)``; for a multi-input model a dict of float32
        arrays by input name, in the model's input order.

    Raises:
        TypeError: values that are not real numbers (strings, booleans, objects);
            integers are accepted and converted. A multi-input model's inputs that
            are not a dict (or list).
        ValueError: a shape the model does not accept (the message gives the
            expected shape), NaN or Inf unless ``allow_nonfinite``; input names
            that are not the model's, or inputs with different numbers of rows.
    """
    allow_nonfinite = check_bool(allow_nonfinite, "allow_nonfinite")
    expected_inputs = model_inputs(model)
    if expected_inputs is None:
        x = _check_one(inputs, model_input_shape(model), "inputs", allow_nonfinite)
        if x.ndim != 3:
            raise ValueError(f"`inputs` must be sequences (N, T, F), got shape {x.shape}.")
        return x
    names = list(expected_inputs)
    if isinstance(inputs, list | tuple) and isinstance(model, keras.Model):
        if len(inputs) != len(names):
            raise ValueError(
                f"The model takes {len(names)} inputs {names}; `inputs` holds {len(inputs)} arrays."
            )
        inputs = dict(zip(names, inputs, strict=True))
    if not isinstance(inputs, Mapping):
        raise TypeError(
            f"The model takes the inputs {names}: pass `inputs` as a dict of arrays by "
            f"input name. Received: {type(inputs).__name__}."
        )
    check_input_names(inputs, names, "`inputs`")
    checked = {
        k: _check_one(inputs[k], expected_inputs[k], f"inputs[{k!r}]", allow_nonfinite)
        for k in names
    }
    rows = {k: len(v) for k, v in checked.items()}
    if len(set(rows.values())) > 1:
        raise ValueError(f"The arrays of `inputs` have different numbers of rows: {rows}.")
    return checked


def _check_one(inputs, expected, name: str, allow_nonfinite: bool) -> np.ndarray:
    """One input ``(N, *expected)`` as float32 (any rank >= 2 when ``expected`` is
    unknown)."""
    x = as_float_array(
        _integers_as_floats(inputs),
        name,
        min_rank=1,
        allow_nonfinite=allow_nonfinite,
        dtype=np.float32,
    )
    if expected is not None:
        ok = x.ndim == len(expected) + 1 and all(
            e is None or e == g for e, g in zip(expected, x.shape[1:], strict=False)
        )
        if not ok:
            shown = ", ".join("None" if e is None else str(e) for e in (None, *expected))
            raise ValueError(
                f"`{name}` has shape {x.shape}; the model expects ({shown}) (batch first)."
            )
    elif x.ndim < 2:
        raise ValueError(f"`{name}` must have a batch axis (N, ...), got shape {x.shape}.")
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
