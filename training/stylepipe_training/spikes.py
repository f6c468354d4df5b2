"""A guard against loss spikes: roll back to the last checkpoint and halve the rate.

Adam at a constant learning rate can leave a trained style network in one burst: on
mosaic at 1e-3, around step 3,090 of 5,000, the style loss rose from its usual 0.6 to
4, 10, 192 and 700 within six steps and the network collapsed to a flat image (TV loss
0.26 -> 0.006) that it did not leave in 100 more steps. Once a step's total loss is
:data:`SPIKE_FACTOR` times the median of the last :data:`WINDOW` steps, or not finite,
the run goes back to its last checkpoint (weights, optimizer, step, RNG: the same
batches come again) with half the learning rate, recorded in ``weight_changes`` with
the step and the loss that set it off. After :data:`MAX_ROLLBACKS` in one session, or
with no checkpoint to go back to, it stops with :class:`~.loop.TrainingDiverged`.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

SPIKE_FACTOR = 10.0
WINDOW = 100
MAX_ROLLBACKS = 3


class SpikeGuard:
    """Tells a spike from the noise of the last ``window`` steps' total losses."""

    def __init__(self, factor: float = SPIKE_FACTOR, window: int = WINDOW) -> None:
        self.factor = factor
        self.recent: deque[float] = deque(maxlen=window)
        self.rollbacks = 0

    @property
    def median(self) -> float:
        return statistics.median(self.recent) if self.recent else math.nan

    def is_spike(self, total: float) -> bool:
        """Whether ``total`` is a spike; a normal value joins the window. Judged only
        once the window is full (a run's first steps fall steeply, never spike)."""
        if not math.isfinite(total):
            return True
        full = len(self.recent) == self.recent.maxlen
        if full and total > self.factor * self.median:
            return True
        self.recent.append(total)
        return False
