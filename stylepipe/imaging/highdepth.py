"""16-bit colour that Pillow's own modes cannot hold.

Pillow (13.x) keeps 16-bit *grayscale* as mode ``I;16``, but it reduces 48/64-bit RGB(A)
and 32-bit gray+alpha PNGs/TIFFs to 8 bits per channel: there is no 16-bit RGB mode, and
its writers cannot produce 16-bit colour files. This module closes both gaps without an
extra dependency:

* **Reading.** Pillow's decoders still unfilter/decompress the full 16-bit stream; only
  the last "unpack" step keeps one byte of each sample. The same stream is therefore
  decoded twice, once with the file's raw mode (high bytes) and once with the raw mode
  of the opposite byte order (which picks the low bytes), and the two are combined. For
  gray+alpha PNGs the 4-byte pixel is unpacked as 8-bit RGBA, which keeps every byte.
* **Writing.** :func:`encode_png16` is a small PNG encoder (adaptive row filters,
  zlib, iCCP/pHYs/eXIf chunks) and :func:`encode_tiff16` a baseline TIFF writer
  (Adobe-deflate strips, ICC profile and resolution tags).
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

# raw mode -> (raw mode that unpacks the other byte of each sample, channels)
_NATIVE = "L" if sys.byteorder == "little" else "B"
_SWAP = {"B": "L", "L": "B", "N": "B" if _NATIVE == "L" else "L"}
_DEEP_BASES = {"RGB": 3, "RGBA": 4, "RGBX": 3}
_GRAY_ALPHA_16 = "LA;16B"  # PNG colour type 4, 16 bits: unpacked as 8-bit RGBA instead


def deep_rawmode(image: ImageFile.ImageFile) -> str | None:
    """The 16-bit colour raw mode Pillow would squeeze to 8 bits, or None.

    Must be called before ``image.load()`` (loading consumes the tile list).
    """
    modes = {_tile_rawmode(tile) for tile in image.tile}
    if len(modes) != 1:
        return None
    rawmode = modes.pop()
    if rawmode is None:
        return None
    if rawmode == _GRAY_ALPHA_16 and image.format == "PNG":
        return rawmode
    base, _, depth = rawmode.partition(";")
    if base in _DEEP_BASES and depth in ("16B", "16L", "16N"):
        return rawmode
    return None


def _tile_rawmode(tile: Any) -> str | None:
    args = tile.args
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _with_rawmode(tile: Any, rawmode: str) -> Any:
    args = tile.args
    new_args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tile._replace(args=new_args)


def read_deep(path: Path, loaded: Image.Image, rawmode: str) -> np.ndarray:
    """Full 16-bit samples ``(H, W, C)`` uint16 of a file whose ``loaded`` image (already
    decoded by Pillow with ``rawmode``) holds only the high bytes."""
    with Image.open(path) as again:
        if rawmode == _GRAY_ALPHA_16:
            again.tile = [_with_rawmode(t, "RGBA") for t in again.tile]
            again.load()
            raw = np.asarray(again).astype(np.uint16)
            return np.stack([raw[..., 0] << 8 | raw[..., 1], raw[..., 2] << 8 | raw[..., 3]], -1)
        base, _, depth = rawmode.partition(";")
        other = f"{base};16{_SWAP[depth[-1]]}"
        again.tile = [_with_rawmode(t, other) for t in again.tile]
        again.load()
        low = np.asarray(again).astype(np.uint16)
    high = np.asarray(loaded).astype(np.uint16)
    channels = _DEEP_BASES[base]
    return (high << 8 | low)[..., :channels]


# --- PNG --------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _filter_rows(rows: np.ndarray, bpp: int) -> np.ndarray:
    """PNG-filter every row (types 0-4) and keep, per row, the one with the smallest sum
    of absolute signed bytes: the heuristic the PNG specification recommends."""
    x = rows.astype(np.int16)
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    b = np.zeros_like(x)
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[1:, bpp:] = x[:-1, :-bpp]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]) & 0xFF
    signed = np.minimum(candidates, 256 - candidates).sum(axis=2)
    best = signed.argmin(axis=0)
    chosen = candidates[best, np.arange(rows.shape[0])].astype(np.uint8)
    return np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1)


def encode_png16(
    samples: np.ndarray,
    *,
    compression: int = 6,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    exif: bytes | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """A 16-bit PNG from uint16 samples ``(H, W, C)``, C = 1 (gray), 2 (gray+alpha),
    3 (RGB) or 4 (RGBA); ``compression`` is the zlib level 0-9."""
    height, width, channels = samples.shape
    rows = samples.astype(">u2").view(np.uint8).reshape(height, width * channels * 2)
    header = struct.pack(">IIBBBBB", width, height, 16, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", header)]
    if icc_profile:
        parts.append(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        parts.append(_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:
        parts.append(_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
    if xmp:  # uncompressed iTXt: keyword, 0, compression flag and method, language, key
        parts.append(_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    data = zlib.compress(_filter_rows(rows, channels * 2).tobytes(), compression)
    step = 1 << 20
    parts.extend(_chunk(b"IDAT", data[i : i + step]) for i in range(0, len(data), step))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


# --- TIFF -------------------------------------------------------------------------------

_BYTE, _SHORT, _LONG, _RATIONAL, _UNDEFINED = 1, 3, 4, 5, 7
_TYPE_SIZE = {_BYTE: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}


def _tiff_value(kind: int, values: Any) -> bytes:
    if kind in (_UNDEFINED, _BYTE):
        return bytes(values)
    if kind == _RATIONAL:
        return b"".join(struct.pack("<II", n, d) for n, d in values)
    return struct.pack(f"<{len(values)}{'H' if kind == _SHORT else 'I'}", *values)


def encode_tiff16(
    samples: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    xmp: bytes | None = None,
    iptc: bytes | None = None,
) -> bytes:
    """A little-endian baseline TIFF with 16 bits per sample from uint16 ``(H, W, C)``,
    C = 1, 3 or 4 (RGBA, unassociated alpha), in one Adobe-deflate strip. (Gray+alpha is
    left out on purpose: Pillow cannot read 16-bit gray+alpha TIFFs back.)"""
    height, width, channels = samples.shape
    if channels not in (1, 3, 4):
        raise ValueError(f"16-bit TIFF needs 1, 3 or 4 channels, got {channels}")
    strip = zlib.compress(samples.astype("<u2").tobytes(), 6)
    strip_offset = 8
    tags = _tiff_tags(width, height, channels, strip_offset, len(strip), icc_profile, dpi)
    if xmp:
        tags.append((700, _BYTE, xmp))
    if iptc:
        tags.append((33723, _UNDEFINED, iptc))
    tags.sort(key=lambda t: t[0])
    ifd_offset = strip_offset + len(strip) + (len(strip) & 1)
    extra_offset = ifd_offset + 2 + 12 * len(tags) + 4
    entries, extra = [], b""
    for tag, kind, values in tags:
        payload = _tiff_value(kind, values)
        count = len(payload) // _TYPE_SIZE[kind]
        if len(payload) <= 4:
            field = payload.ljust(4, b"\0")
        else:  # values that do not fit the entry live after the directory
            field = struct.pack("<I", extra_offset + len(extra))
            extra += payload + b"\0" * (len(payload) & 1)
        entries.append(struct.pack("<HHI", tag, kind, count) + field)
    head = b"II*\0" + struct.pack("<I", ifd_offset)
    body = strip + b"\0" * (len(strip) & 1)
    ifd = struct.pack("<H", len(tags)) + b"".join(entries) + struct.pack("<I", 0)
    return head + body + ifd + extra


def _tiff_tags(
    width: int,
    height: int,
    channels: int,
    strip_offset: int,
    strip_size: int,
    icc_profile: bytes | None,
    dpi: tuple[float, float] | None,
) -> list[tuple[int, int, Any]]:
    tags: list[tuple[int, int, Any]] = [
        (256, _LONG, [width]),
        (257, _LONG, [height]),
        (258, _SHORT, [16] * channels),
        (259, _SHORT, [8]),  # Adobe deflate
        (262, _SHORT, [1 if channels == 1 else 2]),  # min-is-black or RGB
        (273, _LONG, [strip_offset]),
        (277, _SHORT, [channels]),
        (278, _LONG, [height]),
        (279, _LONG, [strip_size]),
        (284, _SHORT, [1]),  # chunky (interleaved) samples
    ]
    if dpi:
        tags.append((282, _RATIONAL, [(round(dpi[0] * 100), 100)]))
        tags.append((283, _RATIONAL, [(round(dpi[1] * 100), 100)]))
        tags.append((296, _SHORT, [2]))  # resolution unit: inch
    if channels == 4:
        tags.append((338, _SHORT, [2]))  # extra sample: unassociated alpha
    if icc_profile:
        tags.append((34675, _UNDEFINED, icc_profile))
    return sorted(tags, key=lambda t: t[0])
