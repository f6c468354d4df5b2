"""Pure tile geometry: where each tile reads, what it owns, and how overlaps blend.

Along each axis the image is cut into *cores* that partition it exactly (every pixel in
one core); sizes are balanced multiples of the network's size ``multiple`` and never
larger than the requested tile. A tile's *output* region is its core grown by
``overlap`` pixels into each neighbour (clipped at the image border), and its *read*
region is that grown again by ``halo`` (the receptive-field radius), clipped too. At an
image border the read region stops at the border, where the network pads exactly as it
does on the whole frame, so no context is missing there.

Overlapping output regions are mixed with complementary raised-cosine ramps (the
smooth blend of chaiNNer and Real-ESRGAN forks): the weights of all tiles sum to one at
every pixel, so exact tiles reproduce the full frame and tiles that differ in the last
bits (reduced precision, different kernel choices per tile shape) leave no seam.
Every coordinate here is in input pixels unless a name says ``out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Span:
    """One tile along one axis: ``core`` (owned), ``out`` (written, core + overlap) and
    ``read`` (input read, out + halo), each a half-open ``(start, stop)``; ``ramp`` is the
    half width of the blend band at each inner edge (0: hard edge)."""

    core: tuple[int, int]
    out: tuple[int, int]
    read: tuple[int, int]
    ramp: int


@dataclass(frozen=True)
class Tile:
    """A 2-D tile: its vertical span ``ys`` and horizontal span ``xs``."""

    ys: Span
    xs: Span


def align_down(value: int, multiple: int) -> int:
    """``value`` rounded down to a multiple of ``multiple`` (never below ``multiple``)."""
    return max(multiple, value // multiple * multiple)


def align_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return -(-value // multiple) * multiple


def plan_axis(
    length: int, tile: int, *, halo: int, multiple: int = 1, overlap: int = 0
) -> list[Span]:
    """Cut an axis of ``length`` input pixels into spans of at most ``tile`` pixels.

    ``length`` must be a multiple of ``multiple``; ``tile`` is rounded down to one (at
    least ``multiple``), and so is the overlap, which is also capped at half the smallest
    core so that the two ramps of a tile never meet. ``halo`` is rounded up to a multiple
    so that every read region starts on the network's stride grid.
    """
    if multiple < 1 or length < 1 or tile < 1 or halo < 0 or overlap < 0:
        raise ValueError(
            f"bad tiling: length={length} tile={tile} halo={halo} "
            f"multiple={multiple} overlap={overlap}"
        )
    if length % multiple:
        raise ValueError(f"length {length} is not a multiple of {multiple}; pad the image first")
    tile = align_down(tile, multiple)
    units, per_tile = length // multiple, tile // multiple
    count = -(-units // per_tile)
    base, extra = divmod(units, count)
    sizes = [(base + (i < extra)) * multiple for i in range(count)]
    ramp = 0 if count == 1 else min(overlap, min(sizes) // 2) // multiple * multiple
    halo = align_up(halo, multiple)
    spans, start = [], 0
    for size in sizes:
        stop = start + size
        out = (max(0, start - ramp), min(length, stop + ramp))
        read = (max(0, out[0] - halo), min(length, out[1] + halo))
        spans.append(Span(core=(start, stop), out=out, read=read, ramp=ramp))
        start = stop
    return spans


def plan_tiles(
    height: int, width: int, tile: int, *, halo: int, multiple: int = 1, overlap: int = 0
) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` image in raster order (rows outer)."""
    rows = plan_axis(height, tile, halo=halo, multiple=multiple, overlap=overlap)
    cols = plan_axis(width, tile, halo=halo, multiple=multiple, overlap=overlap)
    return [Tile(ys, xs) for ys in rows for xs in cols]


def ramp(t: torch.Tensor) -> torch.Tensor:
    """Raised cosine from 0 (t <= 0) to 1 (t >= 1): smooth, with zero slope at both ends."""
    return 0.5 - 0.5 * torch.cos(math.pi * t.clamp(0.0, 1.0))


def axis_weights(span: Span, length: int, scale: int = 1) -> torch.Tensor:
    """Blend weights (float32) over a span's output region in output pixels (``scale``
    per input pixel): rising across the band around its start, falling across the band
    around its stop, 1 elsewhere; inner edges only, image borders stay at 1. The weights
    of neighbouring spans are complementary, so they sum to one."""
    o0, o1 = span.out[0] * scale, span.out[1] * scale
    centres = torch.arange(o0, o1, dtype=torch.float64) + 0.5
    weights = torch.ones(o1 - o0, dtype=torch.float64)
    if span.ramp:
        band = 2 * span.ramp * scale
        if span.core[0] > 0:
            weights *= ramp((centres - (span.core[0] - span.ramp) * scale) / band)
        if span.core[1] < length:
            weights *= 1.0 - ramp((centres - (span.core[1] - span.ramp) * scale) / band)
    return weights.to(torch.float32)


def tile_weights(tile: Tile, height: int, width: int, scale: int = 1) -> torch.Tensor:
    """2-D blend weights ``(out_h, out_w)`` of a tile's output region."""
    wy = axis_weights(tile.ys, height, scale)
    wx = axis_weights(tile.xs, width, scale)
    return wy[:, None] * wx[None, :]


@dataclass(frozen=True)
class TileSegment:
    """A piece of a network that tiled inference may run on its own, with the whole
    image's activations between pieces kept on the host (when they fit), so that a
    network with instance norm need not recompute its early layers for the statistics
    of every later one.

    ``forward`` maps the previous segment's output (the image, for the first) to this
    one's; ``module`` holds its layers (where its instance-norm layers are found).
    ``scale`` = ``(num, den)``: output pixels per input pixel (``(1, 4)`` for a stride-4
    encoder); ``multiple`` aligns tile origins in this segment's input pixels, ``halo``
    is its receptive-field radius in them; ``channels`` its output channels;
    ``residual``: output and input have one shape and each output pixel depends on its
    own neighbourhood only, so it may overwrite its input in place.

    A segment may read a second, earlier activation at the same pixels: ``keep`` names
    this segment's input, kept on the host until the segment whose ``skip`` names it
    runs; that one's ``forward`` takes ``(x, kept)`` (the kept tensor's read region of
    the same tile). A residual block ``x + f(x)`` can so be cut after any layer of ``f``
    with its sum still exact, and each layer computed once instead of once per
    instance-norm layer after it.
    """

    forward: Callable[..., torch.Tensor]
    module: torch.nn.Module
    scale: tuple[int, int]
    multiple: int
    halo: int
    channels: int
    residual: bool = False
    keep: str | None = None
    skip: str | None = None
