"""What a file is, from its first bytes: to say "this is a JPEG image, not a
checkpoint" instead of passing on a loader's baffling error.

:func:`describe_non_checkpoint` names files that cannot be weights (pictures, archives,
documents, text); it returns ``None`` for anything that may be one (a pickle, a torch
zip, a safetensors file, or something it does not know), which the loader then tries.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

_HEAD = 512
# (magic bytes at offset 0, what the file is)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras or other non-PyTorch weights)"),
)


def describe_non_checkpoint(path: Path) -> str | None:
    """``"a JPEG image"`` and the like when ``path`` is certainly no checkpoint, else
    ``None`` (unreadable files too: the loader reports those)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    if not head:
        return "an empty file"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIF/AVIF image"
    if head.startswith(b"PK\x03\x04"):
        return _describe_zip(path)
    return _describe_text(head)


def _describe_zip(path: Path) -> str | None:
    """A torch checkpoint is a zip holding ``*/data.pkl``; other zips are not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(name.endswith("data.pkl") for name in names):
        return None
    if "manifest.json" in names:
        return "a .stylepack archive"
    return "a zip archive"


def _describe_text(head: bytes) -> str | None:
    """Text (JSON, YAML, a README) is no checkpoint; safetensors starts with a binary
    header length, pickles with an opcode byte."""
    if b"\x00" in head or head[:1] in (b"\x80",):
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "a JSON or text file"
    if stripped.startswith(("<!DOCTYPE", "<html", "<HTML", "<?xml")):
        return "an HTML or XML page (a download that returned a web page?)"
    return "a text file"
