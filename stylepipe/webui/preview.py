"""The live preview: the page's pipeline on a small version of the photo, fast.
:mod:`~stylepipe.webui.planning` decides what a preview computes (the whole photo or a
100 % crop), :mod:`~stylepipe.webui.photo` holds the dropped photo and the view; this
module runs the plans and serves them.

One worker thread computes previews, one at a time. A new request replaces the one
waiting (which ends as :class:`Superseded`), so a moving slider never queues stale work.
The worker takes the ``busy`` lock that a running render or batch holds for its whole
run: while one runs, the preview pauses (:class:`PreviewPaused`) instead of taking the
processor's threads from it. Set-up filters (their models loaded) are kept for the next
request; parameters that only ``apply`` reads (:data:`LIVE_PARAMS`) change on a kept
filter without a new set-up.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from stylepipe.errors import StylepipeError
from stylepipe.filters import FilterContext, FilterParams, RuntimeOptions
from stylepipe.imaging.frame import Frame
from stylepipe.webui.photo import Photo, View, png
from stylepipe.webui.planning import Plan, plan, step_scale

if TYPE_CHECKING:
    from stylepipe.filters import Filter
    from stylepipe.pipeline import Pipeline, Step
    from stylepipe.plugins import Catalog

LIVE_PARAMS = frozenset({"strength", "preserve_color", "work_size", "match_histogram"})
"""Parameters the built-in filters read in ``apply`` only: a kept filter takes new values."""
KEPT_FILTERS = 4


class Superseded(Exception):
    """A newer preview request replaced this one before it started."""


class PreviewPaused(StylepipeError):
    """A render or batch is running: the preview waits for it."""


@dataclass(frozen=True)
class PreviewResult:
    """A preview (or the matching "before"), as PNG bytes, with what the page shows
    beside it: the crop's box, notes on what differs from the render, seconds taken."""

    png: bytes
    width: int
    height: int
    box: tuple[float, ...] | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def headers(self) -> dict[str, str]:
        info = {"box": self.box, "notes": list(self.notes), "seconds": round(self.seconds, 3)}
        return {"x-preview": json.dumps(info)}


class FilterCache:
    """Set-up filters (models loaded) by step, keeping the last :data:`KEPT_FILTERS`."""

    def __init__(self, catalog: Catalog, select_device: Callable[..., Any] | None) -> None:
        self.catalog, self.select_device = catalog, select_device
        self._kept: OrderedDict[tuple[str, ...], Filter] = OrderedDict()

    def get(self, step: Step, runtime: RuntimeOptions, warn: Callable[[str], None]) -> Filter:
        setup = {k: v for k, v in step.raw.items() if k not in LIVE_PARAMS}
        key = (step.name, json.dumps(setup, sort_keys=True), runtime.device, runtime.precision)
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        instance = type(step.filter)(step.filter.params)
        ctx = FilterContext(runtime, self.catalog, warn=warn, select_device=self.select_device)
        instance.setup(ctx)
        self._kept[key] = instance
        while len(self._kept) > KEPT_FILTERS:
            self._kept.popitem(last=False)
        return instance


def run_plan(cache: FilterCache, pipeline: Pipeline, planned: Plan) -> PreviewResult:
    """Run the planned steps with kept filters; the result as PNG."""
    started = time.perf_counter()
    notes = list(planned.notes)
    # small: no tiling; never compiled (a preview would wait tens of seconds for it)
    runtime = dataclasses.replace(pipeline.runtime, tile=0, compile=False)

    def run(frame: Frame, steps: list[tuple[Step, FilterParams]]) -> Frame:
        for step, params in steps:
            instance = cache.get(step, runtime, notes.append)
            instance.params = params
            frame = instance.apply(frame)
        return frame

    frame = run(planned.frame, planned.steps)
    if planned.box is not None:
        frame = run(planned.box.cut(frame), planned.after_crop)
    box = planned.box.fractions if planned.box else None
    seconds = time.perf_counter() - started
    return PreviewResult(png(frame), frame.width, frame.height, box, tuple(notes), seconds)


def before(pipeline: Pipeline, photo: Photo, view: View) -> PreviewResult:
    """The "before" half of the split view, the same size as the preview: the fitted
    photo, or the crop enlarged (bicubic) by the steps' scale."""
    planned = plan(pipeline, photo, view)
    if planned.box is None:
        frame = planned.frame
        return PreviewResult(png(frame), frame.width, frame.height)
    frame = planned.box.cut(photo.frame)
    total = math.prod(step_scale(s) for s, _ in planned.after_crop)
    if total > 1:
        size = (frame.width * total, frame.height * total)
        frame = Frame.from_pil(frame.to_pil().resize(size, Image.Resampling.BICUBIC))
    return PreviewResult(png(frame), frame.width, frame.height, planned.box.fractions)


@dataclass(frozen=True)
class PreviewRequest:
    photo: Photo
    pipeline: Pipeline
    view: View


class Previewer:
    """The preview worker (see the module docs)."""

    def __init__(
        self, catalog: Catalog, select_device: Callable[..., Any] | None, busy: threading.Lock
    ) -> None:
        self.cache = FilterCache(catalog, select_device)
        self.busy = busy
        self._cond = threading.Condition()
        self._pending: tuple[PreviewRequest, Future[PreviewResult]] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, request: PreviewRequest) -> Future[PreviewResult]:
        """Queue ``request`` in place of any waiting one; its result comes in the future."""
        future: Future[PreviewResult] = Future()
        with self._cond:
            if self._pending is not None:
                self._pending[1].set_exception(Superseded())
            self._pending = (request, future)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="stylepipe-preview", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                assert self._pending is not None
                request, future = self._pending
                self._pending = None
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self._compute(request))
                except BaseException as exc:  # handed to the request, which reports it
                    future.set_exception(exc)

    def _compute(self, request: PreviewRequest) -> PreviewResult:
        if not self.busy.acquire(blocking=False):
            raise PreviewPaused(
                "the preview waits while a render or batch runs",
                hint="it comes back when the run ends or is cancelled",
            )
        try:
            planned = plan(request.pipeline, request.photo, request.view)
            return run_plan(self.cache, request.pipeline, planned)
        finally:
            self.busy.release()
