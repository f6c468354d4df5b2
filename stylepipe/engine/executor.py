"""Runs a planned :class:`~stylepipe.engine.job.BatchJob`: I/O threads around filters that run
in the calling thread. Use :func:`stylepipe.engine.batch.run_batch`; this is its machinery.

Results are reported (``image_finished``, progress, summary) in input order: before an
input's result is recorded, the writes of every earlier input are collected.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from stylepipe.engine.job import (
    BatchJob,
    BatchSummary,
    ItemResult,
    WorkItem,
    provenance_note,
    step_models,
)
from stylepipe.engine.plan import preflight
from stylepipe.errors import StorageFullError, StylepipeError
from stylepipe.filters import FilterContext
from stylepipe.imaging.frame import Frame
from stylepipe.imaging.provenance import stamp
from stylepipe.imaging.read import read_image
from stylepipe.imaging.write import SaveOptions, write_error, write_image

if TYPE_CHECKING:
    from stylepipe.app import App
    from stylepipe.ui import BatchProgress


class Executor:
    """One batch run; not reusable."""

    def __init__(self, app: App, job: BatchJob, started: float) -> None:
        self.app, self.job, self.started = app, job, started
        self.options = job.options
        self.summary = BatchSummary(
            total=len(job.items),
            hidden=job.hidden,
            non_images=job.non_images,
            in_subfolders=job.in_subfolders,
            models=step_models(job.pipeline),
        )
        self.decided = preflight(job)
        self.todo = [i for i in range(len(job.items)) if i not in self.decided]
        self.next_load = 0  # position in self.todo of the next image to submit for loading
        self.loads: dict[int, Future[tuple[Frame, float]]] = {}
        self.saves: deque[tuple[int, Future[float], float]] = deque()
        self.stop = False
        self.progress: BatchProgress | None = None
        self.note = provenance_note(job) if self.options.provenance else None

    def run(self) -> BatchSummary:
        """Set up the filters, fire the events and process every item."""
        if self.todo:
            self._setup()
        self._fire("batch_started", job=self.job)
        pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="stylepipe-io")
        try:
            with self.app.ui.batch_progress(self.summary.total) as progress:
                self.progress = progress
                try:
                    self._loop(pool)
                    self._drain(block=True)
                except KeyboardInterrupt:
                    self.summary.interrupted = True
                    self._abandon()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.summary.elapsed = time.perf_counter() - self.started
        self._fire("batch_finished", job=self.job, summary=self.summary)
        return self.summary

    def _setup(self) -> None:
        ctx = FilterContext(
            runtime=self.job.pipeline.runtime,
            catalog=self.app.catalog,
            warn=self.app.ui.warn,
            select_device=self.app.plugins.hook.select_device,
        )
        for step in self.job.pipeline.steps:
            step.filter.setup(ctx)

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        for index, item in enumerate(self.job.items):
            if self.stop:
                return
            decided = self.decided.get(index)
            if decided is not None:
                self._finish_in_order(index, decided)
                continue
            self._prefetch(pool)
            self._drain(block=False)
            if self.progress is not None:
                self.progress.current(str(item.relative))
            loaded = self._take(index)
            if loaded is None:
                continue
            frame, seconds = self._filter(index, *loaded)
            if frame is None:
                continue
            while len(self.saves) >= self.options.prefetch:
                self._drain_one()
            self.saves.append((index, pool.submit(self._save, item, frame), seconds))

    def _prefetch(self, pool: ThreadPoolExecutor) -> None:
        """Keep the current image and ``prefetch`` more submitted for decoding."""
        while self.next_load < len(self.todo) and len(self.loads) <= self.options.prefetch:
            index = self.todo[self.next_load]
            self.loads[index] = pool.submit(self._load, self.job.items[index])
            self.next_load += 1

    def _load(self, item: WorkItem) -> tuple[Frame, float]:
        started = time.perf_counter()
        # the networks expect sRGB: wide-gamut inputs are converted for pipelines with one
        srgb = bool(self.summary.models)
        frame = read_image(item.source, max_pixels=self.options.max_pixels, srgb=srgb)
        return frame, time.perf_counter() - started

    def _take(self, index: int) -> tuple[Frame, float] | None:
        item = self.job.items[index]
        try:
            return self.loads.pop(index).result()
        except Exception as exc:  # read_image raises ImageReadError; anything else is a bug
            self._finish_in_order(index, ItemResult("failed", _reason(exc, item)))
            return None

    def _filter(self, index: int, frame: Frame, seconds: float) -> tuple[Frame | None, float]:
        """Run the steps in order; a failing step fails this input only."""
        item = self.job.items[index]
        started = time.perf_counter()
        for step in self.job.pipeline.steps:
            where = f"step {step.index} ({step.name})"
            try:
                result = step.filter.apply(frame)
            except StylepipeError as exc:
                problem = f"{where}: {_reason(exc, item)}"
            except Exception as exc:  # a filter bug must not end the whole batch
                problem = f"{where} crashed: {type(exc).__name__}: {exc}"
            else:
                if isinstance(result, Frame):
                    frame = result
                    continue
                problem = f"{where} returned {type(result).__name__}, not a Frame"
            seconds += time.perf_counter() - started
            self._finish_in_order(index, ItemResult("failed", problem, seconds=seconds))
            return None, seconds
        return frame, seconds + time.perf_counter() - started

    def _save(self, item: WorkItem, frame: Frame) -> float:
        started = time.perf_counter()
        output = self.job.pipeline.output
        if self.note is not None and not self.options.strip_metadata:
            frame = frame.replace(metadata=stamp(frame.metadata, *self.note))
        options = SaveOptions(
            format=item.format,
            quality=output.quality,
            compression=output.compression,
            strip_metadata=self.options.strip_metadata,
            output_profile=self.options.output_profile,
        )
        try:
            item.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(item.output.parent, exc) from None
        write_image(frame, item.output, options)
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
            result = ItemResult("failed", _reason(exc, item), seconds=seconds)
            if isinstance(exc, StorageFullError) and self.summary.stopped is None:
                # Disk full or read-only: every later write would fail too, after the
                # filters spent their time on it. Stop and say how to finish.
                self.summary.stopped = f"{exc.headline} ({exc.hint})"
                self.stop = True
        else:
            result = ItemResult("done", None, item.output, seconds)
        self._finish(index, result)

    def _abandon(self) -> None:
        """After Ctrl-C: drop images not yet decoded, finish the writes under way."""
        for future in self.loads.values():
            future.cancel()
        self.loads.clear()
        self._drain(block=True)

    def _finish_in_order(self, index: int, result: ItemResult) -> None:
        self._drain(block=True)
        self._finish(index, result)

    def _finish(self, index: int, result: ItemResult) -> None:
        item = self.job.items[index]
        self.summary.add(item, result)
        if self.progress is not None:
            self.progress.advance(result.status)
        self._fire("image_finished", job=self.job, item=item, result=result)
        if result.status == "failed" and self.options.fail_fast:
            self.stop = True

    def _fire(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook; a plugin's exception is reported (as an error, shown even
        with -q), never fatal."""
        try:
            getattr(self.app.plugins.hook, hook)(**kwargs)
        except Exception as exc:
            self.app.ui.error(f"a plugin's {hook} hook failed: {type(exc).__name__}: {exc}")


def _reason(exc: BaseException, item: WorkItem) -> str:
    """A one-line reason without the input's path (the summary shows it beside)."""
    text = str(exc) if isinstance(exc, StylepipeError) else f"{type(exc).__name__}: {exc}"
    prefix = f"{item.source}: "
    text = text.removeprefix(prefix)
    return " ".join(text.split())
