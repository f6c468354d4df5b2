"""Community upscalers through spandrel: import (link or --copy), run with stylepipe's
tiling, metadata kept, refusals. Tiny random networks built with spandrel's own
architecture classes; no downloads."""

from __future__ import annotations

import io
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("spandrel")

from model_helpers import context, gradient  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402
from spandrel.architectures.SwinIR import SwinIR  # noqa: E402

from stylepipe.cli import main  # noqa: E402
from stylepipe.models.weights import sha256_file  # noqa: E402
from stylepipe.paths import user_plugin_dir  # noqa: E402
from stylepipe.ui import UI  # noqa: E402

FAMILIES = {  # name: (network, file suffix, scale)
    "esrgan": (lambda: ESRGAN(num_filters=8, num_blocks=1, scale=4), ".pth", 4),
    "compact": (lambda: Compact(num_feat=8, num_conv=2, upscale=2), ".safetensors", 2),
    "swinir": (
        lambda: SwinIR(
            embed_dim=12,
            depths=[2],
            num_heads=[2],
            window_size=8,
            upscale=1,
            img_size=32,
            resi_connection="1conv",
        ),
        ".pth",
        1,
    ),
}


def cli(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=out, stderr=err))
    return code, out.getvalue(), " ".join(err.getvalue().split())


def checkpoint(tmp_path: Path, family: str, seed: int = 0) -> Path:
    """The state dict of a seeded random ``family`` network, saved as that family's file."""
    make, suffix, _ = FAMILIES[family]
    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in make().state_dict().items()}
    path = tmp_path / f"{family}{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def imported(tmp_path: Path, family: str, *extra: str, path: Path | None = None) -> dict:
    """Import ``family`` (``path``, else a new checkpoint) under its own name; returns the
    pack's manifest."""
    path = path or checkpoint(tmp_path, family)
    code, out, err = cli("import-model", path, "--name", family, *extra)
    assert code == 0, err
    assert f"upscale:model={family}" in out + err
    return json.loads((user_plugin_dir() / family / "manifest.json").read_text())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_import_records_what_spandrel_detected(
    tmp_path: Path, family: str, recwarn: pytest.WarningsRecorder
) -> None:
    path = checkpoint(tmp_path, family)
    recwarn.clear()  # building SwinIR in the test warns; importing it must not
    manifest = imported(tmp_path, family, path=path)
    assert not [w for w in recwarn if "meshgrid" in str(w.message)]
    params = manifest["arch_params"]
    source = tmp_path / f"{family}{FAMILIES[family][1]}"
    assert manifest["architecture"] == "spandrel" and manifest["kind"] == "sr"
    assert manifest["scale"] == params["scale"] == FAMILIES[family][2]
    assert (
        params["family"] == {"esrgan": "ESRGAN", "compact": "Compact", "swinir": "SwinIR"}[family]
    )
    assert params["input_channels"] == 3 and params["halo"] > 0
    assert params["tiling"] == ("discouraged" if family == "swinir" else "supported")
    assert manifest["precisions"][0] == "fp32"
    assert ("fp16" in manifest["precisions"]) == (family != "swinir")
    assert ("bf16" in manifest["precisions"]) == (family != "swinir")  # its fp32 masks
    if family == "swinir":
        assert params["window"] == 8 and params["size_min"] == 16
    assert manifest["weights_link"] == {
        "path": str(source.resolve()),
        "sha256": sha256_file(source),
    }
    assert manifest["files"] == {}  # linked: no copy in the pack


def test_copy_keeps_the_weights_as_safetensors_in_the_pack(tmp_path: Path) -> None:
    manifest = imported(tmp_path, "esrgan", "--copy")
    pack = user_plugin_dir() / "esrgan"
    assert "weights_link" not in manifest and set(manifest["files"]) == {"weights.safetensors"}
    assert manifest["origin"]["sha256"] == sha256_file(tmp_path / "esrgan.pth")
    (tmp_path / "esrgan.pth").unlink()  # the pack no longer needs the original
    out = run_upscale(tmp_path, "esrgan", gradient(9, 11))
    assert out.shape == (36, 44, 3)
    assert (pack / "weights.safetensors").read_bytes()[:8] != b"PK\x03\x04"


def run_upscale(tmp_path: Path, model: str, pixels: np.ndarray, *args: str) -> np.ndarray:
    """``stylepipe run`` of one 8-bit RGB image through ``upscale:model=MODEL``."""
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(src / "a.png")
    out = tmp_path / f"out-{model}-{'-'.join(args) or 'auto'}"
    code, _, err = cli("run", src, "-o", out, "--filter", f"upscale:model={model}", *args)
    assert code == 0, err
    return np.asarray(Image.open(out / "a.png"))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tiled_equals_full_frame_and_odd_sizes_keep_their_shape(
    tmp_path: Path, family: str
) -> None:
    """Small tiles (many seams) against the whole frame, through the filter and on the
    float output; each odd size comes back exactly ``scale`` times larger."""
    from stylepipe_sr.filter import UpscaleFilter

    imported(tmp_path, family)
    scale = FAMILIES[family][2]
    pixels = gradient(45, 37)
    whole = run_upscale(tmp_path, family, pixels, "--tile", "0")
    tiled = run_upscale(tmp_path, family, pixels, "--tile", "16")
    assert whole.shape == (45 * scale, 37 * scale, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    ctx, _ = context(tile=16)
    step = UpscaleFilter(UpscaleFilter.Params(model=family))
    step.setup(ctx)
    assert step.model is not None
    tiled_float = step.model.run_array(pixels)
    step.model.tile = 0
    assert np.abs(step.model.run_array(pixels) - tiled_float).max() < 1e-4
    for h, w in [(1, 1), (7, 3), (17, 9)]:
        assert step.model.run_array(gradient(h, w)).shape == (h * scale, w * scale, 3)


def test_alpha_16_bit_and_metadata_are_kept(tmp_path: Path) -> None:
    from stylepipe.imaging.highdepth import encode_png16

    imported(tmp_path, "compact")
    src = tmp_path / "in"
    src.mkdir()
    rgba = np.dstack([(gradient(10, 12) * 255).astype(np.uint8), np.full((10, 12), 99, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png", dpi=(300, 300))
    deep = np.random.default_rng(1).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    (src / "deep.png").write_bytes(encode_png16(deep))
    code, _, err = cli("run", src, "-o", tmp_path / "out", "--filter", "upscale:model=compact")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "alpha.png") as out:
        assert out.mode == "RGBA" and out.size == (24, 20)
        assert np.asarray(out)[..., 3].min() == np.asarray(out)[..., 3].max() == 99
        assert round(out.info["dpi"][0]) == 150  # the same print size at twice the pixels
    written = (tmp_path / "out" / "deep.png").read_bytes()
    assert written[24] == 16  # IHDR bit depth


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # noqa: D105
            return (Path.touch, (marker,))

    bad = tmp_path / "4x-evil.pth"
    with open(bad, "wb") as handle:
        pickle.dump({"conv_first.weight": Evil()}, handle, protocol=2)
    code, _, err = cli("import-model", bad, "--name", "evil")
    assert code != 0 and "can run code" in err
    assert not marker.exists() and not (user_plugin_dir() / "evil").exists()


def test_a_corrupt_file_and_an_unknown_architecture_are_clear_errors(tmp_path: Path) -> None:
    good = checkpoint(tmp_path, "compact")
    corrupt = tmp_path / "cut.safetensors"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = cli("import-model", corrupt, "--name", "cut")
    assert code != 0 and "cannot load weights" in err
    unknown = tmp_path / "unknown.safetensors"
    save_file({"mystery.weight": torch.zeros(4, 4)}, str(unknown))
    code, _, err = cli("import-model", unknown, "--name", "unknown")
    assert code != 0 and "not a checkpoint of a known architecture" in err and "spandrel" in err


def test_without_spandrel_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = checkpoint(tmp_path, "esrgan")
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import spandrel -> ImportError
    code, _, err = cli("import-model", path, "--name", "esrgan")
    assert code != 0 and "stylepipe[community]" in err and "spandrel" in err


def test_a_linked_file_that_changed_fails_the_run_not_silently(tmp_path: Path) -> None:
    imported(tmp_path, "compact")
    checkpoint(tmp_path, "compact", seed=1)  # other weights under the same name
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((gradient(8, 8) * 255).astype(np.uint8)).save(src / "a.png")
    code, _, err = cli("run", src, "-o", tmp_path / "out", "--filter", "upscale:model=compact")
    assert code != 0 and "does not match the sha256" in err
    assert not (tmp_path / "out" / "a.png").exists()


def test_a_batch_with_a_broken_image_keeps_the_others(tmp_path: Path) -> None:
    """Batch safety: one unreadable file fails alone; finished outputs are complete files
    and no temporary file is left."""
    imported(tmp_path, "compact")
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((gradient(8, 10) * 255).astype(np.uint8)).save(src / "good.png")
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    code, _, err = cli("run", src, "-o", out, "--filter", "upscale:model=compact")
    assert code != 0 and "broken.png" in err
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]
    with Image.open(out / "good.png") as image:
        assert image.size == (20, 16)


def test_a_pack_that_links_its_weights_cannot_be_shared(tmp_path: Path) -> None:
    from stylepipe.errors import StylepackError
    from stylepipe.packs.format import read_pack, shareable_files

    imported(tmp_path, "compact")
    with pytest.raises(StylepackError, match="--copy"):
        shareable_files(read_pack(user_plugin_dir() / "compact"))


def test_models_lists_the_family_and_the_licence_note(tmp_path: Path) -> None:
    imported(tmp_path, "esrgan", "--license", "CC-BY-NC-SA-4.0")
    imported(tmp_path, "compact")
    code, out, err = cli("models", "--kind", "sr")
    text = " ".join((out + err).split())
    assert code == 0 and "spandrel ESRGAN (tiling supported); CC-BY-NC-SA-4.0" in text
    assert "spandrel Compact" in text and "licence not recorded" in text
    code, out, err = cli("models", "show", "esrgan")
    assert code == 0 and f"folder: {user_plugin_dir() / 'esrgan'}" in " ".join(err.split())


def test_the_halo_benchmark_prints_a_row_per_halo() -> None:
    """benchmarks/community_halo.py (the README table) on a small image."""
    import subprocess

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "community_halo.py"
    args = ["--only", "Compact", "--size", "32", "--tile", "16", "--halos", "2"]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("Compact")]
    assert [row[2] for row in rows] == ["2", "36*"]  # 32 convolutions + 4: exact
    assert float(rows[1][3]) < 1e-4


def test_a_copied_pack_is_shared_and_installed_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export -> install: the receiving side checks that the weights load as the
    recorded family and scale; weights of another family are refused."""
    imported(tmp_path, "compact", "--copy")
    archive = tmp_path / "compact.stylepack"
    code, _, err = cli("export", "compact", "-o", archive)
    assert code == 0, err
    monkeypatch.setenv("STYLEPIPE_HOME", str(tmp_path / "elsewhere"))
    code, _, err = cli("install", archive)
    assert code == 0, err
    assert run_upscale(tmp_path, "compact", gradient(6, 7)).shape == (12, 14, 3)


def test_install_refuses_weights_that_are_not_the_recorded_family(tmp_path: Path) -> None:
    from model_helpers import catalog

    from stylepipe.errors import StylepackError
    from stylepipe.packs.format import check_loads

    manifest = imported(tmp_path, "compact", "--copy")
    other = ESRGAN(num_filters=8, num_blocks=1, scale=4).state_dict()
    with pytest.raises(StylepackError, match="x4 ESRGAN model, imported as x2 Compact"):
        check_loads(manifest, catalog().architectures, other)


def test_a_pipeline_chains_a_community_model_with_other_steps(tmp_path: Path) -> None:
    """x1 restoration (SwinIR), then x2 (Compact), then a Pillow resize, from a file that
    `check` validates first."""
    imported(tmp_path, "swinir")
    imported(tmp_path, "compact")
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(
        '[[step]]\nfilter = "upscale"\nmodel = "swinir"\n\n'
        '[[step]]\nfilter = "upscale"\nmodel = "compact"\n\n'
        '[[step]]\nfilter = "resize"\nscale = 0.5\n\n'
        "[runtime]\ntile = 16\n"
    )
    code, _, err = cli("check", pipeline)
    assert code == 0, err
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((gradient(19, 23) * 255).astype(np.uint8)).save(src / "a.png")
    code, _, err = cli("run", src, "-o", tmp_path / "out", "-p", pipeline)
    assert code == 0, err
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (23, 19)  # x1, x2, then halved


def test_a_family_that_tiles_internally_runs_on_the_whole_image(tmp_path: Path) -> None:
    """spandrel's tiling advice 'internal': the tile size is set to 0 (whole image), and
    an explicit --tile says it is ignored; 'supported' keeps the asked tile."""
    from stylepipe_sr.filter import UpscaleFilter

    manifest = imported(tmp_path, "compact")
    manifest["arch_params"]["tiling"] = "internal"
    path = user_plugin_dir() / "compact" / "manifest.json"
    path.write_text(json.dumps(manifest))  # a linked pack: the manifest holds no checksums
    for tile, warned in [(16, True), (None, False)]:
        ctx, warnings = context(tile=tile)
        step = UpscaleFilter(UpscaleFilter.Params(model="compact"))
        step.setup(ctx)
        assert step.model is not None and step.model.tile == 0
        assert bool([w for w in warnings if "tiles internally" in w]) == warned
    imported(tmp_path, "esrgan")
    ctx, _ = context(tile=16)
    step = UpscaleFilter(UpscaleFilter.Params(model="esrgan"))
    step.setup(ctx)
    assert step.model is not None and step.model.tile == 16
