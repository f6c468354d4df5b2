"""The machine-readable batch report written by ``stylepipe run --report FILE.json``.

One JSON object: the counts of the summary and one entry per planned input, in input
order, with its ``status`` (``done``, ``skipped``, ``failed``, or ``not processed`` when
the batch was interrupted or stopped before reaching it), the one-line ``reason`` of a
failure or skip, and the ``output`` path (``null`` when nothing was written for it).
Every planned input appears exactly once, so ``done + skipped + failed + not_processed
== total``. Files left out while collecting inputs (hidden, not images, images in
subfolders of a run without ``--recursive``) are counted in ``ignored``; warnings (name
clashes, symlink loops) are listed in ``warnings``; ``stopped`` says why a batch stopped
early (output disk full or read-only), else null; ``models`` lists the model each step
ran (``{"step": 2, "filter": "style", "model": "starry-night", "default": true}``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.atomic import atomic_write
from stylepipe.errors import StylepipeError

if TYPE_CHECKING:
    from stylepipe.engine.job import BatchJob, BatchSummary

REPORT_VERSION = 1
NOT_PROCESSED = "not processed"


def batch_report(job: BatchJob, summary: BatchSummary) -> dict[str, Any]:
    """The report of a finished (or interrupted) batch as plain JSON-ready data."""
    finished = {id(item): result for item, result in summary.results}
    files = []
    for item in job.items:
        result = finished.get(id(item))
        files.append(
            {
                "input": str(item.source),
                "status": NOT_PROCESSED if result is None else result.status,
                "reason": None if result is None else result.reason,
                "output": None if result is None or result.output is None else str(result.output),
            }
        )
    return {
        "version": REPORT_VERSION,
        "output_root": str(job.output_root),
        "total": summary.total,
        "done": summary.done,
        "skipped": summary.skipped,
        "failed": summary.failed,
        "not_processed": summary.remaining,
        "interrupted": summary.interrupted,
        "stopped": summary.stopped,
        "exit_code": int(summary.exit_code),
        "elapsed_seconds": round(summary.elapsed, 3),
        "ignored": {
            "hidden": summary.hidden,
            "non_images": summary.non_images,
            "in_subfolders": summary.in_subfolders,
        },
        "models": [dataclasses.asdict(m) for m in summary.models],
        "warnings": list(job.warnings),
        "files": files,
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as UTF-8 JSON, atomically (a reader never sees half of it)."""
    try:
        data = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8 (POSIX bytes): escape it
        data = (json.dumps(report, indent=2) + "\n").encode("ascii")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: handle.write(data))
    except OSError as exc:
        raise StylepipeError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="choose a writable --report path",
        ) from None
