"""A report of long sequences (T = 500), and headless-Chromium screenshots of it.

A small Conv1D model is trained (30 epochs) on synthetic sequences of 500 steps x 6 features whose
label is set by feature ``f2`` around steps 300-320 and by ``f4`` near the end; 40
sequences (with variable lengths: padding) are explained with integrated gradients and
input x gradient and written to one report, then opened in Chromium: the whole
page, the detail view zoomed out (bins of steps), zoomed in on steps 290-330 with a
hovered cell, and the global view.

    PYTHONPATH=. python examples/report_screenshots.py [OUT_DIR]

writes ``report_t500.html`` and ``report_*.png`` (default: examples/figures/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

T, F = 500, 6


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, F)).astype("float32")
    y = (x[:, 300:320, 2].mean(axis=1) + 0.5 * x[:, -30:, 4].mean(axis=1) > 0).astype("float32")
    return x, y


def main(out_dir=None) -> dict:
    import keras

    from tf_tsexplain import InputXGradient, PathExplainerTF
    from tf_tsexplain.report import write_report

    out = Path(out_dir or Path(__file__).parent / "figures")
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    x, y = make_data(600)
    inputs = keras.Input((T, F))
    h = keras.layers.Conv1D(4, 5, padding="same", activation="relu")(inputs)
    h = keras.layers.Flatten()(keras.layers.AveragePooling1D(10)(h))  # where in time: kept
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=30, batch_size=50, verbose=0)
    accuracy = model.evaluate(x[500:], y[500:], verbose=0)[1]
    test = x[560:600]
    lengths = np.where(np.arange(40) % 4 == 0, 400, T)  # every fourth sequence padded
    mask = np.arange(T)[None, :] < lengths[:, None]
    test = np.where(mask[..., None], test, 0.0).astype("float32")
    ig = PathExplainerTF(model).attributions(
        test, np.zeros((1, T, F), "float32"), num_samples=32, use_expectation=False,
        padding_mask=mask,
    )  # fmt: skip
    ixg = InputXGradient(model).attributions(test, padding_mask=mask)
    report = out / "report_t500.html"
    info = write_report(
        report,
        attributions={"integrated_gradients": ig, "input_x_gradient": ixg},
        inputs=test,
        outputs=model.predict(test, verbose=0)[:, 0],
        padding_mask=mask,
        title=f"Conv1D on 40 sequences of {T} x {F} (test accuracy {accuracy:.2f})",
        model="Conv1D(4, 5) + AveragePooling1D(10) + Dense, trained 30 epochs",
        max_sequences=20,
    )
    shots = screenshots(report, out)
    return {"report": info, "screenshots": shots, "accuracy": accuracy}


def screenshots(report: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    paths = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        # tall enough for the whole detail view: element screenshots need no scrolling
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.route(lambda url: not url.startswith("file:"), lambda route: route.abort())
        page.goto(report.resolve().as_uri())
        page.wait_for_function("window.tfTsexplainReport.ready")
        paths.append(out / "report_page.png")
        page.screenshot(path=str(paths[-1]), full_page=True)
        paths.append(out / "report_detail_zoomed_out.png")
        page.locator("#detail").screenshot(path=str(paths[-1]))

        def cell(trace, step, feature):
            return page.evaluate(
                """([k, t, f]) => {
                    const gd = document.getElementById('fig-detail-0');
                    const tr = gd._fullData[k];
                    const xa = gd._fullLayout['xaxis' + tr.xaxis.slice(1)];
                    const ya = gd._fullLayout['yaxis' + tr.yaxis.slice(1)];
                    const box = gd.querySelector('.main-svg').getBoundingClientRect();
                    return [box.left + xa._offset + xa.l2p(t), box.top + ya._offset + ya.c2p(f)];
                }""",
                [trace, step, feature],
            )

        x0, y0 = cell(1, 290, 2)
        x1, _ = cell(1, 330, 2)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y0, steps=6)
        page.mouse.up()
        page.wait_for_function("window.tfTsexplainReport.drawn[0] === 1")
        page.wait_for_timeout(300)
        x, y = cell(1, 310, 2)
        page.mouse.move(x, y)
        page.wait_for_selector("g.hovertext")
        paths.append(out / "report_detail_zoomed_in.png")
        page.locator("#fig-detail-0").screenshot(path=str(paths[-1]))
        page.mouse.move(2, 2)
        paths.append(out / "report_global.png")
        page.locator("#global").screenshot(path=str(paths[-1]))
        browser.close()
    return paths


if __name__ == "__main__":
    result = main(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"wrote {result['report']['path']} ({result['report']['bytes'] / 1e6:.1f} MB); "
          f"test accuracy {result['accuracy']:.2f}")  # fmt: skip
    for path in result["screenshots"]:
        print(f"wrote {path}")
