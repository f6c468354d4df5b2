"""Built-in plugin: the Johnson et al. transformer network and the ``style`` filter."""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import Architecture, hookimpl

from .network import TransformerNet

ARCHITECTURE_ID = "johnson-style"


def build(width: int = 32, n_residual: int = 5) -> TransformerNet:
    return TransformerNet(width=width, n_residual=n_residual)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(
        Architecture(
            id=ARCHITECTURE_ID,
            kind="style",
            build=build,
            default_params={"width": 32, "n_residual": 5},
            summary="Johnson et al. 2016 transformer, instance norm, resize-conv upsampling",
        )
    )
