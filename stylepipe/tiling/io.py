"""Where tiled inference reads its input and writes its output, a region at a time.

A whole 100-megapixel image as float32 is 1.2 GB in and 1.2 GB out, so the tiled runner
never asks for it: it reads each tile's region from a :class:`TileSource` and hands the
finished output to a sink one horizontal band at a time, top to bottom. The sources and
the sink here work on compact arrays (8- or 16-bit, or float) and convert only the region
in hand, padding virtually to the network's size multiple.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

Sink = Callable[[int, torch.Tensor], None]
"""``sink(top, band)``: output rows ``top .. top + band.shape[2]`` as float32 ``(1, C, rows,
width)`` on the CPU, in the network's value range, unclamped. Bands arrive top to bottom
and cover every row once; after an out-of-memory restart they start again from row 0,
so a sink must overwrite (never append)."""


class TileSource(Protocol):
    """An image the tiled runner reads region by region."""

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels, multiples of the network's size multiple."""
        ...

    def read(self, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        """Rows ``top:bottom`` and columns ``left:right`` as float32 ``(1, 3, h, w)``
        on the CPU, in the network's input range."""
        ...


class TensorSource:
    """A source over a ``(1, C, H, W)`` tensor already in the network's range (the
    image, or activations kept between network segments, in their own type)."""

    def __init__(self, image: torch.Tensor) -> None:
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError(f"expected a (1, C, H, W) tensor, got {tuple(image.shape)}")
        self.image = image

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[2]), int(self.image.shape[3])

    def read(self, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        return self.image[:, :, top:bottom, left:right]


def _padded_index(start: int, stop: int, offset: int, length: int, mode: str) -> np.ndarray | slice:
    """Source indices of padded positions ``start:stop`` (the original starts at
    ``offset``): a slice inside the original, else an index array that reflects
    (``torch`` ``reflect``: the edge pixel is not repeated) or replicates the edge."""
    lo, hi = start - offset, stop - offset
    if lo >= 0 and hi <= length:
        return slice(lo, hi)
    idx = np.arange(lo, hi)
    if mode == "reflect" and length > 1:
        period = 2 * (length - 1)
        idx = np.abs(idx) % period
        idx = np.where(idx >= length, period - idx, idx)
    return np.clip(idx, 0, length - 1)


class ArraySource:
    """A source over an ``(h, w)`` or ``(h, w, 1|3)`` array (uint8, uint16 or float in
    [0, 1]), virtually padded to ``size`` with the original at ``offset`` (top, left),
    by reflection or edge replication (``mode``), and multiplied by ``gain`` (the value
    the network takes as white, e.g. 255). Only the region asked for is converted."""

    def __init__(
        self,
        array: np.ndarray,
        *,
        size: tuple[int, int] | None = None,
        offset: tuple[int, int] = (0, 0),
        mode: str = "reflect",
        gain: float = 1.0,
    ) -> None:
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise ValueError(f"expected an (h, w), (h, w, 1) or (h, w, 3) array, got {array.shape}")
        if mode not in ("reflect", "replicate"):
            raise ValueError(f"mode must be reflect or replicate, got {mode!r}")
        self.array, self.offset, self.mode = array, offset, mode
        self._size = size or (int(array.shape[0]), int(array.shape[1]))
        self.gain = gain / _white(array.dtype)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        h, w = self.array.shape[:2]
        rows = _padded_index(top, bottom, self.offset[0], h, self.mode)
        cols = _padded_index(left, right, self.offset[1], w, self.mode)
        region = self.array[rows][:, cols]
        if np.may_share_memory(region, self.array) and (
            self.gain != 1.0 or not region.flags.writeable
        ):
            # a view of the caller's array, about to be scaled in place or read-only
            # (np.asarray of a Pillow image): the tensor gets pixels of its own
            pixels = region.astype(np.float32)
        else:  # converted (copied) only when it is not float32 and contiguous already
            pixels = np.ascontiguousarray(region, dtype=np.float32)
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        if self.gain != 1.0:
            x = x.mul_(self.gain)  # before a grey tile is expanded: its channels share memory
        return x.expand(1, 3, -1, -1) if x.shape[1] == 1 else x


def _white(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ValueError(f"unsupported pixel type {dtype}; use uint8, uint16 or float")


class ArraySink:
    """A sink that writes into ``out``, an ``(h, w, 3)`` array (uint8, uint16 or float):
    crops the padding (the original's output starts at ``offset``, in output pixels),
    multiplies by ``gain`` (1 / the network's white), clamps to [0, 1] and rounds to the
    array's type. Works band by band, so the output never exists twice in float32."""

    def __init__(self, out: np.ndarray, *, offset: tuple[int, int] = (0, 0), gain: float = 1.0):
        if out.ndim != 3 or out.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) output array, got {out.shape}")
        self.out, self.offset, self.gain = out, offset, gain
        self.white = _white(out.dtype)

    def __call__(self, top: int, band: torch.Tensor) -> None:
        h, w = self.out.shape[:2]
        oy, ox = self.offset
        lo, hi = max(top, oy), min(top + band.shape[2], oy + h)
        for start in range(lo, hi, _CHUNK_ROWS):  # small temporaries, whatever the band
            stop = min(hi, start + _CHUNK_ROWS)
            rows = band[0, :, start - top : stop - top, ox : ox + w].permute(1, 2, 0)
            values = rows.mul(self.gain).clamp_(0.0, 1.0)
            if self.white != 1.0:
                values = values.mul_(self.white).round_()
            self.out[start - oy : stop - oy] = values.numpy()


_CHUNK_ROWS = 64
