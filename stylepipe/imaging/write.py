"""Encoding and writing images (Pillow), with atomic writes.

Rules users can rely on (also in the README):

* **Metadata.** The frame's EXIF, ICC profile, DPI, XMP and IPTC (read with the source)
  are written where the format can carry them (:mod:`stylepipe.imaging.metadata`)
  unless ``strip_metadata``; that EXIF has orientation 1, as the orientation was applied
  at load. An ICC profile whose colour space no longer matches the pixels (a gray profile
  on an RGB result or the reverse, a CMYK profile) is dropped.
* **Alpha** is re-attached from ``Frame.alpha``. JPEG has no alpha: the image is
  composited onto white (what browsers and most viewers show).
* **16 bits.** ``bit_depth=16`` frames keep 16 bits in PNG and TIFF outputs; JPEG, WebP, AVIF and
  HEIF are 8-bit. A 16-bit gray+alpha TIFF output is written as 16-bit RGBA (Pillow cannot read
  16-bit gray+alpha TIFFs). WebP, AVIF and HEIF
  outputs store gray as RGB.
* **Atomic.** The file appears complete or not at all (:func:`stylepipe.atomic.atomic_write`);
  a full or read-only storage gives :class:`~stylepipe.errors.StorageFullError`.

Reading, and the names of the formats, are in :mod:`stylepipe.imaging.read`.
"""

from __future__ import annotations

import errno
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylepipe.atomic import atomic_write
from stylepipe.errors import ImageWriteError, StorageFullError
from stylepipe.imaging import highdepth
from stylepipe.imaging import metadata as xmp_iptc
from stylepipe.imaging.colour import from_srgb
from stylepipe.imaging.formats import FORMATS, normalize_format, register_heif, write_problem
from stylepipe.imaging.frame import Frame, ImageMetadata, to_uint8, to_uint16

_WHITE = 1.0


@dataclass(frozen=True)
class SaveOptions:
    """How to encode an output: format (see :data:`stylepipe.imaging.read.FORMATS`),
    JPEG/WebP/AVIF/HEIF quality 1-100, PNG zlib level 0-9 and whether to drop EXIF, ICC profile
    and DPI."""

    format: str
    quality: int = 92
    compression: int = 6
    strip_metadata: bool = False
    output_profile: str = "source"
    """``source``: a frame converted to sRGB at read goes back to the input's profile;
    ``srgb``: it stays sRGB, tagged with the sRGB profile."""


def write_image(frame: Frame, path: Path, options: SaveOptions) -> None:
    """Encode ``frame`` and write it atomically to ``path`` (see :func:`atomic_write`)."""
    data = encode_image(frame, options)
    try:
        atomic_write(Path(path), lambda fh: fh.write(data))
    except OSError as exc:
        raise write_error(path, exc) from None


_STORAGE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS") if hasattr(errno, name)
)


def write_error(path: Path, exc: OSError) -> ImageWriteError:
    """The typed error for an ``OSError`` while writing ``path``: a
    :class:`StorageFullError` when the storage takes no more files at all."""
    message = f"cannot write {path}: {exc.strerror or exc}"
    if exc.errno in _STORAGE_ERRNOS:
        return StorageFullError(
            message,
            hint="free space (or make it writable), then run "
            "the same command with --skip-existing to finish",
        )
    return ImageWriteError(message)


def encode_image(frame: Frame, options: SaveOptions) -> bytes:
    """The encoded file contents for ``frame``."""
    fmt = normalize_format(options.format)
    problem = write_problem(fmt)
    if problem:
        raise ImageWriteError(f"cannot encode {fmt.upper()}: {problem}")
    if fmt == "heif":
        register_heif()
    frame = _output_colour(frame, options)
    pixels, alpha = frame.pixels, frame.alpha
    if fmt == "jpeg" and alpha is not None:
        pixels, alpha = pixels * alpha[..., None] + _WHITE * (1.0 - alpha[..., None]), None
    if fmt in ("webp", "avif", "heif") and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)  # these store colour only
    deep = frame.bit_depth == 16 and fmt in ("png", "tiff")
    channels = pixels.shape[2]
    meta = _metadata_kwargs(frame.metadata, channels, options.strip_metadata)
    xmp, iptc = (
        (None, None) if options.strip_metadata else (frame.metadata.xmp, frame.metadata.iptc)
    )
    try:
        if deep and (channels == 3 or alpha is not None):
            return _encode_deep(fmt, pixels, alpha, options, meta, xmp, iptc)
        image = _to_pil(pixels, alpha, deep)
        buffer = io.BytesIO()
        extra = xmp_iptc.save_kwargs(fmt, xmp, iptc)
        image.save(buffer, format=FORMATS[fmt], **_format_kwargs(fmt, options), **meta, **extra)
        data = buffer.getvalue()
        return xmp_iptc.add_jpeg_iptc(data, iptc) if fmt == "jpeg" and iptc else data
    except (OSError, ValueError, TypeError) as exc:
        raise ImageWriteError(f"cannot encode {fmt.upper()}: {exc}") from None


def _output_colour(frame: Frame, options: SaveOptions) -> Frame:
    """Back to the input's profile (see :attr:`SaveOptions.output_profile`)."""
    source = frame.metadata.source_profile
    if options.output_profile != "source" or options.strip_metadata or not source:
        return frame
    if frame.channels != 3 or frame.bit_depth != 8:
        return frame
    pixels = from_srgb(frame.pixels, source)
    if pixels is None:
        return frame
    metadata = frame.metadata.replace(icc_profile=source, source_profile=None)
    return frame.replace(pixels=pixels, metadata=metadata)


def _metadata_kwargs(meta: ImageMetadata, channels: int, strip: bool) -> dict[str, object]:
    if strip:
        return {}
    kwargs: dict[str, object] = {}
    if meta.exif:
        kwargs["exif"] = meta.exif
    if meta.icc_profile and _icc_fits(meta.icc_profile, channels):
        kwargs["icc_profile"] = meta.icc_profile
    if meta.dpi:
        kwargs["dpi"] = meta.dpi
    return kwargs


def _icc_fits(profile: bytes, channels: int) -> bool:
    """Whether the profile's colour space (header bytes 16-19) describes the pixels."""
    space = profile[16:20]
    return space == (b"GRAY" if channels == 1 else b"RGB ")


def _format_kwargs(fmt: str, options: SaveOptions) -> dict[str, object]:
    if fmt == "png":
        return {"compress_level": options.compression}
    if fmt in ("jpeg", "webp", "avif", "heif"):
        return {"quality": options.quality}
    return {"compression": "tiff_adobe_deflate"}


def _to_pil(pixels: np.ndarray, alpha: np.ndarray | None, deep: bool) -> Image.Image:
    if deep:  # 16-bit gray without alpha: Pillow's I;16 writes it natively
        return Image.fromarray(to_uint16(pixels[..., 0]))
    base = to_uint8(pixels)
    image = Image.fromarray(base[..., 0] if base.shape[2] == 1 else base)
    if alpha is not None:
        image.putalpha(Image.fromarray(to_uint8(alpha)))
    return image


def _encode_deep(
    fmt: str,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    options: SaveOptions,
    meta: dict[str, object],
    xmp: bytes | None,
    iptc: bytes | None,
) -> bytes:
    planes = [pixels] if alpha is None else [pixels, alpha[..., None]]
    if fmt == "tiff" and alpha is not None and pixels.shape[2] == 1:
        planes = [np.repeat(pixels, 3, axis=2), alpha[..., None]]
        meta = {k: v for k, v in meta.items() if k != "icc_profile"}  # gray profile
    samples = to_uint16(np.concatenate(planes, axis=2))
    icc = meta.get("icc_profile")
    dpi = meta.get("dpi")
    icc_bytes = icc if isinstance(icc, bytes) else None
    dpi_pair = dpi if isinstance(dpi, tuple) else None
    if fmt == "png":
        exif = meta.get("exif")
        return highdepth.encode_png16(
            samples,
            compression=options.compression,
            icc_profile=icc_bytes,
            dpi=dpi_pair,
            exif=exif if isinstance(exif, bytes) else None,
            xmp=xmp,
        )
    return highdepth.encode_tiff16(samples, icc_profile=icc_bytes, dpi=dpi_pair, xmp=xmp, iptc=iptc)


__all__ = ["SaveOptions", "encode_image", "write_error", "write_image"]
