"""PSNR and SSIM on the luma channel, the usual super-resolution benchmark convention.

Images are converted to Y of ITU-R BT.601 on the 16-235 scale (MATLAB ``rgb2ycbcr``),
``scale`` pixels are cropped from every border, and both metrics are computed on the
0-255 scale without rounding. SSIM follows Wang, Bovik, Sheikh & Simoncelli (2004):
an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, statistics
over "valid" windows only (no padding), mean of the SSIM map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .degrade import gaussian_kernel

PEAK = 255.0


def rgb_to_y(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 1, H, W)`` BT.601 luma in [16, 235]."""
    r, g, b = image.double().unbind(dim=1)
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    return y.unsqueeze(1)


def shave(image: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels on every side."""
    if border <= 0:
        return image
    return image[..., border:-border, border:-border]


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = PEAK) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    mse = float((a.double() - b.double()).pow(2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, peak: float = PEAK) -> float:
    """Mean structural similarity of two ``(1, 1, H, W)`` (or ``(H, W)``) images."""
    x = a.double().reshape(1, 1, *a.shape[-2:])
    y = b.double().reshape(1, 1, *b.shape[-2:])
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels, got {tuple(x.shape[-2:])}")
    g = gaussian_kernel(1.5, radius=5)
    window = (g[:, None] * g[None, :]).view(1, 1, 11, 11)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float((num / den).mean())


def y_metrics(output: torch.Tensor, reference: torch.Tensor, border: int) -> tuple[float, float]:
    """(PSNR, SSIM) of two RGB ``(1, 3, H, W)`` images in [0, 1] on Y, borders cropped."""
    if output.shape != reference.shape:
        raise ValueError(f"shapes differ: {tuple(output.shape)} vs {tuple(reference.shape)}")
    ya = shave(rgb_to_y(output), border)
    yb = shave(rgb_to_y(reference), border)
    return psnr(ya, yb), ssim(ya, yb)
