"""Exact, memory-bounded tiled inference.

:func:`run_tiled` runs a network over an image tile by tile and returns what the network
gives on the whole frame, to float rounding: each tile reads a halo of context (the
receptive-field radius of the architecture's :class:`~stylepipe.tiling.policy.TilingPolicy`),
tile origins sit on the network's stride grid, only each tile's exact centre is kept,
and overlaps are mixed with smooth ramps (:mod:`stylepipe.tiling.plan`). Networks with
instance normalisation get whole-image statistics (:mod:`stylepipe.tiling.globalnorm`):

``mode="exact"``, network with :class:`TileSegment` s (the style network)
    segment by segment (encoder, each residual block, decoder): one sweep per
    instance-norm layer of the segment measures its statistics, a last sweep writes the
    segment's output into a host tensor (residual blocks in place) that the next
    segment reads. Used when that tensor fits ``cache_budget`` (the stride-4 trunk:
    8 values per input pixel at the paper's width). About 2.5x the arithmetic of one
    pass; measured 3.8-4.3x the time of a whole-frame pass at 1024x1024.
``mode="exact"``, otherwise
    streaming: one sweep of the whole network per instance-norm layer (stopping at that
    layer), then the output sweep. Host memory: one tile and one band of output.
    About ``n_layers / 2`` times the arithmetic of one pass (10-15x measured).
``mode="approx"``
    the statistics of every layer come from one pass over an area-downscaled copy of the
    image, then one tiled sweep writes the output: one pass of work, not exact (on a
    trained style network measured far from exact: see benchmarks/inference.py).

One tile (``tile=0`` or a tile no smaller than the image) is a plain full-frame pass,
through ``torch.compile`` when ``compile`` asks (:mod:`stylepipe.tiling.compiled`).
:func:`run_tiled_stream` is the same engine reading from a :class:`TileSource` and writing
bands to a sink, so huge images never exist in float32 (see :mod:`stylepipe.tiling.io`).
On the CPU, freed activations are reused instead of new memory faulted in for every
layer (:func:`stylepipe.tiling.heap.reuse_freed_memory`). Out of memory, the tile halves
and the image starts again (a warning says so); below
:data:`MIN_TILE` pixels :class:`~stylepipe.errors.TileOutOfMemory` is raised. A reduced
``autocast_dtype`` on the CPU runs a cached copy of the network with weights in that
type instead of autocast (see :class:`stylepipe.tiling.sweep.Runner`).

This module holds the entry points, the automatic tile size (:func:`choose_tile`) and
the out-of-memory back-off; one attempt at the image with one tile side, in the mode's
strategy, is :func:`stylepipe.tiling.job.run_job`.
"""

from __future__ import annotations

import gc
import math
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from stylepipe.errors import TileOutOfMemory, UsageError
from stylepipe.tiling.heap import reuse_freed_memory
from stylepipe.tiling.io import ArraySink, ArraySource, Sink, TensorSource, TileSource
from stylepipe.tiling.job import TileJob, run_job
from stylepipe.tiling.plan import TileSegment, align_down, align_up, plan_tiles, tile_weights
from stylepipe.tiling.sweep import Runner, is_out_of_memory

if TYPE_CHECKING:
    from stylepipe.tiling.policy import TilingPolicy

__all__ = [
    "MIN_TILE",
    "MODES",
    "ArraySink",
    "ArraySource",
    "TensorSource",
    "TileSegment",
    "TileSource",
    "choose_tile",
    "is_out_of_memory",
    "plan_tiles",
    "run_tiled",
    "run_tiled_stream",
    "tile_weights",
]

MODES = ("exact", "approx")
MIN_TILE = 16
"""Smallest tile side (input pixels) the out-of-memory back-off tries."""
DEFAULT_OVERLAP = 8
"""Blend band half width in input pixels (rounded to the size multiple)."""
CPU_TILE_CAP = 1024
"""Largest automatic tile on the CPU. The style network's 64-pixel halo then costs 27%
when streaming and its segments' 8-pixel halo 3%, while larger tiles only add working
memory on top of the host memory a huge image already needs."""


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def run_tiled(
    net: nn.Module,
    image: torch.Tensor,
    policy: TilingPolicy,
    *,
    tile: int | None,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    warn: Callable[[str], None] = _warn,
    mode: str = "exact",
    overlap: int = DEFAULT_OVERLAP,
    cache_budget: float | None = None,
    compile: bool = False,
) -> torch.Tensor:
    """Run ``net`` over ``image`` in tiles; the result equals the full-frame output.

    ``image``: float32 ``(1, 3, H, W)`` on the CPU, sides multiples of
    ``policy.multiple``, in the network's input range. Returns float32
    ``(1, C, H * scale, W * scale)`` on the CPU, unclamped. ``tile``: input pixels per
    tile side; ``None`` picks one from free memory (:func:`choose_tile`), ``0`` or one no
    smaller than the image runs the whole frame at once. ``autocast_dtype`` runs under
    ``torch.autocast``. ``mode``: ``"exact"`` or ``"approx"`` (module doc).
    ``overlap``, ``cache_budget`` and ``compile``: see :func:`run_tiled_stream`.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"run_tiled takes one (1, 3, H, W) image, got {tuple(image.shape)}")
    h, w = int(image.shape[2]), int(image.shape[3])
    s = policy.scale
    result: list[torch.Tensor] = []

    def sink(top: int, band: torch.Tensor) -> None:
        if not result:
            result.append(torch.empty(1, band.shape[1], h * s, w * s))
        result[0][:, :, top : top + band.shape[2]] = band

    run_tiled_stream(
        net, TensorSource(image), policy, sink,
        tile=tile, device=device, autocast_dtype=autocast_dtype, warn=warn, mode=mode,
        overlap=overlap, cache_budget=cache_budget, compile=compile,
    )  # fmt: skip
    return result[0]


def run_tiled_stream(
    net: nn.Module,
    source: TileSource,
    policy: TilingPolicy,
    sink: Sink,
    *,
    tile: int | None,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    warn: Callable[[str], None] = _warn,
    mode: str = "exact",
    overlap: int = DEFAULT_OVERLAP,
    cache_budget: float | None = None,
    compile: bool = False,
) -> None:
    """:func:`run_tiled` reading regions from ``source`` and giving the output to ``sink``
    band by band, top to bottom (see :data:`stylepipe.tiling.io.Sink`): host memory stays
    at one band of output plus what the tiles need, whatever the image size, plus, for
    exact instance norm in a network with :class:`TileSegment` s, the trunk activations
    when they fit ``cache_budget`` bytes (default: :func:`_cache_budget`, or where
    only the network's leanest cut fits in more, :func:`_cache_limit`). ``compile``: a
    one-tile (whole-frame) pass runs through ``torch.compile``, compiled once per network
    and type; where compiling fails it runs eagerly, with one warning through ``warn``
    (:mod:`stylepipe.tiling.compiled`). Tiled passes always run eagerly."""
    if mode not in MODES:
        raise UsageError(f"unknown tiling mode {mode!r}", hint="use exact or approx")
    height, width = source.size
    m = policy.multiple
    if height % m or width % m:
        raise ValueError(f"image {width}x{height} is not padded to a multiple of {m}")
    runner = Runner(net, torch.device(device), autocast_dtype)
    if tile is None:
        tile = choose_tile(net, policy, (height, width), runner.device, autocast_dtype)
    side = max(height, width) if tile <= 0 or tile >= max(height, width) else align_down(tile, m)
    budget = _cache_budget() if cache_budget is None else cache_budget
    limit = _cache_limit() if cache_budget is None else cache_budget
    job = TileJob(runner, source, policy, sink, mode, overlap, budget, limit, compile, warn)
    while True:
        try:
            with reuse_freed_memory(runner.device.type == "cpu"):
                run_job(job, side)
            return
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
        smaller = align_down(side // 2, m)
        _release(runner.device)
        if side // 2 < max(MIN_TILE, m) or smaller >= side:
            raise TileOutOfMemory(
                f"out of memory on {runner.device} even with {side}px tiles",
                hint="free memory, use a smaller --tile, --precision bf16/fp16 or another --device",
            )
        warn(f"out of memory with {side}px tiles on {runner.device}; retrying with {smaller}px")
        side = smaller


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def choose_tile(
    net: nn.Module,
    policy: TilingPolicy,
    size: tuple[int, int],
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> int:
    """A tile side (input pixels) for free memory on ``device``: 0 (whole image) when
    the whole frame fits in the budget, else the largest aligned tile that does.

    The memory a tile needs is measured on a small probe pass (the largest input plus
    output of any layer, times 3 for the temporaries between layers); the budget is 70%
    of free CUDA memory, or on other devices half of the available RAM, at most 4 GiB,
    and CPU tiles are at most :data:`CPU_TILE_CAP`."""
    per_pixel = _bytes_per_pixel(net, policy, device, autocast_dtype)
    budget = _memory_budget(device)
    height, width = size
    if height * width * per_pixel <= budget:
        return 0
    side = int(math.sqrt(budget / per_pixel)) - 2 * policy.halo
    if device.type == "cpu":
        side = min(side, CPU_TILE_CAP)
    return max(align_down(side, policy.multiple), align_up(MIN_TILE, policy.multiple))


def _memory_budget(device: torch.device) -> float:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.7 * free
    return min(0.5 * _available_ram(), 4 * 2**30)


def _available_ram() -> float:
    """MemAvailable from /proc/meminfo; 8 GiB where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 8.0 * 2**30


def _cache_budget() -> float:
    """Host memory for activations kept between segments: 40% of the available RAM,
    at most 2 GiB (a 100-megapixel image's bf16 trunk at the paper's width is 1.6 GB)."""
    return min(0.4 * _available_ram(), 2 * 2**30)


def _cache_limit() -> float:
    """Host memory the leanest segment cut may take where nothing fits
    :func:`_cache_budget`: 40% of the available RAM. A 100-megapixel image's float32
    trunk at the paper's width is 3.2 GB; streaming instead costs 10-15 passes."""
    return 0.4 * _available_ram()


_PER_PIXEL: weakref.WeakKeyDictionary[nn.Module, dict[tuple[object, ...], float]] = (
    weakref.WeakKeyDictionary()
)


def _bytes_per_pixel(
    net: nn.Module, policy: TilingPolicy, device: torch.device, dtype: torch.dtype | None
) -> float:
    """Bytes per input pixel of the largest layer's input plus output, times 3; found by
    a 64-pixel probe pass that hooks every module, once per network (and type, device),
    not once per image. (On the meta device the probe would compute nothing, but its
    first use imports torch's Python meta kernels: 3 s, measured.)"""
    side = align_up(max(64, policy.min_size), policy.multiple)
    runner = Runner(net, device, dtype)  # the network as it will run (maybe a cast copy)
    key = (device.type, dtype, side)
    known = _PER_PIXEL.setdefault(runner.net, {})
    if key not in known:
        peak = _probe(runner.net, torch.zeros(1, 3, side, side), runner)
        known[key] = 3.0 * peak / (side * side)
    return known[key]


def _probe(net: nn.Module, x: torch.Tensor, runner: Runner | None = None) -> int:
    """The largest input-plus-output bytes of any module of ``net`` on ``x`` (through
    ``runner`` when given: the device, type and layout it will run in)."""
    peak = [0]

    def hook(_module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        peak[0] = max(peak[0], sum(t.numel() * t.element_size() for t in tensors))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        if runner is not None:
            runner(net, x)
        else:
            with torch.inference_mode():
                net(x)
    finally:
        for handle in handles:
            handle.remove()
    return peak[0]
