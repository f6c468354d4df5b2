"""Contact sheets: one photo through every style model, or every upscaler, in a
labelled grid.

The photo defaults to a generated scene with edges, gradients and fine texture. Each
style runs through the ``style`` filter exactly as ``stylepipe run`` would, so the sheet
shows what a pipeline will produce. Upscalers get the photo shrunk by their scale and
run through the ``upscale`` filter; beside them, the same shrunk photo enlarged with
bicubic interpolation, so each cell is the photo's size and compares with the original.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from stylepipe.errors import UsageError
from stylepipe.filters import FilterContext, RuntimeOptions
from stylepipe.imaging.frame import Frame
from stylepipe.plugins import Catalog

LABEL_HEIGHT = 18
GAP = 4
BACKGROUND = (24, 24, 24)
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


@dataclass(frozen=True)
class Cell:
    """One labelled picture of the sheet (``image`` None: the model failed)."""

    label: str
    image: Image.Image | None


def sample_photo(size: int = 256) -> Image.Image:
    """A generated landscape with the edges, flat areas, gradients and fine texture that
    show what a style does: sky, sun, mountains, a lake with reflections, a tree."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    horizon = size * 5 // 8
    for y in range(horizon):  # sky: deep blue to warm orange at the horizon
        t = y / max(horizon - 1, 1)
        draw.line(
            [(0, y), (size, y)], fill=(int(40 + 200 * t), int(80 + 90 * t), int(190 - 90 * t))
        )
    s = size / 256
    draw.ellipse([170 * s, 40 * s, 220 * s, 90 * s], fill=(255, 220, 120))
    draw.polygon([(0, horizon), (70 * s, 70 * s), (150 * s, horizon)], fill=(70, 60, 90))
    draw.polygon([(90 * s, horizon), (190 * s, 100 * s), (256 * s, horizon)], fill=(95, 80, 110))
    draw.polygon([(170 * s, 100 * s), (190 * s, 100 * s), (180 * s, 115 * s)], fill=(240, 240, 250))
    for y in range(horizon, size):  # lake: dark blue with light ripples
        shade = 60 + (25 if (y // max(int(3 * s), 1)) % 2 else 0)
        draw.line([(0, y), (size, y)], fill=(20, shade, 120))
    draw.rectangle([30 * s, 150 * s, 40 * s, 200 * s], fill=(90, 60, 30))
    draw.ellipse([10 * s, 110 * s, 60 * s, 165 * s], fill=(40, 130, 50))
    for i in range(8):  # a checkered dock: fine, high-contrast texture
        for j in range(2):
            colour = (230, 230, 230) if (i + j) % 2 else (30, 30, 30)
            x0, y0 = (150 + 12 * i) * s, (215 + 12 * j) * s
            draw.rectangle([x0, y0, x0 + 12 * s, y0 + 12 * s], fill=colour)
    return image


def load_photo(path: Path, size: int) -> Image.Image:
    """A photo from disk (EXIF orientation applied), fitted into ``size`` pixels."""
    from PIL import ImageOps

    try:
        with Image.open(path) as opened:
            photo = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"cannot read the photo {path}: {exc}") from None
    photo.thumbnail((size, size), Image.Resampling.LANCZOS)
    return photo


def stylize(
    catalog: Catalog,
    model: str,
    photo: Image.Image,
    runtime: RuntimeOptions,
    *,
    warn: Callable[[str], None],
    select_device: Callable[..., Any] | None = None,
    filter_name: str = "style",
) -> Image.Image:
    """``photo`` through the ``filter_name`` filter (``style``, or ``upscale`` for a
    super-resolution model) with ``model`` (a qualified name)."""
    step = catalog.filters.get(filter_name).from_raw({"model": model})
    step.check(catalog)
    step.setup(FilterContext(runtime, catalog, warn=warn, select_device=select_device))
    return step.apply(Frame.from_pil(photo)).to_pil()


def shrink(photo: Image.Image, scale: int) -> Image.Image:
    """The input an x``scale`` upscaler gets: ``photo`` reduced by ``scale`` (box filter)."""
    size = (max(1, photo.width // scale), max(1, photo.height // scale))
    return photo.resize(size, Image.Resampling.BOX)


def bicubic(photo: Image.Image, scale: int) -> Image.Image:
    """The baseline beside an upscaler: ``photo`` shrunk, then enlarged with bicubic."""
    small = shrink(photo, scale)
    return small.resize((small.width * scale, small.height * scale), Image.Resampling.BICUBIC)


def render_sheet(cells: Sequence[Cell], cell_size: int) -> Image.Image:
    """The cells in a near-square grid, each fitted into ``cell_size`` pixels above its
    label (Pillow's default font)."""
    if not cells:
        raise UsageError("nothing to put on the contact sheet")
    cols = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    pitch_x, pitch_y = cell_size + GAP, cell_size + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (cols * pitch_x + GAP, rows * pitch_y + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, cell in enumerate(cells):
        x0 = GAP + (index % cols) * pitch_x
        y0 = GAP + (index // cols) * pitch_y
        label = cell.label
        if cell.image is None:
            draw.rectangle([x0, y0, x0 + cell_size - 1, y0 + cell_size - 1], fill=(90, 30, 30))
            label += " (failed)"
        else:
            picture = cell.image.copy()
            picture.thumbnail((cell_size, cell_size), Image.Resampling.LANCZOS)
            offset = ((cell_size - picture.width) // 2, (cell_size - picture.height) // 2)
            sheet.paste(picture, (x0 + offset[0], y0 + offset[1]))
        text = _fit_text(draw, label, font, cell_size)
        draw.text((x0 + 2, y0 + cell_size + 3), text, fill=(235, 235, 235), font=font)
    return sheet


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    if draw.textlength(text, font=font) <= width - 4:
        return text
    while text and draw.textlength(text + "...", font=font) > width - 4:
        text = text[:-1]
    return text + "..."


def sheet_format(path: Path) -> str:
    """The Pillow format for the sheet's file name (checked before any work is done)."""
    fmt = SAVE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the image format of {path}", hint="use .jpg, .png or .webp")
    return fmt


def check_target(path: Path, *, overwrite: bool) -> str:
    """The Pillow format for the sheet's file, checked before any work is done, with a
    refusal to replace an existing file unless ``overwrite``."""
    fmt = sheet_format(path)
    if Path(path).exists() and not overwrite:
        raise UsageError(f"{path} already exists", hint="add --overwrite to replace it")
    return fmt


def save_sheet(image: Image.Image, path: Path) -> Path:
    """Write the sheet atomically; the format follows the extension."""
    path = Path(path)
    fmt = sheet_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
