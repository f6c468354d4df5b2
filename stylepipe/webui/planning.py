"""What a live preview computes: :func:`plan` turns the page's pipeline, the photo and
the view into a :class:`Plan` (the steps to run, with their parameters, and the crop);
:mod:`~stylepipe.webui.preview` runs it.

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
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from stylepipe.filters import FilterParams
from stylepipe.imaging.frame import Frame
from stylepipe.webui.photo import Box, Photo, View

if TYPE_CHECKING:
    from stylepipe.pipeline import Pipeline, Step

MIN_WORK = 16
"""The smallest ``work_size`` the style filter takes (other than 0)."""
PREVIEWED = ("style", "upscale")


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
