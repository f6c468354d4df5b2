"""A guard against loss spikes: skip a batch that spikes; after a burst of them, roll back
to a checkpoint from before the burst at half the learning rate.

Adam at a constant learning rate can leave a trained style network in one burst: on
mosaic at 1e-3, around step 3,090 of 5,000, the style loss rose from its usual 0.6 to
4, 10, 192, 658 and 710 within six steps and the network collapsed to a flat image (TV
loss 0.26 -> 0.006) that it did not leave in 100 more steps.

A step whose total loss is :data:`SPIKE_FACTOR` times the median of the last
:data:`WINDOW` steps (judged from :data:`MIN_WINDOW` steps on; a resumed run's window starts
from its loss history), or not finite, is a spike. It is judged before the optimizer step,
so a spike costs no update: the batch is skipped (one odd batch, such as a nearly blank
photo, is no reason to rewind). :data:`BURST` spikes within :data:`BURST_SPAN` steps mean
the network itself is leaving: the run goes back to its newest checkpoint written at
least :data:`MARGIN` steps before the burst began (weights, optimizer, step, RNG: the same
batches come again) with half the learning rate, recorded in ``weight_changes`` with the
step and the loss. After :data:`MAX_ROLLBACKS` in one session, or with no such checkpoint,
it stops with :class:`TrainingDiverged`.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from stylepipe.errors import StylepipeError

from .checkpoint import LATEST, PREVIOUS, CheckpointError, find_checkpoint

if TYPE_CHECKING:
    from .loop import RunState, Trainer

SPIKE_FACTOR = 10.0
WINDOW = 100
#: Steps the window needs before it judges. A run's first steps only fall (the worst rise
#: over the median of the steps before, in steps 20-300 of four bundled runs: 1.4x).
#: Waiting for the whole window left a resumed run unguarded for 100 steps: mosaic resumed
#: at a tripled style weight left in its first 10 (style loss 1.5 -> 34 -> 337 -> 876).
MIN_WINDOW = 20
BURST = 3
BURST_SPAN = 20
MARGIN = 20
MAX_ROLLBACKS = 3
LOWER_THE_RATE = "resume from the last checkpoint with a lower --lr, or lower the weights"


class TrainingDiverged(StylepipeError):
    """The loss became NaN or infinite, or kept spiking."""


class SpikeGuard:
    """Tells a spike from the noise of the last ``window`` steps' total losses and
    remembers the steps of recent spikes."""

    def __init__(
        self, factor: float = SPIKE_FACTOR, window: int = WINDOW, min_window: int = MIN_WINDOW
    ) -> None:
        self.factor = factor
        self.recent: deque[float] = deque(maxlen=window)
        self.min_window = min(min_window, window)
        self.spikes: deque[tuple[int, float]] = deque(maxlen=BURST)  # (step, loss)
        self.rollbacks = 0

    @property
    def median(self) -> float:
        return statistics.median(self.recent) if self.recent else math.nan

    def is_spike(self, total: float) -> bool:
        """Whether ``total`` is a spike; a normal value joins the window. Judged once
        the window holds ``min_window`` values."""
        if not math.isfinite(total):
            return True
        enough = len(self.recent) >= self.min_window
        if enough and total > self.factor * self.median:
            return True
        self.recent.append(total)
        return False

    def seed(self, totals: list[float]) -> None:
        """Fill the window with a resumed run's last total losses (the finite ones)."""
        self.recent.extend(t for t in totals[-(self.recent.maxlen or 0) :] if math.isfinite(t))

    def record(self, step: int, total: float) -> bool:
        """Note a spike at ``step``; whether it completes a burst."""
        self.spikes.append((step, total))
        first = self.spikes[0][0]
        return len(self.spikes) == BURST and step - first < BURST_SPAN

    def describe(self) -> str:
        losses = ", ".join(f"{loss:.4g} at step {step}" for step, loss in self.spikes)
        return f"the loss spiked ({losses}; median of the steps before: {self.median:.4g})"


def roll_back(
    trainer: Trainer, state: RunState, guard: SpikeGuard, log: Callable[[str], None]
) -> None:
    """After a burst of spikes: back to a checkpoint from before it, at half the
    learning rate (recorded in ``weight_changes``); raises :class:`TrainingDiverged`
    when there is none, or after :data:`MAX_ROLLBACKS` rollbacks."""
    what = guard.describe()
    if guard.rollbacks >= MAX_ROLLBACKS:
        raise TrainingDiverged(f"{what}, after {MAX_ROLLBACKS} rollbacks", hint=LOWER_THE_RATE)
    try:  # the latest may already hold the leaving network: MARGIN steps before the burst
        path, data = find_checkpoint(
            state.run_dir, state.config.task, at_most_step=guard.spikes[0][0] - MARGIN
        )
    except CheckpointError:
        raise TrainingDiverged(
            f"{what}, and no checkpoint from before it to go back to",
            hint="start again with a lower --lr, or lower the weights",
        ) from None
    name = path.name
    if name == PREVIOUS:  # the latest may hold the leaving network: the one before replaces it
        os.replace(state.run_dir / PREVIOUS, state.run_dir / LATEST)
    elapsed = state.elapsed_s  # the replayed steps cost time too: the run's wall time keeps it
    state.restore(trainer, data)
    state.elapsed_s = elapsed
    lr = state.config.lr
    state.config.lr = lr / 2
    state.config.weight_changes.append(
        f"step {state.step}: lr {lr:g} -> {lr / 2:g} (rolled back: {what})"
    )
    guard.rollbacks += 1
    guard.spikes.clear()  # the window keeps the steps before the burst: they are the norm
    log(f"{what}: rolled back to step {state.step} ({name}), learning rate {lr / 2:g}")
