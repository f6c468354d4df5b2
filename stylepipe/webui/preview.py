"""The live preview: the page's pipeline on a small version of the photo, fast.

Two views. **Whole photo**: the photo fitted in ``size`` pixels (256 to 512), through
the ``style`` steps; a style's ``work_size`` is kept (so the strokes have the size they
will have in the full render) as long as it is not larger than the preview: the network
never runs on more pixels than the page shows, and the preview says when its strokes
are coarser than the render's. ``upscale`` steps are left to the other view.
**100 % crop**: a square of the photo, sized so that after every ``upscale`` step it
fills ``size`` pixels, through the ``style`` and ``upscale`` steps, so strokes and
upscaled pixels are those of the full render. A style before the upscale runs on the
whole photo at its work size when that is at most :data:`CONTEXT` pixels (as in
the render), then the crop is cut; otherwise it runs on the crop with its ``work_size``
scaled to it (the network's normalisation then sees the crop, not the whole photo:
colours may differ a little, and the preview says so). Other steps (resize,
sharpen...) run in the render and the batch only; the preview names them.

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
import io
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image

from stylepipe.errors import ImageReadError, StylepipeError, UsageError
from stylepipe.filters import FilterContext, FilterParams, RuntimeOptions, param, parse_params
from stylepipe.imaging.formats import is_image_name
from stylepipe.imaging.frame import Frame

if TYPE_CHECKING:
    from stylepipe.filters import Filter
    from stylepipe.pipeline import Pipeline, Step
    from stylepipe.plugins import Catalog

PREVIEW_SIZES = (256, 384, 512)
DEFAULT_SIZE = 384
MIN_WORK = 16
"""The smallest ``work_size`` the style filter takes (other than 0)."""
PREVIEWED = ("style", "upscale")
LIVE_PARAMS = frozenset({"strength", "preserve_color", "work_size", "match_histogram"})
"""Parameters the built-in filters read in ``apply`` only: a kept filter takes new values."""
KEPT_FILTERS = 4


class Superseded(Exception):
    """A newer preview request replaced this one before it started."""


class PreviewPaused(StylepipeError):
    """A render or batch is running: the preview waits for it."""


@dataclass(frozen=True)
class _ViewParams(FilterParams):
    mode: str = param("whole", help="whole photo or 100% crop", choices=("whole", "crop"))
    size: int = param(DEFAULT_SIZE, help="preview pixels", choices=PREVIEW_SIZES)
    x: float = param(0.5, help="crop centre, fraction of the width", min=0.0, max=1.0)
    y: float = param(0.5, help="crop centre, fraction of the height", min=0.0, max=1.0)


@dataclass(frozen=True)
class View:
    """How to preview: ``whole`` or ``crop``, ``size`` in pixels, crop centre ``x``, ``y``."""

    mode: str = "whole"
    size: int = DEFAULT_SIZE
    x: float = 0.5
    y: float = 0.5

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> View:
        """Checked like filter parameters: :class:`ParamError` names the key."""
        return cls(**dataclasses.asdict(parse_params(_ViewParams, dict(raw or {}))))


@dataclass(eq=False)
class Photo:
    """The photo on the page, decoded once (orientation applied, in sRGB)."""

    name: str
    path: Path
    frame: Frame
    _fitted: dict[int, Frame] = field(default_factory=dict)

    @property
    def longest(self) -> int:
        return max(self.frame.size)

    def fitted(self, longest: int) -> Frame:
        """The photo with its longest side at most ``longest`` pixels (kept per size)."""
        if longest >= self.longest:
            return self.frame
        if longest not in self._fitted:
            w, h = self.frame.size
            scale = longest / max(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            self._fitted[longest] = resize(self.frame, size)
        return self._fitted[longest]

    def box(self, x: float, y: float, side: int) -> Box:
        """A ``side`` square (smaller on a smaller photo) centred near (``x``, ``y``)."""
        w, h = self.frame.size
        cw, ch = min(side, w), min(side, h)
        left = min(max(round(x * w - cw / 2), 0), w - cw)
        top = min(max(round(y * h - ch / 2), 0), h - ch)
        return Box(left, top, cw, ch, w, h)


@dataclass(frozen=True)
class Box:
    """A crop of the photo in its own pixels, and the photo's size."""

    left: int
    top: int
    width: int
    height: int
    photo_width: int
    photo_height: int

    @property
    def fractions(self) -> tuple[float, ...]:
        """(left, top, width, height) as fractions of the photo, for the page."""
        w, h = self.photo_width, self.photo_height
        return self.left / w, self.top / h, self.width / w, self.height / h

    def cut(self, frame: Frame) -> Frame:
        """This box of ``frame``: the photo itself, or the photo at another size (then
        resized, bicubic, to the box's size in the photo's pixels)."""
        if frame.size == (self.photo_width, self.photo_height):
            rows = slice(self.top, self.top + self.height)
            columns = slice(self.left, self.left + self.width)
            alpha = None if frame.alpha is None else frame.alpha[rows, columns]
            return frame.replace(
                pixels=np.ascontiguousarray(frame.pixels[rows, columns]),
                alpha=None if alpha is None else np.ascontiguousarray(alpha),
            )
        fx, fy = frame.width / self.photo_width, frame.height / self.photo_height
        region = (self.left * fx, self.top * fy, (self.left + self.width) * fx,
                  (self.top + self.height) * fy)  # fmt: skip
        size = (self.width, self.height)
        image = frame.to_pil().resize(size, Image.Resampling.BICUBIC, box=region)
        return Frame.from_pil(image, metadata=frame.metadata)


def read_photo(data: bytes, name: str, folder: Path) -> Photo:
    """Decode a dropped photo: written to ``folder`` (the server's own), then read like
    an input of ``run``. Errors name the photo, never the folder."""
    from stylepipe.imaging.read import read_image

    clean = Path(name.replace("\\", "/")).name.strip()
    if not clean or clean.startswith(".") or not is_image_name(Path(clean)):
        raise UsageError(
            f"{clean or 'the file'} is not an image file stylepipe reads",
            hint="drop a .jpg, .png, .webp, .tif, .heic or camera RAW file",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / clean
    path.write_bytes(data)
    try:
        frame = read_image(path, srgb=True)
    except ImageReadError as exc:
        raise ImageReadError(exc.message.replace(str(path), clean), hint=exc.hint) from None
    return Photo(clean, path, frame)


def resize(frame: Frame, size: tuple[int, int]) -> Frame:
    """``frame`` resized to ``size`` (width, height) in 8 bits: enough for a preview."""
    image = frame.to_pil().resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return Frame.from_pil(image, metadata=frame.metadata)


def png(frame: Frame) -> bytes:
    buffer = io.BytesIO()
    frame.to_pil().save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


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


@dataclass(frozen=True)
class Plan:
    """What one preview runs: the input frame, the steps run on it (each with the
    parameters it runs with), the crop cut from their result (``None``: no crop), the
    steps run on the crop, and the notes."""

    frame: Frame
    steps: list[tuple[Step, FilterParams]]
    box: Box | None = None
    after_crop: list[tuple[Step, FilterParams]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


CONTEXT = 512
"""In the crop view, a style that sees the photo at this many pixels or fewer runs on
the whole photo before the crop is cut (as in the render); above, on the crop alone."""


def plan(pipeline: Pipeline, photo: Photo, view: View) -> Plan:
    """The preview of ``pipeline`` on ``photo`` as ``view`` asks (see the module docs)."""
    others = [s for s in pipeline.steps if s.name not in PREVIEWED]
    notes = [f"not in the preview (the render and batch run it): {_label(s)}" for s in others]
    if view.mode == "crop":
        return _crop_plan(pipeline, photo, view, notes)
    frame = photo.fitted(view.size)
    steps, full = [], photo.longest
    for step in pipeline.steps:
        if step.name == "upscale":
            notes.append(f"{_label(step)}: shown in the 100% crop view")
            full *= step_scale(step)
        elif step.name in PREVIEWED:
            current = max(frame.size)
            work, coarse = whole_work(_work_size(step), full, current)
            if coarse:
                notes.append(
                    f"{step.name}: strokes as at work_size={current} here; the render uses "
                    f"{_work_size(step) or full} (the 100% crop shows them as rendered)"
                )
            steps.append((step, _with_work(step, work)))
    return Plan(frame, steps, notes=notes)


def _crop_plan(pipeline: Pipeline, photo: Photo, view: View, notes: list[str]) -> Plan:
    """The leading style steps on the whole photo at their work size when it is small
    enough (:data:`CONTEXT`), then the crop, then the other steps on the crop."""
    chosen = [s for s in pipeline.steps if s.name in PREVIEWED]
    total = math.prod(step_scale(s) for s in chosen)
    box = photo.box(view.x, view.y, max(1, math.ceil(view.size / total)))
    lead = 0
    while lead < len(chosen) and chosen[lead].name != "upscale":
        lead += 1
    sizes = {_work_size(s) or photo.longest for s in chosen[:lead]}
    if lead and len(sizes) == 1 and (context := sizes.pop()) <= CONTEXT:
        frame = photo.fitted(context)
        steps = [(s, _with_work(s, 0)) for s in chosen[:lead]]
        return Plan(frame, steps, box, _on_crop(chosen[lead:], photo, box, notes), notes)
    if lead:
        notes.append("style: run on the crop alone, so its colours may differ a little")
    return Plan(photo.frame, [], box, _on_crop(chosen, photo, box, notes), notes)


def _on_crop(
    steps: list[Step], photo: Photo, box: Box, notes: list[str]
) -> list[tuple[Step, FilterParams]]:
    """The steps that run on the crop; a style's ``work_size`` scaled to it."""
    planned = []
    for step in steps:  # an earlier upscale scales the crop and the render alike
        work, small = crop_work(_work_size(step), photo.longest, max(box.width, box.height))
        if small:
            notes.append(f"{step.name}: work_size is below {MIN_WORK} pixels on this crop")
        planned.append((step, _with_work(step, work)))
    return planned


def whole_work(work_size: int, full: int, current: int) -> tuple[int, bool]:
    """The ``work_size`` a style step runs with on the whole-photo preview (the photo's
    longest side is ``full`` in the render and ``current`` here), and whether it had to
    be capped at ``current`` (coarser strokes than the render)."""
    target = work_size or full
    if target >= current:
        return 0, target > current
    return target, False


def crop_work(work_size: int, full: int, current: int) -> tuple[int, bool]:
    """The ``work_size`` on a crop whose longest side is ``current`` pixels of a photo of
    ``full``: the render's scale kept; and whether it fell below :data:`MIN_WORK`."""
    if not work_size:
        return 0, False
    work = round(current * work_size / full)
    return (MIN_WORK, True) if work < MIN_WORK else (work, False)


def step_scale(step: Step) -> int:
    """How many times larger a step makes the image (its ``{scale}`` name field)."""
    return int(step.fields.get("scale", "1"))


def _work_size(step: Step) -> int:
    return int(getattr(step.filter.params, "work_size", 0) or 0)


def _with_work(step: Step, work: int) -> FilterParams:
    params = step.filter.params
    if not hasattr(params, "work_size"):
        return params
    changed: FilterParams = dataclasses.replace(cast(Any, params), work_size=work)
    return changed


def _label(step: Step) -> str:
    from stylepipe.pipeline import describe_step

    return describe_step(step)


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
