"""Single-file ``.stylepack`` archives: export a pack folder, install one safely.

A ``.stylepack`` is a zip whose members are the pack's files, flat, with no folders:
``manifest.json``, ``weights.safetensors`` and optional pictures/licence (see
:data:`stylepipe.stylepacks.ALLOWED_FILES`). The manifest holds the sha256 of every
other member. Archives are written deterministically (sorted members, fixed
timestamps), so exporting one pack twice gives identical bytes.

Installing treats the archive as hostile until every check has passed, in this order:
member names against zip-slip (absolute paths, ``..``, backslashes, symlinks, folders)
and an allow-list; declared sizes, count and compression ratio against zip bombs; the
manifest schema and version; the architecture, kind, parameters and scale (the network
is built on the ``meta`` device); name clashes. Only then are members extracted, into a
temporary folder beside the target, counting bytes (a member that inflates past its
declared size is stopped) and hashing them; the weights are parsed as safetensors (never
unpickled) and must match the network's keys and shapes; pictures must decode. The
folder is renamed into place last, so a rejected pack leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import InvalidPackError, StylepackError, StylepipeError, UsageError
from .stylepacks import (
    ALLOWED_FILES,
    LOCAL_PLUGIN,
    MANIFEST,
    PICTURES,
    WEIGHTS,
    Pack,
    build_network,
    check_extra_files,
    check_weights,
    load_pack_weights,
    read_pack,
    replace_dir,
    shareable_files,
    validate_manifest,
)

if TYPE_CHECKING:
    from .plugins import Catalog

SUFFIX = ".stylepack"
COMMENT = b"stylepipe-pack"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: reproducible archives
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


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_stylepack` did: the installed pack, whether it replaced one
    of the same name, and other models (``source/name``) that share its short name."""

    pack: Pack
    replaced: bool
    shadows: tuple[str, ...] = ()


# --- export ------------------------------------------------------------------------------


def export_stylepack(
    pack: Pack, out: Path, *, overwrite: bool = False, limits: ArchiveLimits = DEFAULT_LIMITS
) -> Path:
    """Write ``pack`` to the single file ``out`` (written beside it, then renamed).
    Refuses packs that ``install`` would refuse: bad checksums, files outside the
    allow-list, members over the size limits."""
    files = shareable_files(pack)
    for fname in files:
        size = (pack.path / fname).stat().st_size
        if size > limits.member_limit(fname):
            raise StylepackError(f"{pack.path / fname} is too large to share ({size} bytes)")
    out = Path(out)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} already exists", hint="use --force to overwrite it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.comment = COMMENT
            for fname in [MANIFEST, *files]:
                _add_member(archive, fname, pack.path / fname)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a file to share is not
        os.replace(tmp_name, out)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out


def _add_member(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.create_system = 3  # unix, whatever the exporting OS: identical bytes everywhere
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    # Pictures are already compressed; deflating them again only costs time.
    info.compress_type = zipfile.ZIP_STORED if name in PICTURES else zipfile.ZIP_DEFLATED
    info.file_size = path.stat().st_size
    with open(path, "rb") as src, archive.open(info, "w") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


# --- inspection --------------------------------------------------------------------------


def read_stylepack_manifest(
    archive_path: Path, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """The validated manifest of a ``.stylepack`` (member checks included), without
    extracting anything. Raises :class:`InvalidPackError`."""
    archive_path = Path(archive_path)
    try:
        with _open_zip(archive_path) as archive:
            infos = check_members(archive, limits)
            return _read_manifest(archive, infos, limits)
    except InvalidPackError:
        raise
    except StylepackError as exc:
        raise InvalidPackError(f"{archive_path}: {exc.message}", hint=exc.hint) from exc


def _open_zip(path: Path) -> zipfile.ZipFile:
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


def _read_manifest(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], limits: ArchiveLimits
) -> dict[str, Any]:
    sink = io.BytesIO()  # bounded: _copy_member stops at the manifest size limit
    _copy_member(archive, infos[MANIFEST], sink, limits)
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


def _copy_member(
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


# --- install -----------------------------------------------------------------------------


def install_stylepack(
    archive_path: Path,
    root: Path,
    catalog: Catalog,
    *,
    force: bool = False,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> InstallResult:
    """Validate ``archive_path`` completely, then install it as ``root/<name>``.

    ``catalog`` supplies the architectures (to build and check the network) and the
    models (to detect name clashes). ``force`` replaces an installed pack of the same
    name and allows a short name that another plugin also uses. Raises
    :class:`InvalidPackError` (exit status 2) naming the archive and the reason; then
    nothing under ``root`` has changed.
    """
    archive_path, root = Path(archive_path), Path(root)
    missing = [p for p in (root, *root.parents) if not p.exists()]
    installed = False
    try:
        with _open_zip(archive_path) as archive:
            result = _install(archive, root, catalog, force, limits)
        installed = True
        return result
    except InvalidPackError:
        raise
    except StylepackError as exc:
        raise InvalidPackError(
            f"{archive_path}: {exc.message}; nothing was installed", hint=exc.hint
        ) from exc
    except OSError as exc:  # our side: the plugin dir is not writable, the disk is full
        raise StylepipeError(
            f"cannot install into {root}: {exc}; nothing was installed",
            hint="check that the folder is writable and the disk has room",
        ) from exc
    finally:
        if not installed:
            _remove_empty(missing)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders an attempt created (deepest first) if they stayed empty."""
    for folder in created:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _install(
    archive: zipfile.ZipFile, root: Path, catalog: Catalog, force: bool, limits: ArchiveLimits
) -> InstallResult:
    infos = check_members(archive, limits)
    manifest = _read_manifest(archive, infos, limits)
    name = str(manifest["name"])
    dest = root / name
    shadows = _check_clash(name, dest, catalog, force)
    net = build_network(manifest, catalog.architectures)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.install-", dir=root))
    try:
        for fname, info in infos.items():
            with open(staging / fname, "xb") as sink:
                digest = _copy_member(archive, info, sink, limits)
            if fname != MANIFEST and digest != manifest["files"][fname]:
                raise StylepackError(
                    f"checksum of {fname} does not match the manifest",
                    hint="the pack is corrupt or was modified after export",
                )
        check_weights(net, load_pack_weights(staging / WEIGHTS))
        check_extra_files(staging, list(manifest["files"]), max_pixels=limits.max_picture_pixels)
        read_pack(staging)  # the folder as stylepipe_local will see it
        replaced = dest.exists() or dest.is_symlink()
        _move_into_place(staging, dest, replaced)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return InstallResult(read_pack(dest), replaced, shadows)


def _move_into_place(staging: Path, dest: Path, replace: bool) -> None:
    if replace:
        replace_dir(staging, dest)
        return
    try:
        os.rename(staging, dest)
    except OSError as exc:  # another install created it since the clash check
        raise StylepackError(
            f"cannot move the pack into {dest}: {exc.strerror or exc}",
            hint="another install may have just created it; retry, with --force to replace it",
        ) from exc


def _check_clash(name: str, dest: Path, catalog: Catalog, force: bool) -> tuple[str, ...]:
    others = tuple(
        entry.qualified_name
        for entry in catalog.models
        if entry.name == name and entry.source != LOCAL_PLUGIN
    )
    if force:
        return others
    if dest.exists() or dest.is_symlink():
        raise StylepackError(
            f"a model named {name!r} is already installed at {dest}",
            hint="add --force to replace it, or run `stylepipe uninstall " + name + "` first",
        )
    if others:
        raise StylepackError(
            f"the name {name!r} is already used by {', '.join(others)}",
            hint="add --force to install it anyway; the models are then addressed as "
            f"{LOCAL_PLUGIN}/{name} and {others[0]}",
        )
    return others
