"""Low-resolution maker against an independent blur + Pillow bicubic, and PSNR/SSIM on
known pairs (identical images, constants, a hand-computed 11x11 window)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from stylepipe_training.degrade import gaussian_kernel, make_lowres, modcrop
from stylepipe_training.metrics import psnr, rgb_to_y, ssim, y_metrics


def reference_lowres(image: np.ndarray, scale: int, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur (radius 4 sigma, reflected borders) written out with numpy, then
    Pillow's float bicubic reduction, channel by channel. ``image`` is HxWx3."""
    radius = math.ceil(4 * sigma)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    weights /= weights.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    rows = sum(weights[i] * padded[i : i + h, :, :] for i in range(2 * radius + 1))
    blurred = sum(weights[i] * rows[:, i : i + w, :] for i in range(2 * radius + 1))
    channels = []
    for c in range(3):
        band = Image.fromarray(blurred[:, :, c].astype(np.float32), "F")
        band = band.resize((w // scale, h // scale), Image.Resampling.BICUBIC)
        channels.append(np.asarray(band))
    return np.stack(channels, axis=-1)


@pytest.mark.parametrize("scale", [4, 8])
def test_lowres_matches_blur_then_pillow_bicubic(scale: int) -> None:
    rng = np.random.default_rng(scale)
    image = rng.random((48, 64, 3)).astype(np.float64)
    ours = (
        make_lowres(torch.from_numpy(image).permute(2, 0, 1)[None].float(), scale, quantize=False)[
            0
        ]
        .permute(1, 2, 0)
        .numpy()
    )
    expected = np.clip(reference_lowres(image, scale), 0, 1)
    assert ours.shape == (48 // scale, 64 // scale, 3)
    assert np.abs(ours - expected).max() < 2e-5


def test_lowres_quantizes_to_8_bit_and_bicubic_only_skips_the_blur() -> None:
    x = torch.rand(1, 3, 32, 32)
    low = make_lowres(x, 4)
    assert torch.equal(low, torch.round(low * 255) / 255)
    plain = make_lowres(x, 4, degradation="bicubic", quantize=False)
    expected = torch.nn.functional.interpolate(
        x, size=(8, 8), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)
    assert torch.allclose(plain, expected)
    with pytest.raises(ValueError):
        make_lowres(x, 4, degradation="nearest")
    with pytest.raises(ValueError, match="multiple"):
        make_lowres(torch.rand(1, 3, 30, 32), 4)
    assert modcrop(torch.rand(1, 3, 30, 33), 4).shape[-2:] == (28, 32)


def test_gaussian_kernel_sums_to_one() -> None:
    k = gaussian_kernel(1.5, radius=5)
    assert k.numel() == 11 and float(k.sum()) == pytest.approx(1.0)
    assert float(k[5]) == pytest.approx(float(k.max()))


def test_psnr_known_values() -> None:
    a = torch.zeros(1, 1, 16, 16)
    assert psnr(a, a) == math.inf
    # error 25.5 everywhere on the 0-255 scale: MSE 650.25, PSNR 10 log10(255^2/650.25) = 20
    assert psnr(a, a + 25.5) == pytest.approx(20.0)


def test_ssim_identical_and_constant_images() -> None:
    x = torch.rand(1, 1, 20, 24) * 255
    assert ssim(x, x) == pytest.approx(1.0)
    c1 = (0.01 * 255) ** 2
    a, b = torch.full((1, 1, 16, 16), 100.0), torch.full((1, 1, 16, 16), 120.0)
    # no variance: SSIM = luminance term only
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert ssim(a, b) == pytest.approx(expected)
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.zeros(10, 10), torch.zeros(10, 10))


def test_ssim_of_one_window_by_hand() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((11, 11)) * 255
    y = np.clip(x + rng.normal(0, 20, (11, 11)), 0, 255)
    g = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cov = (w * (x - mx) * (y - my)).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-9)


def test_luma_and_border() -> None:
    white, black = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    assert torch.allclose(rgb_to_y(white), torch.full((1, 1, 2, 2), 235.0, dtype=torch.float64))
    assert torch.allclose(rgb_to_y(black), torch.full((1, 1, 2, 2), 16.0, dtype=torch.float64))
    a = torch.rand(1, 3, 24, 24)
    b = a.clone()
    b[..., :4, :] = 0  # differences only inside the 4-pixel border
    assert y_metrics(a, b, border=4) == (math.inf, pytest.approx(1.0))
    assert y_metrics(a, b, border=0)[0] < 40
