"""Faithfulness without ground truth: does a saliency map reflect what the model does?

Each metric perturbs the inputs the way the map says matters and watches the explained
output (or, for the sensitivity and randomisation checks, watches the map). They take
the arguments of :func:`~tf_tsexplain.metrics.deletion_insertion_curves`: ``(model,
inputs, saliency, baseline=0.0, *, output_indices="predicted", batch_size=None,
padding_mask=None, ...)`` and return one value per input, ``(N,)``:

- :func:`comprehensiveness` (higher is better) and :func:`sufficiency` (lower is
  better): the ERASER scores, as tint computes them, averaged over masking fractions.
- :func:`cumulative_prediction_difference` (CPD, higher is better) and
  :func:`cumulative_prediction_preservation` (CPP, lower is better): cells removed one
  at a time, most (least) important first, as TIMING (ICML 2025) defines them.
- :func:`infidelity` (Yeh et al. 2019, captum's unnormalised form; lower is better).
- :func:`max_sensitivity` (captum's ``sensitivity_max``; lower is better).
- :func:`randomization_check` (Adebayo et al. 2018): rank correlation of the maps of
  the trained model and of a copy with re-initialised weights (lower is better).
- :func:`compare_explainers`: every metric for several explainers and a random
  control, in one table.

The cell rule is the package's: a fraction p selects ``round(p * n)`` cells (n: the
input's real cells) in a stable order, ties by flat index; padded cells (from
``padding_mask``, ``(N, T)`` True on real steps) are never changed and never counted.
The inputs of a multi-input model are a list or dict of arrays, with the maps (and an
array baseline) in the same structure; the cells of all inputs are ranked together.

Speed: all perturbed copies of a call are built chunk by chunk (memory bounded by the
rows per call, from ``batch_size`` or the memory budget) and go through the model in
one traced ``tf.function`` whose batch axis is ``None``; several metrics on the same
model share that trace. Calls of at least 4,096 copies use XLA (``jit_compile="auto"``)
with rows padded to power-of-two buckets, so that it compiles one or two shapes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tf_tsexplain._structure import is_structured, structure_of
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_bool,
    check_choice,
    check_positive_int,
    check_real,
    check_seed,
    check_verbose,
)
from tf_tsexplain.metrics._numeric import average_ranks, real_cells
from tf_tsexplain.metrics._perturb import (
    Scorer,
    baseline_rows,
    cell_ranks,
    cells_for_fractions,
    check_jit_compile,
    check_static_outputs,
    model_rows,
    one_target_per_input,
)
from tf_tsexplain.metrics.tsr_benchmark import curves_from_scorer

DEFAULT_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)

# metric name -> "higher" or "lower": the direction in which a map is more faithful
METRIC_DIRECTIONS = {
    "deletion_auc": "lower",
    "insertion_auc": "higher",
    "comprehensiveness": "higher",
    "sufficiency": "lower",
    "cpd": "higher",
    "cpp": "lower",
    "infidelity": "lower",
    "max_sensitivity": "lower",
}
DEFAULT_METRICS = (
    "deletion_auc",
    "insertion_auc",
    "comprehensiveness",
    "sufficiency",
    "cpd",
    "infidelity",
)


# ---------------------------------------------------------------------------- checks
class _Problem:
    """One call's checked arrays: the scorer, inputs as flat rows ``(N, D)``, their
    real cells, baseline rows, the explained output and its value ``f(x)`` per input."""

    def __init__(self, scorer, real, base, targets, fx, structure, shape):
        self.scorer = scorer
        self.real = real  # (N, D) bool or None
        self.base = base  # (N, D), possibly a broadcast view
        self.targets = targets  # (N,) flat output indices
        self.fx = fx  # (N,) float64
        self.structure = structure
        self.shape = shape  # the rows' shape (N, *x_shape)

    @property
    def n(self) -> int:
        return len(self.targets)


def _check_fractions(fractions) -> np.ndarray:
    if isinstance(fractions, str) or not isinstance(fractions, Sequence | np.ndarray):
        raise TypeError(
            "`fractions` must be a sequence of numbers in (0, 1]. Received: "
            f"fractions={fractions!r} ({type(fractions).__name__})."
        )
    fr = np.asarray(fractions)
    if fr.ndim != 1 or fr.size == 0 or not np.issubdtype(fr.dtype, np.number):
        raise TypeError(
            "`fractions` must be a non-empty 1-D sequence of numbers. Received: "
            f"fractions={fractions!r}."
        )
    fr = fr.astype(float)
    if not np.all(np.isfinite(fr)) or np.any((fr <= 0) | (fr > 1)):
        raise ValueError(
            f"`fractions` must be values in (0, 1]. Received: fractions={fr.tolist()}."
        )
    return fr


def _problem(
    model,
    inputs,
    baseline,
    output_indices,
    batch_size,
    padding_mask,
    verbose,
    metric,
    jit_compile="auto",
):
    """Checked ``(x, real, base, structure, start)`` without any model call; ``start()``
    then makes the scorer, runs the unperturbed inputs (the first model call) and
    returns the :class:`_Problem`."""
    check_batch_size(batch_size)
    check_verbose(verbose)
    check_jit_compile(jit_compile)
    model_fn, x, maps, structure = model_rows(model, inputs, {"baseline": baseline}, padding_mask)
    real = real_cells(padding_mask, x.shape)
    base = baseline_rows(maps["baseline"], x).reshape(len(x), -1)
    check_static_outputs(model, output_indices, metric)

    def start() -> _Problem:
        scorer = Scorer(model, model_fn, x, batch_size, structure, verbose, jit_compile)
        outputs = scorer.outputs(x)
        targets = one_target_per_input(output_indices, outputs, metric)
        fx = outputs[np.arange(len(x)), targets].astype(np.float64)
        return _Problem(scorer, real, base, targets, fx, structure, x.shape)

    return x, real, base, structure, start


def _checked_saliency(saliency, x, real, structure, name: str = "saliency") -> np.ndarray:
    """``saliency`` in the inputs' structure as flat rows ``(N, D)`` float64."""
    if structure is None:
        s = as_float_array(saliency, name, min_rank=2)
        if s.shape != x.shape:
            raise ValueError(
                f"`{name}` must have the inputs' shape {x.shape}. Received: {name} of shape "
                f"{s.shape}."
            )
        return s.reshape(len(s), -1).astype(np.float64)
    parts = structure.parts(saliency, name, allow_nonfinite=False, per_row=False)
    for part, shape, label in zip(parts, structure.shapes, structure.names, strict=True):
        if part.shape != (len(x), *shape):
            raise ValueError(
                f"`{name}[{label!r}]` must have the shape of its input {(len(x), *shape)}. "
                f"Received: shape {part.shape}."
            )
    return structure.flatten(parts).astype(np.float64)


# ---------------------------------------------------------------------------- cores
def _masked_differences(p: _Problem, sal, src, fractions, order, keep) -> np.ndarray:
    """Mean over fractions of ``f(x) - f(x perturbed)``, per map row ``(M,)``."""
    real = None if p.real is None else p.real[src]
    rank, n_real = cell_ranks(sal, real, order)
    m = len(sal)
    k = cells_for_fractions(fractions, n_real).ravel()
    owner = np.tile(np.arange(m), len(fractions))
    scores = p.scorer.masked(
        owner, k, rank, p.base, p.targets, keep=keep, n_real=n_real, source=src
    )
    return (p.fx[src][None, :] - scores.reshape(len(fractions), m)).mean(axis=0)


def _cumulative(p: _Problem, sal, src, steps: int, order: str) -> np.ndarray:
    """``sum_{k<K} |f(x_k) - f(x_{k+1})|`` with cells removed one at a time in ``order``."""
    real = None if p.real is None else p.real[src]
    rank, n_real = cell_ranks(sal, real, order)
    m = len(sal)
    counts = np.minimum(steps, n_real)  # K per map row
    owner = np.repeat(np.arange(m), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = np.arange(len(owner)) - np.repeat(starts, counts) + 1  # 1..K
    scores = p.scorer.masked(owner, k, rank, p.base, p.targets, source=src)
    previous = np.empty_like(scores)
    previous[1:] = scores[:-1]
    previous[starts[counts > 0]] = p.fx[src][counts > 0]
    return np.bincount(owner, np.abs(previous - scores), minlength=m)


def _noise_generators(seed, n: int):
    """A function ``(i0, i1, shape, draw) -> (i1 - i0, *shape)`` of draws that depend on
    the seed and the input's index only (not on chunking)."""
    entropy = np.random.SeedSequence(seed).entropy

    def block(i0, i1, shape, draw):
        return np.stack([draw(np.random.default_rng([entropy, i]), shape) for i in range(i0, i1)])

    return block


def _infidelity(p: _Problem, sal, src, noise_scale, n_perturbations, seed) -> np.ndarray:
    """Per map row, ``mean_j (I_j . s - (f(x) - f(x - I_j)))^2``; the noise of an input
    is shared by all its maps (one model pass per input, not per map)."""
    d = p.base.shape[1]
    dtype = p.scorer.flat.dtype
    noise = _noise_generators(seed, p.n)

    def draw(rng, shape):
        return rng.normal(0.0, noise_scale, size=shape)

    def noise_of(i0, i1):
        block = noise(i0, i1, (n_perturbations, d), draw).astype(dtype)
        if p.real is not None:
            block *= p.real[i0:i1, None, :]
        return block

    cache = {}

    def build(a, b):
        i0, i1 = a // n_perturbations, (b - 1) // n_perturbations + 1
        if cache.get("range") != (i0, i1):
            cache["range"], cache["noise"] = (i0, i1), noise_of(i0, i1)
        block = cache["noise"].reshape(-1, d)[a - i0 * n_perturbations : b - i0 * n_perturbations]
        owner = np.arange(a, b) // n_perturbations
        return p.scorer.flat[owner] - block

    copies = p.n * n_perturbations
    targets = np.repeat(p.targets, n_perturbations)
    perturbed = p.scorer.score(copies, build, targets).reshape(p.n, n_perturbations)
    change = p.fx[:, None] - perturbed  # (N, P)
    out = np.empty(len(sal))
    per_block = max(1, p.scorer.rows // n_perturbations)
    for i0 in range(0, p.n, per_block):  # no model call here: dot products only
        i1 = min(i0 + per_block, p.n)
        block = noise_of(i0, i1).astype(np.float64)  # (B, P, D)
        rows = np.flatnonzero((src >= i0) & (src < i1))
        dots = np.einsum("mpd,md->mp", block[src[rows] - i0], sal[rows])
        out[rows] = ((dots - change[src[rows]]) ** 2).mean(axis=1)
    return out


# ---------------------------------------------------------------------------- public
def comprehensiveness(
    model,
    inputs,
    saliency,
    baseline=0.0,
    *,
    fractions=DEFAULT_FRACTIONS,
    order: str = "signed",
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> np.ndarray:
    """How much the output drops when the top cells are removed (ERASER; higher is better).

    ``mean_p [f(x) - f(x with its top round(p * n) cells set to the baseline)]`` over
    the ``fractions`` p. The top cells are those of largest *signed* saliency (the
    evidence for the explained output, as ERASER and tint rank them); ``order="abs"``
    ranks by ``|saliency|``. A faithful map names cells whose removal hurts the
    output: high comprehensiveness.

    Args:
        model: a Keras model or a callable ``(rows, *x_shape) -> (rows, *out)``.
        inputs: ``(N, T, F)`` (any ``(N, ...)``); a list or dict of arrays for a
            multi-input model.
        saliency: maps shaped (and structured) like ``inputs``.
        baseline: what removed cells become: a number, one input ``(T, F)``, or one
            per input ``(N, T, F)`` (in the inputs' structure for several inputs).
        fractions: fractions of the real cells removed, each in (0, 1].
        order: ``"signed"`` (default) or ``"abs"``.
        output_indices: the explained output, with the package's meaning:
            ``"predicted"`` (default: the arg-max class of each unperturbed input,
            the only output of a single-output model), an int, one per input, or a
            ``(time, class)`` tuple; None only for single-output models.
        batch_size: most model rows per call; None: from the memory budget.
        padding_mask: ``(N, T)`` booleans, True on real steps.
        verbose: a progress bar over the perturbed copies.
        jit_compile: run the copies through an XLA-compiled function: True, False,
            or ``"auto"`` (default): XLA for calls of at least 4,096 copies, falling
            back to the plain traced function if XLA cannot compile the model. On 2
            CPU cores XLA runs an LSTM's forward pass several times faster; its
            outputs differ from the plain function's by float rounding (~1e-7).

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before any model call.
    """
    fr = _check_fractions(fractions)
    check_choice(order, "order", ("signed", "abs"))
    x, real, base, structure, start = _problem(
        model,
        inputs,
        baseline,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "comprehensiveness",
        jit_compile=jit_compile,
    )
    sal = _checked_saliency(saliency, x, real, structure)
    p = start()
    return _masked_differences(p, sal, np.arange(p.n), fr, order, keep=False)


def sufficiency(
    model,
    inputs,
    saliency,
    baseline=0.0,
    *,
    fractions=DEFAULT_FRACTIONS,
    order: str = "signed",
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> np.ndarray:
    """How much the output drops when only the top cells are kept (ERASER; lower is better).

    ``mean_p [f(x) - f(x with only its top round(p * n) cells kept, every other real
    cell set to the baseline)]`` over the ``fractions`` p, the top cells ranked as in
    :func:`comprehensiveness`. A faithful map names cells that suffice to keep the
    output: low sufficiency (it can be negative).

    Args:
        model: as :func:`comprehensiveness`.
        inputs: as :func:`comprehensiveness`.
        saliency: as :func:`comprehensiveness`.
        baseline: as :func:`comprehensiveness`.
        fractions: as :func:`comprehensiveness`.
        order: as :func:`comprehensiveness`.
        output_indices: as :func:`comprehensiveness`.
        batch_size: as :func:`comprehensiveness`.
        padding_mask: as :func:`comprehensiveness`.
        verbose: as :func:`comprehensiveness`.
        jit_compile: as :func:`comprehensiveness`.

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before any model call.
    """
    fr = _check_fractions(fractions)
    check_choice(order, "order", ("signed", "abs"))
    x, real, base, structure, start = _problem(
        model,
        inputs,
        baseline,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "sufficiency",
        jit_compile=jit_compile,
    )
    sal = _checked_saliency(saliency, x, real, structure)
    p = start()
    return _masked_differences(p, sal, np.arange(p.n), fr, order, keep=True)


def _cumulative_metric(
    model,
    inputs,
    saliency,
    baseline,
    steps,
    output_indices,
    batch_size,
    padding_mask,
    verbose,
    order,
    name,
    jit_compile,
) -> np.ndarray:
    steps = check_positive_int(steps, "steps")
    x, real, base, structure, start = _problem(
        model,
        inputs,
        baseline,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        name,
        jit_compile=jit_compile,
    )
    sal = _checked_saliency(saliency, x, real, structure)
    p = start()
    return _cumulative(p, sal, np.arange(p.n), steps, order)


def cumulative_prediction_difference(
    model,
    inputs,
    saliency,
    baseline=0.0,
    *,
    steps: int = 50,
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> np.ndarray:
    """CPD (TIMING, ICML 2025): the output's path as the top cells go (higher is better).

    Cells are removed one at a time by decreasing ``|saliency|`` (ties by flat
    index): ``x_0 = x`` and ``x_{k+1}`` is ``x_k`` with the next cell set to the
    baseline. Returns ``sum_{k<K} |f(x_k) - f(x_{k+1})|`` with ``K = min(steps, n)``
    (n: the input's real cells). A faithful map puts first the cells that move the
    output most.

    Args:
        steps: cells removed, at most (>= 1).
        model: as :func:`comprehensiveness`.
        inputs: as :func:`comprehensiveness`.
        saliency: as :func:`comprehensiveness`.
        baseline: as :func:`comprehensiveness`.
        output_indices: as :func:`comprehensiveness`.
        batch_size: as :func:`comprehensiveness`.
        padding_mask: as :func:`comprehensiveness`.
        verbose: as :func:`comprehensiveness`.
        jit_compile: as :func:`comprehensiveness`.

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before any model call.
    """
    return _cumulative_metric(
        model,
        inputs,
        saliency,
        baseline,
        steps,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "abs",
        "cumulative_prediction_difference",
        jit_compile,
    )


def cumulative_prediction_preservation(
    model,
    inputs,
    saliency,
    baseline=0.0,
    *,
    steps: int = 50,
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> np.ndarray:
    """CPP (TIMING): as :func:`cumulative_prediction_difference`, least important
    cell first (smallest ``|saliency|``, ties by flat index; lower is better: the
    cells a faithful map calls unimportant barely move the output).

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before any model call.
    """
    return _cumulative_metric(
        model,
        inputs,
        saliency,
        baseline,
        steps,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "abs_ascending",
        "cumulative_prediction_preservation",
        jit_compile,
    )


def infidelity(
    model,
    inputs,
    saliency,
    *,
    noise_scale: float = 0.1,
    n_perturbations: int = 100,
    seed: int | None = None,
    output_indices="predicted",
    batch_size: int | None = None,
    padding_mask=None,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
) -> np.ndarray:
    """Infidelity (Yeh et al. 2019; captum's definition, unnormalised; lower is better).

    With perturbations ``I ~ N(0, noise_scale^2)`` on the real cells, the mean over
    ``n_perturbations`` draws of ``(sum(I * saliency) - (f(x) - f(x - I)))^2``: how
    well the map, read as a linear model of the output, predicts the effect of small
    random changes. The gradient of a linear model has infidelity 0.

    Args:
        noise_scale: standard deviation of the perturbations (> 0).
        n_perturbations: draws per input (>= 1).
        seed: None or an int >= 0. An input's draws depend on the seed and its
            index only (not on ``batch_size``).
        model: as :func:`comprehensiveness`.
        inputs: as :func:`comprehensiveness`.
        saliency: as :func:`comprehensiveness`.
        output_indices: as :func:`comprehensiveness`.
        batch_size: as :func:`comprehensiveness`.
        padding_mask: as :func:`comprehensiveness`.
        verbose: as :func:`comprehensiveness`.
        jit_compile: as :func:`comprehensiveness`.

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before any model call.
    """
    noise_scale = check_real(noise_scale, "noise_scale", min_val=0, include_min=False)
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    seed = check_seed(seed)
    x, real, base, structure, start = _problem(
        model,
        inputs,
        0.0,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "infidelity",
        jit_compile=jit_compile,
    )
    sal = _checked_saliency(saliency, x, real, structure)
    p = start()
    return _infidelity(p, sal, np.arange(p.n), noise_scale, n_perturbations, seed)


def _explain_copies(explain, x, structure, batch_size, name="explain") -> Callable:
    """``rows (R, D or x_shape) -> maps (R, D)`` calling ``explain`` on the inputs'
    structure, at most ``batch_size`` copies per call."""

    def run(rows):
        outs = []
        for a in range(0, len(rows), batch_size):
            chunk = rows[a : a + batch_size]
            given = (
                chunk.reshape((-1, *x.shape[1:]))
                if structure is None
                else (structure.unflatten(chunk))
            )
            out = explain(given)
            flat = _checked_saliency(
                out, chunk.reshape((-1, *x.shape[1:])), None, structure, f"the result of `{name}`"
            )
            outs.append(flat)
        return np.concatenate(outs)

    return run


def max_sensitivity(
    explain: Callable,
    inputs,
    *,
    radius: float = 0.02,
    n_perturbations: int = 10,
    seed: int | None = None,
    batch_size: int | None = None,
    padding_mask=None,
) -> np.ndarray:
    """Max-sensitivity (Yeh et al. 2019, captum's ``sensitivity_max``; lower is better).

    With perturbations ``d`` uniform in ``[-radius, radius]`` on the real cells, the
    largest Frobenius norm of ``explain(x + d) - explain(x)`` over
    ``n_perturbations`` draws: how much the map changes under changes the model
    should not care about.

    Args:
        explain: a callable ``inputs -> saliency`` (an explainer's bound method, or a
            lambda fixing its arguments), called on batches of perturbed copies (all
            copies of all inputs together; the model's ``Masking`` layer, not a fixed
            ``padding_mask``, tells it about padding).
        inputs: ``(N, T, F)`` (any ``(N, ...)``); a list or dict of arrays.
        radius: half-width of the uniform perturbations (> 0).
        n_perturbations: draws per input (>= 1).
        seed: None or an int >= 0 (draws depend on it and the input's index only).
        batch_size: most copies per call of ``explain``; None: all
            ``N * n_perturbations`` copies in one call, or as many as fit in 1/8 of
            the memory budget.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are not
            perturbed and not counted.

    Returns:
        ``(N,)`` float64.

    Raises:
        TypeError, ValueError: on bad arguments (naming them), before ``explain`` runs.
    """
    if not callable(explain):
        raise TypeError(
            "`explain` must be a callable inputs -> saliency (e.g. an explainer's bound "
            f"method). Received: explain={explain!r} ({type(explain).__name__})."
        )
    radius = check_real(radius, "radius", min_val=0, include_min=False)
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    x, structure = _rows_without_model(inputs, padding_mask)
    real = real_cells(padding_mask, x.shape)
    return _max_sensitivity(explain, x, structure, real, radius, n_perturbations, seed, batch_size)


def _rows_without_model(inputs, padding_mask):
    if not is_structured(inputs, None):
        return as_float_array(inputs, "inputs", min_rank=2), None
    if padding_mask is not None:
        raise ValueError(
            "`padding_mask` is for one array of sequences; it cannot be given with a "
            "multi-input structure of `inputs`."
        )
    structure = structure_of(inputs, None)
    parts = structure.parts(inputs, "inputs", allow_nonfinite=False, per_row=False)
    return structure.flatten(parts).astype(np.float32), structure


def _max_sensitivity(explain, x, structure, real, radius, n_perturbations, seed, batch_size):
    from tf_tsexplain._batching import get_memory_budget

    n = len(x)
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    copies = n * n_perturbations
    if batch_size is None:
        batch_size = max(1, min(copies, get_memory_budget() // (8 * 16 * d * x.itemsize)))
    run = _explain_copies(explain, x, structure, batch_size)
    reference = run(flat)  # (N, D)
    noise = _noise_generators(seed, n)

    def draw(rng, shape):
        return rng.uniform(-radius, radius, size=shape)

    out = np.zeros(n)
    per_block = max(1, batch_size // n_perturbations)
    for i0 in range(0, n, per_block):  # chunks of copies; explain sees whole chunks
        i1 = min(i0 + per_block, n)
        delta = noise(i0, i1, (n_perturbations, d), draw).astype(flat.dtype)
        if real is not None:
            delta *= real[i0:i1, None, :]
        rows = (flat[i0:i1, None, :] + delta).reshape(-1, d)
        maps = run(rows).reshape(i1 - i0, n_perturbations, d)
        diff = maps - reference[i0:i1, None, :]
        if real is not None:
            diff = diff * real[i0:i1, None, :]
        out[i0:i1] = np.sqrt((diff**2).sum(axis=2)).max(axis=1)
    return out


def randomized_copy(model, seed: int | None = None):
    """A copy of a Keras model with every weight re-initialised by its layer's own
    initialisers (seeded), for :func:`randomization_check`.

    Raises:
        TypeError: if ``model`` is not a Keras model that ``keras.models.clone_model``
            can copy (pass your own ``randomized_model`` then).
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a Keras model to be re-initialised; for another callable pass "
            f"randomized_model=. Received: model of type {type(model).__name__}."
        )
    seeds = np.random.default_rng(seed)

    def seeded(config):
        if isinstance(config, dict):
            out = {}
            for key, value in config.items():
                value = seeded(value)
                if (
                    key.endswith("_initializer")
                    and isinstance(value, dict)
                    and isinstance(value.get("config"), dict)
                    and "seed" in value["config"]
                ):
                    value = copy.deepcopy(value)
                    value["config"]["seed"] = int(seeds.integers(2**31 - 1))
                out[key] = value
            return out
        if isinstance(config, list):
            return [seeded(v) for v in config]
        return config

    def clone(layer):
        return layer.__class__.from_config(seeded(layer.get_config()))

    try:
        return keras.models.clone_model(model, clone_function=clone)
    except Exception as err:  # subclassed models and the like
        raise TypeError(
            f"Could not re-initialise a copy of the model ({type(err).__name__}: {err}); "
            "pass randomized_model= (the same architecture with random weights)."
        ) from None


def _spearman(a: np.ndarray, b: np.ndarray, real) -> np.ndarray:
    out = np.empty(len(a))
    for i in range(len(a)):  # ranks per input: no model call here
        keep = slice(None) if real is None else real[i]
        ra, rb = average_ranks(a[i][keep]), average_ranks(b[i][keep])
        ra, rb = ra - ra.mean(), rb - rb.mean()
        denom = np.sqrt((ra**2).sum() * (rb**2).sum())
        out[i] = (ra * rb).sum() / denom if denom > 0 else np.nan
    return out


def randomization_check(
    make_explainer: Callable,
    model,
    inputs,
    *,
    randomized_model=None,
    absolute: bool = True,
    seed: int | None = None,
    padding_mask=None,
) -> np.ndarray:
    """Model-parameter randomisation test (Adebayo et al. 2018; lower is better).

    Explains ``inputs`` with the trained model and with a copy whose weights are all
    re-initialised, and returns the Spearman rank correlation of the two maps per
    input, over its real cells. Near 1: the method ignores the model (e.g. it is an
    edge detector on the inputs); a method that depends on the model scores low.

    Args:
        make_explainer: ``model -> callable inputs -> saliency``, e.g.
            ``lambda m: lambda x: PathExplainerTF(m).attributions(x, 0.0,
            use_expectation=False, output_indices=1)``. Fix the explained output:
            the randomised model's predicted class is arbitrary.
        model: the trained model (a Keras model unless ``randomized_model`` is given).
        inputs: ``(N, T, F)`` (any ``(N, ...)``); a list or dict of arrays.
        randomized_model: the model with random weights; None: the weights of a
            copy of ``model`` re-initialised by its layers' initialisers (seeded, see
            :func:`randomized_copy`).
        absolute: correlate ranks of ``|saliency|`` (default, as Adebayo et al.
            report for most methods) instead of signed saliency.
        seed: seed of the re-initialisation.
        padding_mask: ``(N, T)`` booleans, True on real steps: padded cells are left
            out of the correlation.

    Returns:
        ``(N,)`` float64 in [-1, 1] (NaN for an input where a map is constant).

    Raises:
        TypeError, ValueError: on bad arguments, before any explanation.
    """
    if not callable(make_explainer):
        raise TypeError(
            "`make_explainer` must be a callable model -> (inputs -> saliency). Received: "
            f"make_explainer={make_explainer!r}."
        )
    absolute = check_bool(absolute, "absolute")
    seed = check_seed(seed)
    x, structure = (
        _rows_without_model(inputs, padding_mask)
        if not is_structured(inputs, model)
        else _structured_rows(inputs, model)
    )
    real = real_cells(padding_mask, x.shape)
    if randomized_model is None:
        randomized_model = randomized_copy(model, seed)
    maps = []
    for m in (model, randomized_model):
        explain = make_explainer(m)
        if not callable(explain):
            raise TypeError(
                "`make_explainer(model)` must return a callable inputs -> saliency. "
                f"Received: {type(explain).__name__}."
            )
        maps.append(
            _checked_saliency(
                explain(inputs), x, real, structure, "the result of `make_explainer(model)`"
            )
        )
    a, b = (np.abs(v) for v in maps) if absolute else maps
    return _spearman(a, b, real)


def _structured_rows(inputs, model):
    structure = structure_of(inputs, model)
    parts = structure.parts(inputs, "inputs", allow_nonfinite=False, per_row=False)
    return structure.flatten(parts).astype(np.float32), structure


# ---------------------------------------------------------------------------- comparison
def _check_explainers(explainers) -> dict:
    if not isinstance(explainers, Mapping):
        raise TypeError(
            "`explainers` must be a dict name -> callable inputs -> saliency. Received: "
            f"{type(explainers).__name__}."
        )
    if not explainers:
        raise ValueError("`explainers` is empty: give at least one name -> callable.")
    for name, explain in explainers.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"`explainers` names must be non-empty strings. Received: {name!r}.")
        if name == "random":
            raise ValueError(
                "`explainers` must not use the name 'random': it is the control every "
                "comparison adds."
            )
        if not callable(explain):
            raise TypeError(
                f"`explainers[{name!r}]` must be a callable inputs -> saliency. Received: "
                f"{type(explain).__name__}."
            )
    return dict(explainers)


def _check_metric_names(metrics) -> list[str]:
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(
            f"`metrics` must be a list of names from {tuple(METRIC_DIRECTIONS)}. Received: "
            f"metrics={metrics!r}."
        )
    names = list(metrics)
    for name in names:
        check_choice(name, "metrics", tuple(METRIC_DIRECTIONS))
    if not names or len(set(names)) != len(names):
        raise ValueError(f"`metrics` must be distinct names, at least one. Received: {names}.")
    return names


def compare_explainers(
    model,
    inputs,
    explainers: Mapping[str, Callable],
    *,
    metrics: Sequence[str] | None = None,
    baseline=0.0,
    output_indices="predicted",
    seed: int | None = None,
    batch_size: int | None = None,
    padding_mask=None,
    steps: int = 10,
    fractions=DEFAULT_FRACTIONS,
    cpd_steps: int = 50,
    noise_scale: float = 0.1,
    n_perturbations: int = 100,
    sensitivity_radius: float = 0.02,
    verbose: bool = False,
    jit_compile: bool | str = "auto",
):
    """Which explainer to believe on this model: every metric, every method, one table.

    Each explainer explains ``inputs`` once (timed); a ``"random"`` control (uniform
    random saliency in [0, 1), seeded; 0 on padded cells) is always added, so a
    method can be judged against chance. Every metric is then computed on every map,
    with all maps' perturbed copies going through the model together (infidelity
    draws one set of perturbations per input, shared by all maps, so the model sees
    them once).

    Metrics (``metrics``, default the first six), each in its better direction:
    ``"deletion_auc"`` (lower), ``"insertion_auc"`` (higher) (``steps`` + 1 points,
    cells by ``|saliency|``), ``"comprehensiveness"`` (higher), ``"sufficiency"``
    (lower) (``fractions``, signed order), ``"cpd"`` (higher, ``cpd_steps``),
    ``"infidelity"`` (lower, ``noise_scale``, ``n_perturbations``), and on request
    ``"cpp"`` (lower) and ``"max_sensitivity"`` (lower; calls each explainer on
    ``10 * N`` perturbed copies, radius ``sensitivity_radius``).

    Args:
        model: a Keras model or callable.
        inputs: ``(N, T, F)`` (any ``(N, ...)``); a list or dict of arrays for a
            multi-input model.
        explainers: dict ``name -> callable inputs -> saliency`` (a bound method such
            as ``Saliency(model).attributions``, or a lambda fixing the baseline and
            target). Each map must be shaped like the inputs.
        metrics: names from the list above.
        baseline: what removed cells become (as :func:`comprehensiveness`).
        output_indices: the explained output (as :func:`comprehensiveness`); give
            the explainers the same target.
        seed: None or an int >= 0: the random control, infidelity and sensitivity
            draws.
        batch_size: most model rows per call; None: from the memory budget.
        padding_mask: ``(N, T)`` booleans, True on real steps.
        steps: a metric's setting (see the metric that takes it).
        fractions: a metric's setting (see the metric that takes it).
        cpd_steps: a metric's setting (see the metric that takes it).
        noise_scale: a metric's setting (see the metric that takes it).
        n_perturbations: a metric's setting (see the metric that takes it).
        sensitivity_radius: a metric's setting (see the metric that takes it).
        verbose: progress bars over the perturbed copies.
        jit_compile: XLA for the perturbed copies (as :func:`comprehensiveness`).

    Returns:
        pandas DataFrame, one row per explainer (index ``explainer``, the random
        control included), sorted by ``rank``: a column per metric (mean over
        inputs) and ``<metric>_sem`` (its standard error), ``seconds`` (explainer
        time per input) and ``rank`` (mean over the metrics of the explainer's rank,
        1 = best, each metric in its better direction; ties share ranks).
        ``.attrs["curves"]``: a tidy DataFrame with columns ``explainer, curve
        ("deletion" | "insertion"), fraction, mean, sem`` (the explained output at
        each fraction of cells removed / inserted, mean and standard error over
        inputs); ``.attrs["directions"]``: metric -> "higher" or "lower";
        ``.attrs["scoring_seconds"]``: the time spent scoring (not explaining).

    Raises:
        TypeError: on bad arguments, before any model call.
        ValueError: on bad arguments, before any model call; or if an explainer
            returns a map not shaped like the inputs, or NaN.
    """
    import pandas as pd

    explainers = _check_explainers(explainers)
    names = _check_metric_names(metrics)
    seed = check_seed(seed)
    steps = check_positive_int(steps, "steps")
    fr = _check_fractions(fractions)
    cpd_steps = check_positive_int(cpd_steps, "cpd_steps")
    noise_scale = check_real(noise_scale, "noise_scale", min_val=0, include_min=False)
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    sensitivity_radius = check_real(
        sensitivity_radius, "sensitivity_radius", min_val=0, include_min=False
    )
    x, real, base, structure, start = _problem(
        model,
        inputs,
        baseline,
        output_indices,
        batch_size,
        padding_mask,
        verbose,
        "compare_explainers",
        jit_compile=jit_compile,
    )
    n = len(x)
    maps, seconds = {}, {}
    for name, explain in explainers.items():
        t0 = time.perf_counter()
        result = explain(inputs)
        seconds[name] = (time.perf_counter() - t0) / n
        maps[name] = _checked_saliency(result, x, real, structure, f"the map of {name!r}")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    control = rng.uniform(size=(n, x.reshape(n, -1).shape[1]))
    maps["random"] = control if real is None else np.where(real, control, 0.0)
    seconds["random"] = (time.perf_counter() - t0) / n

    t_scoring = time.perf_counter()
    p = start()
    labels = list(maps)
    e = len(labels)
    sal = np.concatenate([maps[k] for k in labels])  # (E * N, D)
    src = np.tile(np.arange(n), e)
    values = {}
    curves = curves_from_scorer(
        p.scorer, sal, None if real is None else real[src], p.base, p.targets, steps, src
    )
    values["deletion_auc"] = curves["deletion_auc"]
    values["insertion_auc"] = curves["insertion_auc"]
    if "comprehensiveness" in names:
        values["comprehensiveness"] = _masked_differences(p, sal, src, fr, "signed", False)
    if "sufficiency" in names:
        values["sufficiency"] = _masked_differences(p, sal, src, fr, "signed", True)
    if "cpd" in names:
        values["cpd"] = _cumulative(p, sal, src, cpd_steps, "abs")
    if "cpp" in names:
        values["cpp"] = _cumulative(p, sal, src, cpd_steps, "abs_ascending")
    if "infidelity" in names:
        values["infidelity"] = _infidelity(p, sal, src, noise_scale, n_perturbations, seed)
    if "max_sensitivity" in names:
        per = []
        for label in labels:
            if label == "random":  # a fresh random map per call: sensitivity is chance
                per.append(np.full(n, np.nan))
                continue
            per.append(
                _max_sensitivity(
                    explainers[label], x, structure, real, sensitivity_radius, 10, seed, None
                )
            )
        values["max_sensitivity"] = np.concatenate(per)
    scoring = time.perf_counter() - t_scoring

    table = {}
    for metric in names:
        v = np.asarray(values[metric], float).reshape(e, n)
        finite = np.isfinite(v)
        table[metric] = np.where(finite, v, 0.0).sum(1) / np.where(
            finite.any(1), finite.sum(1), np.nan
        )
        table[f"{metric}_sem"] = _sem(v)
    frame = pd.DataFrame(table, index=pd.Index(labels, name="explainer"))
    frame["seconds"] = [seconds[k] for k in labels]
    frame["rank"] = _mean_rank(frame, names)
    frame = frame.sort_values("rank", kind="stable")
    rows = []
    for curve in ("deletion", "insertion"):
        v = curves[curve].astype(float).reshape(e, n, -1)
        mean, sem = v.mean(axis=1), _sem(v.transpose(0, 2, 1).reshape(-1, n)).reshape(e, -1)
        for j, label in enumerate(labels):
            for q, fraction in enumerate(curves["fractions"]):
                rows.append((label, curve, float(fraction), mean[j, q], sem[j, q]))
    frame.attrs["curves"] = pd.DataFrame(
        rows, columns=["explainer", "curve", "fraction", "mean", "sem"]
    )
    frame.attrs["directions"] = {m: METRIC_DIRECTIONS[m] for m in names}
    frame.attrs["scoring_seconds"] = scoring
    return frame


def _sem(v: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the last axis (NaN for fewer than 2 values)."""
    finite = np.isfinite(v)
    count = finite.sum(axis=-1)
    filled = np.where(finite, v, 0.0)
    mean = filled.sum(axis=-1, keepdims=True) / np.maximum(count, 1)[..., None]
    squares = (np.where(finite, v - mean, 0.0) ** 2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(squares / (count - 1))
        return np.where(count > 1, std / np.sqrt(count), np.nan)


def _mean_rank(frame, names: list[str]) -> np.ndarray:
    """Mean over metrics of each row's rank (1 = best in the metric's direction)."""
    ranks = []
    for metric in names:
        v = frame[metric].to_numpy(float)
        ok = np.isfinite(v)
        if not ok.any():
            continue
        key = -v if METRIC_DIRECTIONS[metric] == "higher" else v
        r = np.full(len(v), np.nan)
        r[ok] = average_ranks(key[ok])
        ranks.append(r)
    if not ranks:
        return np.full(len(frame), np.nan)
    return np.nanmean(np.stack(ranks), axis=0)


__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_METRICS",
    "METRIC_DIRECTIONS",
    "comprehensiveness",
    "compare_explainers",
    "cumulative_prediction_difference",
    "cumulative_prediction_preservation",
    "infidelity",
    "max_sensitivity",
    "randomization_check",
    "randomized_copy",
    "sufficiency",
]
