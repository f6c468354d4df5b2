"""Output scales below the model's (``upscale:scale=2`` with an x4 model): the model
runs at its own scale and the result is resized down with Lanczos, as Real-ESRGAN's
``--outscale`` does. Downscaling a sharp x4 result gives a crisper x2 than a network
would without an x2 model, and costs little next to the network."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_lanczos(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W, C)`` float32 in [0, 1] -> ``(height, width, C)`` with Lanczos, per channel
    in Pillow's 32-bit float mode (16-bit precision kept), clipped to [0, 1]."""
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32)).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(pixels.shape[2])
    ]
    out = np.stack(planes, axis=2)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)
