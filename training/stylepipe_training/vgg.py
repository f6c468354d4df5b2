"""VGG16 feature extractor used as the frozen loss network (Johnson et al. 2016, sec. 3).

Only the layers up to relu4_3 are kept (the deepest one the losses use). The network
applies ImageNet normalisation itself, so callers pass RGB in [0, 1].

ImageNet weights are looked up, in this order: an explicit file (``--vgg-weights``),
``$STYLEPIPE_VGG_WEIGHTS``, torch hub's cache (``torch.hub.get_dir()/checkpoints/
vgg16-397923af.pth``), and last a download into that cache (torchvision's
``VGG16_Weights.IMAGENET1K_V1`` file) when a downloader is given. Full torchvision
checkpoints and ``features``-only state dicts are both accepted; every file is read as
data only (``weights_only=True`` or safetensors).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from stylepipe.errors import ModelError
from stylepipe.models import load_state_dict

from .lossnet import get_loss_network

WEIGHTS_ENV = "STYLEPIPE_VGG_WEIGHTS"
VGG16_FILE = "vgg16-397923af.pth"
LAYERS: dict[str, int] = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
CHANNELS: dict[str, int] = {"relu1_2": 64, "relu2_2": 128, "relu3_3": 256, "relu4_3": 512}
CONV_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LossNetwork(nn.Module):
    """Frozen VGG16 features; ``forward(x, layers)`` returns the named activations.

    It runs only as deep as the deepest requested layer (the content target needs
    relu2_2 alone, a third of the cost of the full pass).
    """

    def __init__(self, features: nn.Sequential, *, name: str, info: Mapping[str, Any]) -> None:
        super().__init__()
        self.features = features
        self.name = name
        self.info = dict(info)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    @property
    def layer_scaling(self) -> str:
        return get_loss_network(self.name).layer_scaling

    def train(self, mode: bool = True) -> LossNetwork:
        """Always stays in eval mode: the loss network is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = {LAYERS[name]: name for name in layers}
        y = (x - self.get_buffer("mean")) / self.get_buffer("std")
        found: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            y = module(y)
            if index in wanted:
                found[wanted[index]] = y
                if len(found) == len(wanted):
                    break
        return found

    def describe(self) -> dict[str, Any]:
        """What a trained model's manifest records about its loss network."""
        return {"name": self.name, "layer_scaling": self.layer_scaling, **self.info}


def _vgg16_features() -> nn.Sequential:
    """torchvision's VGG16 ``features`` up to relu4_3, allocated but not initialised.

    Built on the meta device first so that the 120M-parameter classifier, which the
    losses never use, costs no memory or time.
    """
    with torch.device("meta"):
        full = torchvision.models.vgg16(weights=None)
    features = full.features[: LAYERS["relu4_3"] + 1]
    return features.to_empty(device="cpu")


def _state_hash(features: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(features.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def random_vgg16(seed: int) -> LossNetwork:
    """VGG16 with seeded random weights: torchvision's own initialisation rule (Kaiming
    normal, fan-out, zero biases) drawn from a private generator, so the global random
    state is untouched and a seed always gives the same network."""
    features = _vgg16_features()
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for index in CONV_INDICES:
            conv = features[index]
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            nn.init.kaiming_normal_(
                conv.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            nn.init.zeros_(conv.bias)
    info = {"seed": int(seed), "weights": "random", "sha256": _state_hash(features)}
    return LossNetwork(features, name="vgg16-random", info=info)


def features_state(state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The relu4_3-deep part of a VGG16 state dict, keyed like ``features``' own.

    Accepts torchvision's full layout (``features.0.weight``, ``classifier.*``...), a
    ``features``-only one (``0.weight``...) and either behind a ``module.`` prefix.
    """
    wanted = [f"{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    found: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        short = key.removeprefix("module.").removeprefix("features.")
        if short in wanted:
            found[short] = value
    missing = [k for k in wanted if k not in found]
    if missing:
        raise ModelError(
            f"{where} is not a VGG16 state dict: missing {', '.join(missing[:4])}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""),
            hint="use torchvision's vgg16-397923af.pth or a state dict of vgg16().features",
        )
    return found


def default_weights_path() -> Path:
    """Where torch hub (and torchvision) keep the ImageNet VGG16 file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def find_vgg16_weights(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The first of: ``explicit``, ``$STYLEPIPE_VGG_WEIGHTS``, the hub cache file."""
    env = os.environ if env is None else env
    if explicit is not None:
        if not Path(explicit).is_file():
            raise ModelError(f"VGG16 weights file not found: {explicit}")
        return Path(explicit)
    if env.get(WEIGHTS_ENV):
        path = Path(env[WEIGHTS_ENV]).expanduser()
        if not path.is_file():
            raise ModelError(f"{WEIGHTS_ENV} names {path}, which is not a file")
        return path
    cached = default_weights_path()
    return cached if cached.is_file() else None


def download_vgg16(dest: Path) -> None:
    """Download torchvision's ImageNet VGG16 file to ``dest`` (checked by hash prefix)."""
    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dest), hash_prefix=VGG16_FILE.split("-")[1][:8])


def missing_weights_error(reason: str | None = None) -> ModelError:
    """The one error for "no ImageNet VGG16 weights": where to put them, what else works."""
    detail = f" ({reason})" if reason else ""
    return ModelError(
        f"ImageNet VGG16 weights for --loss-net vgg16 were not found{detail}",
        hint=f"put {VGG16_FILE} in {default_weights_path().parent}, or pass "
        f"--vgg-weights FILE / set {WEIGHTS_ENV}; or train offline with "
        "--loss-net vgg16-random (seeded random weights)",
    )


def imagenet_vgg16(
    explicit: Path | None = None, *, download: Callable[[Path], None] | None = None
) -> LossNetwork:
    """VGG16 with ImageNet weights from the first place that has them (module doc)."""
    path = find_vgg16_weights(explicit)
    if path is None:
        if download is None:
            raise missing_weights_error("downloads are disabled")
        path = default_weights_path()
        try:
            download(path)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise missing_weights_error(f"download failed: {exc}") from exc
    state = features_state(load_state_dict(path), str(path))
    features = _vgg16_features()
    try:
        features.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # wrong shapes
        raise ModelError(f"{path} does not fit VGG16: {exc}") from exc
    info = {"weights": str(path), "sha256": _state_hash(features)}
    return LossNetwork(features, name="vgg16", info=info)
