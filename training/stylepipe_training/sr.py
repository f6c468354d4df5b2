"""Super-resolution training (Johnson, Alahi & Fei-Fei 2016, sec. 4.2): 288x288
high-resolution patches, low-resolution inputs made by Gaussian blur (sigma 1) and
bicubic downsampling, a feature loss at relu2_2 (or per-pixel MSE) plus TV, Adam."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from stylepipe_sr.network import SRNet

from .config import SRConfig
from .data import PhotoBatches, PhotoSet, random_patch
from .degrade import make_lowres
from .images import fit_long_side, open_rgb, side_by_side, to_image, to_tensor
from .loop import Runtime, Trainer
from .losses import SRCriterion
from .vgg import LossNetwork

PREVIEW_SIDE = 384


class SRTrainer(Trainer):
    """The super-resolution network, its optimizer and its criterion."""

    def __init__(
        self,
        net: SRNet,
        criterion: SRCriterion,
        runtime: Runtime,
        *,
        lr: float,
        scale: int,
        degradation: str,
        preview: torch.Tensor,
    ) -> None:
        super().__init__(net, runtime, lr)
        self.terms = criterion.terms
        self.criterion, self.scale, self.degradation = criterion, scale, degradation
        self.preview_input = preview

    def prepare(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = make_lowres(batch, self.scale, degradation=self.degradation)
        return low.contiguous(memory_format=self.runtime.memory_format), batch

    def compute(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        low, high = inputs
        return self.criterion(self.net(low), high)

    def preview(self) -> Image.Image:
        """Bicubic | network | original, for the preview photo."""
        high = self.preview_input.to(self.runtime.device)
        low = make_lowres(high, self.scale, degradation=self.degradation)
        with torch.inference_mode(), self.runtime.autocast():
            out = self.net(low.contiguous(memory_format=self.runtime.memory_format))
        bicubic = F.interpolate(low, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return side_by_side([to_image(bicubic), to_image(out.float()), to_image(high)])


def build_sr_trainer(
    config: SRConfig, runtime: Runtime, lossnet: LossNetwork | None, *, preview_path: Path
) -> SRTrainer:
    """Everything an SR run needs, freshly initialised from ``config.seed``."""
    assert config.tv_weight is not None
    torch.manual_seed(config.seed)
    net = SRNet(**config.arch_params())
    if lossnet is not None:
        lossnet = lossnet.to(runtime.device).to(memory_format=runtime.memory_format)
    criterion = SRCriterion(
        lossnet,
        loss=config.loss,
        tv_weight=config.tv_weight,
        loss_weight=config.loss_weight,
        pixel_weight=config.pixel_weight,
    )
    preview = to_tensor(fit_long_side(open_rgb(preview_path), PREVIEW_SIDE, config.scale))
    return SRTrainer(
        net,
        criterion,
        runtime,
        lr=config.lr,
        scale=config.scale,
        degradation=config.degradation,
        preview=preview,
    )


def sr_batches(config: SRConfig, photos: PhotoSet, workers: int) -> PhotoBatches:
    """Random ``patch_size`` patches at the photos' own resolution."""
    return PhotoBatches(
        photos,
        random_patch(config.patch_size),
        batch_size=config.batch_size,
        seed=config.seed,
        workers=workers,
    )
