"""benchmarks/quality.py on tiny random-init packs and generated images (seconds), plus
one check of the SR protocol on the real Set5 when ../shared/assets is present."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from model_helpers import gradient, tiny_style_net, write_sr_pack
from PIL import Image

from stylepipe.models.spec import ModelSpec
from stylepipe.models.weights import sha256_file
from stylepipe.packs.format import write_pack
from stylepipe.plugins import Catalog, load_plugins

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import quality  # noqa: E402
import quality_sr as srq  # noqa: E402
import quality_style as styleq  # noqa: E402


def _save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(path)
    return path


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colours plus stripes: detail for SR and for the style losses."""
    base = gradient(h, w, seed=seed)
    stripes = 0.2 * np.sin(np.arange(w, dtype=np.float32) * 1.3)[None, :, None]
    return np.clip(base + stripes, 0, 1)


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    """A miniature of ../shared/assets: two photos, a style image, Set5 with one x4 pair."""
    root = tmp_path / "assets"
    _save(_textured(60, 80, 1), root / "content_images" / "a" / "one.jpg")
    _save(_textured(72, 64, 2), root / "content_images" / "b" / "two.jpg")
    _save(_textured(48, 48, 3), root / "style_images" / "paint.png")
    hr = _save(_textured(64, 80, 4), root / "sr_benchmarks/Set5/HR/img_001_SRF_4_HR.png")
    low = Image.open(hr).resize((20, 16), Image.Resampling.BICUBIC)
    (root / "sr_benchmarks/Set5/LR_x4").mkdir(parents=True)
    low.save(root / "sr_benchmarks/Set5/LR_x4/img_001_SRF_4_LR.png")
    return root


def _style_pack(home: Path, assets: Path, name: str = "tiny", style: Path | None = None) -> Path:
    """A tiny style pack whose manifest records training like `stylepipe train style`
    (on ``style``, by default the miniature assets' painting)."""
    thumb_source = style or assets / "content_images" / "a" / "one.jpg"
    style = style or assets / "style_images" / "paint.png"
    settings = {"loss_net": "vgg16-random", "loss_net_seed": 3, "style_image": str(style)}
    settings |= {"content_weight": 1.0, "style_weight": 20.0, "tv_weight": 100.0}
    manifest: dict[str, Any] = {
        "name": name,
        "kind": "style",
        "architecture": "johnson-style",
        "arch_params": {"width": 4, "n_residual": 1},
        "input_range": 1.0,
        "scale": 1,
        "training": {
            "style_image_sha256": sha256_file(style),
            "settings": {**settings, "style_size": 40, "image_size": 32},
        },
    }
    thumb = {"style.jpg": thumb_source.read_bytes()}
    return write_pack(home / "plugins" / name, manifest, tiny_style_net().state_dict(), thumb).path


@pytest.fixture
def home(tmp_path: Path, assets: Path) -> Path:
    home = tmp_path / "home"
    _style_pack(home, assets)
    write_sr_pack(home / "plugins", "sr4-pixel", scale=4, seed=1)
    write_sr_pack(home / "plugins", "sr4", scale=4, seed=2)
    write_sr_pack(home / "plugins", "sr8", scale=8, seed=3)
    return home


def _spec(pack: Path) -> ModelSpec:
    manifest = json.loads((pack / "manifest.json").read_text())
    return ModelSpec(
        name=manifest["name"],
        kind="style",
        architecture="johnson-style",
        arch_params=manifest["arch_params"],
        weights=pack / "weights.safetensors",
        manifest=manifest,
    )


def test_objective_comes_from_the_manifest(tmp_path: Path, assets: Path) -> None:
    objective = styleq.read_objective(_spec(_style_pack(tmp_path, assets)), [tmp_path])
    assert objective.style_source == "original"
    assert objective.style_path == assets / "style_images" / "paint.png"
    assert (objective.loss_net, objective.loss_net_seed, objective.style_size) == (
        "vgg16-random",
        3,
        40,
    )
    assert dict(objective.weights) == {"content": 1.0, "style": 20.0, "tv": 100.0}
    assert objective.style_scales == (1.0,)  # a pack from before --style-scales


def _objective_with(tmp_path: Path, assets: Path, **settings: str) -> styleq.StyleObjective:
    """The objective of a pack whose manifest records ``settings`` besides its own."""
    spec = _spec(_style_pack(tmp_path, assets))
    manifest = json.loads(json.dumps(spec.manifest))
    manifest["training"]["settings"].update(settings)
    return styleq.read_objective(ModelSpec(**{**vars(spec), "manifest": manifest}), [assets])


def test_objective_measures_the_style_at_the_scales_the_model_trained_with(
    tmp_path: Path, assets: Path
) -> None:
    objective = _objective_with(tmp_path, assets, style_scales="1,0.5")
    assert objective.style_scales == (1.0, 0.5)
    assert objective.describe()["style_scales"] == [1.0, 0.5]
    criterion, _ = styleq.build_criterion(objective, styleq.LossNets())
    assert criterion.style_scales == (1.0, 0.5)
    assert criterion.content_layer == "relu2_2"  # a pack from before --content-layer


def test_objective_measures_the_content_at_the_layer_the_model_trained_with(
    tmp_path: Path, assets: Path
) -> None:
    objective = _objective_with(tmp_path, assets, content_layer="relu3_3")
    assert objective.describe()["content_layer"] == "relu3_3"
    criterion, _ = styleq.build_criterion(objective, styleq.LossNets())
    assert criterion.content_layer == "relu3_3"


def test_style_image_found_under_moved_assets(tmp_path: Path, assets: Path) -> None:
    pack = _style_pack(tmp_path, assets)
    spec = _spec(pack)
    moved = "/elsewhere/shared/assets/style_images/paint.png"  # trained on another machine
    manifest = json.loads(json.dumps(spec.manifest))
    manifest["training"]["settings"]["style_image"] = moved
    objective = styleq.read_objective(ModelSpec(**{**vars(spec), "manifest": manifest}), [assets])
    assert (objective.style_source, objective.style_path) == (
        "original",
        assets / "style_images" / "paint.png",
    )


def test_changed_style_image_falls_back_to_the_thumbnail(tmp_path: Path, assets: Path) -> None:
    pack = _style_pack(tmp_path, assets)
    _save(_textured(48, 48, 9), assets / "style_images" / "paint.png")  # sha256 differs now
    objective = styleq.read_objective(_spec(pack), [tmp_path])
    assert objective.style_source == "thumbnail"
    assert objective.style_path == pack / "style.jpg"


def test_imported_model_without_training_record_is_refused(tmp_path: Path) -> None:
    manifest = {"name": "imported", "kind": "style", "training": {}}
    spec = ModelSpec("imported", "style", "johnson-style", {}, tmp_path / "w", manifest)
    with pytest.raises(styleq.ModelError, match="content_weight"):
        styleq.read_objective(spec, [tmp_path])


def test_gatys_lowers_the_training_loss(tmp_path: Path, assets: Path) -> None:
    objective = styleq.read_objective(_spec(_style_pack(tmp_path, assets)), [tmp_path])
    criterion, warning = styleq.build_criterion(objective, styleq.LossNets())
    assert warning == ""
    content = styleq.square_photo(assets / "content_images" / "a" / "one.jpg", 32)
    start = styleq.measure(criterion, content, content)
    assert start["content"] == 0.0 and start["style"] > 0
    run = styleq.gatys(criterion, content, [3, 6], lr=0.05)
    assert [m["iteration"] for m in run.checkpoints] == [3, 6]
    assert run.checkpoints[-1]["total"] < start["total"]
    assert run.checkpoints[0]["seconds"] < run.checkpoints[1]["seconds"]
    assert run.curve[0][0] == 0 and run.curve[0][2] == pytest.approx(start["total"], rel=1e-4)
    assert run.time_to_reach(start["total"] * 1.001) == (0, run.curve[0][1])
    assert run.time_to_reach(0.0) is None
    assert float(run.image.min()) >= 0.0 and float(run.image.max()) <= 1.0


def test_lbfgs_runs_the_same_objective(tmp_path: Path, assets: Path) -> None:
    objective = styleq.read_objective(_spec(_style_pack(tmp_path, assets)), [tmp_path])
    criterion, _ = styleq.build_criterion(objective, styleq.LossNets())
    content = styleq.square_photo(assets / "content_images" / "b" / "two.jpg", 32)
    run = styleq.gatys(criterion, content, [4], optimizer="lbfgs", lr=1.0)
    assert len(run.curve) >= 4
    assert run.checkpoints[0]["total"] < styleq.measure(criterion, content, content)["total"]


def test_sharpness_of_a_blurred_image_is_below_one() -> None:
    image = torch.from_numpy(_textured(40, 40, 5)).permute(2, 0, 1)[None]
    image = torch.round(image * 255) / 255  # 8-bit, as score() rounds its input
    blurred = torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1)
    ref = srq.mean_gradient(image, 4)
    assert srq.score(image, image, 4, ref)["sharpness"] == pytest.approx(1.0)
    assert srq.score(blurred, image, 4, ref)["sharpness"] < 0.8


def test_grid_sees_a_pattern_repeated_at_every_input_pixel() -> None:
    photo = torch.from_numpy(_textured(64, 64, 5)).permute(2, 0, 1)[None]
    pattern = torch.zeros(1, 1, 4, 4)
    pattern[..., 1, :] = pattern[..., :, 2] = 0.08  # one bright row and column per 4x4 cell
    gridded = (photo + pattern.repeat(1, 1, 16, 16)).clamp(0, 1)
    shifted = torch.roll(gridded, shifts=(1, 1), dims=(-2, -1))
    clean, dirty = srq.phase_grid(photo, 4, 4), srq.phase_grid(gridded, 4, 4)
    assert clean < 0.1 < dirty
    assert srq.phase_grid(shifted, 4, 4) == pytest.approx(dirty, rel=0.2)  # phase-blind
    scored = srq.score(gridded, photo, 4, srq.mean_gradient(photo, 4))["grid"]
    assert scored == pytest.approx(dirty, rel=0.05)  # the same after 8-bit rounding


def test_bicubic_protocol_uses_shared_lowres_only_when_it_fits(assets: Path) -> None:
    hr = assets / "sr_benchmarks/Set5/HR/img_001_SRF_4_HR.png"
    high = torch.from_numpy(np.asarray(Image.open(hr), np.float32) / 255).permute(2, 0, 1)[None]
    assert srq.lowres(high, hr, 4, "bicubic")[1] == "shared"
    assert srq.lowres(high, hr, 8, "bicubic")[1] == "generated"
    low, source = srq.lowres(high, hr, 4, "gaussian-bicubic")
    assert source == "generated" and low.shape[-2:] == (16, 20)


def test_quick_report_end_to_end(tmp_path: Path, home: Path, assets: Path) -> None:
    out = tmp_path / "out"
    argv = ["--models-home", str(home), "--assets", str(assets), "--out", str(out)]
    argv += ["--sizes", "32", "--photos", "2", "--gatys-photos", "1", "--gatys-iters", "2,4"]
    argv += ["--styles", "tiny"]  # bundled styles would be listed too
    assert quality.main([*argv, "--repeats", "1", "--crop", "24"]) == 0
    results = json.loads((out / "quality.json").read_text())
    (summary,) = results["style"]["summary"]
    assert (summary["model"], summary["photos"], summary["gatys_photos"]) == ("tiny", 2, 1)
    assert sorted(summary["gatys"]) == ["2", "4"]  # JSON keys
    assert summary["network"]["total"] > 0 and summary["network"]["seconds"] > 0
    tables = results["sr"]["tables"]
    assert set(tables) == {"gaussian-bicubic", "bicubic"}
    methods = {(r["scale"], r["method"]) for r in tables["bicubic"]}
    assert methods == {
        (4, "bicubic"),
        (4, "sr4-pixel (pixel)"),
        (4, "sr4 (feature)"),
        (8, "bicubic"),
        (8, "sr8 (feature)"),
        (4, "original"),
        (8, "original"),
    }
    (original,) = [r for r in tables["bicubic"] if (r["scale"], r["method"]) == (4, "original")]
    assert original["psnr"] is None and original["sharpness"] == 1.0 and original["grid"] >= 0
    lr = {(r["scale"], r["method"]): r["lr"] for r in tables["bicubic"]}
    assert lr[(4, "bicubic")] == "shared" and lr[(8, "bicubic")] == "generated"
    text = (out / "quality.md").read_text()
    assert "| tiny | 32 | Gatys 4 it | 1 |" in text and "Set5 x4, sr4-pixel (pixel)" in text
    for png in ("style_strip_32.png", "sr_grid_x4.png", "sr_grid_x8.png"):
        assert Image.open(out / png).width > 24


def test_default_styles_list_each_installed_style_once(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYLEPIPE_HOME", str(home))
    catalog = quality.Catalog.build(quality.load_plugins(entry_points=False))
    names = quality.style_models(quality.parse_args([]), catalog)
    assert ("tiny", "stylepipe_local/tiny") in names
    assert len({label for label, _ in names}) == len(names)
    assert quality.resolve_model(catalog, "sr4").source == "stylepipe_local"


def test_judge_part_reports_each_style_against_johnsons_output(tmp_path: Path) -> None:
    """``--parts judge`` on the real assets: a tiny pack trained (by its manifest) on the
    mosaic is judged on the three photos, beside Johnson's mosaic where there is one."""
    real = Path(quality.ASSETS)
    if not (real / "judge_networks").is_dir():
        pytest.skip(f"the judge network is not at {real}/judge_networks (../shared/assets)")
    mosaic = real / "style_images" / "pytorch_examples" / "mosaic.jpg"
    home = tmp_path / "home"
    pack = _style_pack(home, tmp_path / "mini", style=mosaic)
    out = tmp_path / "out"
    argv = ["--models-home", str(home), "--parts", "judge", "--styles", str(pack)]
    assert quality.main([*argv, "--judge-size", "128", "--out", str(out)]) == 0
    (model,) = json.loads((out / "quality.json").read_text())["judge"]["models"]
    assert model["painting"] == "mosaic" and len(model["rows"]) == 3
    chicago = next(r for r in model["rows"] if r["photo"] == "chicago")
    assert chicago["ours"]["own"] > 0 and chicago["ours"]["content"] > 0
    assert chicago["johnson"]["painting"] == "mosaic"
    assert "judged by an independent ImageNet network" in (out / "quality.md").read_text()
    assert Image.open(out / "judge" / "tiny.jpg").height == 3 * 256


def test_set5_bicubic_baseline_matches_the_literature() -> None:
    """Bicubic x4 from the shared MATLAB LR files on Set5 is 28.4 dB in SR papers."""
    real = Path(quality.ASSETS) / "sr_benchmarks" / "Set5"
    if not real.is_dir():
        pytest.skip(f"real Set5 not found at {real} (../shared/assets beside the repo)")
    rows, _ = srq.evaluate_set(real, 4, [], "bicubic", None)
    mean, original = srq.summarise(rows)
    assert mean["lr"] == "shared" and mean["images"] == 5
    assert 28.0 < mean["psnr"] < 28.8
    assert original["method"] == "original" and original["grid"] < 0.05 < mean["grid"]


def test_bundled_feature_x4_is_sharper_than_bicubic_and_above_it_in_psnr_on_set5() -> None:
    """The issue's "visibly sharper" on the real Set5 (Gaussian + bicubic, the degradation
    it was trained for), without giving up PSNR to bicubic, and with no stronger grid at
    every input pixel than the pure feature loss left (training/RECIPES.md, "The grid")."""
    real = Path(quality.ASSETS) / "sr_benchmarks" / "Set5"
    if not real.is_dir():
        pytest.skip(f"real Set5 not found at {real} (../shared/assets beside the repo)")
    loaded = quality.load_named(Catalog.build(load_plugins()), "sr4", "sr", "fp32")
    assert loaded is not None, "the bundled sr4 is missing"
    model = srq.SRModel(label="sr4", loss="feature", model=loaded[1])
    rows, _ = srq.evaluate_set(real, 4, [model], "gaussian-bicubic", None)
    bicubic, sr4, original = srq.summarise(rows)
    assert sr4["sharpness"] > 1.5 * bicubic["sharpness"], (sr4, bicubic)
    assert sr4["psnr"] > bicubic["psnr"], (sr4, bicubic)
    # grid over bicubic's: 2.0 for the bundled model (--pixel-weight 10), 2.2 for the pure
    # feature loss we shipped first (its PSNR was below bicubic's), 3.3 with --tv-weight 1
    assert sr4["grid"] < 2.5 * bicubic["grid"] and original["grid"] < bicubic["grid"], rows
