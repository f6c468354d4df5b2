"""The in-memory image that flows through a pipeline.

Pixels are float32 in [0, 1], shape ``(H, W, C)`` with ``C`` 1 (grayscale) or 3 (RGB);
alpha, when present, is split off as float32 ``(H, W)`` so that every filter decides
how to treat it. Float storage keeps 16-bit sources lossless through the pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageMetadata:
    """What the writer copies to the output unless metadata is stripped."""

    source_format: str | None = None  # Pillow format name of the input, e.g. "JPEG"
    exif: bytes | None = None  # EXIF block with the orientation already reset to 1
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None  # XMP packet (titles, keywords, captions, ratings)
    iptc: bytes | None = None  # IPTC-IIM records (TIFF tag 33723 / JPEG APP13 form)
    source_profile: bytes | None = None  # the input's ICC profile, when converted to sRGB

    def replace(self, **changes: object) -> ImageMetadata:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def resized(self, factor_x: float, factor_y: float | None = None) -> ImageMetadata:
        """The metadata of this image resized by ``factor`` (``> 1``: enlarged): the DPI
        is divided by it, so the print size stays the same (a x4 upscale of a 300 dpi
        scan is 75 dpi)."""
        if factor_y is None:
            factor_y = factor_x
        if not self.dpi or factor_x <= 0 or factor_y <= 0:
            return self
        return self.replace(dpi=(self.dpi[0] / factor_x, self.dpi[1] / factor_y))


@dataclass(frozen=True)
class Frame:
    """One image in a pipeline: float pixels, optional alpha, source depth and metadata."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8  # 8 or 16: what the source carried; writers keep it where they can
    metadata: ImageMetadata = field(default_factory=ImageMetadata)

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] not in (1, 3):
            raise ValueError(f"pixels must be (H, W, 1|3), got {p.shape}")
        if p.dtype != np.float32:
            raise ValueError(f"pixels must be float32, got {p.dtype}")
        if self.alpha is not None and self.alpha.shape != p.shape[:2]:
            raise ValueError(f"alpha {self.alpha.shape} does not match pixels {p.shape[:2]}")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow counts."""
        return self.width, self.height

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    def replace(self, **changes: object) -> Frame:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def rgb(self) -> np.ndarray:
        """Pixels as 3 channels (grayscale repeated)."""
        return self.pixels if self.channels == 3 else np.repeat(self.pixels, 3, axis=2)

    def to_pil(self, *, with_alpha: bool = True) -> Image.Image:
        """An 8-bit Pillow image (L, LA, RGB or RGBA), rounded to nearest."""
        base = to_uint8(self.pixels)
        mode = "L" if self.channels == 1 else "RGB"
        image = Image.fromarray(base[:, :, 0] if self.channels == 1 else base, mode)
        if with_alpha and self.alpha is not None:
            image.putalpha(Image.fromarray(to_uint8(self.alpha), "L"))
        return image

    @classmethod
    def from_pil(cls, image: Image.Image, **kwargs: object) -> Frame:
        """A frame from an 8-bit L/LA/RGB/RGBA Pillow image (other modes are converted)."""
        alpha = None
        if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA" if image.mode != "LA" else "LA")
            alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA") else "RGB")
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        return cls(pixels=np.ascontiguousarray(pixels), alpha=alpha, **kwargs)  # type: ignore[arg-type]


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding and clipping."""
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def to_uint16(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint16 with rounding and clipping."""
    return np.clip(np.rint(values * 65535.0), 0, 65535).astype(np.uint16)
