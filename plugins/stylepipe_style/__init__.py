"""Built-in plugin: the Johnson et al. transformer network and the ``style`` filter."""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import Architecture, hookimpl
from stylepipe.models import TilingPolicy

from .network import TransformerNet

ARCHITECTURE_ID = "johnson-style"


def build(width: int = 32, n_residual: int = 5) -> TransformerNet:
    return TransformerNet(width=width, n_residual=n_residual)


def tiling_policy(width: int = 32, n_residual: int = 5) -> TilingPolicy:
    """Receptive-field radius in input pixels: 9x9 conv (4), two stride-2 3x3 convs
    (1 + 2), two 3x3 convs per residual block at stride 4 (8 each), two nearest-x2 +
    3x3 stages (at most 4 + 2), final 9x9 (4); rounded up with a margin to a multiple
    of 4, the network's size multiple (two stride-2 convolutions)."""
    radius = 4 + 1 + 2 + 8 * n_residual + 4 + 2 + 4
    halo = -(-(radius + 4) // 4) * 4
    return TilingPolicy(scale=1, multiple=4, halo=halo, global_norm=True)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(
        Architecture(
            id=ARCHITECTURE_ID,
            kind="style",
            build=build,
            default_params={"width": 32, "n_residual": 5},
            tiling=tiling_policy,
            summary="Johnson et al. 2016 transformer, instance norm, resize-conv upsampling",
        )
    )
