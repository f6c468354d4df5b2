"""The image formats and file suffixes stylepipe knows: the one table of output formats,
the suffixes read as images, and which optional codec each needs.

* **Written and read**: PNG, JPEG, WebP, TIFF, AVIF (Pillow's own codec, when Pillow was
  built with libavif) and HEIF/HEIC (``pillow-heif``, the ``heif`` extra).
* **Read only**: BMP, GIF, PNM, TGA, PCX, QOI, and camera RAW (``.dng .cr2 .nef .arw``
  and others, through ``rawpy``/LibRaw, the ``raw`` extra). Asking to write a RAW format
  is a usage error that says so.

A file whose codec is missing is skipped when collecting inputs, with a warning naming
the package to install (:func:`missing_codec`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from stylepipe.errors import UsageError

FORMATS: dict[str, str] = {
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "tiff": "TIFF",
    "avif": "AVIF",
    "heif": "HEIF",
}
"""Output formats: our name -> Pillow's name."""

CANONICAL_EXTENSIONS: dict[str, str] = {
    "png": ".png",
    "jpeg": ".jpg",
    "webp": ".webp",
    "tiff": ".tif",
    "avif": ".avif",
    "heif": ".heic",
}
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff", "heic": "heif"}
_EXTENSION_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".jfif": "jpeg",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".avif": "avif",
    ".heic": "heif",
    ".heif": "heif",
    ".hif": "heif",
}
_OTHER_INPUTS = {".bmp", ".dib", ".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".pcx", ".qoi"}
RAW_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf",
        ".orf", ".rw2", ".pef", ".srw", ".3fr", ".erf", ".kdc", ".mos", ".mrw", ".x3f",
        ".iiq", ".rwl",
    }
)  # fmt: skip
"""Camera RAW suffixes, read through rawpy (LibRaw)."""

INPUT_EXTENSIONS: frozenset[str] = (
    frozenset(_EXTENSION_FORMATS) | frozenset(_OTHER_INPUTS) | RAW_EXTENSIONS
)
"""Lower-case suffixes treated as images when collecting inputs."""

RAW_DEFAULT_FORMAT = "tiff"
"""The output format of a RAW input when none is asked: 16-bit TIFF."""


def normalize_format(name: str) -> str:
    """An output format name (``png``, ``jpeg``, ``webp``, ``tiff``, ``avif``, ``heif``)
    from a user's spelling (``JPG``, ``.tif``, ``HEIC``)."""
    key = name.strip().lower().lstrip(".")
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        if f".{key}" in RAW_EXTENSIONS:
            raise UsageError(
                f"cannot write camera RAW ({name}): stylepipe reads RAW files but does not "
                "write them",
                hint="write a 16-bit TIFF or PNG (--format tiff), the default for RAW inputs",
            )
        raise UsageError(f"unknown output format {name!r}", hint=f"use {', '.join(FORMATS)}")
    return key


def format_for_suffix(suffix: str) -> str | None:
    """The output format a file suffix names, or None (``.jpeg`` -> ``jpeg``)."""
    return _EXTENSION_FORMATS.get(suffix.lower())


def is_image_name(path: Path) -> bool:
    """Whether a file name has an image suffix we read."""
    return path.suffix.lower() in INPUT_EXTENSIONS


def is_raw_name(path: Path) -> bool:
    """Whether a file name has a camera RAW suffix."""
    return path.suffix.lower() in RAW_EXTENSIONS


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install
        return False


def missing_codec(suffix: str) -> str | None:
    """Why files with this suffix cannot be read here (a codec is not installed), with
    the command that fixes it; None when they can be read."""
    suffix = suffix.lower()
    fmt = _EXTENSION_FORMATS.get(suffix)
    if fmt == "heif" and not _have("pillow_heif"):
        return f"{suffix} (HEIC/HEIF) needs pillow-heif: pip install 'stylepipe[heif]'"
    if fmt == "avif" and not avif_supported():
        return f"{suffix} needs a Pillow built with AVIF: pip install -U 'pillow>=11.3'"
    if suffix in RAW_EXTENSIONS and not _have("rawpy"):
        return f"{suffix} (camera RAW) needs rawpy: pip install 'stylepipe[raw]'"
    return None


def avif_supported() -> bool:
    """Whether this Pillow reads and writes AVIF."""
    from PIL import features

    try:
        return bool(features.check("avif"))
    except ValueError:  # a Pillow too old to know the feature
        return False


def write_problem(fmt: str) -> str | None:
    """Why the output format ``fmt`` cannot be written here, with the fix; None if it can."""
    if fmt == "heif" and not _have("pillow_heif"):
        return "writing HEIC needs pillow-heif: pip install 'stylepipe[heif]'"
    if fmt == "avif" and not avif_supported():
        return "writing AVIF needs a Pillow built with AVIF: pip install -U 'pillow>=11.3'"
    return None


def register_heif() -> bool:
    """Register pillow-heif's HEIF opener and saver with Pillow (once); False when
    pillow-heif is not installed."""
    global _heif_registered
    if not _heif_registered:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            return False
        register_heif_opener()
        _heif_registered = True
    return True


_heif_registered = False


__all__ = [
    "CANONICAL_EXTENSIONS",
    "FORMATS",
    "FORMAT_ALIASES",
    "INPUT_EXTENSIONS",
    "RAW_DEFAULT_FORMAT",
    "RAW_EXTENSIONS",
    "avif_supported",
    "format_for_suffix",
    "is_image_name",
    "is_raw_name",
    "missing_codec",
    "normalize_format",
    "register_heif",
    "write_problem",
]
