"""Halo and tiled-vs-full-frame error of the community upscaler families (spandrel).

For each family a random-initialised network of the family's real depth (so that its
receptive field is the real one; widths thinned to keep the CPU cost small) is built
with spandrel's own architecture class, seeded, and loaded through stylepipe's
``spandrel`` architecture exactly as an imported model is. A 256x256 generated image
(gradients, rings and fine stripes) runs once on the whole frame and once in tiles of
``--tile`` input pixels (default 64: many seams) with each candidate halo (weights:
see ``--init``); the table
gives the halo stylepipe uses for the family (``*``), the max absolute difference of
the tiled from the full-frame output (unclamped), the output's span (max - min; random
weights do not keep it in [0, 1]) and the difference in 8-bit levels were that span
mapped to 0-255 (``255 * max|diff| / span``), and the seconds of the full-frame pass.

    .venv/bin/python benchmarks/community_halo.py            # the README table
    .venv/bin/python benchmarks/community_halo.py --halos 8,16,32 --size 128

Random weights are not trained ones: a trained network's error at the same halo may be
larger or smaller. Compact is exact by construction (its halo covers the receptive
field); ESRGAN's receptive field (~350 input pixels) is larger than any practical halo,
and window attention (SwinIR, HAT, DAT) sees the whole image through its shifted
windows, so those are close, not equal.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def families() -> dict[str, Callable[[], nn.Module]]:
    """The networks measured: spandrel's classes at their real depth, thinned."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DAT import DAT
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.SwinIR import SwinIR

    return {
        "ESRGAN": lambda: ESRGAN(num_filters=16, num_blocks=23, scale=4),
        "Compact": lambda: Compact(num_feat=16, num_conv=32, upscale=4),
        "SwinIR": lambda: SwinIR(
            embed_dim=24,
            depths=[6, 6, 6, 6],
            num_heads=[4, 4, 4, 4],
            window_size=8,
            upscale=4,
            img_size=64,
            upsampler="pixelshuffledirect",
            resi_connection="1conv",
        ),
        "HAT": lambda: HAT(  # HAT-S's depth (6 groups of 6), thinned
            embed_dim=24,
            depths=(6, 6, 6, 6, 6, 6),
            num_heads=(4, 4, 4, 4, 4, 4),
            window_size=16,
            compress_ratio=24,
            squeeze_factor=24,
            upscale=4,
            num_feat=16,
        ),
        "DAT": lambda: DAT(  # DAT-S's depth (6 groups of 6) and split sizes, thinned
            embed_dim=24,
            split_size=[8, 32],
            depth=[6, 6, 6, 6, 6, 6],
            num_heads=[4, 4, 4, 4, 4, 4],
            expansion_factor=2.0,
            upscale=4,
        ),
    }


def reinit(net: nn.Module) -> None:
    """Variance-preserving weights (Kaiming normal for leaky ReLU 0.2, fan-in, zero
    biases): PyTorch's default init shrinks each layer's output, so far pixels matter
    less than in a trained network; this keeps their influence, a stricter test."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def test_image(side: int) -> torch.Tensor:
    """(1, 3, side, side) in [0, 1]: gradients, rings and fine stripes."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rings = 0.5 + 0.5 * np.cos(40 * np.hypot(x - 0.5, y - 0.5))
    stripes = 0.5 + 0.5 * np.sign(np.sin(np.pi * side * x / 3))
    rgb = np.stack([x, rings, 0.3 * y + 0.7 * stripes * (y > 0.5)])
    return torch.from_numpy(rgb.clip(0, 1))[None]


def measure(name: str, make: Callable[[], nn.Module], args: argparse.Namespace) -> None:
    """Print one row per halo for the family ``name``."""
    from stylepipe_sr.community import detect, load, tiling_policy

    from stylepipe.tiling.run import run_tiled

    torch.manual_seed(0)
    built = make()
    if args.init == "kaiming":
        reinit(built)
    state = built.state_dict()
    params = detect(state)
    assert params is not None, name
    net = load(state, params).eval()
    policy = tiling_policy(**params)
    image = test_image(args.size)
    cpu = torch.device("cpu")
    start = time.perf_counter()
    with torch.inference_mode():
        full = run_tiled(net, image, policy, tile=0, device=cpu)
    seconds = time.perf_counter() - start
    span = float(full.max() - full.min())
    for halo in sorted({*args.halos, policy.halo}):
        trial = type(policy)(**{**policy.__dict__, "halo": halo})
        with torch.inference_mode():
            tiled = run_tiled(net, image, trial, tile=args.tile, device=cpu)
        diff = float((tiled - full).abs().max())
        levels = 255 * diff / span  # 8-bit levels, were the output spread over 0-255
        mark = "*" if halo == policy.halo else " "
        print(
            f"{name:8} {params['tiling']:11} {halo:4}{mark} {diff:10.2e} {span:9.3g} "
            f"{levels:10.4f} {seconds:7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="image side (pixels)")
    parser.add_argument("--tile", type=int, default=64, help="tile side (input pixels)")
    parser.add_argument(
        "--halos",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[8, 16, 32],
        help="halos to try besides the family's own (comma separated)",
    )
    parser.add_argument(
        "--init",
        choices=("kaiming", "default"),
        default="kaiming",
        help="weights: variance-preserving (stricter) or PyTorch's default init",
    )
    parser.add_argument("--only", help="comma-separated families (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chosen = families()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    print(
        f"{args.size}x{args.size} image, tiles of {args.tile}, {args.init} init; "
        "* = stylepipe's halo"
    )
    print("family   tiling      halo   max|diff|      span  8-bit lv  full s")
    for name, make in chosen.items():
        measure(name, make, args)


if __name__ == "__main__":
    main()
