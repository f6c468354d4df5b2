"""The machine's measured convolution peak, and how close stylepipe's networks get to it.

One run prints, measured on this machine in that run (compare ratios, not absolute
seconds, on a shared CPU):

1. **Machine**: CPU model, cores, the instruction-set flags that matter (AVX2, FMA,
   AVX-512, AVX-512 BF16, AMX), torch and its CPU capability, the load average.
2. **Convolution peak**: GFLOP/s of every convolution shape our networks use (style
   widths 16 and 32, x4/x8 upscalers), in fp32 and bf16, contiguous and channels-last,
   each at the size it has in the networks (style at 512x512, upscalers for a 512x512
   output; smaller where a run would take over ``--conv-time`` seconds: bf16 without
   native kernels); the best of all is the machine's peak per precision. The oneDNN
   kernel each layout and precision gets (``ONEDNN_VERBOSE``) for the widest shape.
3. **Networks**: the style network (widths 16 and 32) and the x4/x8 upscalers at each
   size (the *output* side; an upscaler reads side/scale), each case in a fresh
   subprocess: ``plain`` is pytorch/examples' way (the whole image through ``model(x)``,
   fp32, contiguous, under ``no_grad``); ``stylepipe`` is stylepipe's engine
   (:func:`stylepipe.tiling.run.run_tiled_stream`, uint8 in and out, the precision
   ``auto`` picks, the tile it picks from free memory); ``stylepipe, mmap`` the same with
   the allocator's default behaviour (:mod:`stylepipe.tiling.heap`), ``+ THP`` with
   torch's transparent huge pages instead (``THP_MEM_ALLOC_ENABLE=1``); ``stylepipe <p>``
   the precision ``auto`` did not pick; ``stylepipe, tile N`` exact tiles of N pixels.
   Seconds (best of ``--repeat`` after a warm-up), CPU seconds, GFLOP (the network's
   convolutions, counted by ``torch.utils.flop_counter`` for one whole-image pass: the
   useful work, whatever a tiled run recomputes), achieved GFLOP/s as a fraction of the
   peak and of the network's own bound (each layer at its shape's best measured speed),
   the subprocess's peak RSS, its minor page faults, and the ratio to ``plain`` of the
   same network and size (or, where plain would not fit in memory, to plain's time per
   pixel at the largest size it ran, marked ``*``).
4. **Per layer** (torch profiler): the style network at width 32, ``plain`` and
   ``stylepipe``, milliseconds and GFLOP/s per layer.
5. **Guarantees** on real photos (``samples/photos``) with the bundled, trained models:
   tiled vs whole frame (share of identical 8-bit values, largest difference) and bf16 vs
   fp32 (share within one 8-bit level).
6. **Whole process** (``--process``): ``stylepipe run`` against a plain script (python
   start, imports, weights, PNG read, forward, PNG write) on one photo, with the bundled
   width-16 style, seconds and peak RSS of each process.

    .venv/bin/python benchmarks/peak.py            # 512 and 1024 (a few minutes, idle 2 cores)
    .venv/bin/python benchmarks/peak.py --quick    # 512 only, no bf16 networks, no process
    .venv/bin/python benchmarks/peak.py --large    # + tiled 4096, process at 2048
    .venv/bin/python benchmarks/peak.py --huge     # + tiled 100 MP (10000x10000; long)
    .venv/bin/python benchmarks/peak.py --nets style32 --sizes 1024 --json out.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "samples" / "photos"
CPU = torch.device("cpu")
FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
#: name -> (architecture, params, scale, bundled model or None: random weights, seeded)
NETS: dict[str, tuple[str, dict[str, Any], int, str | None]] = {
    "style16": ("johnson-style", {"width": 16, "n_residual": 5}, 1, "stylepipe_style/starry-night"),
    "style32": ("johnson-style", {"width": 32, "n_residual": 5}, 1, None),
    "sr4": (
        "johnson-sr",
        {"scale": 4, "width": 32, "n_residual": 4, "skip": "bicubic"},
        4,
        "stylepipe_sr/sr4-pixel",
    ),
    "sr8": (
        "johnson-sr",
        {"scale": 8, "width": 32, "n_residual": 4, "skip": "bicubic"},
        8,
        "stylepipe_sr/sr8",
    ),
}
PLAIN_LIMIT = 2048  # plain whole-frame cases above this output side would need tens of GB


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from stylepipe.models.devices import cpu_flags, cpu_has_fast_bf16, resolve_precision

    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "flags": {f: f in flags for f in FLAGS},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "capability": str(torch.backends.cpu.get_cpu_capability()),
        "fast_bf16": cpu_has_fast_bf16(),
        "auto_precision": resolve_precision("auto", CPU),
        "load": os.getloadavg(),
    }


def machine_text(m: dict[str, Any]) -> str:
    have = ", ".join(f for f, on in m["flags"].items() if on) or "none"
    lacks = ", ".join(f for f, on in m["flags"].items() if not on) or "none"
    load = ", ".join(f"{v:.2f}" for v in m["load"])
    return (
        f"{m['date']}: {m['cpu']}, {m['cpus']} CPUs; flags: {have}; not: {lacks}\n"
        f"torch {m['torch']}, {m['threads']} threads, capability {m['capability']}, "
        f"native bf16: {m['fast_bf16']}, --precision auto on cpu: {m['auto_precision']}; "
        f"load average at start {load}"
    )


# --------------------------------------------------------------------------- networks


def build_net(name: str) -> nn.Module:
    """A random-init network of ``name``'s shape (for shapes and FLOPs)."""
    arch_id, params, _, _ = NETS[name]
    return architecture(arch_id).build(**params).eval().requires_grad_(False)


def architecture(arch_id: str) -> Any:
    from stylepipe.plugins import Catalog, load_plugins

    return Catalog.build(load_plugins(entry_points=False)).architectures.get(arch_id)


def input_side(name: str, side: int) -> int:
    """The input side for an output of ``side`` (a multiple of the network's stride)."""
    scale = NETS[name][2]
    return max(8, side // scale // 4 * 4)


def count_flops(net: nn.Module, side: int) -> float:
    """FLOPs of one pass over a ``side`` x ``side`` input (convolutions; on the meta
    device, so any size costs nothing)."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(net).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty(1, 3, side, side, device="meta"))
    return float(counter.get_total_flops())


def conv_layers(net: nn.Module, side: int) -> list[dict[str, Any]]:
    """Every convolution a ``side`` x ``side`` input runs through: its name, shape
    ``(c_in, c_out, kernel, stride)``, padded input size and FLOPs, in call order."""
    names = {m: n for n, m in net.named_modules()}
    found: list[dict[str, Any]] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        k, s = module.kernel_size[0], module.stride[0]
        flops = 2 * module.in_channels * module.out_channels * k * k * output[0, 0].numel()
        found.append(
            {
                "layer": names[module].removesuffix(".conv2d"),
                "shape": (module.in_channels, module.out_channels, k, s),
                "input": tuple(inputs[0].shape[-2:]),
                "flops": flops,
            }
        )

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net.to("meta")(torch.empty(1, 3, side, side, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return found


# --------------------------------------------------------------------------- conv peak


def conv_speed(
    shape: tuple[int, int, int, int], dtype: torch.dtype, cl: bool, target: float, side: int
) -> float:
    """GFLOP/s of one convolution shape (no padding: the networks pad first) on a
    ``side`` x ``side`` input, the size it has in the networks, best of three runs; a
    smaller input where one run would take more than ``target`` s (slow kernels)."""
    c_in, c_out, k, stride = shape

    def make(side: int) -> tuple[Callable[[], torch.Tensor], float]:
        fmt = torch.channels_last if cl else torch.contiguous_format
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, c_in, side, side, generator=gen).to(dtype).contiguous(memory_format=fmt)
        w = torch.randn(c_out, c_in, k, k, generator=gen).to(dtype).contiguous(memory_format=fmt)
        b = torch.randn(c_out, generator=gen).to(dtype)
        out = (side - k) // stride + 1
        return (lambda: F.conv2d(x, w, b, stride)), 2.0 * c_in * c_out * k * k * out * out

    with torch.inference_mode():
        small = min(side, 32 + k)
        run, flops = make(small)
        run()
        start = time.perf_counter()
        run()
        probe = max(time.perf_counter() - start, 1e-6)
        if probe * (side / small) ** 2 > target:  # too slow for the real size in time
            side = int(small * (target / probe) ** 0.5)
        run, flops = make(max(side, small))
        run()
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


REFERENCE_SIDE = {1: 512, 4: 128, 8: 64}
"""Input side per network scale at which the convolution shapes are measured (style:
512x512; upscalers: their input for a 512x512 output)."""


def conv_table(names: list[str], target: float, bf16: bool) -> dict[str, Any]:
    """Speed of every shape of ``names``' networks, per precision and layout, at the
    largest input it has in them at the reference sizes."""
    users: dict[tuple[int, int, int, int], list[str]] = {}
    sides: dict[tuple[int, int, int, int], int] = {}
    for name in names:
        for layer in conv_layers(build_net(name), REFERENCE_SIDE[NETS[name][2]]):
            users.setdefault(layer["shape"], []).append(f"{name}:{layer['layer']}")
            sides[layer["shape"]] = max(sides.get(layer["shape"], 0), layer["input"][0])
    configs = [("fp32", False), ("fp32", True)] + ([("bf16", False), ("bf16", True)] * bf16)
    rows = []
    for shape, used in sorted(users.items(), key=lambda kv: -kv[0][0] * kv[0][1] * kv[0][2] ** 2):
        speeds = {}
        for dt, cl in configs:
            dtype = torch.bfloat16 if dt == "bf16" else torch.float32
            speeds[f"{dt}{' cl' if cl else ''}"] = conv_speed(
                shape, dtype, cl, target, sides[shape]
            )
        rows.append(
            {"shape": shape, "side": sides[shape], "used_by": sorted(set(used)), "gflops": speeds}
        )
        print(f"  conv {shape}: {json.dumps({k: round(v, 1) for k, v in speeds.items()})}",
              file=sys.stderr)  # fmt: skip
    peak = {
        dt: max(v for r in rows for k, v in r["gflops"].items() if k.split()[0] == dt)
        for dt in {dt for dt, _ in configs}
    }
    return {"rows": rows, "peak": peak}


def best_speed(table: dict[str, Any], shape: tuple[int, int, int, int], precision: str) -> float:
    """The best measured GFLOP/s of ``shape`` in ``precision`` (either layout)."""
    for row in table["rows"]:
        if tuple(row["shape"]) == tuple(shape):
            return max(v for k, v in row["gflops"].items() if k.split()[0] == precision)
    return float("nan")


def conv_text(table: dict[str, Any]) -> str:
    keys = list(table["rows"][0]["gflops"]) if table["rows"] else []
    lines = [
        "| conv (in -> out, k x k, stride) | input | used by | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for row in table["rows"]:
        c_in, c_out, k, s = row["shape"]
        used = ", ".join(row["used_by"][:3]) + (" ..." if len(row["used_by"]) > 3 else "")
        cells = " | ".join(f"{row['gflops'][key]:.1f}" for key in keys)
        side = f"{row['side']}x{row['side']}"
        lines.append(f"| {c_in} -> {c_out}, {k}x{k}, /{s} | {side} | {used} | {cells} |")
    peaks = ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in sorted(table["peak"].items()))
    return "\n".join(lines) + f"\n\nMeasured peak (best of the shapes above): {peaks}"


KERNEL_PROBE = """
import torch, torch.nn.functional as F
x = torch.randn(1, 128, 66, 66); w = torch.randn(128, 128, 3, 3)
for dt in (torch.float32, torch.bfloat16):
    for cl in (False, True):
        fmt = torch.channels_last if cl else torch.contiguous_format
        print(f"=== {str(dt)[6:]} {'channels-last' if cl else 'contiguous'}", flush=True)
        F.conv2d(x.to(dt).contiguous(memory_format=fmt), w.to(dt).contiguous(memory_format=fmt))
        print("=== end", flush=True)
"""


def onednn_kernels() -> dict[str, str]:
    """The oneDNN implementation of a 128 -> 128 3x3 convolution per precision and
    layout (``ONEDNN_VERBOSE=1`` in a subprocess); none: ATen's own fallback kernel."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_PROBE], capture_output=True, text=True, env=env
    )
    kernels: dict[str, str] = {}
    current = None
    for line in done.stdout.splitlines():
        if line.startswith("=== "):
            current = None if line == "=== end" else line[4:]
            if current:
                kernels[current] = "no oneDNN kernel (ATen fallback)"
        elif current and ",exec,cpu,convolution," in line:
            kernels[current] = line.split(",exec,cpu,convolution,")[1].split(",")[0]
    return kernels


# --------------------------------------------------------------------------- cases


def test_image(side: int) -> np.ndarray:
    """A ``side`` x ``side`` uint8 photo: a sample photo resized to at most 1024 and
    mirror-tiled band by band (a 100-megapixel image never exists in float)."""
    from PIL import Image

    small = min(side, 1024)
    base = np.asarray(
        Image.open(PHOTOS / "astronaut.jpg")
        .convert("RGB")
        .resize((small, small), Image.Resampling.BICUBIC)
    )
    mirrored = np.concatenate([base, base[:, ::-1]], axis=1)
    mirrored = np.concatenate([mirrored, mirrored[::-1]], axis=0)
    out = np.empty((side, side, 3), np.uint8)
    cols = np.arange(side) % (2 * small)
    for top in range(0, side, small):
        rows = (np.arange(top, min(side, top + small)) % (2 * small))[:, None]
        out[top : top + small] = mirrored[rows, cols]
    return out


def load(case: dict[str, Any], precision: str) -> Any:
    """The case's network as the model descriptor (bundled weights, or random weights
    written once by the parent), on the CPU in ``precision``."""
    from stylepipe import ModelSpec, load_model
    from stylepipe.plugins import Catalog, load_plugins

    arch_id, params, scale, bundled = NETS[case["net"]]
    catalog = Catalog.build(load_plugins(entry_points=False))
    arch = catalog.architectures.get(arch_id)
    if bundled is not None and not case.get("weights"):
        spec = catalog.models.resolve(bundled).item
    else:
        spec = ModelSpec(
            case["net"], arch.kind, arch_id, params, Path(case["weights"]), scale=scale
        )
    return load_model(spec, arch, device="cpu", precision=precision, tile=case.get("tile"))


def case_runner(case: dict[str, Any]) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """``run(uint8 pixels) -> uint8 output`` for a case, and what it ran with."""
    from stylepipe.models.devices import autocast_dtype
    from stylepipe.tiling import heap
    from stylepipe.tiling.run import ArraySink, ArraySource, choose_tile, run_tiled_stream

    path = case["path"]
    precision = "fp32" if path == "plain" else "auto"
    if path.startswith("stylepipe ") and path.split()[1] in ("fp32", "bf16", "fp16"):
        precision = path.split()[1]
    model = load(case, precision)
    white = model.input_range
    info = {"precision": model.precision}
    if path == "plain":
        net = model.net.to(memory_format=torch.contiguous_format)

        def plain(pixels: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255).mul_(white)
            with torch.no_grad():
                y = net(x)
            y = y[0].div_(white).clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            return y.permute(1, 2, 0).numpy()

        return plain, {**info, "tile": "whole"}
    heap.ENABLED = not path.startswith("stylepipe, mmap")
    dtype = autocast_dtype(model.precision)
    side = input_side(case["net"], case["side"])
    tile = model.tile
    if tile is None:
        tile = choose_tile(model.net, model.policy, (side, side), CPU, dtype)
    info["tile"] = "whole" if tile == 0 or tile >= side else tile

    def piped(pixels: np.ndarray) -> np.ndarray:
        h, w = pixels.shape[:2]
        out = np.empty((h * model.scale, w * model.scale, 3), np.uint8)
        source, sink = ArraySource(pixels, gain=white), ArraySink(out, gain=1.0 / white)
        run_tiled_stream(
            model.net, source, model.policy, sink, tile=tile, device=CPU, autocast_dtype=dtype
        )
        return out

    return piped, info


def _usage() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One case, in this (fresh) process: a warm-up on a crop, then ``repeat`` runs."""
    if case.get("threads"):
        torch.set_num_threads(case["threads"])
    run, info = case_runner(case)
    pixels = test_image(input_side(case["net"], case["side"]))
    run(pixels[:128, :128])  # kernel choice, thread pool
    best: dict[str, float] = {"seconds": float("inf")}
    for _ in range(case["repeat"]):
        cpu0, faults0 = _usage()
        start = time.perf_counter()
        run(pixels)
        seconds = time.perf_counter() - start
        cpu1, faults1 = _usage()
        if seconds < best["seconds"]:
            best = {"seconds": seconds, "cpu_seconds": cpu1 - cpu0, "faults": faults1 - faults0}
    return {**case, **info, **best}


LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], dict(os.environ))
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "wall": wall,
               "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}, f)
"""


def spawn(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child process; its wall time, peak RSS, exit status, stdout and stderr.

    The child is started by a small launcher (``python -S``) and measured there with
    ``wait4``: a child forked from this process would inherit its resident size as the
    starting point of its peak (Linux records the pre-exec image's high-water mark)."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with open(tmp / "out", "w+b") as out, open(tmp / "err", "w+b") as err:
            launcher = [sys.executable, "-S", "-c", LAUNCHER, str(tmp / "result.json")]
            subprocess.run(
                launcher + argv, stdout=out, stderr=err, cwd=ROOT, check=False,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
            out.seek(0)
            err.seek(0)
            texts = {"stdout": out.read(), "stderr": err.read()}
        result = tmp / "result.json"
        done = json.loads(result.read_text()) if result.exists() else {"rc": -1}
    return {
        "wall": float("nan"),
        "cpu": float("nan"),
        "peak_mb": float("nan"),
        **done,
        **{key: value.decode(errors="replace") for key, value in texts.items()},
    }


def spawn_case(case: dict[str, Any]) -> dict[str, Any]:
    env = {"THP_MEM_ALLOC_ENABLE": "1"} if case["path"] == "stylepipe, mmap + THP" else {}
    done = spawn([sys.executable, __file__, "--case", json.dumps(case)], env)
    lines = [ln for ln in done["stdout"].splitlines() if ln.startswith("{")]
    if done["rc"] or not lines:
        return {**case, "error": (done["stderr"].strip().splitlines() or ["?"])[-1]}
    return {**json.loads(lines[-1]), "peak_mb": done["peak_mb"], "process_s": done["wall"]}


def make_cases(args: argparse.Namespace, weights: dict[str, str]) -> list[dict[str, Any]]:
    cases = []
    other = "fp32" if args.machine["auto_precision"] != "fp32" else "bf16"
    for name in args.nets:
        for side in args.sizes:
            base = {
                "net": name,
                "side": side,
                "weights": weights.get(name),
                "threads": args.threads,
            }
            repeat = args.repeat if side <= 1024 else 1
            paths = []
            if side <= PLAIN_LIMIT:
                paths.append("plain")
            paths.append("stylepipe")
            if side <= 1024 and not args.quick:
                paths += ["stylepipe, mmap", "stylepipe, mmap + THP"]
            if side == min(args.sizes) and not args.quick:
                paths.append(f"stylepipe {other}")
            for path in paths:
                cases.append({**base, "path": path, "repeat": repeat})
            if name == "style32" and side == 1024 and not args.quick:
                cases.append({**base, "path": "stylepipe, tile 512", "tile": 512, "repeat": 1})
    return cases


def case_figures(results: list[dict[str, Any]], convs: dict[str, Any]) -> None:
    """Add GFLOP, GFLOP/s, fraction of peak and of the network's bound, x plain."""
    plain: dict[tuple[str, int], float] = {}
    for r in results:
        if r["path"] == "plain" and "seconds" in r:
            plain[(r["net"], r["side"])] = r["seconds"]
    for r in results:
        if "seconds" not in r:
            continue
        side = input_side(r["net"], r["side"])
        layers = conv_layers(build_net(r["net"]), side)
        flops = count_flops(build_net(r["net"]), side)
        if abs(flops - sum(layer["flops"] for layer in layers)) > 1e-6 * flops:
            raise AssertionError(f"{r['net']}: the counter and the layers disagree on FLOPs")
        precision = r.get("precision", "fp32")
        precision = precision if precision in convs["peak"] else "fp32"
        bound = sum(
            layer["flops"] / best_speed(convs, layer["shape"], precision) for layer in layers
        )
        r["gflop"] = flops / 1e9
        r["gflops"] = flops / 1e9 / r["seconds"]
        r["of_peak"] = r["gflops"] / convs["peak"][precision]
        r["of_bound"] = bound / 1e9 / r["seconds"]
        ref = plain.get((r["net"], r["side"]))
        if ref is not None:
            r["x_plain"], r["x_plain_note"] = ref / r["seconds"], ""
        else:  # plain's time per pixel at its largest size
            sizes = [s for (n, s) in plain if n == r["net"]]
            if sizes:
                s = max(sizes)
                r["x_plain"] = plain[(r["net"], s)] * (r["side"] / s) ** 2 / r["seconds"]
                r["x_plain_note"] = "*"


def cases_text(results: list[dict[str, Any]]) -> str:
    lines = [
        "| network | output | case | precision | tile | s | CPU s | GFLOP | GFLOP/s | % of peak "
        "| % of bound | x plain | peak RSS MB | minor faults | process s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        head = f"| {r['net']} | {r['side']}x{r['side']} | {r['path']} |"
        if "seconds" not in r:
            lines.append(f"{head} failed: {r.get('error', '?')[:90]} |" + " |" * 11)
            continue
        ratio = f"{r['x_plain']:.2f}{r['x_plain_note']}" if "x_plain" in r else "n/a"
        lines.append(
            f"{head} {r['precision']} | {r['tile']} | {r['seconds']:.2f} | "
            f"{r['cpu_seconds']:.2f} | "
            f"{r['gflop']:.0f} | {r['gflops']:.1f} | {100 * r['of_peak']:.0f} | "
            f"{100 * r['of_bound']:.0f} | {ratio} | {r['peak_mb']:.0f} | {r['faults']} | "
            f"{r['process_s']:.1f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- per layer


def layer_times(net: nn.Module, run: Callable[[], object]) -> dict[str, float]:
    """Milliseconds per module (profiler ranges opened by forward hooks); a module with
    children gets only the time of its own operations (upsampling, the residual sum)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {m: n for n, m in net.named_modules() if n}
    children = {n: [c for c in names.values() if c.rpartition(".")[0] == n] for n in names.values()}
    ranges: list[Any] = []

    def pre(module: nn.Module, _inputs: object) -> None:
        ranges.append(record_function(f"layer:{names[module]}"))
        ranges[-1].__enter__()

    def post(_module: nn.Module, _inputs: object, _output: object) -> None:
        ranges.pop().__exit__(None, None, None)

    handles = []
    for module in names:
        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post, always_call=True))
    try:
        run()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
    finally:
        for h in handles:
            h.remove()
    total = {
        e.key.removeprefix("layer:"): e.cpu_time_total / 1e3
        for e in prof.key_averages()
        if e.key.startswith("layer:")
    }
    own = {}
    for name in names.values():  # in module order
        if name in total:
            kids = children.get(name, [])
            own[name] = total[name] - sum(total.get(k, 0.0) for k in kids)
    return own


def layers_text(side: int) -> str:
    """The style network at width 32: plain and stylepipe, per layer."""
    from stylepipe_style import tiling_policy

    from stylepipe.tiling.heap import reuse_freed_memory
    from stylepipe.tiling.run import run_tiled

    torch.manual_seed(0)
    plain = build_net("style32")
    piped = build_net("style32").to(memory_format=torch.channels_last)
    piped.load_state_dict(plain.state_dict())
    x = torch.from_numpy(test_image(side)).permute(2, 0, 1)[None].float().div_(255)
    policy = tiling_policy(width=32, n_residual=5)
    flops = {layer["layer"]: layer["flops"] for layer in conv_layers(build_net("style32"), side)}

    def run_plain() -> object:
        with torch.no_grad():
            return plain(x)

    def run_piped() -> object:
        return run_tiled(piped, x, policy, tile=0, device=CPU)

    a = layer_times(plain, run_plain)
    with reuse_freed_memory():
        b = layer_times(piped, run_piped)
    lines = [
        f"Style network, width 32, {side}x{side}, per layer (torch profiler; a block's own "
        "row is its residual sum, an upsampling layer's its nearest-neighbour x2):",
        "",
        "| layer | GFLOP | plain ms | stylepipe ms | plain GFLOP/s | stylepipe GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for name in a:
        if a[name] < 0.05 and b.get(name, 0.0) < 0.05:
            continue
        gf = flops.get(name.removesuffix(".conv2d"), 0.0) / 1e9 if name.endswith("conv2d") else 0
        speed = (
            f"{gf / a[name] * 1e3:.1f} | {gf / b[name] * 1e3:.1f}" if gf and name in b else " | "
        )
        lines.append(f"| {name} | {gf:.2f} | {a[name]:.1f} | {b.get(name, 0.0):.1f} | {speed} |")
    lines.append(f"| total | {sum(flops.values()) / 1e9:.1f} | {sum(a.values()):.0f} | "
                 f"{sum(b.values()):.0f} | | |")  # fmt: skip
    return "\n".join(lines)


# --------------------------------------------------------------------------- guarantees


def guarantees_text(fast_bf16: bool) -> str:
    """Tiled vs whole frame and bf16 vs fp32 with the bundled trained models on photos."""
    from PIL import Image

    rows = []
    for name, photo in (("style16", "chelsea.jpg"), ("sr4", "coffee.jpg")):
        pixels = np.asarray(Image.open(PHOTOS / photo).convert("RGB"))
        if NETS[name][2] > 1:
            pixels = pixels[:160, :240]  # x4: 640x960 out
        case = {"net": name}
        runs = {}
        for label, precision, tile in (
            ("whole fp32", "fp32", 0),
            ("tiles of 64 fp32", "fp32", 64),
            ("whole bf16", "bf16", 0),
        ):
            model = load({**case, "tile": tile}, precision)
            out = model.run_array(pixels)
            runs[label] = np.round(np.clip(out, 0, 1) * 255).astype(np.int16)
        size = f"{pixels.shape[1]}x{pixels.shape[0]}"
        for a, b in (("tiles of 64 fp32", "whole fp32"), ("whole bf16", "whole fp32")):
            diff = np.abs(runs[a] - runs[b])
            worst = diff.max(axis=2)  # per pixel: its worst channel
            rows.append(
                f"| {NETS[name][3]} | {photo} {size} | {a} vs {b} | "
                f"{100 * np.mean(diff == 0):.3f} / {100 * np.mean(worst == 0):.3f} | "
                f"{100 * np.mean(diff <= 1):.3f} / {100 * np.mean(worst <= 1):.3f} | "
                f"{int(diff.max())} |"
            )
    head = [
        "| model | photo | comparison | % identical 8-bit (values / pixels) "
        "| % within one level (values / pixels) | max |",
        "|---|---|---|---|---|---|",
    ]
    note = "" if fast_bf16 else "\n(bf16 runs on ATen's fallback kernels on this CPU: slow.)"
    return "\n".join(head + rows) + note


# --------------------------------------------------------------------------- whole process

PLAIN_SCRIPT = """
import sys, numpy as np, torch
from PIL import Image
from safetensors.torch import load_file
from stylepipe_style.network import TransformerNet
src, dst, weights = sys.argv[1:4]
net = TransformerNet(width=16, n_residual=5)
net.load_state_dict({k: v.float() for k, v in load_file(weights).items()})
net.eval()
x = torch.from_numpy(np.asarray(Image.open(src).convert("RGB"))).permute(2, 0, 1)[None]
with torch.no_grad():
    y = net(x.float().div(255)).clamp(0, 1).mul(255).round().byte()
Image.fromarray(y[0].permute(1, 2, 0).numpy()).save(dst)
"""


def process_text(sides: list[int], tmp: Path, threads: int | None) -> str:
    """``stylepipe run`` against the plain script, each a whole process (with
    ``OMP_NUM_THREADS=threads`` when given)."""
    from PIL import Image
    from stylepipe_style import BUNDLED_MODELS

    weights = BUNDLED_MODELS / "starry-night" / "weights.safetensors"
    exe = Path(sys.executable).parent / "stylepipe"
    env = {"OMP_NUM_THREADS": str(threads)} if threads else None
    lines = [
        "| image | plain script: s, CPU s, peak RSS MB | stylepipe run: s, CPU s, peak RSS MB "
        "| speed-up |",
        "|---|---|---|---|",
    ]
    for side in sides:
        src = tmp / f"in{side}.png"
        Image.fromarray(test_image(side)).save(src)
        plain = spawn(
            [sys.executable, "-c", PLAIN_SCRIPT, str(src), str(tmp / "p.png"), str(weights)], env
        )
        ours = spawn(
            [str(exe), "run", str(src), "--filter", "style:starry-night", "-o",
             str(tmp / "s.png"), "-q", "--overwrite"], env,
        )  # fmt: skip
        cells = []
        for done in (plain, ours):
            figures = f"{done['wall']:.2f} s, {done['cpu']:.2f} s, {done['peak_mb']:.0f} MB"
            cells.append("failed" if done["rc"] != 0 else figures)
        speed = f"{plain['wall'] / ours['wall']:.2f}x" if not (plain["rc"] or ours["rc"]) else ""
        lines.append(f"| {side}x{side} | {cells[0]} | {cells[1]} | {speed} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 only; no bf16 networks")
    parser.add_argument("--large", action="store_true", help="also tiled 4096 (process: 2048)")
    parser.add_argument("--huge", action="store_true", help="also tiled 100 MP (long)")
    parser.add_argument("--sizes", help="comma list of output sides (default 512,1024)")
    parser.add_argument("--nets", default=",".join(NETS), help="comma list of " + ", ".join(NETS))
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case up to 1024")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--conv-time", type=float, default=0.5, help="most seconds per convolution run"
    )
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer table")
    parser.add_argument("--layers-size", type=int, help="side of the per-layer run (512)")
    parser.add_argument("--no-checks", action="store_true", help="skip the guarantees")
    parser.add_argument("--process", help="comma list of sides for the whole-process table")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    args.nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    sizes_given = args.sizes is not None
    if args.sizes:
        args.sizes = [int(s) for s in args.sizes.split(",")]
    else:
        args.sizes = [512] + [1024] * (not args.quick) + [4096] * args.large + [10000] * args.huge
    if args.process:
        process = [int(s) for s in args.process.split(",")]
    else:  # with --sizes, only when asked
        process = [] if args.quick or sizes_given else [1024] + [2048] * args.large
    args.machine = machine()
    figures: dict[str, Any] = {"machine": args.machine}
    print(machine_text(args.machine))
    print("\n## Convolution peak (GFLOP/s)\n")
    convs = conv_table(args.nets, args.conv_time, bf16=True)
    figures["conv"] = convs
    print(conv_text(convs))
    kernels = onednn_kernels()
    figures["kernels"] = kernels
    print("\noneDNN kernel, 128 -> 128 3x3: " + "; ".join(f"{k}: {v}" for k, v in kernels.items()))
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights = {}
        for name, (_, _, _, bundled) in NETS.items():
            if bundled is None and name in args.nets:
                from safetensors.torch import save_file

                torch.manual_seed(0)
                weights[name] = str(tmp / f"{name}.safetensors")
                save_file(build_net(name).state_dict(), weights[name])
        for case in make_cases(args, weights):
            results.append(spawn_case(case))
            shown = {k: v for k, v in results[-1].items() if k not in ("weights",)}
            print(f"  done: {json.dumps(shown)}", file=sys.stderr)
        case_figures(results, convs)
        figures["cases"] = results
        print("\n## Networks\n")
        print(cases_text(results))
        if not args.no_layers:
            print("\n## Per layer\n")
            print(layers_text(args.layers_size or (256 if args.quick else 512)))
        if not args.no_checks:
            print("\n## Guarantees (bundled trained models, real photos)\n")
            print(guarantees_text(args.machine["fast_bf16"]))
        if process:
            print("\n## Whole process (bundled starry-night, width 16)\n")
            print(process_text(process, tmp, args.threads))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
