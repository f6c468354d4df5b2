"""Sweeps: running a network (or one segment of it) over every tile of an image.

A *stage* is a function run tile by tile over a source. Its sweeps either measure the
next instance-norm layer's whole-image statistics (:mod:`stylepipe.tiling.globalnorm`), or
write: into a host tensor that the next stage reads (tile cores only, which partition
the image exactly), or blended into bands for a sink (:class:`Assembler`).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn

from stylepipe.errors import ModelError
from stylepipe.tiling.globalnorm import GlobalNorm, StopForward, Window
from stylepipe.tiling.io import Sink, TileSource
from stylepipe.tiling.plan import Span, Tile, tile_weights


class Runner:
    """Runs a function of the network on one tile: moves the input to the device in the
    network's memory format and parameter type, without autograd.

    A reduced ``autocast_dtype`` runs under ``torch.autocast`` on accelerators. On the
    CPU the network runs instead as a copy with its weights cast to that type, in
    channels-last layout: CPU autocast keeps reflection padding in float32, converting
    every activation there and back, which measured 1.5x slower than bf16 weights at
    1024x1024 (the norm layers still compute their statistics in float32). ``base`` is
    the network as given, ``net`` the one that runs (that copy, or ``base``)."""

    def __init__(self, net: nn.Module, device: torch.device, autocast_dtype: torch.dtype | None):
        self.base = net
        if device.type == "cpu" and autocast_dtype in (torch.bfloat16, torch.float16):
            net, autocast_dtype = cast_copy(net, autocast_dtype), None
        self.net, self.device, self.autocast_dtype = net, device, autocast_dtype
        weights = [p for p in net.parameters() if p.ndim == 4]
        first = weights[0] if weights else next(iter(net.parameters()), None)
        self.param_dtype = first.dtype if first is not None else torch.float32
        self.channels_last = bool(
            weights
            and weights[0].is_contiguous(memory_format=torch.channels_last)
            and not weights[0].is_contiguous()
        )

    @property
    def activation_dtype(self) -> torch.dtype:
        """The type activations have between layers."""
        return self.autocast_dtype or self.param_dtype

    def __call__(self, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        moved = []
        for x in inputs:
            # under autocast an input keeps its type (float32 image, bf16 kept activations)
            dtype = x.dtype if self.autocast_dtype is not None else self.param_dtype
            moved.append(x.to(self.device, dtype, non_blocking=True).contiguous(memory_format=fmt))
        autocast = (
            torch.autocast(self.device.type, self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            return fn(*moved)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` reports memory exhaustion (CUDA/MPS, or a CPU allocator failure)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


_CASTS: weakref.WeakKeyDictionary[nn.Module, tuple[object, nn.Module]] = weakref.WeakKeyDictionary()


def cast_copy(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A channels-last copy of ``net`` in ``dtype``, kept while ``net`` lives and its
    parameters are unchanged (so a batch casts once)."""
    key = (dtype, tuple((p.data_ptr(), p._version) for p in net.parameters()))
    cached = _CASTS.get(net)
    if cached is not None and cached[0] == key:
        return cached[1]
    copy = deepcopy(net).to(dtype=dtype).to(memory_format=torch.channels_last).eval()
    _CASTS[net] = (key, copy)
    return copy


@dataclass
class Stage:
    """``forward`` over ``tiles`` of ``source``; ``module`` holds its norm layers;
    ``scale``: output pixels per input pixel; ``skip``: a second input read at the same
    pixels (see :class:`~stylepipe.tiling.plan.TileSegment`)."""

    forward: Callable[..., torch.Tensor]
    module: nn.Module
    source: TileSource
    tiles: list[Tile]
    scale: Fraction
    skip: TileSource | None = None

    def read(self, tile: Tile) -> torch.Tensor:
        return self.source.read(tile.ys.read[0], tile.ys.read[1], tile.xs.read[0], tile.xs.read[1])

    def inputs(self, tile: Tile, x: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """The forward's arguments for ``tile``: its read region (``x`` if given), then
        the skip input's same region."""
        x = self.read(tile) if x is None else x
        if self.skip is None:
            return (x,)
        (r0, r1), (c0, c1) = tile.ys.read, tile.xs.read
        return x, self.skip.read(r0, r1, c0, c1)

    def out(self, value: int) -> int:
        """Input position -> output position."""
        scaled = value * self.scale
        if scaled.denominator != 1:
            raise ModelError(f"tile edge {value} falls between output pixels at scale {self.scale}")
        return int(scaled)

    def crop(self, y: torch.Tensor, tile: Tile, region: str) -> torch.Tensor:
        """The ``region`` ("core" or "out") of a tile's output ``y``."""
        (r0, r1), (c0, c1) = getattr(tile.ys, region), getattr(tile.xs, region)
        top, left = self.out(r0 - tile.ys.read[0]), self.out(c0 - tile.xs.read[0])
        return y[:, :, top : top + self.out(r1 - r0), left : left + self.out(c1 - c0)]


def window(tile: Tile) -> Window:
    """A tile's core relative to its read region."""
    (r0, r1), (c0, c1) = tile.ys.read, tile.xs.read
    return Window(
        top=tile.ys.core[0] - r0,
        bottom=tile.ys.core[1] - r0,
        left=tile.xs.core[0] - c0,
        right=tile.xs.core[1] - c0,
        size=(r1 - r0, c1 - c0),
    )


def measure(stage: Stage, norm: GlobalNorm, runner: Runner) -> int:
    """One sweep per instance-norm layer of the stage still without statistics, in
    forward order; returns the number of sweeps."""
    sweeps = 0
    while not norm.complete_for(stage.module):
        with norm.measuring():
            for tile in stage.tiles:
                norm.window = window(tile)
                try:
                    runner(stage.forward, *stage.inputs(tile))
                except StopForward:
                    continue
                raise ModelError("a forward pass ended without reaching its instance-norm layer")
        sweeps += 1
    return sweeps


def write_tensor(stage: Stage, runner: Runner, dst: torch.Tensor, halo: int = 0) -> None:
    """Write every tile core's output into ``dst`` (the whole image's output).

    When ``dst`` is also the source (a residual stage updated in place, which needs
    ``halo``, the stage's aligned halo, no larger than any core), later tiles still need
    the old values within ``halo`` of what earlier tiles wrote: before each write the
    tile's last ``halo`` rows and columns are saved, and reads take them from there."""
    if getattr(stage.source, "image", None) is not dst:
        for tile in stage.tiles:
            y = runner(stage.forward, *stage.inputs(tile))
            _put(stage, dst, tile, stage.crop(y, tile, "core"))
        return
    old = _OldValues(dst, halo)
    for i, tile in enumerate(stage.tiles):
        if i == 0 or stage.tiles[i - 1].ys != tile.ys:
            old.next_row()
        y = stage.crop(runner(stage.forward, *stage.inputs(tile, old.read(tile))), tile, "core")
        old.keep(tile)
        _put(stage, dst, tile, y)


class _OldValues:
    """Pre-update values along the bottom of the previous tile row and the right of the
    previous tile: all that an in-place residual stage's later tiles read of what it
    already wrote (given a halo no larger than a core)."""

    def __init__(self, dst: torch.Tensor, halo: int) -> None:
        self.dst, self.halo = dst, halo
        self.rows: tuple[int, torch.Tensor] | None = None  # (first row, values)
        self.row_next: tuple[int, torch.Tensor] | None = None
        self.cols: tuple[int, int, int, torch.Tensor] | None = None  # top, bottom, left

    def next_row(self) -> None:
        self.rows, self.row_next, self.cols = self.row_next, None, None

    def read(self, tile: Tile) -> torch.Tensor:
        (r0, r1), (c0, c1) = tile.ys.read, tile.xs.read
        x = self.dst[:, :, r0:r1, c0:c1].clone()
        if self.rows is not None:
            top, values = self.rows
            lo, hi = max(r0, top), min(r1, top + values.shape[2])
            if lo < hi:
                x[:, :, lo - r0 : hi - r0] = values[:, :, lo - top : hi - top, c0:c1]
        if self.cols is not None:
            top, bottom, left, values = self.cols
            lo, hi = max(c0, left), min(c1, left + values.shape[3])
            if lo < hi:
                patch = values[:, :, :, lo - left : hi - left]
                x[:, :, top - r0 : bottom - r0, lo - c0 : hi - c0] = patch
        return x

    def keep(self, tile: Tile) -> None:
        """Save the old values of ``tile``'s core edges that later tiles read."""
        (y0, y1), (x0, x1), h = tile.ys.core, tile.xs.core, self.halo
        if h == 0:
            return
        if self.row_next is None:
            shape = (1, self.dst.shape[1], h, self.dst.shape[3])
            self.row_next = (y1 - h, torch.empty(shape, dtype=self.dst.dtype))
        self.row_next[1][:, :, :, x0:x1] = self.dst[:, :, y1 - h : y1, x0:x1]
        self.cols = (y0, y1, x1 - h, self.dst[:, :, y0:y1, x1 - h : x1].clone())


def _put(stage: Stage, dst: torch.Tensor, tile: Tile, y: torch.Tensor) -> None:
    r0, c0 = stage.out(tile.ys.core[0]), stage.out(tile.xs.core[0])
    dst[:, :, r0 : r0 + y.shape[2], c0 : c0 + y.shape[3]] = y


def write_sink(stage: Stage, runner: Runner, size: tuple[int, int], sink: Sink) -> None:
    """The output sweep: every tile's output region, blended, emitted band by band."""
    if stage.scale.denominator != 1:
        raise ModelError("the last network segment must not shrink the image")
    out = Assembler(size[0], size[1], int(stage.scale), sink)
    tiles = stage.tiles
    for i, tile in enumerate(tiles):
        y = stage.crop(runner(stage.forward, *stage.inputs(tile)), tile, "out")
        out.add(tile, y[0].float().cpu())
        nxt = tiles[i + 1] if i + 1 < len(tiles) else None
        if nxt is None or nxt.ys != tile.ys:
            out.flush(nxt.ys if nxt is not None else None)


class Assembler:
    """Accumulates blended tile outputs for the current band of rows and hands every row
    to the sink as soon as no later tile can touch it."""

    def __init__(self, height: int, width: int, scale: int, sink: Sink) -> None:
        self.height, self.width, self.scale, self.sink = height, width, scale, sink
        self.acc: torch.Tensor | None = None
        self.top = 0  # output row of acc[:, 0]

    def add(self, tile: Tile, y: torch.Tensor) -> None:
        """Add a tile's output region ``(C, h, w)``, weighted by its blend ramps."""
        s = self.scale
        bottom = tile.ys.out[1] * s
        if self.acc is None:
            self.acc = torch.zeros(y.shape[0], 0, self.width * s)
        if self.top + self.acc.shape[1] < bottom:  # grow: the kept rows move to a new band
            grown = torch.zeros(y.shape[0], bottom - self.top, self.width * s)
            grown[:, : self.acc.shape[1]] = self.acc
            self.acc = grown
        r0, c0 = tile.ys.out[0] * s - self.top, tile.xs.out[0] * s
        region = self.acc[:, r0 : r0 + y.shape[1], c0 : c0 + y.shape[2]]
        if _hard(tile.ys) and _hard(tile.xs):
            region.copy_(y)
        else:
            region.add_(y * tile_weights(tile, self.height, self.width, s))

    def flush(self, next_rows: Span | None) -> None:
        """Emit the rows above ``next_rows``' output region (all rows at the end)."""
        if self.acc is None:
            return
        done = (next_rows.out[0] if next_rows is not None else self.height) * self.scale
        n = done - self.top
        if n > 0:
            self.sink(self.top, self.acc[None, :, :n])
            self.acc = self.acc[:, n:].clone()
            self.top = done


def _hard(span: Span) -> bool:
    return span.ramp == 0
