"""Filters that change colour and tone: ``grayscale``, ``autocontrast``, ``adjust`` and
``convert``. A factor of 1 (or an option left at its default) leaves pixels bit-exact."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from stylepipe import Filter, FilterParams, Frame, ParamError, param

from .ops import clip, luminance


@dataclass(frozen=True)
class GrayscaleParams(FilterParams):
    keep_rgb: bool = param(False, help="write three equal channels instead of one")


class Grayscale(Filter):
    """Convert to luma (ITU-R BT.601 weights, as Pillow's "L" mode). Alpha is kept."""

    name = "grayscale"
    summary = "Convert to grayscale (BT.601 luma)"
    Params = GrayscaleParams
    params: GrayscaleParams

    def apply(self, frame: Frame) -> Frame:
        luma = luminance(frame.pixels)
        if self.params.keep_rgb:
            luma = np.repeat(luma, 3, axis=2)
        return frame.replace(pixels=np.ascontiguousarray(luma, dtype=np.float32))


@dataclass(frozen=True)
class AutocontrastParams(FilterParams):
    cutoff: float = param(
        0.0, help="percent of darkest and of brightest values to clip", min=0.0, max=49.0
    )
    per_channel: bool = param(
        False, help="stretch each channel on its own (also removes colour casts)"
    )


class Autocontrast(Filter):
    """Stretch the values so that the darkest become black and the brightest white,
    ignoring ``cutoff`` percent at each end. Fully transparent pixels do not count. By
    default one stretch for all channels keeps the hues; a flat image is left alone."""

    name = "autocontrast"
    summary = "Stretch the tonal range to full black and white"
    Params = AutocontrastParams
    params: AutocontrastParams

    def apply(self, frame: Frame) -> Frame:
        sample = frame.pixels.reshape(-1, frame.channels)
        if frame.alpha is not None:
            sample = sample[frame.alpha.reshape(-1) > 0]
        if sample.size == 0:
            return frame
        cutoff = self.params.cutoff
        axis = 0 if self.params.per_channel else None
        low = np.percentile(sample, cutoff, axis=axis)
        high = np.percentile(sample, 100.0 - cutoff, axis=axis)
        spread = np.asarray(high - low, dtype=np.float64)
        flat = spread < 1e-6
        scale = np.where(flat, 1.0, spread)
        offset = np.where(flat, 0.0, low)
        stretched = (frame.pixels.astype(np.float64) - offset) / scale
        return frame.replace(pixels=clip(stretched))


@dataclass(frozen=True)
class AdjustParams(FilterParams):
    brightness: float = param(1.0, help="multiply all values; 1 keeps, 0 is black", min=0, max=10)
    contrast: float = param(
        1.0, help="scale the distance from the mean gray; 1 keeps, 0 is flat gray", min=0, max=10
    )
    saturation: float = param(
        1.0, help="scale the distance from each pixel's gray; 1 keeps, 0 is gray", min=0, max=10
    )


class Adjust(Filter):
    """Brightness, contrast and saturation factors with Pillow ``ImageEnhance``
    semantics, applied in that order. A factor of 1 is skipped, so it is exact."""

    name = "adjust"
    summary = "Brightness, contrast and saturation factors"
    Params = AdjustParams
    params: AdjustParams

    def apply(self, frame: Frame) -> Frame:
        p = self.params
        if (p.brightness, p.contrast, p.saturation) == (1.0, 1.0, 1.0):
            return frame
        values = frame.pixels.astype(np.float64)
        if p.brightness != 1.0:
            values = values * p.brightness
        if p.contrast != 1.0:
            visible = values if frame.alpha is None else values[frame.alpha > 0]
            mean = (
                float(luminance(visible.reshape(-1, 1, frame.channels)).mean())
                if visible.size
                else 0.0
            )
            values = mean + (values - mean) * p.contrast
        if p.saturation != 1.0 and frame.channels == 3:
            gray = luminance(values)
            values = gray + (values - gray) * p.saturation
        return frame.replace(pixels=clip(values))


_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_NAMED_COLOURS = {"white": "#ffffff", "black": "#000000"}


def parse_colour(text: str) -> np.ndarray:
    """RGB float values of ``#rgb``, ``#rrggbb``, ``white`` or ``black``."""
    value = _NAMED_COLOURS.get(text.strip().lower(), text.strip())
    if not _HEX_COLOUR.match(value):
        raise ParamError("background", f"bad colour {text!r}", hint="use #rrggbb, #rgb or white")
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return np.array([int(digits[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], dtype=np.float32)


@dataclass(frozen=True)
class ConvertParams(FilterParams):
    mode: str = param("keep", help="channels: keep, rgb or gray", choices=("keep", "rgb", "gray"))
    alpha: str = param(
        "keep",
        help="keep, drop (opaque) or flatten onto background",
        choices=("keep", "drop", "flatten"),
    )
    background: str = param("#ffffff", help="colour under transparent pixels for flatten")
    depth: int | None = param(
        None, help="bits per channel to write; default: the input's", choices=(8, 16)
    )

    def validate(self) -> None:
        parse_colour(self.background)


class Convert(Filter):
    """Change the channel layout, the alpha handling and the output bit depth.

    ``alpha=flatten`` composites onto ``background`` (what a JPEG output needs);
    ``alpha=drop`` discards it. ``depth=8`` rounds values to 8-bit levels so that later
    steps see what will be written; ``depth=16`` asks the writer for 16 bits."""

    name = "convert"
    summary = "Channels (rgb/gray), alpha (keep/drop/flatten) and bit depth"
    Params = ConvertParams
    params: ConvertParams

    def apply(self, frame: Frame) -> Frame:
        p = self.params
        pixels, alpha = frame.pixels, frame.alpha
        if p.alpha != "keep" and alpha is not None:
            if p.alpha == "flatten":
                pixels = self._flatten(pixels, alpha)
            alpha = None
        if p.mode == "gray" and pixels.shape[2] == 3:
            pixels = luminance(pixels)
        elif p.mode == "rgb" and pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        bit_depth = frame.bit_depth if p.depth is None else p.depth
        if p.depth == 8:
            pixels = (np.rint(pixels * 255.0) / 255.0).astype(np.float32)
            alpha = None if alpha is None else (np.rint(alpha * 255.0) / 255.0).astype(np.float32)
        return frame.replace(pixels=np.ascontiguousarray(pixels), alpha=alpha, bit_depth=bit_depth)

    def _flatten(self, pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        background = parse_colour(self.params.background)
        if pixels.shape[2] == 1 and np.ptp(background) > 0:
            pixels = np.repeat(pixels, 3, axis=2)  # a coloured background makes it colour
        if pixels.shape[2] == 1:
            background = background[:1]
        weight = alpha[:, :, None]
        return clip(pixels * weight + background * (1.0 - weight))
