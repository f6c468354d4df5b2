"""Helpers for the neural-filter tests: tiny random-init models written as real packs,
catalogs built from the real plugins, generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from stylepipe_sr.network import SRNet
from stylepipe_style.network import TransformerNet

from stylepipe.filters import FilterContext, RuntimeOptions
from stylepipe.imaging.frame import Frame
from stylepipe.packs.format import Pack, write_pack
from stylepipe.paths import user_plugin_dir
from stylepipe.plugins import Catalog, load_plugins

STYLE_ARCH = "johnson-style"
SR_ARCH = "johnson-sr"


def tiny_style_net(seed: int = 0, width: int = 4, n_residual: int = 1) -> TransformerNet:
    torch.manual_seed(seed)
    return TransformerNet(width=width, n_residual=n_residual).eval()


def random_sr_net(**params: object) -> SRNet:
    """An SR net whose every layer is random: with the bicubic skip a fresh net starts
    its last layer at zero (exactly bicubic), which would hide the network from tests."""
    net = SRNet(**params)  # type: ignore[arg-type]
    net.tail.conv2d.reset_parameters()
    return net.eval()


def tiny_sr_net(seed: int = 0, scale: int = 4, width: int = 4) -> SRNet:
    torch.manual_seed(seed)
    return random_sr_net(scale=scale, width=width, n_residual=1, skip="bicubic")


def write_style_pack(
    root: Path | None = None,
    name: str = "tiny",
    *,
    seed: int = 0,
    input_range: float = 1.0,
    width: int = 4,
    n_residual: int = 1,
) -> tuple[Pack, TransformerNet]:
    """A style pack of a tiny random network in ``root`` (default: the user plugin dir)."""
    net = tiny_style_net(seed, width, n_residual)
    manifest: dict[str, Any] = {
        "name": name,
        "kind": "style",
        "architecture": STYLE_ARCH,
        "arch_params": {"width": width, "n_residual": n_residual},
        "input_range": input_range,
        "scale": 1,
    }
    pack = write_pack((root or user_plugin_dir()) / name, manifest, net.state_dict())
    return pack, net


def write_sr_pack(
    root: Path | None = None, name: str = "tiny-x4", *, scale: int = 4, seed: int = 0
) -> tuple[Pack, SRNet]:
    """A super-resolution pack of a tiny random network."""
    net = tiny_sr_net(seed, scale)
    manifest: dict[str, Any] = {
        "name": name,
        "kind": "sr",
        "architecture": SR_ARCH,
        "arch_params": {"scale": scale, "width": 4, "n_residual": 1, "skip": "bicubic"},
        "input_range": 1.0,
        "scale": scale,
    }
    pack = write_pack((root or user_plugin_dir()) / name, manifest, net.state_dict())
    return pack, net


def catalog() -> Catalog:
    """The catalog of the built-in plugins (no entry points), freshly built."""
    return Catalog.build(load_plugins(entry_points=False))


def context(cat: Catalog | None = None, **runtime: Any) -> tuple[FilterContext, list[str]]:
    """A CPU fp32 whole-image context (overridable) and the list its warnings go to."""
    warnings: list[str] = []
    options = RuntimeOptions(**{"device": "cpu", "precision": "fp32", "tile": 0, **runtime})
    return FilterContext(options, cat or catalog(), warn=warnings.append), warnings


def gradient(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth image with some noise, float32 (H, W, C) in [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = [
        0.5 + 0.4 * np.sin(xs / max(width, 1) * 3 + c) * np.cos(ys / max(height, 1) * 2 - c)
        for c in range(channels)
    ]
    image = np.stack(base, axis=2) + rng.normal(0, 0.03, (height, width, channels))
    return np.clip(image, 0.05, 0.95).astype(np.float32)


def frame(height: int, width: int, channels: int = 3, alpha: bool = False) -> Frame:
    pixels = gradient(height, width, channels)
    mask = None
    if alpha:
        mask = np.zeros((height, width), np.float32)
        mask[:, : width // 2] = 1.0
    return Frame(pixels=pixels, alpha=mask)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]


def to_pixels(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).numpy()
