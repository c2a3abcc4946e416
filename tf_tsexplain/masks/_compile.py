"""``jit_compile="auto"`` for the mask fits: XLA or not, whichever is faster here.

XLA is not faster everywhere. On 2 CPU cores, measured on this package's benchmarks,
an ExtremalMask epoch through a GRU(200) classifier is about 2.3x slower with XLA
and through an InceptionTime-like Conv1D classifier about 10x slower, while small
white boxes gain from XLA's fusion. On a machine without GPU "auto" therefore runs
without XLA and times nothing (:data:`TIME_WITHOUT_GPU`): the trial's XLA compilation
costs seconds per compiled loop and, on the CPU, it did not pick XLA in any of our
measurements. With a GPU, "auto" times both on the fit at hand, once
per compiled loop (model, shapes, mode): the first epochs run without XLA (they are
kept, as the fit's own), then one XLA compilation and a few XLA epochs run on a
copy of the state, which is restored. :func:`prefer_xla` decides: XLA only if its
epochs are faster by :data:`MARGIN` and the time it saves over the epochs left pays
for its compilation; near ties keep XLA off, so "auto" is never slower than XLA off
by more than the trial. When XLA wins the fit restarts under XLA from the initial
state, so its results are those of ``jit_compile=True``; otherwise they are those of
``jit_compile=False`` exactly. A model XLA cannot compile runs without it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import tensorflow as tf

MARGIN = 1.25  # XLA epochs must be this many times faster than plain ones
TRIAL_EPOCHS = 2  # epochs timed per mode (after the first, which traces or compiles)
MIN_EPOCHS = 2 * (TRIAL_EPOCHS + 1)  # shorter fits run without XLA, untimed
# Without a GPU, time the two modes too (False: XLA off without a trial; measured on
# 2 CPU cores: GRU(200) 1.7x and Conv1D 3.1x slower with XLA, see bench_extremal.py)
TIME_WITHOUT_GPU = False


@dataclass
class Choice:
    """What "auto" chose and the timings it chose by (seconds; None if not timed).

    Attributes:
        xla: True when the fit ran with XLA.
        plain_epoch: seconds per epoch without XLA.
        xla_epoch: seconds per epoch with XLA (None if not timed or XLA failed).
        xla_compile: seconds of the first XLA call beyond one epoch (compilation).
        reason: a short note, e.g. "measured", "fit too short to time",
            "XLA failed: ...".
    """

    xla: bool
    plain_epoch: float | None = None
    xla_epoch: float | None = None
    xla_compile: float | None = None
    reason: str = "measured"

    def describe(self) -> str:
        """One line, e.g. ``XLA off: 1.23 s/epoch vs 2.80 s/epoch with XLA (+4.1 s compile)``."""
        mode = "XLA on" if self.xla else "XLA off"
        if self.plain_epoch is None or self.xla_epoch is None:
            return f"{mode} ({self.reason})"
        return (
            f"{mode}: {self.plain_epoch:.4g} s/epoch without XLA vs {self.xla_epoch:.4g} "
            f"s/epoch with XLA (+{self.xla_compile:.3g} s compilation)"
        )


def prefer_xla(
    plain_epoch: float,
    xla_epoch: float | None,
    xla_compile: float,
    epochs_left: int,
    margin: float = MARGIN,
) -> bool:
    """Whether the rest of a fit should run with XLA, from measured timings.

    Args:
        plain_epoch: seconds per epoch without XLA.
        xla_epoch: seconds per epoch with XLA; None when XLA failed.
        xla_compile: seconds XLA's compilation costs (paid again on restart).
        epochs_left: epochs still to run (with XLA the fit restarts: all of them).
        margin: XLA epochs must be at least this many times faster.

    Returns:
        True for XLA: faster by ``margin`` and the saving over ``epochs_left`` epochs
        exceeds the compilation (and the plain epochs a restart throws away).
    """
    if xla_epoch is None:
        return False
    if xla_epoch * margin > plain_epoch:
        return False
    saving = (plain_epoch - xla_epoch) * epochs_left
    return saving > xla_compile + (TRIAL_EPOCHS + 1) * plain_epoch


def timed(call, xla: bool) -> float:
    """Seconds ``call()`` takes (``xla`` says which mode; tests replace this function)."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def choose(run_plain, run_xla, save, restore, n_epoch: int) -> tuple[Choice, int]:
    """Time both modes at the start of a fit and choose.

    Args:
        run_plain: ``run_plain(count)`` runs ``count`` epochs without XLA (tracing
            on its first call), continuing the fit's state.
        run_xla: ``run_xla(count)`` the same with XLA (compiling on its first call);
            may raise if XLA cannot compile the model.
        save, restore: ``state = save()`` copies the fit's state; ``restore(state)``
            puts it back.
        n_epoch: epochs of the whole fit.

    Returns:
        ``(choice, epochs done)``: with ``choice.xla`` False, the plain epochs run so
        far are the fit's first ``epochs done`` epochs; with True, nothing was kept
        (``epochs done`` is 0: the caller restarts from its initial state under XLA).
    """
    if n_epoch < MIN_EPOCHS:
        return Choice(False, reason="fit too short to time"), 0
    if not TIME_WITHOUT_GPU and not tf.config.list_physical_devices("GPU"):
        return Choice(False, reason="no GPU: XLA was slower on the CPU in every measurement"), 0
    run_plain(1)  # traces
    plain = timed(lambda: run_plain(TRIAL_EPOCHS), False) / TRIAL_EPOCHS
    done = 1 + TRIAL_EPOCHS
    state = save()
    try:
        first = timed(lambda: run_xla(1), True)
        xla = timed(lambda: run_xla(TRIAL_EPOCHS), True) / TRIAL_EPOCHS
    except Exception as err:  # any XLA failure (unsupported op, ...) means plain
        restore(state)
        reason = " ".join(str(err).split())[:120]
        return Choice(False, plain, reason=f"XLA failed: {type(err).__name__}: {reason}"), done
    restore(state)
    compile_seconds = max(0.0, first - xla)
    use = prefer_xla(plain, xla, compile_seconds, n_epoch)
    return Choice(use, plain, xla, compile_seconds), 0 if use else done


def run_fit(choice, runner, save, restore, reset, n_epoch: int, verbose: bool, progress):
    """Run a fit's ``n_epoch`` epochs in the mode of ``choice``, or choose it first.

    Args:
        choice: the loop's kept :class:`Choice`, or None ("auto", not yet decided).
        runner: ``runner(xla)`` returns ``run(count)``, which runs ``count`` epochs.
        save, restore: as for :func:`choose`; ``reset()`` puts the initial state back.
        n_epoch: epochs of the fit; verbose: run in steps of ``n_epoch // 50``.
        progress: advanced by the epochs run.

    Returns:
        ``(kept, used)``: the choice the loop keeps for later fits (None while fits
        are too short to time) and the one this fit ran with.
    """
    done = 0
    kept = used = choice
    if choice is None:  # "auto", first chunk of the first fit: time both modes
        used, done = choose(runner(False), runner(True), save, restore, n_epoch)
        if used.reason == "measured" or used.reason.startswith("XLA failed"):
            kept = used  # fits too short to time decide again next time
        if done == 0:
            reset()
        progress.advance(done)
    run = runner(used.xla)
    step = n_epoch if not verbose else max(1, n_epoch // 50)
    while done < n_epoch:
        count = min(step, n_epoch - done)
        run(count)
        done += count
        progress.advance(count)
    return kept, used


def check_finite(bad, name: str, n_epoch: int, first_series: int) -> None:
    """Raise if the loop's ``bad`` flag (``[epoch, row]``, -1 while finite) is set."""
    epoch, row = (int(v) for v in bad.numpy())
    if epoch >= 0:
        raise ValueError(
            f"The {name} objective became NaN or Inf at epoch {epoch} of {n_epoch} "
            f"(series {first_series + row}): lower learning_rate, check that `f` is "
            "finite on perturbed inputs, or use a bounded loss."
        )


# Choices of fits whose compiled loops are not shared (each ExtremalMask keeps its own),
# keyed by what the timings depend on; each entry keeps the objects whose ids are in
# its key alive, so the ids cannot be reused while it is remembered.
_CHOICES: OrderedDict = OrderedDict()
CHOICES_SIZE = 16


def remember_choice(key: tuple, refs, choice: Choice) -> None:
    """Keep ``choice`` for ``key`` (at most ``CHOICES_SIZE``, least recent out)."""
    _CHOICES[key] = (refs, choice)
    _CHOICES.move_to_end(key)
    while len(_CHOICES) > CHOICES_SIZE:
        _CHOICES.popitem(last=False)


def remembered_choice(key: tuple) -> Choice | None:
    """The choice remembered for ``key``, or None."""
    entry = _CHOICES.get(key)
    return None if entry is None else entry[1]


def forget_choices() -> None:
    """Forget every remembered choice (``masks.clear_fit_cache`` calls this)."""
    _CHOICES.clear()
