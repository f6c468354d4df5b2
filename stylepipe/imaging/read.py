"""Reading images (Pillow), and the image formats and file suffixes stylepipe knows.

Rules users can rely on (also in the README):

* **Orientation.** The EXIF orientation is applied at load (the semantics of
  ``ImageOps.exif_transpose``); the EXIF kept in ``Frame.metadata`` says orientation 1.
* **Metadata.** EXIF (JPEG, PNG, WebP, AVIF and HEIF sources), the ICC profile, the DPI,
  XMP and IPTC go into ``Frame.metadata``, for the writer to keep
  (:mod:`stylepipe.imaging.write`, :mod:`stylepipe.imaging.metadata`).
* **Colour.** With ``srgb=True`` (pipelines that run a model), 8-bit RGB inputs with a
  wide-gamut profile are converted to sRGB (:mod:`stylepipe.imaging.colour`).
* **Formats.** HEIF/HEIC through pillow-heif, AVIF through Pillow, camera RAW through
  rawpy (:mod:`stylepipe.imaging.raw`); the format table is in
  :mod:`stylepipe.imaging.formats`.
* **Alpha** is split into ``Frame.alpha`` (PNG colour-key transparency included).
* **16 bits.** 16-bit PNG/TIFF sources (gray, gray+alpha, RGB, RGBA) load as
  ``bit_depth=16`` float frames. Mode ``I`` is read as 16-bit (clipped to 0..65535),
  ``F`` as [0, 1].
* **Animated** GIF/WebP/PNG: the first frame is used.
* **Palette, CMYK, 1-bit** sources become RGB(A) or gray; CMYK goes through its ICC
  profile to sRGB when it has one.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageFile, UnidentifiedImageError

from stylepipe.errors import ImageReadError
from stylepipe.imaging import highdepth
from stylepipe.imaging.colour import to_srgb
from stylepipe.imaging.formats import (
    CANONICAL_EXTENSIONS,
    FORMAT_ALIASES,
    FORMATS,
    INPUT_EXTENSIONS,
    format_for_suffix,
    is_image_name,
    is_raw_name,
    missing_codec,
    normalize_format,
    register_heif,
)
from stylepipe.imaging.frame import Frame, ImageMetadata
from stylepipe.imaging.metadata import read_iptc, read_xmp
from stylepipe.imaging.raw import read_raw

DEFAULT_MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
"""Pillow's own decompression-bomb limit, the default of ``--max-pixels``."""

_ORIENTATION = ExifTags.Base.Orientation


@contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Set Pillow's process-wide decompression-bomb guard for a batch (0/None: no limit).

    :func:`read_image` raises its own clear error above the limit, so Pillow's warning
    for sizes between one and two times the limit is silenced meanwhile.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels or None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


# --- reading ----------------------------------------------------------------------------


def read_image(
    path: Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, srgb: bool = False
) -> Frame:
    """Decode ``path`` fully into a :class:`Frame` (orientation applied, metadata kept);
    ``srgb``: convert an 8-bit wide-gamut RGB input to sRGB (for the networks, see
    :mod:`stylepipe.imaging.colour`).

    Raises :class:`ImageReadError` with a one-line reason for missing, empty, corrupt,
    truncated, unsupported or oversized (more than ``max_pixels``; 0/None: no limit) files.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        missing = missing_codec(path.suffix)
        if missing:
            raise ImageReadError(f"{path}: {missing}")
        if is_raw_name(path):
            return read_raw(path, max_pixels=max_pixels)
        register_heif()
        with Image.open(path) as image:
            _check_pixels(path, image, max_pixels)
            frame = _decode(path, image)
        return to_srgb(frame) if srgb else frame
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: {exc}", hint=_PIXELS_HINT) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ImageReadError(f"{path}: cannot read: {reason}") from None
    except Exception as exc:  # Pillow's decoders raise many types on corrupt data
        raise ImageReadError(f"{path}: corrupt image ({type(exc).__name__}: {exc})") from None


_PIXELS_HINT = "raise the limit with --max-pixels N (0 = no limit) if you trust this file"


def _check_pixels(path: Path, image: Image.Image, max_pixels: int | None) -> None:
    width, height = image.size
    if max_pixels and width * height > max_pixels:
        raise ImageReadError(
            f"{path}: {width}x{height} = {width * height:,} pixels is over the limit of "
            f"{max_pixels:,} (decompression-bomb guard)",
            hint=_PIXELS_HINT,
        )


def _decode(path: Path, image: ImageFile.ImageFile) -> Frame:
    deep = highdepth.deep_rawmode(image)  # before load(): loading consumes the tiles
    image.load()  # decode everything now, so truncation is caught here
    metadata, orientation = _metadata(image)
    if deep is not None:
        pixels, alpha = _split_deep(highdepth.read_deep(path, image, deep), image)
        depth = 16
    else:
        pixels, alpha, depth = _pixels(image)  # a CMYK profile: dropped on save (image_write)
    pixels = _orient(pixels, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    if orientation in (5, 6, 7, 8) and metadata.dpi:
        metadata = metadata.replace(dpi=metadata.dpi[::-1])
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if alpha is not None:
        alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    return Frame(pixels=pixels, alpha=alpha, bit_depth=depth, metadata=metadata)


def _split_deep(samples: np.ndarray, image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    values = samples.astype(np.float32) / 65535.0
    channels = samples.shape[2]
    color = 1 if channels == 2 else 3
    alpha = values[..., color] if channels in (2, 4) else None
    key = image.info.get("transparency")
    if alpha is None and isinstance(key, tuple) and len(key) == 3:  # PNG tRNS colour key
        alpha = (~np.all(samples[..., :3] == np.array(key, np.uint16), axis=2)).astype(np.float32)
    return values[..., :color], alpha


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Float pixels ``(H, W, 1|3)``, alpha and bit depth of a loaded Pillow image."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        raw = np.asarray(image)
        if mode == "F":
            values = np.clip(raw.astype(np.float32), 0.0, 1.0)
        else:
            values = np.clip(raw.astype(np.float64), 0, 65535).astype(np.float32) / 65535.0
        alpha = _key_alpha(raw[..., None], image.info.get("transparency"))
        return values[..., None], alpha, 16
    if mode == "CMYK":
        return _as8(_cmyk_to_rgb(image)) + (8,)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return _as8(image.convert("RGBA" if has_alpha else "RGB")) + (8,)
    if mode in ("1", "L", "LA", "La"):
        key = image.info.get("transparency") if mode == "L" else None
        image = image.convert("LA" if mode in ("LA", "La") else "L")
        pixels, alpha = _as8(image)
        if key is not None and alpha is None:
            alpha = _key_alpha(np.asarray(image)[..., None], key)
        return pixels, alpha, 8
    key = image.info.get("transparency") if mode == "RGB" else None
    image = image.convert("RGBA" if mode in ("RGBA", "RGBa") else "RGB")
    pixels, alpha = _as8(image)
    if key is not None and alpha is None:
        alpha = _key_alpha(np.asarray(image), key)
    return pixels, alpha, 8


def _as8(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    values = np.asarray(image, dtype=np.float32) / 255.0
    if values.ndim == 2:
        return values[..., None], None
    if image.mode in ("LA", "RGBA"):
        return values[..., :-1], values[..., -1]
    return values, None


def _key_alpha(samples: np.ndarray, key: object) -> np.ndarray | None:
    """Alpha from a colour-key transparency (PNG tRNS on gray or RGB)."""
    if isinstance(key, int):
        key = (key,)
    if not isinstance(key, tuple) or len(key) != samples.shape[2]:
        return None
    opaque = ~np.all(samples == np.array(key, dtype=samples.dtype), axis=2)
    return opaque.astype(np.float32)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK -> sRGB through the embedded profile when there is one (Pillow's own
    conversion ignores profiles and is only a rough approximation)."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass  # an unusable profile: fall back to the plain conversion below
    return image.convert("RGB")


def _metadata(image: Image.Image) -> tuple[ImageMetadata, int]:
    """Metadata to carry over and the EXIF orientation (1 when absent or invalid)."""
    raw_exif = image.info.get("exif")
    orientation = 1
    exif_bytes: bytes | None = None
    try:
        exif = image.getexif()
        value = exif.get(_ORIENTATION, 1)
        orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
        if isinstance(raw_exif, bytes) and raw_exif:
            if orientation != 1 or _ORIENTATION in exif:
                exif[_ORIENTATION] = 1
                exif_bytes = exif.tobytes()
            else:
                exif_bytes = raw_exif
    except (SyntaxError, ValueError, TypeError, KeyError, OSError):
        exif_bytes = None  # unreadable EXIF: drop it rather than fail the image
    if exif_bytes is not None and not exif_bytes.startswith(b"Exif\x00\x00"):
        exif_bytes = b"Exif\x00\x00" + exif_bytes
    icc = image.info.get("icc_profile") or None
    dpi = image.info.get("dpi")
    good_dpi = (float(dpi[0]), float(dpi[1])) if isinstance(dpi, tuple) and min(dpi) > 0 else None
    meta = ImageMetadata(
        image.format, exif_bytes, icc, good_dpi, xmp=read_xmp(image), iptc=read_iptc(image)
    )
    return meta, orientation


def _orient(values: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (2-8) to an ``(H, W, ...)`` array."""
    if orientation == 1:
        return values
    if orientation == 2:
        return values[:, ::-1]
    if orientation == 3:
        return values[::-1, ::-1]
    if orientation == 4:
        return values[::-1]
    if orientation == 5:  # transpose
        return np.swapaxes(values, 0, 1)
    if orientation == 6:  # rotate 90 degrees clockwise
        return np.rot90(values, k=-1)
    if orientation == 7:  # transverse
        return np.swapaxes(values[::-1, ::-1], 0, 1)
    return np.rot90(values, k=1)  # 8: rotate 90 degrees counter-clockwise


__all__ = [
    "CANONICAL_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "FORMAT_ALIASES",
    "INPUT_EXTENSIONS",
    "format_for_suffix",
    "is_image_name",
    "normalize_format",
    "pixel_limit",
    "read_image",
]
