"""VGG16 and VGG19 feature extractors used as the frozen loss network (Johnson et al.
2016, sec. 3).

A :class:`LossNetwork` holds torchvision's ``features`` layers of one architecture, as
deep as its weights go (a file may hold only the first blocks), and applies its
weights' input convention itself, so callers always pass RGB in [0, 1]:

* ``torchvision``: RGB, ``(x - mean) / std`` with ImageNet's mean and std;
* ``caffe``: BGR, 0-255, minus the mean [103.939, 116.779, 123.68] (Oxford VGG's
  original weights, as Keras ships them).

Layers are named ``reluB_K`` (block B, K-th convolution of the block). Finding weight
files and reading their convention is :mod:`stylepipe_training.vgg_weights`' job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stylepipe.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CONVENTIONS = ("torchvision", "caffe")
#: The shallowest weights a loss network accepts: blocks 1-3 (content relu2_2, style
#: up to the end of block 3).
MIN_BLOCKS = 3


@dataclass(frozen=True)
class VGGLayout:
    """One VGG architecture: convolutions per block and channels per block."""

    name: str
    convs_per_block: tuple[int, ...]
    channels: tuple[int, ...] = (64, 128, 256, 512, 512)

    def conv_indices(self, blocks: int | None = None) -> list[int]:
        """Indices in ``features`` of the convolutions of the first ``blocks`` blocks."""
        return [index for index, _ in self._convs(blocks)]

    def relu_indices(self, blocks: int | None = None) -> dict[str, int]:
        """``reluB_K`` -> index in ``features`` for the first ``blocks`` blocks."""
        return {name: index + 1 for index, name in self._convs(blocks)}

    def last_relu(self, block: int) -> str:
        """The deepest ReLU of a block (relu3_3 in VGG16, relu3_4 in VGG19)."""
        return f"relu{block}_{self.convs_per_block[block - 1]}"

    def _convs(self, blocks: int | None) -> list[tuple[int, str]]:
        index, found = 0, []
        for block, count in enumerate(self.convs_per_block[:blocks], start=1):
            for k in range(1, count + 1):
                found.append((index, f"relu{block}_{k}"))
                index += 2  # conv, relu
            index += 1  # max pool
        return found

    def build(self, blocks: int) -> nn.Sequential:
        """The ``features`` layers of the first ``blocks`` blocks, allocated but not
        initialised (built on the meta device: no time spent on, and no global random
        numbers drawn for, an initialisation that weights replace), without the final
        max pool (nothing reads past the last ReLU)."""
        layers: list[nn.Module] = []
        channels_in = 3
        with torch.device("meta"):
            for block in range(blocks):
                if block:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                width = self.channels[block]
                for _ in range(self.convs_per_block[block]):
                    layers += [nn.Conv2d(channels_in, width, 3, padding=1), nn.ReLU(inplace=True)]
                    channels_in = width
        return nn.Sequential(*layers).to_empty(device="cpu")


LAYOUTS: dict[str, VGGLayout] = {
    "vgg16": VGGLayout("vgg16", (2, 2, 3, 3, 3)),
    "vgg19": VGGLayout("vgg19", (2, 2, 4, 4, 4)),
}
#: What the loss networks need at most: VGG16's relu4_3 or VGG19's relu4_4.
MAX_BLOCKS = 4


class LossNetwork(nn.Module):
    """Frozen VGG features; ``forward(x, layers)`` returns the named activations.

    It runs only as deep as the deepest requested layer (the content target needs
    relu2_2 alone, a third of the cost of a pass to relu3_x).
    """

    def __init__(
        self,
        features: nn.Sequential,
        *,
        name: str,
        layout: VGGLayout,
        blocks: int,
        convention: str,
        layer_scaling: str,
        info: Mapping[str, Any],
    ) -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ModelError(f"unknown input convention {convention!r}")
        self.features, self.name, self.layout = features, name, layout
        self.blocks, self.convention = blocks, convention
        self.layer_scaling = layer_scaling  # see stylepipe_training.lossnet
        self.layers = layout.relu_indices(blocks)
        self.info = dict(info)
        if convention == "caffe":
            mean, std = torch.tensor(CAFFE_MEAN_BGR) / 255.0, torch.full((3,), 1 / 255.0)
        else:
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("std", std.view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def default_style_layers(self) -> tuple[str, ...]:
        """The paper's style layers mapped onto this network: the last ReLU of every
        block it has, up to block 4 (relu1_2, relu2_2, relu3_3/3_4, relu4_3/4_4)."""
        return tuple(self.layout.last_relu(b) for b in range(1, self.blocks + 1))

    def channels(self, layer: str) -> int:
        """Channels of a named layer."""
        return self.layout.channels[int(layer[4]) - 1]

    def train(self, mode: bool = True) -> LossNetwork:
        """Always stays in eval mode: the loss network is frozen."""
        return super().train(False)

    def check_layers(self, layers: Iterable[str]) -> None:
        """A clear error for layers this network does not have."""
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise ModelError(
                f"{self.name} has no layer {', '.join(unknown)}",
                hint="choose from " + ", ".join(self.layers),
            )

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = {self.layers[name]: name for name in layers}
        if self.convention == "caffe":
            x = x.flip(1)  # RGB -> BGR; the buffers are stored in BGR order already
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
        return {
            "name": self.name,
            "architecture": self.layout.name,
            "blocks": self.blocks,
            "input_convention": self.convention,
            "layer_scaling": self.layer_scaling,
            **self.info,
        }


def state_hash(features: nn.Module) -> str:
    """sha256 over the loaded tensors (independent of the file's format)."""
    digest = hashlib.sha256()
    for key, value in sorted(features.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def random_vgg16(seed: int) -> LossNetwork:
    """VGG16 with seeded random weights: torchvision's own initialisation rule (Kaiming
    normal, fan-out, zero biases) drawn from a private generator, so the global random
    state is untouched and a seed always gives the same network."""
    layout = LAYOUTS["vgg16"]
    features = layout.build(MAX_BLOCKS)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for index in layout.conv_indices(MAX_BLOCKS):
            conv = features[index]
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            nn.init.kaiming_normal_(
                conv.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            nn.init.zeros_(conv.bias)
    info = {"seed": int(seed), "weights": "random", "sha256": state_hash(features)}
    return LossNetwork(
        features,
        name="vgg16-random",
        layout=layout,
        blocks=MAX_BLOCKS,
        convention="torchvision",
        layer_scaling="target",
        info=info,
    )


def pretrained(
    layout: VGGLayout,
    state: Mapping[str, torch.Tensor],
    *,
    blocks: int,
    convention: str,
    layer_scaling: str,
    info: Mapping[str, Any],
) -> LossNetwork:
    """A loss network of ``blocks`` blocks from a ``features``-keyed state dict (keys
    ``0.weight``...; extra deeper keys are ignored)."""
    features = layout.build(blocks)
    wanted = features.state_dict().keys()
    try:
        features.load_state_dict({k: state[k] for k in wanted}, strict=True)
    except (KeyError, RuntimeError) as exc:  # missing keys, wrong shapes
        raise ModelError(f"{info.get('weights')} does not fit {layout.name}: {exc}") from exc
    full_info = {**info, "sha256": state_hash(features)}
    return LossNetwork(
        features,
        name=layout.name,
        layout=layout,
        blocks=blocks,
        convention=convention,
        layer_scaling=layer_scaling,
        info=full_info,
    )
