"""A pack as it is shared (``export`` to a ``.stylepack``, ``package`` to a wheel): without
the trainer's private data.

A pack in the user plugin dir records how it was trained, including where the trainer's
photos and style image lie (``/home/ann/photos``), and its preview is one of those
photos through the network. Shared, the manifest keeps only the names at the end of
such paths (:func:`public_manifest`), and the preview is the shipped sample photo
through the network (:mod:`stylepipe.packs.previews`), or none. The pack on disk is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylepipe.models.weights import sha256_file
from stylepipe.packs.format import MANIFEST, Pack, shareable_files, validate_manifest

PREVIEWS = ("preview.jpg", "preview.png")
SHARED_PREVIEW = "preview.jpg"
_KEEP = frozenset({"format", "format_version", "files"})
# A path token: starts a string or follows a space, '=', a quote or '('; is absolute
# (/x, ~/x, C:\x, \\server) or climbs out (../x, ./x); runs to the next space or quote.
_ROOTED = re.compile(r"(?:~?/|[A-Za-z]:[\\/]|\\\\|\.\.?[\\/])")
_PATH = re.compile(r"""(?:(?<=^)|(?<=[\s='"(]))(?:~?/|[A-Za-z]:[\\/]|\\\\|\.\.?[\\/])[^\s'"]*""")


@dataclass(frozen=True)
class SharedPack:
    """The members of a shared pack: the public manifest (with its ``files`` digests
    recomputed) and every other member by name, as bytes or as a file to copy.
    ``scrubbed``: the manifest fields whose paths were cut to names."""

    manifest: dict[str, Any]
    members: dict[str, bytes | Path]
    scrubbed: tuple[str, ...]

    def manifest_bytes(self) -> bytes:
        """The manifest as written into the archive or the wheel."""
        return (json.dumps(self.manifest, indent=2, default=str) + "\n").encode("utf-8")

    def read(self, name: str) -> bytes:
        """One member's bytes (the manifest included)."""
        if name == MANIFEST:
            return self.manifest_bytes()
        member = self.members[name]
        return member if isinstance(member, bytes) else member.read_bytes()


def share(pack: Pack, preview: bytes | None) -> SharedPack:
    """The shared form of ``pack`` (checksums checked first): its own previews replaced
    by ``preview`` (a JPEG of the sample photo), or left out when it is None."""
    members: dict[str, bytes | Path] = {
        name: pack.path / name for name in shareable_files(pack) if name not in PREVIEWS
    }
    if preview is not None:
        members[SHARED_PREVIEW] = preview
    manifest, scrubbed = public_manifest(pack.manifest)
    manifest["files"] = {name: _digest(members[name]) for name in sorted(members)}
    validate_manifest(manifest)
    return SharedPack(manifest, members, scrubbed)


def public_manifest(manifest: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A copy of ``manifest`` with every absolute or ``..`` path in its values cut to
    its last component, and the dotted keys of the fields that changed."""
    changed: list[str] = []
    public = {
        key: value if key in _KEEP else _scrub(value, key, changed)
        for key, value in manifest.items()
    }
    return public, tuple(changed)


def _scrub(value: Any, where: str, changed: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _scrub(v, f"{where}.{k}", changed) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, f"{where}[{i}]", changed) for i, v in enumerate(value)]
    if isinstance(value, str):
        whole = _ROOTED.match(value) and "\n" not in value  # one path, spaces and all
        cut = path_name(value) if whole else _PATH.sub(lambda found: path_name(found[0]), value)
        if cut != value:
            changed.append(where)
        return cut
    return value


def path_name(path: str) -> str:
    """The last component of a POSIX or Windows path (``/a/b/`` -> ``b``)."""
    parts = [p for p in re.split(r"[\\/]", path) if p not in ("", ".", "..", "~")]
    return parts[-1] if parts else "."


def _digest(member: bytes | Path) -> str:
    if isinstance(member, bytes):
        return hashlib.sha256(member).hexdigest()
    return sha256_file(member)
