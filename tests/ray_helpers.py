"""Helpers for the tests of the ``ray`` engine: Ray's processes on this machine, a plugin
whose filter kills its process (as a segfaulting decoder would) installed where Ray's
workers find it, and a folder of mixed images."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

#: What a Ray process shows in its command line: workers and actors retitle themselves
#: ``ray::...``; the raylet, GCS and agents run from Ray's package folder.
RAY_MARKS = ("ray::", "/site-packages/ray/")
WORKER_TITLE = "ray::MapWorker(MapBatches(ImageWorker))"

CRASH_PLUGIN = '''"""A test plugin: its filter ends its process on images 7 pixels wide."""
import os

from stylepipe import Filter, hookimpl


class CrashOnSeven(Filter):
    name = "test-crash"
    summary = "ends its process on 7-pixel-wide images, as a crashing decoder would"

    def apply(self, frame):
        if frame.width == 7:
            os._exit(3)
        return frame


@hookimpl
def register_filters(register):
    register(CrashOnSeven)
'''


def ray_processes() -> dict[int, str]:
    """Pid -> command line of every Ray process running on this machine."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:
            continue
        line = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if any(mark in line for mark in RAY_MARKS):
            found[int(entry)] = line
    return found


def wait_until_gone(pids: set[int], timeout: float = 60.0) -> set[int]:
    """The pids among ``pids`` still alive after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path("/proc", str(pid)).exists() and not _zombie(pid)}
        time.sleep(0.2)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path("/proc", str(pid), "stat").read_text().split(") ", 1)[1][0] == "Z"
    except (OSError, IndexError):
        return False


def image_workers() -> list[int]:
    """Pids of the ``map_batches`` actors of the ray engine alive now."""
    return sorted(pid for pid, line in ray_processes().items() if line.startswith(WORKER_TITLE))


def install_crash_plugin(folder: Path) -> Path:
    """A module and its dist-info (entry point ``crashtest``) in ``folder``, for
    ``PYTHONPATH``: the driver and every Ray worker then load the same plugin."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stylepipe_crashtest.py").write_text(CRASH_PLUGIN)
    info = folder / "stylepipe_crashtest-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: stylepipe-crashtest\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[stylepipe]\ncrashtest = stylepipe_crashtest\n")
    return folder


@contextmanager
def ray_environment(extra_path: Path | None = None) -> Iterator[dict[str, str]]:
    """Environment for a Ray instance started by a test: a token of its own for Ray's
    token authentication (so Ray does not write ``~/.ray/auth_token``), no
    ``RAY_ADDRESS`` from outside, and ``extra_path`` on ``PYTHONPATH``."""
    saved = dict(os.environ)
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    os.environ.pop("RAY_ADDRESS", None)
    if extra_path is not None:
        parts = [str(extra_path), *filter(None, [os.environ.get("PYTHONPATH")])]
        os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def noise_images(folder: Path, count: int, size: int, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count + size)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}{number:03d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
