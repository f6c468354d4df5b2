"""One attempt at tiled inference over a whole image, with one tile side.

:func:`run_job` picks the strategy for the image (see :mod:`stylepipe.tiling.run` for the
modes and their costs) and runs it with the sweeps of :mod:`stylepipe.tiling.sweep`:

* one tile, or a network without instance norm: a plain sweep that writes the output
  (one tile with ``compile``: through the compiled network, see
  :mod:`stylepipe.tiling.compiled`, or eagerly once compiling failed);
* ``mode="exact"`` with :class:`~stylepipe.tiling.plan.TileSegment` s whose activations fit
  the job's ``cache_budget``: segment by segment, each one's statistics sweeps and then
  its output kept on the host (in place for residual segments) for the next;
* ``mode="exact"`` otherwise: streaming, one statistics sweep of the whole network per
  instance-norm layer, then the output sweep;
* ``mode="approx"``: the statistics of every layer from one pass over an area-downscaled
  copy (longest side at most :data:`APPROX_SIDE` or the tile side, whichever is larger),
  then the output sweep.

Running out of memory is left to the caller, which retries with smaller tiles.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import torch

from stylepipe.errors import ModelError
from stylepipe.tiling.compiled import CompileFailed, compile_failed, compiled_forward
from stylepipe.tiling.globalnorm import GlobalNorm, untileable_layers
from stylepipe.tiling.heap import release_heap
from stylepipe.tiling.io import Sink, TensorSource, TileSource
from stylepipe.tiling.plan import Tile, TileSegment, align_down, align_up, plan_tiles
from stylepipe.tiling.sweep import Runner, Stage, measure, write_sink, write_tensor

if TYPE_CHECKING:
    from stylepipe.tiling.policy import TilingPolicy

__all__ = ["APPROX_SIDE", "TileJob", "downscale", "run_job"]

APPROX_SIDE = 512
"""Longest side of the downscaled copy that ``mode="approx"`` takes statistics from."""


def _ignore(message: str) -> None:
    """Default ``warn`` of a job: drop the message."""


@dataclass(frozen=True)
class TileJob:
    """One image: what to run, on what, and how."""

    runner: Runner
    source: TileSource
    policy: TilingPolicy
    sink: Sink
    mode: str
    overlap: int
    cache_budget: float
    cache_limit: float | None = None
    """Where no cut fits ``cache_budget``: the most host memory the leanest cut may take
    instead of falling back to streaming (``None``: ``cache_budget``)."""
    compile: bool = False
    """Run a one-tile (whole-frame) pass through ``torch.compile`` (see
    :mod:`stylepipe.tiling.compiled`); more tiles always run eagerly."""
    warn: Callable[[str], None] = _ignore


def run_job(job: TileJob, side: int) -> None:
    """One try at the whole image with tiles of ``side`` input pixels."""
    net, policy = job.runner.net, job.policy
    whole = TileSegment(net, net, (policy.scale, 1), policy.multiple, policy.halo, 3)
    tiles = _plan(whole, job.source.size, side, job.overlap)
    if len(tiles) == 1 and job.compile:
        try:
            forward = compiled_forward(job.runner)  # None once compiling failed
            if forward is not None:  # outside GlobalNorm: plain instance norm, whole frame
                stage = Stage(forward, net, job.source, tiles, Fraction(policy.scale))
                write_sink(stage, job.runner, job.source.size, job.sink)
                return
        except CompileFailed as exc:  # nothing reached the sink: run it eagerly below
            compile_failed(job.runner, exc.reason, job.warn)
    _run_eager(job, tiles, side)


def _run_eager(job: TileJob, tiles: list[Tile], side: int) -> None:
    """The image in ``tiles`` (of ``side`` pixels) by the strategies of the module doc."""
    net, policy = job.runner.net, job.policy
    norm = GlobalNorm(net)
    with norm:
        if len(tiles) == 1 or not norm.layers:
            norm.mode = "local"  # one tile is the whole frame: plain instance norm
        elif untileable_layers(net):
            raise ModelError(
                "the network has layers with whole-image state that tiles cannot share: "
                + ", ".join(untileable_layers(net)),
                hint="use a tile size no smaller than the image (--tile 0)",
            )
        elif job.mode == "approx":
            _record_downscaled(job, norm, side)
        else:
            segments = _segments(job, side)
            if segments is not None:
                _run_segments(job, norm, segments)
                return
        stage = Stage(net, net, job.source, tiles, Fraction(policy.scale))
        if norm.mode != "local":
            measure(stage, norm, job.runner)
        write_sink(stage, job.runner, job.source.size, job.sink)


def _plan(seg: TileSegment, size: tuple[int, int], side: int, overlap: int) -> list[Tile]:
    return plan_tiles(*size, side, halo=seg.halo, multiple=seg.multiple, overlap=overlap)


Planned = list[tuple[TileSegment, int, bool]]
"""Segments with each one's tile side and whether it writes in place."""


def _segments(job: TileJob, side: int) -> Planned | None:
    """The network's segments with each one's tile side and whether it writes in place,
    if it has segments and the activations kept between them fit ``cache_budget``: the
    network's default cut, else the first of its leaner ones that fits
    (``tiling_segments(lean=1)``, ``lean=2`` ... until ``None``, where the network takes
    ``lean``: fewer activations kept, more recomputed), else the leanest if it fits
    ``cache_limit``."""
    segments = getattr(job.runner.net, "tiling_segments", None)
    if segments is None:
        return None
    cuts = [segments()]
    if "lean" in inspect.signature(segments).parameters:
        while (leaner := segments(lean=len(cuts))) is not None:
            cuts.append(leaner)
    for cut in cuts:
        planned, peak = _simulate(job, side, cut)
        if peak <= job.cache_budget:
            return planned
    # the leanest cut above the budget still beats streaming (several times the work)
    return planned if job.cache_limit is not None and peak <= job.cache_limit else None


def _simulate(job: TileJob, side: int, listed: list[TileSegment]) -> tuple[Planned, int]:
    """Plan ``listed`` and add up the host memory its activations hold at their peak,
    taking and freeing buffers exactly as :func:`_run_segments` does."""
    itemsize = torch.empty((), dtype=job.runner.activation_dtype).element_size()
    (h, w), rate = job.source.size, Fraction(1)
    planned: Planned = []
    current: tuple[int, ...] = ()  # the input's shape if it is an activation we hold
    kept: dict[str, tuple[int, ...]] = {}
    spare: list[tuple[int, ...]] = []
    peak = 0

    def size(shape: tuple[int, ...]) -> int:
        return math.prod(shape) * itemsize if shape else 0

    for i, seg in enumerate(listed):
        seg_side = align_down(int(side * rate), seg.multiple)
        cores = _plan(seg, (h, w), seg_side, 0)
        halo = align_up(seg.halo, seg.multiple)
        in_place = seg.residual and bool(current) and seg.keep is None
        in_place = in_place and halo <= _min_core(cores)
        scale = Fraction(*seg.scale)
        h, w, rate = int(h * scale), int(w * scale), rate * scale
        skip = _pop_kept(kept, seg)
        if seg.keep is not None:
            kept[seg.keep] = current
        shape: tuple[int, ...] = ()
        if not in_place and i + 1 < len(listed):
            shape = (seg.channels, h, w)
            if shape in spare:
                spare.remove(shape)
            else:
                spare.clear()
        if i + 1 == len(listed):
            spare.clear()
        held = size(current) * (seg.keep is None) + sum(map(size, kept.values()))
        peak = max(peak, held + size(skip) + sum(map(size, spare)) + size(shape))
        if skip:
            spare.append(skip)
        if not in_place and seg.keep is None and current:
            spare.append(current)
        current = current if in_place else shape
        planned.append((seg, seg_side, in_place))
    return planned, peak


def _pop_kept(kept: dict[str, Any], seg: TileSegment) -> Any:
    if seg.skip is None:
        return ()
    if seg.skip not in kept:
        raise ModelError(f"a tiling segment reads {seg.skip!r}, which no earlier one keeps")
    return kept.pop(seg.skip)


def _min_core(tiles: list[Tile]) -> int:
    return min(min(t.ys.core[1] - t.ys.core[0], t.xs.core[1] - t.xs.core[0]) for t in tiles)


def _run_segments(job: TileJob, norm: GlobalNorm, segments: Planned) -> None:
    """Segment after segment: its statistics sweeps, then its output kept on the host
    (in place for residual segments) for the next; the last one writes to the sink.
    A freed activation of the right shape is reused for the next output."""
    source: TileSource = job.source
    size, rate = job.source.size, Fraction(1)
    kept: dict[str, TileSource] = {}
    spare: list[torch.Tensor] = []
    owned: set[int] = set()  # ids of the activations allocated here (never the image)
    fmt = torch.channels_last if job.runner.channels_last else torch.contiguous_format
    for i, (seg, seg_side, in_place) in enumerate(segments):
        last = i + 1 == len(segments)
        overlap = align_down(int(job.overlap * rate), seg.multiple) if last else 0
        skip = _pop_kept(kept, seg) or None
        if seg.keep is not None:
            kept[seg.keep] = source
        stage = Stage(
            seg.forward,
            seg.module,
            source,
            _plan(seg, size, seg_side, overlap),
            Fraction(*seg.scale),
            skip,
        )
        measure(stage, norm, job.runner)
        if last:
            spare.clear()
            write_sink(stage, job.runner, size, job.sink)
            return
        size = (stage.out(size[0]), stage.out(size[1]))
        rate *= stage.scale
        if in_place:
            dst = source.image  # type: ignore[attr-defined]
        else:
            shape = (1, seg.channels, *size)
            dst = _take(spare, shape, job.runner.activation_dtype, fmt)
            if dst is None:
                spare.clear()
                release_heap()  # the sweeps' freed temporaries, before a whole-image block
                dst = torch.empty(shape, dtype=job.runner.activation_dtype, memory_format=fmt)
                owned.add(id(dst))
        write_tensor(stage, job.runner, dst, align_up(seg.halo, seg.multiple) if in_place else 0)
        freed = [skip] if skip is not None else []
        if not in_place and seg.keep is None:
            freed.append(source)
        spare += [s.image for s in freed if id(getattr(s, "image", None)) in owned]
        source = TensorSource(dst)


def _take(
    spare: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype, fmt: torch.memory_format
) -> torch.Tensor | None:
    """A spare tensor of ``shape``, ``dtype`` and layout ``fmt``, removed from ``spare``."""
    for i, t in enumerate(spare):
        if tuple(t.shape) == shape and t.dtype == dtype and t.is_contiguous(memory_format=fmt):
            return spare.pop(i)
    return None


def _record_downscaled(job: TileJob, norm: GlobalNorm, side: int) -> None:
    """Statistics of every layer from one pass over an area-downscaled copy."""
    height, width = job.source.size
    factor = max(1, math.ceil(max(height, width) / max(APPROX_SIDE, side)))
    small = downscale(job.source, factor, job.policy.multiple)
    norm.mode = "record"
    try:
        job.runner(job.runner.net, small)
    finally:
        norm.mode = "apply"


def downscale(source: TileSource, factor: int, multiple: int = 1) -> torch.Tensor:
    """Box-filter ``source`` by an integer ``factor``, a band of rows at a time; sides
    cropped to multiples of ``multiple`` (the last pixels only, never more than needed)."""
    height, width = source.size
    if factor == 1:
        return source.read(0, height, 0, width).float()
    rows_out = height // factor
    step = max(1, 4_000_000 // (3 * width * factor))  # output rows per band: ~48 MB read
    bands = []
    for r in range(0, rows_out, step):
        stop = min(rows_out, r + step)
        x = source.read(r * factor, stop * factor, 0, width // factor * factor).float()
        bands.append(torch.nn.functional.avg_pool2d(x, factor))
    small = torch.cat(bands, dim=2)
    h, w = small.shape[2] // multiple * multiple, small.shape[3] // multiple * multiple
    return small[:, :, : max(h, multiple), : max(w, multiple)]
