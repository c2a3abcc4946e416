"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) driven
by Playwright, opened from ``file://`` with every network request aborted.

Skipped, with the reason, when Playwright or ``/usr/bin/chromium`` is missing (CI
installs both); tests/test_report.py checks the file itself either way.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytest.importorskip("plotly", reason="the report needs Plotly: pip install tf_tsexplain[report]")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need Playwright: pip install playwright"
)
if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )

T, F = 40, 3
ATTR = "document.getElementById('fig-detail-0').data.find(d => d.meta.role === 'attr')"


@pytest.fixture(scope="module")
def job_report(tmp_path_factory):
    """A real small job (Conv1D, integrated gradients, padded sequences) and its report."""
    import keras

    from tf_tsexplain.jobs import explain_to_parquet
    from tf_tsexplain.report import report_from_job

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, T, F)).astype("float32")
    inputs = keras.Input((T, F))
    h = keras.layers.Conv1D(4, 3, padding="same", activation="tanh")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(h)))
    root = tmp_path_factory.mktemp("browser")
    explain_to_parquet(
        model, x, root / "job", num_samples=8, shard_size=4, verbose=False,
        lengths=rng.integers(30, T + 1, size=8), feature_names=["alpha", "beta", "gamma"],
    )  # fmt: skip
    report_from_job(root / "job", root / "report.html")
    return root / "job", root / "report.html"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Opened:
    """A report opened in a fresh page, with its console errors and every request."""

    def __init__(self, browser, path):
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors, self.requests, self.aborted = [], [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

        def abort(route):
            self.aborted.append(route.request.url)
            route.abort()

        self.page.route(lambda url: not url.startswith("file:"), abort)
        self.url = Path(path).resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_function("window.tfTsexplainReport && window.tfTsexplainReport.ready")

    def state(self, expression):
        return self.page.evaluate(f"window.tfTsexplainReport.{expression}")

    def cell_position(self, trace, step, feature):
        """Page coordinates of the centre of heat map cell (step, feature) of ``trace``."""
        return self.page.evaluate(
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


@pytest.fixture(scope="module")
def opened(browser, job_report):
    """One page for the tests of the job's report (opening takes a second or more);
    the test that moves the picker runs last."""
    page = Opened(browser, job_report[1])
    yield page
    page.page.close()


def test_opens_with_no_console_error_and_no_request_but_the_file(opened):
    assert opened.errors == [] and opened.state("errors") == []
    assert opened.requests == [opened.url] and opened.aborted == []
    assert opened.page.locator("#tsx-sequence option").count() == 8


def test_heat_map_is_drawn(opened, tmp_path):
    from PIL import Image

    shot = tmp_path / "detail.png"
    opened.page.locator("#fig-detail-0").screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours: the heat map is not drawn"
    # the red and blue ends of the attribution scale are both there
    assert ((pixels[:, 0] > 150) & (pixels[:, 2] < 120)).sum() > 50
    assert ((pixels[:, 2] > 150) & (pixels[:, 0] < 120)).sum() > 50


def _number(text, label):
    line = next(x for x in text.splitlines() if x.strip().startswith(label))
    return float(line.split(":")[1].strip().replace("\u2212", "-"))


def test_hovered_cell_shows_the_value_in_the_jobs_parquet(opened, job_report):
    import pyarrow.parquet as pq

    cells = pq.read_table(job_report[0] / "attributions").to_pandas()
    sample = opened.page.evaluate(
        "JSON.parse(document.getElementById('tsx-data').textContent).sequences[0].id"
    )
    for step, feature in ((5, 1), (17, 2)):
        x, y = opened.cell_position(1, step, feature)  # trace 1: the attribution heat map
        opened.page.mouse.move(x, y)
        opened.page.wait_for_selector("g.hovertext", timeout=5000)
        text = opened.page.evaluate(
            "Array.from(document.querySelectorAll('g.hovertext text.nums tspan.line'))"
            ".map(t => t.textContent).join('\\n')"
        )
        name = ["alpha", "beta", "gamma"][feature]
        row = cells[
            (cells["sample"] == int(sample)) & (cells["time"] == step) & (cells["feature"] == name)
        ]
        assert len(row) == 1 and f"{name}, step {step}" in text
        want_a, want_v = row["attribution"].iloc[0], row["value"].iloc[0]
        np.testing.assert_allclose(_number(text, "attribution"), want_a, rtol=5e-6, atol=1e-12)
        np.testing.assert_allclose(_number(text, "input value"), want_v, rtol=5e-6, atol=1e-12)
        hover = opened.state("lastHover")  # the number behind the label: exactly the stored one
        assert hover["step"] == step and hover["feature"] == name
        assert np.float32(hover["attribution"]) == want_a and np.float32(hover["value"]) == want_v
        opened.page.mouse.move(2, 2)


def test_picker_switches_the_detail_view(opened):
    def view():
        return opened.page.evaluate(
            f"[JSON.stringify({ATTR}.z), document.getElementById('tsx-summary').textContent]"
        )

    before = view()
    ids = opened.page.evaluate(
        "JSON.parse(document.getElementById('tsx-data').textContent).sequences.map(s => s.id)"
    )
    assert before[1].startswith(f"sample {ids[0]}:")
    opened.page.select_option("#tsx-sequence", "3")
    opened.page.wait_for_function("window.tfTsexplainReport.shown === 3")
    after = view()
    assert after[0] != before[0] and after[1].startswith(f"sample {ids[3]}:")
    assert opened.errors == []


def test_long_sequences_and_every_section(browser, tmp_path):
    """T = 1,000 (binned zoomed out, every step zoomed in), two inputs (one static),
    padding, faithfulness, Shapley and SIS: one page (each opening costs seconds)."""
    import pandas as pd

    from tf_tsexplain import tables
    from tf_tsexplain.report import write_report

    rng = np.random.default_rng(8)
    n, t = 6, 1000
    seq = rng.normal(size=(n, t, 3)).astype("float32")
    static = rng.normal(size=(n, 3)).astype("float32")
    names = ["ig", "random"]
    table = pd.DataFrame({"deletion_auc": [0.1, 0.5], "rank": [1.0, 2.0]}, index=names)
    table.attrs["curves"] = pd.DataFrame(
        [(e, c, p, 1 - p, 0.01) for e in names for c in ("deletion", "insertion") for p in (0, 1)],
        columns=["explainer", "curve", "fraction", "mean", "sem"],
    )
    sis = pd.DataFrame({"sample": [1, 1], "sis": [0, 0], "time": [3, 4], "feature": ["f0", "f1"]})
    write_report(
        tmp_path / "all.html",
        attributions={"seq": seq * 2, "static": static},
        inputs={"seq": seq, "static": static},
        padding_mask={"seq": np.arange(t)[None] < np.array([1000, 900, 30, 50, 45, 20])[:, None]},
        faithfulness=table,
        shapley=tables.shapley_events_frame(rng.normal(size=(n, t)), np.full(n, 30)),
        sis=sis,
        detail_ids=[0, 1],
    )
    page = Opened(browser, tmp_path / "all.html")
    try:
        drawn = page.page.evaluate(
            "Array.from(document.querySelectorAll('div.plot'))"
            ".map(d => [d.id, d.querySelectorAll('.main-svg').length > 0])"
        )
        assert len(drawn) == 8 and all(ok for _, ok in drawn), drawn  # shapley: 2 figures
        bin_out = page.state("bins[0]")  # sequence 0: all 1,000 steps real
        assert bin_out > 1 and page.page.evaluate(f"{ATTR}.z[0].length") == -(-t // bin_out)
        peak = np.abs(seq[0, :bin_out, 0]).argmax()  # the first bin shows its peak, signed
        assert np.float32(page.page.evaluate(f"{ATTR}.z[0][0]")) == seq[0, peak, 0] * 2
        x0, y0 = page.cell_position(1, 400, 1)  # drag across the heat map, as a user zooms
        x1, _ = page.cell_position(1, 460, 1)
        page.page.mouse.move(x0, y0)
        page.page.mouse.down()
        page.page.mouse.move((x0 + x1) / 2, y0, steps=4)
        page.page.mouse.move(x1, y0, steps=4)
        page.page.mouse.up()
        page.page.wait_for_function("window.tfTsexplainReport.drawn[0] === 1")
        np.testing.assert_array_equal(
            np.float32(page.page.evaluate(f"{ATTR}.z[2]")), seq[0, :, 2] * 2
        )
        visible = page.page.evaluate(
            "document.getElementById('fig-detail-0')._fullLayout.xaxis.range"
        )
        assert 395 < visible[0] < 405 and 455 < visible[1] < 465
        page.page.select_option("#tsx-sequence", "1")
        page.page.wait_for_function("window.tfTsexplainReport.shown === 1")
        z = page.page.evaluate("document.getElementById('fig-sis').data[0].z")
        assert z[0][3] == 1 and z[1][4] == 1 and sum(v is not None for r in z for v in r) == 2
        assert page.errors == [] and page.state("errors") == [] and page.aborted == []
    finally:
        page.page.close()
