"""The photo on the preview's page and how the page looks at it: :class:`View` (whole
photo or 100 % crop, its size and crop centre, checked like filter parameters),
:class:`Photo` (the dropped photo, decoded once, kept fitted per size), :class:`Box` (a
crop of it), :func:`read_photo` (decoding a dropped photo), :func:`resize` and
:func:`png`.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylepipe.errors import ImageReadError, UsageError
from stylepipe.filters import FilterParams, param, parse_params
from stylepipe.imaging.formats import is_image_name
from stylepipe.imaging.frame import Frame

PREVIEW_SIZES = (256, 384, 512)
DEFAULT_SIZE = 384


@dataclass(frozen=True)
class _ViewParams(FilterParams):
    mode: str = param("whole", help="whole photo or 100% crop", choices=("whole", "crop"))
    size: int = param(DEFAULT_SIZE, help="preview pixels", choices=PREVIEW_SIZES)
    x: float = param(0.5, help="crop centre, fraction of the width", min=0.0, max=1.0)
    y: float = param(0.5, help="crop centre, fraction of the height", min=0.0, max=1.0)


@dataclass(frozen=True)
class View:
    """How to preview: ``whole`` or ``crop``, ``size`` in pixels, crop centre ``x``, ``y``."""

    mode: str = "whole"
    size: int = DEFAULT_SIZE
    x: float = 0.5
    y: float = 0.5

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> View:
        """Checked like filter parameters: :class:`ParamError` names the key."""
        return cls(**dataclasses.asdict(parse_params(_ViewParams, dict(raw or {}))))


@dataclass(eq=False)
class Photo:
    """The photo on the page, decoded once (orientation applied, in sRGB)."""

    name: str
    path: Path
    frame: Frame
    _fitted: dict[int, Frame] = field(default_factory=dict)

    @property
    def longest(self) -> int:
        return max(self.frame.size)

    def fitted(self, longest: int) -> Frame:
        """The photo with its longest side at most ``longest`` pixels (kept per size)."""
        if longest >= self.longest:
            return self.frame
        if longest not in self._fitted:
            w, h = self.frame.size
            scale = longest / max(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            self._fitted[longest] = resize(self.frame, size)
        return self._fitted[longest]

    def box(self, x: float, y: float, side: int) -> Box:
        """A ``side`` square (smaller on a smaller photo) centred near (``x``, ``y``)."""
        w, h = self.frame.size
        cw, ch = min(side, w), min(side, h)
        left = min(max(round(x * w - cw / 2), 0), w - cw)
        top = min(max(round(y * h - ch / 2), 0), h - ch)
        return Box(left, top, cw, ch, w, h)


@dataclass(frozen=True)
class Box:
    """A crop of the photo in its own pixels, and the photo's size."""

    left: int
    top: int
    width: int
    height: int
    photo_width: int
    photo_height: int

    @property
    def fractions(self) -> tuple[float, ...]:
        """(left, top, width, height) as fractions of the photo, for the page."""
        w, h = self.photo_width, self.photo_height
        return self.left / w, self.top / h, self.width / w, self.height / h

    def cut(self, frame: Frame) -> Frame:
        """This box of ``frame``: the photo itself, or the photo at another size (then
        resized, bicubic, to the box's size in the photo's pixels)."""
        if frame.size == (self.photo_width, self.photo_height):
            rows = slice(self.top, self.top + self.height)
            columns = slice(self.left, self.left + self.width)
            alpha = None if frame.alpha is None else frame.alpha[rows, columns]
            return frame.replace(
                pixels=np.ascontiguousarray(frame.pixels[rows, columns]),
                alpha=None if alpha is None else np.ascontiguousarray(alpha),
            )
        fx, fy = frame.width / self.photo_width, frame.height / self.photo_height
        region = (self.left * fx, self.top * fy, (self.left + self.width) * fx,
                  (self.top + self.height) * fy)  # fmt: skip
        size = (self.width, self.height)
        image = frame.to_pil().resize(size, Image.Resampling.BICUBIC, box=region)
        return Frame.from_pil(image, metadata=frame.metadata)


def read_photo(data: bytes, name: str, folder: Path) -> Photo:
    """Decode a dropped photo: written to ``folder`` (the server's own), then read like
    an input of ``run``. Errors name the photo, never the folder."""
    from stylepipe.imaging.read import read_image

    clean = Path(name.replace("\\", "/")).name.strip()
    if not clean or clean.startswith(".") or not is_image_name(Path(clean)):
        raise UsageError(
            f"{clean or 'the file'} is not an image file stylepipe reads",
            hint="drop a .jpg, .png, .webp, .tif, .heic or camera RAW file",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / clean
    path.write_bytes(data)
    try:
        frame = read_image(path, srgb=True)
    except ImageReadError as exc:
        raise ImageReadError(exc.message.replace(str(path), clean), hint=exc.hint) from None
    return Photo(clean, path, frame)


def resize(frame: Frame, size: tuple[int, int]) -> Frame:
    """``frame`` resized to ``size`` (width, height) in 8 bits: enough for a preview."""
    image = frame.to_pil().resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return Frame.from_pil(image, metadata=frame.metadata)


def png(frame: Frame) -> bytes:
    buffer = io.BytesIO()
    frame.to_pil().save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
