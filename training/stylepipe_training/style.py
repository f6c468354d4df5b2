"""Style training (Johnson, Alahi & Fei-Fei 2016, sec. 4.1): a transformer network
learns to minimise feature (content) + style + total-variation losses measured by a
frozen loss network, on random crops of ordinary photos."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from stylepipe_style.network import TransformerNet

from .config import StyleConfig, parse_layer_weights, parse_style_scales
from .data import PhotoBatches, PhotoSet, random_square_crop
from .images import fit_long_side, open_rgb, resize_short_side, to_image, to_tensor
from .loop import Runtime, Trainer
from .losses import StyleCriterion
from .lossnet import get_loss_network
from .vgg import LossNetwork

PREVIEW_SIDE = 384


class StyleTrainer(Trainer):
    """The transformer network, its optimizer and the style criterion."""

    terms = ("total", "content", "style", "tv")

    def __init__(
        self,
        net: TransformerNet,
        criterion: StyleCriterion,
        runtime: Runtime,
        *,
        lr: float,
        preview: torch.Tensor,
    ) -> None:
        super().__init__(net, runtime, lr)
        self.criterion = criterion.to(runtime.device)
        self.preview_input = preview

    def compute(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.criterion(self.net(inputs), inputs)

    def preview(self) -> Image.Image:
        """The preview photo through the network as it is now."""
        x = self.preview_input.to(self.runtime.device, memory_format=self.runtime.memory_format)
        with torch.inference_mode(), self.runtime.autocast():
            y = self.net(x)
        return to_image(y.float())


def load_style_image(path: Path, size: int) -> torch.Tensor:
    """The style image with its shorter side resized to ``size``, as ``(1, 3, H, W)``."""
    return to_tensor(resize_short_side(open_rgb(path), size))


def preview_tensor(path: Path, side: int = PREVIEW_SIDE) -> torch.Tensor:
    """A photo shrunk to at most ``side`` pixels, sides multiples of 4 (two stride-2
    convolutions), as ``(1, 3, H, W)``."""
    return to_tensor(fit_long_side(open_rgb(path), side, multiple=4))


def style_layer_weights(config: StyleConfig, lossnet: LossNetwork) -> dict[str, float]:
    """``{layer: weight}`` of the run: the given layers and weights, else the network's
    own style layers; a ``mean`` network divides each default weight by their count."""
    given = parse_layer_weights(config.style_layers, config.style_layer_weights)
    layers = given or dict.fromkeys(lossnet.default_style_layers(), 1.0)
    if (
        config.style_layer_weights is None
        and get_loss_network(lossnet.name).style_reduction == "mean"
    ):
        layers = {k: 1.0 / len(layers) for k in layers}
    return layers


def build_style_trainer(
    config: StyleConfig,
    runtime: Runtime,
    lossnet: LossNetwork,
    *,
    style_path: Path,
    preview_path: Path,
) -> StyleTrainer:
    """Everything a style run needs, freshly initialised from ``config.seed``."""
    assert config.style_size is not None and config.content_weight is not None
    assert config.style_weight is not None and config.tv_weight is not None
    torch.manual_seed(config.seed)
    net = TransformerNet(**config.arch_params())
    lossnet = lossnet.to(runtime.device).to(memory_format=runtime.memory_format)
    style = load_style_image(style_path, config.style_size).to(runtime.device)
    with runtime.autocast():
        criterion = StyleCriterion(
            lossnet,
            style,
            content_weight=config.content_weight,
            style_weight=config.style_weight,
            tv_weight=config.tv_weight,
            style_layers=style_layer_weights(config, lossnet),
            style_scales=parse_style_scales(config.style_scales),
            content_layer=config.content_layer,
        )
    return StyleTrainer(net, criterion, runtime, lr=config.lr, preview=preview_tensor(preview_path))


def style_batches(config: StyleConfig, photos: PhotoSet, workers: int) -> PhotoBatches:
    """Random square crops resized to ``config.image_size``."""
    return PhotoBatches(
        photos,
        random_square_crop(config.image_size),
        batch_size=config.batch_size,
        seed=config.seed,
        workers=workers,
    )
