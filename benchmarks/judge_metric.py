"""The evaluation-only judge of ``judge.py``: style and content distances measured with an
independent ImageNet network (MobileNet v1 0.75, ``judge_networks/mobilenet_v1_075`` in
the shared assets) that no stylepipe model is trained with. Never train with it, never
ship it: its loader is imported from the assets folder at run time.

Style: Gatys et al. (2016) Gram matrices ``F F^T / (H W)`` of the first ReLU at each of
MobileNet's five resolutions (conv1 at 1/2; the stride-2 depthwise ReLUs dw2, dw4, dw6,
dw12 at 1/4 .. 1/32), the analogue of VGG's relu1_1 .. relu5_1. The distance of an image
to a painting: per layer, the squared Frobenius distance of the Grams over the
painting's squared Gram norm, averaged over the layers. A painting is as near as the
nearest of its files (sources, crops), each seen with its long side at 1/4, 1/2 and 1
times the images' size cap: a fast style network paints strokes of a fixed size in
pixels, set by the style size it was trained at, so no one scale of the painting is
right for every model. Measured on the 16 reference outputs (Johnson's and
pytorch/examples') at a 512 cap: 14 recognised as their painting with the three scales,
11 with the painting at 512 only; with the painting at 512, the layer sets
conv1+pw1+pw3+pw5+pw11 and conv1+pw1+pw2+pw3+pw5 recognise 9 and 10. Candy's usual
wrong nearest is Composition VII. Content: the pw5 ReLU (last layer at
1/8, the analogue of Gatys' relu4_2), squared distance over the photo's squared norm.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

JUDGE_DIR = Path("judge_networks") / "mobilenet_v1_075"
LOADER = "load_mobilenet_v1_075.py"
STYLE_LAYERS = ("conv1", "dw2", "dw4", "dw6", "dw12")
CONTENT_LAYER = "pw5"
# painting names as models and reference outputs spell them -> style_images' spelling
ALIASES = {"great_wave": "wave", "muse": "la_muse", "minotaur": "shipwreck_of_the_minotaur"}
IMAGE_TYPES = (".jpg", ".jpeg", ".png")
PAINTING_SCALES = (0.25, 0.5, 1.0)  # of the size cap (0, no cap: of 1024)

Grams = dict[str, torch.Tensor]


def painting_name(text: str) -> str:
    """The painting a file stem or model name means: ``the_scream``, ``The-Scream`` and
    ``scream`` are ``scream``; ``wave_crop``, ``great-wave`` are ``wave``."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    name = re.sub(r"_(crop|cropped|google|eccv|eccv16)$", "", re.sub(r"^the_", "", name))
    return ALIASES.get(name, name)


def layer_names(blocks: int = 13) -> dict[int, str]:
    """Index in MobileNet's ``features`` of each ReLU: conv1, then dwK and pwK per block."""
    names = {2: "conv1"}
    for k in range(1, blocks + 1):
        names[6 * k - 1], names[6 * k + 2] = f"dw{k}", f"pw{k}"
    return names


def gram(features: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(C, C)`` Gram matrix over the pixels, divided by ``H W``."""
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w).double()
    return flat @ flat.T / (h * w)


def gram_distance(image: Mapping[str, torch.Tensor], painting: Mapping[str, torch.Tensor]) -> float:
    """Mean over the painting's layers of ``||G_image - G_painting||^2 / ||G_painting||^2``."""
    terms = [
        float(((image[k] - g) ** 2).sum() / (g**2).sum().clamp_min(1e-12))
        for k, g in painting.items()
    ]
    return sum(terms) / len(terms)


def content_distance(image: torch.Tensor, photo: torch.Tensor) -> float:
    """``||F_image - F_photo||^2 / ||F_photo||^2`` of the content layer's features."""
    return float(((image - photo) ** 2).sum() / (photo**2).sum().clamp_min(1e-12))


def load_image(path: Path, size: int = 0, exact: bool = False) -> torch.Tensor:
    """``(1, 3, H, W)`` in [0, 1], resized (bicubic) so its long side is at most ``size``
    (``exact``: is ``size``; 0: as it is)."""
    image = Image.open(path).convert("RGB")
    if size and (max(image.size) > size or exact):
        scale = size / max(image.size)
        wh = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(wh, Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]


def resize_to(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` at the height and width of ``like`` (bicubic, antialiased)."""
    if image.shape[-2:] == like.shape[-2:]:
        return image
    size = (int(like.shape[-2]), int(like.shape[-1]))
    return F.interpolate(image, size, mode="bicubic", antialias=True).clamp(0, 1)


def load_network(assets: Path) -> torch.nn.Module:
    """The MobileNet, built by the loader that ships beside its weights."""
    folder = assets / JUDGE_DIR
    spec = importlib.util.spec_from_file_location("judge_mobilenet_v1_075", folder / LOADER)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no judge network loader at {folder / LOADER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net: torch.nn.Module = module.MobileNetV1(str(folder))
    return net.eval().requires_grad_(False)


class Judge:
    """Gram matrices and content features of images under the judge network."""

    def __init__(self, net: torch.nn.Module, style_layers: Iterable[str] = STYLE_LAYERS):
        self.features: torch.nn.Sequential = net.features  # type: ignore[assignment]
        self.style_layers = tuple(style_layers)
        wanted = {*self.style_layers, CONTENT_LAYER}
        self.taps = {i: n for i, n in layer_names().items() if n in wanted}
        if len(self.taps) != len(wanted):
            raise ValueError(f"unknown layers: {sorted(wanted - set(self.taps.values()))}")

    @torch.no_grad()
    def measure(self, image: torch.Tensor) -> tuple[Grams, torch.Tensor]:
        """(Grams of the style layers, content features) of ``(1, 3, H, W)`` in [0, 1]."""
        x, grams, content = image.float() * 2 - 1, {}, torch.empty(0)
        for i, layer in enumerate(self.features[: max(self.taps) + 1]):
            x = layer(x)
            name = self.taps.get(i)
            if name in self.style_layers:
                grams[name] = gram(x)
            if name == CONTENT_LAYER:
                content = x.clone()
        return grams, content


@dataclass
class Paintings:
    """The distinct paintings of ``style_images/``: name -> (file, long side, Grams) per
    version (a file at a scale)."""

    versions: dict[str, list[tuple[Path, int, Grams]]]

    @classmethod
    def load(cls, folder: Path, judge: Judge, cap: int) -> Paintings:
        sizes = [round(f * (cap or 1024)) for f in PAINTING_SCALES]
        versions: dict[str, list[tuple[Path, int, Grams]]] = {}
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_TYPES):
            for size in sizes:
                grams, _ = judge.measure(load_image(path, size, exact=True))
                versions.setdefault(painting_name(path.stem), []).append((path, size, grams))
        return cls(versions)

    def files(self) -> dict[str, list[str]]:
        """name -> its files, as paths."""
        return {n: list(dict.fromkeys(str(p) for p, _, _ in v)) for n, v in self.versions.items()}

    def file(self, name: str) -> Path | None:
        return self.versions[name][0][0] if name in self.versions else None

    def pick(self, names: Iterable[str]) -> str:
        """The first of ``names`` that is a painting here, else the first."""
        names = [painting_name(n) for n in names]
        return next((n for n in names if n in self.versions), names[0])

    def verdict(self, grams: Grams, own: str | None) -> dict[str, Any]:
        """Distances to every painting (its nearest version), the nearest, and whether it is
        ``own``; ``margin``: the nearest other painting's distance over the own one's."""
        best: dict[str, tuple[float, Path, int]] = {}
        for name, files in self.versions.items():
            best[name] = min((gram_distance(grams, g), p, s) for p, s, g in files)
        ranking = sorted(best, key=lambda n: best[n][0])
        result: dict[str, Any] = {"painting": own, "nearest": ranking[0]}
        result.update(own=None, own_file=None, recognised=None, rank=None, margin=None)
        result["nearest_other"] = next(n for n in ranking if n != own)
        if own is not None and own in best:
            distance, path, size = best[own]
            result.update(
                own=distance,
                own_file=f"{path} at {size} px",
                recognised=ranking[0] == own,
                rank=ranking.index(own) + 1,
                margin=best[result["nearest_other"]][0] / max(distance, 1e-12),
            )
        result["distances"] = {n: round(best[n][0], 6) for n in ranking}
        return result
