"""Precision and memory-format ratios of the model descriptor, measured in one run.

Random-init networks of the real sizes (style: width 32, 5 residual blocks; SR: width
64, 4 residual blocks, x4) run whole-image through :class:`stylepipe.LoadedModel` on the
CPU. Prints the median seconds of each configuration and its ratio to fp32 channels-last
(the descriptor's default layout), plus the mean absolute difference of the reduced-
precision output from fp32 (on the [0, 1] scale).

    .venv/bin/python benchmarks/bench_precision.py [--style-size 512] [--sr-size 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from stylepipe import LoadedModel, ModelSpec, load_model
from stylepipe.models.devices import cpu_has_fast_bf16, resolve_precision
from stylepipe.plugins import Catalog, load_plugins

CASES = {
    "style": ("johnson-style", {"width": 32, "n_residual": 5}, 1),
    "sr": ("johnson-sr", {"scale": 4, "width": 64, "n_residual": 4, "skip": "bicubic"}, 4),
}


def make_model(kind: str, folder: Path, precision: str) -> LoadedModel:
    arch_id, params, scale = CASES[kind]
    arch = Catalog.build(load_plugins(entry_points=False)).architectures.get(arch_id)
    torch.manual_seed(0)
    weights = folder / f"{kind}.safetensors"
    if not weights.exists():
        save_file(arch.build(**params).state_dict(), str(weights))
    spec = ModelSpec(kind, arch.kind, arch_id, params, weights, scale=scale)
    return load_model(spec, arch, device="cpu", precision=precision, tile=0)


def timed(model: LoadedModel, image: torch.Tensor, repeat: int) -> tuple[float, torch.Tensor]:
    out = model(image)  # warm-up: kernel selection, allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = model(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench(kind: str, size: int, repeat: int, folder: Path) -> None:
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    rows = []
    reference = None
    for precision in ("fp32", "bf16"):
        for layout in ("channels_last", "contiguous"):
            model = make_model(kind, folder, precision)
            if layout == "contiguous":
                model.net = model.net.to(memory_format=torch.contiguous_format)
            seconds, out = timed(model, image, repeat)
            if reference is None:
                reference = out
            error = float((out - reference).abs().mean())
            rows.append((precision, layout, seconds, error))
    base = rows[0][2]
    print(f"{kind} {size}x{size} (median of {repeat}):")
    for precision, layout, seconds, error in rows:
        print(
            f"  {precision:4} {layout:13} {seconds:7.3f}s  ratio {seconds / base:5.2f}"
            f"  mean |diff| vs fp32 {error:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style-size", type=int, default=512)
    parser.add_argument("--sr-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"CPU bf16 instructions: {cpu_has_fast_bf16()}; ", end="")
    print(f"--precision auto on cpu -> {resolve_precision('auto', torch.device('cpu'))}")
    with tempfile.TemporaryDirectory() as tmp:
        bench("style", args.style_size, args.repeat, Path(tmp))
        bench("sr", args.sr_size, args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
