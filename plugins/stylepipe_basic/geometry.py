"""Filters that change the image geometry: ``resize`` and ``crop``. Alpha follows the
pixels; resampling works on premultiplied colour so transparent pixels do not bleed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stylepipe import Filter, FilterParams, Frame, ParamError, param

from .ops import RESAMPLE, premultiply, resize_channels, unpremultiply

MAX_SIDE = 65535
# Refuse absurd targets (a typo such as scale=40 on a large photo) before allocating.
MAX_OUTPUT_PIXELS = 1 << 28


@dataclass(frozen=True)
class ResizeParams(FilterParams):
    """Exactly one mode: ``scale``, ``width`` and/or ``height``, or ``longest``."""

    scale: float | None = param(None, help="factor for both sides, e.g. 0.5", min=0.001, max=64.0)
    width: int | None = param(
        None, help="target width; the height keeps the aspect unless given", min=1, max=MAX_SIDE
    )
    height: int | None = param(
        None, help="target height; the width keeps the aspect unless given", min=1, max=MAX_SIDE
    )
    longest: int | None = param(
        None, help="target length of the longer side, aspect kept", min=1, max=MAX_SIDE
    )
    resample: str = param("lanczos", help="resampling filter", choices=tuple(RESAMPLE))
    only_shrink: bool = param(False, help="leave images that are already small enough as they are")

    def validate(self) -> None:
        modes = [name for name in ("scale", "longest") if getattr(self, name) is not None]
        if self.width is not None or self.height is not None:
            modes.insert(0, "width" if self.width is not None else "height")
        if not modes:
            raise ParamError(
                "scale", "resize needs scale, width and/or height, or longest", hint="scale=0.5"
            )
        if len(modes) > 1:
            raise ParamError(
                modes[1],
                f"resize takes one mode, got {' and '.join(modes)}",
                hint="use only one of scale, width/height, longest",
            )


class Resize(Filter):
    """Resize by a factor, to a width and/or height, or to a longest side. The aspect
    ratio is kept unless both width and height are given. Float resampling keeps 16-bit
    precision; resizing to the current size returns the image unchanged."""

    name = "resize"
    summary = "Resize by scale, to width/height, or to the longest side"
    Params = ResizeParams
    params: ResizeParams

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """Output (width, height) for an input of this size."""
        p = self.params
        if p.scale is not None:
            size = (round(width * p.scale), round(height * p.scale))
        elif p.longest is not None:
            factor = p.longest / max(width, height)
            size = (round(width * factor), round(height * factor))
        elif p.width is not None and p.height is not None:
            size = (p.width, p.height)
        elif p.width is not None:
            size = (p.width, round(height * p.width / width))
        else:
            assert p.height is not None  # validate() guarantees one mode
            size = (round(width * p.height / height), p.height)
        size = (max(1, size[0]), max(1, size[1]))
        if p.only_shrink and size[0] >= width and size[1] >= height:
            return width, height
        return size

    def apply(self, frame: Frame) -> Frame:
        size = self.target_size(frame.width, frame.height)
        if size == frame.size:
            return frame
        if size[0] * size[1] > MAX_OUTPUT_PIXELS:
            raise ParamError(
                "scale",
                f"resize would make a {size[0]}x{size[1]} image from {frame.width}x"
                f"{frame.height}, more than {MAX_OUTPUT_PIXELS} pixels",
                hint="check the resize parameters",
            )
        values = premultiply(frame.pixels, frame.alpha)
        resized = resize_channels(values, size, self.params.resample)
        pixels, alpha = unpremultiply(resized, frame.alpha is not None)
        metadata = frame.metadata.resized(size[0] / frame.width, size[1] / frame.height)
        return frame.replace(pixels=pixels, alpha=alpha, metadata=metadata)


_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:[:/]\s*(\d+(?:\.\d+)?))?\s*$")


def parse_aspect(text: str) -> float:
    """Width / height from ``"16:9"``, ``"16/9"`` or ``"1.5"``; :class:`ParamError` if bad."""
    found = _ASPECT.match(text)
    ratio = 0.0
    if found:
        numerator, denominator = float(found[1]), float(found[2] or 1.0)
        ratio = numerator / denominator if denominator > 0 else 0.0
    if not found or not 1e-3 <= ratio <= 1e3:
        raise ParamError(
            "aspect", f"bad aspect {text!r}", hint='write W:H such as "16:9" or a ratio such as 1.5'
        )
    return ratio


@dataclass(frozen=True)
class CropParams(FilterParams):
    """A box (``width``/``height``/``left``/``top``) or an ``aspect`` ratio."""

    width: int | None = param(None, help="box width; default: to the right edge", min=1)
    height: int | None = param(None, help="box height; default: to the bottom edge", min=1)
    left: int | None = param(None, help="box left edge; default: centred", min=0)
    top: int | None = param(None, help="box top edge; default: centred", min=0)
    aspect: str | None = param(
        None, help='largest centred crop of this aspect, e.g. "16:9", "1:1" or 1.5'
    )

    def validate(self) -> None:
        box = [n for n in ("width", "height", "left", "top") if getattr(self, n) is not None]
        if self.aspect is not None:
            if box:
                raise ParamError("aspect", f"aspect cannot be combined with {', '.join(box)}")
            parse_aspect(self.aspect)
        elif not box:
            raise ParamError(
                "width",
                "crop needs a box (width, height, left, top) or an aspect",
                hint="for example width=512,height=512 or aspect=1:1",
            )


class Crop(Filter):
    """Cut out a box or the largest centred region of an aspect ratio. A box side that is
    not given spans to the image edge; a box edge that is not given centres the box. The
    box is checked against each image's size when it is applied."""

    name = "crop"
    summary = "Crop to a box or to an aspect ratio (centred)"
    Params = CropParams
    main_param = "aspect"
    params: CropParams

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) for an image of this size; ParamError if outside."""
        p = self.params
        if p.aspect is not None:
            ratio = parse_aspect(p.aspect)
            w = min(width, max(1, round(height * ratio)))
            h = min(height, max(1, round(width / ratio)))
            return (width - w) // 2, (height - h) // 2, w, h
        left, w = _span(p.left, p.width, width, ("left", "width"))
        top, h = _span(p.top, p.height, height, ("top", "height"))
        return left, top, w, h

    def apply(self, frame: Frame) -> Frame:
        left, top, w, h = self.box(frame.width, frame.height)
        if (w, h) == frame.size:
            return frame
        rows, cols = slice(top, top + h), slice(left, left + w)
        alpha = None if frame.alpha is None else frame.alpha[rows, cols].copy()
        return frame.replace(pixels=frame.pixels[rows, cols].copy(), alpha=alpha)


def _span(
    start: int | None, length: int | None, total: int, names: tuple[str, str]
) -> tuple[int, int]:
    """Start and length of one box side within ``total`` pixels."""
    if length is None:
        length = total - (start or 0)
    if start is None:
        start = (total - length) // 2
    if length <= 0 or start < 0 or start + length > total:
        key = names[1] if length > 0 else names[0]
        side = "width" if names[1] == "width" else "height"
        raise ParamError(
            key,
            f"crop {names[0]}={start}, {names[1]}={length} does not fit the image {side} {total}",
            hint=f"keep {names[0]} + {names[1]} <= {total}, or crop by aspect",
        )
    return start, length
