"""Progress lines (tf_tsexplain._batching.Progress): readable in logs and terminals."""

import io
import re

import numpy as np

from tf_tsexplain._batching import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_plain_lines_with_integer_counts_a_total_rate_and_eta():
    log = io.StringIO()
    progress = Progress(1000, True, unit="rows", shown=("inputs done",), stream=log)
    for k in range(100):
        progress.advance(10, [("inputs done", float(k // 10))])
    progress.finish()
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text  # no carriage returns, no escapes
    lines = text.splitlines()
    assert 10 <= len(lines) <= 12  # one per tenth of the total, and the end
    assert lines[-1].startswith(" 100% 1,000/1,000 rows")
    assert re.search(r"\d+% [\d,]+/1,000 rows \| [\d,.]+ rows/s \| ETA \d+s", lines[1])
    assert "inputs done: 9" in lines[-1] and "e+" not in text and ".0000" not in text


def test_a_terminal_gets_one_line_redrawn_in_place():
    tty = Terminal()
    progress = Progress(5, True, unit="inputs", stream=tty)
    for _ in range(5):
        progress.advance(1)
    progress.finish()
    text = tty.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert "5/5 inputs" in text.split("\r")[-1]


def test_nothing_is_written_unless_verbose_and_counts_still_add_up():
    log = io.StringIO()
    progress = Progress(10, False, stream=log)
    progress.advance(4)
    progress.update(7)
    progress.finish()
    assert log.getvalue() == "" and progress.done == 7


def test_sis_progress_counts_inputs_of_a_known_total(capsys):
    import keras

    from tf_tsexplain import SISExplainer

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4, 2)), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")]
    )
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")
    out = model(x).numpy()[:, 0]
    explainer = SISExplainer(model, threshold=float(out.min()) * 0.99, fully_masked_input=-3.0)
    explainer.explain(x, output_indices=0, verbose=True)
    printed = capsys.readouterr().out
    assert "\r" not in printed and "Unknown" not in printed  # captured: not a terminal
    last = printed.strip().splitlines()[-1]
    assert last.startswith(" 100% 3/3 inputs") and re.search(r"SIS found: \d+ \|", last)
    assert re.search(r"model rows: [\d,]+$", last)
