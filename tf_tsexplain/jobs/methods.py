"""The method table of batch jobs: which attribution methods a job runs, and how.

Every runner (local, Beam, Spark) builds its explainer from this table through
:class:`tf_tsexplain.jobs.explainer.JobExplainer`, so a method's options, baseline and
approximation-error identity are defined once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tf_tsexplain._validation import as_float_array, check_choice
from tf_tsexplain.masks.contralsp import ContraLSPExplainer
from tf_tsexplain.path import PathExplainerTF
from tf_tsexplain.saliency import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from tf_tsexplain.serving._common import check_baseline
from tf_tsexplain.timing import TimingExplainer


@dataclass(frozen=True)
class Method:
    """How a job builds and calls one attribution method.

    ``constructor``: option names given to the explainer's constructor (the others go
    to ``attributions``). ``baseline``: ``"one"`` (one baseline ``(T, F)``, default
    zeros), ``"references"`` (a reference set ``(R, T, F)``, required), ``"fill"`` (a
    number or ``(T, F)`` fill value, default 0) or ``"none"``. ``identity``: how the
    approximation error is formed: ``"sum"`` (``sum(attr)`` against ``f(x) -
    f(baseline)``), ``"taylor"`` (``sum(attr * (x - baseline))``) or ``"none"``.
    """

    cls: type
    constructor: tuple[str, ...]
    call: tuple[str, ...]
    baseline: str
    identity: str
    fixed: Mapping = field(default_factory=dict)
    takes_baseline: bool = True  # False: the baseline only serves the error


METHODS = {
    "integrated_gradients": Method(
        PathExplainerTF,
        ("hessian_method", "memory_budget"),
        ("num_samples",),
        "one",
        "sum",
        {"use_expectation": False},
    ),
    "expected_gradients": Method(
        PathExplainerTF,
        ("hessian_method", "memory_budget"),
        ("num_samples",),
        "references",
        "sum",
        {"use_expectation": True},
    ),
    "saliency": Method(
        Saliency, ("absolute", "memory_budget"), (), "one", "taylor", takes_baseline=False
    ),
    "input_x_gradient": Method(
        InputXGradient, ("memory_budget",), (), "zeros", "sum", takes_baseline=False
    ),
    "smoothgrad": Method(
        SmoothGrad,
        ("absolute", "memory_budget"),
        ("num_samples", "noise_level", "stdevs"),
        "none",
        "none",
    ),
    "occlusion": Method(Occlusion, ("memory_budget",), ("window", "strides"), "fill", "sum"),
    "feature_ablation": Method(
        FeatureAblation, ("memory_budget",), ("feature_mask",), "fill", "sum"
    ),
    "feature_permutation": Method(
        FeaturePermutation, ("memory_budget",), ("feature_mask",), "none", "none"
    ),
    # TIMING's attributions do not sum to f(x) - f(baseline) (see tf_tsexplain.timing)
    "timing": Method(
        TimingExplainer,
        ("memory_budget",),
        ("num_samples", "num_segments", "min_seg_len", "max_seg_len", "normalize"),
        "one",
        "none",
    ),
    # masks in [0, 1]: no baseline, no completeness
    "contralsp": Method(
        ContraLSPExplainer,
        ("memory_budget",),
        ("n_epoch", "learning_rate", "lambda_1", "lambda_2", "sigma", "margin"),
        "none",
        "none",
    ),
}
TSR_OPTIONS = (
    "mask_value",
    "threshold",
    "feature_groups",
    "variant",
    "below_threshold",
    "max_copies",
)
METHOD_NAMES = (*METHODS, "tsr")


def check_method(method, options: Mapping) -> None:
    """Check a method name and its options without a model (TypeError / ValueError)."""
    check_choice(method, "method", METHOD_NAMES)
    split_options(method, dict(options))


def split_options(method: str, options: dict) -> tuple[Method, dict, dict, dict]:
    """``(base method, TSR options, constructor options, call options)``; an unknown
    option is a TypeError naming the options the method takes."""
    options = dict(options)
    tsr = {}
    wrapper = ("base_method", *TSR_OPTIONS) if method == "tsr" else ()
    if method == "tsr":
        base = options.pop("base_method", "integrated_gradients")
        check_choice(base, "base_method", tuple(METHODS))
        tsr = {name: options.pop(name) for name in TSR_OPTIONS if name in options}
        method = base
    spec = METHODS[method]
    known = spec.constructor + spec.call
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = (*wrapper, *known)
        raise TypeError(
            f"method {method!r} takes the options {', '.join(takes) or '(none)'}; got "
            f"{', '.join(unknown)}. Received: {unknown[0]}={options[unknown[0]]!r}."
        )
    constructor = {k: v for k, v in options.items() if k in spec.constructor}
    call = {k: v for k, v in options.items() if k in spec.call}
    return spec, tsr, constructor, call


def check_method_baseline(kind: str, baseline, shape: tuple, label: str = "baseline"):
    """The baseline a method of kind ``kind`` uses for one input of per-sample
    ``shape``, as float32, or None."""
    if kind in ("none", "zeros"):
        if baseline is not None:
            raise ValueError(
                "This method takes no `baseline`"
                + (" (its error is taken around zeros)" if kind == "zeros" else "")
                + f". Received: {label} of shape {np.shape(baseline)}."
            )
        return np.zeros(shape, np.float32) if kind == "zeros" else None
    if kind == "references":
        return check_baseline("expected_gradients", baseline, shape, name=label)
    if baseline is None:
        return np.zeros(shape, np.float32)
    b = as_float_array(baseline, label, min_rank=0, dtype=np.float32)
    if b.shape == (1, *shape):
        b = b[0]
    if b.shape == shape:
        return b
    if kind == "fill":  # a number, or anything that broadcasts to one sequence
        try:
            return np.ascontiguousarray(np.broadcast_to(b, shape))
        except ValueError:
            pass
    dims = ", ".join(map(str, shape))
    raise ValueError(
        f"`{label}` must have shape ({dims}) or (1, {dims})"
        + (" or be a number" if kind == "fill" else "")
        + ": a job explains an unbounded stream, so no baseline per input. Received: "
        f"{label} of shape {b.shape}."
    )
