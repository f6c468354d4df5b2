"""Colour helpers of the ``style`` filter: luminance-only transfer and resizing.

Luminance-only transfer follows Gatys, Bethge, Hertzmann & Shechtman (2016),
"Preserving Color in Neural Artistic Style Transfer": the stylized image gives the
luminance channel, the content image keeps its colour (chrominance) channels. Like the
paper we use the YIQ colour space (NTSC 1953 coefficients, whose Y is the BT.601 luma).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """A 3x3 colour matrix applied to (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(image.dtype), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ (Y in [0, 1], I and Q signed)."""
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB (not clamped)."""
    return _apply(_YIQ_TO_RGB, image)


def keep_colors(content: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """The stylized luminance with the content's chrominance, clamped to [0, 1]."""
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp_(0.0, 1.0)


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic resize of (B, C, H, W) floats, antialiased when shrinking, clamped."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    shrinking = height < image.shape[-2] or width < image.shape[-1]
    out = F.interpolate(
        image, size=(height, width), mode="bicubic", align_corners=False, antialias=shrinking
    )
    return out.clamp_(0.0, 1.0)


def fit_longest(height: int, width: int, longest: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``longest`` (each side >= 1)."""
    factor = longest / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))
