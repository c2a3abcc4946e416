"""``write_report``: arrays in, one self-contained HTML file out (written atomically)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tf_tsexplain.report import extras
from tf_tsexplain.report.content import Content, build_content

_CURVE_COLUMNS = ("explainer", "curve", "fraction", "mean")


def require_plotly():
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ImportError(
            "The HTML report draws with Plotly, which is not installed: "
            'pip install "tf_tsexplain[report]" (or pip install plotly).'
        ) from None


def check_output_path(path) -> Path:
    """``path`` as a Path whose folder exists and which is not a directory."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"`path` must be a file path (str or os.PathLike). Received: path={path!r} "
            f"({type(path).__name__})."
        )
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"`path` {str(out)!r} is a directory; give the report's file name.")
    if not out.parent.is_dir():
        raise ValueError(f"The folder of `path` {str(out)!r} does not exist: {str(out.parent)!r}.")
    return out


def check_faithfulness(table) -> pd.DataFrame | None:
    """A ``compare_explainers`` table (its ``attrs["curves"]`` optional), or None."""
    if table is None:
        return None
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            "`faithfulness` must be the DataFrame compare_explainers returns. Received: "
            f"{type(table).__name__}."
        )
    if len(table) == 0:
        raise ValueError("`faithfulness` is an empty table. Received: 0 rows.")
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(
                "`faithfulness` must hold numbers (one column per metric, `<metric>_sem`, "
                f"`seconds`, `rank`). Received: column {column!r} of dtype {table[column].dtype}."
            )
    curves = table.attrs.get("curves")
    if curves is not None:
        if not isinstance(curves, pd.DataFrame):
            raise TypeError(
                '`faithfulness.attrs["curves"]` must be a DataFrame. Received: '
                f"{type(curves).__name__}."
            )
        missing = [c for c in _CURVE_COLUMNS if c not in curves.columns]
        if missing:
            raise ValueError(
                f'`faithfulness.attrs["curves"]` lacks the columns {missing}; it needs '
                f"{list(_CURVE_COLUMNS)} (and `sem`). Received: columns {list(curves.columns)}."
            )
    return table


def describe_value(value) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={describe_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(describe_value(v) for v in value) + "]"
    return str(value)


def write_atomic(text: str, out: Path) -> int:
    """Write ``text`` under a hidden name beside ``out``, flush it to disk, rename it
    into place (an existing file is replaced whole, never half-written); returns bytes."""
    data = text.encode("utf-8")
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(data)


def render_content(content: Content, path: Path) -> dict:
    """Draw ``content`` and write it to ``path``; ``{"path", "bytes", ...}``."""
    import tf_tsexplain
    from tf_tsexplain.report.page import render

    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    text = render(content, tf_tsexplain.__version__, created)
    size = write_atomic(text, path)
    return {
        "path": str(path),
        "bytes": size,
        "sequences": content.n,
        "detail": [content.ids[int(i)] for i in content.detail],
        "methods": list(content.methods),
    }


def write_report(
    path,
    *,
    attributions,
    inputs=None,
    feature_names=None,
    sample_ids=None,
    outputs=None,
    method: str | None = None,
    title: str | None = None,
    faithfulness: pd.DataFrame | None = None,
    max_sequences: int = 100,
    detail_ids=None,
    padding_mask=None,
    model: str | None = None,
    settings: Mapping | None = None,
    shapley=None,
    sis=None,
    sis_input: str | None = None,
) -> dict:
    """Write an explanation report: one HTML file that opens offline, from disk.

    The page holds a header (model, methods, settings, version, time), a detail view
    of one sequence at a time (chosen in a picker): a time x feature heat map per
    method on one shared colour scale, with the input value and the attribution of
    the hovered cell, zoom along time (bins of steps when zoomed out, every step when
    zoomed in), per-feature and per-step totals; a sortable instance table; a global
    view over all sequences (mean |attribution| per feature and per step); and, when
    given, the faithfulness table and curves, Shapley values and SIS. Plotly's
    JavaScript (about 4.8 MB) is inlined once; the arrays of the detail sequences
    travel as base64 float32, so a report of 100 detail sequences of 300 x 8 and one
    method weighs about 7.7 MB.

    Args:
        path: the HTML file to write; an existing file is replaced atomically.
        attributions: ``(N, T, F)`` (static inputs ``(N, S)``); for a model of
            several inputs, a dict by input name (or a list in the model's order);
            for several methods of the same inputs, a dict ``method name ->`` one of
            those (compared side by side on one colour scale). A dict whose keys are
            those of a dict ``inputs`` is one method's attributions by input.
        inputs: the explained inputs, shaped like the attributions (their values
            show on hover); None: attributions only.
        feature_names: F names (a dict by input name for several inputs); default
            ``f0, f1, ...``.
        sample_ids: N ids (default ``0 .. N-1``), unique.
        outputs: f(x) ``(N,)``, or a table (dict or DataFrame, N rows) with some of
            ``explained_index``, ``explained_prediction`` (f(x)),
            ``baseline_prediction`` and ``approximation_error`` (a job's instances).
        method: the name of the method of one array of ``attributions`` (default
            ``"attributions"``).
        title: the page title (default ``"Explanation report"``).
        faithfulness: the DataFrame of
            :func:`~tf_tsexplain.metrics.compare_explainers` (index: explainer;
            metric columns, ``<metric>_sem``, ``seconds``, ``rank``), whose
            ``attrs["curves"]`` (columns ``explainer, curve, fraction, mean, sem``)
            are drawn.
        max_sequences: the most sequences with a detail view (>= 1): the
            ``detail_ids``, else the ones of largest |f(x)| (of largest total
            |attribution| without ``outputs``). Every sequence is in the table and
            the global view; the report says which have detail.
        detail_ids: sample ids of the sequences to show in detail, in picker order.
        padding_mask: ``(N, T)`` booleans, True on real steps (a dict by input name
            for several inputs): padded steps are not drawn and not averaged.
        model: a description of the model for the header (e.g. its path).
        settings: ``{name: value}`` shown in the header (the method's options...).
        shapley: Shapley values of the same sequences: a
            :class:`~tf_tsexplain.shapley.ShapleyValues` (event or feature level),
            a list of them, or the tidy tables of their ``to_frame()`` (``sample``
            ids of this report); shown per sequence and over all of them.
        sis: sufficient input subsets: ``SISExplainer.explain``'s list (one
            collection per sequence, N of them) or a table with columns
            ``sample, sis, time, feature`` (one row per cell of each SIS); drawn
            per sequence over the time x feature grid of ``sis_input``.
        sis_input: the input the SIS are of (several inputs; default the first
            sequence input).

    Returns:
        ``{"path", "bytes", "sequences", "detail" (the ids shown in detail),
        "methods"}``.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: attributions shaped unlike the inputs or unlike each other;
            NaN/Inf in them; ``max_sequences < 1``; unknown or too many
            ``detail_ids``; repeated sample ids; a missing output folder; a
            malformed faithfulness table. All before anything is written.
        ImportError: Plotly is not installed.
    """
    require_plotly()
    out = check_output_path(path)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be a string. Received: title={title!r}.")
    faithfulness = check_faithfulness(faithfulness)
    content = build_content(
        attributions=attributions,
        inputs=inputs,
        feature_names=feature_names,
        sample_ids=sample_ids,
        outputs=outputs,
        method=method,
        padding_mask=padding_mask,
        max_sequences=max_sequences,
        detail_ids=detail_ids,
    )
    content.title = title or "Explanation report"
    if model is not None:
        content.header["model"] = str(model)
    for key, value in (settings or {}).items():
        content.header[str(key)] = describe_value(value)
    content.faithfulness = faithfulness
    extras.attach(content, shapley=shapley, sis=sis, sis_input=sis_input)
    return render_content(content, out)
