"""Built-in plugin: the Johnson et al. x4/x8 super-resolution networks and ``upscale``."""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import Architecture, hookimpl

from .network import SRNet

ARCHITECTURE_ID = "johnson-sr"


def build(scale: int = 4, width: int = 64, n_residual: int = 4, skip: str = "bicubic") -> SRNet:
    return SRNet(scale=scale, width=width, n_residual=n_residual, skip=skip)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(
        Architecture(
            id=ARCHITECTURE_ID,
            kind="sr",
            build=build,
            default_params={"scale": 4, "width": 64, "n_residual": 4, "skip": "bicubic"},
            summary="Johnson et al. 2016 super-resolution, x4/x8, no normalization",
        )
    )
