"""Helpers of the plot tests: every figure renders, and the colour of a pixel."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def every_figure_renders(tmp_path):
    """After each test, every figure it made is saved as a PNG that is not blank
    (autouse in the modules that import it). Figures left open by earlier tests of
    the same worker (other modules) are closed first: they are not this test's."""
    plt.close("all")
    yield
    for number in plt.get_fignums():
        path = tmp_path / f"figure_{number}.png"
        plt.figure(number).savefig(path)
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.std() > 0.01, f"figure {number} is blank"
    plt.close("all")


def pixel(fig, ax, x, y):
    """RGB (0..1) of the rendered pixel at data coordinates (x, y)."""
    fig.canvas.draw()
    buffer = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return buffer[int(buffer.shape[0] - py), int(px), :3] / 255.0
