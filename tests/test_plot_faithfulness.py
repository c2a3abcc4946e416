"""The faithfulness plot (tf_tsexplain.plot.faithfulness)."""

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_support import every_figure_renders, pixel  # noqa: F401

from tf_tsexplain.plot import faithfulness_plot

NAMES = [f"method_{k}" for k in range(8)] + ["random"]
FRACTIONS = np.linspace(0, 1, 11)


def table():
    rows = []
    for j, name in enumerate(NAMES):
        rate = 1.0 if name == "random" else 3.0 + j
        deletion = np.exp(-rate * FRACTIONS)
        for q, f in enumerate(FRACTIONS):
            rows.append((name, "deletion", f, deletion[q], 0.02))
            rows.append((name, "insertion", f, 1 - deletion[q], 0.02))
    curves = pd.DataFrame(rows, columns=["explainer", "curve", "fraction", "mean", "sem"])
    frame = pd.DataFrame(
        {"rank": np.arange(9.0)[::-1]}, index=pd.Index(NAMES[::-1], name="explainer")
    )
    frame.attrs["curves"] = curves
    return frame


def test_every_explainer_drawn_with_its_area_random_dashed_grey():
    frame = table()
    fig, axes = faithfulness_plot(frame, title="eight methods")
    assert len(axes) == 2 and fig.get_size_inches()[0] >= 12
    for panel, curve in zip(axes, ("deletion", "insertion"), strict=True):
        lines = {line.get_label(): line for line in panel.get_lines()}
        assert list(lines) == NAMES[::-1]  # the table's rank order
        for name, line in lines.items():
            c = frame.attrs["curves"]
            want = c[(c["explainer"] == name) & (c["curve"] == curve)]
            np.testing.assert_allclose(line.get_ydata(), want["mean"])
        random = lines["random"]
        assert random.get_linestyle() == "--"
        assert matplotlib.colors.to_hex(random.get_color()) == "#595959"
        colours = {matplotlib.colors.to_hex(line.get_color()) for line in lines.values()}
        assert len(colours) == 9  # 8 methods and the control all distinct
        assert len(panel.collections) == 9  # one band each
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    area = float(np.trapezoid(np.exp(-1.0 * FRACTIONS), FRACTIONS))
    assert texts[0].startswith("random") and f"del. AUC {area:.3f}" in texts[0]
    assert f"ins. AUC {1 - area:.3f}" in texts[0]
    # the band is drawn: just above the random deletion curve at 0.5 the pixel is
    # tinted grey, not white
    y = float(np.exp(-0.5)) + 0.012
    rgb = pixel(fig, axes[0], 0.5, y)
    assert rgb.max() < 0.97 and np.ptp(rgb) < 0.05


def test_tidy_curves_given_axes_and_one_curve():
    curves = table().attrs["curves"]
    fig, ax = plt.subplots(figsize=(5, 4))
    got_fig, axes = faithfulness_plot(curves, ax=ax, curves="deletion", band=False)
    assert got_fig is fig and axes[0] is ax and len(ax.get_lines()) == 9
    assert len(ax.collections) == 0
    assert [line.get_label() for line in ax.get_lines()] == NAMES  # order of appearance
    fig, pair = plt.subplots(1, 2)
    _, axes = faithfulness_plot(curves, ax=pair)
    assert list(axes) == list(pair)


def test_bad_input():
    with pytest.raises(TypeError, match="table_or_curves"):
        faithfulness_plot({"curves": 1})
    with pytest.raises(ValueError, match="attrs"):
        faithfulness_plot(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValueError, match="curves"):
        faithfulness_plot(table(), curves=("deletion", "auc"))
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="one Axes per curve"):
        faithfulness_plot(table(), ax=ax)
