"""Inference speed, peak memory and tiling error of the style network, measured in one run.

For each image size it runs, each case in a fresh subprocess (so peak memory is that
case's alone), the style network at the paper's size (width 32, 5 residual blocks,
random weights, seeded):

* ``plain fp32``: contiguous float32, no autocast, whole frame (pytorch/examples' way);
* ``full <p>``: the chosen precision (bf16 on this CPU: bf16 weights, channels-last,
  inference mode, batch-norm-kernel instance norm) through ``run_tiled(tile=0)``;
* ``tiled <p>``: exact tiled inference (``mode="exact"``) through
  ``run_tiled_stream`` from a uint8 array to a uint8 array (the 100-megapixel image
  never exists in float32); ``approx <p>``: ``mode="approx"`` likewise.

and reports seconds per image, megapixels per second, speed relative to plain fp32,
peak resident memory (VmHWM of the subprocess: the whole process, and the inference
alone after resetting the mark) and the max abs difference of the tiled output from the
full frame of the same precision (output units; random weights give outputs of std ~1).
Then, on a real photo with a trained instance-norm network (``engstrom_reference``),
the 8-bit differences of bf16 vs fp32, exact tiles vs full frame, and approx vs exact.

    .venv/bin/python benchmarks/inference.py            # 256, 1024, 4096, 100 MP
    .venv/bin/python benchmarks/inference.py --quick    # 256 and 1024 only
    .venv/bin/python benchmarks/inference.py --sizes 1024 --tile 512
    .venv/bin/python benchmarks/inference.py --sizes 4096 --only "plain fp32,full bf16"

The CPU may be shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
PHOTO = ASSETS / "content_images/jcjohnson_neural_style/tubingen.jpg"
SIDES = {"256": 256, "1024": 1024, "4096": 4096, "100mp": 10000}
FULL_LIMIT = 4096  # whole-frame cases above this side would need tens of GB


def photo_rgb(side: int) -> np.ndarray:
    """A ``side`` x ``side`` uint8 RGB image: the photo (or a gradient without assets)
    resized to at most 2048 and mirror-tiled band by band, never whole in float."""
    small = min(side, 2048)
    if PHOTO.is_file():
        base = np.asarray(
            Image.open(PHOTO).convert("RGB").resize((small, small), Image.Resampling.BICUBIC)
        )
    else:
        ramp = np.linspace(0, 255, small, dtype=np.float32)
        base = np.stack(
            [ramp[:, None] + 0 * ramp, 0 * ramp[:, None] + ramp, 128 + 0 * ramp * ramp[:, None]], 2
        )
        base = base.astype(np.uint8)
    mirrored = np.concatenate([base, base[:, ::-1]], axis=1)
    mirrored = np.concatenate([mirrored, mirrored[::-1]], axis=0)
    out = np.empty((side, side, 3), np.uint8)
    period = 2 * small
    for top in range(0, side, small):
        rows = (np.arange(top, min(side, top + small)) % period)[:, None]
        cols = np.arange(side) % period
        out[top : top + small] = mirrored[rows, cols]
    return out


def style_net(channels_last: bool) -> torch.nn.Module:
    from stylepipe_style.network import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(width=32, n_residual=5).eval().requires_grad_(False)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so that it covers what follows."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_case(case: dict) -> dict:
    """One measurement, in this (fresh) process, after a warm-up on a 256x256 crop."""
    pixels = photo_rgb(case["side"])
    run = _case_function(case)
    run(pixels[:256, :256])  # kernel selection, thread pool, allocator
    lifetime_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _reset_peak()
    start = time.perf_counter()
    out = run(pixels)
    seconds = time.perf_counter() - start
    result = {
        **case,
        "seconds": seconds,
        "peak_mb": _vm_hwm_mb(),
        "lifetime_peak_mb": max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, lifetime_before
        ),
    }
    if case.get("save"):
        np.save(case["save"], np.ascontiguousarray(out, dtype=np.float32))
    return result


def _case_function(case: dict):  # noqa: ANN202  (benchmark helper)
    """``run(pixels) -> output array`` for a case."""
    from stylepipe_style import tiling_policy

    from stylepipe.tiling.run import ArraySink, ArraySource, run_tiled, run_tiled_stream

    kind, policy = case["kind"], tiling_policy(width=32, n_residual=5)
    dtype = torch.bfloat16 if case["dtype"] == "bf16" else None
    net = style_net(channels_last=kind != "plain")
    cpu = torch.device("cpu")
    tile = 0 if kind in ("plain", "full") else case["tile"]
    mode = "exact" if kind in ("plain", "full") else kind

    def run(pixels: np.ndarray) -> np.ndarray:
        if pixels.shape[0] > FULL_LIMIT:  # uint8 in, uint8 out, band by band
            out = np.empty_like(pixels)
            source, sink = ArraySource(pixels), ArraySink(out)
            run_tiled_stream(
                net, source, policy, sink, tile=tile, device=cpu, autocast_dtype=dtype, mode=mode
            )
            return out
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255)
        with torch.inference_mode():
            if kind == "plain":
                y = net(x)
            else:
                y = run_tiled(
                    net, x, policy, tile=tile, device=cpu, autocast_dtype=dtype, mode=mode
                )
        return y[0].permute(1, 2, 0).numpy()

    return run


def spawn(case: dict) -> dict:
    """Run a case in a subprocess and return its JSON result (or the error)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {**case, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def size_cases(name: str, tile: int, tmp: Path, only: set[str] | None = None) -> list[dict]:
    """The cases of one size; ``only``: keep those named ``"<kind> <dtype>"``."""
    side = SIDES[name]
    cases = []
    if side <= FULL_LIMIT:
        cases.append({"kind": "plain", "dtype": "fp32"})
        cases.append({"kind": "full", "dtype": "bf16"})
        cases.append({"kind": "full", "dtype": "fp32"})
    cases.append({"kind": "exact", "dtype": "bf16", "tile": tile})
    if side <= 1024:
        cases.append({"kind": "exact", "dtype": "fp32", "tile": tile})
    if side <= FULL_LIMIT:
        cases.append({"kind": "approx", "dtype": "bf16", "tile": tile})
    if only is not None:
        cases = [c for c in cases if f"{c['kind']} {c['dtype']}" in only]
    for c in cases:
        c["side"] = side
        if side <= FULL_LIMIT:
            c["save"] = str(tmp / f"{side}-{c['kind']}-{c['dtype']}.npy")
    return cases


def errors(results: list[dict]) -> None:
    """Max abs difference of tiled outputs from the full frame of their precision."""
    for r in results:
        if r["kind"] in ("exact", "approx") and r.get("save") and "error" not in r:
            ref = r["save"].replace(f"-{r['kind']}-", "-full-")
            if Path(ref).exists() and Path(r["save"]).exists():
                a, b = np.load(r["save"]), np.load(ref)
                r["max_err"] = float(np.abs(a - b).max())


def table(results: list[dict]) -> str:
    lines = [
        "| size | case | s/image | MP/s | x plain fp32 | peak RSS MB (inference / process) "
        "| max abs err vs full frame |",
        "|---|---|---|---|---|---|---|",
    ]
    plain = {r["side"]: r["seconds"] for r in results if r["kind"] == "plain" and "seconds" in r}
    for r in results:
        name = f"{r['kind']} {r['dtype']}" + (f" tile {r['tile']}" if "tile" in r else "")
        size = f"{r['side']}x{r['side']}"
        if "error" in r:
            lines.append(f"| {size} | {name} | failed: {r['error'][:80]} | | | | |")
            continue
        mp = r["side"] ** 2 / 1e6
        ratio = f"{plain[r['side']] / r['seconds']:.2f}" if r["side"] in plain else "n/a"
        err = f"{r['max_err']:.2e}" if "max_err" in r else "n/a"
        lines.append(
            f"| {size} | {name} | {r['seconds']:.2f} | {mp / r['seconds']:.2f} | {ratio} | "
            f"{r['peak_mb']:.0f} / {r['lifetime_peak_mb']:.0f} | {err} |"
        )
    return "\n".join(lines)


README_CASES = (
    ("plain", "fp32", "plain fp32 (pytorch/examples)"),
    ("full", "fp32", "stylepipe fp32, channels-last"),
    ("full", "bf16", "stylepipe bf16"),
)


def readme_table(results: list[dict]) -> str:
    """Whole-frame cases only: size x {plain fp32, stylepipe fp32, stylepipe bf16}, with
    seconds, speed-up over plain fp32 and peak resident memory of the inference."""
    lines = [
        "| image | " + " | ".join(label for *_, label in README_CASES) + " |",
        "|---|" + "---|" * len(README_CASES),
    ]
    for side in sorted({r["side"] for r in results}):
        found = {(r["kind"], r["dtype"]): r for r in results if r["side"] == side}
        plain = found.get(("plain", "fp32"), {}).get("seconds")
        cells = []
        for kind, dtype, _ in README_CASES:
            r = found.get((kind, dtype))
            if r is None or "seconds" not in r:
                cells.append("failed" if r else "not run")
                continue
            ratio = f", {plain / r['seconds']:.2f}x" if plain else ""
            cells.append(f"{r['seconds']:.2f} s{ratio}, {r['peak_mb']:.0f} MB")
        lines.append(f"| {side}x{side} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 and 1024 only")
    parser.add_argument("--sizes", default=None, help="comma list of 256,1024,4096,100mp")
    parser.add_argument("--tile", type=int, default=256, help="tile side for the tiled cases")
    parser.add_argument("--no-photo-check", action="store_true", help="skip the trained-net part")
    parser.add_argument(
        "--only",
        default=None,
        help="comma list of cases to run, e.g. 'plain fp32,full fp32,full bf16' "
        "(kinds: plain, full, exact, approx; dtypes: fp32, bf16)",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    names = (
        args.sizes.split(",") if args.sizes else (["256", "1024"] if args.quick else list(SIDES))
    )
    only = {part.strip() for part in args.only.split(",")} if args.only else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for case in size_cases(name, args.tile, Path(tmp), only):
                results.append(spawn(case))
                print(
                    f"  done: {json.dumps({k: v for k, v in results[-1].items() if k != 'save'})}",
                    file=sys.stderr,
                )
            errors(results)
            for r in results:
                if r.get("save") and Path(r["save"]).exists():
                    Path(r["save"]).unlink()
    print(table(results))
    print()
    print("Whole frame, seconds per image, speed-up over plain fp32, peak RSS of the inference:")
    print()
    print(readme_table(results))
    if not args.no_photo_check:
        from photo_check import photo_report  # noqa: PLC0415  (benchmark-only helper)

        print()
        print(photo_report())


if __name__ == "__main__":
    main()
