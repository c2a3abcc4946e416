"""Path attribution methods: integrated and expected gradients and Hessians.

``PathExplainerTF`` is call-compatible with path_explain's explainer of the same name
(change the import, keep the calls), and ``EmbeddingExplainerTF`` with its embedding
explainer. Both compute in compiled TensorFlow functions over *rows*: one row is one
(input, baseline, path position) triple, so that inputs and path points are batched
together and chunked by ``batch_size``.

Formulas, for an input x, a baseline x' and the explained scalar output f:

- integrated gradients  phi_i = (x_i - x'_i) int_0^1 g_i(x' + a (x - x')) da
- expected gradients    phi_i = E_{x' ~ baseline set, a ~ U(0,1)}[same integrand]
- integrated Hessians   Gamma_ij = (x_i - x'_i)(x_j - x'_j)
                            int int a b H_ij(x' + a b (x - x')) da db
                        + [i == j] (x_i - x'_i) int int g_i(x' + a b (x - x')) da db
- expected Hessians     the same, with x', a and b drawn at random.

The second term puts the main effect on the diagonal, so that each row of Gamma sums
to phi_i (completeness of interactions). See ``_quadrature`` for the quadrature.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import chunks
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._quadrature import gauss_legendre_01, gauss_log_01
from tf_tsexplain._targets import select_output
from tf_tsexplain._validation import as_float_array, check_bool, check_choice, check_positive_int
from tf_tsexplain.smooth import (
    DEFAULT_BETA,
    PiecewiseLinearPiece,
    SurrogateGap,
    piecewise_linear_layers,
    smooth_surrogate,
)

# Relative asymmetry max |G - G^T| / max |G| of a full interaction matrix above which
# a warning says the model's second derivative is not symmetric (float32 rounding of
# a smooth model stays near 1e-6).
ASYMMETRY_TOLERANCE = 1e-4
# "auto" moves a recurrent model to the Jacobian route from this many (path point,
# Hessian row) pairs: pfor's 35-45 s trace of a recurrent loop is then paid back by
# its ~2x faster rows (measured on an LSTM(64), 2 CPU cores).
JACOBIAN_MIN_ROWS = 1_000_000
# Reverse passes of the loop route run in parallel (tf.while_loop's parallel_iterations).
LOOP_PARALLEL = 10


@dataclasses.dataclass(frozen=True)
class InteractionsInfo:
    """What :meth:`PathExplainerTF.interactions` found on its last call.

    Attributes:
        asymmetry: ``max |G - G^T| / max |G|`` of the computed full matrix before
            it was symmetrised (None with ``interaction_index``: a row alone cannot
            be checked).
        symmetrised: True if the returned matrix is ``(G + G^T) / 2`` (full
            matrices, whose definition is symmetric).
        piecewise_linear: the model's pieces without a useful second derivative
            (see :func:`tf_tsexplain.smooth.piecewise_linear_layers`).
        smooth_beta: the softplus sharpness of the smooth surrogate explained, or
            None when the model itself was explained.
        surrogate_gap: how far the surrogate's outputs are from the model's on the
            explained inputs and baselines (None without ``smooth``).
        hessian_method: the Hessian route used ("loop", "tiled" or "jacobian").
    """

    asymmetry: float | None
    symmetrised: bool
    piecewise_linear: tuple[PiecewiseLinearPiece, ...]
    smooth_beta: float | None
    surrogate_gap: SurrogateGap | None
    hessian_method: str


class _Plan:
    """Everything a path computation needs, validated, before any model call.

    Rows are ordered input by input: row ``r`` belongs to input ``r // num_samples``.
    """

    def __init__(
        self,
        inputs,
        frozen,
        baseline,
        baseline_index,
        alphas,
        weights,
        targets,
        leading,
        rows_per_call,
        verbose,
    ):
        self.inputs = inputs  # (N, *x_shape)
        self.frozen = frozen  # (N, *x_shape) bool: cells of padded steps
        self.baseline = baseline  # (B, *x_shape)
        self.baseline_index = baseline_index  # (N * S,) int32
        self.alphas = alphas  # (N * S,) position on the path
        self.weights = weights  # (N * S,) quadrature or Monte Carlo weight
        self.targets = targets  # (n_runs, N) int32 flat output indices
        self.leading = leading  # leading axes of the result: () or output shape
        self.rows_per_call = rows_per_call  # most model rows per call
        self.verbose = verbose

    @property
    def n_inputs(self) -> int:
        return self.inputs.shape[0]

    @property
    def x_shape(self) -> tuple[int, ...]:
        return self.inputs.shape[1:]

    @property
    def num_samples(self) -> int:
        return self.alphas.shape[0] // self.n_inputs


class PathExplainerTF(Explainer):
    """Integrated/expected gradients and Hessians for TensorFlow and Keras models.

    Call-compatible with path_explain's ``PathExplainerTF``: the arguments after
    ``inputs`` keep its positional order (``baseline, batch_size, num_samples,
    use_expectation, output_indices, verbose``), and mean what they mean for every
    explainer of the toolkit (see :class:`tf_tsexplain.Explainer`).

    Args:
        model: a Keras model (Sequential, functional or subclassed, called with
            ``training=False``) or any callable mapping a float tensor batch
            ``(rows, *x_shape)`` to a tensor ``(rows, *output_shape)`` with
            TensorFlow ops (so that gradients flow). Rows must not interact (no
            computation across the batch axis at inference).
        allow_nonfinite: accept NaN/Inf in inputs and baselines (results will then
            contain NaN). By default they are an error.
        hessian_method: how :meth:`interactions` computes Hessian rows. "tiled":
            Hessian-vector products vectorised by tiling the path points, traces in
            seconds for any model. "jacobian": a pfor-vectorised batch Jacobian, about
            twice as fast once compiled, but its first call takes 35-45 s to trace on
            a recurrent model (LSTM, GRU) on 2 CPU cores: worth it for large jobs.
            "loop": the forward and first backward pass once per path point, then
            one reverse pass per Hessian row in a compiled while loop (a batch
            Jacobian without pfor); traces in seconds, but each reverse pass has a
            fixed cost, so it beats tiling only when a call holds hundreds of path
            points (on the LSTM(64) of ``bench_path.py``, 77 points per call within
            the default budget, it took 1.6x the tiled time). "auto" (default):
            "jacobian" for Keras models without a recurrent layer (Dense, Conv1D,
            attention), where pfor traces quickly; for recurrent models and plain
            callables "tiled", unless one call needs at least ``JACOBIAN_MIN_ROWS``
            (path point, Hessian row) pairs, where the Jacobian's faster rows repay
            its trace. Results agree to float precision;
            ``last_interactions_info.hessian_method`` names the route.
        memory_budget: working memory per model call when ``batch_size`` is None
            (bytes; default: the process-wide budget, 1 GiB).

    Attributes:
        last_interactions_info: an :class:`InteractionsInfo` about the last call of
            :meth:`interactions` (asymmetry before symmetrising, piecewise-linear
            layers, the smooth surrogate's distance to the model), or None.

    Example:
        >>> explainer = PathExplainerTF(model)
        >>> phi = explainer.attributions(x, x_train[:100], num_samples=200, seed=0)
        >>> phi.shape == x.shape
        True
    """

    positional_arguments = (
        "baseline",
        "batch_size",
        "num_samples",
        "use_expectation",
        "output_indices",
        "verbose",
        "seed",
    )

    def __init__(
        self,
        model,
        allow_nonfinite: bool = False,
        hessian_method: str = "auto",
        *,
        memory_budget: int | None = None,
    ):
        hessian_method = check_choice(
            hessian_method, "hessian_method", ("auto", "loop", "tiled", "jacobian")
        )
        super().__init__(model, allow_nonfinite=allow_nonfinite, memory_budget=memory_budget)
        self._auto_route = hessian_method == "auto"
        if hessian_method == "auto":
            hessian_method = "jacobian" if _is_non_recurrent_keras(model) else "tiled"
        self.hessian_method = hessian_method
        self.last_interactions_info: InteractionsInfo | None = None
        self._pieces: tuple[PiecewiseLinearPiece, ...] | None = None
        self._warned_pieces = False
        self._surrogates: dict[float, PathExplainerTF] = {}

    # ------------------------------------------------------------------ public API
    def attributions(
        self,
        inputs,
        baseline,
        batch_size: int | None = None,
        num_samples: int = 100,
        use_expectation: bool = True,
        output_indices=None,
        verbose: bool = False,
        seed: int | None = None,
        *,
        padding_mask=None,
    ) -> np.ndarray:
        """Integrated gradients (``use_expectation=False``) or expected gradients.

        Args:
            inputs: ``(N, *x_shape)`` floats, e.g. ``(N, T, F)`` sequences.
            baseline: for expected gradients, a reference set ``(R, *x_shape)`` from
                which baselines are drawn with replacement; for integrated
                gradients, one baseline (``x_shape`` or ``(1, *x_shape)``) or one per
                input ``(N, *x_shape)``.
            batch_size: most rows (path points) sent to the model at once; bounds
                memory. Inputs and path points are batched together. None (default)
                picks it from the memory budget.
            num_samples: path points per input: Monte Carlo samples for expected
                gradients, Gauss-Legendre nodes on [0, 1] for integrated gradients.
            use_expectation: expected gradients if True, integrated gradients if
                False.
            output_indices: which output to explain: an int, one int per input
                ``(N,)``, a ``(time, class)`` tuple for sequence outputs
                ``(N, T, C)`` or one such tuple per input ``(N, 2)``, or
                ``"predicted"`` (the arg-max class of each input). None explains a
                single-output model, or every output of a multi-output model.
            verbose: show a progress bar.
            seed: seed for baseline and path sampling (expected gradients); the same
                seed gives identical results, whatever ``batch_size``.
            padding_mask: ``(N, T)`` booleans, True on real steps, for padded
                sequences (default: from the model's ``Masking`` layer, if any).
                Padded cells keep their values along every path (the baseline takes
                the input's value there), so they get exactly zero attribution.

        Multi-input models: ``inputs`` and ``baseline`` are lists, tuples or dicts of
        arrays in the structure the model takes (a reference set or baseline per
        input), and the attributions come back in that structure, each shaped like
        its input; completeness holds across all inputs together.

        Returns:
            ``(N, *x_shape)`` attributions, float32 (float64 for float64 inputs); with
            ``output_indices=None`` on a model with outputs ``(N, *out_shape)`` of
            more than one value, ``(*out_shape, N, *x_shape)``, e.g. ``(C, N, T, F)``.
            For integrated gradients they sum to ``f(x) - f(baseline)``.
        """
        plan = self._plan(
            inputs,
            baseline,
            batch_size,
            num_samples,
            use_expectation,
            output_indices,
            seed,
            verbose,
            padding_mask,
            second_order=False,
        )
        fn = self._compiled_fn("gradients", plan)
        return self._restructure(self._run(fn, plan, rows_index=None))

    def interactions(
        self,
        inputs,
        baseline,
        batch_size: int | None = None,
        num_samples: int = 100,
        use_expectation: bool = True,
        output_indices=None,
        verbose: bool = False,
        interaction_index=None,
        seed: int | None = None,
        *,
        padding_mask=None,
        smooth=None,
    ) -> np.ndarray:
        """Integrated Hessians (``use_expectation=False``) or expected Hessians.

        Arguments are those of :meth:`attributions`, plus:

        Args:
            interaction_index: None for the full interaction matrix, or one input
                position: an int for flat inputs (``x_shape == (D,)``), an index
                tuple such as ``(t, f)`` otherwise. The result then is the row of
                the full matrix for that position (exactly its slice). For a
                multi-input model, ``(input, *position)`` with the input's name or
                index, e.g. ``("static", 2)`` or ``(0, t, f)``; the full matrix then
                is ``(N, D, D)`` over the flat layout of all inputs (see
                :mod:`tf_tsexplain._structure`) and a row comes back in the inputs'
                structure.
            num_samples: path points per input: Monte Carlo samples for expected
                Hessians; for integrated Hessians the nodes of the Gauss rule for the
                two path variables (see ``tf_tsexplain._quadrature``).
            smooth: None or False (default) explains the model itself; True or a
                positive number ``beta`` explains its smooth surrogate
                (:func:`tf_tsexplain.smooth.smooth_surrogate`, softplus of sharpness
                ``beta``, 10 for True, and a log-sum-exp max pooling), built once per
                ``beta`` and Keras models only. Piecewise-linear models (ReLU, max
                pooling, ``abs``, clipping) have zero or asymmetric autodiff
                Hessians: without ``smooth`` a warning (once per explainer) names
                their layers. How far the surrogate is from the model on the
                explained inputs is in :attr:`last_interactions_info`.

        Returns:
            ``(N, *x_shape, *x_shape)`` interactions (``(N, T, F, T, F)`` for
            sequences), or ``(N, *x_shape)`` with ``interaction_index``; with a
            leading output axis as in :meth:`attributions`. The main effect is on the
            diagonal, so ``result.sum over the last len(x_shape) axes`` equals the
            attributions (for integrated Hessians, up to quadrature error). Full
            matrices are returned symmetrised, ``(G + G^T) / 2``, as both methods
            define a symmetric matrix; the asymmetry found before is in
            :attr:`last_interactions_info` (an :class:`InteractionsInfo`), and a
            warning says when it exceeds ``ASYMMETRY_TOLERANCE`` (1e-4 of the
            largest entry: a model whose second derivative is not symmetric, e.g.
            max pooling; row sums then differ from the attributions by about as
            much).

        Raises:
            TypeError: ``smooth`` is not None, a bool or a number, or it is set for a
                model that cannot be cloned (subclassed models, plain callables).
            ValueError: bad shapes or values of the arguments (as for
                :meth:`attributions`), a non-positive ``smooth``, or a second
                derivative TensorFlow cannot take through a loaded SavedModel.

        Cost: one Hessian row per interaction position and path point: ``N *
        num_samples * r`` model rows through a double backward pass, with ``r =
        prod(x_shape)`` for the full matrix (``T * F``), 1 with ``interaction_index``.
        ``batch_size`` counts these rows: chunks cover (path point, Hessian row)
        pairs, so memory does not grow with ``T * F``.
        """
        beta = _check_smooth(smooth)
        if beta is not None:
            return self._smooth_interactions(
                beta,
                inputs,
                baseline,
                batch_size=batch_size,
                num_samples=num_samples,
                use_expectation=use_expectation,
                output_indices=output_indices,
                verbose=verbose,
                interaction_index=interaction_index,
                seed=seed,
                padding_mask=padding_mask,
            )
        plan = self._plan(
            inputs,
            baseline,
            batch_size,
            num_samples,
            use_expectation,
            output_indices,
            seed,
            verbose,
            padding_mask,
            second_order=True,
        )
        rows_index = self._interaction_rows(self._flat_index(interaction_index), plan.x_shape)
        pieces = self._piecewise_pieces()
        if pieces and not self._warned_pieces:
            self._warned_pieces = True
            warnings.warn(_pieces_message(pieces), UserWarning, stacklevel=2)
        method = self._hessian_route(plan, len(rows_index))
        fn = self._compiled_fn("hessians", plan, method)
        try:
            result = self._run(fn, plan, rows_index=rows_index, method=method)
        except ValueError as err:
            if "without handle data" not in str(err):
                raise
            # TensorFlow cannot take second derivatives through a restored SavedModel
            # function holding a while loop (Keras LSTM/GRU), TF 2.21.
            raise ValueError(
                "Interactions need second derivatives of the model, which TensorFlow "
                "cannot take through this loaded SavedModel (a restored recurrent layer). "
                "Explain the original Keras model (.keras file) instead."
            ) from None
        asymmetry = None
        if interaction_index is None:
            result, asymmetry = _symmetrise(result)
            if asymmetry > ASYMMETRY_TOLERANCE:
                warnings.warn(
                    f"The interaction matrix was asymmetric by {asymmetry:.2g} of its largest "
                    f"entry before symmetrising (tolerance {ASYMMETRY_TOLERANCE:g}): the "
                    "model's second derivative is not symmetric (e.g. max pooling), so "
                    "interactions and their row sums are unreliable. Explain a smooth "
                    "surrogate with interactions(..., smooth=True).",
                    UserWarning,
                    stacklevel=2,
                )
        self.last_interactions_info = InteractionsInfo(
            asymmetry=asymmetry,
            symmetrised=interaction_index is None,
            piecewise_linear=pieces,
            smooth_beta=None,
            surrogate_gap=None,
            hessian_method=method,
        )
        return self._shape_interactions(result, plan, interaction_index)

    def _piecewise_pieces(self) -> tuple[PiecewiseLinearPiece, ...]:
        """The model's piecewise-linear pieces, found once."""
        if self._pieces is None:
            self._pieces = tuple(piecewise_linear_layers(self.model))
        return self._pieces

    def _hessian_route(self, plan: _Plan, rows_per_point: int) -> str:
        """The Hessian route for this call: "auto" moves recurrent models to the
        Jacobian route when the job is large enough to repay pfor's trace."""
        if not self._auto_route or self.hessian_method == "jacobian":
            return self.hessian_method
        pairs = plan.targets.shape[0] * plan.n_inputs * plan.num_samples * rows_per_point
        if pairs >= JACOBIAN_MIN_ROWS and isinstance(self.model, keras.layers.Layer):
            return "jacobian"
        return self.hessian_method

    def _smooth_interactions(self, beta: float, inputs, baseline, **kwargs) -> np.ndarray:
        """Interactions of the smooth surrogate, with its distance to the model."""
        if beta not in self._surrogates:
            surrogate = smooth_surrogate(self.model, beta)
            inner = PathExplainerTF(
                surrogate,
                self.allow_nonfinite,
                "auto" if self._auto_route else self.hessian_method,
                memory_budget=self.memory_budget,
            )
            inner._warned_pieces = True  # the surrogate is smooth: nothing to warn about
            self._surrogates[beta] = inner
        inner = self._surrogates[beta]
        result = inner.interactions(inputs, baseline, **kwargs)
        x = self.input_rows(inputs)[0]
        rows = check_positive_int(kwargs.get("batch_size") or 256, "batch_size")
        original = self._predict_rows(x, rows).astype(np.float64)
        smooth = inner._predict_rows(x, rows).astype(np.float64)
        gap = np.abs(smooth - original).reshape(len(x), -1)
        spread = float(original.max() - original.min())
        scale = spread if spread > 0 else max(float(np.abs(original).max()), 1e-12)
        info = inner.last_interactions_info
        self.last_interactions_info = dataclasses.replace(
            info,
            piecewise_linear=self._piecewise_pieces(),
            smooth_beta=beta,
            surrogate_gap=SurrogateGap(
                max_abs=float(gap.max()),
                max_rel=float(gap.max()) / scale,
                per_input=gap.max(axis=1),
            ),
        )
        return result

    # ------------------------------------------------------------------ validation
    def _plan(
        self,
        inputs,
        baseline,
        batch_size,
        num_samples,
        use_expectation,
        output_indices,
        seed,
        verbose,
        padding_mask,
        second_order,
    ) -> _Plan:
        batch_size, seed, verbose = self._check_common(batch_size, seed, verbose)
        num_samples = check_positive_int(num_samples, "num_samples")
        use_expectation = check_bool(use_expectation, "use_expectation")
        x, frozen = self._rows(inputs, padding_mask)
        n = x.shape[0]
        if self._structure is not None:
            parts = self._structure.parts(
                baseline, "baseline", allow_nonfinite=self.allow_nonfinite, dtype=x.dtype
            )
            b = self._structure.flatten(parts)
        else:
            b = as_float_array(
                baseline,
                "baseline",
                min_rank=1,
                allow_nonfinite=self.allow_nonfinite,
                dtype=x.dtype,
            )
        x_shape = x.shape[1:]
        if b.shape == x_shape:
            b = b[None]
        if b.shape[1:] != x_shape:
            raise ValueError(
                f"`baseline` must have shape (R, {', '.join(map(str, x_shape))}) to match "
                f"`inputs` of shape {x.shape}; got {b.shape}."
            )
        rng = np.random.default_rng(seed)
        rows = n * num_samples
        if use_expectation:
            baseline_index = rng.integers(0, b.shape[0], size=rows)
            alphas = rng.uniform(size=rows)
            if second_order:  # s = a * b with a, b ~ U(0, 1) independently
                alphas = alphas * rng.uniform(size=rows)
            weights = np.full(rows, 1.0 / num_samples)
        else:
            if b.shape[0] == 1:
                baseline_index = np.zeros(rows, np.int64)
            elif b.shape[0] == n:
                baseline_index = np.repeat(np.arange(n), num_samples)
            else:
                raise ValueError(
                    f"For integrated gradients/Hessians (use_expectation=False) `baseline` "
                    f"must be one baseline (shape {x_shape} or (1, ...)) or one per input "
                    f"(shape ({n}, ...)); got {b.shape[0]} baselines for {n} inputs."
                )
            nodes, node_weights = (gauss_log_01 if second_order else gauss_legendre_01)(num_samples)
            alphas = np.tile(nodes, n)
            weights = np.tile(node_weights, n)

        targets, leading = self._targets(x, output_indices, batch_size)
        return _Plan(
            inputs=x,
            frozen=np.zeros(x.shape, bool) if frozen is None else frozen,
            baseline=b,
            baseline_index=baseline_index.astype(np.int32),
            alphas=alphas.astype(x.dtype),
            weights=weights.astype(x.dtype),
            targets=targets,
            leading=leading,
            rows_per_call=self._rows_per_call(x, batch_size, order=2 if second_order else 1),
            verbose=verbose,
        )

    def _per_input_arguments(self, inputs, arguments) -> dict:
        """A baseline is per input only for integrated gradients (a reference set of
        expected gradients is shared by every copy)."""
        if arguments.get("use_expectation", True):
            return {}
        return super()._per_input_arguments(inputs, arguments)

    def _flat_index(self, interaction_index):
        """``(input, *position)`` of a multi-input model -> its flat position."""
        if self._structure is None or interaction_index is None:
            return interaction_index
        st = self._structure
        if not isinstance(interaction_index, tuple) or not interaction_index:
            raise TypeError(
                "`interaction_index` of a multi-input model must be (input, *position), "
                f"e.g. ({st.names[0]!r}, ...). Received: {interaction_index!r}."
            )
        which, *position = interaction_index
        k = st.names.index(which) if which in st.names else which
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k < len(st.names):
            raise ValueError(
                f"`interaction_index` must name one of the inputs {st.names} (or its index). "
                f"Received: {which!r}."
            )
        return (st.offsets[k] + _flat_position(tuple(position), st.shapes[k]),)

    @staticmethod
    def _interaction_rows(interaction_index, x_shape) -> np.ndarray:
        """Flat positions of the Hessian rows to compute (all of them for None)."""
        if interaction_index is None:
            return np.arange(int(np.prod(x_shape)), dtype=np.int32)
        return np.array([_flat_position(interaction_index, x_shape)], np.int32)

    def _shape_interactions(self, result, plan, interaction_index):
        """(..., N, r, D) rows of the interaction matrix -> documented shape."""
        lead = result.shape[:-2]
        if interaction_index is None:
            return result.reshape(lead + plan.x_shape + plan.x_shape)
        return self._restructure(result.reshape(lead + plan.x_shape))

    # ------------------------------------------------------------------ execution
    def _compiled_fn(self, kind: str, plan: _Plan, method: str | None = None):
        """One tf.function per kind (and Hessian route), input shape and dtype,
        traced once and reused by every later call of the same shapes."""
        x_shape, dtype = plan.x_shape, plan.inputs.dtype
        if kind == "gradients":
            build = lambda: _gradient_rows(self._model_fn, x_shape, dtype)  # noqa: E731
            return self._function((kind, x_shape, dtype.name), build)
        method = method or self.hessian_method
        build = lambda: _hessian_rows(self._model_fn, x_shape, dtype, method)  # noqa: E731
        return self._function((kind, method, x_shape, dtype.name), build)

    def _run(self, fn, plan: _Plan, rows_index, method: str = "tiled") -> np.ndarray:
        """Run ``fn`` over all rows in chunks; sum row contributions per input.

        For gradients a model row is a path point. For Hessians it is a (path point,
        Hessian row) pair: each call takes ``p`` path points times ``q`` Hessian rows
        with ``p * q <= rows_per_call`` (the loop route: see :func:`_points_per_call`),
        so memory is bounded whatever ``T * F``.
        """
        n, s = plan.n_inputs, plan.num_samples
        d = int(np.prod(plan.x_shape))
        n_points = n * s
        runs = plan.targets.shape[0]
        budget = plan.rows_per_call
        if rows_index is None:
            out_tail, row_chunks, points_per_call = plan.x_shape, [None], budget
        else:
            r = len(rows_index)
            q = _hessian_rows_per_call(r, budget)
            out_tail = (r, d)
            row_chunks = [(start, min(start + q, r)) for start in range(0, r, q)]
            points_per_call = _points_per_call(method, q, budget)
        result = np.zeros((runs, n) + tuple(out_tail), plan.inputs.dtype)

        x_all = tf.constant(plan.inputs)
        b_all = tf.constant(plan.baseline)
        frozen_all = tf.constant(plan.frozen)
        input_index = np.repeat(np.arange(n, dtype=np.int32), s)
        per_point = 1 if rows_index is None else len(rows_index)
        unit = "path points" if rows_index is None else "rows"  # (path point, Hessian row)
        progress = self._progress(runs * n_points * per_point, plan.verbose, unit=unit)
        for run in range(runs):
            row_targets = plan.targets[run][input_index]
            for start, stop in chunks(n_points, points_per_call):
                first, last = input_index[start], input_index[stop - 1]
                args = (
                    x_all,
                    b_all,
                    frozen_all,
                    input_index[start:stop],
                    plan.baseline_index[start:stop],
                    plan.alphas[start:stop],
                    plan.weights[start:stop],
                    row_targets[start:stop],
                    np.int32(first),
                    np.int32(last - first + 1),
                )
                for part in row_chunks:
                    if part is None:
                        summed = fn(*args)
                        result[run, first : last + 1] += summed.numpy()
                        progress.advance(stop - start)
                    else:
                        h0, h1 = part
                        summed = fn(*args, rows_index[h0:h1])
                        result[run, first : last + 1, h0:h1] += summed.numpy()
                        progress.advance((stop - start) * (h1 - h0))
        return self._shape_result(result, plan.leading)


def _check_smooth(smooth) -> float | None:
    """``smooth`` of :meth:`PathExplainerTF.interactions` -> the surrogate's beta or None."""
    if smooth is None or smooth is False:
        return None
    if smooth is True:
        return DEFAULT_BETA
    if isinstance(smooth, numbers.Real):
        value = float(smooth)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"`smooth` must be True or a positive softplus sharpness beta. Received: "
                f"smooth={smooth!r}."
            )
        return value
    raise TypeError(
        f"`smooth` must be None, a bool or a positive number (beta). Received: smooth={smooth!r}."
    )


def _pieces_message(pieces) -> str:
    names = ", ".join(str(p) for p in pieces[:8]) + (", ..." if len(pieces) > 8 else "")
    return (
        f"The model is piecewise linear in places ({names}): its autodiff Hessians are zero "
        "almost everywhere on those pieces (and max pooling's is not symmetric), so "
        "interactions miss curvature and their row sums can miss the attributions. For "
        "meaningful interactions explain a smooth surrogate: interactions(..., smooth=True) "
        "or tf_tsexplain.smooth.smooth_surrogate(model, beta=...)."
    )


def _symmetrise(result: np.ndarray) -> tuple[np.ndarray, float]:
    """``(G + G^T) / 2`` over the last two axes of ``(..., N, D, D)``, and the
    relative asymmetry ``max |G - G^T| / max |G|`` before it."""
    transposed = np.swapaxes(result, -1, -2)
    scale = float(np.abs(result).max()) if result.size else 0.0
    asymmetry = float(np.abs(result - transposed).max()) / scale if scale > 0 else 0.0
    return (0.5 * (result + transposed)).astype(result.dtype, copy=False), asymmetry


def _points_per_call(method: str, q: int, budget: int) -> int:
    """Path points per call for ``q`` Hessian rows each, within ``budget`` model rows.

    Tiled and Jacobian calls hold ``q`` model rows per point. The loop keeps one
    forward and backward pass per point and runs ``LOOP_PARALLEL`` reverse passes at a
    time, so a point costs about ``min(q, LOOP_PARALLEL + 2)`` model rows, plus its
    ``q`` Hessian rows of output (a model row's estimate holds at least four input-sized
    arrays, so ``q / 4`` rows bound them).
    """
    if method != "loop":
        return max(budget // q, 1)
    return max(budget // (min(q, LOOP_PARALLEL + 2) + -(-q // 4)), 1)


def _hessian_rows_per_call(r: int, budget: int) -> int:
    """Hessian rows per call ``q``, splitting the ``r`` rows in ``k`` equal parts so
    that ``q * (budget // q)`` model rows fill the budget: the smallest ``k`` (fewest
    calls) unless a larger one fills at least 5% more of it."""
    best_q, best_rows = 1, 0
    for k in range(-(-r // budget), min(r, 64) + 1):
        q = -(-r // k)
        rows = q * (budget // q)
        if q <= budget and rows > 1.05 * best_rows:
            best_q, best_rows = q, rows
    return best_q


def _is_non_recurrent_keras(model) -> bool:
    """True for a Keras model or layer without recurrent layers anywhere inside."""
    walk = getattr(model, "_flatten_layers", None)
    if not isinstance(model, keras.layers.Layer) or walk is None:
        return False  # unknown structure: the method that traces fast for anything
    # _flatten_layers walks nested models and wrappers (e.g. Bidirectional's RNNs).
    return not any(
        isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)
        for layer in walk(include_self=True, recursive=True)
    )


def _flat_position(index, x_shape) -> int:
    """Validate an input position (int or tuple) and return its flat index."""
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        if len(x_shape) != 1:
            raise ValueError(
                f"`interaction_index` must be an index tuple of length {len(x_shape)} "
                f"such as (t, f) for inputs of shape (N, {', '.join(map(str, x_shape))}); "
                f"got the int {index}."
            )
        index = (index,)
    try:
        index = tuple(int(i) for i in index)
    except TypeError:
        raise TypeError(
            f"`interaction_index` must be an int or a tuple of ints, got {index!r}."
        ) from None
    if len(index) != len(x_shape):
        raise ValueError(
            f"`interaction_index` {index} has {len(index)} coordinate(s); inputs have "
            f"{len(x_shape)} non-batch axes (shape {x_shape})."
        )
    for axis, (i, size) in enumerate(zip(index, x_shape, strict=True)):
        if not 0 <= i < size:
            raise ValueError(
                f"`interaction_index` {index} is out of range on axis {axis + 1} of size {size}."
            )
    return int(np.ravel_multi_index(index, x_shape))


def _row_signature(x_shape, dtype):
    tf_dtype = tf.as_dtype(dtype)
    return [
        tf.TensorSpec((None,) + tuple(x_shape), tf_dtype),  # inputs
        tf.TensorSpec((None,) + tuple(x_shape), tf_dtype),  # baselines
        tf.TensorSpec((None,) + tuple(x_shape), tf.bool),  # cells of padded steps
        tf.TensorSpec((None,), tf.int32),  # input index per row
        tf.TensorSpec((None,), tf.int32),  # baseline index per row
        tf.TensorSpec((None,), tf_dtype),  # path position per row
        tf.TensorSpec((None,), tf_dtype),  # weight per row
        tf.TensorSpec((None,), tf.int32),  # target per row
        tf.TensorSpec((), tf.int32),  # first input index in the chunk
        tf.TensorSpec((), tf.int32),  # number of inputs in the chunk
    ]


def _per_row(values, x_shape):
    """Reshape a per-row vector ``(rows,)`` to broadcast against ``(rows, *x_shape)``."""
    return tf.reshape(values, [-1] + [1] * len(x_shape))


def _gather_path(x_all, b_all, frozen_all, input_index, baseline_index, alphas, x_shape):
    """Rows of (x - x', path point) for a chunk; the baseline takes the input's value
    on padded cells, so paths never change padding (and its attribution is zero)."""
    x = tf.gather(x_all, input_index)
    base = tf.where(tf.gather(frozen_all, input_index), x, tf.gather(b_all, baseline_index))
    delta = x - base
    return delta, base + _per_row(alphas, x_shape) * delta


def _gradient_rows(model_fn, x_shape, dtype):
    """Compiled: per-input sums of w * (x - x') * grad f(path point)."""

    @tf.function(input_signature=_row_signature(x_shape, dtype))
    def gradients(
        x_all, b_all, frozen_all, input_index, baseline_index, alphas, weights, target, first, n_seg
    ):
        delta, points = _gather_path(
            x_all, b_all, frozen_all, input_index, baseline_index, alphas, x_shape
        )
        with tf.GradientTape() as tape:
            tape.watch(points)
            y = select_output(tf.cast(model_fn(points), points.dtype), target)
        grads = tape.gradient(y, points)
        contributions = _per_row(weights, x_shape) * delta * grads
        return tf.math.unsorted_segment_sum(contributions, input_index - first, n_seg)

    return gradients


def _hessians_tiled(model_fn, points, target, rows, d):
    """Gradient ``(n, d)`` and Hessian rows ``(n, r, d)`` by tiled Hessian-vector products.

    Each path point is repeated once per requested row and one reverse-over-reverse
    pass gives every row at once. Traces in seconds for any model, recurrent ones
    included; costs about twice the FLOPs of a batch Jacobian (the forward and first
    backward pass run on every copy).
    """
    n = tf.shape(points)[0]
    r = tf.shape(rows)[0]
    # Copy u of the tiled batch is path point u // r with Hessian row rows[u % r].
    tiled = tf.repeat(points, r, axis=0)
    tangents = tf.one_hot(tf.tile(rows, [n]), d, dtype=points.dtype)
    with tf.GradientTape(watch_accessed_variables=False) as outer:
        outer.watch(tiled)
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(tiled)
            y = select_output(tf.cast(model_fn(tiled), tiled.dtype), tf.repeat(target, r))
        grads = tf.reshape(inner.gradient(y, tiled), [n * r, d])
        picked = tf.reduce_sum(grads * tangents, axis=1)
    # A model linear in its input has no second derivative: zeros, not None.
    hess = outer.gradient(picked, tiled, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return tf.reshape(grads, [n, r, d])[:, 0, :], tf.reshape(hess, [n, r, d])


def _hessians_jacobian(model_fn, points, target, rows, d, use_pfor: bool = True):
    """Gradient ``(n, d)`` and Hessian rows ``(n, r, d)`` by a batch Jacobian of the
    gradient: the forward and first backward pass once per path point, then one
    reverse pass per Hessian row for all points at once.

    With ``use_pfor`` pfor vectorises those reverse passes: fast for Dense and Conv1D
    models, but tracing it takes 35-45 s for any Keras LSTM or GRU on 2 CPU cores (pfor
    rewrites the recurrent while loop's double gradient). Without it (the "loop"
    route) a compiled while loop runs
    them, ``LOOP_PARALLEL`` at a time, over a persistent tape: traces in seconds for
    any model.
    """
    n = tf.shape(points)[0]
    with tf.GradientTape(persistent=not use_pfor, watch_accessed_variables=False) as outer:
        outer.watch(points)
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(points)
            y = select_output(tf.cast(model_fn(points), points.dtype), target)
        grads = tf.reshape(inner.gradient(y, points), [n, d])
        grad_rows = tf.gather(grads, rows, axis=1)
    hess = outer.batch_jacobian(
        grad_rows,
        points,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
        parallel_iterations=None if use_pfor else LOOP_PARALLEL,
        experimental_use_pfor=use_pfor,
    )
    return grads, tf.reshape(hess, [n, -1, d])


def _hessians_loop(model_fn, points, target, rows, d):
    """The "loop" route: :func:`_hessians_jacobian` without pfor."""
    return _hessians_jacobian(model_fn, points, target, rows, d, use_pfor=False)


def _hessian_rows(model_fn, x_shape, dtype, method):
    """Compiled: per-input sums of the interaction rows listed in ``rows``.

    For a row position i and every j:
    w * (s * d_i * d_j * H_ij(p) + [i == j] * d_i * g_i(p)), d = x - x'.
    ``method`` is "loop", "tiled" or "jacobian" (see the three helpers above).
    """
    d = int(np.prod(x_shape))
    signature = _row_signature(x_shape, dtype) + [tf.TensorSpec((None,), tf.int32)]
    hessian_fn = {
        "loop": _hessians_loop,
        "tiled": _hessians_tiled,
        "jacobian": _hessians_jacobian,
    }[method]

    @tf.function(input_signature=signature)
    def hessians(
        x_all,
        b_all,
        frozen_all,
        input_index,
        baseline_index,
        alphas,
        weights,
        target,
        first,
        n_seg,
        rows,
    ):
        delta, points = _gather_path(
            x_all, b_all, frozen_all, input_index, baseline_index, alphas, x_shape
        )
        grads, hess = hessian_fn(model_fn, points, target, rows, d)
        delta = tf.reshape(delta, [-1, d])
        delta_rows = tf.gather(delta, rows, axis=1)
        second = (
            (weights * alphas)[:, None, None] * delta_rows[:, :, None] * delta[:, None, :] * hess
        )
        main_effect = (weights[:, None] * delta * grads)[:, None, :]
        main = tf.one_hot(rows, d, dtype=delta.dtype)[None] * main_effect
        return tf.math.unsorted_segment_sum(second + main, input_index - first, n_seg)

    return hessians


class EmbeddingExplainerTF(PathExplainerTF):
    """Path explanations for token models, summed over the embedding axis.

    ``model`` maps *embedded* sequences ``(rows, T, E)`` (the output of the
    Embedding layer) to outputs; the inputs and baselines passed here are embedded
    sequences too. Attributions and interactions are those of
    :class:`PathExplainerTF` summed over the last (embedding) axis, so that each
    token gets one value.

    Returns:
        ``attributions``: ``(N, T)``. ``interactions``: ``(N, T, T)``, or ``(N, T)``
        with ``interaction_index=t`` (an int, the token position), equal to the
        slice ``[:, t, :]`` of the full matrix.
    """

    def attributions(self, inputs, baseline, *args, **kwargs) -> np.ndarray:
        """:meth:`PathExplainerTF.attributions` summed over the embedding axis: ``(N, T)``.

        ``inputs`` ``(N, T, E)`` and ``baseline`` are embedded sequences; the other
        arguments are those of :meth:`PathExplainerTF.attributions`.
        """
        return super().attributions(inputs, baseline, *args, **kwargs).sum(axis=-1)

    @staticmethod
    def _interaction_rows(interaction_index, x_shape) -> np.ndarray:
        if len(x_shape) != 2:
            raise ValueError(
                f"EmbeddingExplainerTF expects embedded inputs (N, T, E); got per-input "
                f"shape {x_shape}."
            )
        if interaction_index is not None and (
            isinstance(interaction_index, bool)
            or not isinstance(interaction_index, numbers.Integral)
        ):
            raise TypeError(
                f"`interaction_index` must be a token position (int), got {interaction_index!r}."
            )
        t, e = x_shape
        if interaction_index is None:
            return np.arange(t * e, dtype=np.int32)
        if not 0 <= interaction_index < t:
            raise ValueError(
                f"`interaction_index` {interaction_index} is out of range for {t} tokens."
            )
        return (interaction_index * e + np.arange(e)).astype(np.int32)

    def _shape_interactions(self, result, plan, interaction_index):
        lead = result.shape[:-2]
        t, e = plan.x_shape
        if interaction_index is None:  # (..., N, T*E, T*E) -> (..., N, T, T)
            full = result.reshape(lead + (t, e, t, e))
            return full.sum(axis=(-3, -1))
        # (..., N, E, T*E): sum the E rows of the token and the embedding columns
        return result.reshape(lead + (e, t, e)).sum(axis=(-3, -1))


def split_embedding(model) -> tuple:
    """Split a token model into its embedding and the rest, for EmbeddingExplainerTF.

    ``model``: a ``keras.Sequential`` whose first layer is an ``Embedding`` (token ids
    ``(N, T)`` -> ``(N, T, E)``), e.g. ``Embedding(V, E, mask_zero=True)``, LSTM,
    Dense. Returns ``(embed, head)``:

    - ``embed(token_ids) -> embedded (N, T, E) float32``; with ``mask_zero=True`` the
      vectors of padding tokens (id 0) are set to 0.
    - ``head``: a Keras model of the embedded sequences made of the model's other
      layers (the same layer objects, so the same weights). With ``mask_zero=True`` it
      starts with ``Masking(0.0)``, so the head masks padding as the whole model does
      (a head built from the layers alone would read padding as data) and every
      explainer finds the padding on its own: padded tokens get exactly zero
      attribution. ``head(embed(ids))`` equals ``model(ids)``.

    Example::

        embed, head = split_embedding(model)
        x = embed(token_ids)
        phi = EmbeddingExplainerTF(head).attributions(x, np.zeros(x.shape[1:]), ...)

    Raises:
        TypeError: ``model`` is not a Sequential model starting with an Embedding.
    """
    layers = list(getattr(model, "layers", []))
    if not isinstance(model, keras.Sequential) or not layers:
        raise TypeError(
            "`model` must be a keras.Sequential token model starting with an Embedding "
            f"layer. Received: {type(model).__name__}."
        )
    embedding = layers[0]
    if not isinstance(embedding, keras.layers.Embedding):
        raise TypeError(
            "The first layer of `model` must be an Embedding (token ids -> vectors). "
            f"Received: {type(embedding).__name__}."
        )
    mask_zero = bool(embedding.mask_zero)
    steps = model.inputs[0].shape[1] if getattr(model, "inputs", None) else None
    dim = int(embedding.output_dim)

    def embed(token_ids) -> np.ndarray:
        ids = np.asarray(token_ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"`token_ids` must be integer ids of shape (N, T). Received: shape "
                f"{ids.shape}, dtype {ids.dtype}."
            )
        vectors = np.asarray(embedding(ids), np.float32)
        if mask_zero:
            vectors = np.where((ids != 0)[:, :, None], vectors, np.float32(0.0))
        return vectors

    head_layers = [keras.Input((steps, dim))]
    if mask_zero:
        head_layers.append(keras.layers.Masking(0.0))
    head = keras.Sequential(head_layers + layers[1:])
    return embed, head
