"""``stylepipe eval sr``: PSNR and SSIM of a super-resolution model and of bicubic
upsampling on the same high-resolution images.

Each image is cropped to a multiple of the scale, degraded the way the model was
trained (its manifest's ``degradation``, Gaussian blur + bicubic by default; ``bicubic``
alone is the usual benchmark convention), rounded to 8 bits, upscaled by the model and
by bicubic (Pillow, Keys a = -0.5 as MATLAB), rounded to 8 bits again, and compared
with the original on Y with ``scale`` border pixels cropped (:mod:`.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

from .data import scan_photos
from .degrade import make_lowres, modcrop
from .images import open_rgb, to_image, to_tensor
from .metrics import y_metrics

Upscaler = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class EvalRow:
    """Scores of one image (or the mean over all, as ``image="mean"``)."""

    image: str
    bicubic_psnr: float
    bicubic_ssim: float
    model_psnr: float
    model_ssim: float

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as a saved image would be."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def bicubic_upscale(low: torch.Tensor, scale: int) -> torch.Tensor:
    """Pillow's bicubic upsampling of an 8-bit image, as ``(1, 3, sH, sW)``."""
    image = to_image(low)
    return to_tensor(
        image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
    )


def evaluate_image(path: Path, model: Upscaler, scale: int, degradation: str) -> EvalRow:
    """Scores of the model and of bicubic on one high-resolution image."""
    high = modcrop(to_tensor(open_rgb(path)), scale)
    low = make_lowres(high, scale, degradation=degradation)
    with torch.inference_mode():
        out = quantize(model(low).float())
    base = bicubic_upscale(low, scale)
    model_psnr, model_ssim = y_metrics(out, high, scale)
    bic_psnr, bic_ssim = y_metrics(base, high, scale)
    return EvalRow(path.name, bic_psnr, bic_ssim, model_psnr, model_ssim)


def mean_row(rows: Sequence[EvalRow]) -> EvalRow:
    """The average of every column."""
    n = len(rows)
    return EvalRow(
        "mean",
        sum(r.bicubic_psnr for r in rows) / n,
        sum(r.bicubic_ssim for r in rows) / n,
        sum(r.model_psnr for r in rows) / n,
        sum(r.model_ssim for r in rows) / n,
    )


def evaluate_folder(
    folder: Path, model: Upscaler, scale: int, degradation: str
) -> tuple[list[EvalRow], dict[Path, str]]:
    """Scores of every usable image under ``folder`` and the skipped ones with reasons.
    Images need ``11 + 2*scale`` pixels on their shorter side (SSIM window plus border)."""
    photos = scan_photos(folder, min_side=11 + 2 * scale)
    rows = [evaluate_image(p, model, scale, degradation) for p in photos.files]
    return rows, photos.skipped
