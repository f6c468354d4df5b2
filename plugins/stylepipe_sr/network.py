"""The super-resolution network of Johnson, Alahi & Fei-Fei (ECCV 2016).

Paper layout (supplementary): 9x9 conv with 64 channels, four residual blocks of 64,
``log2(scale)`` x2 upsampling stages (two for x4, three for x8), 9x9 conv to RGB.
Changes, each for a stated reason:

* upsampling is nearest x2 followed by a 3x3 conv (Odena et al. 2016: no checkerboard),
  where the paper used fractionally strided convolutions;
* no normalization layer at inference: the network must be a pure function of a local
  neighbourhood so that tiled inference is exact (the paper's batch norm, if a
  checkpoint has it, is folded into the preceding convolution at load);
* an optional bicubic skip (``skip="bicubic"``): the network predicts the residual over
  bicubic upsampling (Kim, Lee & Lee 2016, VDSR), which trains far faster on a CPU
  budget; ``skip="none"`` is the paper's plain form. With the skip, the last layer
  starts at zero, so a fresh network is exactly bicubic: a random residual would be
  noise that training first removes by switching off whole ReLU layers, and a layer
  switched off everywhere never comes back (our first x4 pixel-loss run stalled so).

Input and output are float ``(B, 3, H, W)`` in [0, 1]; output is ``scale`` times larger.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SKIPS = ("bicubic", "none")


class SRConv(nn.Module):
    """Reflection pad + convolution, stride 1."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.pad(x))


class SRResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = SRConv(channels, channels, 3)
        self.conv2 = SRConv(channels, channels, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class SRUpsample(nn.Module):
    """Nearest x2 then conv and ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = SRConv(channels, channels, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return self.relu(self.conv(x))


class SRNet(nn.Module):
    """x4 or x8 super-resolution: 9x9 conv, residual blocks, x2 stages, 9x9 conv."""

    def __init__(
        self, scale: int = 4, width: int = 64, n_residual: int = 4, skip: str = "bicubic"
    ) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        if skip not in SKIPS:
            raise ValueError(f"skip must be one of {SKIPS}, got {skip!r}")
        self.scale, self.skip = scale, skip
        self.head = SRConv(3, width, 9)
        self.relu = nn.ReLU()
        self.body = nn.Sequential(*(SRResidualBlock(width) for _ in range(n_residual)))
        self.upsample = nn.Sequential(*(SRUpsample(width) for _ in range(int(math.log2(scale)))))
        self.tail = SRConv(width, 3, 9)
        if skip == "bicubic":
            nn.init.zeros_(self.tail.conv2d.weight)
            assert self.tail.conv2d.bias is not None
            nn.init.zeros_(self.tail.conv2d.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.head(x))
        y = self.tail(self.upsample(self.body(y)))
        if self.skip == "bicubic":
            base = nn.functional.interpolate(
                x, scale_factor=self.scale, mode="bicubic", align_corners=False
            )
            y = y + base
        return y
