"""Chunking, the memory budget and progress: the one place that knows ``batch_size``.

Rows (path points, masked copies, Hessian tiles, ...) are processed in chunks of at
most ``batch_size`` model rows so that peak memory is bounded by it and not by the
number of inputs or samples. Compiled functions use an ``input_signature`` with a
``None`` batch axis, so that chunks of any size reuse the same trace.

``batch_size=None`` (the default everywhere) picks the chunk from a memory budget:
the most rows whose estimated working memory fits in the budget (see
:func:`rows_per_call`), capped at ``MAX_AUTO_ROWS``. The default budget is 1 GiB;
change it for the process with :func:`set_memory_budget`, or per explainer with its
``memory_budget`` argument.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

from tf_tsexplain._validation import check_int

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes of working memory per model call
# Past ~16k rows a model call on 2 CPU cores gains nothing measurable per row, while
# host-side arrays keep growing.
MAX_AUTO_ROWS = 16384

_memory_budget = DEFAULT_MEMORY_BUDGET


def set_memory_budget(nbytes: int | None) -> int:
    """Set the process-wide working-memory budget of automatic batch sizes.

    Args:
        nbytes: bytes (>= 1 MiB); None restores the default of 1 GiB.

    Returns:
        The previous budget, so that it can be restored.
    """
    global _memory_budget
    previous = _memory_budget
    _memory_budget = DEFAULT_MEMORY_BUDGET if nbytes is None else check_memory_budget(nbytes)
    return previous


def get_memory_budget() -> int:
    """The process-wide working-memory budget in bytes (default 1 GiB)."""
    return _memory_budget


def check_memory_budget(nbytes) -> int:
    """A budget in bytes: an integer >= 1 MiB."""
    return check_int(nbytes, "memory_budget", min_val=1 << 20)


def rows_per_call(batch_size: int | None, row_bytes: int, budget: int | None = None) -> int:
    """Model rows per call: ``batch_size`` if given, else what fits in the budget.

    Args:
        batch_size: the caller's ``batch_size`` (an int is honoured as it is) or None.
        row_bytes: estimated working memory of one model row (forward and, for
            gradient methods, backward passes), see ``_model.row_bytes``.
        budget: bytes; None uses the process-wide budget.

    Raises:
        ValueError: if not even one row fits in the budget.
    """
    if batch_size is not None:
        return batch_size
    budget = get_memory_budget() if budget is None else budget
    rows = budget // max(int(row_bytes), 1)
    if rows < 1:
        raise ValueError(
            f"The memory budget of {budget / 2**20:.1f} MiB is too small for one model row, "
            f"estimated at {row_bytes / 2**20:.1f} MiB. Raise it with "
            "tf_tsexplain.set_memory_budget(...) or the explainer's memory_budget, or pass "
            "an explicit batch_size."
        )
    return int(min(rows, MAX_AUTO_ROWS))


def chunks(n_rows: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges of at most ``batch_size`` rows."""
    for start in range(0, n_rows, batch_size):
        yield start, min(start + batch_size, n_rows)


class Progress:
    """Progress of a long call, readable in a terminal and in a log file alike.

    On a terminal one line is redrawn in place (at most ten times a second); on any
    other stream (a log file, a pipe, a notebook's captured output) a plain line is
    written each time another tenth of the total is done, or after ``interval``
    seconds, and at the end: no carriage returns and no escape codes. A line reads
    ``  40% 1,200/3,000 rows | 310 rows/s | ETA 6s | <name>: <value> ...``; counts are
    integers, the total is always known. Nothing is written unless ``verbose``.

    Args:
        total: units of work in all (e.g. model rows); None is taken as 0 (then
            only the count is shown).
        verbose: whether to write anything.
        unit: the name of the units.
        shown: names of the values given to :meth:`advance` / :meth:`update`, in
            the order they are written.
        stream: where to write (default: ``sys.stdout`` at the time of the call).
        interval: seconds between lines on a non-terminal stream (default 30).
    """

    def __init__(
        self,
        total: int | None,
        verbose: bool,
        unit: str = "rows",
        shown=(),
        stream=None,
        interval: float = 30.0,
    ):
        self.total = int(total or 0)
        self.unit = unit
        self.verbose = bool(verbose)
        self._shown = tuple(shown)
        self._values: dict = {}
        self._stream = stream
        self._interval = float(interval)
        self._done = 0
        self._start = time.monotonic()
        self._last_write = -1.0
        self._last_tenth = -1
        self._tty = None
        self._finished = False

    @property
    def done(self) -> int:
        """Units done so far."""
        return self._done

    def advance(self, n: int, values: list[tuple[str, float]] | None = None) -> None:
        """Count ``n`` more units; ``values`` (name, number) are shown beside the count."""
        self.update(self._done + int(n), values)

    def update(self, done: int, values: list[tuple[str, float]] | None = None) -> None:
        """Set the units done to ``done``; ``values`` as in :meth:`advance`."""
        self._done = int(done)
        for name, value in values or ():
            self._values[name] = value
        if self.verbose:
            self._maybe_write(final=False)

    def finish(self) -> None:
        """Write the last line (once)."""
        if self.verbose and not self._finished:
            self._finished = True
            self._maybe_write(final=True)

    # ------------------------------------------------------------------ writing
    def _out(self):
        stream = self._stream if self._stream is not None else sys.stdout
        if self._tty is None:
            isatty = getattr(stream, "isatty", None)
            self._tty = bool(isatty and isatty())
        return stream

    def _maybe_write(self, final: bool) -> None:
        stream = self._out()
        now = time.monotonic() - self._start
        if self._tty:
            if not final and now - self._last_write < 0.1:
                return
            stream.write("\r" + self.line(now) + ("\n" if final else ""))
        else:
            tenth = 10 * self._done // self.total if self.total else -1
            due = tenth > self._last_tenth or now - self._last_write >= self._interval
            if not (final or due):
                return
            self._last_tenth = max(tenth, self._last_tenth)
            stream.write(self.line(now) + "\n")
        self._last_write = now
        stream.flush()

    def line(self, elapsed: float | None = None) -> str:
        """The progress line as it is written (without line ends)."""
        elapsed = time.monotonic() - self._start if elapsed is None else elapsed
        done, total = self._done, self.total
        parts = []
        if total:
            parts.append(f"{min(100 * done // total, 100):>4d}% {done:,}/{total:,} {self.unit}")
        else:
            parts.append(f"{done:,} {self.unit}")
        rate = done / elapsed if elapsed > 0 else 0.0
        parts.append(f"{_number(rate)} {self.unit}/s")
        if total and done < total and rate > 0:
            parts.append(f"ETA {_duration((total - done) / rate)}")
        else:
            parts.append(f"{_duration(elapsed)} elapsed")
        names = list(self._shown) + [k for k in self._values if k not in self._shown]
        for name in names:
            if name in self._values:
                parts.append(f"{name}: {_number(self._values[name])}")
        return " | ".join(parts)


def _number(value) -> str:
    """Integers as integers (with thousands separators), others with 3 significant
    digits."""
    number = float(value)
    if number.is_integer() or abs(number) >= 1000:
        return f"{round(number):,}"
    return f"{number:.3g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
