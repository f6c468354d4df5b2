"""Host memory of CPU inference: reusing freed activations instead of faulting in new ones.

glibc's ``malloc`` serves every block above its mmap threshold (128 KiB, raised
dynamically to at most 32 MiB) with a fresh ``mmap`` and unmaps it again on ``free``. A
network's activations are such blocks (one 512x512 layer of 32 float channels is
32 MiB), so every layer's output was memory new to the process, faulted in and zeroed by
the kernel page by page on its first write. Measured on the style network at 512x512
(width 32, fp32, 2-core AMD EPYC VM): 140 000 minor page faults and 0.37 s of system time
per image, and 1.3-1.6x the inference's time (``benchmarks/peak.py``, case ``stylepipe,
mmap``); in a virtual machine every fault also costs a nested page-table walk.

:func:`reuse_freed_memory` turns that off while a run lasts: no ``mmap`` for large
blocks (they come from the heap) and no automatic trimming of the heap's top, so a
freed activation is reused for the next layer's. On leaving, glibc's defaults come back:
the next ``free`` hands the heap's free top back to the OS as before. Peak memory is
unchanged (the same blocks are live at once; measured within 1 %). Not trimming the
free blocks inside the heap on leaving (``malloc_trim``) is deliberate: their pages
would be faulted in again by the next image (measured 55 000 faults per 512x512 image
with it, 8 000 without). Reuse is best effort: blocks freed in holes that an earlier
trim emptied are faulted in again on their first reuse, and a thread that glibc moved
off its main arena still gets blocks above 64 MiB by ``mmap``. A no-op where glibc is
not the allocator, and where the user tuned it (any ``MALLOC_*_`` allocator variable in
the environment).
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["release_heap", "reuse_freed_memory"]

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024  # glibc's defaults (malloc/malloc.c)
DEFAULT_MMAP_MAX = 65536
KEEP_ALL = 2**31 - 1  # a trim threshold no heap top reaches between two releases
USER_TUNING = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

ENABLED = True
"""Whether :func:`reuse_freed_memory` acts (benchmarks switch it off to compare)."""

_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc() -> Any | None:
    """glibc's handle where it is the C library (Linux), else ``None``."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def release_heap() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``).

    Called before a tiled run allocates a whole-image activation: the allocator
    otherwise keeps the freed temporaries of the sweeps before (the encoder's
    full-resolution tiles, say), and the new tensor adds to them: trimming keeps the
    peak at the largest stage instead of their sum (measured 100 MB less at 3000x3000).
    A no-op where glibc is not the allocator."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def user_tuned() -> bool:
    """Whether the environment sets glibc's allocator parameters (then they are kept)."""
    return any(name in os.environ for name in USER_TUNING)


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[None]:
    """Inside, large freed blocks stay in the heap for reuse (module doc); nested and
    concurrent uses share one setting, which the last one out restores."""
    global _depth
    libc = _glibc()
    if not (enabled and ENABLED) or libc is None or user_tuned():
        yield
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_ALL)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
