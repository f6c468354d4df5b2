"""Stylization throughput on a GPU (issue 13): images per second at 1024x1024, in one run.

The one prepared script for a lent GPU (the device tool): for each style network (width
16, the bundled styles' network, and width 32, the paper's), it measures

* ``stylepipe``: the engine as a batch runs it, one photo at a time, uint8 in and float
  out (``LoadedModel.run_array``: host-to-device copy, tiles from free memory, the NaN /
  blank check), in the resolved precision (fp16 on CUDA), channels-last;
* ``stylepipe --compile``: the same with whole-frame passes through ``torch.compile``;
* ``plain batch B``: the network alone on a batch of ``B`` images already on the device
  (autocast, channels-last, ``inference_mode``): the device's ceiling for that network,
  without any of the engine's work; with ``--compile`` also through ``torch.compile``.

It prints a Markdown table (images/s, ms/image, peak device memory) and the machine;
``--json`` writes the figures. It runs on the CPU too (small sizes; the test suite runs
it that way), where the figures mean little.

    .venv/bin/python benchmarks/gpu_throughput.py                      # cuda, 1024, 64 images
    .venv/bin/python benchmarks/gpu_throughput.py --compile --json out.json
    .venv/bin/python benchmarks/gpu_throughput.py --device cpu --side 64 --images 2 --batches 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
NETS = {"style16": {"width": 16, "n_residual": 5}, "style32": {"width": 32, "n_residual": 5}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        description=doc.splitlines()[0],
        epilog=doc.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--side", type=int, default=1024, help="square image side (pixels)")
    p.add_argument("--images", type=int, default=64, help="timed images per case")
    p.add_argument("--nets", default="style16,style32", help="comma list of " + ", ".join(NETS))
    p.add_argument("--batches", default="1,8,32", help="batch sizes of the plain cases")
    p.add_argument("--precision", default="auto", help="auto (fp16 on CUDA), fp32, bf16, fp16")
    p.add_argument("--compile", action="store_true", help="also the torch.compile cases")
    p.add_argument("--json", type=Path, help="write the figures here")
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def timed(run: Callable[[], int], device: torch.device, images: int) -> dict[str, Any]:
    """Warm up twice (kernel choice, compilation), then run until ``images`` are done."""
    run()
    run()
    sync(device)
    reset_peak(device)
    done, start = 0, time.perf_counter()
    while done < images:
        done += run()
    sync(device)
    seconds = time.perf_counter() - start
    return {"images": done, "seconds": seconds, "images_per_s": done / seconds,
            "ms_per_image": 1000 * seconds / done, "peak_mb": peak_mb(device)}  # fmt: skip


def load(name: str, args: argparse.Namespace, compile: bool) -> Any:
    """A random-init network of ``name``'s shape as stylepipe loads a model (the speed
    does not depend on the weights)."""
    from safetensors.torch import save_file

    from stylepipe import ModelSpec, load_model
    from stylepipe.plugins import Catalog, load_plugins

    arch = Catalog.build(load_plugins(entry_points=False)).architectures.get("johnson-style")
    weights = Path(args.tmp) / f"{name}.safetensors"
    if not weights.is_file():
        torch.manual_seed(0)
        save_file(arch.build(**NETS[name]).state_dict(), weights)
    spec = ModelSpec(name, "style", "johnson-style", NETS[name], weights)
    return load_model(spec, arch, device=args.device, precision=args.precision, compile=compile)


def engine_case(model: Any, photo: np.ndarray) -> Callable[[], int]:
    def run() -> int:
        model.run_array(photo)
        return 1

    return run


def plain_case(model: Any, side: int, batch: int, compile: bool) -> Callable[[], int]:
    from stylepipe.models.devices import autocast_dtype

    device = torch.device(model.device)
    dtype = autocast_dtype(model.precision)
    net = torch.compile(model.net) if compile else model.net
    x = torch.rand(batch, 3, side, side, device=device) * model.input_range
    x = x.contiguous(memory_format=torch.channels_last)

    def run() -> int:
        with torch.inference_mode(), torch.autocast(device.type, dtype, enabled=dtype is not None):
            net(x)
        return batch

    return run


def photo(side: int) -> np.ndarray:
    from PIL import Image

    image = Image.open(ROOT / "samples" / "photos" / "astronaut.jpg").convert("RGB")
    return np.asarray(image.resize((side, side), Image.Resampling.BICUBIC)).copy()


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    device = torch.device(args.device)
    pixels = photo(args.side)
    rows = []
    for name in [n for n in args.nets.split(",") if n]:
        for compile in (False, True) if args.compile else (False,):
            model = load(name, args, compile)
            label = "stylepipe" + (" --compile" if compile else "")
            figures = timed(engine_case(model, pixels), device, args.images)
            rows.append({"net": name, "case": label, "precision": model.precision, **figures})
            print(f"{name} {label}: {figures['images_per_s']:.1f} images/s", flush=True)
        for batch in [int(b) for b in args.batches.split(",") if b]:
            for compile in (False, True) if args.compile else (False,):
                model = load(name, args, False)
                label = f"plain batch {batch}" + (" + torch.compile" if compile else "")
                try:
                    run = plain_case(model, args.side, batch, compile)
                    figures = timed(run, device, max(args.images, 2 * batch))
                except torch.OutOfMemoryError:
                    rows.append({"net": name, "case": label, "error": "out of memory"})
                    continue
                rows.append({"net": name, "case": label, "precision": model.precision, **figures})
                print(f"{name} {label}: {figures['images_per_s']:.1f} images/s", flush=True)
    return rows


def machine(device: torch.device) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return f"{where or device.type}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{machine(torch.device(args.device))}; {args.side}x{args.side}, {args.images} images",
        "",
        "| network | case | precision | images/s | ms/image | peak device MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['net']} | {r['case']} | | {r['error']} | | |")
            continue
        memory = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        lines.append(
            f"| {r['net']} | {r['case']} | {r['precision']} | {r['images_per_s']:.1f} | "
            f"{r['ms_per_image']:.2f} | {memory} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        rows = measure(args)
    print(markdown(rows, args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: str(v) for k, v in vars(args).items() if k != "tmp"}
        args.json.write_text(json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
