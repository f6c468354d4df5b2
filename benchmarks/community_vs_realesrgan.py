"""stylepipe's tiled x4 against Real-ESRGAN's tiling scheme, same ESRGAN-size model, on CPU.

An ESRGAN network of the Real-ESRGAN x4plus shape (spandrel's own RRDBNet class: x4,
64 features, 23 RRDB blocks, growth 32) gets random weights from a fixed seed; its last
convolution is rescaled (an exact affine change) so that its output on the test image
spreads around mid-grey instead of being flat. Random weights cost exactly the same
arithmetic as trained ones, so the seconds and the memory are those of the real model;
the seam errors are those of this network, not of a trained one. The checkpoint is
imported with ``stylepipe import-model --copy`` into a temporary ``STYLEPIPE_HOME`` and a
generated scan (gradients, rings, edges, text-like strokes and noise; ``--size``) is
upscaled three ways, each in its own process:

- **full frame**: the whole image through the network at once (the reference);
- **stylepipe**: ``stylepipe run --filter upscale:model=...`` with its automatic tile
  (``--sp-tile`` to force one), halo and blended overlaps;
- **Real-ESRGAN scheme**: RealESRGANer's tiling as its documentation describes it, written
  here: the image cut into ``--tile`` x ``--tile`` input tiles, each run with ``tile_pad``
  (10) extra input pixels on every side, and the output tile, without its pad, pasted into
  place: no overlap, no blending. ``pre_pad`` 0 (its default). Its command line's default
  is ``--tile 0`` (no tiling); users who need bounded memory pass e.g. ``--tile 400``,
  which is what this script runs unless told otherwise.

All in fp32 on the CPU with ``--threads`` torch threads. Each method's seconds are the wall
time of its process (interpreter start, imports, model load, PNG decode/encode included);
peak RSS is the process's own ``ru_maxrss`` (from ``os.wait4``). Seam error: the 8-bit
output's absolute difference from the full frame's (0-255 levels), max and mean over the
image and max within 2 input pixels (8 output pixels) of the method's tile borders.

    .venv/bin/python benchmarks/community_vs_realesrgan.py            # 1152x864, 23 blocks
    # (estimated 1-1.5 h on a 2-core CPU; the full frame peaks near 9 GB of RAM)
    .venv/bin/python benchmarks/community_vs_realesrgan.py --size 192x128 --blocks 2 \\
        --threads 1 --tile 64 --sp-tile 64                           # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL_NAME = "bench-esrgan"
BORDER = 2  # input pixels each side of a tile border counted as "along the border"


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


# --- the inputs --------------------------------------------------------------------


def scan_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A (height, width, 3) uint8 stand-in for a scan: smooth gradients, rings, hard edges,
    thin strokes and film-grain noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    rings = 0.5 + 0.5 * np.cos(60 * np.hypot(u - 0.3, v - 0.6))
    blocks = ((x // 24 + y // 24) % 2).astype(np.float32)
    strokes = ((x.astype(int) % 11 < 2) & (v > 0.5)).astype(np.float32)
    red = 0.2 + 0.6 * u * (1 - 0.5 * strokes)
    green = np.where(u < 0.5, rings, 0.3 + 0.4 * blocks)
    blue = 0.8 * v + 0.2 * blocks * (u > 0.7)
    rgb = np.stack([red, green, blue], axis=-1) + rng.normal(0, 0.03, (height, width, 3))
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def build_checkpoint(path: Path, blocks: int, image: np.ndarray, seed: int, init: str) -> None:
    """Save a seeded random ESRGAN (spandrel's RRDBNet) whose output spreads around
    mid-grey: the last convolution is rescaled per channel from a probe crop.
    ``init``: PyTorch's default, or variance-preserving (Kaiming normal for leaky ReLU
    0.2, zero biases; as benchmarks/community_halo.py) so that far pixels keep their
    influence, as in a trained network: the stricter test of a tiling."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN
    from torch import nn

    torch.manual_seed(seed)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=blocks, scale=4).eval()
    if init == "kaiming":
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
    last = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
    probe = torch.from_numpy(image[:48, :48].astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = net(probe)
        mean = out.mean(dim=(0, 2, 3))
        std = out.std(dim=(0, 2, 3)).clamp_min(1e-8)
        gain = 0.2 / std
        last.weight.mul_(gain[:, None, None, None])
        last.bias.copy_((last.bias - mean) * gain + 0.5)
    torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, path)


# --- the three methods, each run in a child process ---------------------------------------


def load_network(checkpoint: Path):  # noqa: ANN201 (torch is imported lazily)
    import spandrel

    return spandrel.ModelLoader().load_from_file(str(checkpoint)).model.eval()


def to_uint8(output) -> np.ndarray:  # noqa: ANN001
    """(1, 3, H, W) float -> (H, W, 3) uint8, as both tools write it (clamp, round)."""
    values = output[0].permute(1, 2, 0).clamp(0, 1).numpy()
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def realesrgan_tiles(net, image, scale: int, tile: int, tile_pad: int):  # noqa: ANN001, ANN201
    """RealESRGANer's tile_process, rewritten from its description: non-overlapping
    ``tile`` x ``tile`` input tiles, each read with ``tile_pad`` more pixels on each side
    (clipped at the image edge), the pad cut off the output tile, no blending."""
    import torch

    _, channels, height, width = image.shape
    output = torch.zeros(1, channels, height * scale, width * scale)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            pad_top, pad_left = max(top - tile_pad, 0), max(left - tile_pad, 0)
            pad_bottom, pad_right = min(bottom + tile_pad, height), min(right + tile_pad, width)
            with torch.inference_mode():
                y = net(image[:, :, pad_top:pad_bottom, pad_left:pad_right])
            oy, ox = (top - pad_top) * scale, (left - pad_left) * scale
            th, tw = (bottom - top) * scale, (right - left) * scale
            output[:, :, top * scale : bottom * scale, left * scale : right * scale] = y[
                :, :, oy : oy + th, ox : ox + tw
            ]
    return output


def child_torch(args: argparse.Namespace) -> None:
    """Full frame (``--tile 0``) or the Real-ESRGAN scheme, straight in torch."""
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    net = load_network(args.checkpoint)
    pixels = np.asarray(Image.open(args.input).convert("RGB"), dtype=np.float32) / 255
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        if args.tile <= 0:
            output = net(image)
        else:
            output = realesrgan_tiles(net, image, 4, args.tile, args.tile_pad)
    Image.fromarray(to_uint8(output)).save(args.output)
    height, width = pixels.shape[:2]
    cuts = (
        [[], []]
        if args.tile <= 0
        else [list(range(args.tile, n, args.tile)) for n in (height, width)]
    )
    args.record.write_text(json.dumps({"cuts": cuts, "tile": args.tile}))


def child_stylepipe(args: argparse.Namespace) -> None:
    """``stylepipe run`` in this process, with a spy on the tile plan (to know where its
    tile borders are)."""
    import torch

    import stylepipe.tiling.job as job
    from stylepipe.cli import main

    torch.set_num_threads(args.threads)
    seen: dict[str, object] = {}
    plan = job._plan

    def spy(seg, size, side, overlap):  # noqa: ANN001, ANN202
        tiles = plan(seg, size, side, overlap)
        rows = sorted({t.ys.core[0] for t in tiles} - {0})
        cols = sorted({t.xs.core[0] for t in tiles} - {0})
        seen.update(cuts=[rows, cols], tile=side, tiles=len(tiles), overlap=overlap)
        return tiles

    job._plan = spy
    argv = ["run", str(args.input), "-o", str(args.output), "-q", "--overwrite"]
    argv += ["--filter", f"upscale:model={MODEL_NAME}", "--device", "cpu"]
    argv += ["--precision", "fp32", "--tile", args.sp_tile]
    code = main(argv)
    if code:
        raise SystemExit(code)
    args.record.write_text(json.dumps(seen))


# --- the parent: set up, run the children, compare --------------------------------------


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv``; its wall seconds and its own peak RSS in MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(argv)}")
    return seconds, usage.ru_maxrss / 1024  # Linux: kilobytes


def border_mask(shape: tuple[int, int], cuts: list[list[int]], scale: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    band = BORDER * scale
    for cut in cuts[0]:
        mask[max(cut * scale - band, 0) : cut * scale + band, :] = True
    for cut in cuts[1]:
        mask[:, max(cut * scale - band, 0) : cut * scale + band] = True
    return mask


def seam_error(output: np.ndarray, reference: np.ndarray, cuts: list[list[int]]) -> dict:
    diff = np.abs(output.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
    mask = border_mask(diff.shape, cuts, 4)
    return {
        "max": int(diff.max()),
        "mean": float(diff.mean()),
        "border_max": int(diff[mask].max()) if mask.any() else None,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} logical CPUs, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=parse_size, default=(1152, 864), help="WxH of the scan")
    parser.add_argument("--blocks", type=int, default=23, help="RRDB blocks (x4plus: 23)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per method")
    parser.add_argument("--tile", type=int, default=400, help="Real-ESRGAN --tile (input px)")
    parser.add_argument("--tile-pad", type=int, default=10, help="Real-ESRGAN --tile_pad")
    parser.add_argument("--sp-tile", default="auto", help="stylepipe --tile (default auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        choices=("kaiming", "default"),
        default="kaiming",
        help="random weights: variance-preserving (stricter for seams) or PyTorch's default",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--child", choices=("torch", "stylepipe"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "torch":
        return child_torch(args)
    if args.child == "stylepipe":
        return child_stylepipe(args)

    from PIL import Image

    width, height = args.size
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory(prefix="stylepipe-bench-") as tmp:
        root = Path(tmp)
        env["STYLEPIPE_HOME"] = str(root / "home")
        image = scan_image(width, height, args.seed)
        Image.fromarray(image).save(root / "scan.png")
        checkpoint = root / "RealESRGAN_x4plus_shape.pth"
        build_checkpoint(checkpoint, args.blocks, image, args.seed, args.init)
        subprocess.run(
            [sys.executable, "-m", "stylepipe", "import-model", str(checkpoint)]
            + ["--name", MODEL_NAME, "--copy"],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        me = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads)]
        common = ["--checkpoint", str(checkpoint), "--input", str(root / "scan.png")]
        methods = {
            "full frame (reference)": ["--child", "torch", "--tile", "0"],
            "stylepipe (tile {tile})": ["--child", "stylepipe", "--sp-tile", args.sp_tile],
            "Real-ESRGAN scheme (tile {tile}, tile_pad {pad})": [
                "--child", "torch", "--tile", str(args.tile), "--tile-pad", str(args.tile_pad)
            ],
        }  # fmt: skip
        rows = []
        for i, (label, extra) in enumerate(methods.items()):
            out, record = root / f"out{i}.png", root / f"record{i}.json"
            argv = me + common + extra + ["--output", str(out), "--record", str(record)]
            seconds, rss = run_child(argv, env)
            info = json.loads(record.read_text())
            tile = info.get("tile", 0)
            tile_text = "whole image" if not tile or not any(info["cuts"]) else f"{tile} px"
            if "tiles" in info and any(info["cuts"]):
                tile_text += f", {info['tiles']} tiles, overlap {info['overlap']}"
            rows.append(
                {
                    "method": label.format(tile=tile_text, pad=args.tile_pad),
                    "seconds": seconds,
                    "peak_rss_mib": rss,
                    "cuts": info["cuts"],
                    "output": np.asarray(Image.open(out).convert("RGB")),
                }
            )
    reference = rows[0]["output"]
    for row in rows:
        row["seam"] = seam_error(row.pop("output"), reference, row["cuts"])
        del row["cuts"]

    print(
        f"{width}x{height} generated scan -> x4, ESRGAN/RRDBNet (spandrel) 64 features, "
        f"{args.blocks} blocks, growth 32; random {args.init} weights (seed {args.seed}): "
        "speed and memory as a trained model's, seam errors this network's"
    )
    print(f"CPU: {machine()}; {args.threads} torch threads per method; fp32")
    print()
    print(
        "| method | seconds | peak RSS (MiB) | max abs diff | mean abs diff | max on tile borders |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        seam = row["seam"]
        border = "-" if seam["border_max"] is None else str(seam["border_max"])
        print(
            f"| {row['method']} | {row['seconds']:.1f} | {row['peak_rss_mib']:.0f} | "
            f"{seam['max']} | {seam['mean']:.4f} | {border} |"
        )
    print()
    print(
        "Errors in 8-bit levels against the full frame; 'on tile borders': within "
        f"{BORDER} input px ({BORDER * 4} output px) of the method's tile borders. Seconds: "
        "the method's whole process (start, model load, PNG in/out)."
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return None


if __name__ == "__main__":
    main()
