"""Filters that change detail: ``blur`` (Gaussian) and ``sharpen`` (unsharp mask)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylepipe import Filter, FilterParams, Frame, param

from .ops import clip, gaussian_blur, premultiply, unpremultiply


@dataclass(frozen=True)
class BlurParams(FilterParams):
    radius: float = param(2.0, help="Gaussian standard deviation in pixels", min=0.0, max=250.0)


class Blur(Filter):
    """Gaussian blur (``radius`` as in Pillow's ``GaussianBlur``), edges extended. Alpha
    is blurred with the colour, premultiplied so that transparent pixels do not bleed."""

    name = "blur"
    summary = "Gaussian blur"
    Params = BlurParams
    params: BlurParams

    def apply(self, frame: Frame) -> Frame:
        if self.params.radius == 0:
            return frame
        blurred = gaussian_blur(premultiply(frame.pixels, frame.alpha), self.params.radius)
        pixels, alpha = unpremultiply(blurred, frame.alpha is not None)
        return frame.replace(pixels=pixels, alpha=alpha)


@dataclass(frozen=True)
class SharpenParams(FilterParams):
    radius: float = param(2.0, help="blur radius of the unsharp mask in pixels", min=0.0, max=100.0)
    percent: int = param(150, help="strength: how much of the detail to add", min=0, max=1000)
    threshold: int = param(
        3, help="smallest difference (in 8-bit levels) that is sharpened", min=0, max=255
    )


class Sharpen(Filter):
    """Unsharp mask with Pillow's ``UnsharpMask`` parameters: add ``percent`` of the
    difference between the image and its Gaussian blur wherever that difference is at
    least ``threshold`` levels (of 255), which leaves flat noise alone. Alpha is kept."""

    name = "sharpen"
    summary = "Unsharp mask (radius, percent, threshold)"
    Params = SharpenParams
    params: SharpenParams

    def apply(self, frame: Frame) -> Frame:
        p = self.params
        if p.radius == 0 or p.percent == 0:
            return frame
        detail = frame.pixels - gaussian_blur(frame.pixels, p.radius)
        if p.threshold > 0:  # Pillow's rule: sharpen where |difference| >= threshold levels
            detail[np.abs(detail) < np.float32(p.threshold / 255.0)] = 0.0
        detail *= np.float32(p.percent / 100.0)
        detail += frame.pixels
        return frame.replace(pixels=clip(detail))
