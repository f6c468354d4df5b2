"""8-bit differences on a real photo with a trained instance-norm style network.

Used by ``inference.py``; runs alone too: ``.venv/bin/python benchmarks/photo_check.py``.
Compares bf16 with fp32 (whole frame), exact tiles with the whole frame (fp32 and bf16)
and ``mode="approx"`` with the whole frame, on the photo and on a 2x bicubic upscale of
it, and prints a Markdown table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engstrom_reference import POLICY, load_engstrom  # noqa: E402

from stylepipe.tiling.run import run_tiled

PHOTO = (
    Path(__file__).resolve().parents[2]
    / "shared/assets/content_images/jcjohnson_neural_style/tubingen.jpg"
)
CPU = torch.device("cpu")


def _photo(scale: int) -> torch.Tensor:
    image = Image.open(PHOTO).convert("RGB")
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float()
    return x[:, :, : x.shape[2] // 4 * 4, : x.shape[3] // 4 * 4]  # 0..255, multiple of 4


def _to8(y: torch.Tensor) -> np.ndarray:
    return y.clamp(0, 255).round().to(torch.int16).numpy()


def _compare(a: torch.Tensor, b: torch.Tensor) -> str:
    a8, b8 = _to8(a), _to8(b)
    diff = np.abs(a8 - b8)
    mse = float(((a.clamp(0, 255) - b.clamp(0, 255)) ** 2).mean())
    psnr = 10 * np.log10(255**2 / mse) if mse > 0 else float("inf")
    return (
        f"{100 * np.mean(diff == 0):.2f} | {100 * np.mean(diff <= 1):.3f} | "
        f"{100 * np.mean(diff <= 2):.3f} | {int(diff.max())} | "
        f"{diff.mean():.3f} | {psnr:.1f}"
    )


def photo_report(tile: int = 512) -> str:
    """The Markdown table (or why it was skipped)."""
    net = load_engstrom()
    if net is None or not PHOTO.is_file():
        return "photo check skipped: ../shared/assets (engstrom_udnie_ckpt, tubingen.jpg) not found"
    rows = []
    for scale in (1, 2):
        x = _photo(scale)
        runs, times = _runs(net, x, tile, exact=scale == 1)
        pairs = [("full bf16", "full fp32"), ("approx fp32", "full fp32")]
        if scale == 1:
            with torch.inference_mode():
                runs["fp64"] = net.double()(x.double()).float()
            net.float()
            times["fp64"] = float("nan")
            pairs += [
                ("exact fp32", "full fp32"),
                ("full fp32", "fp64"),
                ("exact fp32", "fp64"),
                ("exact bf16", "full bf16"),
            ]
        size = f"{x.shape[3]}x{x.shape[2]}"
        for a, b in pairs:
            seconds = f"{times[a]:.1f} / {times[b]:.1f}"
            rows.append(f"| {size} | {a} vs {b} | {_compare(runs[a], runs[b])} | {seconds} |")
    head = [
        f"Trained udnie network (Engstrom, instance norm), tubingen.jpg; tiles of {tile} px;",
        "fp64 = the same network in float64, whole frame (ground truth for float error)",
        "",
        "| image | comparison | % identical (8-bit) | % within 1 level | % within 2 levels "
        "| max levels "
        "| mean levels | PSNR dB | s (a / b) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows)


def _runs(net: torch.nn.Module, x: torch.Tensor, tile: int, exact: bool) -> tuple[dict, dict]:
    net = net.to(memory_format=torch.channels_last)
    settings = {
        "full fp32": (0, None, "exact"),
        "full bf16": (0, torch.bfloat16, "exact"),
        "approx fp32": (tile, None, "approx"),
    }
    if exact:
        settings["exact fp32"] = (tile, None, "exact")
        settings["exact bf16"] = (tile, torch.bfloat16, "exact")
    runs: dict[str, torch.Tensor] = {}
    times: dict[str, float] = {}
    for name, (t, dtype, mode) in settings.items():
        start = time.perf_counter()
        runs[name] = run_tiled(net, x, POLICY, tile=t, device=CPU, autocast_dtype=dtype, mode=mode)
        times[name] = time.perf_counter() - start
    return runs, times


if __name__ == "__main__":
    print(photo_report())
