"""Atomic file writes: a reader (or a crash, or Ctrl-C) never sees half a file.

The data goes to a hidden temporary file in the target folder (``.<name>.tmp-XXXXXXXX``),
is flushed and fsync'ed, then renamed over the target with ``os.replace`` (atomic on
POSIX and Windows); the folder is fsync'ed so that the rename survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO

TEMP_MARKER = ".tmp-"


def temp_prefix(path: Path) -> str:
    """Hidden temporary names of ``path``: ``.<name>.tmp-XXXXXXXX`` in the same folder."""
    return f".{path.name}{TEMP_MARKER}"


@cache
def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` so that it either keeps its old contents or gets all of the new ones.

    The data goes to a hidden temporary file in the target folder, is flushed and
    fsync'ed, then renamed over ``path`` with ``os.replace`` (atomic on POSIX and
    Windows); the folder is fsync'ed so the rename survives a power cut. On any error,
    Ctrl-C included, the temporary file is removed.
    """
    fd, temp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600 files; use the usual mode
                os.fchmod(handle.fileno(), _file_mode())
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # folders cannot be opened for fsync on Windows
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
