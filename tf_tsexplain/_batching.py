"""Chunking and progress: the one place that knows about ``batch_size``.

Rows (path points, masked copies, ...) are processed in chunks of at most
``batch_size`` so that peak memory is bounded by it and not by the number of inputs
or samples. Compiled functions use an ``input_signature`` with a ``None`` batch
axis, so that chunks of any size reuse the same trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras


def chunks(n_rows: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges of at most ``batch_size`` rows."""
    for start in range(0, n_rows, batch_size):
        yield start, min(start + batch_size, n_rows)


class Progress:
    """A ``keras.utils.Progbar`` when ``verbose``, nothing otherwise."""

    def __init__(self, total: int | None, verbose: bool, unit: str = "rows"):
        self._bar = keras.utils.Progbar(total, unit_name=unit) if verbose else None
        self._done = 0

    def advance(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(self._done)

    def finish(self) -> None:
        """End the bar's line (needed when the total was not known in advance)."""
        if self._bar is not None:
            self._bar.update(self._done, finalize=True)
