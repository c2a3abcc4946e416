"""What a report shows, checked and reduced: the arrays of every method and input, the
instance table, the sequences that get a detail view, and the summaries over all.

Numpy and pandas only (no TensorFlow, no plotting): :mod:`.page` draws what this
module computes, and :mod:`.job` fills it from a job's Parquet output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tf_tsexplain._validation import as_float_array, check_int, check_labels

DEFAULT_METHOD = "attributions"
INPUT_NAME = "inputs"  # the one input of a single-input model, as the jobs name it
INSTANCE_COLUMNS = (
    "explained_index",
    "explained_prediction",
    "baseline_prediction",
    "approximation_error",
)


@dataclass
class Part:
    """One model input of a report.

    Attributes:
        name: the input's name (``"inputs"`` for a single-input model).
        feature_names: its F (or S) feature names.
        attributions: ``{method: (N, T, F)}`` (static inputs ``(N, S)``), float32;
            padded cells hold NaN.
        values: ``(N, T, F)`` (or ``(N, S)``) input values, NaN on padded cells; None
            when the report has no inputs.
        real: ``(N, T)`` True on real steps (all True without padding); None for a
            static input.
    """

    name: str
    feature_names: list[str]
    attributions: dict[str, np.ndarray]
    values: np.ndarray | None
    real: np.ndarray | None

    @property
    def static(self) -> bool:
        """Whether the input is static ``(N, S)`` (no time axis)."""
        return self.real is None

    @property
    def padded(self) -> bool:
        """Whether some step of some sequence is padding."""
        return self.real is not None and not bool(self.real.all())


@dataclass
class Content:
    """Everything a report shows, before it is drawn.

    Attributes:
        methods: the method names, in the order given.
        parts: one :class:`Part` per model input.
        ids: the N sample ids.
        instances: one row per sequence: ``sample``, the instance columns given (f(x),
            f(baseline), ...), ``length`` for padded inputs, and per method the sum
            and sum of |attribution| over every real cell of every input.
        detail: indices (into the N sequences) of those with a detail view, in the
            order the picker lists them.
        detail_rule: how they were chosen, in words.
        header: ``{label: text}`` shown at the top (model, settings, ...).
        title: the page title.
        faithfulness: a ``compare_explainers`` table (with ``attrs["curves"]``) or None.
        shapley: ``{"event": {sample id: {"t", "v", "pruned"}}, "feature": {sample id:
            {"f", "v"}}}`` (see :mod:`.extras`), or empty.
        sis: ``{row index: (T, F) float32}``: the 1-based index of the SIS holding each
            cell of ``sis_input`` (NaN: none), or empty.
        sis_input: the input the SIS are of.
    """

    methods: list[str]
    parts: list[Part]
    ids: list
    instances: pd.DataFrame
    detail: np.ndarray
    detail_rule: str
    header: dict = field(default_factory=dict)
    title: str = "Explanation report"
    faithfulness: pd.DataFrame | None = None
    shapley: dict = field(default_factory=dict)
    sis: dict = field(default_factory=dict)
    sis_input: str | None = None

    @property
    def n(self) -> int:
        """The number of sequences."""
        return len(self.ids)


# ------------------------------------------------------------------------- structure
def _per_input(value, label: str) -> dict:
    """One array, or a dict / list of arrays by input, as ``{input name: array}``."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"`{label}` is empty. Received: {label}={{}}.")
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list | tuple) and value and all(np.ndim(v) >= 2 for v in value):
        shapes = [np.shape(v) for v in value]
        if len(set(shapes)) > 1 and len({s[0] for s in shapes}) == 1:  # several inputs
            return {f"input_{k}": v for k, v in enumerate(value)}
    return {INPUT_NAME: value}


def _methods(attributions, inputs, method) -> dict[str, dict]:
    """``{method: {input name: array}}`` from what the user gave.

    A dict is read as ``{method name: attributions}``, unless ``inputs`` is a dict with
    the same keys: then it is one method's attributions of several inputs.
    """
    if attributions is None:
        raise TypeError("`attributions` is required. Received: attributions=None.")
    one_method_by_input = (
        isinstance(attributions, Mapping)
        and isinstance(inputs, Mapping)
        and set(map(str, attributions)) == set(map(str, inputs))
        and not all(isinstance(v, Mapping) for v in attributions.values())
    )
    if isinstance(attributions, Mapping) and not one_method_by_input:
        if method is not None:
            raise ValueError(
                "`method` names the method of one array of attributions; a dict of "
                f"attributions is already named by method. Received: method={method!r}."
            )
        if not attributions:
            raise ValueError("`attributions` is empty. Received: attributions={}.")
        for name in attributions:
            if not isinstance(name, str) or not name:
                raise TypeError(
                    "The keys of `attributions` must be method names (non-empty strings). "
                    f"Received: key {name!r}."
                )
        return {
            name: _per_input(value, f"attributions[{name!r}]")
            for name, value in attributions.items()
        }
    if method is not None and (not isinstance(method, str) or not method):
        raise TypeError(f"`method` must be a non-empty string. Received: method={method!r}.")
    return {method or DEFAULT_METHOD: _per_input(attributions, "attributions")}


def _label(name: str, multi: bool, method: str | None = None, what: str = "attributions") -> str:
    keys = "".join(f"[{k!r}]" for k in (method, name if multi else None) if k is not None)
    return f"{what}{keys}"


def _padding(padding_mask, names: list[str], shapes: dict, n: int) -> dict:
    """``{input name: (N, T) bool}`` of the sequence inputs (all True when not given)."""
    multi = names != [INPUT_NAME]
    given = {}
    if padding_mask is not None:
        if isinstance(padding_mask, Mapping):
            unknown = [k for k in padding_mask if k not in names]
            if unknown:
                raise ValueError(
                    f"`padding_mask` names inputs the report does not have: {unknown}; its "
                    f"inputs are {names}. Received: padding_mask with keys {list(padding_mask)}."
                )
            given = dict(padding_mask)
        elif multi:
            raise TypeError(
                f"`padding_mask` of several inputs {names} must be a dict by input name. "
                f"Received: {type(padding_mask).__name__}."
            )
        else:
            given = {INPUT_NAME: padding_mask}
    masks = {}
    for name in names:
        shape = shapes[name]
        if len(shape) != 2:  # a static input (N, S): no steps
            if given.get(name) is not None:
                raise ValueError(
                    f"`{_label(name, multi, what='padding_mask')}` is given for the static "
                    f"input {name!r} of shape {(n, *shape)}, which has no time steps."
                )
            masks[name] = None
            continue
        mask = given.get(name)
        label = _label(name, multi, what="padding_mask")
        if mask is None:
            masks[name] = np.ones((n, shape[0]), bool)
            continue
        arr = np.asarray(mask)
        if arr.dtype != bool:
            raise TypeError(
                f"`{label}` must be booleans (N, T), True on real steps. Received: dtype "
                f"{arr.dtype}."
            )
        if arr.shape != (n, shape[0]):
            raise ValueError(
                f"`{label}` must have shape {(n, shape[0])}. Received: shape {arr.shape}."
            )
        if not arr.any(axis=1).all():
            empty = np.flatnonzero(~arr.any(axis=1))[:10].tolist()
            raise ValueError(f"`{label}` has rows without any real step: {empty}.")
        masks[name] = arr
    return masks


def _instances(outputs, n: int) -> pd.DataFrame:
    """The instance columns the user gave: f(x) alone, or a table of them."""
    frame = pd.DataFrame(index=range(n))
    if outputs is None:
        return frame
    if isinstance(outputs, pd.DataFrame | Mapping):
        given = pd.DataFrame(dict(outputs)) if isinstance(outputs, Mapping) else outputs
        known = [c for c in INSTANCE_COLUMNS if c in given.columns]
        if not known:
            raise ValueError(
                f"`outputs` as a table must have some of the columns {list(INSTANCE_COLUMNS)}. "
                f"Received: columns {list(given.columns)}."
            )
        if len(given) != n:
            raise ValueError(
                f"`outputs` has {len(given)} rows for {n} sequences. Received: {len(given)} rows."
            )
        for column in known:
            values = np.asarray(given[column])
            if column == "explained_index":
                frame[column] = values
            else:
                frame[column] = as_float_array(
                    values, f"outputs[{column!r}]", allow_nonfinite=True, dtype=np.float64
                )
        return frame
    values = as_float_array(outputs, "outputs", dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(
            f"`outputs` must be f(x), one number per sequence: shape ({n},). Received: shape "
            f"{values.shape}."
        )
    frame["explained_prediction"] = values
    return frame


def _check_detail_ids(detail_ids, ids: list, max_sequences: int) -> list[int]:
    """Row indices of the user's ``detail_ids``, in their order."""
    if isinstance(detail_ids, str | bytes) or not isinstance(detail_ids, Sequence | np.ndarray):
        raise TypeError(
            "`detail_ids` must be a list of sample ids. Received: "
            f"detail_ids={detail_ids!r} ({type(detail_ids).__name__})."
        )
    wanted = list(detail_ids)
    if not wanted:
        raise ValueError("`detail_ids` is empty. Received: detail_ids=[].")
    position = {_key(v): i for i, v in enumerate(ids)}
    for i, v in enumerate(ids):  # ids typed as text (the command line) match by their text
        position.setdefault(str(v), i)
    unknown = [v for v in wanted if _key(v) not in position]
    if unknown:
        shown = ", ".join(map(repr, ids[:5])) + (", ..." if len(ids) > 5 else "")
        raise ValueError(
            f"`detail_ids` names {len(unknown)} sample id(s) the report does not hold: "
            f"{unknown[:10]} (its ids: {shown}). Received: detail_ids={wanted[:10]!r}"
            + ("..." if len(wanted) > 10 else ".")
        )
    rows = list(dict.fromkeys(position[_key(v)] for v in wanted))
    if len(rows) > max_sequences:
        raise ValueError(
            f"`detail_ids` names {len(rows)} sequences, more than max_sequences={max_sequences}. "
            "Name fewer or raise max_sequences."
        )
    return rows


def _key(value):
    """A sample id as a dict key: numpy scalars as Python values, ints and strings apart."""
    return value.item() if isinstance(value, np.generic) else value


def build_content(
    *,
    attributions,
    inputs=None,
    feature_names=None,
    sample_ids=None,
    outputs=None,
    method=None,
    padding_mask=None,
    max_sequences: int = 100,
    detail_ids=None,
) -> Content:
    """Check the arrays of a report and compute what it shows (see ``write_report``)."""
    max_sequences = check_int(max_sequences, "max_sequences", min_val=1)
    methods = _methods(attributions, inputs, method)
    first = next(iter(methods.values()))
    names = list(first)
    multi = names != [INPUT_NAME]
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for m, by_input in methods.items():
        if list(by_input) != names:
            raise ValueError(
                f"`attributions[{m!r}]` has the inputs {list(by_input)}; "
                f"`attributions[{next(iter(methods))!r}]` has {names}: every method must "
                "explain the same inputs."
            )
        for name, value in by_input.items():
            label = _label(name, multi, m if len(methods) > 1 else None)
            a = as_float_array(value, label, min_rank=2, dtype=np.float32)
            if a.ndim > 3:
                raise ValueError(
                    f"`{label}` must be (N, T, F) sequences or (N, S) static features. "
                    f"Received: shape {a.shape}."
                )
            arrays.setdefault(name, {})[m] = a
    n = len(next(iter(arrays[names[0]].values())))
    shapes = {}
    for name in names:
        for m, a in arrays[name].items():
            shape = shapes.setdefault(name, a.shape[1:])
            if len(a) != n or a.shape[1:] != shape:
                label = _label(name, multi, m if len(methods) > 1 else None)
                raise ValueError(
                    f"`{label}` has shape {a.shape}; the first method's attributions have "
                    f"shape {(n, *shape)}: every method must explain the same sequences."
                )
    values = {name: None for name in names}
    if inputs is not None:
        given = _per_input(inputs, "inputs")
        if list(given) != names and set(given) == set(names):
            given = {k: given[k] for k in names}
        if list(given) != names:
            raise ValueError(
                f"`inputs` has the inputs {list(given)}; the attributions have {names}."
            )
        for name in names:
            label = _label(name, multi, what="inputs")
            x = as_float_array(given[name], label, min_rank=2, dtype=np.float32)
            if x.shape != (n, *shapes[name]):
                raise ValueError(
                    f"`{label}` has shape {x.shape}, the attributions shape {(n, *shapes[name])}: "
                    "attributions must be shaped like the inputs they explain."
                )
            values[name] = x
    masks = _padding(padding_mask, names, shapes, n)
    ids = check_labels(sample_ids, n, "sample_ids", range(n))
    ids = [_key(v) for v in ids]
    if len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for v in ids:
            if v in seen:
                repeated.append(v)
            seen.add(v)
        raise ValueError(
            f"`sample_ids` must be unique; these repeat: {repeated[:10]}. Received: {len(ids)} ids."
        )
    feature_names = _feature_names(feature_names, names, shapes)
    parts = []
    for name in names:
        real = masks[name]
        attrs = {}
        for m, a in arrays[name].items():
            attrs[m] = a if real is None else np.where(real[:, :, None], a, np.float32(np.nan))
        x = values[name]
        if x is not None and real is not None:
            x = np.where(real[:, :, None], x, np.float32(np.nan))
        parts.append(Part(name, feature_names[name], attrs, x, real))
    instances = _instances(outputs, n)
    instances.insert(0, "sample", ids)
    for part in parts:
        if part.padded:
            column = "length" if not multi else f"length_{part.name}"
            instances[column] = part.real.sum(axis=1)
    for m in methods:
        total = sum(np.nansum(p.attributions[m].reshape(n, -1), axis=1) for p in parts)
        magnitude = sum(np.nansum(np.abs(p.attributions[m].reshape(n, -1)), axis=1) for p in parts)
        instances[f"sum {m}"] = total
        instances[f"sum |{m}|"] = magnitude
    if detail_ids is not None:
        detail = np.asarray(_check_detail_ids(detail_ids, ids, max_sequences), np.int64)
        rule = f"the {len(detail)} sequence(s) named by the caller"
    elif "explained_prediction" in instances and instances["explained_prediction"].notna().any():
        score = np.abs(instances["explained_prediction"].to_numpy(np.float64))
        detail = np.argsort(-np.nan_to_num(score, nan=-1.0), kind="stable")[:max_sequences]
        rule = f"the {len(detail)} with the largest |f(x)|"
    else:
        score = instances[f"sum |{next(iter(methods))}|"].to_numpy(np.float64)
        detail = np.argsort(-score, kind="stable")[:max_sequences]
        rule = f"the {len(detail)} with the largest total |attribution|"
    if len(detail) == n and detail_ids is None:
        rule = f"all {n}"
    return Content(
        methods=list(methods),
        parts=parts,
        ids=ids,
        instances=instances,
        detail=detail,
        detail_rule=rule,
    )


def _feature_names(feature_names, names: list[str], shapes: dict) -> dict[str, list[str]]:
    multi = names != [INPUT_NAME]
    if feature_names is None:
        given = {}
    elif isinstance(feature_names, Mapping):
        unknown = [k for k in feature_names if k not in names]
        if unknown:
            raise ValueError(
                f"`feature_names` names inputs the report does not have: {unknown}; its "
                f"inputs are {names}."
            )
        given = dict(feature_names)
    elif multi:
        raise TypeError(
            f"`feature_names` of several inputs {names} must be a dict by input name. "
            f"Received: {type(feature_names).__name__}."
        )
    else:
        given = {INPUT_NAME: feature_names}
    out = {}
    for name in names:
        f = shapes[name][-1]
        label = _label(name, multi, what="feature_names")
        labels = [str(v) for v in check_labels(given.get(name), f, label, [])] or [
            f"f{k}" for k in range(f)
        ]
        if len(set(labels)) != len(labels):
            raise ValueError(f"`{label}` must be unique. Received: {labels}.")
        out[name] = labels
    return out


# ------------------------------------------------------------------------- summaries
def global_summary(part: Part) -> dict[str, dict[str, np.ndarray]]:
    """Mean |attribution| over all sequences, per method: ``{"feature": (F,),
    "step": (T,)}`` (static inputs: ``feature`` only); real cells only (a step no
    sequence reaches is NaN)."""
    out = {}
    for m, a in part.attributions.items():
        magnitude = np.abs(a.astype(np.float64))
        if part.static:
            out[m] = {"feature": magnitude.mean(axis=0)}
            continue
        count = np.isfinite(magnitude)
        total = np.where(count, magnitude, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_feature = total.sum(axis=(0, 1)) / count.sum(axis=(0, 1))
            per_step = total.sum(axis=(0, 2)) / count.sum(axis=(0, 2))
        out[m] = {"feature": per_feature, "step": per_step}
    return out
