"""A trained style travels: train (or write) a pack, export it, install it into a
second STYLEPIPE_HOME and run a pipeline with it there; the result is the same as at
home. All through ``stylepipe.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sharing_helpers import (
    builtin_catalog,
    cli,
    make_pack,
    wide_terminal,  # noqa: F401 (an autouse fixture)
)

from stylepipe.packs.format import read_pack
from stylepipe.packs.previews import render_preview
from stylepipe.packs.shared import public_manifest
from stylepipe.paths import user_plugin_dir


def photos(folder: Path, count: int = 1, size: tuple[int, int] = (40, 36)) -> Path:
    """Random RGB photos (PNG, lossless) in ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{i}.png")
    return folder


def stylize(inputs: Path, out: Path, model: str) -> dict[str, np.ndarray]:
    assert cli("run", inputs, "-o", out, "--filter", f"style:model={model}", "--device", "cpu") == 0
    results = {}
    for path in sorted(out.iterdir()):
        with Image.open(path) as image:
            results[path.name] = np.asarray(image.convert("RGB"))
    return results


def travel(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Path]:
    """Export ``name`` from this home, install it into a second one, run it in both."""
    inputs = photos(tmp_path / "in")
    at_home = stylize(inputs, tmp_path / "out-home", name)
    archive = tmp_path / f"{name}.stylepack"
    assert cli("export", name, "-o", archive) == 0
    second = tmp_path / "second-home"
    monkeypatch.setenv("STYLEPIPE_HOME", str(second))
    assert cli("install", archive) == 0
    abroad = stylize(inputs, tmp_path / "out-abroad", name)
    return at_home, abroad, second


def test_a_style_pack_travels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = make_pack(user_plugin_dir(), "wave", seed=3)
    at_home, abroad, second = travel("wave", tmp_path, monkeypatch)
    assert sorted(abroad) == ["photo0.png"]
    for name, pixels in abroad.items():
        assert pixels.shape == (36, 40, 3)
        np.testing.assert_array_equal(pixels, at_home[name])
    source = np.asarray(Image.open(tmp_path / "in" / "photo0.png"))
    assert np.abs(abroad["photo0.png"].astype(int) - source).mean() > 10  # it did stylize
    installed = read_pack(second / "plugins" / "wave")
    installed.verify()
    public, scrubbed = public_manifest(original.manifest)
    assert scrubbed == ("training.style_image",)
    assert {k: v for k, v in installed.manifest.items() if k != "files"} == {
        k: v for k, v in public.items() if k != "files"
    }
    assert installed.manifest["training"]["style_image"] == "starry.jpg"


@pytest.mark.slow
def test_a_trained_style_travels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    style = tmp_path / "painting.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 48, 3), np.uint8)).save(style)
    data = photos(tmp_path / "training-photos", count=3, size=(48, 48))
    trained = cli(
        "train", "style", style, "--data", data, "--name", "trained",
        "--loss-net", "vgg16-random", "--arch", "half", "--image-size", "32",
        "--iterations", "2", "--batch-size", "1", "--checkpoint-every", "2",
        "--workers", "0", "--device", "cpu", "--author", "Ann", "--license", "CC0-1.0",
    )  # fmt: skip
    assert trained == 0
    pack = read_pack(user_plugin_dir() / "trained")
    assert pack.manifest["training"]["steps"] == 2
    at_home, abroad, second = travel("trained", tmp_path, monkeypatch)
    for name, pixels in abroad.items():
        np.testing.assert_array_equal(pixels, at_home[name])
    installed = read_pack(second / "plugins" / "trained")
    assert sorted(installed.manifest["files"]) == [
        "preview.jpg",
        "style.jpg",
        "weights.safetensors",
    ]
    # Nothing of the trainer's machine travels: no folder of theirs in the manifest, and
    # the preview is the shipped sample photo, not one of their training photos.
    assert str(tmp_path) not in json.dumps(installed.manifest)
    assert installed.manifest["training"]["settings"]["data"] == "training-photos"
    assert str(tmp_path) in json.dumps(pack.manifest)  # the trainer's own copy keeps them
    assert installed.manifest["training"]["settings"]["style_image"] == "painting.png"
    shared = (second / "plugins" / "trained" / "preview.jpg").read_bytes()
    assert shared != (pack.path / "preview.jpg").read_bytes()
    assert shared == render_preview(pack, builtin_catalog().architectures)
