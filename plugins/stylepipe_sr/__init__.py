"""Built-in plugin: the Johnson et al. x4/x8 super-resolution networks, the ``spandrel``
architecture of imported community upscalers (:mod:`stylepipe_sr.community`; needs the
extra ``stylepipe[community]`` only when one is imported or run) and ``upscale``.

Bundled models live as data-only pack folders in this package's ``models/`` directory
(``models/<name>/manifest.json`` + ``weights.safetensors``); every valid one is registered
as ``stylepipe_sr/<name>``. The ``upscale`` filter's default for a scale is the first of
:data:`stylepipe_sr.filter.DEFAULT_MODELS` bundled for it (x4: sr4-pixel, highest PSNR and
no grid pattern), else the first by name. The folder may be empty or absent.

Registration imports no torch: the network module is imported by :func:`build` (when a
model is loaded) and the filter imports torch in ``setup``/``apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stylepipe import Architecture, Filter, ModelSpec, TilingPolicy, hookimpl, register_pack_folder

from .community import ARCHITECTURE as COMMUNITY_ARCHITECTURE
from .filter import UpscaleFilter

if TYPE_CHECKING:
    from .network import SRNet

ARCHITECTURE_ID = "johnson-sr"
BUNDLED_MODELS = Path(__file__).resolve().parent / "models"


def build(scale: int = 4, width: int = 64, n_residual: int = 4, skip: str = "bicubic") -> SRNet:
    """A new (random-init) super-resolution network; imports torch on first use."""
    from .network import SRNet

    return SRNet(scale=scale, width=width, n_residual=n_residual, skip=skip)


def tiling_policy(
    scale: int = 4, width: int = 64, n_residual: int = 4, skip: str = "bicubic"
) -> TilingPolicy:
    """Receptive-field radius in input pixels: 9x9 head (4), two 3x3 convs per residual
    block (2 each), one 3x3 conv per x2 stage (at most 1 each), 9x9 tail at output
    resolution (ceil(4 / scale)), bicubic skip (2); plus a margin of 2. The smallest
    input is 5 pixels, for the head's 4-pixel reflection pad."""
    stages = {2: 1, 4: 2, 8: 3}[scale]
    radius = 4 + 2 * n_residual + stages + -(-4 // scale) + 2
    return TilingPolicy(scale=scale, multiple=1, halo=radius + 2, global_norm=False, min_size=5)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(
        Architecture(
            id=ARCHITECTURE_ID,
            kind="sr",
            build=build,
            default_params={"scale": 4, "width": 64, "n_residual": 4, "skip": "bicubic"},
            tiling=tiling_policy,
            summary="Johnson et al. 2016 super-resolution, x4/x8, no normalization",
        )
    )
    register(COMMUNITY_ARCHITECTURE)


@hookimpl
def register_filters(register: Callable[[type[Filter]], None]) -> None:
    register(UpscaleFilter)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register_pack_folder(BUNDLED_MODELS, register, kind="sr")
