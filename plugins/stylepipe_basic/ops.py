"""Pixel operations shared by the basic filters, on float32 ``(H, W, C)`` arrays.

Everything stays in floating point so that 16-bit sources keep their precision:
resampling goes through Pillow one channel at a time in mode ``"F"`` (32-bit float),
and blurs are computed in numpy.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}

# ITU-R BT.601 luma weights, the ones Pillow uses for its "L" conversion, so that
# grayscale results match what users get from other Pillow-based tools.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def luminance(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 1)`` luma of an RGB or grayscale float image."""
    if pixels.shape[2] == 1:
        return pixels
    luma = np.tensordot(pixels.astype(np.float64), LUMA_WEIGHTS, axes=([2], [0]))
    return luma[:, :, None].astype(np.float32)


def resize_channels(values: np.ndarray, size: tuple[int, int], resample: str) -> np.ndarray:
    """Resize an ``(H, W, C)`` float array to ``size`` = (width, height), per channel in
    Pillow's float mode. Not clipped: callers clip once after all arithmetic."""
    method = RESAMPLE[resample]
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(values[:, :, c])).resize(size, method))
        for c in range(values.shape[2])
    ]
    return np.stack(planes, axis=2).astype(np.float32, copy=False)


def premultiply(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Colour times alpha with alpha appended as a last channel (or the pixels as they are
    without alpha). Resampling and blurring premultiplied values keeps the colour of
    invisible pixels from bleeding into visible ones."""
    if alpha is None:
        return pixels
    return np.concatenate([pixels * alpha[:, :, None], alpha[:, :, None]], axis=2)


def unpremultiply(values: np.ndarray, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The inverse of :func:`premultiply`, clipped to [0, 1]; fully transparent pixels
    get colour 0."""
    if not has_alpha:
        return clip(values), None
    alpha = clip(values[:, :, -1])
    safe = np.where(alpha > 0, alpha, 1.0)[:, :, None]
    colour = np.where(alpha[:, :, None] > 0, values[:, :, :-1] / safe, 0.0)
    return clip(colour), alpha


def gaussian_blur(values: np.ndarray, sigma: float, passes: int = 3) -> np.ndarray:
    """Gaussian blur of an ``(H, W, C)`` float array with standard deviation ``sigma``
    pixels (Pillow's ``GaussianBlur`` radius), edges extended.

    Pillow's own blur only takes 8-bit images, hence this float version of the same
    method: ``passes`` extended box filters per axis (Gwosdek, Grewenig, Bruhn and
    Weickert, "Theoretical Foundations of Gaussian Convolution by Extended Box
    Filtering", SSVM 2011), whose fractional end weights match the variance exactly for
    any sigma, in time independent of sigma (running sums).
    """
    if sigma <= 0:
        return values.astype(np.float32, copy=True)
    radius, fraction = _extended_box(sigma, passes)
    out = np.empty(values.shape, dtype=np.float32)
    for channel in range(values.shape[2]):
        plane = values[:, :, channel].astype(np.float64)
        for _ in range(passes):
            plane = _box_rows(plane, radius, fraction)
        # Running sums along contiguous rows are the fast direction: transpose once.
        plane = np.ascontiguousarray(plane.T)
        for _ in range(passes):
            plane = _box_rows(plane, radius, fraction)
        out[:, :, channel] = plane.T
    return out


def _extended_box(sigma: float, passes: int) -> tuple[int, float]:
    """Integer radius and end weight (in [0, 1)) of a box whose ``passes``-fold
    repetition has variance ``sigma ** 2``."""
    variance = sigma * sigma / passes
    radius = int((math.sqrt(12.0 * variance + 1.0) - 1.0) / 2.0)
    outer = (radius + 1) ** 2
    fraction = (
        (2 * radius + 1) * (3.0 * variance - radius * (radius + 1)) / (6.0 * (outer - variance))
    )
    return radius, fraction


def _box_rows(plane: np.ndarray, radius: int, fraction: float) -> np.ndarray:
    """One extended box filter along each row: weight 1 within ``radius``, ``fraction``
    at distance ``radius + 1``, normalised; edges extended; a running sum makes it O(n)."""
    n, pad = plane.shape[1], radius + 2
    padded = np.pad(plane, [(0, 0), (pad, pad)], mode="edge")
    total = np.cumsum(padded, axis=1)
    low, high = pad - radius - 1, pad + radius
    out = total[:, high : high + n] - total[:, low : low + n]
    out += fraction * (padded[:, low : low + n] + padded[:, high + 1 : high + 1 + n])
    out /= 2 * radius + 1 + 2 * fraction
    return out


def clip(values: np.ndarray) -> np.ndarray:
    """Float32 values clipped to [0, 1]."""
    return np.clip(values, 0.0, 1.0).astype(np.float32, copy=False)
