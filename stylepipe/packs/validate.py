"""Checks of a ``.stylepack`` archive, made before anything of it is installed.

An archive is hostile until these have passed, in this order: member names against
zip-slip (absolute paths, ``..``, backslashes, symlinks, folders) and an allow-list
(:data:`stylepipe.packs.format.ALLOWED_FILES`); declared sizes, count and compression
ratio against zip bombs (:class:`ArchiveLimits`); the manifest schema and version, and
its file list against the members. :func:`copy_member` then copies a member counting
bytes, so that one inflating past its declared size is stopped, and hashes it.

Exporting and installing archives is :mod:`stylepipe.packs.archive`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stylepipe.errors import InvalidPackError, StylepackError, UsageError
from stylepipe.packs.format import ALLOWED_FILES, MANIFEST, WEIGHTS, validate_manifest

_CHUNK = 1 << 20
_MiB = 1 << 20
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


@dataclass(frozen=True)
class ArchiveLimits:
    """Size limits for members of a ``.stylepack``. Declared sizes are checked before
    anything is extracted, and the bytes are counted again while extracting. A member
    over ``ratio_floor`` bytes may not inflate more than ``max_ratio`` times (deflate of
    real weights or JPEGs stays far below; a zip bomb does not)."""

    max_members: int = 16
    max_manifest: int = 1 * _MiB
    max_weights: int = 512 * _MiB
    max_other: int = 16 * _MiB
    max_total: int = 600 * _MiB
    max_ratio: float = 100.0
    ratio_floor: int = 1 * _MiB
    max_picture_pixels: int = 4096 * 4096

    def member_limit(self, name: str) -> int:
        if name == MANIFEST:
            return self.max_manifest
        return self.max_weights if name == WEIGHTS else self.max_other


DEFAULT_LIMITS = ArchiveLimits()


def read_stylepack_manifest(
    archive_path: Path, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """The validated manifest of a ``.stylepack`` (member checks included), without
    extracting anything. Raises :class:`InvalidPackError`."""
    archive_path = Path(archive_path)
    try:
        with open_archive(archive_path) as archive:
            infos = check_members(archive, limits)
            return read_manifest(archive, infos, limits)
    except InvalidPackError:
        raise
    except StylepackError as exc:
        raise InvalidPackError(f"{archive_path}: {exc.message}", hint=exc.hint) from exc


def open_archive(path: Path) -> zipfile.ZipFile:
    """``path`` opened as a zip: :class:`UsageError` when there is no such file,
    :class:`StylepackError` when it is not a readable zip."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise StylepackError(
            f"not a readable zip archive ({exc})",
            hint="the file may be truncated or corrupt; export or download it again",
        ) from exc


def check_members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> dict[str, zipfile.ZipInfo]:
    """Every member name, kind and declared size is acceptable; returns them by name."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise StylepackError(f"{len(infos)} members; a pack has at most {limits.max_members}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        _check_member(info, limits)
        if info.filename in members:
            raise StylepackError(f"member {info.filename!r} appears twice")
        members[info.filename] = info
    total = sum(info.file_size for info in infos)
    if total > limits.max_total:
        raise StylepackError(
            f"members add up to {total} bytes, over the {limits.max_total}-byte limit"
        )
    for required in (MANIFEST, WEIGHTS):
        if required not in members:
            raise StylepackError(f"no {required} in the archive")
    return members


def _check_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name = info.filename
    escape = _escape_reason(info)
    if escape:
        raise StylepackError(
            f"unsafe member name {info.orig_filename!r}: {escape}",
            hint="a pack's members are plain file names; this archive tries to write "
            "outside its folder (zip-slip) and was not opened further",
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise StylepackError(f"member {name!r} is a symbolic link")
    if info.is_dir() or "/" in name:
        raise StylepackError(f"member {name!r} is in a folder; pack members are flat")
    if name not in ALLOWED_FILES:
        raise StylepackError(
            f"unexpected member {name!r}", hint="allowed: " + ", ".join(sorted(ALLOWED_FILES))
        )
    if info.flag_bits & 0x1:
        raise StylepackError(f"member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise StylepackError(f"member {name!r} uses unsupported compression {info.compress_type}")
    limit = limits.member_limit(name)
    if info.file_size > limit:
        raise StylepackError(f"{name} is {info.file_size} bytes, over the {limit}-byte limit")
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        raise StylepackError(
            f"{name} would inflate {info.file_size / max(info.compress_size, 1):.0f} times "
            f"(limit {limits.max_ratio:.0f}): refusing a likely zip bomb"
        )


def _escape_reason(info: zipfile.ZipInfo) -> str | None:
    raw = info.orig_filename
    if "\0" in raw:
        return "it contains a NUL byte"
    if "\\" in raw:
        return "it contains a backslash"
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        return "it is an absolute path"
    if ".." in raw.split("/"):
        return "it contains '..'"
    return None


def read_manifest(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], limits: ArchiveLimits
) -> dict[str, Any]:
    """The manifest member, read within its size limit and validated; the files it lists
    must be exactly the other members."""
    sink = io.BytesIO()  # bounded: copy_member stops at the manifest size limit
    copy_member(archive, infos[MANIFEST], sink, limits)
    try:
        data = json.loads(sink.getvalue().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise StylepackError(f"{MANIFEST} is not valid UTF-8 JSON: {exc}") from None
    manifest = validate_manifest(data, where=MANIFEST)
    listed, present = set(manifest["files"]), set(infos) - {MANIFEST}
    if listed - present:
        raise StylepackError(f"{', '.join(sorted(listed - present))} listed but not in the archive")
    if present - listed:
        raise StylepackError(
            f"{', '.join(sorted(present - listed))} in the archive but not in the manifest "
            "(no checksum)"
        )
    return manifest


def copy_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: IO[bytes], limits: ArchiveLimits
) -> str:
    """Copy one member, counting bytes against its declared size and limit (so a lying
    header cannot inflate past them); returns the sha256 of what was copied."""
    digest, count = hashlib.sha256(), 0
    limit = min(info.file_size, limits.member_limit(info.filename))
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                count += len(chunk)
                if count > limit:
                    raise StylepackError(
                        f"{info.filename} inflates past its declared size: refusing a zip bomb"
                    )
                digest.update(chunk)
                sink.write(chunk)
    except _READ_ERRORS as exc:
        raise StylepackError(f"cannot extract {info.filename}: {exc}") from exc
    if count != info.file_size:
        raise StylepackError(f"{info.filename} is shorter than its declared size (truncated)")
    return digest.hexdigest()


__all__ = [
    "DEFAULT_LIMITS",
    "ArchiveLimits",
    "check_members",
    "copy_member",
    "open_archive",
    "read_manifest",
    "read_stylepack_manifest",
]
