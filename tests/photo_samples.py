"""Real photo files for the format tests, made from generated pixels (no network):
HEIC (pillow-heif), AVIF (Pillow), a small DNG (pidng), and an ICC profile for Display P3
(a matrix/TRC profile with the P3 primaries, built here in ICC v2 form)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li '
    b'xml:lang="x-default">Harbour at dawn</rdf:li></rdf:Alt></dc:title>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def pixels(height: int = 24, width: int = 32) -> np.ndarray:
    """Smooth ramps (red across, green down, blue fixed): lossy codecs keep them well."""
    rows, cols = np.mgrid[0:height, 0:width]
    red = 30 + 200 * cols / max(1, width - 1)
    green = 40 + 180 * rows / max(1, height - 1)
    blue = np.full((height, width), 120.0)
    return np.rint(np.stack([red, green, blue], axis=2)).astype(np.uint8)


def save_heic(path: Path, **kwargs: object) -> Path:
    """A HEIC file (skips the test when pillow-heif, the ``heif`` extra, is missing)."""
    pytest.importorskip("pillow_heif").register_heif_opener()
    Image.fromarray(pixels()).save(path, format="HEIF", quality=90, **kwargs)
    return path


def save_avif(path: Path, **kwargs: object) -> Path:
    """An AVIF file (skips the test when this Pillow has no AVIF codec)."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow was built without AVIF")
    Image.fromarray(pixels()).save(path, format="AVIF", quality=90, **kwargs)
    return path


def save_dng(path: Path, height: int = 32, width: int = 48) -> Path:
    """A 12-bit Bayer (GBRG) DNG with an as-shot white balance of R x2, B x2 (green is
    twice as bright as red and blue in the raw data, so the camera balance matters)."""
    pytest.importorskip("rawpy")
    pytest.importorskip("pidng")
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        Orientation,
        PhotometricInterpretation,
    )

    raw = np.full((height, width), 500, dtype=np.uint16)
    raw[0::2, 0::2] = 1000  # G (GBRG)
    raw[1::2, 1::2] = 1000  # G
    tags = DNGTags()
    for tag, value in [
        (Tag.ImageWidth, width),
        (Tag.ImageLength, height),
        (Tag.TileWidth, width),
        (Tag.TileLength, height),
        (Tag.Orientation, Orientation.Horizontal),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 12),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.GBRG),
        (Tag.BlackLevel, 0),
        (Tag.WhiteLevel, 4095),
        (
            Tag.ColorMatrix1,
            [
                [10000, 10000],
                [0, 1],
                [0, 1],
                [0, 1],
                [10000, 10000],
                [0, 1],
                [0, 1],
                [0, 1],
                [10000, 10000],
            ],
        ),  # fmt: skip
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 2], [1, 1], [1, 2]]),
        (Tag.Make, "stylepipe"),
        (Tag.Model, "test"),
        (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ]:
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(raw, filename=str(path.with_suffix("")))
    return path


# --- a Display P3 ICC profile ---------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def display_p3_profile() -> bytes:
    """An ICC v2 RGB display profile: Display P3 primaries (D50-adapted colorants, as
    Apple's profile has) and the sRGB tone curve (gamma 2.2 stands in for it here)."""
    desc_text = b"Display P3 (stylepipe test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(desc_text)) + desc_text + b"\0" * 79
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", _xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", _xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"none"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)  # rendering intent
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
