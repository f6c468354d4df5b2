"""Atomic writes (stylepipe.atomic): an error or Ctrl-C mid-write keeps the old file, and
a finished file gets the usual permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stylepipe.atomic import atomic_write


def test_atomic_write_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def explode(handle: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, explode)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_atomic_write_replaces_with_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write(target, lambda handle: handle.write(b"new"))
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]
