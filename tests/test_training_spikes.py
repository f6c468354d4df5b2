"""The loss-spike guard: a spike's batch is skipped; a burst of spikes rolls the run back
to a checkpoint from before it at half the learning rate; a burst that keeps coming, or
one with no checkpoint before it, stops the run."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from stylepipe_training import loop
from stylepipe_training.config import SRConfig
from stylepipe_training.history import LossHistory
from stylepipe_training.loop import RunState, Runtime, Trainer, train_loop
from stylepipe_training.progress import TrainingProgress
from stylepipe_training.spikes import MAX_ROLLBACKS, SpikeGuard, TrainingDiverged
from torch import nn

from stylepipe.ui import UI


def test_the_guard_judges_only_a_full_window() -> None:
    guard = SpikeGuard(factor=10, window=4)
    assert not any(guard.is_spike(v) for v in (9.0, 5.0, 3.0))  # falling steeply: fine
    assert not guard.is_spike(2.0)
    assert not guard.is_spike(30.0)  # 7.5x the median of 9, 5, 3, 2
    assert guard.is_spike(1000.0) and guard.is_spike(math.nan) and guard.is_spike(math.inf)
    assert list(guard.recent) == [5.0, 3.0, 2.0, 30.0]  # spikes never join the window
    assert not guard.record(10, 1000.0) and not guard.record(25, 1000.0)
    assert not guard.record(50, 1000.0)  # three spikes, but over 40 steps
    assert guard.record(51, 1000.0) is False and guard.record(52, 1000.0)  # 50-52: a burst


class GreyTrainer(Trainer):
    """A 1x1 convolution fitted to grey."""

    def compute(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": ((self.net(inputs) - 0.5) ** 2).mean()}

    def preview(self) -> Image.Image:
        return Image.new("RGB", (8, 8))


class PoisonedBatches:
    """Random batches; at the given steps a huge one, the first ``times`` each is asked for."""

    def __init__(self, steps: range, times: int) -> None:
        self.left = dict.fromkeys(steps, times)

    def batch(self, step: int) -> torch.Tensor:
        batch = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(step))
        if self.left.get(step, 0) > 0:
            self.left[step] -= 1
            return batch * 1e4
        return batch


def train(
    tmp_path: Path, batches: PoisonedBatches, warnings: list[str] | None = None
) -> tuple[RunState, nn.Module]:
    """48 steps of a tiny net, checkpoints every 16, spikes judged from the 4th step."""
    torch.manual_seed(0)
    runtime = Runtime(channels_last=False, checkpoint_every=16)
    trainer = GreyTrainer(nn.Conv2d(3, 3, 1), runtime, 1e-2)
    config = SRConfig(name="tiny", data=str(tmp_path), iterations=48, lr=1e-2)
    state = RunState(run_dir=tmp_path, config=config, history=LossHistory(trainer.terms))
    trainer.warn = (warnings if warnings is not None else []).append
    with TrainingProgress(UI(quiet=True), "tiny", 48) as progress:
        assert train_loop(
            trainer, batches, state, progress, log=lambda line: None,
            guard=SpikeGuard(factor=10, window=3),
        )  # fmt: skip
    return state, trainer.net


def test_one_spike_skips_its_batch(tmp_path: Path) -> None:
    warnings: list[str] = []
    state, net = train(tmp_path, PoisonedBatches(range(9, 10), times=1), warnings)
    assert state.step == 48 and state.config.lr == 1e-2 and not state.config.weight_changes
    (warning,) = warnings
    assert warning.startswith("step 10: loss") and "batch skipped" in warning
    steps = [int(row[0]) for row in state.history.rows]
    assert steps == [s for s in range(1, 49) if s != 10]  # trained on every other batch
    assert max(row[1] for row in state.history.rows) < 1.0
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_burst_of_spikes_rolls_back_at_half_the_rate(tmp_path: Path) -> None:
    warnings: list[str] = []
    state, net = train(tmp_path, PoisonedBatches(range(36, 39), times=1), warnings)
    assert state.step == 48
    assert state.config.lr == pytest.approx(5e-3)
    (change,) = state.config.weight_changes
    # the latest checkpoint (step 32) is within MARGIN of the burst: back to step 16
    assert change.startswith("step 16: lr 0.01 -> 0.005 (rolled back: the loss spiked (")
    assert "at step 37" in change and "at step 39" in change
    assert "rolled back to step 16 (checkpoint.prev.pt)" in warnings[-1]
    steps = [int(row[0]) for row in state.history.rows]
    assert steps == list(range(1, 49))  # the replayed steps replace the lost ones
    assert max(row[1] for row in state.history.rows) < 1.0
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_rollback_keeps_the_time_spent_on_the_lost_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(range(10**6))  # a clock that ticks 1 s each time it is read: 1 s a step
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    state, _ = train(tmp_path, PoisonedBatches(range(36, 39), times=1))
    # 36 steps before the burst (37-39 skipped), back to 16, then 17-48 again: 68 steps
    assert state.elapsed_s == 68.0


def test_a_burst_that_keeps_coming_stops_the_run(tmp_path: Path) -> None:
    # each time back to step 16: a rollback drops the suspect latest checkpoint (step 32),
    # so the replay's own step-32 checkpoint does not push step 16 out
    with pytest.raises(TrainingDiverged, match=f"after {MAX_ROLLBACKS} rollbacks"):
        train(tmp_path, PoisonedBatches(range(36, 39), times=MAX_ROLLBACKS + 1))


def test_a_burst_with_no_checkpoint_before_it_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match="no checkpoint from before it"):
        train(tmp_path, PoisonedBatches(range(10, 13), times=1))


def test_a_resumed_run_is_guarded_from_its_first_step(tmp_path: Path) -> None:
    """The window starts from the run's loss history: a spike on the first step after a
    resume is caught, not trained on (waiting for 100 fresh steps let mosaic diverge)."""
    torch.manual_seed(0)
    trainer = GreyTrainer(nn.Conv2d(3, 3, 1), Runtime(channels_last=False), 1e-2)
    config = SRConfig(name="tiny", data=str(tmp_path), iterations=34, lr=1e-2)
    history = LossHistory(trainer.terms, [[step, 0.5] for step in range(1, 31)])
    state = RunState(run_dir=tmp_path, config=config, history=history, step=30)
    warnings: list[str] = []
    trainer.warn = warnings.append
    with TrainingProgress(UI(quiet=True), "tiny", 34) as progress:
        assert train_loop(trainer, PoisonedBatches(range(30, 31), 1), state, progress, log=len)
    assert warnings and warnings[0].startswith("step 31: loss")
    assert [int(row[0]) for row in state.history.rows[30:]] == [32, 33, 34]


def test_the_guard_judges_from_min_window_values() -> None:
    guard = SpikeGuard(factor=10, window=100, min_window=20)
    assert not any(guard.is_spike(1.0) for _ in range(19)) and not guard.is_spike(50.0)
    assert guard.is_spike(50.0)  # 20 values now (the first 50 joined): median 1
