"""The driver's side of one batch, the same for every engine: results become the
summary, the progress display, the ``image_finished`` events, ``--report`` and the exit
status, whichever engine (the local one, Ray...) produced them.

An engine processes :attr:`BatchRun.pending` (the inputs planning did not decide already)
and hands each result to :meth:`BatchRun.record`, in any order and from one thread.
Results are counted, shown and announced in input order: one that arrives early waits
for the inputs before it. A result that arrives twice (a remote task that was retried
after its worker died) is counted once. After ``--fail-fast``'s first failure, a full
output disk or Ctrl-C, :attr:`BatchRun.stopping` turns true and the engine stops
starting work; the results already in are still reported. An engine that fails as a
whole (a :class:`~stylepipe.errors.StylepipeError` out of its ``run``: a lost cluster)
stops the batch the same way, with its message as the summary's ``stopped``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.atomic import TEMP_MARKER, is_temp_name, remove_stale_temp, temp_prefix
from stylepipe.engine.job import BatchJob, BatchSummary, ItemResult, WorkItem, step_models
from stylepipe.engine.plan import preflight
from stylepipe.errors import StylepipeError

if TYPE_CHECKING:
    from stylepipe.app import App
    from stylepipe.engine.engines import Engine
    from stylepipe.ui import BatchProgress


class BatchRun:
    """One planned batch being run: the job, what is left to do and the results so far."""

    def __init__(self, app: App, job: BatchJob, started: float | None = None) -> None:
        self.app, self.job = app, job
        self.started = time.perf_counter() if started is None else started
        self.summary = BatchSummary(
            total=len(job.items),
            hidden=job.hidden,
            non_images=job.non_images,
            in_subfolders=job.in_subfolders,
            models=step_models(job.pipeline),
        )
        self.decided = preflight(job)
        self.pending: tuple[int, ...] = tuple(
            i for i in range(len(job.items)) if i not in self.decided
        )
        """Indexes into ``job.items`` of the inputs an engine has to process, in order."""
        self.progress: BatchProgress | None = None
        self.stopping = False
        self._early: dict[int, ItemResult] = {}  # results waiting for earlier inputs
        self._next = 0  # the index whose result is reported next
        self._warned: set[str] = set()

    @property
    def items(self) -> tuple[WorkItem, ...]:
        return self.job.items

    def run(self, engine: Engine) -> BatchSummary:
        """Run the batch with ``engine``: ``open`` (errors there end the run before any
        event), ``batch_started``, ``run``, the summary, ``batch_finished``; ``close``
        always follows a successful ``open``. Ctrl-C marks the summary interrupted."""
        engine.open(self)
        try:
            self._fire("batch_started", job=self.job)
            with self.app.ui.batch_progress(self.summary.total) as progress:
                self.progress = progress
                for index, result in sorted(self.decided.items()):
                    self.record(index, result)
                try:
                    if self.pending and not self.stopping:
                        engine.run(self)
                except KeyboardInterrupt:
                    self.interrupt()
                except StylepipeError as exc:  # the engine itself failed (a lost cluster)
                    self.stop(str(exc))
                finally:
                    self.flush()
        finally:
            engine.close()
        self.summary.elapsed = time.perf_counter() - self.started
        self._fire("batch_finished", job=self.job, summary=self.summary)
        return self.summary

    def record(self, index: int, result: ItemResult) -> None:
        """Take the result of ``job.items[index]`` (once; a repeat is ignored)."""
        if index < self._next or index in self._early:
            return
        self._early[index] = result
        if self.progress is not None:
            self.progress.advance(result.status)
        if result.stop is not None:
            self.stop(result.stop)
        if result.status == "failed" and self.job.options.fail_fast:
            self.stopping = True
        while self._next in self._early:
            self._report(self._next, self._early.pop(self._next))
            self._next += 1

    def rows(self) -> Iterator[dict[str, Any]]:
        """The pending inputs as plain rows for remote workers, with absolute paths:
        ``index`` (into ``job.items``), ``source``, ``relative``, ``output``, ``format``."""
        for index in self.pending:
            item = self.job.items[index]
            yield {
                "index": index,
                "source": os.path.abspath(item.source),
                "relative": str(item.relative),
                "output": os.path.abspath(item.output),
                "format": item.format,
            }

    def record_row(self, row: Mapping[str, Any]) -> None:
        """Take a worker's result row (see :meth:`stylepipe.engine.remote.Worker.process_row`):
        its warnings are shown once, its result recorded; the output path is the planned
        one, as the local engine reports it."""
        for message in (row.get("warnings") or "").splitlines():
            self.warn(message)
        index, status = int(row["index"]), str(row["status"])
        if status not in ("done", "skipped", "failed"):
            raise ValueError(f"result row of input {index}: unknown status {status!r}")
        result = ItemResult(
            status,  # type: ignore[arg-type]  # checked above
            _text(row.get("reason")),
            self.job.items[index].output if status == "done" else None,
            float(row.get("seconds") or 0.0),
            _text(row.get("stop")),
        )
        self.record(index, result)

    def stop(self, reason: str) -> None:
        """Stop the batch for a reason that concerns all of it (shown in the summary and
        the report as ``stopped``; the exit status says failure)."""
        if self.summary.stopped is None:
            self.summary.stopped = reason
        self.stopping = True

    def interrupt(self) -> None:
        """Ctrl-C: stop, and say so in the summary."""
        self.summary.interrupted = True
        self.stopping = True

    def warn(self, message: str) -> None:
        """Show a warning once per batch (workers repeat theirs)."""
        if message not in self._warned:
            self._warned.add(message)
            self.app.ui.warn(message)

    def remove_stale_temps(self, wait: float = 0.0) -> int:
        """Delete the temporary files that writers killed mid-write left next to the
        planned outputs (a remote engine's workers that died); live writers' files are
        left alone. ``wait``: seconds to keep looking while some writer is still busy
        (workers being stopped finish or die meanwhile). Returns how many were removed."""
        deadline = time.monotonic() + wait
        removed, live = scan_temps(self.job)
        while live and time.monotonic() < deadline:
            time.sleep(0.1)
            more, live = scan_temps(self.job)
            removed += more
        return removed

    def flush(self) -> None:
        """Report the results still waiting for an earlier input that never finished
        (the batch stopped), in input order."""
        for index in sorted(self._early):
            self._report(index, self._early[index])
        self._early.clear()
        self._next = len(self.job.items)

    def _report(self, index: int, result: ItemResult) -> None:
        item = self.job.items[index]
        self.summary.add(item, result)
        self._fire("image_finished", job=self.job, item=item, result=result)

    def _fire(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook; a plugin's exception is reported (as an error, shown even
        with -q), never fatal."""
        try:
            getattr(self.app.plugins.hook, hook)(**kwargs)
        except Exception as exc:
            self.app.ui.error(f"a plugin's {hook} hook failed: {type(exc).__name__}: {exc}")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def remove_stale_temps(job: BatchJob) -> int:
    """Delete temporary files an earlier, killed run left next to planned outputs; those
    a live writer holds (another batch writing into the same folder) are left alone."""
    return scan_temps(job)[0]


def scan_temps(job: BatchJob) -> tuple[int, int]:
    """Remove the stale temporary files of the planned outputs; returns how many were
    removed and how many a live writer still holds."""
    prefixes: dict[Path, set[str]] = {}
    for item in job.items:
        prefixes.setdefault(item.output.parent, set()).add(temp_prefix(item.output))
    removed = live = 0
    for folder, planned in prefixes.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # the folder does not exist yet
        for entry in entries:
            name = entry.name
            if is_temp_name(name):
                prefix = name[: name.rindex(TEMP_MARKER) + len(TEMP_MARKER)]
                if prefix not in planned:
                    continue
                if remove_stale_temp(Path(entry.path)):
                    removed += 1
                elif os.path.lexists(entry.path):
                    live += 1
    return removed, live
