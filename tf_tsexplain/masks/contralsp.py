"""``ContraLSP``: contrastive counterfactuals and sparse, smooth gates (Liu et al., ICLR 2024).

Like :class:`~tf_tsexplain.masks.ExtremalMask`, ContraLSP learns the values that replace
the cells a mask drops, ``x^r = NN(x)``, together with the mask; it differs in how both
are shaped:

- **Counterfactual perturbations, trained contrastively.** Within the series fitted
  together, the counterfactuals ``x^r_n`` are split in two clusters (k-means, 2 centres,
  on their current values); a triplet term pulls each counterfactual towards the
  counterfactuals of the *other* cluster and away from those of its own (the reference's
  preservation-mode hinge, margin ``b``)::

      L_cntr(n) = mean |x^r_n| + max(0, d(x^r_n, negatives) - d(x^r_n, positives) - b)

  with ``d`` the mean L1 distance per cell to the members of a cluster.
- **Sample-specific sparse gates with a temporal trend.** Each series has its own gate
  parameters ``mu`` (``(T, F)``, started at 0.5 + ``based`` = 1). A small network per
  feature (an MLP ``T -> 32 -> T`` over the feature's whole series) gives the trend
  ``tau(x)``, and the mask is the smooth, hard-clipped gate::

      m = clip(g * sigmoid(g * tau(x)), 0, 1),   g = mu + based + sigma * eps

  with Gaussian noise ``eps`` during the fit only (stochastic gates). The sparsity
  penalty is the expected number of open gates, ``mean Phi(g0 * sigmoid(g0 tau) / sigma)``
  (``g0 = mu + based``, ``Phi`` the normal CDF: the erf-based L0 proxy).

The objective, per series, with ``x' = m x + (1 - m) x^r`` (preserve) or
``x' = (1 - m) x + m x^r`` and a maximised error (deletion)::

    error(f(x'), target) + lambda_1 * mean Phi(...) + lambda_2 * L_cntr

minimised with Adam (``learning_rate``) over ``mu``, the counterfactual network and the
trend networks. Defaults are the reference code's: 500 epochs, Adam 0.01, ``lambda_1 =
lambda_2 = 1``, ``sigma = 0.5``, ``based = 0.5``, margin 1, a bidirectional GRU with F
units followed by a linear map as the counterfactual network.

**Explain logits, not probabilities.** The reference explains its classifiers' raw
outputs, which are logits (tint's classifiers end in a linear layer), and compares them
with mse; ``lambda_1 = 1`` is set for errors on that scale. On softmax probabilities the
error of dropping a cell is an order of magnitude smaller than the sparsity penalty and
the gates close almost everywhere: on Switch-Feature with a small GRU, mask area 0.001
and AUROC 0.28 on probabilities against area 0.31, AUROC 0.93, AUP 0.90, AUR 0.82 on the
same model's logits (``examples/benchmarks/diag_contralsp_switch.py``). Pass ``f``
returning logits (e.g. the classifier without its softmax), or raise the error's scale
relative to ``lambda_1``.

Differences from the reference implementation, and why:

- The reference computes its triplet hinge on detached NumPy copies, so only its
  ``mean |x^r|`` term trains the network; here the hinge is differentiated as the paper
  writes it (``margin=None`` turns it off and keeps only ``mean |x^r|``, the reference's
  effective gradient).
- The reference samples ``n/5 + 1`` positives (at most 50) nearest the cluster's anchor
  and as many random negatives; here every series is an anchor and its distances are
  means over all members of each cluster (deterministic, no sampling).
- k-means runs in the compiled loop (10 Lloyd steps from the two farthest points) instead
  of scikit-learn, so the whole fit stays one ``tf.function``.

The counterfactual network, the trend networks and the clusters are shared by the series
fitted together (``batch_size`` series, all by default up to 256), as in the reference,
which fits every test series at once: unlike ExtremalMask's default, a series' mask
depends on the series it is fitted with. Chunks start from the same initial weights.

Padding (``padding_mask`` or the model's ``Masking`` layer) is handled as by
ExtremalMask: padded cells are never perturbed, are zeroed before the networks see
them, are left out of every penalty, and hold mask value 0 in the results.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tf_tsexplain._batching import Progress, chunks, rows_per_call
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._model import as_model_fn, check_differentiable, probe_output, row_bytes
from tf_tsexplain._structure import is_structured
from tf_tsexplain._targets import resolve_output_indices, select_output
from tf_tsexplain._validation import (
    as_float_array,
    check_batch_size,
    check_int,
    check_real,
    check_seed,
    check_verbose,
)
from tf_tsexplain.masks._compile import Choice, check_finite, run_fit
from tf_tsexplain.masks._fit import check_probabilities, resolve_target
from tf_tsexplain.masks._inputs import explained_inputs
from tf_tsexplain.masks._series import batch_function
from tf_tsexplain.masks.base import FittedMasks
from tf_tsexplain.masks.extremal import LearnedPerturbation
from tf_tsexplain.masks.losses import PROBABILITY_LOSSES, cross_entropy, log_loss_target, mse
from tf_tsexplain.masks.mask import Mask

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
_TREND_UNITS = 32  # the reference's hidden width of each feature's trend MLP
_KMEANS_STEPS = 10
MAX_SERIES_PER_CHUNK = 256  # the triplet term compares every pair of a chunk


def counterfactual_network(n_features: int, seed: int | None = None) -> keras.Model:
    """The reference's counterfactual network: a bidirectional GRU with ``F`` units per
    direction, then a per-step linear map back to ``F`` features.

    Args:
        n_features: F (>= 1).
        seed: None or an int >= 0 for the initial weights.

    Returns:
        A Keras model mapping ``(B, T, F)`` to ``(B, T, F)``.
    """
    n_features = check_int(n_features, "n_features", min_val=1)
    seed = check_seed(seed)
    init = keras.initializers

    def glorot(k):
        return init.GlorotUniform(seed=None if seed is None else seed + k)

    gru = keras.layers.GRU(
        n_features,
        return_sequences=True,
        kernel_initializer=glorot(0),
        recurrent_initializer=init.Orthogonal(seed=None if seed is None else seed + 1),
    )
    return keras.Sequential(
        [
            keras.Input((None, n_features)),
            keras.layers.Bidirectional(gru),
            keras.layers.Dense(n_features, kernel_initializer=glorot(2)),
        ]
    )


class ContraLSP(Mask):
    """ContraLSP: counterfactual perturbations learned contrastively, sparse smooth gates.

    See the module docstring for the objective and the differences from the reference.
    Results follow :class:`Mask` and :class:`ExtremalMask`: ``mask_tensor`` (``(T, F)``
    or ``(N, T, F)``, in [0, 1], 1 = salient), ``get_error()``, ``keep_ratio`` (the mean
    mask over real cells), ``X``, ``target``, ``loss_function``, ``get_smooth_mask``,
    ``extract_submask``, ``get_information``, ``get_entropy``, ``plot_mask`` and
    ``replacement`` (the learned counterfactuals ``x^r``). Before ``fit`` each raises
    :class:`tf_tsexplain._validation.NotFittedError`.

    Args:
        perturbation_network: None (default): :func:`counterfactual_network` (a
            bidirectional GRU and a linear map, seeded by ``fit(seed=...)``). Or a Keras
            layer / model mapping ``(B, T, F)`` to ``(B, T, F)``; it is shared by the
            series of a chunk and reset to its initial weights for each chunk.
        deletion_mode: learn the cells whose replacement destroys the prediction
            (``x' = (1 - m) x + m x^r``, error maximised) instead of those that keep it.
        task: "regression" or "classification" (the log losses need the latter).
        eps: > 0, the default of ``get_information``.
        jit_compile: True (XLA), False (no XLA) or "auto" (default), chosen as for
            :class:`Mask`: without a GPU the loop runs without XLA (on 2 CPU cores a
            GRU(200) State fit was 1.22x slower with XLA, ``bench_extremal.py --part
            speed``); with one, both modes are timed on the first chunk and the faster
            is kept for the loop's later fits (``tf_tsexplain.masks._compile``). The
            choice of the last fit is ``compilation``.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: a wrong value.
    """

    def __init__(
        self,
        perturbation_network=None,
        *,
        deletion_mode: bool = False,
        task: str = "regression",
        eps: float = 1e-7,
        jit_compile: bool | str = "auto",
    ):
        if perturbation_network is not None and not isinstance(
            perturbation_network, keras.layers.Layer
        ):
            raise TypeError(
                "`perturbation_network` must be None (the default bidirectional GRU) or a "
                "Keras layer or model mapping (B, T, F) to (B, T, F). Received: "
                f"perturbation_network={perturbation_network!r} "
                f"({type(perturbation_network).__name__})."
            )
        super().__init__(
            LearnedPerturbation(perturbation_network or (lambda x: x)),
            task=task,
            deletion_mode=deletion_mode,
            eps=eps,
            jit_compile=jit_compile,
        )
        self.perturbation_network = perturbation_network
        self._loops: dict = {}
        self._replacement = None

    def fit(
        self,
        X,
        f,
        loss_function=mse,
        target=None,
        n_epoch: int = 500,
        learning_rate: float = 0.01,
        lambda_1: float = 1.0,
        lambda_2: float = 1.0,
        sigma: float = 0.5,
        based: float = 0.5,
        margin: float | None = 1.0,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        output_indices=None,
        padding_mask=None,
        f_input: str = "auto",
    ) -> ContraLSP:
        """Fit the gates, the counterfactual network and the trend networks.

        Args:
            X: one series ``(T, F)`` or a batch ``(N, T, F)`` (one sequence input).
            f: a Keras model or a callable (TensorFlow ops) called on batches of
                perturbed series (rows must not interact); a one-series black box is
                accepted as by :meth:`Mask.fit` (``f_input``). For a classifier, give its
                logits, as the reference does (on probabilities the default
                ``lambda_1`` closes almost every gate; see the module docstring).
            loss_function: ``mse`` (default, the reference's), ``cross_entropy``,
                ``log_loss``, ``log_loss_target`` or a callable with the per-row contract
                of ``tf_tsexplain.masks.losses``.
            target: what the perturbed predictions are compared with, shaped like the
                (chosen) outputs; default ``f(X)``.
            n_epoch: Adam steps (>= 1).
            learning_rate: Adam's step size (> 0).
            lambda_1: weight (>= 0) of the gates' sparsity (expected open gates).
            lambda_2: weight (>= 0) of the contrastive term ``L_cntr``.
            sigma: > 0, the gates' noise scale during the fit (and of the penalty's
                normal CDF). The reference uses 0.5 on State, 0.8 on Switch-Feature.
            based: the offset added to the gate parameters (the reference: 0.5).
            margin: the triplet margin (>= 0), or None for no triplet hinge (only
                ``mean |x^r|``, the reference's effective gradient).
            batch_size: series fitted together (they share the networks and the
                clusters); None: all series up to 256, within the memory budget.
            seed: None or an int >= 0: initial weights and the gates' noise.
            verbose: a progress bar over epochs.
            output_indices: None (the loss sees ``f``'s whole output, e.g. every step
                of a per-step classifier) or the package's ``output_indices``.
            padding_mask: None or ``(N, T)`` booleans, True on real steps (``(T,)`` for
                one series); None: the model's own ``Masking`` layer, if any.
            f_input: "auto", "batch" or "series", as for :meth:`Mask.fit`.

        Returns:
            ``self``.

        Raises:
            TypeError: an argument of the wrong kind (e.g. a dict of inputs).
            ValueError: a wrong value or shape (named, with what was received), or the
                objective becoming NaN or Inf during the fit (epoch and series named).
        """
        n_epoch = check_int(n_epoch, "n_epoch", min_val=1)
        learning_rate = check_real(learning_rate, "learning_rate", min_val=0.0, include_min=False)
        lambda_1 = check_real(lambda_1, "lambda_1", min_val=0.0)
        lambda_2 = check_real(lambda_2, "lambda_2", min_val=0.0)
        sigma = check_real(sigma, "sigma", min_val=0.0, include_min=False)
        based = check_real(based, "based")
        if margin is not None:
            margin = check_real(margin, "margin", min_val=0.0)
        batch_size = check_batch_size(batch_size)
        seed = check_seed(seed)
        verbose = check_verbose(verbose)
        if not callable(loss_function):
            raise TypeError(
                f"`loss_function` must be callable. Received: loss_function={loss_function!r}."
            )
        if is_structured(X, f):
            raise TypeError(
                "ContraLSP explains one sequence input: `X` must be one array (T, F) or "
                f"(N, T, F). Received: X of type {type(X).__name__} holding several arrays."
            )
        inputs = explained_inputs(X, f, padding_mask=padding_mask)  # the masks' one parser
        x, single = inputs.x, inputs.single
        n, t, nf = x.shape
        padding = np.ones((n, t), bool) if inputs.real is None else inputs.real
        model_fn, _ = batch_function(as_model_fn(f), x, single, f_input)
        try:
            out_shape = probe_output(model_fn, x)
        except ValueError as err:
            raise ValueError(f"`f`: {err}") from None
        y = np.asarray(model_fn(tf.constant(x)))
        picks = None
        if output_indices is not None:
            if loss_function in (cross_entropy, log_loss_target):
                raise ValueError(
                    f"`loss_function={loss_function.__name__}` compares class probabilities, "
                    "but output_indices reduces the outputs of `f` to one value per row: use "
                    f"mse or log_loss. Received: output_indices={output_indices!r}."
                )
            outputs = y
            resolved = resolve_output_indices(output_indices, out_shape, n, predict=lambda: outputs)
            picks = resolved[0][0]
            y = np.asarray(select_output(tf.constant(y), tf.constant(picks)))
        if loss_function in PROBABILITY_LOSSES:
            check_probabilities(y, loss_function, self.task)
        target = resolve_target(target, y, loss_function, single)
        errors = np.asarray(loss_function(tf.constant(y), tf.constant(target)))
        if errors.shape != (n,):
            raise ValueError(
                f"`loss_function` must return one error per row (shape ({n},)), got shape "
                f"{errors.shape}; see tf_tsexplain.masks.losses for the contract."
            )
        try:
            check_differentiable(model_fn, x)
        except ValueError as err:
            raise ValueError(f"`f`: {err}") from None
        budget_rows = rows_per_call(batch_size, row_bytes(f, (t, nf), 4, order=1))
        rows = min(
            n, budget_rows if batch_size is not None else min(budget_rows, MAX_SERIES_PER_CHUNK)
        )
        rows = max(rows, 1)
        loop = self._loop(
            f, model_fn, loss_function, (rows, t, nf), target, picks is not None, seed
        )
        loop.initialise(seed)  # the seed's initial weights (the compiled loop is reused)
        noise_seed = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
        hyper = tf.constant(
            [
                learning_rate,
                lambda_1,
                lambda_2,
                sigma,
                based,
                0.0 if margin is None else margin,
                0.0 if margin is None else 1.0,
            ],
            tf.float32,
        )
        masks = np.empty((n, t, nf), np.float32)
        replacement = np.empty((n, t, nf), np.float32)
        final_errors = np.empty(n, np.float32)
        progress = Progress(n_epoch * math.ceil(n / rows), verbose, unit="epochs")
        pick_all = np.zeros(n, np.int32) if picks is None else np.asarray(picks, np.int32)
        for start, stop in chunks(n, rows):
            take = np.r_[np.arange(start, stop), np.full(rows - (stop - start), start)]
            live = (np.arange(rows) < stop - start).astype(np.float32)
            m, r, err = loop.run(
                x[take],
                padding[take].astype(np.float32),
                live,
                target[take],
                pick_all[take],
                hyper,
                noise_seed,
                n_epoch=n_epoch,
                verbose=verbose,
                progress=progress,
                first_series=start,
            )
            k = stop - start
            masks[start:stop], replacement[start:stop], final_errors[start:stop] = (
                m[:k],
                r[:k],
                err[:k],
            )
        self._fitted = FittedMasks(
            masks=masks[None],
            errors=final_errors[None],
            x=x,
            target=target,
            single=single,
            loss_function=loss_function,
            real=None if padding.all() else padding,
        )
        self._replacement = replacement
        self._compilation = loop.last_choice
        area = (masks * padding[..., None]).sum(axis=(1, 2)) / (padding.sum(axis=1) * nf)
        self._keep_ratio = float(area[0]) if single else area
        return self

    # -------------------------------------------------------------------- helpers
    def _loop(self, f, model_fn, loss_function, shape, target, select, seed):
        key = (
            id(f),
            id(loss_function),
            shape,
            tuple(np.shape(target)[1:]),
            np.asarray(target).dtype.str,
            bool(select),
        )
        loop = self._loops.get(key)
        if loop is None:
            network = self.perturbation_network
            if network is None:
                network = counterfactual_network(shape[2], seed)
            loop = _ContraLoop(
                (f, loss_function),
                model_fn,
                network,
                loss_function,
                shape,
                deletion_mode=self.deletion_mode,
                select=select,
                jit_compile=self.jit_compile,
                default_network=self.perturbation_network is None,
            )
            while len(self._loops) >= 4:  # the loops of the last shapes fitted
                self._loops.pop(next(iter(self._loops)))
            self._loops[key] = loop
        return loop

    # -------------------------------------------------------------------- results
    @property
    def replacement(self) -> np.ndarray:
        """The learned counterfactuals ``x^r``, shaped as ``mask_tensor``."""
        self._state()
        return self._squeeze(self._replacement, 0)

    def plot_mask(self, sample: int = 0, *args, title: str | None = None, **kwargs):
        """Heatmap of the mask, as :meth:`Mask.plot_mask`; returns ``(figure, axes)``."""
        if title is None:
            area = np.ravel(self.keep_ratio)
            title = f"ContraLSP mask (area {area[sample if area.size > 1 else 0]:.3g})"
        return super().plot_mask(sample, *args, title=title, **kwargs)


def _variables(network) -> list:
    found = getattr(network, "trainable_variables", None) or []
    return [getattr(v, "value", v) for v in found]


def two_means(points, weights, steps: int = _KMEANS_STEPS):
    """Cluster labels (``(B,)`` int32, 0 or 1) of ``points`` (``(B, D)``) by k-means.

    Lloyd's algorithm from the two farthest points (the point farthest from the weighted
    mean, then the point farthest from it); rows of weight 0 take part in nothing.
    """
    w = weights[:, None]
    mean = tf.reduce_sum(points * w, 0) / tf.maximum(tf.reduce_sum(w), 1.0)
    far = tf.reduce_sum(tf.square(points - mean), 1) - 1e30 * (1.0 - weights)
    first = points[tf.argmax(far)]
    far2 = tf.reduce_sum(tf.square(points - first), 1) - 1e30 * (1.0 - weights)
    centres = tf.stack([first, points[tf.argmax(far2)]])  # (2, D)
    for _ in range(steps):
        dist = tf.reduce_sum(tf.square(points[:, None] - centres[None]), -1)  # (B, 2)
        onehot = tf.one_hot(tf.argmin(dist, 1), 2) * w  # (B, 2)
        count = tf.reduce_sum(onehot, 0)[:, None]
        moved = tf.matmul(onehot, points, transpose_a=True) / tf.maximum(count, 1.0)
        centres = tf.where(count > 0, moved, centres)
    dist = tf.reduce_sum(tf.square(points[:, None] - centres[None]), -1)
    return tf.argmin(dist, 1, output_type=tf.int32)


def triplet_hinge(counterfactuals, weights, margin):
    """Per row, ``max(0, d(r_n, other cluster) - d(r_n, own cluster) - margin)``.

    ``counterfactuals``: ``(B, D)``; ``weights``: ``(B,)``, 1 on rows that take part;
    ``d`` = mean L1 distance per cell to the (weighted) members of a cluster. A row
    whose own cluster has no other member, or whose other cluster is empty, gets 0.
    """
    labels = two_means(tf.stop_gradient(counterfactuals), weights)
    d = tf.cast(tf.shape(counterfactuals)[1], counterfactuals.dtype)
    dist = tf.reduce_sum(tf.abs(counterfactuals[:, None] - counterfactuals[None]), -1) / d
    same = tf.cast(labels[:, None] == labels[None], dist.dtype) * weights[None]
    same = same * (1.0 - tf.eye(tf.shape(dist)[0], dtype=dist.dtype))
    other = tf.cast(labels[:, None] != labels[None], dist.dtype) * weights[None]
    n_same, n_other = tf.reduce_sum(same, 1), tf.reduce_sum(other, 1)
    d_pos = tf.reduce_sum(dist * same, 1) / tf.maximum(n_same, 1.0)
    d_neg = tf.reduce_sum(dist * other, 1) / tf.maximum(n_other, 1.0)
    both = tf.cast((n_same > 0) & (n_other > 0), dist.dtype)
    return both * tf.nn.relu(d_neg - d_pos - margin)


class _ContraLoop:
    """Variables and the compiled epoch loop for one chunk shape ``(B, T, F)``."""

    def __init__(
        self, refs, model_fn, network, loss_function, shape, *, deletion_mode, select,
        jit_compile, default_network,
    ):  # fmt: skip
        self.refs = refs  # keep the objects of the cache key alive
        self.model_fn = model_fn
        self.network = network
        self.loss_function = loss_function
        self.shape = shape
        self.deletion_mode = bool(deletion_mode)
        self.select = bool(select)
        b, t, nf = shape
        self.default_network = bool(default_network)
        network(tf.zeros(shape))  # builds the weights outside the compiled loop
        self.trend = [
            tf.Variable(tf.zeros((nf, t, _TREND_UNITS))),
            tf.Variable(tf.zeros((nf, _TREND_UNITS))),
            tf.Variable(tf.zeros((nf, _TREND_UNITS, t))),
            tf.Variable(tf.zeros((nf, t))),
        ]
        self.net_vars = _variables(network)
        self.trained = self.net_vars + self.trend
        self.network_initial = [v.numpy().copy() for v in self.net_vars]
        self.initial = None
        self.mu = tf.Variable(tf.zeros(shape))
        self.params = [self.mu] + self.trained
        self.slots = [
            (tf.Variable(tf.zeros_like(p), trainable=False), tf.Variable(tf.zeros_like(p)))
            for p in self.params
        ]
        self.step = tf.Variable(0, dtype=tf.int32, trainable=False)
        self.bad = tf.Variable([-1, -1], dtype=tf.int32, trainable=False)  # epoch, row
        self._epochs = {}  # one tf.function per mode (XLA or not)
        self.choice = None if jit_compile == "auto" else Choice(bool(jit_compile), reason="set")
        self.last_choice = self.choice

    def initialise(self, seed) -> None:
        """The initial weights of a fit with ``seed``: the trend MLPs (Glorot-uniform
        weights, zero biases) and, for the default network, a fresh
        :func:`counterfactual_network` of that seed (a given network keeps its own)."""
        _, t, nf = self.shape
        rng = np.random.default_rng(seed)
        limit = math.sqrt(6.0 / (t + _TREND_UNITS))
        trend = [
            rng.uniform(-limit, limit, (nf, t, _TREND_UNITS)).astype(np.float32),
            np.zeros((nf, _TREND_UNITS), np.float32),
            rng.uniform(-limit, limit, (nf, _TREND_UNITS, t)).astype(np.float32),
            np.zeros((nf, t), np.float32),
        ]
        network = self.network_initial
        if self.default_network:
            fresh = counterfactual_network(nf, seed)
            fresh(tf.zeros((1, t, nf)))
            network = [np.asarray(v) for v in _variables(fresh)]
        self.initial = network + trend

    def _trend(self, x):
        """``tau(x)`` ``(B, T, F)``: each feature's series through its own MLP."""
        w1, b1, w2, b2 = self.trend
        hidden = tf.nn.relu(tf.einsum("btf,fth->bfh", x, w1) + b1[None])
        return tf.einsum("bfh,fht->btf", hidden, w2) + tf.transpose(b2)[None]

    def _parts(self, x, real, live, target, picks, hyper, noise):
        """Per-row (total objective, error), the mask and the counterfactuals."""
        lam1, lam2, sigma, based, margin, use_hinge = (hyper[i] for i in range(1, 7))
        cells = real[..., None] * tf.ones_like(x)  # 1 on real cells
        seen = x * cells  # padded steps zeroed before the networks
        replacement = tf.cast(self.network(seen), x.dtype)
        trend = self._trend(seen)
        g0 = self.mu + based
        g = g0 + sigma * noise
        gate = g * tf.sigmoid(g * trend)
        m = cells * tf.clip_by_value(gate, 0.0, 1.0) + (1.0 - cells)  # keep padded cells
        keep = 1.0 - m if self.deletion_mode else m
        if self.deletion_mode:
            keep = cells * keep + (1.0 - cells)
        y = self.model_fn(keep * x + (1.0 - keep) * replacement)
        if self.select:
            y = select_output(y, picks)
        error = self.loss_function(y, target)
        n_cells = tf.reduce_sum(cells, axis=(1, 2))
        smooth = g0 * tf.sigmoid(g0 * trend)
        open_gates = 0.5 + 0.5 * tf.math.erf(smooth / (sigma * math.sqrt(2.0)))
        sparsity = tf.reduce_sum(open_gates * cells, axis=(1, 2)) / n_cells
        flat = tf.reshape(replacement * cells, (self.shape[0], -1))
        size = tf.reduce_sum(tf.abs(replacement) * cells, axis=(1, 2)) / n_cells
        hinge = use_hinge * triplet_hinge(flat, live, margin)
        signed = -error if self.deletion_mode else error  # deletion: maximise the error
        total = signed + lam1 * sparsity + lam2 * (size + hinge)
        mask = cells * tf.clip_by_value(smooth, 0.0, 1.0)
        return total, error, mask, replacement

    def _function(self, xla: bool):
        if xla in self._epochs:
            return self._epochs[xla]

        def run_epochs(x, real, live, target, picks, hyper, noise_seed, count):
            lr = hyper[0]
            i = tf.constant(0)
            while tf.logical_and(i < count, self.bad[0] < 0):
                noise = tf.random.stateless_normal(
                    self.shape, tf.stack([noise_seed, self.step]), dtype=tf.float32
                )
                with tf.GradientTape() as tape:
                    total, _, _, _ = self._parts(x, real, live, target, picks, hyper, noise)
                    objective = tf.reduce_sum(live * total) / tf.reduce_sum(live)
                finite = tf.math.is_finite(total) | (live == 0.0)
                first = tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int32)
                self.bad.assign(
                    tf.where(tf.reduce_all(finite), self.bad, tf.stack([self.step + 1, first]))
                )
                grads = tape.gradient(objective, self.params)
                self.step.assign_add(1)
                step = tf.cast(self.step, tf.float32)
                fix1 = 1.0 - tf.pow(_BETA1, step)
                fix2 = 1.0 - tf.pow(_BETA2, step)
                for param, grad, (first_m, second_m) in zip(
                    self.params, grads, self.slots, strict=True
                ):
                    if grad is None:  # a weight the objective does not use
                        continue
                    first_m.assign(_BETA1 * first_m + (1.0 - _BETA1) * grad)
                    second_m.assign(_BETA2 * second_m + (1.0 - _BETA2) * tf.square(grad))
                    param.assign_sub(lr * (first_m / fix1) / (tf.sqrt(second_m / fix2) + _ADAM_EPS))
                i += 1
            return i

        self._epochs[xla] = tf.function(run_epochs, jit_compile=bool(xla))
        return self._epochs[xla]

    def _reset(self) -> None:
        self.mu.assign(tf.fill(self.shape, 0.5))  # the reference's start: 0.5 (+ based)
        for var, value in zip(self.trained, self.initial, strict=True):
            var.assign(value)
        for first_m, second_m in self.slots:
            first_m.assign(tf.zeros_like(first_m))
            second_m.assign(tf.zeros_like(second_m))
        self.step.assign(0)
        self.bad.assign([-1, -1])

    def run(
        self, x, real, live, target, picks, hyper, noise_seed, *, n_epoch, verbose, progress,
        first_series,
    ):  # fmt: skip
        args = (
            tf.constant(x),
            tf.constant(real),
            tf.constant(live),
            tf.constant(target),
            tf.constant(picks),
            hyper,
            tf.constant(noise_seed, tf.int32),
        )
        self._reset()

        def runner(xla: bool):
            def run(count: int) -> None:
                self._function(xla)(*args, tf.constant(count, tf.int32))
                check_finite(self.bad, "ContraLSP", n_epoch, first_series)

            return run

        variables = [*self.params, self.step, self.bad]
        variables += [slot for pair in self.slots for slot in pair]

        def save():
            return [v.numpy() for v in variables]

        def restore(state) -> None:
            for var, value in zip(variables, state, strict=True):
                var.assign(value)

        self.choice, self.last_choice = run_fit(
            self.choice, runner, save, restore, lambda: self._reset(), n_epoch, verbose, progress
        )
        zeros = tf.zeros(self.shape)
        _, error, mask, replacement = self._parts(*args[:6], zeros)
        return mask.numpy(), replacement.numpy(), error.numpy()


class ContraLSPExplainer(Explainer):
    """ContraLSP under the explainer contract, for batch jobs and comparisons.

    ``attributions(inputs, *, output_indices, batch_size, seed, verbose, padding_mask,
    **fit_options)`` fits :class:`ContraLSP` on the inputs (``batch_size`` = series fitted
    together) and returns its masks ``(N, T, F)`` (in [0, 1], 1 = salient).

    One :class:`ContraLSP` serves every call, so its compiled training loop (one per
    chunk shape) is traced once and reused by later calls of the same shapes.

    Args:
        model: a Keras model or a callable mapping ``(rows, T, F)`` to outputs.
        perturbation_network: as :class:`ContraLSP` (None: the default bidirectional
            GRU).
        memory_budget: bytes per model call when ``batch_size`` is None.
    """

    derivative_order = 1

    def __init__(self, model, *, perturbation_network=None, memory_budget: int | None = None):
        super().__init__(model, memory_budget=memory_budget)
        self._fitter = ContraLSP(perturbation_network)

    def attributions(
        self,
        inputs,
        *,
        output_indices=None,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: bool = False,
        padding_mask=None,
        **fit_options,
    ) -> np.ndarray:
        """The ContraLSP masks of ``inputs`` ``(N, T, F)``.

        Args:
            inputs: ``(N, T, F)`` floats.
            output_indices: None (the loss sees every output) or the package's target.
            batch_size: series fitted together (None: all up to 256).
            seed: None or an int >= 0.
            verbose: a progress bar over epochs.
            padding_mask: ``(N, T)`` booleans, True on real steps.
            **fit_options: options of :meth:`ContraLSP.fit` (e.g. ``n_epoch``,
                ``lambda_1``, ``sigma``).

        Returns:
            ``(N, T, F)`` float32 masks.

        Raises:
            TypeError, ValueError: as :meth:`ContraLSP.fit`.
        """
        x = as_float_array(inputs, "inputs", min_rank=3, dtype=np.float32)
        fitted = self._fitter.fit(
            x,
            self.model,
            output_indices=output_indices,
            batch_size=batch_size,
            seed=seed,
            verbose=verbose,
            padding_mask=padding_mask,
            **fit_options,
        )
        return np.asarray(fitted.mask_tensor, np.float32)
