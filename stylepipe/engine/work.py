"""The unit of work on one input, the same in every engine: read the image, run the
steps in order, write the output atomically, and say what happened.

:meth:`Work.process` does all of it and never raises for a problem of the input (an
unreadable file, a failing or crashing step, a failed write): it returns the
:class:`~stylepipe.engine.job.ItemResult` with its one-line reason. Remote engines call
it on their workers. The local engine overlaps reading and writing with the steps on I/O
threads, so it calls the three stages (:meth:`Work.read`, :meth:`Work.apply_steps`,
:meth:`Work.write`) and the same failure helpers itself: one code path for every byte
written, whichever engine runs the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stylepipe.engine.job import BatchOptions, ItemResult, WorkItem
from stylepipe.errors import StorageFullError, StylepipeError
from stylepipe.filters import FilterContext
from stylepipe.imaging.frame import Frame
from stylepipe.imaging.provenance import stamp
from stylepipe.imaging.read import pixel_limit, read_image
from stylepipe.imaging.write import SaveOptions, write_error, write_image

if TYPE_CHECKING:
    from stylepipe.pipeline import Pipeline

STOPPED = "not written: the batch stopped"
Note = tuple[str, str, str]
"""What outputs record of how they were made (see :func:`stylepipe.engine.job.provenance_note`)."""


def setup_steps(pipeline: Pipeline, ctx: FilterContext) -> int | None:
    """Set up every step once for a batch (load models, pick the device), after setting
    torch's thread count to ``[runtime] threads`` when given. Returns the thread count
    to restore afterwards (None: nothing was changed)."""
    previous = None
    threads = pipeline.runtime.threads
    if threads is not None:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    for step in pipeline.steps:
        step.filter.setup(ctx)
    return previous


def restore_threads(previous: int | None) -> None:
    """Undo :func:`setup_steps`' thread count (a no-op for None)."""
    if previous is not None:
        import torch

        torch.set_num_threads(previous)


class Work:
    """The unit of work of one batch: its set-up pipeline, options and provenance note."""

    def __init__(self, pipeline: Pipeline, options: BatchOptions, note: Note | None) -> None:
        self.pipeline, self.options, self.note = pipeline, options, note
        # The networks expect sRGB: wide-gamut inputs are converted for pipelines with one.
        self.srgb = any("model" in step.fields for step in pipeline.steps)

    def process(self, item: WorkItem, proceed: Callable[[], bool] | None = None) -> ItemResult:
        """Read, filter and write ``item``; never raises for a problem of the input.
        ``proceed``, asked before writing: False when the batch has stopped meanwhile
        (nothing is written then, so no write can start after a stop)."""
        started = time.perf_counter()
        with pixel_limit(self.options.max_pixels):
            try:
                frame = self.read(item)
            except Exception as exc:  # ImageReadError; anything else is a bug, still per file
                return failure(exc, item, time.perf_counter() - started)
            result = self.apply_steps(item, frame)
            if isinstance(result, str):
                return ItemResult("failed", result, seconds=time.perf_counter() - started)
            if proceed is not None and not proceed():
                return ItemResult("failed", STOPPED, seconds=time.perf_counter() - started)
            try:
                self.write(item, result)
            except Exception as exc:  # ImageWriteError; anything else is a bug, still per file
                return failure(exc, item, time.perf_counter() - started)
        return ItemResult("done", None, item.output, time.perf_counter() - started)

    def read(self, item: WorkItem) -> Frame:
        """The input decoded (raises :class:`~stylepipe.errors.ImageReadError`)."""
        return read_image(item.source, max_pixels=self.options.max_pixels, srgb=self.srgb)

    def apply_steps(self, item: WorkItem, frame: Frame) -> Frame | str:
        """The steps run in order: the result, or the one-line reason of the step that
        failed (a failing step fails this input only)."""
        for step in self.pipeline.steps:
            where = f"step {step.index} ({step.name})"
            try:
                result = step.filter.apply(frame)
            except StylepipeError as exc:
                return f"{where}: {reason(exc, item)}"
            except Exception as exc:  # a filter bug must not end the whole batch
                return f"{where} crashed: {type(exc).__name__}: {exc}"
            if not isinstance(result, Frame):
                return f"{where} returned {type(result).__name__}, not a Frame"
            frame = result
        return frame

    def write(self, item: WorkItem, frame: Frame) -> None:
        """Write ``frame`` to ``item.output`` atomically, with the provenance note
        (raises :class:`~stylepipe.errors.ImageWriteError`)."""
        output = self.pipeline.output
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


def failure(exc: BaseException, item: WorkItem, seconds: float) -> ItemResult:
    """The failed result for an exception of reading or writing ``item``; a full or
    read-only output disk also stops the batch (every later write would fail too)."""
    stop = f"{exc.headline} ({exc.hint})" if isinstance(exc, StorageFullError) else None
    return ItemResult("failed", reason(exc, item), seconds=seconds, stop=stop)


def reason(exc: BaseException, item: WorkItem) -> str:
    """A one-line reason without the input's path (the summary shows it beside)."""
    text = str(exc) if isinstance(exc, StylepipeError) else f"{type(exc).__name__}: {exc}"
    text = text.removeprefix(f"{item.source}: ")
    return " ".join(text.split())
