"""Helpers for the sharing tests (export, install, package, models): tiny real packs,
hand-made zip archives, and running the CLI in-process."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from stylepipe_style import build

from stylepipe.cli import main
from stylepipe.packs.format import MANIFEST, Pack, write_pack
from stylepipe.plugins import Catalog, load_plugins

TINY = {"width": 4, "n_residual": 1}


def tiny_state(seed: int = 0, **params: int) -> dict[str, torch.Tensor]:
    """The state dict of a random tiny transformer network."""
    torch.manual_seed(seed)
    return build(**{**TINY, **params}).state_dict()


def jpeg_bytes(colour: tuple[int, int, int] = (200, 40, 40), size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def make_pack(
    root: Path,
    name: str = "tiny",
    *,
    seed: int = 0,
    pictures: bool = True,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Pack:
    """A real data-only pack of a random tiny style network under ``root/name``."""
    manifest = {
        "name": name,
        "kind": "style",
        "architecture": "johnson-style",
        "arch_params": dict(TINY),
        "input_range": 1.0,
        "scale": 1,
        "description": f"test style {name}",
        "training": {"style_image": "/data/styles/starry.jpg", "steps": 20},
        **(extra or {}),
    }
    files = {"preview.jpg": jpeg_bytes(), "style.jpg": jpeg_bytes((20, 20, 200))}
    return write_pack(
        root / name, manifest, tiny_state(seed), files if pictures else None, overwrite=overwrite
    )


def builtin_catalog() -> Catalog:
    """The catalog of the built-in plugins only (no entry points of this environment)."""
    return Catalog.build(load_plugins(entry_points=False))


def members_of(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def with_checksums(members: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    """Members with the manifest's ``files`` recomputed (and ``changes`` applied), so that
    a test isolates one problem instead of tripping the checksum check first."""
    manifest = json.loads(members[MANIFEST])
    manifest.update(changes)
    manifest["files"] = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in sorted(members.items())
        if name != MANIFEST
    }
    return {**members, MANIFEST: json.dumps(manifest).encode()}


def write_zip(path: Path, members: Mapping[str, bytes] | list[tuple[Any, bytes]]) -> Path:
    """A zip with exactly these members (names or ``ZipInfo``s), in order."""
    items = list(members.items()) if isinstance(members, Mapping) else members
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def cli(*argv: str) -> int:
    """Run ``stylepipe`` in-process."""
    return main([str(a) for a in argv])


def listing(home: Path) -> list[str]:
    """Every path under ``home`` (relative, hidden ones included), to prove nothing was
    left behind."""
    if not home.exists():
        return []
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps messages at 80 columns when not on a terminal, which would split the
    long temporary paths the tests look for; import this fixture to widen it."""
    monkeypatch.setenv("COLUMNS", "1000")
