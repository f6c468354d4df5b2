"""The loss-spike guard: a spike rolls the run back to its last checkpoint at half the
learning rate; a spike that keeps coming, or one before any checkpoint, stops it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from stylepipe_training.config import SRConfig
from stylepipe_training.history import LossHistory
from stylepipe_training.loop import RunState, Runtime, Trainer, TrainingDiverged, train_loop
from stylepipe_training.progress import TrainingProgress
from stylepipe_training.spikes import MAX_ROLLBACKS, SpikeGuard
from torch import nn

from stylepipe.ui import UI


def test_the_guard_judges_only_a_full_window() -> None:
    guard = SpikeGuard(factor=10, window=4)
    assert not any(guard.is_spike(v) for v in (9.0, 5.0, 3.0))  # falling steeply: fine
    assert not guard.is_spike(2.0)
    assert not guard.is_spike(30.0)  # 7.5x the median of 9, 5, 3, 2
    assert guard.is_spike(1000.0) and guard.is_spike(math.nan) and guard.is_spike(math.inf)
    assert list(guard.recent) == [5.0, 3.0, 2.0, 30.0]  # spikes never join the window


class GreyTrainer(Trainer):
    """A 1x1 convolution fitted to grey."""

    def compute(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": ((self.net(inputs) - 0.5) ** 2).mean()}

    def preview(self) -> Image.Image:
        return Image.new("RGB", (8, 8))


class PoisonedBatches:
    """Random batches; at ``step`` a huge one, the first ``times`` it is asked for."""

    def __init__(self, step: int, times: int) -> None:
        self.step, self.left = step, times

    def batch(self, step: int) -> torch.Tensor:
        batch = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(step))
        if step == self.step and self.left > 0:
            self.left -= 1
            return batch * 1e4
        return batch


def train(
    tmp_path: Path, batches: PoisonedBatches, warnings: list[str] | None = None
) -> tuple[RunState, nn.Module]:
    iterations = 12
    torch.manual_seed(0)
    trainer = GreyTrainer(
        nn.Conv2d(3, 3, 1), Runtime(channels_last=False, checkpoint_every=4), 1e-2
    )
    config = SRConfig(name="tiny", data=str(tmp_path), iterations=iterations, lr=1e-2)
    state = RunState(run_dir=tmp_path, config=config, history=LossHistory(trainer.terms))
    trainer.warn = (warnings if warnings is not None else []).append
    with TrainingProgress(UI(quiet=True), "tiny", iterations) as progress:
        assert train_loop(
            trainer, batches, state, progress, log=lambda line: None,
            guard=SpikeGuard(factor=10, window=3),
        )  # fmt: skip
    return state, trainer.net


def test_a_spike_rolls_back_to_the_checkpoint_at_half_the_rate(tmp_path: Path) -> None:
    warnings: list[str] = []
    state, net = train(tmp_path, PoisonedBatches(step=9, times=1), warnings)  # step 10 spikes
    assert state.step == 12
    assert state.config.lr == pytest.approx(5e-3)
    (change,) = state.config.weight_changes
    assert change.startswith("step 8: lr 0.01 -> 0.005 (rolled back") and "step 10" in change
    (warning,) = warnings
    assert "rolled back to step 8" in warning
    steps = [int(row[0]) for row in state.history.rows]
    assert steps == list(range(1, 13))  # the spike's step is not in the history
    assert max(row[1] for row in state.history.rows) < 1.0
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_spike_that_keeps_coming_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match=f"after {MAX_ROLLBACKS} rollbacks"):
        train(tmp_path, PoisonedBatches(step=9, times=MAX_ROLLBACKS + 1))


def test_a_spike_before_the_first_checkpoint_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match="before the first checkpoint"):
        train(tmp_path, PoisonedBatches(step=3, times=1))
