"""Architectures, named models and safe weight loading. (spec)"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn

from stylepipe.tiling.policy import TilingPolicy

ModelKind = Literal["style", "sr"]


@dataclass(frozen=True)
class Architecture:
    """A network family. ``build(**params)`` returns an ``nn.Module`` taking and giving
    float ``(B, 3, H, W)`` RGB in [0, 1]. ``detect(state_dict)`` may recognise foreign
    checkpoints and return the build parameters (or ``None``). ``tiling(**params)``
    gives the :class:`TilingPolicy` of a network built with those parameters.
    ``precisions``: the reduced precisions its weights tolerate besides fp32.
    ``import_input_range``: the value range (1.0 or 255.0) of the foreign checkpoints that
    ``detect`` recognises, recorded when ``stylepipe import-model`` imports one.
    ``load(state_dict, params)``: for families whose layout only the weights tell (the
    community models through spandrel), the network built from its weights and loaded
    with them; used instead of ``build`` + the key check when set."""

    id: str
    kind: ModelKind
    build: Callable[..., nn.Module]
    default_params: Mapping[str, Any] = field(default_factory=dict)
    detect: Callable[[Mapping[str, Any]], dict[str, Any] | None] | None = None
    tiling: Callable[..., TilingPolicy] = TilingPolicy
    summary: str = ""
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")
    import_input_range: float = 1.0
    load: Callable[[Mapping[str, Any], Mapping[str, Any]], nn.Module] | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Named weights for an architecture, as registered by a plugin."""

    name: str
    kind: ModelKind
    architecture: str
    arch_params: Mapping[str, Any]
    weights: Path
    manifest: Mapping[str, Any] = field(default_factory=dict)
    scale: int = 1
    summary: str = ""
    folder: Path | None = None  # the pack folder it came from (weights may be linked)

    @property
    def input_range(self) -> float:
        """What the weights take as white: 1.0, or 255.0 for pytorch/examples checkpoints
        (manifest ``input_range``); the descriptor scales [0, 1] images to it and back."""
        return float(self.manifest.get("input_range", 1.0))
