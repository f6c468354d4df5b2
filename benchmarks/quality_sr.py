"""Super-resolution half of ``quality.py``: PSNR, SSIM and sharpness of bicubic and of
our models on the standard benchmark sets, under two degradations.

* ``gaussian-bicubic`` (primary): the paper's protocol (Johnson et al. 2016, sec. 4.2)
  and our training degradation: Gaussian blur sigma 1, then bicubic downsampling, the
  low-resolution image made from the high-resolution one and rounded to 8 bits.
* ``bicubic`` (secondary): the usual benchmark convention: at x4 the shared
  MATLAB-bicubic ``LR_x4`` files, at x8 (no files) antialiased bicubic made from HR.

Metrics come from :mod:`stylepipe_training.metrics` (Y of BT.601, ``scale`` border
pixels cropped, 0-255 scale); outputs are rounded to 8 bits as saved images would be
(:func:`stylepipe_training.evaluate.quantize`). Sharpness is the mean gradient magnitude
of an output's luma divided by that of the original (1 = as sharp as the original).
Grid is how much the gradient depends on where a pixel sits among the ``scale`` x
``scale`` output pixels of one input pixel (0 for a photo; an upscaler that paints a
fixed pattern per input pixel scores high): see :func:`phase_grid`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stylepipe_training.data import scan_photos
from stylepipe_training.degrade import make_lowres, modcrop
from stylepipe_training.evaluate import bicubic_upscale, quantize
from stylepipe_training.images import open_rgb, to_tensor
from stylepipe_training.metrics import rgb_to_y, shave, y_metrics

from stylepipe.models.loading import LoadedModel

PROTOCOLS = ("gaussian-bicubic", "bicubic")
SCORES = ("psnr", "ssim", "sharpness", "grid")
BICUBIC = "bicubic"
ORIGINAL = "original"


@dataclass(frozen=True)
class SRModel:
    """A loaded model and the column it fills (``pixel`` or ``feature`` loss)."""

    label: str
    loss: str
    model: LoadedModel

    @property
    def scale(self) -> int:
        return self.model.scale


def mean_gradient(image: torch.Tensor, border: int) -> float:
    """Mean gradient magnitude (forward differences) of an RGB image's luma, borders
    cropped, on the 0-255 scale."""
    y = shave(rgb_to_y(image), border)
    dy = y[..., 1:, :-1] - y[..., :-1, :-1]
    dx = y[..., :-1, 1:] - y[..., :-1, :-1]
    return float(torch.sqrt(dx * dx + dy * dy).mean())


def phase_grid(image: torch.Tensor, scale: int, border: int) -> float:
    """Periodic-pattern strength of an upscaled image: the mean absolute horizontal
    (vertical) luma difference at each column (row) phase modulo ``scale``, and the
    spread of those ``scale`` means relative to their mean (coefficient of variation),
    averaged over both directions. Natural photos score about 0.02; bicubic about 0.1."""
    y = shave(rgb_to_y(image), border)
    y = y.reshape(-1, *y.shape[-2:])
    y = y[:, : y.shape[-2] // scale * scale, : y.shape[-1] // scale * scale]
    spreads = []
    for diff in (y[..., :, 1:] - y[..., :, :-1], y[..., 1:, :] - y[..., :-1, :]):
        along_width = diff.shape[-1] < y.shape[-1]
        diff = diff.abs() if along_width else diff.abs().transpose(-1, -2)
        cols = diff.shape[-1] // scale * scale
        per_phase = diff[..., :cols].reshape(*diff.shape[:-1], cols // scale, scale)
        means = per_phase.mean(dim=(0, 1, 2))
        spreads.append(float(means.std(unbiased=False) / means.mean().clamp_min(1e-12)))
    return sum(spreads) / len(spreads)


def shared_lowres(hr_path: Path, scale: int) -> Path:
    """Where the benchmark's own LR file of ``hr_path`` would be (``HR/x_HR.png`` ->
    ``LR_x4/x_LR.png``)."""
    name = hr_path.name.replace("_HR.", "_LR.")
    return hr_path.parent.parent / f"LR_x{scale}" / name


def lowres(
    high: torch.Tensor, hr_path: Path, scale: int, protocol: str
) -> tuple[torch.Tensor, str]:
    """(low-resolution input, where it came from) under ``protocol``."""
    if protocol == BICUBIC:
        path = shared_lowres(hr_path, scale)
        if path.is_file():
            low = to_tensor(open_rgb(path))
            if tuple(low.shape[-2:]) == (high.shape[-2] // scale, high.shape[-1] // scale):
                return low, "shared"
    return make_lowres(high, scale, degradation=protocol), "generated"


def score(output: torch.Tensor, high: torch.Tensor, scale: int, sharp_ref: float) -> dict:
    """PSNR, SSIM (Y, border ``scale``), sharpness and grid of an 8-bit-rounded output."""
    out = quantize(output.float())
    p, s = y_metrics(out, high, scale)
    sharpness = mean_gradient(out, scale) / sharp_ref
    return {"psnr": p, "ssim": s, "sharpness": sharpness, "grid": phase_grid(out, scale, scale)}


def reference(high: torch.Tensor, scale: int) -> dict:
    """The original's own row: what a perfect upscaler would score."""
    grid = phase_grid(high, scale, scale)
    return {"psnr": None, "ssim": 1.0, "sharpness": 1.0, "grid": grid}


def upscale_all(low: torch.Tensor, scale: int, models: Sequence[SRModel]) -> dict:
    """Bicubic and every model's output of one low-resolution image."""
    outputs = {BICUBIC: bicubic_upscale(low, scale)}
    with torch.inference_mode():
        for m in models:
            outputs[m.label] = m.model(low)
    return outputs


def evaluate_set(
    set_dir: Path, scale: int, models: Sequence[SRModel], protocol: str, limit: int | None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, torch.Tensor]]]:
    """Per-image scores of bicubic and ``models`` on ``set_dir/HR``, and the images
    (high, outputs) of the first image for the grid."""
    photos = scan_photos(set_dir / "HR", min_side=11 + 2 * scale).files[:limit]
    rows: list[dict[str, Any]] = []
    kept: dict[str, dict[str, torch.Tensor]] = {}
    for path in photos:
        high = modcrop(to_tensor(open_rgb(path)), scale)
        low, source = lowres(high, path, scale, protocol)
        outputs = upscale_all(low, scale, models)
        ref = mean_gradient(high, scale)
        for label, out in outputs.items():
            rows.append(
                {"image": path.name, "method": label, "lr": source, **score(out, high, scale, ref)}
            )
        own = reference(high, scale)
        rows.append({"image": path.name, "method": ORIGINAL, "lr": source, **own})
        if not kept:
            kept[path.name] = {"original": high, **outputs}
    return rows, kept


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of ``values``; None when any is None (the original has no PSNR)."""
    return None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]


def summarise(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean PSNR, SSIM and sharpness per method, in first-seen order."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        sources = sorted({r["lr"] for r in mine})
        summary.append(
            {
                "method": method,
                "images": len(mine),
                "lr": "+".join(sources),
                **{k: _mean([r[k] for r in mine]) for k in SCORES},
            }
        )
    return summary


def detail_crop(
    images: Mapping[str, torch.Tensor], scale: int, side: int
) -> dict[str, torch.Tensor]:
    """The same ``side`` x ``side`` window of every image: the one (on a coarse grid, a
    multiple of ``scale``) where the original has the most detail."""
    high = images["original"]
    h, w = high.shape[-2:]
    side = min(side, h, w)
    step = max(scale, side // 4 // scale * scale)
    best, where = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            detail = mean_gradient(high[..., top : top + side, left : left + side], 0)
            if detail > best:
                best, where = detail, (top, left)
    top, left = where
    return {k: quantize(v[..., top : top + side, left : left + side]) for k, v in images.items()}
