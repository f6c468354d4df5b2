"""The bundled models: what ships in the built-in plugins' ``models/`` folders, and the
script that puts it there (training/bundle_models.py, tested on tiny packs)."""

from __future__ import annotations

import importlib.util
import io
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stylepipe_sr
import stylepipe_style
import torch
from model_helpers import gradient, tiny_sr_net, tiny_style_net
from PIL import Image

from stylepipe.cli import main as cli_main
from stylepipe.packs.format import MANIFEST, WEIGHTS, load_pack_weights, read_pack, write_pack

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIRS = {
    "stylepipe_style": stylepipe_style.BUNDLED_MODELS,
    "stylepipe_sr": stylepipe_sr.BUNDLED_MODELS,
}
SHIPPED = [
    (plugin, folder.name)
    for plugin, root in PLUGIN_DIRS.items()
    if root.is_dir()
    for folder in sorted(root.iterdir())
    if folder.is_dir() and not folder.name.startswith(".")
]
#: Parametrizes the per-pack tests; a placeholder when nothing is bundled, so that they
#: fail (naming the fix) instead of being skipped for an empty parameter set.
PACKS = SHIPPED or [("stylepipe_style", "none-bundled")]
BUNDLED_FILES = {MANIFEST, WEIGHTS, "preview.jpg", "style.jpg", "LICENSE.txt"}


def load_script(path: Path) -> Any:
    """Scripts (training/bundle_models.py, samples/gallery.py) are not packages: load
    them by path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module


bundler = load_script(REPO / "training" / "bundle_models.py")
gallery = load_script(REPO / "samples" / "gallery.py")


def cli(*argv: Any) -> int:
    return cli_main([str(a) for a in argv])


def listed_models(
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``stylepipe models --json``: the models by qualified name, and the warnings."""
    capsys.readouterr()
    assert cli("models", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    return {m["qualified_name"]: m for m in listing["models"]}, listing["warnings"]


def write_photo(path: Path, height: int = 40, width: int = 56) -> Path:
    Image.fromarray((gradient(height, width) * 255).round().astype(np.uint8)).save(path)
    return path


# --- what ships ----------------------------------------------------------------------------


def test_ships_at_least_four_styles_and_x4_and_x8_upscalers() -> None:
    packs = [read_pack(PLUGIN_DIRS[plugin] / name) for plugin, name in SHIPPED]
    styles = [p.name for p in packs if p.manifest["kind"] == "style"]
    scales = {int(p.manifest["scale"]) for p in packs if p.manifest["kind"] == "sr"}
    assert len(styles) >= 4, f"bundled styles: {styles}; run training/bundle_models.py"
    assert {4, 8} <= scales, f"bundled SR scales: {sorted(scales)}"


def test_every_bundled_pack_is_listed_as_built_in(capsys) -> None:
    models, warnings = listed_models(capsys)
    assert SHIPPED
    for plugin, name in SHIPPED:
        record = models[f"{plugin}/{name}"]
        assert (record["source"], record["origin"]) == (plugin, "builtin")
        assert record["description"] and record["license"]
    assert not [w for w in warnings if "/models/" in w]  # no bundled folder was skipped


@pytest.mark.parametrize(("plugin", "name"), PACKS)
def test_bundled_pack_is_small_fp16_and_records_its_training(plugin: str, name: str) -> None:
    assert SHIPPED, "no bundled models: run python training/bundle_models.py"
    pack = read_pack(PLUGIN_DIRS[plugin] / name)
    pack.verify()
    assert set(pack.manifest["files"]) <= BUNDLED_FILES
    assert {p.name for p in pack.path.iterdir()} == {MANIFEST, *pack.manifest["files"]}
    assert {str(t.dtype) for t in load_pack_weights(pack.weights).values()} == {"torch.float16"}
    for picture in ("preview.jpg", "style.jpg"):
        if picture in pack.manifest["files"]:
            with Image.open(pack.path / picture) as image:
                assert image.format == "JPEG" and max(image.size) <= 512
    training = pack.manifest["training"]
    command = shlex.split(training["command"])
    assert command[:3] == ["stylepipe", "train", pack.manifest["kind"]]
    assert command[command.index("--loss-net") + 1] == training["loss_net"]
    assert command[command.index("--name") + 1] == name
    assert training["data"] and training["steps"] > 0 and training["wall_time_s"] > 0
    if training["loss_net"] == "vgg16-random":  # the first bundled models
        assert isinstance(training["loss_net_seed"], int)
        retrain = shlex.split(training["retrain_with_imagenet"])
        assert "vgg16-random" not in retrain
        assert retrain[retrain.index("--loss-net") + 1] == "vgg16"
    elif "loss_network" in training:  # ImageNet weights: the file and its convention
        assert command[command.index("--vgg-input") + 1] in ("caffe", "torchvision")
        assert (
            Path(command[command.index("--vgg-weights") + 1]).name
            == (training["loss_network"]["weights"])
        )
        assert len(training["loss_network"]["file_sha256"]) == 64


@pytest.mark.parametrize(("plugin", "name"), PACKS)
def test_bundled_pack_runs_through_its_filter(
    plugin: str, name: str, tmp_path: Path, capsys
) -> None:
    assert SHIPPED, "no bundled models: run python training/bundle_models.py"
    pack = read_pack(PLUGIN_DIRS[plugin] / name)
    photo = write_photo(tmp_path / "in.png")
    step = "style" if pack.manifest["kind"] == "style" else "upscale"
    out = tmp_path / "out"
    assert cli("run", photo, "-o", out, "-q", "--filter", f"{step}:model={plugin}/{name}") == 0
    with Image.open(out / "in.png") as image:
        result = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    scale = int(pack.manifest["scale"])
    assert result.shape == (40 * scale, 56 * scale, 3)
    assert result.std() > 0.02  # a picture, not a flat colour
    if step == "style":
        assert np.abs(result - gradient(40, 56)).mean() > 0.05  # the style changed it


def test_the_sample_pipeline_uses_bundled_models(capsys) -> None:
    assert cli("check", REPO / "samples" / "pipelines" / "stylize-then-upscale.toml") == 0
    assert "OK" in capsys.readouterr().err


def test_bundled_models_stay_small() -> None:
    total = sum(
        p.stat().st_size for root in PLUGIN_DIRS.values() for p in root.rglob("*") if p.is_file()
    )
    assert 0 < total < 10 * 2**20


#: Each bundled upscaler's least PSNR gain over bicubic on Set5: the issue's +1 dB target
#: for the pixel model; the feature models trade PSNR for sharpness, yet stay above bicubic
#: (measured 2026-12-02: sr4 +1.71 dB, sr8 +0.94 dB; the random-VGG16 sr8 had +0.25 dB and a
#: lower SSIM than bicubic).
SET5_GAINS = {"sr4-pixel": 1.0, "sr4": 0.5, "sr8": 0.5}


@pytest.mark.parametrize("name", sorted(SET5_GAINS))
def test_bundled_upscaler_beats_bicubic_on_set5(name: str, capsys) -> None:
    """On the real Set5 (Gaussian sigma 1 + bicubic, the degradation the models were
    trained for; Y channel, scale-pixel border cropped), in PSNR and in SSIM."""
    set5 = REPO.parent / "shared" / "assets" / "sr_benchmarks" / "Set5" / "HR"
    if not set5.is_dir():
        pytest.skip(f"{set5} is missing (the shared assets are not beside the checkout)")
    if ("stylepipe_sr", name) not in SHIPPED:
        pytest.fail(f"{name} is not bundled: run python training/bundle_models.py {name}")
    capsys.readouterr()
    assert cli("eval", "sr", "--model", f"stylepipe_sr/{name}", "--data", set5, "--json") == 0
    mean = json.loads(capsys.readouterr().out)["mean"]
    assert mean["model_psnr"] >= mean["bicubic_psnr"] + SET5_GAINS[name], mean
    assert mean["model_ssim"] > mean["bicubic_ssim"], mean


# --- the bundling script on tiny packs -----------------------------------------------------


def picture(size: tuple[int, int], fmt: str, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def settings_of(name: str, kind: str, scale: int) -> dict[str, Any]:
    """What a run's config.json holds (absolute paths, as the trainer writes them)."""
    common = {
        "name": name,
        "data": "/data/photos/../photos",
        "iterations": 5,
        "epochs": None,
        "batch_size": 4,
        "lr": 0.001,
        "seed": 0,
        "arch": "half",
        "loss_net": "vgg16-random",
        "loss_net_seed": 0,
        "task": kind,
    }
    if kind == "style":
        return {
            **common,
            "tv_weight": 100.0,
            "style_image": "/styles/brush.jpg",
            "image_size": 128,
            "style_size": 256,
            "content_weight": 1.0,
            "style_weight": 20.0,
        }
    return {**common, "tv_weight": 0.01, "scale": scale, "loss": "feature", "patch_size": 96}


def trained_pack(src: Path, runs: Path, name: str, kind: str = "style", scale: int = 1) -> Path:
    """A pack as `stylepipe train` installs it (fp32 weights, big pictures, an extra file)
    plus its run folder (config.json, losses.csv)."""
    net = tiny_style_net() if kind == "style" else tiny_sr_net(scale=scale)
    settings = settings_of(name, kind, scale)
    arch = {"width": 4, "n_residual": 1}
    manifest = {
        "name": name,
        "kind": kind,
        "architecture": "johnson-style" if kind == "style" else "johnson-sr",
        "arch_params": arch if kind == "style" else {**arch, "scale": scale, "skip": "bicubic"},
        "input_range": 1.0,
        "scale": scale,
        "description": f"test {name}",
        "license": "MIT",
        "author": "tests",
        "weights_dtype": "float32",
        "training": {"steps": 5, "duration_s": 12.5, "precision": "bf16", "settings": settings},
    }
    files = {"preview.png": picture((900, 600), "PNG", (10, 200, 30)), "README.md": b"notes\n"}
    if kind == "style":
        files["style.jpg"] = picture((700, 1000), "JPEG", (200, 20, 20))
    write_pack(src / name, manifest, net.state_dict(), files)
    run = runs / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(settings))
    rows = "".join(f"{i},1.0,0.5,0.4,0.1\n" for i in range(1, 6))
    (run / "losses.csv").write_text("step,total,content,style,tv\n" + rows)
    return src / name


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {k: tmp_path / k for k in ("src", "runs", "plugins")}


def bundle(dirs: dict[str, Path], *names: str) -> int:
    return bundler.main(
        [
            "--from",
            str(dirs["src"]),
            "--runs",
            str(dirs["runs"]),
            "--plugins",
            str(dirs["plugins"]),
            *names,
        ]
    )


def test_bundles_each_kind_into_its_plugin_with_fp16_weights_and_small_jpegs(dirs, capsys) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    trained_pack(dirs["src"], dirs["runs"], "up8", "sr", 8)
    original = load_pack_weights(dirs["src"] / "brush" / WEIGHTS)
    assert bundle(dirs) == 0
    printed = capsys.readouterr().out
    assert "brush" in printed and "up8" in printed
    assert printed.splitlines()[-1].split()[:2] == ["all", "bundled"]
    shown = bundler.portable_path(str(dirs["plugins"]))  # relative when shorter
    assert printed.splitlines()[-1].endswith(f"2 pack(s) in {shown}")
    style = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "brush")
    sr = read_pack(dirs["plugins"] / "stylepipe_sr" / "models" / "up8")
    for pack in (style, sr):
        pack.verify()  # checksums recomputed for the converted files
        assert pack.manifest["weights_dtype"] == "float16"
        assert {p.name for p in pack.path.iterdir()} == {MANIFEST, *pack.manifest["files"]}
    assert set(style.manifest["files"]) == {WEIGHTS, "preview.jpg", "style.jpg"}
    assert set(sr.manifest["files"]) == {WEIGHTS, "preview.jpg"}  # README.md left out
    weights = load_pack_weights(style.weights)
    for key, tensor in weights.items():
        assert tensor.dtype == torch.float16
        torch.testing.assert_close(tensor.float(), original[key], rtol=1e-3, atol=1e-4)
    with (
        Image.open(style.path / "style.jpg") as thumb,
        Image.open(style.path / "preview.jpg") as prev,
    ):
        assert (thumb.format, thumb.size) == ("JPEG", (358, 512))
        assert (prev.format, prev.size) == ("JPEG", (512, 341))


def test_provenance_records_the_command_and_how_to_retrain_with_imagenet(dirs) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    assert bundle(dirs, "brush") == 0
    training = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "brush").manifest[
        "training"
    ]
    assert training["command"] == (
        "stylepipe train style /styles/brush.jpg --data /data/photos --name brush "
        "--iterations 5 --batch-size 4 --lr 0.001 --seed 0 --arch half --tv-weight 100 "
        "--image-size 128 --style-size 256 --content-weight 1 --style-weight 20 "
        "--loss-net vgg16-random --loss-net-seed 0 --precision bf16 --description 'test brush' "
        "--author tests --license MIT"
    )  # the source pack's weights were float32: trained without --fp16-weights
    assert training["retrain_with_imagenet"] == (
        "stylepipe train style /styles/brush.jpg --data /data/photos --name brush-imagenet "
        "--iterations 5 --batch-size 4 --lr 0.001 --seed 0 --arch half "
        "--image-size 128 --style-size 256 --precision bf16 --description 'test brush' "
        "--author tests --license MIT --loss-net vgg16"
    )
    assert (training["data"], training["steps"], training["wall_time_s"]) == (
        "/data/photos",
        5,
        12.5,
    )
    assert (training["loss_net"], training["loss_net_seed"]) == ("vgg16-random", 0)
    assert training["settings"]["style_weight"] == 20.0  # the trainer's record is kept


def test_bundled_tiny_packs_are_built_in_models_that_run(
    dirs, tmp_path, monkeypatch, capsys
) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    trained_pack(dirs["src"], dirs["runs"], "up4", "sr", 4)
    assert bundle(dirs) == 0
    for module, plugin in ((stylepipe_style, "stylepipe_style"), (stylepipe_sr, "stylepipe_sr")):
        monkeypatch.setattr(module, "BUNDLED_MODELS", dirs["plugins"] / plugin / "models")
    models, _ = listed_models(capsys)
    assert models["stylepipe_style/brush"]["origin"] == "builtin"
    assert models["stylepipe_sr/up4"]["origin"] == "builtin"
    photo = write_photo(tmp_path / "in.png", 20, 24)
    argv = (
        "run",
        photo,
        "-o",
        tmp_path / "out",
        "-q",
        "--filter",
        "style",
        "--filter",
        "upscale:scale=4",
    )
    assert cli(*argv) == 0  # the bundled ones are the filters' defaults
    with Image.open(tmp_path / "out" / "in.png") as image:
        assert image.size == (96, 80)


def test_withholds_style_images_of_unknown_authorship(dirs) -> None:
    trained_pack(dirs["src"], dirs["runs"], "mosaic")
    assert bundle(dirs) == 0
    pack = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "mosaic")
    assert "style.jpg" not in pack.manifest["files"] and "preview.jpg" in pack.manifest["files"]
    assert "not redistributed" in pack.manifest["style_image_note"]


def test_the_preview_photo_is_recognised_among_the_samples(dirs) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    sample = REPO / "samples" / "photos" / "chelsea.jpg"
    (dirs["runs"] / "brush" / "preview-source.jpg").write_bytes(sample.read_bytes())
    assert bundle(dirs) == 0
    training = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "brush").manifest[
        "training"
    ]
    assert " --preview samples/photos/chelsea.jpg " in training["command"]


def test_without_a_run_folder_the_manifest_settings_are_used(dirs) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    (dirs["runs"] / "brush" / "config.json").unlink()
    (dirs["runs"] / "brush" / "losses.csv").unlink()
    (dirs["runs"] / "brush").rmdir()
    assert bundle(dirs) == 0
    training = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "brush").manifest[
        "training"
    ]
    assert "--name brush " in training["command"] and training["steps"] == 5


def test_a_corrupt_pack_is_refused_and_nothing_is_written(dirs, capsys) -> None:
    trained_pack(dirs["src"], dirs["runs"], "anise")  # valid, and bundled first by name
    folder = trained_pack(dirs["src"], dirs["runs"], "brush")
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    assert bundle(dirs) != 0
    err = capsys.readouterr().err
    assert str(folder) in err and "checksum of weights.safetensors" in err
    assert not dirs["plugins"].exists()


def test_weights_that_do_not_fit_the_network_are_refused(dirs, capsys) -> None:
    folder = trained_pack(dirs["src"], dirs["runs"], "brush")
    pack = read_pack(folder)
    manifest = {
        k: v for k, v in pack.manifest.items() if k not in ("format", "format_version", "files")
    }
    manifest["arch_params"] = {"width": 8, "n_residual": 1}
    write_pack(folder, manifest, load_pack_weights(pack.weights), overwrite=True)
    assert bundle(dirs) != 0
    assert "do not fit the network" in capsys.readouterr().err


def test_unknown_names_are_a_usage_error(dirs, capsys) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    assert bundle(dirs, "brush", "starry") == 2
    err = capsys.readouterr().err
    assert "not trained yet" in err and "starry" in err
    assert not dirs["plugins"].exists()


def test_a_model_continued_from_a_pack_says_so_in_its_command(dirs) -> None:
    """A run started with --init-from (the queue continuing a committed model) records
    it; the rebuilt command carries it, and the steps are the total, not this run's."""
    source = trained_pack(dirs["src"], dirs["runs"], "brush")
    manifest = json.loads((source / MANIFEST).read_text())
    origin = {"model": "brush", "steps": 3, "weights_sha256": "0" * 64}
    manifest["training"] = {**manifest["training"], "steps": 8, "init_from": origin}
    (source / MANIFEST).write_text(json.dumps(manifest))
    assert bundle(dirs, "brush") == 0
    training = read_pack(dirs["plugins"] / "stylepipe_style" / "models" / "brush").manifest[
        "training"
    ]
    assert " --init-from brush " in training["command"]
    assert training["steps"] == 8 and training["init_from"] == origin


def test_packs_without_a_loss_net_record_get_no_retrain_command(dirs) -> None:
    folder = trained_pack(dirs["src"], dirs["runs"], "up4", "sr", 4)
    config = dirs["runs"] / "up4" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "loss_net": "vgg16"}))
    assert folder.is_dir() and bundle(dirs) == 0
    training = read_pack(dirs["plugins"] / "stylepipe_sr" / "models" / "up4").manifest["training"]
    assert "retrain_with_imagenet" not in training and training["loss_net"] == "vgg16"


def test_gallery_renders_every_bundled_style_and_prints_the_table(
    dirs, tmp_path, monkeypatch, capsys
) -> None:
    trained_pack(dirs["src"], dirs["runs"], "brush")
    trained_pack(dirs["src"], dirs["runs"], "mosaic")
    assert bundle(dirs) == 0
    monkeypatch.setattr(
        stylepipe_style, "BUNDLED_MODELS", dirs["plugins"] / "stylepipe_style" / "models"
    )
    capsys.readouterr()
    out = tmp_path / "gallery"
    assert (
        gallery.main_gallery(["--out", str(out), "--width", "48", "chelsea.jpg", "coffee.jpg"]) == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f"{s}_{p}.jpg" for s in ("brush", "mosaic", "photo") for p in ("chelsea", "coffee")]
        + ["brush_style.jpg"]  # mosaic's pack ships no style image
    )
    with Image.open(out / "brush_coffee.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (48, 32))
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "| style | chelsea | coffee |" and len(rows) == 5
    assert "brush_style.jpg" in rows[3] and "not shipped" in rows[4]
    assert gallery.main_gallery(["--out", str(out), "nope.jpg"]) == 2


def test_a_pixel_loss_model_notes_that_no_loss_network_was_used(dirs) -> None:
    trained_pack(dirs["src"], dirs["runs"], "up4", "sr", 4)
    config = dirs["runs"] / "up4" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "loss": "pixel"}))
    assert bundle(dirs) == 0
    training = read_pack(dirs["plugins"] / "stylepipe_sr" / "models" / "up4").manifest["training"]
    assert "not used" in training["loss_net_note"]
    assert " --loss pixel " in training["command"] and "--scale 4" in training["command"]
