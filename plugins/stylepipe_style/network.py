"""The image transformation network of Johnson, Alahi & Fei-Fei (ECCV 2016).

Layout (paper, supplementary Table 1), with two changes the field adopted since:
instance normalization instead of batch norm (Ulyanov, Vedaldi & Lempitsky 2016,
"Instance Normalization: The Missing Ingredient for Fast Stylization") and
nearest-neighbour upsampling followed by a convolution instead of fractionally
strided convolutions (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard
Artifacts"). Reflection padding avoids border artefacts.

Layer names follow pytorch/examples ``fast_neural_style`` so that its checkpoints
load by name (their stale ``running_mean``/``running_var`` keys are dropped on import).

Input and output are float ``(B, 3, H, W)``; the range is the caller's business (the
model descriptor maps [0, 1] to what the weights were trained on).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ConvLayer(nn.Module):
    """Reflection pad + convolution (same spatial size at stride 1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour x2 upsampling, then a reflection-padded convolution (no
    checkerboard). The convolution is a direct child named ``conv2d`` so that the state
    dict keys (``deconv1.conv2d.weight``) are those of pytorch/examples."""

    def __init__(self, c_in: int, c_out: int, kernel: int, upsample: int = 2) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv2d(self.pad(x))


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Affine instance norm without running statistics (each image normalised by itself)."""
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity skip (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = instance_norm(channels)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = instance_norm(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add_normed(self.inner_tail(self.conv1(x)), x)

    def inner_tail(self, h: torch.Tensor) -> torch.Tensor:
        """``conv1``'s output -> ``conv2``'s, before ``in2``."""
        return self.conv2(self.relu(self.in1(h)))

    def add_normed(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The block's output from ``conv2``'s output ``g`` and its input ``x``."""
        return x + self.in2(g)


class TransformerNet(nn.Module):
    """9x9 conv, two stride-2 convs, ``n_residual`` residual blocks, two x2 upsampling
    stages, 9x9 conv. ``width`` is the first layer's channel count (32 in the paper;
    16 gives the half-width fast variant); deeper layers use 2x and 4x that."""

    def __init__(self, width: int = 32, n_residual: int = 5) -> None:
        super().__init__()
        w1, w2, w3 = width, width * 2, width * 4
        self.width, self.n_residual = width, n_residual
        self.conv1 = ConvLayer(3, w1, 9)
        self.in1 = instance_norm(w1)
        self.conv2 = ConvLayer(w1, w2, 3, stride=2)
        self.in2 = instance_norm(w2)
        self.conv3 = ConvLayer(w2, w3, 3, stride=2)
        self.in3 = instance_norm(w3)
        for i in range(1, n_residual + 1):
            self.add_module(f"res{i}", ResidualBlock(w3))
        self.deconv1 = UpsampleConvLayer(w3, w2, 3)
        self.in4 = instance_norm(w2)
        self.deconv2 = UpsampleConvLayer(w2, w1, 3)
        self.in5 = instance_norm(w1)
        self.deconv3 = ConvLayer(w1, 3, 9)
        self.relu = nn.ReLU()

    def residual_blocks(self) -> list[ResidualBlock]:
        return [getattr(self, f"res{i}") for i in range(1, self.n_residual + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.encode(x)
        for block in self.residual_blocks():
            y = block(y)
        return self.decode(y)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> stride-4 trunk features (``4 * width`` channels)."""
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        return self.relu(self.in3(self.conv3(y)))

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Trunk features -> image."""
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)

    def tiling_segments(self, lean: int = 0) -> list[Any] | None:
        """The network in pieces for exact tiled inference, which keeps activations (the
        stride-4 trunk: 8 values per input pixel at the paper's width) on the host
        between them instead of recomputing the encoder for the whole-image statistics
        of every later instance-norm layer (see :class:`stylepipe.TileSegment`).

        Each piece is swept once per instance-norm layer it holds (to measure its
        whole-image statistics) and once more to write, so a convolution before a norm
        layer of its piece runs more than once. The cuts, fastest first (``lean``; the
        engine takes the first that fits its memory budget; ``None`` past the last):

        0. a piece ends after every convolution but the first and the last two: the
           encoder up to ``conv2`` (its output, at stride 2, is two trunks), ``in2``-ReLU-
           ``conv3``, ``in3``-ReLU (pointwise, in place), each residual block as ``conv1``
           (keeping the block's input), ``in1``-ReLU-``conv2`` (in place) and the sum with
           ``in2`` (pointwise, in place), ``deconv1`` (two trunks again), the rest: 1.17x
           the convolutions of a whole-frame pass, three trunks held at most;
        1. the encoder up to ``conv3`` and the decoder in one piece each: 1.5x, two
           trunks;
        2. the encoder and each residual block in one piece (in place): 2.5x, one trunk.

        Halos are receptive-field radii in each piece's input pixels: 9x9 + 3x3/2 +
        3x3/2 reach 7 image pixels (8 on the stride grid), 9x9 + 3x3/2 5 (6); a 3x3 conv
        1 pixel (2 on a stride-2 conv's grid); the decoder's two nearest-x2 + 3x3 stages
        and 9x9 stay within 3 trunk pixels, and from the stride-2 grid (3x3 and 9x9 at
        full resolution) within 3 pixels too."""
        from stylepipe import TileSegment

        if lean > 2:
            return None
        w3 = 4 * self.width
        decoder = nn.ModuleList([self.deconv1, self.in4, self.deconv2, self.in5, self.deconv3])
        whole_decoder = TileSegment(self.decode, decoder, (4, 1), multiple=1, halo=3, channels=3)
        if lean == 2:
            encoder = nn.ModuleList(
                [self.conv1, self.in1, self.conv2, self.in2, self.conv3, self.in3]
            )
            blocks = [
                TileSegment(b, b, scale=(1, 1), multiple=1, halo=2, channels=w3, residual=True)
                for b in self.residual_blocks()
            ]
            first = TileSegment(self.encode, encoder, scale=(1, 4), multiple=4, halo=8, channels=w3)
            return [first, *blocks, whole_decoder]
        encoder = nn.ModuleList([self.conv1, self.in1, self.conv2, self.in2, self.conv3])
        pieces = [
            TileSegment(self._encode_to_conv3, encoder, (1, 4), multiple=4, halo=8, channels=w3),
            TileSegment(self._in3_relu, self.in3, (1, 1), 1, halo=0, channels=w3, residual=True),
        ]
        for b in self.residual_blocks():
            pieces += [
                TileSegment(b.conv1, b.conv1, (1, 1), 1, halo=1, channels=w3, keep="block"),
                TileSegment(
                    b.inner_tail, nn.ModuleList([b.in1, b.conv2]), (1, 1), 1, halo=1,
                    channels=w3, residual=True,
                ),
                TileSegment(
                    b.add_normed, b.in2, (1, 1), 1, halo=0, channels=w3, residual=True,
                    skip="block",
                ),
            ]  # fmt: skip
        if lean == 1:
            return [*pieces, whole_decoder]
        w2 = 2 * self.width
        head = nn.ModuleList([self.conv1, self.in1, self.conv2])
        tail = nn.ModuleList([self.in4, self.deconv2, self.in5, self.deconv3])
        return [
            TileSegment(self._encode_to_conv2, head, (1, 2), multiple=2, halo=6, channels=w2),
            TileSegment(
                self._conv3_from_conv2,
                nn.ModuleList([self.in2, self.conv3]),
                (1, 2),
                multiple=2,
                halo=2,
                channels=w3,
            ),  # fmt: skip
            *pieces[1:],
            TileSegment(self.deconv1, self.deconv1, (2, 1), 1, halo=1, channels=2 * self.width),
            TileSegment(self._decode_from_deconv1, tail, (2, 1), 1, halo=3, channels=3),
        ]

    def _encode_to_conv3(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder up to ``conv3``'s output, before its instance norm."""
        y = self.relu(self.in1(self.conv1(x)))
        return self.conv3(self.relu(self.in2(self.conv2(y))))

    def _encode_to_conv2(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder up to ``conv2``'s output, before its instance norm."""
        return self.conv2(self.relu(self.in1(self.conv1(x))))

    def _conv3_from_conv2(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.relu(self.in2(y)))

    def _in3_relu(self, y: torch.Tensor) -> torch.Tensor:
        return self.relu(self.in3(y))

    def _decode_from_deconv1(self, y: torch.Tensor) -> torch.Tensor:
        """The decoder from ``deconv1``'s output, before its instance norm."""
        y = self.relu(self.in5(self.deconv2(self.relu(self.in4(y)))))
        return self.deconv3(y)
