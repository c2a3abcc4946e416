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

from collections.abc import Iterator

import keras

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
    """A ``keras.utils.Progbar`` when ``verbose``, nothing otherwise."""

    def __init__(self, total: int | None, verbose: bool, unit: str = "rows", shown=()):
        """``shown``: names of values passed to :meth:`advance`, displayed as given."""
        self._bar = (
            keras.utils.Progbar(total, unit_name=unit, stateful_metrics=list(shown))
            if verbose
            else None
        )
        self._done = 0

    def advance(self, n: int, values: list[tuple[str, float]] | None = None) -> None:
        """Count ``n`` more units; ``values`` are shown beside the bar as they are."""
        self._done += n
        if self._bar is not None:
            self._bar.update(self._done, values=values)

    def finish(self) -> None:
        """End the bar's line (needed when the total was not known in advance)."""
        if self._bar is not None:
            self._bar.update(self._done, finalize=True)
