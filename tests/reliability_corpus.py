"""A generated corpus of bad and unusual image files, and what a batch must do with each.

Shared by ``tests/test_reliability.py`` and ``benchmarks/reliability.py``. Everything is
built from a seeded generator, so a corpus (and the batch's outcome on it) is the same
on every run. Each :class:`Entry` says what a correct batch must do with the file:

* ``ok``: a readable image; it must give an output of ``size`` (width, height, after
  the EXIF orientation) that reopens;
* ``fail``: unreadable (empty, text, a decompression bomb); it must be listed as failed
  with a one-line reason;
* ``any``: damaged data (truncated, bit-flipped) that a decoder may or may not accept;
  either outcome is correct, as long as an output reopens or a reason is given.

Filters used on it must keep the image size (``autocontrast``, ``style`` do).
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylepipe.imaging.highdepth import encode_png16, encode_tiff16

Size = tuple[int, int]
SIZES: tuple[Size, ...] = ((1, 1), (1, 23), (23, 1), (17, 9), (64, 48))
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
SAVE_FORMATS = {  # Pillow format -> suffix and the modes it stores as they are
    "PNG": (".png", ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")),  # Pillow cannot write I, F
    "TIFF": (".tif", MODES),
    "JPEG": (".jpg", ("L", "RGB", "CMYK")),
    "WEBP": (".webp", ("RGB", "RGBA")),
    "GIF": (".gif", ("1", "L", "P")),
    "BMP": (".bmp", ("1", "L", "P", "RGB")),
    "PPM": (".ppm", ("L", "RGB")),
    "TGA": (".tga", ("L", "RGB", "RGBA")),
}
BOMB_SIDE = 100_000


@dataclass(frozen=True)
class Entry:
    """One corpus file: ``path`` relative to the corpus root, its ``kind`` (category),
    what a batch must do with it (``ok``, ``fail`` or ``any``) and the output ``size``
    expected when ``ok``."""

    path: Path
    kind: str
    expect: str
    size: Size | None = None


@dataclass
class Corpus:
    """The files written under ``root`` (regular files with image suffixes: each is one
    batch input) plus what a folder walk leaves out or follows."""

    root: Path
    entries: list[Entry] = field(default_factory=list)
    hidden: int = 0
    links: int = 0

    def add(self, rel: str, data: bytes, kind: str, expect: str, size: Size | None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.entries.append(Entry(Path(rel), kind, expect, size))

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return counts


# --- images ----------------------------------------------------------------------------


def pattern(width: int, height: int, seed: int) -> np.ndarray:
    """An asymmetric uint8 RGB picture (gradients plus noise): orientation mistakes show."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    red = 255 * xs / max(width - 1, 1)
    green = 255 * ys / max(height - 1, 1)
    blue = 128 + 100 * np.sin(xs * 0.7 + ys * 0.3)
    noise = rng.normal(0, 12, (height, width, 3))
    return np.clip(np.stack([red, green, blue], axis=2) + noise, 0, 255).astype(np.uint8)


def mode_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    """A picture in Pillow ``mode``; ``P`` has a transparent palette index, ``I`` and
    ``F`` go outside 0..65535 and 0..1 to exercise the clipping."""
    rgb = Image.fromarray(pattern(width, height, seed))
    gray = np.asarray(rgb.convert("L"), dtype=np.float64)
    if mode in ("1", "L", "RGB", "CMYK"):
        return rgb.convert(mode)
    if mode in ("LA", "RGBA"):
        image = rgb.convert(mode)
        ramp = np.linspace(0, 255, width * height).reshape(height, width).astype(np.uint8)
        image.putalpha(Image.fromarray(ramp))
        return image
    if mode == "P":
        image = rgb.quantize(colors=16)
        image.info["transparency"] = 0
        return image
    if mode == "I;16":
        return Image.fromarray((gray * 257).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((gray * 300 - 4000).astype(np.int32))
    return Image.fromarray((gray / 200 - 0.1).astype(np.float32))  # F


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    if image.mode == "P" and "transparency" in image.info and fmt != "JPEG":
        options.setdefault("transparency", image.info["transparency"])
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "stylepipe corpus"
    return exif.tobytes()


# --- categories ------------------------------------------------------------------------


def _modes(corpus: Corpus, rng: np.random.Generator) -> None:
    for fmt, (suffix, modes) in SAVE_FORMATS.items():
        for mode in modes:
            for w, h in SIZES:
                image = mode_image(mode, w, h, int(rng.integers(1 << 30)))
                safe = mode.replace(";", "_")
                rel = f"modes/{fmt.lower()}-{safe}-{w}x{h}{suffix}"
                corpus.add(rel, encode(image, fmt), "mode", "ok", (w, h))
    for w, h in ((1, 2048), (2048, 1)):
        data = encode(Image.fromarray(pattern(w, h, 3)), "PNG")
        corpus.add(f"modes/strip-{w}x{h}.png", data, "mode", "ok", (w, h))


def _deep(corpus: Corpus, rng: np.random.Generator) -> None:
    """16-bit PNG (gray, gray+alpha, RGB, RGBA) and TIFF (gray, RGB, RGBA)."""
    for w, h in ((1, 1), (7, 3), (33, 20)):
        for channels in (1, 2, 3, 4):
            samples = rng.integers(0, 65536, (h, w, channels), dtype=np.uint16)
            rel = f"deep/png16-{channels}ch-{w}x{h}.png"
            corpus.add(rel, encode_png16(samples), "16-bit", "ok", (w, h))
            if channels != 2:  # Pillow reads no 16-bit gray+alpha TIFF
                rel = f"deep/tif16-{channels}ch-{w}x{h}.tif"
                corpus.add(rel, encode_tiff16(samples), "16-bit", "ok", (w, h))


def _animated(corpus: Corpus, rng: np.random.Generator) -> None:
    for w, h in ((1, 1), (16, 9), (40, 24)):
        frames = [Image.fromarray(pattern(w, h, int(rng.integers(1 << 30)))) for _ in range(3)]
        for fmt, suffix in (("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png")):
            data = encode(
                frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, loop=0
            )
            corpus.add(f"animated/anim-{w}x{h}{suffix}", data, "animated", "ok", (w, h))


def _orientations(corpus: Corpus, rng: np.random.Generator) -> None:
    w, h = 20, 12
    for orientation in range(1, 9):
        image = Image.fromarray(pattern(w, h, orientation))
        size = (h, w) if orientation >= 5 else (w, h)
        for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif")):
            data = encode(image, fmt, exif=_exif(orientation))
            corpus.add(f"exif/orient{orientation}{suffix}", data, "exif orientation", "ok", size)


def _broken_exif_blocks(rng: np.random.Generator) -> dict[str, bytes]:
    good = _exif(6)
    body = good[6:] if good.startswith(b"Exif") else good
    huge_count = b"MM\x00\x2a\x00\x00\x00\x08" + b"\xff\xff" + bytes(12)
    return {
        "garbage": b"Exif\x00\x00" + rng.bytes(64),
        "truncated": b"Exif\x00\x00" + body[: len(body) // 2],
        "bad-offset": b"Exif\x00\x00MM\x00\x2a\x7f\xff\xff\xff",
        "empty": b"Exif\x00\x00",
        "huge-count": b"Exif\x00\x00" + huge_count,
        "orient0": _exif(0),
        "orient9": _exif(9),
        "orient65535": _exif(65535),
    }


def _broken_exif(corpus: Corpus, rng: np.random.Generator) -> None:
    image = Image.fromarray(pattern(18, 10, 8))
    for name, block in _broken_exif_blocks(rng).items():
        for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")):
            try:
                data = encode(image, fmt, exif=block)
            except Exception:  # Pillow refuses to write some blocks into some formats
                continue
            corpus.add(f"exif/broken-{name}{suffix}", data, "broken exif", "ok", (18, 10))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_with_size(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.fromarray(pattern(8, 8, 1)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _bombs(corpus: Corpus, rng: np.random.Generator) -> None:
    gif = bytearray(encode(Image.fromarray(pattern(8, 8, 2)).convert("P"), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)  # the logical screen
    tiff = bytearray(encode(Image.fromarray(pattern(8, 8, 2)).convert("L"), "TIFF"))
    for tag in (256, 257):  # ImageWidth, ImageLength as LONG values in the first IFD
        at = tiff.index(struct.pack("<H", tag))
        tiff[at + 2 : at + 12] = struct.pack("<HII", 4, 1, BOMB_SIDE)
    bombs = {
        "png-100000x100000.png": _png_header(BOMB_SIDE, BOMB_SIDE),
        "png-10000x10000.png": _png_header(10_000, 10_000),  # just over the default limit
        "jpeg-65000x65000.jpg": _jpeg_with_size(65_000, 65_000),
        "gif-65535x65535.gif": bytes(gif),
        "tiff-100000x100000.tif": bytes(tiff),
    }
    for name, data in bombs.items():
        corpus.add(f"bombs/{name}", data, "decompression bomb", "fail", None)


_TEXTS = {
    "plain": b"this is not an image\n",
    "html": b"<!doctype html><html><body>404 Not Found</body></html>\n",
    "json": b'{"error": "quota exceeded"}\n',
    "script": b"#!/bin/sh\nrm -rf /\n",
}


def _not_images(corpus: Corpus, rng: np.random.Generator) -> None:
    suffixes = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".gif", ".bmp")
    for suffix in suffixes:
        corpus.add(f"junk/empty{suffix}", b"", "zero bytes", "fail", None)
    for suffix in (".jpg", ".png", ".webp", ".tif", ".gif"):
        for name, text in _TEXTS.items():
            corpus.add(f"junk/{name}{suffix}", text, "text named as image", "fail", None)
        corpus.add(f"junk/noise{suffix}", rng.bytes(300), "random bytes", "fail", None)
    corpus.add("junk/png-signature-only.png", b"\x89PNG\r\n\x1a\n", "truncated", "fail", None)


def _wrong_extensions(corpus: Corpus, rng: np.random.Generator) -> None:
    swaps = (("PNG", ".jpg"), ("JPEG", ".png"), ("WEBP", ".tif"), ("TIFF", ".webp"))
    swaps += (("GIF", ".jpg"), ("BMP", ".png"), ("PNG", ".gif"), ("JPEG", ".tiff"))
    for fmt, suffix in swaps:
        for w, h in ((1, 1), (21, 13)):
            data = encode(Image.fromarray(pattern(w, h, 5)), fmt)
            rel = f"wrong-ext/{fmt.lower()}-as-{suffix[1:]}-{w}x{h}{suffix}"
            corpus.add(rel, data, "wrong extension", "ok", (w, h))


def damage_sources() -> dict[str, bytes]:
    """Valid files of each format that the damaged variants start from."""
    rgb = Image.fromarray(pattern(40, 30, 11))
    deep = np.random.default_rng(4).integers(0, 65536, (30, 40, 3), dtype=np.uint16)
    frames = [rgb, rgb.rotate(90), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return {
        "png.png": encode(rgb, "PNG"),
        "png16.png": encode_png16(deep),
        "baseline.jpg": encode(rgb, "JPEG", quality=90),
        "progressive.jpg": encode(rgb, "JPEG", progressive=True),
        "lossy.webp": encode(rgb, "WEBP", quality=80),
        "lossless.webp": encode(rgb.convert("RGBA"), "WEBP", lossless=True),
        "deflate.tif": encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "raw.tif": encode(rgb, "TIFF"),
        "anim.gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "plain.bmp": encode(rgb, "BMP"),
    }


def photo_damage_sources() -> dict[str, bytes]:
    """Valid HEIC, AVIF and DNG files to damage, for the codecs installed here."""
    from stylepipe.imaging import formats

    rgb = Image.fromarray(pattern(40, 30, 12))
    sources: dict[str, bytes] = {}
    if formats.register_heif():
        sources["photo.heic"] = encode(rgb, "HEIF", quality=80)
    if formats.avif_supported():
        sources["photo.avif"] = encode(rgb, "AVIF", quality=80)
    if importlib.util.find_spec("rawpy") and importlib.util.find_spec("pidng"):
        from photo_samples import save_dng

        with tempfile.TemporaryDirectory() as folder:
            sources["camera.dng"] = save_dng(Path(folder) / "c.dng", 30, 40).read_bytes()
    return sources


def add_damaged(
    corpus: Corpus, rng: np.random.Generator, flips: int, sources: dict[str, bytes]
) -> None:
    """Truncated and bit-flipped variants of each source (40x30 pictures)."""
    cuts = (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98)
    for name, data in sources.items():
        stem, suffix = os.path.splitext(name)
        for cut in cuts:
            rel = f"damaged/{stem}-cut{int(cut * 100):02d}{suffix}"
            corpus.add(rel, data[: max(1, int(len(data) * cut))], "truncated", "any", (40, 30))
        corpus.add(f"damaged/{stem}-cut-last{suffix}", data[:-1], "truncated", "any", (40, 30))
        for number in range(flips):
            damaged = bytearray(data)
            for _ in range(1 + number % 8):
                at = int(rng.integers(len(damaged)))
                damaged[at] ^= 1 << int(rng.integers(8))
            rel = f"damaged/{stem}-flip{number:03d}{suffix}"
            corpus.add(rel, bytes(damaged), "bit-flipped", "any", (40, 30))


UNICODE_NAMES = (
    "café crème.png",
    "日本語の写真.jpg",
    "emoji 🎨 art.webp",
    "  leading spaces.png",
    "trailing space .png",
    "many   spaces   here.tif",
    'quote\'s "double".png',
    "semi;colon&amp$dollar.png",
    "new\nline.png",
    "tab\tname.png",
    "-starts-with-dash.png",
    "braces {stem} {ext} %s.png",
    "back\\slash.png",
    "RTL עברית.png",
    "combining e\u0301 vs \u00e9.png",
    "x" * 245 + ".png",  # the longest name a file system takes, less the suffix room
)


def _names(corpus: Corpus, rng: np.random.Generator) -> None:
    image = Image.fromarray(pattern(12, 8, 9))
    formats = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP", ".tif": "TIFF"}
    for name in UNICODE_NAMES:
        data = encode(image, formats[os.path.splitext(name)[1]])
        corpus.add(f"names/{name}", data, "unicode/space name", "ok", (12, 8))
    if os.name == "posix" and not _is_macos():  # a name that is not UTF-8 at all
        raw = os.fsdecode(b"latin1-caf\xe9.png")
        corpus.add(f"names/{raw}", encode(image, "PNG"), "unicode/space name", "ok", (12, 8))


def _is_macos() -> bool:
    return os.uname().sysname == "Darwin"


def _clashes(corpus: Corpus, rng: np.random.Generator) -> None:
    """``a.png``, ``a.gif`` and ``a.bmp`` all become ``a.png`` (GIF and BMP are written
    as PNG); ``b.png`` and ``b.jpg`` both become ``b.webp`` with ``--format webp``."""
    for stem, suffixes in (("a", (".png", ".gif", ".bmp")), ("b", (".png", ".jpg"))):
        for number, suffix in enumerate(suffixes):
            fmt = {".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".jpg": "JPEG"}[suffix]
            image = Image.fromarray(pattern(10 + number, 6, number))
            corpus.add(
                f"clash/{stem}{suffix}", encode(image, fmt), "name clash", "ok", (10 + number, 6)
            )


def _links_and_hidden(corpus: Corpus) -> None:
    """Symlink loops for ``--recursive`` (a folder link to its parent, to itself, to the
    root), a link to a file already in the corpus and a dangling link: none of them adds
    an input. Hidden files are left out and counted."""
    tree = corpus.root / "links"
    (tree / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
    image = encode(Image.fromarray(pattern(9, 5, 2)), "PNG")
    corpus.add("links/sub/deeper/real.png", image, "symlink tree", "ok", (9, 5))
    if hasattr(os, "symlink"):
        for link, target in (
            (tree / "sub" / "loop", ".."),
            (tree / "self", "."),
            (tree / "sub" / "deeper" / "to-root", "../../.."),
            (tree / "same.png", "sub/deeper/real.png"),
            (tree / "dangling.png", "does-not-exist.png"),
        ):
            os.symlink(target, link)
            corpus.links += 1
    for name in (".hidden.png", ".DS_Store"):
        (corpus.root / "junk" / name).write_bytes(image)
        corpus.hidden += 1


def build_corpus(root: Path, *, seed: int = 0, flips: int = 16) -> Corpus:
    """Write the corpus under ``root`` (created) and describe it. ``flips``: bit-flipped
    variants per damaged source (10 sources, plus HEIC, AVIF and DNG where their codecs
    are installed); the default gives about 560 files (630 with those)."""
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    rng = np.random.default_rng(seed)
    steps: list[Callable[[Corpus, np.random.Generator], None]] = [
        _modes,
        _deep,
        _animated,
        _orientations,
        _broken_exif,
        _bombs,
        _not_images,
        _wrong_extensions,
        _names,
        _clashes,
    ]
    for step in steps:
        step(corpus, rng)
    add_damaged(corpus, rng, flips, damage_sources() | photo_damage_sources())
    _links_and_hidden(corpus)
    return corpus
