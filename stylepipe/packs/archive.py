"""Single-file ``.stylepack`` archives: export a pack folder, install one safely.

A ``.stylepack`` is a zip whose members are the pack's files, flat, with no folders, in
their shared form (:mod:`stylepipe.packs.shared`: no private paths or previews):
``manifest.json``, ``weights.safetensors`` and optional pictures/licence (see
:data:`stylepipe.packs.format.ALLOWED_FILES`). The manifest holds the sha256 of every
other member. Archives are written deterministically (sorted members, fixed
timestamps), so exporting one pack twice gives identical bytes.

Installing runs the archive checks of :mod:`stylepipe.packs.validate` (member names,
sizes, manifest), then checks the architecture, kind, parameters and scale (the network
is built on the ``meta`` device) and name clashes. Only then are members extracted, into
a temporary folder beside the target, counting bytes (a member that inflates past its
declared size is stopped) and hashing them; the weights are parsed as safetensors (never
unpickled) and must match the network's keys and shapes; pictures must decode. The
folder is renamed into place last, so a rejected pack leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stylepipe.errors import InvalidPackError, StylepackError, StylepipeError, UsageError
from stylepipe.models.weights import check_weights
from stylepipe.packs.format import (
    LOCAL_PLUGIN,
    MANIFEST,
    PICTURES,
    WEIGHTS,
    Pack,
    build_network,
    check_extra_files,
    check_loads,
    load_pack_weights,
    read_pack,
    replace_dir,
)
from stylepipe.packs.shared import share
from stylepipe.packs.validate import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    check_members,
    copy_member,
    open_archive,
    read_manifest,
)

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

SUFFIX = ".stylepack"
COMMENT = b"stylepipe-pack"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: reproducible archives
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_stylepack` did: the installed pack, whether it replaced one
    of the same name, and other models (``source/name``) that share its short name."""

    pack: Pack
    replaced: bool
    shadows: tuple[str, ...] = ()


# --- export ------------------------------------------------------------------------------


def export_stylepack(
    pack: Pack,
    out: Path,
    *,
    overwrite: bool = False,
    preview: bytes | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Path:
    """Write the shared form of ``pack`` (:func:`stylepipe.packs.shared.share`: no private
    paths, ``preview`` instead of the pack's own previews) to the single file ``out``
    (written beside it, then renamed). Refuses packs that ``install`` would refuse: bad
    checksums, files outside the allow-list, members over the size limits."""
    shared = share(pack, preview)
    for fname, member in shared.members.items():
        size = len(member) if isinstance(member, bytes) else member.stat().st_size
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
            _add_member(archive, MANIFEST, shared.manifest_bytes())
            for fname in sorted(shared.members):
                _add_member(archive, fname, shared.members[fname])
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a file to share is not
        os.replace(tmp_name, out)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out


def _add_member(archive: zipfile.ZipFile, name: str, source: bytes | Path) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.create_system = 3  # unix, whatever the exporting OS: identical bytes everywhere
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    # Pictures are already compressed; deflating them again only costs time.
    info.compress_type = zipfile.ZIP_STORED if name in PICTURES else zipfile.ZIP_DEFLATED
    if isinstance(source, bytes):
        info.file_size = len(source)
        with archive.open(info, "w") as dst:
            dst.write(source)
        return
    info.file_size = source.stat().st_size
    with open(source, "rb") as src, archive.open(info, "w") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


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
        with open_archive(archive_path) as archive:
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
    manifest = read_manifest(archive, infos, limits)
    name = str(manifest["name"])
    dest = root / name
    shadows = _check_clash(name, dest, catalog, force)
    net = build_network(manifest, catalog.architectures)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.install-", dir=root))
    try:
        for fname, info in infos.items():
            with open(staging / fname, "xb") as sink:
                digest = copy_member(archive, info, sink, limits)
            if fname != MANIFEST and digest != manifest["files"][fname]:
                raise StylepackError(
                    f"checksum of {fname} does not match the manifest",
                    hint="the pack is corrupt or was modified after export",
                )
        weights = load_pack_weights(staging / WEIGHTS)
        if net is None:  # a family built from its weights (community models)
            check_loads(manifest, catalog.architectures, weights)
        else:
            check_weights(net, weights, where=name, error=StylepackError)
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
