"""Architectures, named models and safe weight loading.

An :class:`Architecture` builds a network from parameters; a :class:`ModelSpec` names
weights for one. Weights are data: they load only through :func:`load_state_dict`
(safetensors, or ``torch.load(weights_only=True)``), never by unpickling code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn

ModelKind = Literal["style", "sr"]


@dataclass(frozen=True)
class TilingPolicy:
    """How a network may be cut into tiles.

    ``scale``: output size / input size. ``multiple``: tile origins and sizes (input
    pixels) must be multiples of this (4 for two stride-2 convolutions). ``halo``:
    context in input pixels each side of a tile, at least the receptive-field radius, so
    that cropping it leaves exact values. ``global_norm``: the network normalises with
    whole-image statistics (instance norm), which tiles must share to agree.
    """

    scale: int = 1
    multiple: int = 1
    halo: int = 0
    global_norm: bool = False


@dataclass(frozen=True)
class Architecture:
    """A network family. ``build(**params)`` returns an ``nn.Module`` taking and giving
    float ``(B, 3, H, W)`` RGB in [0, 1]. ``detect(state_dict)`` may recognise foreign
    checkpoints and return the build parameters (or ``None``). ``tiling(**params)``
    gives the :class:`TilingPolicy` of a network built with those parameters."""

    id: str
    kind: ModelKind
    build: Callable[..., nn.Module]
    default_params: Mapping[str, Any] = field(default_factory=dict)
    detect: Callable[[Mapping[str, Any]], dict[str, Any] | None] | None = None
    tiling: Callable[..., TilingPolicy] = TilingPolicy
    summary: str = ""


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


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load weights as data only: ``.safetensors`` or a torch file with ``weights_only``.

    Accepts a plain state dict or a dict holding one under ``state_dict``/``model``.
    Raises :class:`ModelError` for anything else, including pickles that want to run code.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any decoder error means: not loadable as plain data
        raise ModelError(
            f"cannot load weights from {path}: {type(exc).__name__}: {exc}",
            hint="weights must be a safetensors file or a plain torch state dict",
        ) from exc
    return _unwrap_state_dict(loaded, path)


def _unwrap_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    for key in ("state_dict", "model", "params"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return dict(loaded)
