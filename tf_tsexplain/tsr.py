"""Temporal saliency rescaling (TSR): a two-step wrapper around any attribution method.

Plain saliency maps of sequence models mix up *when* and *what*: TSR (Ismail et al.,
"Benchmarking Deep Learning Interpretability in Time Series Predictions", 2020)
first asks which time steps matter, then which features matter within those steps.
For one input x of shape ``(T, F)`` and a base method A:

1. ``R = A(x)``.
2. Time relevance: ``s_t = sum |R - A(x with every feature at step t masked)|``,
   min-max scaled over t to ``r_t`` in [0, 1].
3. Keep the steps with ``r_t`` strictly above the ``threshold`` quantile of
   ``r_1..r_T`` (the paper: the 0.55 quantile).
4. Feature relevance within each kept step t:
   ``s_tf = sum |R - A(x with the one cell (t, f) masked)|``, min-max scaled over f
   to ``q_tf``; steps not kept get the constant ``q_tf = below_threshold`` (the
   paper: 0.1).
5. ``TSR(x)_tf = r_t * q_tf``.

Masked cells are set to ``mask_value``. The result is a non-negative relevance map
(no sign), shaped like the inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_tsexplain._explainer import Explainer
from tf_tsexplain._structure import is_structured, sequence_input, structure_of
from tf_tsexplain._validation import (
    as_float_array,
    check_choice,
    check_padding_mask,
    check_positive_int,
    check_real,
)

VARIANTS = ("tsr", "feature_grouping", "temporal_feature")


class TemporalSaliencyRescaling:
    """Temporal saliency rescaling around any object with an ``attributions`` method.

    Args:
        explainer: a base method with ``attributions(inputs, *args, **kwargs) ->
            (N, T, F)``: :class:`~tf_tsexplain.PathExplainerTF` (integrated or
            expected gradients; pass the baseline as for it) or any class of
            :mod:`tf_tsexplain.saliency`.
        mask_value: value of masked cells: a number (default 0.0, the mean of
            standardised data), or ``"first_cell"`` for the value of each input's
            first cell ``x[0, 0]``, which is what the reference implementation uses.
        threshold: quantile of the time relevances above which a step is kept for
            the feature step, in [0, 1) (paper: 0.55).
        feature_groups: a partition of the F features into groups, as a sequence of
            sequences of feature indices, e.g. ``[[0, 1], [2], [3, 4]]``; used by the
            ``"feature_grouping"`` and ``"temporal_feature"`` variants.
        variant: ``"tsr"`` (the paper's method: cells of kept steps masked one at a
            time); ``"feature_grouping"`` (within kept steps, mask one group of
            features at a time; all features of a group share its relevance);
            ``"temporal_feature"`` (feature relevance computed once per input by
            masking a feature, or group, at every time step; ``r_t * q_f`` on kept
            steps).
        below_threshold: feature relevance given to steps that are not kept
            (paper: 0.1).
        max_copies: most masked copies passed to the base method in one call; bounds
            the memory of the copies and of their maps (the base method chunks its
            own model calls by its ``batch_size``).
        input_name: for a multi-input model, the sequence input explained (its name
            or index; None: the only input of shape (N, T, F)); the other inputs are
            held at their values in every copy, and the result is that input's map.

    Raises:
        TypeError: an ``explainer`` without an ``attributions`` method, or an
            option of the wrong kind.
        ValueError: an unknown ``variant`` or ``mask_value``, a ``threshold``
            outside [0, 1), ``feature_groups`` missing for ``"feature_grouping"`` or
            given for ``"tsr"``.

    Padded sequences (a ``padding_mask`` passed on to the base method, or the
    model's ``Masking`` layer): padded steps are never masked nor scored, and their
    relevance is 0; time relevances are scaled over the real steps.

    Cost, in evaluations of the base method per input (each costing what the method
    costs, e.g. ``num_samples`` gradient rows for integrated gradients):
    ``1 + T + K * F`` for ``"tsr"``, ``1 + T + K * G`` for ``"feature_grouping"``,
    ``1 + T + G`` for ``"temporal_feature"``, with ``K`` the kept steps (about
    ``(1 - threshold) T``: 23 of 50 with the default) and ``G`` the groups. At
    T = F = 50 that is 1,201 for ``"tsr"``. All inputs' copies go through the base
    method together, ``max_copies`` at a time, so the model sees large batches;
    :attr:`last_evaluations` holds the count of the last call.

    Example:
        >>> ig = PathExplainerTF(model)
        >>> tsr = TemporalSaliencyRescaling(ig)
        >>> rel = tsr.attributions(x, np.zeros((1, T, F)), use_expectation=False,
        ...                        num_samples=20, batch_size=2000)
        >>> rel.shape == x.shape
        True
    """

    def __init__(
        self,
        explainer,
        mask_value: float | str = 0.0,
        threshold: float = 0.55,
        feature_groups: Sequence[Sequence[int]] | None = None,
        variant: str = "tsr",
        below_threshold: float = 0.1,
        max_copies: int = 2048,
        input_name: str | int | None = None,
    ):
        if not callable(getattr(explainer, "attributions", None)):
            raise TypeError(
                f"`explainer` must have an `attributions(inputs, ...)` method (e.g. "
                f"PathExplainerTF or tf_tsexplain.saliency.Saliency); got "
                f"{type(explainer).__name__}."
            )
        check_choice(variant, "variant", VARIANTS)
        if isinstance(mask_value, str):
            check_choice(mask_value, "mask_value", ("first_cell",))
        else:
            mask_value = check_real(mask_value, "mask_value")
        threshold = check_real(threshold, "threshold", min_val=0, max_val=1, include_max=False)
        below_threshold = check_real(below_threshold, "below_threshold")
        if variant == "feature_grouping" and feature_groups is None:
            raise ValueError("variant='feature_grouping' needs `feature_groups`.")
        if variant == "tsr" and feature_groups is not None:
            raise ValueError(
                "`feature_groups` is used by variant='feature_grouping' or "
                "'temporal_feature'; variant='tsr' masks single cells."
            )
        self.explainer = explainer
        self.mask_value = mask_value
        self.threshold = float(threshold)
        self.feature_groups = None if feature_groups is None else _group_lists(feature_groups)
        self.variant = variant
        self.below_threshold = float(below_threshold)
        self.max_copies = check_positive_int(max_copies, "max_copies")
        self.input_name = input_name
        self.last_evaluations: int | None = None

    # ------------------------------------------------------------------ public API
    def attributions(self, inputs, *args, **kwargs) -> np.ndarray:
        """TSR relevance maps ``(N, T, F)``, non-negative.

        Args:
            inputs: ``(N, T, F)`` floats; for a multi-input model, a list or dict of
                arrays (the sequence input ``input_name`` is explained).
            *args: positional arguments forwarded to the base method's
                ``attributions`` after the copies, in its documented order (for
                :class:`~tf_tsexplain.PathExplainerTF` path_explain's: ``baseline,
                batch_size, num_samples, use_expectation, ...``).
            **kwargs: keyword arguments forwarded to the base method's
                ``attributions`` for every batch of copies, as captum's NoiseTunnel
                forwards them (e.g. the baseline, ``num_samples``,
                ``output_indices``, ``batch_size``, ``seed``). For explainers of
                this toolkit, per-input arguments are repeated for each input's
                copies (see :meth:`tf_tsexplain.Explainer.copies_arguments`):
                ``output_indices`` with one entry per input (a tuple is one target
                for all), ``"predicted"`` (resolved on the unmasked inputs), a
                baseline ``(N, T, F)`` (one per input) unless the method draws from a
                reference set (expected gradients), and SmoothGrad's noise scale
                (each copy keeps its input's scale, so masking the cells holding an
                input's max or min does not change the noise). Other objects with an
                ``attributions`` method get the arguments unchanged. Methods that
                draw per call (expected gradients) add their sampling noise to the
                differences of maps; fix ``seed`` and use enough samples.
                :class:`~tf_tsexplain.saliency.FeaturePermutation` permutes within
                each batch of copies, so copies of different inputs mix: prefer the
                other methods under TSR.

        Returns:
            ``(N, T, F)`` relevances in [0, 1], ``r_t * q_tf`` (see the module
            docstring), in the inputs' float dtype; padded steps hold 0.

        Raises:
            TypeError: arguments the base method does not take, or given both by
                position and by keyword.
            ValueError: inputs that are not ``(N, T, F)`` (or no such sequence input
                of a multi-input model), ``feature_groups`` that do not partition the
                F features, or what the base method refuses.
        """
        x, parts, k, structure = self._sequence(inputs)
        n, t_steps, n_feat = x.shape
        real = self._real_steps(parts, k, structure, kwargs.get("padding_mask"))
        self._real = real
        groups = self._groups(n_feat)
        fill = self._fill(x)
        call = self._caller(parts, k, structure, args, kwargs)

        reference = call(np.arange(n), x)  # R = A(x), (N, T, F)
        evaluations = n

        # time relevance: every real (input, step) copy, all inputs together; padded
        # steps are not scored (relevance 0)
        owners, step_of = np.nonzero(real)
        scores = self._scores(call, x, fill, reference, owners, step_of, None, groups)
        time_scores = np.full((n, t_steps), np.nan)
        time_scores[owners, step_of] = scores
        time_rel = np.nan_to_num(_min_max(time_scores))
        evaluations += len(owners)
        cutoff = np.nanquantile(
            np.where(real, time_rel, np.nan), self.threshold, axis=1, keepdims=True
        )
        kept = (time_rel > cutoff) & real  # (N, T)

        n_groups = len(groups)
        feat_rel = np.full((n, t_steps, n_feat), self.below_threshold)
        if self.variant == "temporal_feature":
            owners = np.repeat(np.arange(n), n_groups)
            group_of = np.tile(np.arange(n_groups), n)
            scores = self._scores(call, x, fill, reference, owners, None, group_of, groups)
            per_feature = _spread(_min_max(scores.reshape(n, n_groups)), groups, n_feat)
            feat_rel = np.where(kept[:, :, None], per_feature[:, None, :], feat_rel)
        else:
            steps = np.argwhere(kept)  # (M, 2) kept (input, step) pairs
            owners = np.repeat(steps[:, 0], n_groups)
            step_of = np.repeat(steps[:, 1], n_groups)
            group_of = np.tile(np.arange(n_groups), len(steps))
            scores = self._scores(call, x, fill, reference, owners, step_of, group_of, groups)
            per_step = _min_max(scores.reshape(len(steps), n_groups))
            feat_rel[steps[:, 0], steps[:, 1]] = _spread(per_step, groups, n_feat)
        evaluations += len(owners)
        self.last_evaluations = evaluations
        return (time_rel[:, :, None] * feat_rel * real[:, :, None]).astype(x.dtype)

    def evaluations_per_input(self, n_steps: int, n_features: int) -> int:
        """Base-method evaluations per input for ``T = n_steps``, ``F = n_features``.

        Args:
            n_steps: T.
            n_features: F.

        Returns:
            ``1 + T + K * F`` for ``"tsr"`` (``K * G`` with feature groups, ``G`` for
            ``"temporal_feature"``), with the kept count ``K`` expected for distinct
            time relevances.
        """
        groups = len(self.feature_groups) if self.feature_groups is not None else n_features
        kept = n_steps - 1 - int(np.floor(self.threshold * (n_steps - 1)))
        if self.variant == "temporal_feature":
            return 1 + n_steps + groups
        return 1 + n_steps + kept * groups

    # ------------------------------------------------------------------ internals
    def _sequence(self, inputs):
        """``(x (N, T, F), parts, k, structure)``: the explained sequence input; for a
        multi-input model, input ``input_name`` of the parts (others held fixed)."""
        explainer = self.explainer
        if isinstance(explainer, Explainer) and is_structured(inputs, explainer.model):
            structure = structure_of(inputs, explainer.model)
            parts = structure.parts(inputs, "inputs", allow_nonfinite=False, per_row=False)
            k = sequence_input(structure, self.input_name)
            x = parts[k]
        else:
            x = as_float_array(inputs, "inputs", min_rank=1)
            parts, k, structure = [x], 0, None
        if x.ndim != 3:
            raise ValueError(f"`inputs` must be sequences of shape (N, T, F), got shape {x.shape}.")
        return x, parts, k, structure

    def _real_steps(self, parts, k, structure, padding_mask) -> np.ndarray:
        """``(N, T)`` True on real steps of the explained input."""
        x = parts[k]
        if isinstance(self.explainer, Explainer):
            real = self.explainer.real_steps(parts, padding_mask, structure)[k]
        elif padding_mask is not None:
            real = check_padding_mask(padding_mask, len(x), x.shape[1])
        else:
            real = None
        return np.ones(x.shape[:2], bool) if real is None else real

    def _caller(self, parts, k, structure, args: tuple, kwargs: dict):
        """``call(owner, copies) -> maps``: the base method on copies of ``x[owner]``
        (the other inputs of a multi-input model at their values)."""
        explainer = self.explainer
        x = parts[k]
        if isinstance(explainer, Explainer):
            whole = x if structure is None else structure.pack(parts)
            flat, _ = explainer.input_rows(whole)
            for_copies = explainer.copies_arguments(flat, explainer.bind_arguments(args, kwargs))

            def run(owner, copies):
                if structure is None:
                    return explainer.attributions(copies, **for_copies(owner))
                rows = [copies if i == k else p[owner] for i, p in enumerate(parts)]
                maps = explainer.attributions(structure.pack(rows), **for_copies(owner))
                return maps[structure.names[k]] if structure.kind == "dict" else maps[k]
        else:

            def run(owner, copies):
                return explainer.attributions(copies, *args, **kwargs)

        def call(owner: np.ndarray, copies: np.ndarray) -> np.ndarray:
            maps = np.asarray(run(owner, copies))
            if maps.shape != copies.shape:
                raise ValueError(
                    f"The base method returned attributions of shape {maps.shape} for "
                    f"{copies.shape[0]} copies of shape {copies.shape[1:]}; TSR needs one "
                    "map per input shaped like it (pass `output_indices` for a model with "
                    "several outputs)."
                )
            return maps

        return call

    def _groups(self, n_feat: int) -> list[np.ndarray]:
        if self.feature_groups is None:
            return [np.array([f]) for f in range(n_feat)]
        flat = np.concatenate(self.feature_groups)
        if len(flat) != n_feat or set(flat.tolist()) != set(range(n_feat)):
            missing = sorted(set(range(n_feat)) - set(flat.tolist()))
            extra = sorted({int(f) for f in flat if not 0 <= f < n_feat})
            raise ValueError(
                f"`feature_groups` must partition the {n_feat} features (each index "
                f"0..{n_feat - 1} in exactly one group); missing {missing}, out of range "
                f"{extra}, {len(flat)} indices in total."
            )
        return self.feature_groups

    def _fill(self, x: np.ndarray) -> np.ndarray:
        """Mask value per input, ``(N,)``."""
        if self.mask_value == "first_cell":
            return x[:, 0, 0].copy()
        return np.full(len(x), self.mask_value, x.dtype)

    def _scores(self, call, x, fill, reference, owners, step_of, group_of, groups) -> np.ndarray:
        """``sum |R - A(copy)|`` per copy; copies built and explained in batches.

        Copy j is input ``owners[j]`` with the cells of step ``step_of[j]`` (every
        step if None) and of feature group ``group_of[j]`` (every feature if None)
        set to the input's mask value.
        """
        n_steps, n_feat = x.shape[1:]
        members = np.zeros((len(groups), n_feat), bool)
        for g, group in enumerate(groups):
            members[g, group] = True
        scores = np.empty(len(owners))
        for start in range(0, len(owners), self.max_copies):
            part = slice(start, start + self.max_copies)
            owner = owners[part]
            m = len(owner)
            if step_of is None:
                in_step = np.ones((m, n_steps), bool)
            else:
                in_step = np.arange(n_steps)[None, :] == step_of[part][:, None]
            in_group = np.ones((m, n_feat), bool) if group_of is None else members[group_of[part]]
            masked = in_step[:, :, None] & in_group[:, None, :]
            masked &= self._real[owner][:, :, None]  # padded cells never change
            copies = np.where(masked, fill[owner][:, None, None], x[owner]).astype(x.dtype)
            maps = call(owner, copies)
            diff = np.abs(reference[owner] - maps).reshape(m, -1)
            scores[part] = diff.sum(axis=1)
        return scores


def _group_lists(feature_groups) -> list[np.ndarray]:
    """Validate the form of ``feature_groups`` (the partition is checked per call)."""
    try:
        groups = [np.asarray(list(g)) for g in feature_groups]
    except TypeError:
        raise TypeError(
            "`feature_groups` must be a sequence of sequences of feature indices, e.g. "
            f"[[0, 1], [2]]; got {feature_groups!r}."
        ) from None
    if not groups or any(g.size == 0 for g in groups):
        raise ValueError("`feature_groups` must be non-empty groups of feature indices.")
    for g in groups:
        if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
            raise TypeError(f"`feature_groups` entries must be lists of ints, got {g.tolist()!r}.")
    flat = np.concatenate(groups)
    if len(set(flat.tolist())) != len(flat):
        raise ValueError(
            "`feature_groups` must partition the features: a feature index appears in "
            "more than one group."
        )
    return groups


def _min_max(scores: np.ndarray) -> np.ndarray:
    """Min-max scale each row to [0, 1] ignoring NaN (unscored padded steps, which
    stay NaN); constant rows become 0 (as sklearn's)."""
    low = np.nanmin(scores, axis=1, keepdims=True)
    span = np.nanmax(scores, axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


def _spread(per_group: np.ndarray, groups, n_feat: int) -> np.ndarray:
    """``(M, G)`` group values -> ``(M, F)`` with each feature its group's value."""
    out = np.empty((per_group.shape[0], n_feat))
    for g, members in enumerate(groups):
        out[:, members] = per_group[:, g : g + 1]
    return out
