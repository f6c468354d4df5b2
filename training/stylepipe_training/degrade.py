"""Low-resolution inputs for super-resolution training and evaluation.

Johnson et al. (2016, sec. 4.2) make them by "blurring with a Gaussian kernel of width
sigma = 1.0 and downsampling with bicubic interpolation". Here: a separable Gaussian of
radius ``ceil(4 sigma)`` (the kernel sums to 1; reflected borders), then antialiased
bicubic downsampling (Keys a = -0.5, kernel stretched by the factor: Pillow's and
MATLAB ``imresize``'s convention), then, for training, rounding to 8-bit levels as real
low-resolution photos have. ``degradation="bicubic"`` skips the blur (the usual
benchmark convention).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SIGMA = 1.0
DEGRADATIONS = ("gaussian-bicubic", "bicubic")


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    """1-D Gaussian weights of length ``2*radius + 1`` summing to 1 (float64)."""
    radius = math.ceil(4 * sigma) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(x**2) / (2 * sigma**2))
    return weights / weights.sum()


def gaussian_blur(image: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with reflected borders."""
    kernel = gaussian_kernel(sigma).to(image.dtype)
    radius = kernel.numel() // 2
    channels = image.shape[1]
    # reflection needs more pixels than it pads
    mode = "replicate" if min(image.shape[-2:]) <= radius else "reflect"
    x = F.pad(image, (radius, radius, radius, radius), mode=mode)
    kh = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    kw = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    x = F.conv2d(x, kh, groups=channels)
    return F.conv2d(x, kw, groups=channels)


def bicubic_downsample(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic reduction by an integer factor (sides must be multiples)."""
    h, w = image.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} is not a multiple of the scale {scale}")
    return F.interpolate(
        image, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False
    )


def make_lowres(
    image: torch.Tensor,
    scale: int,
    *,
    degradation: str = "gaussian-bicubic",
    sigma: float = SIGMA,
    quantize: bool = True,
) -> torch.Tensor:
    """The low-resolution input for a high-resolution ``(B, 3, H, W)`` batch in [0, 1]."""
    if degradation not in DEGRADATIONS:
        raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {degradation!r}")
    x = image.float()
    if degradation == "gaussian-bicubic":
        x = gaussian_blur(x, sigma)
    x = bicubic_downsample(x, scale).clamp(0.0, 1.0)
    return torch.round(x * 255.0) / 255.0 if quantize else x


def modcrop(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom/right edge so both sides are multiples of ``scale``."""
    h, w = image.shape[-2:]
    return image[..., : h - h % scale, : w - w % scale]
