"""A real small filesystem for disk-full tests: a size-limited tmpfs mounted for the
duration of a ``with`` block, where the machine allows it (root, or a container that
lets mount(2) through), else ``None`` with the reason, so callers skip or fall back to a
simulated ENOSPC."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def small_tmpfs(mountpoint: Path, size_kib: int) -> Iterator[tuple[Path | None, str]]:
    """``(mountpoint, "")`` with a ``size_kib`` tmpfs mounted there, or ``(None, why)``."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        yield None, "mounting a tmpfs needs root and mount(8)"
        return
    command = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "stylepipe-test"]
    done = subprocess.run([*command, str(mountpoint)], capture_output=True, text=True)
    if done.returncode:
        yield None, f"mount refused: {done.stderr.strip() or done.returncode}"
        return
    try:
        yield mountpoint, ""
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
