"""A trained instance-norm style network for measurements on real photos (benchmark only).

No trained weights of our own architecture exist on this machine, and random weights say
little about precision or statistics errors on photos. ``../shared/assets`` holds Logan
Engstrom's fast-style-transfer "udnie" network (the same Johnson et al. 2016 method,
TensorFlow, dumped as raw float32 per variable; research use only, never shipped). This
is a PyTorch port of that network with its layout as documented in the asset's
SOURCE.txt: 9x9/1 -> 32, 3x3/2 -> 64, 3x3/2 -> 128, 5 residual blocks, two 3x3/2
transposed convolutions, 9x9/1 -> 3; instance norm (eps 1e-3) after every convolution,
TensorFlow "SAME" zero padding, output ``tanh(x) * 150 + 127.5``, input RGB 0..255.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylepipe.tiling.policy import TilingPolicy

ASSET = (
    Path(__file__).resolve().parents[2] / "shared/assets/fast_style_reference/engstrom_udnie_ckpt"
)
POLICY = TilingPolicy(scale=1, multiple=4, halo=64, global_norm=True, min_size=8)
"""Receptive field: 4 + 2 + 4 + 10 conv3x3 at stride 4 (40) + the decoder (< 8) < 64."""


class _Conv(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, up: bool = False) -> None:
        super().__init__()
        self.k, self.stride, self.up = k, stride, up
        if up:  # TF conv2d_transpose, SAME: the adjoint of a (0, 1)-padded stride-2 conv
            self.conv = nn.ConvTranspose2d(c_in, c_out, k, stride, bias=False)
        else:
            self.conv = nn.Conv2d(c_in, c_out, k, stride, bias=False)
        self.norm = nn.InstanceNorm2d(c_out, eps=1e-3, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            h, w = x.shape[2:]
            return self.norm(self.conv(x)[:, :, : 2 * h, : 2 * w])
        total = self.k - self.stride
        x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
        return self.norm(self.conv(x))


class EngstromNet(nn.Module):
    """The fast-style-transfer transform network (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [_Conv(3, 32, 9), _Conv(32, 64, 3, 2), _Conv(64, 128, 3, 2)]
            + [_Conv(128, 128, 3) for _ in range(10)]
            + [_Conv(128, 64, 3, 2, up=True), _Conv(64, 32, 3, 2, up=True), _Conv(32, 3, 9)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = list(self.layers)
        for layer in layers[:3]:
            x = F.relu(layer(x))
        for i in range(3, 13, 2):
            x = x + layers[i + 1](F.relu(layers[i](x)))
        x = F.relu(layers[13](x))
        x = F.relu(layers[14](x))
        return torch.tanh(layers[15](x)) * 150 + 127.5


def load_engstrom() -> EngstromNet | None:
    """The udnie network with its weights, or ``None`` when the asset is absent."""
    manifest = ASSET / "manifest.json"
    if not manifest.is_file():
        return None
    shapes = {k: v["shape"] for k, v in json.loads(manifest.read_text()).items()}
    net = EngstromNet().eval()
    for i, layer in enumerate(net.layers):
        w, shift, scale = (f"Variable_{3 * i + j}" if 3 * i + j else "Variable" for j in range(3))
        kernel = torch.from_numpy(np.fromfile(ASSET / w, "<f4").reshape(shapes[w]))
        with torch.no_grad():
            layer.conv.weight.copy_(kernel.permute(3, 2, 0, 1))  # HWIO / HWOI -> torch order
            layer.norm.bias.copy_(torch.from_numpy(np.fromfile(ASSET / shift, "<f4")))
            layer.norm.weight.copy_(torch.from_numpy(np.fromfile(ASSET / scale, "<f4")))
    return net
