"""Run the stylepipe command line with a disk fault injected (a script for subprocesses).

``python reliability_faults.py enospc|erofs AFTER -- stylepipe arguments...``: every write
after the first AFTER fails like a full disk or a read-only file system. Used by
``tests/test_reliability.py`` and ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAULT_USAGE = "usage: python reliability_faults.py FAULT AFTER -- stylepipe arguments..."


def _inject(fault: str, after: int) -> None:
    """Make every write after the first ``after`` fail like a full disk (``enospc``: half
    of the data reaches the temporary file, then ENOSPC) or a read-only file system
    (``erofs``: the temporary file cannot be created). Patched in the real writer's
    module, so the real atomic-write clean-up runs."""
    import errno

    import stylepipe.atomic as atomic
    import stylepipe.imaging.write as image_write

    real_write, real_mkstemp = image_write.atomic_write, atomic.tempfile.mkstemp
    count = [0]

    def write(path: Path, produce: Callable[[Any], object]) -> None:
        count[0] += 1
        if count[0] <= after or fault != "enospc":
            return real_write(path, produce)

        def half_then_full(handle: Any) -> None:
            data = io.BytesIO()
            produce(data)
            handle.write(data.getvalue()[: len(data.getvalue()) // 2])
            handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real_write(path, half_then_full)

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        if count[0] > after:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))
        return real_mkstemp(*args, **kwargs)

    image_write.atomic_write = write  # type: ignore[assignment]
    if fault == "erofs":
        atomic.tempfile = type("Patched", (), {"mkstemp": staticmethod(mkstemp)})  # type: ignore[assignment]


def fault_main(argv: list[str]) -> int:
    """Run the stylepipe command line in this process with a fault injected."""
    if len(argv) < 3 or argv[2] != "--" or argv[0] not in ("enospc", "erofs"):
        raise SystemExit(FAULT_USAGE)
    _inject(argv[0], int(argv[1]))
    from stylepipe.cli import main

    return main(argv[3:])


if __name__ == "__main__":
    import sys

    sys.exit(fault_main(sys.argv[1:]))
