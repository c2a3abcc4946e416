"""The report's one HTML file: Plotly figures, the instance table, the inlined data.

Every figure is a Plotly figure built here in Python. The figures that follow the
sequence picker (the detail view) are written as templates (their layout and trace
styles) and the arrays of every detail sequence travel as base64 float32 beside them;
the glue in ``report.js`` decodes the chosen sequence's arrays into the template's
traces, and coarsens the time axis into bins when the visible range is longer than
the plot has pixels for.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources

import numpy as np
import pandas as pd

from tf_tsexplain.report.content import INSTANCE_COLUMNS, Content, Part, global_summary

# colour-blind-safe qualitative colours for methods (Okabe and Ito), then Plotly's D3
METHOD_COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)
ATTRIBUTION_SCALE = "RdBu_r"  # diverging: blue negative, white 0, red positive
VALUE_SCALE = "Viridis"
HEATMAP_ROW_PX = (16, 26)  # pixels per feature row of a heat map (min, max)
COLUMN_NAMES = {
    "sample": "sample",
    "explained_index": "explained output",
    "explained_prediction": "f(x)",
    "baseline_prediction": "f(baseline)",
    "approximation_error": "approximation error",
}


def _b64(array: np.ndarray) -> str:
    """Little-endian float32 bytes, base64 (NaN kept: padded cells)."""
    return base64.b64encode(np.ascontiguousarray(array, "<f4").tobytes()).decode("ascii")


def _figure_json(fig) -> dict:
    import plotly.io

    return json.loads(plotly.io.to_json(fig, validate=False))


def _colour(k: int) -> str:
    return METHOD_COLOURS[k % len(METHOD_COLOURS)]


# ------------------------------------------------------------------------- figures
def _heatmap_px(f: int) -> int:
    low, high = HEATMAP_ROW_PX
    return int(max(90, min(f * high, max(f * low, 360))))


def detail_template(content: Content, part: Part) -> dict:
    """The detail figure of one sequence input, without its data: a row of input
    values, one heat map per method (time x feature, one shared colour axis) with the
    per-feature totals to its right, and the per-step totals of every method below."""
    from plotly.subplots import make_subplots

    methods = content.methods
    has_values = part.values is not None
    rows = int(has_values) + len(methods) + 1
    heat = _heatmap_px(len(part.feature_names))
    heights = [heat] * (rows - 1) + [150]
    titles = []
    if has_values:
        titles += ["input values (colour: z-score per feature; hover: value)", ""]
    for m in methods:
        titles += [f"{m}: attribution", "total per feature"]
    titles += ["total per step (sum over features)", ""]
    fig = make_subplots(
        rows=rows,
        cols=2,
        shared_xaxes=True,
        shared_yaxes=True,
        column_widths=[0.86, 0.14],
        row_heights=[h / sum(heights) for h in heights],
        horizontal_spacing=0.015,
        vertical_spacing=min(0.09, 46 / sum(heights)),
        subplot_titles=titles,
    )
    names = part.feature_names
    if has_values:
        fig.add_heatmap(
            row=1, col=1, z=[[None]], y=names, coloraxis="coloraxis2",
            meta={"role": "values", "part": part.name}, name="input",
        )  # fmt: skip
    for k, m in enumerate(methods):
        row = k + 1 + int(has_values)
        fig.add_heatmap(
            row=row, col=1, z=[[None]], y=names, coloraxis="coloraxis",
            meta={"role": "attr", "part": part.name, "method": m}, name=m,
        )  # fmt: skip
        fig.add_bar(
            row=row, col=2, x=[0] * len(names), y=names, orientation="h",
            marker_color=_colour(k), showlegend=False, name=m,
            meta={"role": "ftotal", "part": part.name, "method": m},
            hovertemplate="%{y}: %{x:.4~g}<extra>" + html.escape(m) + "</extra>",
        )  # fmt: skip
    for k, m in enumerate(methods):
        fig.add_scatter(
            row=rows, col=1, x=[0], y=[0], mode="lines", line={"color": _colour(k), "width": 1.5},
            name=m, meta={"role": "stotal", "part": part.name, "method": m},
            hovertemplate="step %{x}: %{y:.4~g}<extra>" + html.escape(m) + "</extra>",
        )  # fmt: skip
    top = 1.0 - (heights[0] / sum(heights) if has_values else 0.0)
    bottom = heights[-1] / sum(heights)
    fig.update_layout(
        template="plotly_white",
        height=sum(heights) + 110,
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        coloraxis={
            "colorscale": ATTRIBUTION_SCALE,
            "cmid": 0.0,
            "colorbar": {
                "title": {"text": "attribution", "side": "right"},
                "len": max(0.2, top - bottom),
                "y": (top + bottom) / 2,
                "x": 1.0,
                "xanchor": "left",
                "thickness": 14,
            },
        },
        coloraxis2={"colorscale": VALUE_SCALE, "showscale": False},
        legend={"orientation": "h", "y": -0.04, "yanchor": "top", "x": 0},
        hovermode="closest",
        dragmode="zoom",
        bargap=0.15,
        meta={"part": part.name, "steps": int(part.real.shape[1])},
    )
    fig.update_yaxes(fixedrange=True, automargin=True, autorange="reversed", type="category")
    fig.update_yaxes(row=rows, col=1, autorange=True, type="linear", zeroline=True)
    fig.update_xaxes(row=rows, col=1, title_text="time step", range=None)
    fig.update_xaxes(col=2, fixedrange=True, showticklabels=True, nticks=3)
    for r in range(1, rows):
        fig.update_xaxes(row=r, col=1, showticklabels=False)
    return _figure_json(fig)


def static_template(content: Content, part: Part) -> dict:
    """The detail figure of a static input ``(N, S)``: the attribution of each of its
    features, a bar per method."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for k, m in enumerate(content.methods):
        fig.add_bar(
            x=part.feature_names, y=[0] * len(part.feature_names), name=m, marker_color=_colour(k),
            meta={"role": "static", "part": part.name, "method": m},
        )  # fmt: skip
    fig.update_layout(
        template="plotly_white",
        height=280,
        barmode="group",
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        title={"text": f"static input {part.name!r}: attribution per feature", "font_size": 13},
        yaxis_title="attribution",
        meta={"part": part.name, "steps": 0},
    )
    return _figure_json(fig)


def global_figure(content: Content, part: Part) -> dict:
    """Mean |attribution| over every sequence: per step (lines) and per feature (bars),
    one colour per method."""
    from plotly.subplots import make_subplots

    summary = global_summary(part)
    if part.static:
        cols, widths, titles = 1, [1.0], ["mean |attribution| per feature"]
    else:
        cols, widths = 2, [0.7, 0.3]
        titles = ["mean |attribution| per step", "mean |attribution| per feature"]
    fig = make_subplots(rows=1, cols=cols, column_widths=widths, subplot_titles=titles)
    for k, m in enumerate(content.methods):
        s = summary[m]
        if not part.static:
            fig.add_scatter(
                row=1, col=1, x=np.arange(len(s["step"])), y=s["step"].astype(np.float32),
                mode="lines", name=m, line={"color": _colour(k), "width": 1.5}, legendgroup=m,
                hovertemplate="step %{x}: %{y:.4~g}<extra>" + html.escape(m) + "</extra>",
            )  # fmt: skip
        fig.add_bar(
            row=1, col=cols, x=s["feature"].astype(np.float32), y=part.feature_names,
            orientation="h", name=m, marker_color=_colour(k), legendgroup=m,
            showlegend=part.static,
            hovertemplate="%{y}: %{x:.4~g}<extra>" + html.escape(m) + "</extra>",
        )  # fmt: skip
    heat = _heatmap_px(len(part.feature_names))
    fig.update_layout(
        template="plotly_white",
        height=max(260, heat + 120),
        barmode="group",
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.15, "x": 0},
    )
    fig.update_yaxes(col=cols, autorange="reversed", automargin=True, type="category")
    if not part.static:
        fig.update_xaxes(row=1, col=1, title_text="time step")
    return _figure_json(fig)


def faithfulness_figure(table: pd.DataFrame) -> dict | None:
    """Deletion and insertion curves of ``compare_explainers``: mean and a band of one
    standard error per explainer, the random control dashed."""
    from plotly.subplots import make_subplots

    curves = table.attrs.get("curves") if hasattr(table, "attrs") else None
    if curves is None or len(curves) == 0:
        return None
    kinds = [c for c in ("deletion", "insertion") if c in set(curves["curve"])]
    titles = {
        "deletion": "deletion: cells removed, most important first (lower is better)",
        "insertion": "insertion: cells inserted, most important first (higher is better)",
    }
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[titles[k] for k in kinds])
    names = list(dict.fromkeys(curves["explainer"]))
    for k, name in enumerate(names):
        random = name == "random"
        colour = "#444444" if random else _colour(k)
        for c, kind in enumerate(kinds, start=1):
            rows = curves[(curves["explainer"] == name) & (curves["curve"] == kind)]
            rows = rows.sort_values("fraction")
            x = rows["fraction"].to_numpy(np.float64)
            mean = rows["mean"].to_numpy(np.float64)
            sem = rows["sem"].to_numpy(np.float64) if "sem" in rows else np.zeros_like(mean)
            sem = np.nan_to_num(sem)
            fig.add_scatter(
                row=1, col=c, x=np.r_[x, x[::-1]], y=np.r_[mean + sem, (mean - sem)[::-1]],
                fill="toself", fillcolor=colour, opacity=0.15, line={"width": 0}, mode="lines",
                hoverinfo="skip", showlegend=False, legendgroup=name,
            )  # fmt: skip
            fig.add_scatter(
                row=1, col=c, x=x, y=mean, mode="lines", name=name, legendgroup=name,
                showlegend=c == 1,
                line={"color": colour, "width": 2, "dash": "dash" if random else "solid"},
                hovertemplate="%{x:.2f}: %{y:.4~g}<extra>" + html.escape(name) + "</extra>",
            )  # fmt: skip
        fig.update_xaxes(title_text="fraction of cells", range=[0, 1])
    fig.update_yaxes(title_text="explained output (mean ± s.e.)", col=1)
    fig.update_layout(
        template="plotly_white",
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.2, "x": 0},
    )
    return _figure_json(fig)


# ------------------------------------------------------------------------- tables
def _number(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, int | np.integer):
        return f"{int(value):d}"
    return f"{float(value):.4g}"


def instance_table(content: Content) -> str:
    """The instance table, one row per sequence; rows with a detail view open it."""
    frame = content.instances
    detail = {int(i): k for k, i in enumerate(content.detail)}
    head = ["<th data-type='str'>detail</th>"]
    columns = list(frame.columns)
    for column in columns:
        kind = "num" if column != "sample" or frame[column].dtype.kind in "iuf" else "str"
        label = COLUMN_NAMES.get(column, column)
        head.append(f"<th data-type='{kind}'>{html.escape(label)}</th>")
    body = []
    arrays = {c: frame[c].to_numpy() for c in columns}
    for i in range(len(frame)):
        k = detail.get(i)
        cells = [f"<td>{'&#9656;' if k is not None else ''}</td>"]
        for column in columns:
            value = arrays[column][i]
            if column == "sample":
                text = html.escape(str(value))
                cells.append(f"<td>{text}</td>")
            else:
                raw = "" if value is None or pd.isna(value) else repr(float(value))
                cells.append(f"<td data-v='{raw}'>{_number(value)}</td>")
        attrs = f" class='has-detail' data-seq='{k}'" if k is not None else ""
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    return (
        "<table id='tsx-instances' class='data sortable'><thead><tr>"
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def faithfulness_table(table: pd.DataFrame) -> str:
    """``compare_explainers``'s table: per metric mean ± standard error, seconds, rank."""
    frame = table.sort_values("rank") if "rank" in table.columns else table
    metrics = [c for c in frame.columns if not c.endswith("_sem") and c not in ("seconds", "rank")]
    head = ["explainer", *metrics] + [c for c in ("seconds", "rank") if c in frame.columns]
    rows = []
    for name, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(name))}</td>"]
        for m in metrics:
            sem = row.get(f"{m}_sem")
            text = _number(row[m]) + (
                f" ± {_number(sem)}" if sem is not None and pd.notna(sem) else ""
            )
            cells.append(f"<td data-v='{float(row[m])!r}'>{text}</td>")
        for c in ("seconds", "rank"):
            if c in frame.columns:
                cells.append(f"<td data-v='{float(row[c])!r}'>{_number(row[c])}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<table id='tsx-faithfulness' class='data sortable'><thead><tr>"
        + "".join(f"<th data-type='{'str' if h == 'explainer' else 'num'}'>{html.escape(h)}</th>"
                  for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )  # fmt: skip


# ------------------------------------------------------------------------- page
def _sequence_payload(content: Content, row: int) -> dict:
    ids = content.ids
    info = content.instances.iloc[row]
    parts = []
    for part in content.parts:
        entry = {
            "a": {m: _b64(part.attributions[m][row]) for m in content.methods},
            "v": None if part.values is None else _b64(part.values[row]),
        }
        parts.append(entry)
    known = {c: info[c] for c in INSTANCE_COLUMNS if c in info.index and pd.notna(info[c])}
    summary = ", ".join(f"{COLUMN_NAMES[c]} = {_number(v)}" for c, v in known.items())
    entry = {"row": int(row), "id": str(ids[row]), "summary": summary, "parts": parts}
    shapley = {}
    for level, frame in content.shapley.items():
        rows = frame.get(ids[row])
        if rows is not None:
            shapley[level] = rows
    if shapley:
        entry["shapley"] = shapley
    if row in content.sis:
        entry["sis"] = _b64(content.sis[row])
    return entry


def _part_meta(part: Part) -> dict:
    meta = {"name": part.name, "features": part.feature_names, "static": part.static}
    if part.values is not None:
        x = part.values.astype(np.float64)
        axes = (0,) if part.static else (0, 1)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(x, axis=axes)
            std = np.nanstd(x, axis=axes)
        meta["mean"] = np.nan_to_num(mean).tolist()
        meta["std"] = np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0).tolist()
    if not part.static:
        meta["steps"] = int(part.real.shape[1])
    return meta


def _script_json(value) -> str:
    """JSON safe inside ``<script>``: no ``</`` and no ``<!--`` in the text."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _asset(name: str) -> str:
    return resources.files("tf_tsexplain.report").joinpath(name).read_text(encoding="utf-8")


def render(content: Content, version: str, created: str) -> str:
    """The whole report as one HTML string (Plotly's JavaScript inlined)."""
    import plotly
    import plotly.offline

    figures = {}
    for k, part in enumerate(content.parts):
        figures[f"detail-{k}"] = (
            static_template(content, part) if part.static else detail_template(content, part)
        )
        figures[f"global-{k}"] = global_figure(content, part)
    faith_html = ""
    if content.faithfulness is not None:
        curves = faithfulness_figure(content.faithfulness)
        if curves is not None:
            figures["faithfulness"] = curves
        faith_html = (
            "<section id='faithfulness'><h2>Faithfulness</h2>"
            "<p class='note'>compare_explainers: the mean of each metric over the inputs "
            "with its standard error; rank is the mean rank over the metrics, each in its "
            "better direction (1 is best). The random control is what no explanation "
            "scores.</p>"
            + faithfulness_table(content.faithfulness)
            + ("<div class='plot' id='fig-faithfulness'></div>" if curves is not None else "")
            + "</section>"
        )
    extra_html, extra_figures, extra_detail = _shapley_sis_sections(content)
    figures.update(extra_figures)
    payload = {
        "methods": content.methods,
        "parts": [_part_meta(p) for p in content.parts],
        "figures": figures,
        "sequences": [_sequence_payload(content, int(i)) for i in content.detail],
        "sisInput": content.sis_input,
    }
    options = "".join(
        f"<option value='{k}'>{html.escape(str(content.ids[int(i)]))}</option>"
        for k, i in enumerate(content.detail)
    )
    header = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in {
            **content.header,
            "method(s)": ", ".join(content.methods),
            "sequences": f"{content.n:,}",
            "tf_tsexplain": version,
            "made": created,
        }.items()
    )
    detail_note = (
        f"Detail for {len(content.detail):,} of {content.n:,} sequences: {content.detail_rule} "
        "(max_sequences). The instance table and the global view cover all of them; rows "
        "marked &#9656; have a detail view (click to open)."
    )
    padded = any(p.padded for p in content.parts)
    detail_divs = "".join(
        f"<h3>input {html.escape(p.name)!s}</h3>" * (len(content.parts) > 1)
        + f"<div class='plot' id='fig-detail-{k}'></div>"
        for k, p in enumerate(content.parts)
    )
    global_divs = "".join(
        f"<h3>input {html.escape(p.name)}</h3>" * (len(content.parts) > 1)
        + f"<div class='plot' id='fig-global-{k}'></div>"
        for k, p in enumerate(content.parts)
    )
    title = html.escape(content.title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tf_tsexplain {html.escape(version)}">
<title>{title}</title>
<style>{_asset("report.css")}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head><body>
<header><h1>{title}</h1><table class="meta">{header}</table>
<nav><a href="#detail">detail</a> <a href="#instances">instances</a> <a href="#global">global</a>
{"<a href='#faithfulness'>faithfulness</a>" if faith_html else ""}
{"<a href='#shapley'>Shapley</a>" if content.shapley else ""}
{"<a href='#sis'>SIS</a>" if content.sis else ""}</nav></header>
<main>
<section id="detail"><h2>Detail view</h2>
<p class="note">{detail_note}</p>
<div class="picker"><label for="tsx-sequence">sequence</label>
<select id="tsx-sequence">{options}</select>
<button type="button" id="tsx-prev" title="previous sequence">&#9664;</button>
<button type="button" id="tsx-next" title="next sequence">&#9654;</button>
<span id="tsx-summary"></span></div>
<p class="note">Drag across a heat map to zoom in time, double-click to zoom out; the
mouse wheel zooms and the toolbar pans. When more steps are in view than the plot has
room for, each column shows the step of largest |attribution| of a bin of steps (the
hover names them); zoomed in, every step is its own column. All methods share one
colour scale{"; padded steps are not drawn" if padded else ""}.</p>
{detail_divs}
{extra_detail}
</section>
<section id="instances"><h2>Instances</h2>
<p class="note">Every sequence of the report; click a column header to sort.</p>
<div class="scroll">{instance_table(content)}</div></section>
<section id="global"><h2>Global view</h2>
<p class="note">Mean |attribution| over all {content.n:,} sequences (real steps only).</p>
{global_divs}</section>
{faith_html}
{extra_html}
</main>
<footer>tf_tsexplain {html.escape(version)}, plotly.py {html.escape(plotly.__version__)}
(JavaScript inlined: this file needs no network).</footer>
<script type="application/json" id="tsx-data">{_script_json(payload)}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""


def _shapley_sis_sections(content: Content) -> tuple[str, dict, str]:
    """The Shapley and SIS figures: per sequence (in the detail view, following the
    picker) and over all sequences; ``(sections html, figures, detail divs html)``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figures, sections, detail = {}, "", ""
    if content.shapley:
        levels = [lv for lv in ("event", "feature") if lv in content.shapley]
        titles = {"event": "Shapley value per event (time step)", "feature": "per feature"}
        fig = make_subplots(
            rows=1, cols=len(levels), subplot_titles=[titles[lv] for lv in levels],
            column_widths=[0.7, 0.3][: len(levels)] if len(levels) == 2 else [1.0],
        )  # fmt: skip
        for c, level in enumerate(levels, start=1):
            fig.add_bar(
                row=1, col=c, x=[], y=[], marker_color="#0072B2", showlegend=False,
                orientation="v" if level == "event" else "h", meta={"role": f"sh_{level}"},
                hovertemplate=("step %{x}: %{y:.6~g}" if level == "event" else "%{y}: %{x:.6~g}")
                + "<extra>Shapley</extra>",
            )  # fmt: skip
        if "event" in levels:
            fig.update_xaxes(row=1, col=1, title_text="time step")
        fig.update_layout(
            template="plotly_white", height=300, margin={"l": 10, "r": 10, "t": 40, "b": 40},
            title={"text": "Shapley values of this sequence", "font_size": 13},
        )  # fmt: skip
        fig.update_yaxes(col=len(levels), automargin=True)
        figures["shapley"] = _figure_json(fig)
        detail += "<div class='plot' id='fig-shapley'></div>"
        overall = make_subplots(rows=1, cols=len(levels), subplot_titles=[
            {"event": "mean |Shapley| per event, by position from the end",
             "feature": "mean |Shapley| per feature"}[lv] for lv in levels])  # fmt: skip
        for c, level in enumerate(levels, start=1):
            by_sample = content.shapley[level]
            if level == "event":
                frame = pd.DataFrame(
                    [(t - _steps(content), abs(v)) for e in by_sample.values()
                     for t, v in zip(e["t"], e["v"], strict=True)],
                    columns=["position", "phi"],
                )  # fmt: skip
                mean = frame.groupby("position")["phi"].mean()
                overall.add_bar(row=1, col=c, x=mean.index.to_numpy(), y=mean.to_numpy(),
                                marker_color="#0072B2", showlegend=False)  # fmt: skip
                overall.update_xaxes(row=1, col=c, title_text="position (-1: the last step)")
            else:
                frame = pd.DataFrame(
                    [(f, abs(v)) for e in by_sample.values()
                     for f, v in zip(e["f"], e["v"], strict=True)],
                    columns=["feature", "phi"],
                )  # fmt: skip
                mean = frame.groupby("feature", sort=False)["phi"].mean()
                overall.add_bar(
                    row=1,
                    col=c,
                    y=mean.index.tolist(),
                    x=mean.to_numpy(),
                    orientation="h",
                    marker_color="#0072B2",
                    showlegend=False,
                )
        overall.update_layout(template="plotly_white", height=300,
                              margin={"l": 10, "r": 10, "t": 40, "b": 40})  # fmt: skip
        figures["shapley-global"] = _figure_json(overall)
        counts = {lv: len(content.shapley[lv]) for lv in levels}
        sections += (
            "<section id='shapley'><h2>Shapley values</h2><p class='note'>"
            + "; ".join(f"{lv} level: {n:,} sequences" for lv, n in counts.items())
            + ". The detail view shows those of the chosen sequence; here the mean "
            "|Shapley value| over all of them.</p><div class='plot' id='fig-shapley-global'>"
            "</div></section>"
        )
    if content.sis:
        part = next(p for p in content.parts if p.name == content.sis_input)
        fig = go.Figure(
            go.Heatmap(
                z=[[None]], y=part.feature_names, colorscale="Turbo", zmin=1,
                meta={"role": "sis"}, colorbar={"title": {"text": "SIS"}, "thickness": 12},
                hovertemplate="<b>%{y}</b>, step %{x}: SIS %{z}<extra></extra>",
            )
        )  # fmt: skip
        fig.update_layout(
            template="plotly_white", height=_heatmap_px(len(part.feature_names)) + 90,
            margin={"l": 10, "r": 10, "t": 40, "b": 40},
            title={"text": f"sufficient input subsets of this sequence (input {part.name})",
                   "font_size": 13},
            xaxis={"title": "time step", "range": [-0.5, part.real.shape[1] - 0.5]},
            yaxis={"autorange": "reversed", "type": "category"},
        )  # fmt: skip
        figures["sis"] = _figure_json(fig)
        detail += "<div class='plot' id='fig-sis'></div>"
        sizes = [int(np.isfinite(g).sum()) for g in content.sis.values()]
        counts = [int(np.nanmax(g)) if np.isfinite(g).any() else 0 for g in content.sis.values()]
        sections += (
            "<section id='sis'><h2>Sufficient input subsets</h2><p class='note'>"
            f"{len(content.sis):,} sequences with SIS; {np.mean(counts):.3g} SIS per sequence "
            f"on average, {np.mean(sizes):.3g} cells in them. The detail view colours the "
            "cells of each SIS of the chosen sequence (1: the first found); the instance "
            "table counts them.</p></section>"
        )
    return sections, figures, detail


def _steps(content: Content) -> int:
    return next(p.real.shape[1] for p in content.parts if not p.static)
