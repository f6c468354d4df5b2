"""``stylepipe run`` with the neural filters in every precision, whole-frame and tiled.

Regression guard for a once-seen failure of a style run at the default precision (auto,
which is bf16 on CPUs with AMX or AVX-512 BF16): "Input type (c10::BFloat16) and bias
type (float) should be the same". Every combination of precision (auto, bf16, fp32),
tiling (whole frame, small tiles), the style filter with ``preserve_color`` and
``strength < 1``, ``upscale``, and the two chained in one run must work, give outputs of
the right size, and agree with fp32 to a few 8-bit levels.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import gradient, tiny_sr_net, tiny_style_net, write_sr_pack, write_style_pack
from PIL import Image

from stylepipe.cli import main
from stylepipe.models.devices import cpu_has_fast_bf16
from stylepipe.packs.format import write_pack
from stylepipe.paths import user_plugin_dir
from stylepipe.ui import UI

WIDTH, HEIGHT = 45, 37  # odd: the style network pads to its multiple of 4
STYLE = "style:model=tiny,preserve_color=true,strength=0.6"
UPSCALE = "upscale:model=tiny-x4"
PRECISIONS = ("auto", "bf16", "fp32")
TILES = ("0", "16")  # whole frame; tiles far smaller than the image and its halo
FALLBACK = "recomputing in fp32"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two RGB images (one with alpha) with smooth structure, in tmp_path/in."""
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = (gradient(HEIGHT, WIDTH) * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    alpha = np.full((HEIGHT, WIDTH, 1), 200, np.uint8)
    Image.fromarray(np.concatenate([rgb[::-1], alpha], axis=2)).save(folder / "b.png")
    return folder


@pytest.fixture
def packs() -> None:
    write_style_pack(name="tiny", width=4, n_residual=1)
    write_sr_pack(name="tiny-x4", scale=4)


def run(photos: Path, out: Path, *argv: str) -> str:
    stderr = io.StringIO()
    args = ["run", str(photos), "-o", str(out), "--quiet", *argv]
    code = main(args, ui=UI(stdout=io.StringIO(), stderr=stderr))
    assert code == 0, stderr.getvalue()
    return stderr.getvalue()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image, dtype=np.int16)


def outputs(folder: Path, scale: int) -> dict[str, np.ndarray]:
    found = {}
    for name, mode in (("a.png", "RGB"), ("b.png", "RGBA")):
        with Image.open(folder / name) as image:
            assert image.size == (WIDTH * scale, HEIGHT * scale)
            assert image.mode == mode
        found[name] = pixels(folder / name)
    return found


def levels(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :3] - b[..., :3]).mean())


def test_auto_is_bf16_on_this_cpu_when_it_has_native_bf16() -> None:
    # documents which path "auto" exercises below; on other CPUs auto is fp32
    from stylepipe.models.devices import resolve_precision

    expected = "bf16" if cpu_has_fast_bf16() else "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == expected


@pytest.mark.usefixtures("packs")
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize(("step", "scale"), [(STYLE, 1), (UPSCALE, 4), (f"{STYLE} {UPSCALE}", 4)])
def test_every_precision_runs_and_agrees_with_fp32(
    photos: Path, tmp_path: Path, step: str, scale: int, tile: str
) -> None:
    filters = [arg for name in step.split() for arg in ("--filter", name)]
    results = {}
    for precision in PRECISIONS:
        out = tmp_path / f"out-{precision}"
        err = run(photos, out, *filters, "--precision", precision, "--tile", tile)
        assert FALLBACK not in err  # the reduced precision really produced the output
        results[precision] = outputs(out, scale)
    for name, reference in results["fp32"].items():
        for precision in ("auto", "bf16"):
            assert levels(results[precision][name], reference) < 3.0, (precision, name)
        if name == "b.png":
            assert np.abs(results["bf16"][name][..., 3] - reference[..., 3]).max() <= 1


@pytest.mark.usefixtures("packs")
@pytest.mark.parametrize("precision", PRECISIONS)
def test_tiled_equals_whole_frame(photos: Path, tmp_path: Path, precision: str) -> None:
    filters = ["--filter", STYLE, "--filter", UPSCALE, "--precision", precision]
    run(photos, tmp_path / "whole", *filters, "--tile", "0")
    run(photos, tmp_path / "tiled", *filters, "--tile", "16")
    whole, tiled = outputs(tmp_path / "whole", 4), outputs(tmp_path / "tiled", 4)
    # fp32 tiles are exact to rounding; bf16 rounds each tile's activations (stored in
    # 8-bit mantissas) differently from the whole frame's, amplified by the x4 upscale
    most, mean = (1, 0.05) if precision == "fp32" else (16, 1.5)
    for name in whole:
        assert np.abs(whole[name] - tiled[name]).max() <= most, name
        assert levels(whole[name], tiled[name]) < mean, name


def test_weights_stored_in_fp16_run_in_every_precision(photos: Path, tmp_path: Path) -> None:
    """Packs written with --fp16-weights hold float16 tensors: they load into float32
    networks, and the bf16 cast of those must be complete (weights and biases alike)."""
    for net, manifest in (
        (tiny_style_net(), _manifest("tiny", "style", "johnson-style", width=4, n_residual=1)),
        (
            tiny_sr_net(),
            _manifest("tiny-x4", "sr", "johnson-sr", scale=4, width=4, n_residual=1),
        ),
    ):
        state = {k: v.half() for k, v in net.state_dict().items()}
        write_pack(user_plugin_dir() / manifest["name"], manifest, state)
    for precision in PRECISIONS:
        out = tmp_path / f"out-{precision}"
        run(photos, out, "--filter", STYLE, "--filter", UPSCALE, "--precision", precision)
        outputs(out, 4)


def _manifest(name: str, kind: str, arch: str, **params: object) -> dict[str, object]:
    if kind == "sr":
        params["skip"] = "bicubic"
    return {
        "name": name,
        "kind": kind,
        "architecture": arch,
        "arch_params": params,
        "input_range": 1.0,
        "scale": params.get("scale", 1),
    }
