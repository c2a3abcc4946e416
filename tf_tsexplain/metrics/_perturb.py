"""Perturbed copies of inputs, scored by the model: the engine of the model-based metrics.

Every metric that perturbs inputs and watches the explained output (deletion and
insertion curves, accuracy drop, comprehensiveness, sufficiency, CPD/CPP,
infidelity) shares what is here:

- :func:`model_rows`: the model as a function of flat rows and the inputs, maps and
  baseline as arrays; a multi-input model's inputs are flattened per row into ``(N,
  D)`` so that the cells of all inputs are ranked together.
- :func:`cell_ranks` and :func:`top_cells`: the cell rule. Cells are ordered by a
  key (``|saliency|``, signed saliency, or ``|saliency|`` ascending), ties by flat
  index; padded cells rank after every real cell; a fraction p selects the first
  ``round(p * n)`` cells, n being the input's real cells.
- :class:`Scorer`: copies described by ``(owner, k)`` pairs (input ``owner`` with its
  first ``k`` ranked cells removed, or only those kept) or built by any function of a
  range of copies, made chunk by chunk (memory bounded by the rows per call) and run
  through one traced ``tf.function`` per model and input signature (its batch axis is
  ``None``, so every chunk reuses the trace).
- :func:`one_target_per_input`: the explained output of each input.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, rows_per_call
from tf_tsexplain._model import as_model_fn, row_bytes
from tf_tsexplain._structure import is_structured, structure_of
from tf_tsexplain._targets import resolve_output_indices
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_bool,
    check_choice,
    check_verbose,
)

ORDERS = ("abs", "signed", "abs_ascending")


def model_rows(model, inputs, maps: dict, padding_mask):
    """``(model_fn, x, {name: map}, structure)`` on rows.

    For a multi-input model (``inputs`` a list or dict of arrays) every array is
    flattened per row into ``(N, D)`` in the model's input layout, with each of
    ``maps`` (saliency, replacement, baseline) in the inputs' structure (a number for
    the baseline), so cells of all inputs compete for removal; one array passes
    through (``structure`` is then None).
    """
    if not is_structured(inputs, model):
        x = as_float_array(inputs, "inputs", min_rank=2)
        return as_model_fn(model), x, maps, None
    if padding_mask is not None:
        raise ValueError(
            "`padding_mask` is for one array of sequences; for a multi-input model leave "
            "padded cells out by giving them zero saliency."
        )
    import keras

    structure = structure_of(inputs, model)
    parts = structure.parts(inputs, "inputs", allow_nonfinite=False, per_row=False)
    x = structure.flatten(parts).astype(np.float32)
    flat = {}
    for name, value in maps.items():
        if np.ndim(value) == 0 and not isinstance(value, dict | list | tuple):
            flat[name] = value  # a number: the same everywhere
            continue
        given = structure.parts(value, name, allow_nonfinite=False, per_row=False)
        given = [np.broadcast_to(g, p.shape) for g, p in zip(given, parts, strict=True)]
        flat[name] = structure.flatten(given)
    fn = structure.model_fn(as_model_fn(model), as_list=isinstance(model, keras.Model))
    return fn, x, flat, structure


def one_target_per_input(output_indices, outputs: np.ndarray, metric: str) -> np.ndarray:
    """The flat output index scored for each input (``(N,)``), ``output_indices``
    having the package's meaning; None on a model with several outputs is refused."""
    targets, leading = resolve_output_indices(
        output_indices, outputs.shape[1:], len(outputs), predict=lambda: outputs
    )
    if leading:
        raise ValueError(multi_output_message(metric, leading))
    return targets[0]


def multi_output_message(metric: str, leading) -> str:
    return (
        f"`{metric}` scores one output per input, but the model has "
        f"{int(np.prod(leading))} outputs per input (output shape (N, "
        f"{', '.join(map(str, leading))})): pass output_indices (an int, one per "
        "input, a (time, class) tuple) or 'predicted'. Received: output_indices=None."
    )


def check_static_outputs(model, output_indices, metric: str) -> None:
    """Refuse ``output_indices=None`` on a Keras model with several outputs per input,
    read from its static output shape, before any model call (callables are checked on
    their first outputs)."""
    if output_indices is not None:
        return
    shape = getattr(model, "output_shape", None)
    if not isinstance(shape, tuple) or not all(isinstance(d, int | None) for d in shape):
        return
    per_row = tuple(shape[1:])
    if None not in per_row and int(np.prod(per_row)) > 1:
        raise ValueError(multi_output_message(metric, per_row))


def baseline_rows(baseline, x: np.ndarray) -> np.ndarray:
    """``baseline`` (a number, one input, or one per input) broadcast to ``x``'s
    shape, as a read-only view."""
    base = as_float_array(baseline, "baseline", min_rank=0, dtype=x.dtype)
    try:
        return np.broadcast_to(base, x.shape)
    except ValueError:
        raise ValueError(
            f"`baseline` must broadcast to the inputs' shape {x.shape}. Received: "
            f"baseline of shape {base.shape}."
        ) from None


def cell_ranks(saliency: np.ndarray, real: np.ndarray | None, order: str = "abs"):
    """Each cell's position in its input's removal order, and the real cells per input.

    Args:
        saliency: ``(N, ...)`` maps.
        real: ``(N, D)`` booleans, True on real cells, or None (all real).
        order: ``"abs"`` (largest ``|saliency|`` first), ``"signed"`` (largest
            saliency first: the evidence for the output) or ``"abs_ascending"``
            (smallest ``|saliency|`` first). Ties: lower flat index first.

    Returns:
        ``(rank, n_real)``: ``rank`` int32 ``(N, D)`` (0 = first removed; padded
        cells rank after every real cell), ``n_real`` int ``(N,)``.
    """
    flat = saliency.reshape(len(saliency), -1).astype(np.float64)
    if order == "abs":
        key = -np.abs(flat)
    elif order == "signed":
        key = -flat
    elif order == "abs_ascending":
        key = np.abs(flat)
    else:
        raise ValueError(f"`order` must be one of {ORDERS}. Received: order={order!r}.")
    if real is None:
        n_real = np.full(len(flat), flat.shape[1])
    else:
        key = np.where(real, key, np.inf)  # padded cells last
        n_real = real.sum(axis=1)
    ordering = np.argsort(key, axis=1, kind="stable")
    rank = np.empty(ordering.shape, np.int32)
    np.put_along_axis(rank, ordering, np.arange(flat.shape[1], dtype=np.int32)[None], axis=1)
    return rank, n_real


def cells_for_fractions(fractions, n_real: np.ndarray) -> np.ndarray:
    """``round(p * n)`` cells per fraction and input: int ``(P, N)``."""
    return np.round(np.asarray(fractions, float)[:, None] * n_real[None, :]).astype(np.int64)


def top_cells(saliency: np.ndarray, fractions, real=None, order: str = "abs") -> list[np.ndarray]:
    """Per fraction p, a boolean ``(N, D)`` mask of each input's first ``round(p * n)``
    cells in the removal ``order`` (see :func:`cell_ranks`)."""
    rank, n_real = cell_ranks(saliency, real, order)
    counts = cells_for_fractions(fractions, n_real)
    return [rank < k[:, None] for k in counts]


_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# XLA ("auto"): for calls of at least this many copies; rows padded to power-of-two
# buckets of at least MIN_BUCKET rows, so that XLA compiles one or two shapes per call.
XLA_MIN_COPIES = 4096
MIN_BUCKET = 256


def check_jit_compile(jit_compile):
    """True, False or "auto"."""
    if isinstance(jit_compile, str):
        return check_choice(jit_compile, "jit_compile", ("auto",))
    return check_bool(jit_compile, "jit_compile")


def _traces_of(model) -> dict:
    """The traced functions kept with ``model`` (a weak reference) so that several
    metrics on one model share them; a fresh dict for objects without weak references."""
    try:
        return _TRACES.setdefault(model, {})
    except TypeError:
        return {}


def _traced_outputs(traces: dict, model_fn, key: tuple, xla: bool):
    """One ``tf.function`` ``rows -> (rows, n_outputs)`` per model, input signature and
    XLA flag (the batch axis of its signature is None: one trace)."""
    if (key, xla) not in traces:
        spec = tf.TensorSpec((None, *key[0]), tf.as_dtype(key[1]))
        traces[(key, xla)] = tf.function(
            _FlatOutputs(model_fn), input_signature=[spec], jit_compile=xla
        )
    return traces[(key, xla)]


class _FlatOutputs:
    """``rows -> outputs (rows, n_outputs)``. A callable object, not a closure:
    TensorFlow counts the traces of closures by their code, so that one trace per
    model for many models would read as retracing and warn."""

    def __init__(self, model_fn):
        self.model_fn = model_fn

    def __call__(self, batch):
        out = tf.convert_to_tensor(self.model_fn(batch))
        return tf.reshape(out, tf.stack([tf.shape(batch)[0], -1]))


class Scorer:
    """Perturbed copies of rows ``x`` through the model, chunk by chunk.

    Args:
        model: the user's model (the trace is cached on it).
        model_fn: the model as a function of rows (see :func:`model_rows`).
        x: ``(N, *x_shape)`` checked rows (flat ``(N, D)`` for several inputs).
        batch_size: most rows per model call; None: from the memory budget.
        structure: the inputs' structure (part of the trace's key), or None.
        verbose: a progress bar over the copies.
    """

    def __init__(
        self, model, model_fn, x, batch_size=None, structure=None, verbose=False, jit_compile="auto"
    ):
        batch_size = check_batch_size(batch_size)
        self.verbose = check_verbose(verbose)
        self.jit_compile = check_jit_compile(jit_compile)
        self.x = x
        self.flat = x.reshape(len(x), -1)
        self.rows = rows_per_call(batch_size, row_bytes(model, x.shape[1:], x.dtype.itemsize, 0))
        key = None if structure is None else structure.key
        self._traces = _traces_of(model)
        self._key = (x.shape[1:], np.dtype(x.dtype).name, key)
        self._fn = _traced_outputs(self._traces, model_fn, self._key, xla=False)
        self._model_fn = model_fn

    def outputs(self, rows: np.ndarray) -> np.ndarray:
        """Flattened model outputs ``(R, n_outputs)`` of rows ``(R, *x_shape)`` (the
        plain traced function, ``rows`` per call)."""
        parts = [
            self._fn(tf.constant(rows[a : a + self.rows])).numpy()
            for a in range(0, len(rows), self.rows)
        ]
        return np.concatenate(parts)

    def _use_xla(self, n_copies: int) -> bool:
        if self.jit_compile is True:
            return True
        failed = self._traces.get(("xla failed", self._key), False)
        return self.jit_compile == "auto" and n_copies >= XLA_MIN_COPIES and not failed

    def _xla_outputs(self, rows: np.ndarray, chunk: int) -> np.ndarray | None:
        """Outputs through the XLA-compiled function, rows padded to a power-of-two
        bucket (so that XLA compiles a few shapes); None if XLA cannot compile the
        model (``"auto"`` then falls back to the plain function for good)."""
        r = len(rows)
        size = min(chunk, max(MIN_BUCKET, 1 << max(r - 1, 1).bit_length()))
        padded = np.concatenate([rows, np.zeros((size - r, *rows.shape[1:]), rows.dtype)])
        fn = _traced_outputs(self._traces, self._model_fn, self._key, xla=True)
        try:
            return fn(tf.constant(padded)).numpy()[:r]
        except (tf.errors.OpError, NotImplementedError):
            if self.jit_compile is True:
                raise
            self._traces[("xla failed", self._key)] = True
            return None

    def score(
        self, n_copies: int, build: Callable[[int, int], np.ndarray], targets: np.ndarray
    ) -> np.ndarray:
        """The explained output of ``n_copies`` copies, ``(n_copies,)`` float64.

        ``build(start, stop)`` returns copies ``start`` to ``stop`` as flat rows
        ``(stop - start, D)``; ``targets`` is each copy's flat output index.
        """
        out = np.empty(n_copies, np.float64)
        progress = Progress(n_copies, self.verbose, unit="copies")
        shape = (-1, *self.x.shape[1:])
        xla = self._use_xla(n_copies)
        chunk = max(MIN_BUCKET, 1 << (self.rows.bit_length() - 1)) if xla else self.rows
        for a in range(0, n_copies, chunk):
            b = min(a + chunk, n_copies)
            rows = build(a, b).reshape(shape)
            values = self._xla_outputs(rows, chunk) if xla else None
            if values is None:
                xla = False
                values = self._fn(tf.constant(rows)).numpy()
            out[a:b] = values[np.arange(b - a), targets[a:b]]
            progress.advance(b - a)
        return out

    def masked(
        self,
        owner: np.ndarray,
        k: np.ndarray,
        rank: np.ndarray,
        base: np.ndarray,
        targets: np.ndarray,
        keep: bool = False,
        n_real: np.ndarray | None = None,
        source: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores of copies ``c``: input ``owner[c]`` with its cells of ``rank <
        k[c]`` set to the baseline (``keep=False``: deletion), or with only those
        kept and every other real cell (``rank < n_real``) set to it (``keep=True``).

        Args:
            owner: ``(C,)`` map row of each copy (the input's index, unless
                ``source`` maps map rows to inputs).
            k: ``(C,)`` cells removed (or kept) in each copy.
            rank: ``(M, D)`` removal order from :func:`cell_ranks`, per map row.
            base: ``(N, D)`` (a broadcast view is fine) baseline rows.
            targets: ``(N,)`` flat output index of each input.
            keep: see above.
            n_real: ``(M,)`` real cells per map row (needed with ``keep``).
            source: ``(M,)`` the input of each map row (several maps of one input,
                e.g. one per explainer); None: map row m is input m.

        Returns:
            ``(C,)`` float64.
        """

        inputs = owner if source is None else source[owner]

        def build(a, b):
            o, i = owner[a:b], inputs[a:b]
            r = rank[o]
            kk = k[a:b, None]
            replace = (r >= kk) & (r < n_real[o, None]) if keep else r < kk
            return np.where(replace, base[i], self.flat[i])

        return self.score(len(owner), build, targets[inputs])
