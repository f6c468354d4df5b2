"""The dead-layer watch and the warning the training loop gives when a layer dies."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from stylepipe_sr.network import SRNet
from stylepipe_training.config import SRConfig
from stylepipe_training.health import silent_layers_warning, watch_relus
from stylepipe_training.history import LossHistory
from stylepipe_training.loop import RunState, Runtime, Trainer, train_loop
from stylepipe_training.progress import TrainingProgress
from torch import nn

from stylepipe.ui import UI


class TwoStage(nn.Module):
    """conv -> shared ReLU -> conv -> the same ReLU again."""

    def __init__(self, second_bias: float) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 4, 1)
        self.second = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()
        with torch.no_grad():
            for conv in (self.first, self.second):
                conv.weight.fill_(0.1)
                conv.bias.fill_(0.1)
            self.second.bias.fill_(second_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.second(self.relu(self.first(x))))


def run_watched(net: nn.Module, passes: int = 1) -> list[str]:
    with watch_relus(net) as silent, torch.no_grad():
        for _ in range(passes):
            net(torch.rand(1, 3, 8, 8))
    return silent


def test_a_healthy_net_has_no_silent_layers() -> None:
    assert run_watched(TwoStage(second_bias=0.1), passes=2) == []


def test_a_shared_relu_is_watched_per_call() -> None:
    # the second application is dead for every input in [0, 1]; the first is alive
    assert run_watched(TwoStage(second_bias=-100.0), passes=2) == ["relu (call 2)"]


def test_hooks_are_removed_after_the_watch() -> None:
    net = TwoStage(second_bias=-100.0)
    run_watched(net)
    assert not net._forward_hooks and not net._forward_pre_hooks
    assert not net.relu._forward_hooks


def test_a_dead_upsampling_stage_is_named() -> None:
    torch.manual_seed(0)
    net = SRNet(scale=4, width=4, n_residual=1).eval()
    with torch.no_grad():
        net.upsample[1].conv.conv2d.bias.fill_(-1e3)
    assert run_watched(net) == ["upsample.1.relu"]
    message = silent_layers_warning(300, ["upsample.1.relu"])
    assert "step 300" in message and "upsample.1.relu" in message and "--lr" in message


def test_a_fresh_sr_net_with_the_bicubic_skip_is_exactly_bicubic() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        out = SRNet(scale=4, width=4, n_residual=1, skip="bicubic")(x)
        plain = SRNet(scale=4, width=4, n_residual=1, skip="none")(x)
    bicubic = nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out, bicubic, rtol=0, atol=0)
    assert plain.abs().max() > 0  # without the skip the last layer keeps its random start


class TinyTrainer(Trainer):
    """A two-layer net fitted to grey; its preview is the net's output."""

    def compute(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": ((self.net(inputs) - 0.5) ** 2).mean()}

    def preview(self) -> Image.Image:
        with torch.no_grad():
            out = self.net(torch.rand(1, 3, 8, 8)).clamp(0, 1)
        return Image.fromarray((out[0, 0].numpy() * 255).astype("uint8"))


class RandomBatches:
    def batch(self, step: int) -> torch.Tensor:
        return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(step))


@pytest.mark.parametrize(("second_bias", "expected"), [(0.1, 0), (-100.0, 1)])
def test_training_loop_warns_once_when_a_layer_dies(
    tmp_path: Path, second_bias: float, expected: int
) -> None:
    runtime = Runtime(channels_last=False, checkpoint_every=2)
    trainer = TinyTrainer(TwoStage(second_bias), runtime, lr=1e-3)
    warnings: list[str] = []
    trainer.warn = warnings.append
    config = SRConfig(name="tiny", data=str(tmp_path), iterations=6)
    state = RunState(run_dir=tmp_path, config=config, history=LossHistory(trainer.terms))
    with TrainingProgress(UI(quiet=True), "tiny", 6) as progress:
        finished = train_loop(trainer, RandomBatches(), state, progress, log=lambda line: None)
    assert finished and state.step == 6
    assert len(warnings) == expected  # three checkpoints, one warning for the same layer
    if expected:
        assert "relu (call 2)" in warnings[0] and "step 2" in warnings[0]
