"""Atomic file writes: a reader (or a crash, or Ctrl-C) never sees half a file.

The data goes to a hidden temporary file in the target folder (``.<name>.tmp-XXXXXXXX``),
is flushed and fsync'ed, then renamed over the target with ``os.replace`` (atomic on
POSIX and Windows); the folder is fsync'ed so that the rename survives a power cut.

Where the platform has ``flock`` the writer holds an exclusive lock on its temporary
file until the rename, so :func:`remove_stale_temp` (run when a batch starts, to clear
what a killed run left) never deletes the temporary file of a writer that is alive,
such as a second batch writing into the same folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporary files are removed unconditionally
    fcntl = None  # type: ignore[assignment]

TEMP_MARKER = ".tmp-"
_NAME_MAX = 255  # bytes in one file name (ext4, XFS, btrfs, APFS; NTFS counts characters)
_RANDOM_CHARS = 8  # what tempfile appends to the prefix


def temp_prefix(path: Path) -> str:
    """Hidden temporary names of ``path``: ``.<name>.tmp-XXXXXXXX`` in the same folder.
    A name too long to take the additions is cut, so the temporary name still fits in
    the file system's limit of 255 bytes wherever the output name itself fits."""
    name = path.name
    room = _NAME_MAX - 1 - len(TEMP_MARKER) - _RANDOM_CHARS
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}{TEMP_MARKER}"


def is_temp_name(name: str) -> bool:
    """Whether a file name looks like one of our temporary files."""
    return name.startswith(".") and TEMP_MARKER in name


@cache
def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _try_lock(fd: int) -> bool:
    """Take an exclusive ``flock`` without waiting; False when another process holds it.
    Without flock (Windows, some network file systems) there is nothing to wait for."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True  # the file system does not support locks
    return True


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temporary file for ``path``, locked; made again if a cleaner removed it
    between its creation and the lock."""
    while True:
        fd, temp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
        if _try_lock(fd) and os.fstat(fd).st_nlink > 0:
            return fd, temp
        os.close(fd)


def remove_stale_temp(path: Path) -> bool:
    """Delete a temporary file that no live writer holds (see the module docs); returns
    whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if not _try_lock(fd):
            return False  # a writer is busy with it
        os.unlink(path)  # still under our lock, so no writer can have taken it since
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` so that it either keeps its old contents or gets all of the new ones.

    The data goes to a hidden temporary file in the target folder, is flushed and
    fsync'ed, then renamed over ``path`` with ``os.replace`` (atomic on POSIX and
    Windows); the folder is fsync'ed so the rename survives a power cut. On any error,
    Ctrl-C included, the temporary file is removed.
    """
    fd, temp = _locked_temp(path)
    # The lock lasts while any descriptor of the file is open: keep one past the rename.
    keep = os.dup(fd) if fcntl is not None else None
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
    finally:
        if keep is not None:
            os.close(keep)
    _fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of a ``bytes`` object."""
    atomic_write(Path(path), lambda handle: handle.write(data))


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # folders cannot be opened for fsync on Windows
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
