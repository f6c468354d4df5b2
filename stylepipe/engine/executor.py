"""The ``local`` engine's machinery: runs a batch's pending inputs in this process, with
I/O threads around filters that run in the calling thread. Use
:func:`stylepipe.engine.batch.run_batch`; this is its machinery.

Each input goes through the stages of :class:`~stylepipe.engine.work.Work` (read, steps,
atomic write), the same code the remote engines run per input; here up to ``prefetch``
images are decoded ahead and finished ones are written on the thread pool while the
next one is filtered. Results go to :meth:`BatchRun.record`, which reports them in
input order.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from stylepipe.engine.job import ItemResult, WorkItem, provenance_note
from stylepipe.engine.work import Work, failure, setup_steps
from stylepipe.filters import FilterContext
from stylepipe.imaging.frame import Frame

if TYPE_CHECKING:
    from stylepipe.engine.driver import BatchRun


class Executor:
    """One batch run; not reusable."""

    def __init__(self, batch: BatchRun) -> None:
        self.batch, self.job = batch, batch.job
        self.options = batch.job.options
        note = provenance_note(self.job) if self.options.provenance else None
        self.work = Work(self.job.pipeline, self.options, note)
        self.next_load = 0  # position in batch.pending of the next image to submit for loading
        self.loads: dict[int, Future[tuple[Frame, float]]] = {}
        self.saves: deque[tuple[int, Future[float], float]] = deque()

    def setup(self) -> int | None:
        """Set up the filters for the batch; returns the torch thread count to restore."""
        app = self.batch.app
        ctx = FilterContext(
            runtime=self.job.pipeline.runtime,
            catalog=app.catalog,
            warn=app.ui.warn,
            select_device=app.plugins.hook.select_device,
        )
        return setup_steps(self.job.pipeline, ctx)

    def run(self) -> None:
        """Process every pending item; after Ctrl-C, finish the writes under way first."""
        pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="stylepipe-io")
        try:
            try:
                self._loop(pool)
                self._drain(block=True)
            except KeyboardInterrupt:
                self._abandon()
                raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        for index in self.batch.pending:
            if self.batch.stopping:
                return
            self._prefetch(pool)
            self._drain(block=False)
            item = self.job.items[index]
            if self.batch.progress is not None:
                self.batch.progress.current(str(item.relative))
            loaded = self._take(index)
            if loaded is None:
                continue
            frame, seconds = loaded
            started = time.perf_counter()
            result = self.work.apply_steps(item, frame)
            seconds += time.perf_counter() - started
            if isinstance(result, str):
                self.batch.record(index, ItemResult("failed", result, seconds=seconds))
                continue
            while len(self.saves) >= self.options.prefetch:
                self._drain_one()
            self.saves.append((index, pool.submit(self._save, item, result), seconds))

    def _prefetch(self, pool: ThreadPoolExecutor) -> None:
        """Keep the current image and ``prefetch`` more submitted for decoding."""
        pending = self.batch.pending
        while self.next_load < len(pending) and len(self.loads) <= self.options.prefetch:
            index = pending[self.next_load]
            self.loads[index] = pool.submit(self._load, self.job.items[index])
            self.next_load += 1

    def _load(self, item: WorkItem) -> tuple[Frame, float]:
        started = time.perf_counter()
        frame = self.work.read(item)
        return frame, time.perf_counter() - started

    def _take(self, index: int) -> tuple[Frame, float] | None:
        try:
            return self.loads.pop(index).result()
        except Exception as exc:  # read_image raises ImageReadError; anything else is a bug
            self.batch.record(index, failure(exc, self.job.items[index], 0.0))
            return None

    def _save(self, item: WorkItem, frame: Frame) -> float:
        started = time.perf_counter()
        self.work.write(item, frame)
        return time.perf_counter() - started

    def _drain(self, *, block: bool) -> None:
        """Record finished writes, oldest first (all of them when ``block``)."""
        while self.saves and (block or self.saves[0][1].done()):
            self._drain_one()

    def _drain_one(self) -> None:
        index, future, seconds = self.saves.popleft()
        item = self.job.items[index]
        try:
            seconds += future.result()
        except Exception as exc:  # ImageWriteError; anything else is a bug, still per file
            result = failure(exc, item, seconds)
        else:
            result = ItemResult("done", None, item.output, seconds)
        self.batch.record(index, result)

    def _abandon(self) -> None:
        """After Ctrl-C: drop images not yet decoded, finish the writes under way."""
        for future in self.loads.values():
            future.cancel()
        self.loads.clear()
        self._drain(block=True)
