"""Image I/O: orientation, metadata, alpha, 16 bits, odd modes, bad files, format names."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps

from stylepipe.errors import ImageReadError, UsageError
from stylepipe.imaging.frame import Frame, ImageMetadata
from stylepipe.imaging.read import DEFAULT_MAX_PIXELS, normalize_format, pixel_limit, read_image
from stylepipe.imaging.write import SaveOptions, encode_image, write_image

RNG = np.random.default_rng(7)
MAKE = ExifTags.Base.Make
ORIENTATION = ExifTags.Base.Orientation


def rgb8(height: int = 6, width: int = 9) -> np.ndarray:
    return RNG.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int | None, make: str = "stylepipe-test") -> bytes:
    exif = Image.Exif()
    exif[MAKE] = make
    if orientation is not None:
        exif[ORIENTATION] = orientation
    return exif.tobytes()


# --- independent 16-bit PNG helpers (no code shared with stylepipe.imaging.highdepth) -----------


def png16_bytes(samples: np.ndarray) -> bytes:
    """A 16-bit PNG with filter type 0 on every row: trivially correct by construction."""
    height, width, channels = samples.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def decode_png16(data: bytes) -> tuple[np.ndarray, dict[bytes, bytes]]:
    """Decode a non-interlaced 16-bit PNG with a plain per-byte unfilter loop."""
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 16
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color_type]
    bpp, stride = 2 * channels, 2 * channels * width
    raw, out, prev = zlib.decompress(idat), bytearray(), bytearray(stride)
    for y in range(height):
        kind, row = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2, min((a, b, c), key=lambda v: abs(p - v))][kind]
            if kind == 4:  # Paeth ties prefer a, then b, then c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (row[i] + pred) & 0xFF
        out += row
        prev = row
    samples = np.frombuffer(bytes(out), dtype=">u2").reshape(height, width, channels)
    return samples.astype(np.uint16), chunks


# --- orientation and metadata -----------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_exif_transpose(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "o.png"
    Image.fromarray(rgb8(5, 8)).save(path, exif=exif_bytes(orientation))
    frame = read_image(path)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(np.rint(frame.pixels * 255).astype(np.uint8), expected)
    exif = Image.Exif()
    exif.load(frame.metadata.exif)
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "stylepipe-test"


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "webp"])
def test_exif_icc_dpi_round_trip(tmp_path: Path, fmt: str) -> None:
    icc = srgb_profile()
    src = tmp_path / "src.png"
    Image.fromarray(rgb8()).save(src, exif=exif_bytes(6), icc_profile=icc, dpi=(300, 150))
    frame = read_image(src)
    assert frame.size == (6, 9)  # rotated by the orientation
    out = tmp_path / f"out.{fmt}"
    write_image(frame, out, SaveOptions(format=fmt))
    with Image.open(out) as image:
        assert image.info.get("icc_profile") == icc
        exif = image.getexif()
        assert exif[MAKE] == "stylepipe-test"
        assert exif.get(ORIENTATION, 1) == 1
        if fmt != "webp":  # WebP has no resolution field
            assert image.info["dpi"] == pytest.approx((150, 300), abs=0.05)  # swapped


def test_strip_metadata_drops_everything(tmp_path: Path) -> None:
    src = tmp_path / "src.jpg"
    Image.fromarray(rgb8()).save(src, exif=exif_bytes(1), icc_profile=srgb_profile(), dpi=(72, 72))
    out = tmp_path / "out.jpg"
    write_image(read_image(src), out, SaveOptions(format="jpeg", strip_metadata=True))
    with Image.open(out) as image:
        assert "icc_profile" not in image.info and "exif" not in image.info
        assert len(image.getexif()) == 0


def test_icc_profile_of_another_colour_space_is_dropped() -> None:
    gray_profile = bytearray(srgb_profile())
    gray_profile[16:20] = b"GRAY"
    meta = ImageMetadata(icc_profile=bytes(gray_profile))
    frame = Frame(np.zeros((4, 4, 3), np.float32), metadata=meta)
    data = encode_image(frame, SaveOptions(format="png"))
    with Image.open(io.BytesIO(data)) as image:
        assert "icc_profile" not in image.info
    gray = Frame(np.zeros((4, 4, 1), np.float32), metadata=meta)
    with Image.open(io.BytesIO(encode_image(gray, SaveOptions(format="png")))) as image:
        assert image.info["icc_profile"] == bytes(gray_profile)


# --- alpha --------------------------------------------------------------------------------


def rgba_image() -> np.ndarray:
    """The same RGBA test image on every call."""
    colour = np.random.default_rng(3).integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
    data = np.concatenate([colour, np.zeros((6, 9, 1), np.uint8)], axis=2)
    data[:3, :, 3] = 255  # top half opaque, bottom half fully transparent
    data[3:, :, :3] = 0  # black under the transparent part
    return data


def test_alpha_split_and_reattached_in_png(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(rgba_image()).save(src)
    frame = read_image(src)
    assert frame.channels == 3 and frame.alpha is not None
    np.testing.assert_array_equal(frame.alpha[:3], 1.0)
    np.testing.assert_array_equal(frame.alpha[3:], 0.0)
    out = tmp_path / "b.png"
    write_image(frame, out, SaveOptions(format="png"))
    with Image.open(out) as image:
        assert image.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(image), rgba_image())


def test_jpeg_output_puts_transparency_on_white(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(rgba_image()).save(src)
    out = tmp_path / "a.jpg"
    write_image(read_image(src), out, SaveOptions(format="jpeg", quality=95))
    with Image.open(out) as image:
        assert image.mode == "RGB"
        pixels = np.asarray(image).astype(int)
    assert pixels[4:, 1:-1].min() >= 245  # black under alpha 0 became white


def test_webp_keeps_alpha(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(rgba_image()).save(src)
    out = tmp_path / "a.webp"
    write_image(read_image(src), out, SaveOptions(format="webp"))
    with Image.open(out) as image:
        assert image.mode == "RGBA"
        alpha = np.asarray(image)[..., 3]
    np.testing.assert_array_equal(alpha[:3], 255)
    np.testing.assert_array_equal(alpha[3:], 0)


# --- 16 bits ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16bit_gray_round_trip_is_lossless(tmp_path: Path, fmt: str) -> None:
    values = RNG.integers(0, 65536, size=(5, 7), dtype=np.uint16)
    src = tmp_path / f"g.{fmt}"
    Image.fromarray(values).save(src)
    frame = read_image(src)
    assert frame.bit_depth == 16 and frame.channels == 1
    np.testing.assert_array_equal(np.rint(frame.pixels[..., 0] * 65535), values)
    out = tmp_path / f"out.{fmt}"
    write_image(frame, out, SaveOptions(format=fmt))
    with Image.open(out) as image:
        assert image.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(image), values)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_read_exactly(tmp_path: Path, channels: int) -> None:
    samples = RNG.integers(0, 65536, size=(5, 7, channels), dtype=np.uint16)
    src = tmp_path / "deep.png"
    src.write_bytes(png16_bytes(samples))
    frame = read_image(src)
    assert frame.bit_depth == 16
    colour = 1 if channels == 2 else 3
    np.testing.assert_array_equal(np.rint(frame.pixels * 65535), samples[..., :colour])
    if channels in (2, 4):
        assert frame.alpha is not None
        np.testing.assert_array_equal(np.rint(frame.alpha * 65535), samples[..., -1])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_written_exactly(tmp_path: Path, channels: int) -> None:
    samples = RNG.integers(0, 65536, size=(6, 5, channels), dtype=np.uint16)
    samples[3] = samples[2]  # repeated rows make the encoder pick other filters
    samples[:, 2] = samples[:, 1]
    colour = 1 if channels == 2 else min(channels, 3)
    frame = Frame(
        samples[..., :colour].astype(np.float32) / 65535,
        alpha=samples[..., -1].astype(np.float32) / 65535 if channels in (2, 4) else None,
        bit_depth=16,
        metadata=ImageMetadata(dpi=(300.0, 300.0), exif=exif_bytes(1)),
    )
    data = encode_image(frame, SaveOptions(format="png", compression=9))
    decoded, chunks = decode_png16(data)
    np.testing.assert_array_equal(decoded, samples)
    if channels != 1:  # written by our encoder; gray goes through Pillow
        assert b"pHYs" in chunks and b"eXIf" in chunks


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_tiff_round_trip(tmp_path: Path, channels: int) -> None:
    samples = RNG.integers(0, 65536, size=(5, 6, channels), dtype=np.uint16)
    src = tmp_path / "deep.png"
    src.write_bytes(png16_bytes(samples))
    out = tmp_path / "deep.tif"
    write_image(read_image(src), out, SaveOptions(format="tiff"))
    with Image.open(out) as image:
        assert image.mode == ("RGB" if channels == 3 else "RGBA")  # Pillow reads it (8-bit)
    again = read_image(out)
    assert again.bit_depth == 16
    colour = samples[..., :1].repeat(3, axis=2) if channels == 2 else samples[..., :3]
    np.testing.assert_array_equal(np.rint(again.pixels * 65535), colour)
    if channels != 3:
        assert again.alpha is not None
        np.testing.assert_array_equal(np.rint(again.alpha * 65535), samples[..., -1])


def test_16bit_frame_to_jpeg_is_8bit(tmp_path: Path) -> None:
    frame = Frame(np.full((4, 4, 3), 0.5, np.float32), bit_depth=16)
    with Image.open(io.BytesIO(encode_image(frame, SaveOptions(format="jpeg")))) as image:
        assert image.mode == "RGB"


# --- modes --------------------------------------------------------------------------------


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 3))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    src = tmp_path / "p.png"
    image.save(src, transparency=0)
    frame = read_image(src)
    assert frame.channels == 3 and frame.alpha is not None
    assert frame.alpha[0, 0] == 1.0 and frame.alpha[1, 1] == 0.0
    np.testing.assert_allclose(frame.pixels[0, 0], [0, 1, 0])


@pytest.mark.parametrize(
    ("mode", "fmt", "channels", "depth", "has_alpha"),
    [
        ("1", "png", 1, 8, False),
        ("L", "png", 1, 8, False),
        ("LA", "png", 1, 8, True),
        ("RGBA", "png", 3, 8, True),
        ("CMYK", "jpeg", 3, 8, False),
        ("I", "tiff", 1, 16, False),
        ("F", "tiff", 1, 16, False),
        ("P", "gif", 3, 8, False),
    ],
)
def test_modes_are_read(
    tmp_path: Path, mode: str, fmt: str, channels: int, depth: int, has_alpha: bool
) -> None:
    src = tmp_path / f"m.{fmt}"
    Image.fromarray(rgb8()).convert(mode).save(src)
    frame = read_image(src)
    assert (frame.channels, frame.bit_depth, frame.alpha is not None) == (
        channels,
        depth,
        has_alpha,
    )
    assert frame.pixels.min() >= 0.0 and frame.pixels.max() <= 1.0


def test_cmyk_converted_to_rgb_roughly(tmp_path: Path) -> None:
    src = tmp_path / "c.jpg"
    Image.new("RGB", (8, 8), (200, 30, 30)).convert("CMYK").save(src, quality=100)
    frame = read_image(src)
    assert frame.pixels[4, 4, 0] > 0.6 and frame.pixels[4, 4, 1] < 0.3


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=50)
    frame = read_image(src)
    np.testing.assert_allclose(frame.pixels[0, 0], [1, 0, 0], atol=0.02)


# --- bad files ----------------------------------------------------------------------------


def test_bad_files_raise_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("not an image\n")
    good = io.BytesIO()
    Image.fromarray(rgb8(64, 64)).save(good, format="PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    cases = {
        empty: "empty file",
        text: "not an image",
        truncated: "truncated",
        tmp_path / "missing.png": "No such file",
    }
    for path, expected in cases.items():
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        assert expected in str(info.value)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pixel_limit(tmp_path: Path) -> None:
    src = tmp_path / "big.png"
    Image.fromarray(rgb8(100, 120)).save(src)
    with pytest.raises(ImageReadError) as info:
        read_image(src, max_pixels=5000)
    assert "120x100" in str(info.value) and "--max-pixels" in str(info.value)
    assert read_image(src, max_pixels=0).size == (120, 100)
    with pixel_limit(0):
        assert Image.MAX_IMAGE_PIXELS is None
        with pixel_limit(5000):
            assert Image.MAX_IMAGE_PIXELS == 5000
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS


def test_pixel_limit_zero_lifts_pillows_own_guard(tmp_path: Path) -> None:
    src = tmp_path / "big.png"
    Image.fromarray(rgb8(100, 120)).save(src)
    with pixel_limit(100), pytest.raises(ImageReadError, match="--max-pixels"):
        read_image(src, max_pixels=None)  # Pillow's guard still answers
    with pixel_limit(0):
        assert read_image(src, max_pixels=0).size == (120, 100)


# --- formats ------------------------------------------------------------------------------


def test_normalize_format() -> None:
    assert [normalize_format(n) for n in ("JPG", ".tif", "webp", "PNG")] == [
        "jpeg",
        "tiff",
        "webp",
        "png",
    ]
    with pytest.raises(UsageError, match="bmp"):
        normalize_format("bmp")
