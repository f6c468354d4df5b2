"""``stylepipe train style|sr`` and ``eval sr`` end to end, in-process, on a handful of
generated photos with half-width networks and the random-weight VGG16."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stylepipe_sr
import stylepipe_style
import torch
from model_helpers import write_sr_pack, write_style_pack
from PIL import Image
from safetensors.torch import load_file
from stylepipe_training.checkpoint import load_checkpoint
from stylepipe_training.config import RunConfig
from stylepipe_training.history import LossHistory
from stylepipe_training.loop import RunState, Trainer
from stylepipe_training.warmstart import WARMUP_STEPS

from stylepipe.cli import main
from stylepipe.plugins import Catalog, load_plugins
from stylepipe.ui import UI


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run faster on one thread, and far faster on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = (rng.random((56, 64, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(root / ("sub" if i % 2 else "") / f"p{i}.png")
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture
def style_image(tmp_path: Path) -> Path:
    yy, xx = np.mgrid[0:48, 0:48] / 48.0
    stripes = np.stack([np.sin(xx * 20) > 0, np.cos(yy * 9) > 0, xx + yy > 1], axis=-1)
    path = tmp_path / "style.png"
    Image.fromarray((stripes * 255).astype("uint8")).save(path)
    return path


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def tiny_style(style: Path, photos: Path, name: str, *extra: object) -> tuple[int, str, str]:
    return run(
        "train",
        "style",
        style,
        "--data",
        photos,
        "--name",
        name,
        "--image-size",
        32,
        "--arch",
        "half",
        "--batch-size",
        2,
        "--loss-net",
        "vgg16-random",
        "--precision",
        "fp32",
        "--workers",
        0,
        *extra,
    )


def test_train_style_installs_a_pack_that_the_style_filter_runs(
    style_image: Path, photos: Path, stylepipe_home: Path, tmp_path: Path
) -> None:
    code, _, err = tiny_style(
        style_image,
        photos,
        "tiny",
        "--iterations",
        3,
        "--checkpoint-every",
        2,
        "--license",
        "CC0-1.0",
        "--author",
        "Tester",
        "--seed",
        7,
    )
    assert code == 0, err
    assert "skipped 1 of 7 photos" in err
    pack = stylepipe_home / "plugins" / "tiny"
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["kind"] == "style" and manifest["architecture"] == "johnson-style"
    assert manifest["arch_params"] == {"width": 16, "n_residual": 5}
    assert manifest["license"] == "CC0-1.0" and manifest["author"] == "Tester"
    training = manifest["training"]
    assert training["steps"] == 3 and training["settings"]["seed"] == 7
    assert training["loss_network"]["name"] == "vgg16-random"
    assert training["loss_network"]["seed"] == 0 and len(training["loss_network"]["sha256"]) == 64
    assert set(manifest["metrics"]["final_loss"]) == {"total", "content", "style", "tv"}
    assert {"torch", "stylepipe"} <= set(manifest["versions"])
    assert {"weights.safetensors", "style.jpg", "preview.jpg"} <= set(manifest["files"])
    assert load_file(str(pack / "weights.safetensors"))["conv1.conv2d.weight"].shape[0] == 16
    run_dir = stylepipe_home / "runs" / "tiny"
    for name in (
        "checkpoint.pt",
        "losses.csv",
        "losses.png",
        "preview.jpg",
        "previews/step-000002.jpg",
        "previews/step-000003.jpg",
        "config.json",
    ):
        assert (run_dir / name).is_file(), name
    assert len((run_dir / "losses.csv").read_text().splitlines()) == 4

    catalog = Catalog.build(load_plugins())
    assert catalog.models.get("tiny").kind == "style"
    if "style" not in catalog.filters:
        pytest.skip("the `style` filter is not registered in this checkout")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.open(sorted(photos.glob("*.png"))[0]).save(inputs / "photo.png")
    code, _, err = run(
        "run", inputs, "-o", tmp_path / "out", "--filter", "style:model=tiny", "--precision", "fp32"
    )
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "photo.png").size == (64, 56)


def test_resume_reproduces_the_uninterrupted_run_exactly(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    assert tiny_style(style_image, photos, "whole", "--iterations", 4)[0] == 0
    assert tiny_style(style_image, photos, "split", "--iterations", 2)[0] == 0
    code, _, err = run("train", "style", "--resume", "--name", "split", "--iterations", 4)
    assert code == 0, err
    whole = load_checkpoint(stylepipe_home / "runs" / "whole" / "checkpoint.pt", "style")
    split = load_checkpoint(stylepipe_home / "runs" / "split" / "checkpoint.pt", "style")
    assert whole["step"] == split["step"] == 4
    for key, value in whole["net"].items():
        assert torch.equal(value, split["net"][key]), key
    assert whole["history"]["rows"] == split["history"]["rows"]
    a = load_file(str(stylepipe_home / "plugins" / "whole" / "weights.safetensors"))
    b = load_file(str(stylepipe_home / "plugins" / "split" / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_resume_may_change_the_loss_weights_and_records_when(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    assert tiny_style(style_image, photos, "sched", "--iterations", 2)[0] == 0
    code, _, err = run(
        "train", "style", "--resume", "--name", "sched", "--iterations", 3,
        "--style-weight", 7.5, "--force",
    )  # fmt: skip
    assert code == 0, err
    assert "changed: iterations, style_weight" in err
    run_dir = stylepipe_home / "runs" / "sched"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["style_weight"] == 7.5
    assert config["weight_changes"] == [f"step 2: style_weight {config_weight(err)} -> 7.5"]
    manifest = json.loads((stylepipe_home / "plugins" / "sched" / "manifest.json").read_text())
    assert manifest["training"]["settings"]["weight_changes"] == config["weight_changes"]
    state = load_checkpoint(run_dir / "checkpoint.pt", "style")
    assert len(state["history"]["rows"]) == 3  # the third step trained with the new weight
    # Adam's moments belong to the old loss: the rate warms up again from the resumed step
    assert f"style_weight changed: the learning rate warms up again over {WARMUP_STEPS}" in err
    assert state["extra"]["lr_warmup"] == {"start": 2, "steps": WARMUP_STEPS}
    # the learning rate too (after a divergence, or as a schedule); no warm-up for that
    code, _, err = run(
        "train", "style", "--resume", "--name", "sched", "--iterations", 4, "--lr", 5e-4, "--force"
    )
    assert code == 0, err
    assert "warms up again" not in err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["lr"] == 5e-4 and config["weight_changes"][-1] == "step 3: lr 0.001 -> 0.0005"


def config_weight(err: str) -> str:
    """The style weight the tiny runs start with, as the change record writes it."""
    from stylepipe_training.lossnet import get_loss_network

    return str(float(get_loss_network("vgg16-random").style_defaults["style_weight"]))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_writes_a_checkpoint_and_exits_130(
    style_image: Path,
    photos: Path,
    stylepipe_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
) -> None:
    real_update = Trainer.update

    def step_then_interrupt(self: Trainer, graph: dict[str, torch.Tensor]) -> dict[str, float]:
        terms = real_update(self, graph)
        signal.raise_signal(signum)  # as if the user pressed Ctrl-C (or a job was killed)
        return terms

    monkeypatch.setattr(Trainer, "update", step_then_interrupt)
    code, _, err = tiny_style(style_image, photos, "stopped", "--iterations", 3)
    assert code == 130
    assert "--resume" in err and signum.name in err
    run_dir = stylepipe_home / "runs" / "stopped"
    assert load_checkpoint(run_dir / "checkpoint.pt", "style")["step"] == 1
    assert not (stylepipe_home / "plugins" / "stopped").exists()
    monkeypatch.setattr(Trainer, "update", real_update)
    code, _, err = run("train", "style", "--resume", run_dir)
    assert code == 0, err
    assert (stylepipe_home / "plugins" / "stopped" / "manifest.json").is_file()


def test_refusals_before_any_training(style_image: Path, photos: Path) -> None:
    assert tiny_style(style_image, photos, "taken", "--iterations", 1)[0] == 0
    code, _, err = tiny_style(style_image, photos, "taken", "--iterations", 1)
    assert code == 2 and "--resume" in err and "--restart" in err
    code, _, err = tiny_style(style_image, photos, "taken", "--iterations", 1, "--restart")
    assert code == 2 and "already installed" in err and "--force" in err
    code, _, err = tiny_style(
        style_image, photos, "taken", "--iterations", 1, "--restart", "--force"
    )
    assert code == 0, err
    code, _, err = run("train", "style", "--resume", "--name", "taken", "--batch-size", 3)
    assert code == 2 and "--batch-size 3" in err  # (the loss weights and --lr may change)
    code, _, err = run("train", "style", "--data", photos, "--name", "x", "--iterations", 1)
    assert code == 2 and "STYLE_IMAGE" in err
    code, _, err = tiny_style(style_image, photos, "Bad Name", "--iterations", 1)
    assert code == 2 and "invalid model name" in err
    code, _, err = run(
        "train",
        "sr",
        "--data",
        photos,
        "--name",
        "y",
        "--iterations",
        1,
        "--loss",
        "pixel",
        "--pixel-weight",
        1,
    )
    assert code == 2 and "--pixel-weight" in err and "--loss feature" in err


def test_a_name_a_bundled_model_has_is_refused_unless_forced(
    style_image: Path,
    photos: Path,
    stylepipe_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18, bug 2: a style trained as `mosaic` beside the bundled `mosaic` made the
    printed "try it" command fail ("ambiguous"). The clash is refused before the run
    starts; with --force the model trains and the command printed uses its qualified
    name, and works."""
    bundled_style, bundled_sr = tmp_path / "bundled_style", tmp_path / "bundled_sr"
    write_style_pack(bundled_style, "mosaic")
    write_sr_pack(bundled_sr, "sr4")
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", bundled_style)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", bundled_sr)
    for name, other in (("mosaic", "stylepipe_style/mosaic"), ("sr4", "stylepipe_sr/sr4")):
        code, _, err = tiny_style(style_image, photos, name, "--iterations", 1)
        assert code == 2, err
        assert f"--name {name!r} is already the name of {other}" in err
        assert f"my-{name}" in err and "--force" in err and f"stylepipe_local/{name}" in err
        assert not (stylepipe_home / "runs" / name).exists()  # refused before the run began

    code, _, err = tiny_style(style_image, photos, "mosaic", "--iterations", 1, "--force")
    assert code == 0, err
    assert "stylepipe_style/mosaic has the same name" in err
    try_it = next(line for line in err.splitlines() if "try it:" in line)
    spec = try_it.split("--filter ", 1)[1].strip()
    assert spec == "style:model=stylepipe_local/mosaic"
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.open(sorted(photos.glob("*.png"))[0]).save(inputs / "photo.png")
    code, _, err = run("run", inputs, "-o", tmp_path / "out", "--filter", spec)
    assert code == 0, err
    assert (tmp_path / "out" / "photo.png").is_file()
    code, _, err = run("run", inputs, "-o", tmp_path / "out2", "--filter", "style:mosaic")
    assert code == 2 and "ambiguous" in err  # why the refusal exists

    # a run resumed by its folder (no --name) is checked too, before any step
    run_dir = stylepipe_home / "runs" / "mosaic"
    code, _, err = run("train", "style", "--resume", run_dir, "--iterations", 2)
    assert code == 2 and "already the name of stylepipe_style/mosaic" in err
    assert load_checkpoint(run_dir / "checkpoint.pt", "style")["step"] == 1


def test_imagenet_loss_network_from_a_weights_file(
    style_image: Path,
    photos: Path,
    stylepipe_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torchvision

    monkeypatch.delenv("STYLEPIPE_VGG_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    code, _, err = tiny_style(
        style_image, photos, "inet", "--iterations", 1, "--loss-net", "vgg16", "--no-download"
    )
    assert code == 1 and "vgg16-random" in err and "vgg16-397923af.pth" in err
    with torch.device("meta"):
        keys = torchvision.models.vgg16().features.state_dict()
    weights = {f"features.{k}": torch.randn(v.shape) * 0.05 for k, v in keys.items()}
    torch.save(weights, tmp_path / "vgg.pth")
    given = ("--iterations", 1, "--loss-net", "vgg16", "--vgg-weights", tmp_path / "vgg.pth")
    code, _, err = tiny_style(style_image, photos, "inet", *given)
    assert code == 1 and "--vgg-input" in err  # a file that states no input convention
    code, _, err = tiny_style(style_image, photos, "inet", *given, "--vgg-input", "torchvision")
    assert code == 0, err
    manifest = json.loads((stylepipe_home / "plugins" / "inet" / "manifest.json").read_text())
    assert manifest["training"]["loss_network"]["name"] == "vgg16"
    assert manifest["training"]["content_weight"] == 1e5  # the vgg16 defaults


@pytest.mark.parametrize(
    ("loss", "pixel_weight"), [("feature", 0.0), ("pixel", 0.0), ("feature", 10.0)]
)
def test_train_sr_then_eval(
    photos: Path, stylepipe_home: Path, tmp_path: Path, loss: str, pixel_weight: float
) -> None:
    name = f"sr-{loss}-{pixel_weight:g}"
    code, _, err = run(
        "train",
        "sr",
        "--scale",
        4,
        "--data",
        photos,
        "--name",
        name,
        "--loss",
        loss,
        "--patch-size",
        48,
        "--arch",
        "half",
        "--iterations",
        2,
        "--batch-size",
        2,
        "--loss-net",
        "vgg16-random",
        "--precision",
        "fp32",
        "--workers",
        0,
        "--fp16-weights",
        "--pixel-weight",
        pixel_weight,
    )
    assert code == 0, err
    manifest = json.loads((stylepipe_home / "plugins" / name / "manifest.json").read_text())
    assert manifest["training"]["settings"]["pixel_weight"] == pixel_weight
    header = (stylepipe_home / "runs" / name / "losses.csv").read_text().splitlines()[0]
    assert ("pixel" in header.split(",")) == (loss == "pixel" or pixel_weight > 0)
    assert (manifest["kind"], manifest["scale"], manifest["architecture"]) == (
        "sr",
        4,
        "johnson-sr",
    )
    assert manifest["arch_params"] == {"scale": 4, "width": 32, "n_residual": 4, "skip": "bicubic"}
    assert manifest["weights_dtype"] == "float16"
    assert ("loss_network" in manifest["training"]) == (loss == "feature")
    hr = tmp_path / "hr"
    hr.mkdir()
    yy, xx = np.mgrid[0:50, 0:62]
    for i in range(2):
        smooth = np.stack([np.sin(xx / (5 + i)), np.cos(yy / 7), np.sin((xx + yy) / 9)], -1)
        Image.fromarray(((smooth + 1) * 127.5).astype("uint8")).save(hr / f"img{i}.png")
    Image.new("RGB", (12, 12)).save(hr / "too_small.png")
    code, out, err = run("eval", "sr", "--model", name, "--data", hr, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["scale"] == 4 and report["degradation"] == "gaussian-bicubic"
    assert [r["image"] for r in report["images"]] == ["img0.png", "img1.png"]
    assert 10 < report["mean"]["bicubic_psnr"] < 60 and 0 < report["mean"]["model_ssim"] <= 1
    assert "too_small.png" in err
    code, out, _ = run("eval", "sr", "--model", name, "--data", hr)
    assert code == 0 and "bicubic PSNR" in out and "mean" in out
    code, _, err = run("eval", "sr", "--model", name, "--data", hr, "--scale", 8)
    assert code == 2 and "x8" in err


def test_help_and_import_lightness() -> None:
    assert run("train", "style", "--help")[0] == 0
    assert run("train", "sr", "--help")[0] == 0
    assert run("eval", "sr", "--help")[0] == 0
    probe = (
        "import argparse, sys\n"
        "import stylepipe_training.plugin as p\n"
        "p.register_commands(subparsers=argparse.ArgumentParser().add_subparsers())\n"
        "heavy = [m for m in ('torch', 'torchvision', 'stylepipe_training.handlers',"
        " 'stylepipe_training.vgg', 'stylepipe_training.loop') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_auto_loss_net_takes_a_partial_vgg19_and_records_it(
    style_image: Path,
    photos: Path,
    stylepipe_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default --loss-net auto: an error naming the random fallback without weights;
    with a partial VGG19 file it trains on vgg19, and the manifest records the network,
    its layers and the file's sha256. A resume with auto keeps the run's network."""
    import torchvision
    from safetensors.torch import save_file

    from stylepipe import sha256_file

    monkeypatch.delenv("STYLEPIPE_VGG_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def auto(name: str, *extra: object) -> tuple[int, str, str]:
        argv = [
            "train", "style", style_image, "--data", photos, "--name", name,
            "--image-size", 32, "--batch-size", 2, "--precision", "fp32", "--workers", 0,
        ]  # fmt: skip
        return run(*argv, *extra)

    code, _, err = auto("v19", "--iterations", 1)
    assert code == 1 and "--loss-net vgg16-random" in err and "vgg19-dcbb9e9d.pth" in err
    with torch.device("meta"):
        keys = torchvision.models.vgg19().features.state_dict()
    partial = {f"features.{k}": torch.randn(v.shape) * 0.05 for k, v in keys.items()}
    partial = {k: v for k, v in partial.items() if int(k.split(".")[1]) <= 16}
    weights = tmp_path / "vgg19-part.safetensors"
    save_file(partial, str(weights), metadata={"input_convention": "caffe"})
    code, _, err = auto("v19", "--iterations", 2, "--checkpoint-every", 1, "--vgg-weights", weights)
    assert code == 0, err
    training = json.loads((stylepipe_home / "plugins" / "v19" / "manifest.json").read_text())[
        "training"
    ]
    assert training["settings"]["loss_net"] == "vgg19"
    assert training["settings"]["arch"] == "half"  # width 16 by default
    net = training["loss_network"]
    assert (net["name"], net["blocks"], net["input_convention"]) == ("vgg19", 3, "caffe")
    assert net["file_sha256"] == sha256_file(weights)
    layers = training["style_layers"]
    assert list(layers) == ["relu1_2", "relu2_2", "relu3_4"]
    assert sum(layers.values()) == pytest.approx(1.0)  # vgg19 averages its style layers
    code, _, err = auto(
        "v19", "--iterations", 3, "--resume", "--force", "--vgg-weights", weights,
        "--loss-net", "auto",
    )  # fmt: skip
    assert code == 0, err


def test_init_from_continues_a_model_from_its_pack_alone(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """--init-from: a run whose folder is gone continues from the installed pack, at the
    step the pack records; --iterations stays the total."""
    assert tiny_style(style_image, photos, "first", "--iterations", 2)[0] == 0
    first = stylepipe_home / "plugins" / "first"
    code, _, err = tiny_style(
        style_image, photos, "second", "--init-from", first, "--iterations", 4, "--lr", 1e-12
    )
    assert code == 0, err
    assert "starting from first" in err and "at step 2" in err
    manifest = json.loads((stylepipe_home / "plugins" / "second" / "manifest.json").read_text())
    assert manifest["training"]["steps"] == 4
    origin = manifest["training"]["init_from"]
    assert origin["model"] == "first" and origin["steps"] == 2
    digest = hashlib.sha256((first / "weights.safetensors").read_bytes()).hexdigest()
    assert origin["weights_sha256"] == digest
    rows = load_checkpoint(stylepipe_home / "runs" / "second" / "checkpoint.pt", "style")[
        "history"
    ]["rows"]
    assert [row[0] for row in rows] == [3.0, 4.0]  # two more steps, counted on
    # with a vanishing learning rate the weights are still the first model's
    before = load_file(str(first / "weights.safetensors"))
    after = load_file(str(stylepipe_home / "plugins" / "second" / "weights.safetensors"))
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)

    # by model name, as `stylepipe models` lists it
    code, _, err = tiny_style(
        style_image, photos, "third", "--init-from", "first", "--iterations", 3
    )
    assert code == 0, err
    third = json.loads((stylepipe_home / "plugins" / "third" / "manifest.json").read_text())
    assert third["training"]["init_from"]["model"] == "first"


def test_init_from_warms_the_learning_rate_up(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """A fresh Adam's first step moves every weight by about --lr; from a trained pack
    that wrecked mosaic, so the rate starts near 0 and grows over WARMUP_STEPS."""
    assert tiny_style(style_image, photos, "base", "--iterations", 2)[0] == 0
    base = stylepipe_home / "plugins" / "base"
    code, _, err = tiny_style(
        style_image, photos, "warm", "--init-from", base, "--iterations", 3, "--lr", 1e-3
    )
    assert code == 0, err
    assert f"warms up over {WARMUP_STEPS} steps" in err
    before = load_file(str(base / "weights.safetensors"))
    after = load_file(str(stylepipe_home / "plugins" / "warm" / "weights.safetensors"))
    moved = max(float((after[k] - before[k]).abs().max()) for k in before)
    assert 0 < moved <= 1.01e-3 / WARMUP_STEPS  # one step at 1/WARMUP_STEPS of the rate
    state = load_checkpoint(stylepipe_home / "runs" / "warm" / "checkpoint.pt", "style")
    assert state["extra"]["lr_warmup"] == {"start": 2, "steps": WARMUP_STEPS}


def test_init_from_records_the_weights_it_changes_and_the_packs_own(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """A style continued at another style weight says so in its manifest, and a model
    continued from that one keeps the record: the whole schedule travels with the pack."""
    assert tiny_style(style_image, photos, "base", "--iterations", 2)[0] == 0
    settings = manifest_settings(stylepipe_home, "base")
    assert settings["weight_changes"] == []
    weight = settings["style_weight"] * 2
    code, _, err = tiny_style(
        style_image, photos, "more", "--init-from", "base", "--iterations", 3,
        "--style-weight", weight,
    )  # fmt: skip
    assert code == 0, err
    change = (
        f"step 2: style_weight {settings['style_weight']} -> {weight} (continued from the pack)"
    )
    assert manifest_settings(stylepipe_home, "more")["weight_changes"] == [change]
    code, _, err = tiny_style(
        style_image, photos, "most", "--init-from", "more", "--iterations", 4,
        "--style-weight", weight,
    )  # fmt: skip
    assert code == 0, err
    assert manifest_settings(stylepipe_home, "most")["weight_changes"] == [change]


def test_init_from_records_a_changed_style_size(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """Finer panes come from a smaller style image: a run continued from a pack at another
    style size records that its criterion changed, and when."""
    assert tiny_style(style_image, photos, "base", "--iterations", 2)[0] == 0
    size = manifest_settings(stylepipe_home, "base")["style_size"]
    code, _, err = tiny_style(
        style_image, photos, "finer", "--init-from", "base", "--iterations", 3,
        "--style-size", size + 16,
    )  # fmt: skip
    assert code == 0, err
    settings = manifest_settings(stylepipe_home, "finer")
    assert settings["style_size"] == size + 16
    assert settings["weight_changes"] == [
        f"step 2: style_size {size} -> {size + 16} (continued from the pack)"
    ]


def check_criterion_setting(
    style_image: Path, photos: Path, home: Path, option: str, default: str, other: str
) -> None:
    """A style continued from a pack with ``option`` at ``other`` records the change
    from the pack's ``default`` (also of a pack from before the option), and a resumed
    run refuses to change it."""
    key = option.removeprefix("--").replace("-", "_")
    assert tiny_style(style_image, photos, "base", "--iterations", 2)[0] == 0
    assert manifest_settings(home, "base")[key] == default
    code, _, err = tiny_style(
        style_image, photos, "changed", "--init-from", "base", "--iterations", 3, option, other
    )
    assert code == 0, err
    settings = manifest_settings(home, "changed")
    assert settings[key] == other
    assert settings["weight_changes"] == [
        f"step 2: {key} {default} -> {other} (continued from the pack)"
    ]
    code, _, err = run("train", "style", "--resume", "--name", "base", option, other)
    assert code == 2 and f"{option} {other} (run: {default})" in err


def test_style_scales_are_a_criterion_setting_a_pack_records(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """The style loss at half scale too is a criterion setting (a pack from before the
    option was measured at scale 1 alone); scales that leave too few pixels are refused."""
    check_criterion_setting(style_image, photos, stylepipe_home, "--style-scales", "1", "1,0.5")
    for scales, message in (("1,2", "at most 1"), ("1,x", "give numbers"), ("0.25", "under 16 px")):
        code, _, err = tiny_style(
            style_image, photos, "bad", "--iterations", 1, "--style-scales", scales
        )
        assert code == 2 and message in err, (scales, err)


def test_the_content_layer_is_a_criterion_setting_a_pack_records(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    """The content at relu3_3 (Johnson's released models) rather than the paper's relu2_2
    is a criterion setting; a name that is no layer is refused before training."""
    check_criterion_setting(
        style_image, photos, stylepipe_home, "--content-layer", "relu2_2", "relu3_3"
    )
    code, _, err = tiny_style(
        style_image, photos, "bad", "--iterations", 1, "--content-layer", "conv3"
    )
    assert code == 2 and "not a layer name" in err, err


def manifest_settings(home: Path, name: str) -> dict:
    manifest = json.loads((home / "plugins" / name / "manifest.json").read_text())
    return manifest["training"]["settings"]


def test_learning_rate_scale_grows_linearly_and_survives_a_resume(tmp_path: Path) -> None:
    state = RunState(tmp_path, RunConfig(name="x", data="photos"), LossHistory(("total",)))
    assert state.learning_rate_scale() == 1.0  # no warm-up: a fresh or resumed run
    state.extra["lr_warmup"] = {"start": 100, "steps": 4}
    scales = []
    for step in range(100, 106):
        state.step = step
        scales.append(state.learning_rate_scale())
    assert scales == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_init_from_refuses_what_does_not_fit(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    assert tiny_style(style_image, photos, "base", "--iterations", 2)[0] == 0
    cases = [
        (("--iterations", 2), "--iterations above 2"),
        (("--iterations", 4, "--arch", "full"), "--arch"),
        (("--iterations", 4, "--resume"), "--resume continues a run"),
    ]
    for extra, message in cases:
        code, _, err = tiny_style(style_image, photos, "next", "--init-from", "base", *extra)
        assert code == 2 and message in err, (extra, err)
    code, _, err = tiny_style(
        style_image, photos, "next", "--init-from", "nosuch", "--iterations", 4
    )
    assert code != 0 and "nosuch" in err
    code, _, err = run(
        "train", "sr", "--data", photos, "--name", "up", "--iterations", 3, "--loss", "pixel",
        "--arch", "half", "--patch-size", 48, "--workers", 0, "--init-from", "base",
    )  # fmt: skip
    assert code == 2 and "johnson-sr" in err
    assert not (stylepipe_home / "plugins" / "next").exists()


def test_a_resumed_run_installs_its_pack_with_the_licence_it_started_with(
    style_image: Path, photos: Path, stylepipe_home: Path
) -> None:
    code, _, err = tiny_style(
        style_image, photos, "told", "--iterations", 1, "--license", "CC0-1.0",
        "--author", "Tester", "--description", "a test style", "--fp16-weights",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run("train", "style", "--resume", "--name", "told", "--iterations", 2)
    assert code == 0, err
    manifest = json.loads((stylepipe_home / "plugins" / "told" / "manifest.json").read_text())
    assert manifest["training"]["steps"] == 2
    assert (manifest["license"], manifest["author"]) == ("CC0-1.0", "Tester")
    assert (manifest["description"], manifest["weights_dtype"]) == ("a test style", "float16")
