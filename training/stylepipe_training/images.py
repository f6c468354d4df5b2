"""Small Pillow <-> tensor helpers for style images, previews and evaluation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from stylepipe.errors import ImageReadError

from .data import DECODE_ERRORS


def open_rgb(path: Path) -> Image.Image:
    """An RGB image, EXIF orientation applied; unreadable files raise ImageReadError."""
    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise ImageReadError(f"image not found: {path}") from None
    except DECODE_ERRORS as exc:
        raise ImageReadError(f"cannot read image {path}: {exc}") from exc


def resize_short_side(image: Image.Image, short: int, multiple: int = 1) -> Image.Image:
    """Resize so the shorter side is ``short`` (antialiased bicubic), both sides rounded
    to a multiple of ``multiple``."""
    w, h = image.size
    factor = short / min(w, h)
    size = [max(multiple, round(v * factor / multiple) * multiple) for v in (w, h)]
    return image.resize((size[0], size[1]), Image.Resampling.BICUBIC)


def fit_long_side(image: Image.Image, long: int, multiple: int = 1) -> Image.Image:
    """Shrink (never enlarge) so the longer side is at most ``long``; sides rounded down
    to a multiple of ``multiple`` by cropping."""
    w, h = image.size
    if max(w, h) > long:
        factor = long / max(w, h)
        image = image.resize(
            (max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC
        )
    w, h = image.size
    return image.crop((0, 0, max(multiple, w - w % multiple), max(multiple, h - h % multiple)))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB Pillow image -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_image(tensor: torch.Tensor) -> Image.Image:
    """``(1, 3, H, W)`` or ``(3, H, W)`` float in [0, 1] -> RGB Pillow image (rounded)."""
    x = tensor.detach().float().cpu()
    x = x[0] if x.ndim == 4 else x
    array = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


def side_by_side(images: list[Image.Image], gap: int = 4) -> Image.Image:
    """Images in a row on a white background, top-aligned."""
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    height = max(i.height for i in images)
    canvas = Image.new("RGB", (width, height), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + gap
    return canvas


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """The image encoded as JPEG."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
