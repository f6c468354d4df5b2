"""Architectures, named models and safe weight loading. (policy)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class TilingPolicy:
    """How a network may be cut into tiles.

    ``scale``: output size / input size. ``multiple``: tile origins and sizes (input
    pixels) must be multiples of this (4 for two stride-2 convolutions). ``halo``:
    context in input pixels each side of a tile, at least the receptive-field radius, so
    that cropping it leaves exact values. ``global_norm``: the network normalises with
    whole-image statistics (instance norm), which tiles must share to agree.
    ``min_size``: the smallest input side the network accepts (reflection padding needs
    more pixels than it pads); the model descriptor pads smaller images up to it.
    """

    scale: int = 1
    multiple: int = 1
    halo: int = 0
    global_norm: bool = False
    min_size: int = 1
